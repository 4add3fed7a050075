-- Fills the sample database: `SELECT seed_sample_service(requests, chunks_per_request)`.
-- Bodies look like chat API traffic: JSONB with nested arrays, unicode, quotes, tabs and newlines.
CREATE OR REPLACE FUNCTION seed_sample_service(requests integer, chunks integer DEFAULT 8) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO api_requests (conversation_id, created_at, model, status, request_body, response_body, tags, duration_ms)
  SELECT
    ('00000000-0000-4000-8000-' || lpad(to_hex(i / 4), 12, '0'))::uuid,
    now() - make_interval(mins => (requests - i) * 7),
    (ARRAY['claude-sonnet', 'claude-haiku', 'gpt-large'])[1 + i % 3],
    CASE WHEN i % 50 = 0 THEN 500 ELSE 200 END,
    jsonb_build_object(
      'messages', jsonb_build_array(
        jsonb_build_object('role', 'user', 'content', 'Question ' || i || E': "quotes", tabs\there, newline\nand ünïcødé ✓'),
        jsonb_build_object('role', 'assistant', 'content', repeat('context ', 20))),
      'max_tokens', 1024, 'stream', true, 'metadata', jsonb_build_object('ids', jsonb_build_array(i, i + 1, NULL))),
    CASE WHEN i % 50 = 0 THEN NULL ELSE jsonb_build_object('text', repeat('answer ' || i || ' ', 12), 'usage', jsonb_build_object('in', i % 900, 'out', i % 400)) END,
    ARRAY['sample', CASE WHEN i % 2 = 0 THEN 'even' ELSE 'odd' END],
    20 + i % 3000
  FROM generate_series(1, requests) AS i;

  INSERT INTO stream_chunks (request_id, seq, created_at, chunk)
  SELECT r.id, s, r.created_at + make_interval(secs => s), jsonb_build_object('delta', 'token ' || s || E'\\. ', 'index', s)
  FROM api_requests r CROSS JOIN generate_series(1, chunks) AS s;

  INSERT INTO analyses (request_id, sentiment, summary)
  SELECT id, (ARRAY['negative', 'neutral', 'positive']::analysis_sentiment[])[1 + abs(hashtext(id::text)) % 3], 'summary of ' || id
  FROM api_requests WHERE status = 200;

  INSERT INTO audit_log (actor, action, details)
  SELECT 'admin', 'rotate-key', jsonb_build_object('key', 'k' || i) FROM generate_series(1, greatest(requests / 100, 1)) AS i;

  REFRESH MATERIALIZED VIEW daily_usage;
END;
$$;
