-- The workspace export (GET /api/v1/export): every table read in keyset pages, each page in its
-- own tenant transaction, so a large export holds no transaction (or connection) while the
-- client downloads. Row security keeps every page in the workspace; creator_id says so again.

-- name: ExportDocuments :many
SELECT id, title, format, version, status, error, chunk_count, filename, size_bytes, source_url, created_at, updated_at
FROM documents
WHERE creator_id = @creator_id AND id > @after
ORDER BY id
LIMIT @page_size;

-- name: ExportEndUsers :many
SELECT * FROM end_users
WHERE creator_id = @creator_id AND id > @after
ORDER BY id
LIMIT @page_size;

-- name: ExportEndUserMemory :many
SELECT end_user_id, profile, updated_at FROM end_user_memory
WHERE creator_id = @creator_id AND end_user_id = ANY(@end_user_ids::uuid[]);

-- name: ExportConversations :many
SELECT * FROM conversations
WHERE creator_id = @creator_id AND id > @after
ORDER BY id
LIMIT @page_size;

-- name: ExportMessages :many
-- Every message of the workspace, conversation by conversation (by id) and each in seq order,
-- one keyset page after (after_conversation, after_seq): a range scan of
-- messages_conversation_seq, however many conversations there are.
SELECT id, conversation_id, seq, role, body, sources, channel, status, error, answered_by, created_at
FROM messages
WHERE creator_id = @creator_id AND (conversation_id, seq) > (@after_conversation::uuid, @after_seq::bigint)
ORDER BY conversation_id, seq
LIMIT @page_size;

-- name: ExportCampaigns :many
SELECT * FROM campaigns
WHERE creator_id = @creator_id AND id > @after
ORDER BY id
LIMIT @page_size;

-- name: ExportPrograms :many
SELECT * FROM programs
WHERE creator_id = @creator_id AND id > @after
ORDER BY id
LIMIT @page_size;
