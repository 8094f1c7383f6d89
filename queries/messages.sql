-- name: InsertMessage :one
-- Idempotent: a redelivered event inserts nothing and gets no row back.
INSERT INTO messages (id, creator_id, conversation_id, role, body, sources, reply_to, channel, provider_message_id, status, template)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, sqlc.narg(template))
ON CONFLICT (id) DO NOTHING
RETURNING *;

-- name: GetMessage :one
SELECT * FROM messages WHERE id = $1;

-- name: RecentMessages :many
SELECT * FROM (
    SELECT * FROM messages m WHERE m.conversation_id = $1 ORDER BY m.seq DESC LIMIT $2
) recent ORDER BY seq;

-- name: MessagesAfter :many
-- A conversation's history after a seq; an empty failed message (an AI nudge no model could
-- write) was never sent and is not part of it.
SELECT * FROM messages WHERE conversation_id = $1 AND seq > $2 AND NOT (status = 'failed' AND body = '')
ORDER BY seq LIMIT $3;

-- name: UnansweredUserMessages :many
-- The user messages of a conversation that nothing answers yet: after the answer floor
-- (conversations.answered_seq) and without answered_by. A fixed answer or a proactive message
-- in between closes nothing.
SELECT * FROM messages m
WHERE m.conversation_id = @conversation_id AND m.seq > @answered_seq AND m.role = 'user' AND m.answered_by IS NULL
ORDER BY m.seq;

-- name: InsertReply :one
-- A reply and what it answers, in one statement: every user message of covers records it as
-- its answer (answered_by). A fixed answer covers the one message it was written for, a model
-- reply the messages it was built from. Idempotent like InsertMessage: a reply stored before
-- inserts nothing, answers nothing again, and no row comes back.
WITH reply AS (
    INSERT INTO messages (id, creator_id, conversation_id, role, body, sources, reply_to, channel, status)
    VALUES (@id, @creator_id, @conversation_id, 'assistant', @body, @sources, @reply_to, @channel, @status)
    ON CONFLICT (id) DO NOTHING
    RETURNING *
), answered AS (
    UPDATE messages u SET answered_by = reply.id
    FROM reply
    WHERE u.id = ANY(@covers::uuid[]) AND u.conversation_id = reply.conversation_id
      AND u.role = 'user' AND u.answered_by IS NULL
    RETURNING u.id
)
SELECT * FROM reply;

-- name: SetMessageStatus :exec
UPDATE messages SET status = $2, error = $3, updated_at = now() WHERE id = $1;

-- name: TouchConversation :exec
UPDATE conversations SET last_activity_at = now() WHERE id = $1;

-- name: TouchAndGetConversation :one
-- A message arrived in the conversation: its activity time moves and the row comes back.
UPDATE conversations SET last_activity_at = now() WHERE id = $1 RETURNING *;

-- name: SetMessageDelivery :exec
-- Records a delivery outcome on a message: status, provider message id of its first part and the
-- provider's error code.
UPDATE messages
SET status = @status, error = @error, error_code = @error_code,
    provider_message_id = COALESCE(sqlc.narg(provider_message_id), provider_message_id), updated_at = now()
WHERE id = @id;

-- name: AdvanceMessageStatus :one
-- Applies a provider delivery status when it moves the message forward (sent < delivered <
-- read; failed is final).
UPDATE messages SET status = @status, error = @error, error_code = @error_code, updated_at = now()
WHERE id = @id
  AND status NOT IN ('failed', 'window_closed')
  AND (@status::text = 'failed'
       OR (CASE @status::text WHEN 'sent' THEN 1 WHEN 'delivered' THEN 2 WHEN 'read' THEN 3 ELSE 0 END)
        > (CASE status WHEN 'sent' THEN 1 WHEN 'delivered' THEN 2 WHEN 'read' THEN 3 ELSE 0 END))
RETURNING *;

-- name: MarkWidgetDelivered :one
-- A widget receipt: the gateway wrote this bot or creator message to the end user's socket.
-- Forward only, in AdvanceMessageStatus's order; no row back when it was delivered, read or
-- failed already.
UPDATE messages SET status = 'delivered', updated_at = now()
WHERE id = @id AND conversation_id = @conversation_id AND role IN ('assistant', 'creator')
  AND status NOT IN ('delivered', 'read', 'failed', 'window_closed')
RETURNING id, conversation_id, channel, seq, role, status;

-- name: MarkWidgetRead :many
-- A widget receipt: the end user had the conversation open and visible up to a seq. Every bot
-- and creator message of that conversation up to it becomes read, forward only; the rows that
-- changed come back.
UPDATE messages SET status = 'read', updated_at = now()
WHERE conversation_id = @conversation_id AND seq <= @up_to_seq AND role IN ('assistant', 'creator')
  AND status NOT IN ('read', 'failed', 'window_closed')
RETURNING id, conversation_id, channel, seq, role, status;

-- name: LastOutboundSeq :one
-- The seq of a conversation's newest bot or creator message that is part of its history (0 when
-- none): a widget cannot have seen past it.
SELECT COALESCE(max(seq), 0)::bigint AS last_seq FROM messages
WHERE conversation_id = @conversation_id AND role IN ('assistant', 'creator') AND NOT (status = 'failed' AND body = '');
