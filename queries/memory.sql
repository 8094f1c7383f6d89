-- name: GetMemory :one
SELECT * FROM end_user_memory WHERE end_user_id = $1;

-- name: PutMemory :one
-- The creator's edit replaces the profile.
INSERT INTO end_user_memory (end_user_id, creator_id, profile, edited_by_creator, updated_at)
VALUES (@end_user_id, @creator_id, @profile, true, now())
ON CONFLICT (end_user_id) DO UPDATE SET profile = EXCLUDED.profile, edited_by_creator = true, updated_at = now()
RETURNING *;

-- name: SaveExtractedMemory :one
-- An extraction result, applied only when it read newer messages than the stored profile.
INSERT INTO end_user_memory (end_user_id, creator_id, profile, extracted_seq, updated_at)
VALUES (@end_user_id, @creator_id, @profile, @extracted_seq, now())
ON CONFLICT (end_user_id) DO UPDATE SET profile = EXCLUDED.profile, extracted_seq = EXCLUDED.extracted_seq, updated_at = now()
WHERE end_user_memory.extracted_seq < EXCLUDED.extracted_seq
RETURNING *;

-- name: DeleteMemory :execrows
DELETE FROM end_user_memory WHERE end_user_id = $1;

-- name: ConversationsOfEndUser :many
SELECT * FROM conversations WHERE end_user_id = $1 ORDER BY last_activity_at DESC;
