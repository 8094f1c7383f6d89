-- +goose Up
-- Per-creator daily token budgets for the model work a creator's own actions start in bulk
-- (issue 14, part 3): AI-written nudges ('nudge') and the embedding of uploaded documents
-- ('embed'). Live replies are never budgeted. Days are UTC days of the application's clock,
-- passed in (never read from now() in SQL), so tests can cross midnight with a fake clock.

-- What a creator used per UTC day and kind: tokens (Ollama's prompt_eval_count + eval_count) and
-- calls, added to by an upsert after every model call.
CREATE TABLE llm_usage (
    creator_id uuid NOT NULL REFERENCES creators (id) ON DELETE CASCADE,
    day        date NOT NULL,
    kind       text NOT NULL CHECK (kind IN ('nudge', 'embed')),
    tokens     bigint NOT NULL DEFAULT 0 CHECK (tokens >= 0),
    calls      bigint NOT NULL DEFAULT 0 CHECK (calls >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (creator_id, day, kind)
);

-- A creator's own daily limit of a kind: NULL (or no row) takes the configured default
-- (COACHWIRE_LLM_NUDGE_DAILY_TOKENS / COACHWIRE_LLM_EMBED_DAILY_TOKENS), 0 is unlimited.
CREATE TABLE llm_budgets (
    creator_id   uuid NOT NULL REFERENCES creators (id) ON DELETE CASCADE,
    kind         text NOT NULL CHECK (kind IN ('nudge', 'embed')),
    daily_tokens bigint CHECK (daily_tokens >= 0),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (creator_id, kind)
);

-- +goose StatementBegin
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['llm_usage', 'llm_budgets'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
            USING (creator_id = NULLIF(current_setting('app.creator_id', true), '')::uuid)
            WITH CHECK (creator_id = NULLIF(current_setting('app.creator_id', true), '')::uuid)$p$, t);
    END LOOP;
END
$$;
-- +goose StatementEnd

GRANT SELECT, INSERT, UPDATE, DELETE ON llm_usage, llm_budgets TO coachwire_app;

-- A document whose creator's embedding budget ran out waits, status 'queued' (its error says
-- why), until wait_until (the next UTC day): then the ingest sweeper requeues it and indexing
-- resumes from chunks_done. Every status change clears it (SetDocumentStatus).
ALTER TABLE documents ADD COLUMN wait_until timestamptz;
CREATE INDEX documents_waiting ON documents (wait_until) WHERE wait_until IS NOT NULL;

-- The stuck-document sweep leaves waiting documents alone (they have not stalled; they wait).
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION ingest_claim_stuck(p_stale_seconds double precision, p_limit integer)
RETURNS TABLE (creator_id uuid, document_id uuid, version integer, status text, attempts integer)
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
    UPDATE documents d
    SET attempts = d.attempts + 1, updated_at = now()
    FROM (SELECT s.id FROM documents s
          WHERE s.status IN ('queued', 'extracting', 'chunking', 'embedding', 'deleting')
            AND s.updated_at < now() - make_interval(secs => p_stale_seconds)
            AND (s.wait_until IS NULL OR s.status <> 'queued')
          ORDER BY s.updated_at
          LIMIT p_limit
          FOR UPDATE SKIP LOCKED) stuck
    WHERE d.id = stuck.id
    RETURNING d.creator_id, d.id, d.version, d.status, d.attempts
$$;
-- +goose StatementEnd

-- ingest_claim_waiting claims up to p_limit waiting documents whose wait is over at p_now (the
-- application's clock): it clears wait_until (from then on the stuck sweep covers the document
-- again, should the requeue be lost) and returns what the caller needs to requeue each inside its
-- tenant. Rows another replica is claiming are skipped.
-- +goose StatementBegin
CREATE FUNCTION ingest_claim_waiting(p_now timestamptz, p_limit integer)
RETURNS TABLE (creator_id uuid, document_id uuid, version integer)
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
    UPDATE documents d
    SET wait_until = NULL, updated_at = now()
    FROM (SELECT s.id FROM documents s
          WHERE s.wait_until <= p_now AND s.status = 'queued'
          ORDER BY s.wait_until
          LIMIT p_limit
          FOR UPDATE SKIP LOCKED) due
    WHERE d.id = due.id
    RETURNING d.creator_id, d.id, d.version
$$;
-- +goose StatementEnd

REVOKE ALL ON FUNCTION ingest_claim_waiting(timestamptz, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ingest_claim_waiting(timestamptz, integer) TO coachwire_app;

-- +goose Down
DROP FUNCTION ingest_claim_waiting(timestamptz, integer);
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION ingest_claim_stuck(p_stale_seconds double precision, p_limit integer)
RETURNS TABLE (creator_id uuid, document_id uuid, version integer, status text, attempts integer)
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
    UPDATE documents d
    SET attempts = d.attempts + 1, updated_at = now()
    FROM (SELECT s.id FROM documents s
          WHERE s.status IN ('queued', 'extracting', 'chunking', 'embedding', 'deleting')
            AND s.updated_at < now() - make_interval(secs => p_stale_seconds)
          ORDER BY s.updated_at
          LIMIT p_limit
          FOR UPDATE SKIP LOCKED) stuck
    WHERE d.id = stuck.id
    RETURNING d.creator_id, d.id, d.version, d.status, d.attempts
$$;
-- +goose StatementEnd
DROP INDEX documents_waiting;
ALTER TABLE documents DROP COLUMN wait_until;
DROP TABLE llm_budgets, llm_usage;
