-- name: UpsertEndUser :one
INSERT INTO end_users (id, creator_id, channel, external_id, display_name, verified)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (creator_id, channel, external_id) DO UPDATE
SET last_seen_at = now(),
    display_name = CASE WHEN EXCLUDED.display_name <> '' THEN EXCLUDED.display_name ELSE end_users.display_name END
RETURNING *;

-- name: GetEndUser :one
SELECT * FROM end_users WHERE id = $1;

-- name: UpsertConversation :one
INSERT INTO conversations (id, creator_id, end_user_id, channel)
VALUES ($1, $2, $3, $4)
ON CONFLICT (creator_id, end_user_id, channel) DO UPDATE SET last_activity_at = now()
RETURNING *;

-- name: GetConversation :one
SELECT * FROM conversations WHERE id = $1;

-- name: ListConversations :many
SELECT * FROM conversations ORDER BY last_activity_at DESC LIMIT $1;

-- name: AcquireTurnLease :one
-- Takes the conversation's turn lease when it is free, expired or already ours, and returns the
-- conversation as it is now.
UPDATE conversations
SET turn_lease_until = now() + make_interval(secs => @lease_seconds::float8), turn_lease_owner = @owner
WHERE id = @id
  AND (turn_lease_until IS NULL OR turn_lease_until < now() OR turn_lease_owner = @owner)
RETURNING *;

-- name: ReleaseTurnLease :exec
UPDATE conversations SET turn_lease_until = NULL, turn_lease_owner = NULL
WHERE id = @id AND turn_lease_owner = @owner;

-- name: FinishTurn :exec
-- A turn's reply is stored: the answer floor moves up to the last user message the reply
-- covered (every user message up to it is answered now: the messages are numbered in commit
-- order, so the turn saw all of them), and the lease ends if it is still ours.
UPDATE conversations
SET answered_seq = GREATEST(answered_seq, @answered_seq),
    turn_lease_until = CASE WHEN turn_lease_owner = @owner THEN NULL ELSE turn_lease_until END,
    turn_lease_owner = CASE WHEN turn_lease_owner = @owner THEN NULL ELSE turn_lease_owner END
WHERE id = @id;

-- name: ListConversationsFiltered :many
-- The creator's conversations, newest activity first, with optional filters.
SELECT c.*, e.display_name, e.external_id, e.provider_user_id, e.opted_out_at FROM conversations c
JOIN end_users e ON e.id = c.end_user_id
WHERE (sqlc.narg(channel)::text IS NULL OR c.channel = sqlc.narg(channel))
  AND (sqlc.narg(channel_id)::uuid IS NULL OR c.channel_id = sqlc.narg(channel_id))
  AND (sqlc.narg(status)::text IS NULL OR c.status = sqlc.narg(status))
  AND (sqlc.narg(active_after)::timestamptz IS NULL OR c.last_activity_at > sqlc.narg(active_after))
  AND (sqlc.narg(active_before)::timestamptz IS NULL OR c.last_activity_at < sqlc.narg(active_before))
ORDER BY c.last_activity_at DESC
LIMIT @max_rows;

-- name: LockConversation :one
-- Reads a conversation and locks it until the transaction ends: a takeover and a bot reply
-- being stored are serialized on this row. FOR NO KEY UPDATE, the lock an UPDATE of the row
-- takes: it does not wait for key-share locks (foreign key checks, the analytics batch's lock
-- on its conversations, migration 0027), which FOR UPDATE would.
SELECT * FROM conversations WHERE id = $1 FOR NO KEY UPDATE;

-- name: SetConversationStatus :one
UPDATE conversations SET status = @status, last_activity_at = now() WHERE id = @id RETURNING *;
