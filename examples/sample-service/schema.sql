-- The sample service's database: the Claude Nexus proxy's tables, under their real names, trimmed to
-- the columns that matter for backups. Used by the demo (`scripts/demo.sh`), the tests and `pnpm bench`.
CREATE EXTENSION IF NOT EXISTS pgcrypto;

CREATE TABLE api_requests (
  request_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  domain varchar(255) NOT NULL,
  -- When the request was made; created_at is when the row was written (later for backfilled rows).
  timestamp timestamptz NOT NULL,
  method varchar(10) NOT NULL DEFAULT 'POST',
  path varchar(255) NOT NULL DEFAULT '/v1/messages',
  body jsonb,
  model varchar(100),
  response_status integer CHECK (response_status BETWEEN 100 AND 599),
  response_body jsonb,
  response_streaming boolean DEFAULT false,
  input_tokens integer DEFAULT 0,
  output_tokens integer DEFAULT 0,
  duration_ms integer,
  conversation_id uuid,
  branch_id varchar(255) DEFAULT 'main',
  parent_request_id uuid REFERENCES api_requests (request_id),
  tags text[] NOT NULL DEFAULT '{}',
  created_at timestamptz DEFAULT now(),
  CONSTRAINT chk_parent_request_not_self CHECK (parent_request_id <> request_id)
);
CREATE INDEX idx_requests_timestamp ON api_requests (timestamp);
CREATE INDEX idx_requests_conversation_timestamp ON api_requests (conversation_id, timestamp DESC);
CREATE INDEX idx_requests_parent_request_id ON api_requests (parent_request_id);
CREATE INDEX idx_requests_body ON api_requests USING gin (body jsonb_path_ops);

CREATE TABLE streaming_chunks (
  id serial PRIMARY KEY,
  request_id uuid NOT NULL REFERENCES api_requests (request_id) ON DELETE CASCADE,
  chunk_index integer NOT NULL,
  timestamp timestamptz NOT NULL,
  data text NOT NULL,
  token_count integer DEFAULT 0,
  created_at timestamptz DEFAULT now(),
  UNIQUE (request_id, chunk_index)
);
CREATE INDEX idx_chunks_request_id ON streaming_chunks (request_id);

CREATE TYPE conversation_analysis_status AS ENUM ('pending', 'processing', 'completed', 'failed');

CREATE FUNCTION trigger_set_timestamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at = now();
  RETURN NEW;
END;
$$;

-- One analysis per conversation branch; it names its conversation without a foreign key.
CREATE TABLE conversation_analyses (
  id bigserial PRIMARY KEY,
  conversation_id uuid NOT NULL,
  branch_id varchar(255) NOT NULL DEFAULT 'main',
  status conversation_analysis_status NOT NULL DEFAULT 'pending',
  model_used varchar(255) DEFAULT 'gemini-2.5-pro',
  analysis_content text,
  analysis_data jsonb,
  error_message text,
  retry_count integer DEFAULT 0,
  generated_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (conversation_id, branch_id)
);
CREATE TRIGGER set_timestamp_on_conversation_analyses BEFORE UPDATE ON conversation_analyses
  FOR EACH ROW EXECUTE FUNCTION trigger_set_timestamp();
CREATE INDEX idx_conversation_analyses_status ON conversation_analyses (status) WHERE status = 'pending';
COMMENT ON TABLE conversation_analyses IS 'Stores AI-generated analyses of conversations';

CREATE TABLE analysis_audit_log (
  id serial PRIMARY KEY,
  event_type varchar(50) NOT NULL,
  outcome varchar(50) NOT NULL,
  conversation_id uuid NOT NULL,
  branch_id varchar(255) NOT NULL,
  domain varchar(255) NOT NULL,
  request_id varchar(255) NOT NULL,
  user_context jsonb DEFAULT '{}',
  metadata jsonb DEFAULT '{}',
  timestamp timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_audit_conversation ON analysis_audit_log (conversation_id, branch_id);
CREATE INDEX idx_audit_timestamp ON analysis_audit_log (timestamp);

CREATE MATERIALIZED VIEW daily_usage AS
  SELECT date_trunc('day', timestamp) AS day, model, count(*) AS requests, avg(duration_ms)::numeric(10, 1) AS avg_ms
  FROM api_requests GROUP BY 1, 2;
CREATE UNIQUE INDEX daily_usage_day_model ON daily_usage (day, model);
