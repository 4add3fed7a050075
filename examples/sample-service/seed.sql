-- Fills the sample database: `SELECT seed_sample_service(requests, chunks_per_request)`.
-- Requests are 29 minutes apart; four make a conversation, and every ninth continues the conversation
-- of forty requests before (so a conversation can start long before a recent request). A quarter of
-- the rows were written six hours after their request (created_at later than timestamp), as a
-- backfill writes them. Bodies look like chat API traffic: JSONB with nested arrays, unicode, quotes,
-- tabs and newlines.
CREATE OR REPLACE FUNCTION seed_sample_service(requests integer, chunks integer DEFAULT 8) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO api_requests (domain, timestamp, created_at, model, response_status, body, response_body,
                            response_streaming, input_tokens, output_tokens, duration_ms, conversation_id, tags)
  SELECT
    (ARRAY['app.example.com', 'team.example.org'])[1 + i % 2],
    t.at,
    t.at + CASE WHEN i % 4 = 0 THEN interval '6 hours' ELSE interval '2 seconds' END,
    (ARRAY['claude-sonnet', 'claude-haiku', 'claude-opus'])[1 + i % 3],
    CASE WHEN i % 50 = 0 THEN 500 ELSE 200 END,
    jsonb_build_object(
      'messages', jsonb_build_array(
        jsonb_build_object('role', 'user', 'content', 'Question ' || i || E': "quotes", tabs\there, newline\nand ünïcødé ✓'),
        jsonb_build_object('role', 'assistant', 'content', repeat('context ', 20))),
      'max_tokens', 1024, 'stream', true, 'metadata', jsonb_build_object('ids', jsonb_build_array(i, i + 1, NULL))),
    CASE WHEN i % 50 = 0 THEN NULL ELSE jsonb_build_object('text', repeat('answer ' || i || ' ', 12), 'usage', jsonb_build_object('in', i % 900, 'out', i % 400)) END,
    chunks > 0,
    i % 900,
    i % 400,
    20 + i % 3000,
    ('00000000-0000-4000-8000-' || lpad(to_hex(CASE WHEN i % 9 = 0 AND i > 40 THEN (i - 40) / 4 ELSE i / 4 END), 12, '0'))::uuid,
    ARRAY['sample', CASE WHEN i % 2 = 0 THEN 'even' ELSE 'odd' END]
  FROM generate_series(1, requests) AS i
  CROSS JOIN LATERAL (SELECT now() - make_interval(mins => (requests - i) * 29) AS at) AS t;

  INSERT INTO streaming_chunks (request_id, chunk_index, timestamp, created_at, data, token_count)
  SELECT r.request_id, s, r.timestamp + make_interval(secs => s), r.created_at,
         'data: ' || jsonb_build_object('delta', 'token ' || s || E'\\. ', 'index', s)::text, s
  FROM api_requests r CROSS JOIN generate_series(1, chunks) AS s;

  INSERT INTO conversation_analyses (conversation_id, status, analysis_content, analysis_data, generated_at, created_at, updated_at)
  SELECT c.conversation_id,
         (ARRAY['pending', 'processing', 'completed', 'failed']::conversation_analysis_status[])[1 + abs(hashtext(c.conversation_id::text)) % 4],
         'summary of ' || c.conversation_id, jsonb_build_object('requests', c.n), c.last, c.last, c.last
  FROM (SELECT conversation_id, count(*) AS n, max(timestamp) AS last FROM api_requests GROUP BY conversation_id) AS c
  WHERE abs(hashtext(c.conversation_id::text)) % 5 <> 0;

  INSERT INTO analysis_audit_log (event_type, outcome, conversation_id, branch_id, domain, request_id, metadata, timestamp)
  SELECT e.event, 'success', a.conversation_id, a.branch_id, 'app.example.com', 'req-' || a.id, jsonb_build_object('step', e.n), a.created_at + e.n * interval '1 minute'
  FROM conversation_analyses a CROSS JOIN (VALUES (1, 'ANALYSIS_REQUEST'), (2, 'ANALYSIS_REGENERATION_REQUEST')) AS e(n, event)
  WHERE a.status <> 'pending' OR e.n = 1;

  REFRESH MATERIALIZED VIEW daily_usage;
END;
$$;
