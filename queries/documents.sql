-- name: InsertDocument :one
INSERT INTO documents (id, creator_id, title, format, body)
VALUES ($1, $2, $3, $4, $5)
RETURNING *;

-- name: GetDocument :one
SELECT * FROM documents WHERE id = $1;

-- name: ListDocuments :many
SELECT * FROM documents ORDER BY created_at DESC LIMIT $1;

-- name: SetDocumentStatus :exec
UPDATE documents
SET status = @status, error = @error, chunk_count = @chunk_count, search_mode = @search_mode, updated_at = now()
WHERE id = @id AND version = @version;

-- name: DeleteDocument :exec
DELETE FROM documents WHERE id = $1;
