-- The sample service's database: an API proxy that logs every request, response and streamed chunk.
-- Used by the demo (`pnpm demo`), the selective-copy tests and `pnpm bench`.
CREATE EXTENSION IF NOT EXISTS pgcrypto;

CREATE TYPE analysis_sentiment AS ENUM ('negative', 'neutral', 'positive');

CREATE TABLE api_requests (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  conversation_id uuid NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  model text NOT NULL,
  status integer NOT NULL CHECK (status BETWEEN 100 AND 599),
  request_body jsonb NOT NULL,
  response_body jsonb,
  tags text[] NOT NULL DEFAULT '{}',
  duration_ms integer
);
CREATE INDEX api_requests_conversation ON api_requests (conversation_id, created_at);
CREATE INDEX api_requests_created_at ON api_requests (created_at);
CREATE INDEX api_requests_model_body ON api_requests USING gin (request_body jsonb_path_ops);

CREATE TABLE stream_chunks (
  id bigserial PRIMARY KEY,
  request_id uuid NOT NULL REFERENCES api_requests (id) ON DELETE CASCADE,
  seq integer NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  chunk jsonb NOT NULL,
  UNIQUE (request_id, seq)
);

CREATE TABLE analyses (
  id serial PRIMARY KEY,
  request_id uuid NOT NULL REFERENCES api_requests (id) ON DELETE CASCADE,
  sentiment analysis_sentiment NOT NULL,
  summary text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END;
$$;
CREATE TRIGGER analyses_touch BEFORE UPDATE ON analyses FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

CREATE TABLE audit_log (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now(),
  actor text NOT NULL,
  action text NOT NULL,
  details jsonb
);
COMMENT ON TABLE audit_log IS 'who changed what; kept for a year';

CREATE MATERIALIZED VIEW daily_usage AS
  SELECT date_trunc('day', created_at) AS day, model, count(*) AS requests, avg(duration_ms)::numeric(10, 1) AS avg_ms
  FROM api_requests GROUP BY 1, 2;
CREATE UNIQUE INDEX daily_usage_day_model ON daily_usage (day, model);
