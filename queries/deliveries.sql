-- name: ClaimDelivery :one
-- Records a send before the provider is called. No row back means another attempt owns or
-- finished it.
INSERT INTO deliveries (message_id, creator_id, channel, status, attempts)
VALUES ($1, $2, $3, 'sending', 1)
ON CONFLICT (message_id) DO UPDATE SET attempts = deliveries.attempts + 1, updated_at = now()
WHERE deliveries.status NOT IN ('sent', 'delivered', 'read', 'failed')
RETURNING *;

-- name: FinishDelivery :exec
UPDATE deliveries SET status = $2, provider_id = $3, error = $4, updated_at = now() WHERE message_id = $1;

-- name: ClaimWidgetSend :one
-- A widget message's send in one statement: the message as it is (no row: no such message),
-- the delivery claimed as ClaimDelivery claims it (claimed false: another attempt owns or
-- finished it), and, when claimed, the message marked sent as AdvanceMessageStatus marks it
-- (forward only: never back from delivered, read or a final failure).
WITH claim AS (
    INSERT INTO deliveries (message_id, creator_id, channel, status, attempts)
    SELECT m.id, m.creator_id, @channel::text, 'sending', 1 FROM messages m WHERE m.id = @id
    ON CONFLICT (message_id) DO UPDATE SET attempts = deliveries.attempts + 1, updated_at = now()
    WHERE deliveries.status NOT IN ('sent', 'delivered', 'read', 'failed')
    RETURNING message_id
), sent AS (
    -- By the parameter, not by a join with claim: a join let the planner read every message of
    -- the creator (row security's creator_id, estimated at a row on young statistics).
    UPDATE messages u SET status = 'sent', error = '', error_code = '', updated_at = now()
    WHERE u.id = @id AND EXISTS (SELECT 1 FROM claim)
      AND u.status NOT IN ('sent', 'delivered', 'read', 'failed', 'window_closed')
    RETURNING u.id
)
SELECT sqlc.embed(messages), EXISTS (SELECT 1 FROM claim) AS claimed
FROM messages WHERE messages.id = @id;
