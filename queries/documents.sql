-- name: InsertDocument :one
INSERT INTO documents (id, creator_id, title, format, body, content_hash, storage_key, filename, size_bytes,
                       source_url, chunk_tokens, chunk_overlap)
VALUES (@id, @creator_id, @title, @format, @body, @content_hash, @storage_key, @filename, @size_bytes,
        @source_url, @chunk_tokens, @chunk_overlap)
RETURNING *;

-- name: GetDocument :one
SELECT * FROM documents WHERE id = $1;

-- name: GetDocumentForUpdate :one
SELECT * FROM documents WHERE id = $1 FOR UPDATE;

-- name: GetDocumentByHash :one
SELECT * FROM documents WHERE content_hash = $1 AND status <> 'deleting';

-- name: ListDocuments :many
SELECT * FROM documents ORDER BY created_at DESC LIMIT $1;

-- name: FilterDocuments :many
SELECT * FROM documents
WHERE (sqlc.narg(status)::text IS NULL OR status = sqlc.narg(status)::text)
  AND (sqlc.narg(format)::text IS NULL OR format = sqlc.narg(format)::text)
  AND (sqlc.narg(query)::text IS NULL OR title ILIKE '%' || sqlc.narg(query)::text || '%')
ORDER BY created_at DESC, id DESC
LIMIT @lim OFFSET @off;

-- name: CreatorStorageBytes :one
SELECT COALESCE(SUM(size_bytes), 0)::bigint FROM documents WHERE status <> 'deleting';

-- name: SetDocumentStatus :exec
UPDATE documents
SET status = @status, error = @error, chunk_count = @chunk_count, search_mode = @search_mode, wait_until = NULL, updated_at = now()
WHERE id = @id AND version = @version;

-- name: StartDocumentStage :exec
-- A new pipeline stage: status, total chunks and the intended search mode; chunks_done is kept
-- when the stage and total are unchanged (a resumed run).
UPDATE documents
SET status = @status, chunk_count = @chunk_count, search_mode = @search_mode, error = '',
    chunks_done = CASE WHEN status = @status AND chunk_count = @chunk_count AND search_mode = @search_mode THEN chunks_done ELSE 0 END,
    updated_at = now()
WHERE id = @id AND version = @version;

-- name: SetDocumentProgress :execrows
UPDATE documents SET chunks_done = @chunks_done, updated_at = now()
WHERE id = @id AND version = @version;

-- name: ReplaceDocumentContent :one
UPDATE documents
SET version = version + 1, title = @title, format = @format, body = @body, content_hash = @content_hash,
    storage_key = @storage_key, filename = @filename, size_bytes = @size_bytes, source_url = @source_url,
    status = 'queued', error = '', chunk_count = 0, chunks_done = 0, search_mode = '', attempts = 0,
    wait_until = NULL, updated_at = now()
WHERE id = @id AND status <> 'deleting'
RETURNING *;

-- name: RequeueDocument :one
UPDATE documents
SET version = version + 1, status = 'queued', error = '', chunks_done = 0, attempts = 0, wait_until = NULL, updated_at = now()
WHERE id = $1 AND status <> 'deleting'
RETURNING *;

-- name: RequeueAllDocuments :many
UPDATE documents
SET version = version + 1, status = 'queued', error = '', chunks_done = 0, attempts = 0, wait_until = NULL, updated_at = now()
WHERE status <> 'deleting'
RETURNING *;

-- name: MarkDocumentDeleting :one
UPDATE documents
SET version = version + 1, status = 'deleting', attempts = 0, updated_at = now()
WHERE id = $1
RETURNING *;

-- name: DeleteDocument :exec
DELETE FROM documents WHERE id = $1;

-- name: DeleteDeletingDocument :exec
DELETE FROM documents WHERE id = $1 AND status = 'deleting';

-- name: ClaimStuckDocuments :many
SELECT c.creator_id::uuid AS creator_id, c.document_id::uuid AS document_id, c.version::integer AS version,
       c.status::text AS status, c.attempts::integer AS attempts
FROM ingest_claim_stuck(@stale_seconds::double precision, @lim::integer) AS c;

-- name: GetCreatorChunking :one
SELECT chunk_tokens, chunk_overlap FROM creators WHERE id = $1;

-- name: MarkDocumentFailed :execrows
UPDATE documents SET status = 'failed', error = @error, updated_at = now()
WHERE id = @id AND version = @version AND status NOT IN ('indexed', 'deleting');
