-- +goose Up
-- The knowledge lifecycle (issue 3): uploaded originals in blob storage, content hashes for
-- duplicate detection, progress counts, per-document chunking settings and a sweeper that finds
-- documents stuck in a processing state across tenants.

ALTER TABLE documents
    ADD COLUMN content_hash  bytea,
    ADD COLUMN storage_key   text NOT NULL DEFAULT '',
    ADD COLUMN filename      text NOT NULL DEFAULT '',
    ADD COLUMN size_bytes    bigint NOT NULL DEFAULT 0,
    ADD COLUMN source_url    text NOT NULL DEFAULT '',
    ADD COLUMN chunks_done   integer NOT NULL DEFAULT 0,
    ADD COLUMN chunk_tokens  integer NOT NULL DEFAULT 0,
    ADD COLUMN chunk_overlap integer NOT NULL DEFAULT -1,
    ADD COLUMN attempts      integer NOT NULL DEFAULT 0;

ALTER TABLE documents ADD CONSTRAINT documents_status_check
    CHECK (status IN ('queued', 'extracting', 'chunking', 'embedding', 'indexed', 'failed', 'deleting'));

-- An identical re-upload (same SHA-256 of the original) is the same document.
CREATE UNIQUE INDEX documents_content_hash ON documents (creator_id, content_hash) WHERE content_hash IS NOT NULL;
-- The sweeper's scan: documents in a processing state, oldest first.
CREATE INDEX documents_processing ON documents (updated_at)
    WHERE status IN ('queued', 'extracting', 'chunking', 'embedding', 'deleting');

-- Default chunking of the creator's documents (0 / -1: the server's defaults).
ALTER TABLE creators
    ADD COLUMN chunk_tokens  integer NOT NULL DEFAULT 0,
    ADD COLUMN chunk_overlap integer NOT NULL DEFAULT -1;

-- The sweeper's only cross-tenant access: this owner-only policy lets the SECURITY DEFINER
-- function below (which runs as the migration owner) see every creator's documents. The
-- application role is never the owner, so the policy never applies to it.
CREATE POLICY ingest_sweeper ON documents FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);

-- ingest_claim_stuck claims up to p_limit documents that have been in a processing state for
-- longer than p_stale_seconds: it bumps their attempts and updated_at (so another sweeper replica
-- does not claim them again before the threshold passes; rows another replica is claiming are
-- skipped) and returns what the caller needs to requeue each inside its own tenant.
-- +goose StatementBegin
CREATE FUNCTION ingest_claim_stuck(p_stale_seconds double precision, p_limit integer)
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

REVOKE ALL ON FUNCTION ingest_claim_stuck(double precision, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ingest_claim_stuck(double precision, integer) TO coachwire_app;

-- +goose Down
DROP FUNCTION ingest_claim_stuck(double precision, integer);
DROP POLICY ingest_sweeper ON documents;
ALTER TABLE creators DROP COLUMN chunk_tokens, DROP COLUMN chunk_overlap;
DROP INDEX documents_processing;
DROP INDEX documents_content_hash;
ALTER TABLE documents DROP CONSTRAINT documents_status_check;
ALTER TABLE documents
    DROP COLUMN content_hash, DROP COLUMN storage_key, DROP COLUMN filename, DROP COLUMN size_bytes,
    DROP COLUMN source_url, DROP COLUMN chunks_done, DROP COLUMN chunk_tokens, DROP COLUMN chunk_overlap,
    DROP COLUMN attempts;
