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
