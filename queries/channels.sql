-- name: InsertChannel :one
INSERT INTO channels (id, creator_id, type, name, external_id, config, secrets)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING *;

-- name: LockChannelAccount :exec
-- Serializes the connections of one provider account (a WhatsApp phone number id, a Telegram
-- bot id) in the workspace until the transaction ends, so two requests cannot both add it.
SELECT pg_advisory_xact_lock(hashtextextended('channel:' || @creator_id::text || ':' || @type::text || ':' || @external_id::text, 0));

-- name: ChannelByAccount :one
-- The workspace's channel of one provider account, if any.
SELECT * FROM channels WHERE type = @type AND external_id = @external_id ORDER BY created_at LIMIT 1;

-- name: GetChannel :one
SELECT * FROM channels WHERE id = $1;

-- name: ListChannels :many
SELECT * FROM channels ORDER BY created_at;

-- name: DeleteChannel :execrows
DELETE FROM channels WHERE id = $1;

-- name: UpdateChannelConfig :one
UPDATE channels SET config = @config, updated_at = now() WHERE id = @id RETURNING *;

-- name: ChannelCreator :one
-- The creator owning a channel, before any tenant is known (webhooks). Cross-tenant only
-- through the SECURITY DEFINER function.
SELECT channel_creator_by_id(@channel_id::uuid)::uuid AS creator_id;

-- name: UpsertChannelEndUser :one
-- An end user reached on a channel: identity per channel, refreshed by each inbound message
-- (name, language, chat, and the time of the last inbound message for WhatsApp's window).
INSERT INTO end_users (id, creator_id, channel, external_id, display_name, language, channel_id,
                       provider_user_id, chat_id, last_inbound_at)
VALUES (@id, @creator_id, @channel, @external_id, @display_name, @language, @channel_id,
        @provider_user_id, @chat_id, @inbound_at)
ON CONFLICT (creator_id, channel, external_id) DO UPDATE
SET last_seen_at = now(),
    display_name = CASE WHEN EXCLUDED.display_name <> '' THEN EXCLUDED.display_name ELSE end_users.display_name END,
    language = CASE WHEN EXCLUDED.language <> '' THEN EXCLUDED.language ELSE end_users.language END,
    chat_id = CASE WHEN EXCLUDED.chat_id <> '' THEN EXCLUDED.chat_id ELSE end_users.chat_id END,
    channel_id = EXCLUDED.channel_id,
    last_inbound_at = GREATEST(end_users.last_inbound_at, EXCLUDED.last_inbound_at)
RETURNING *;

-- name: UpsertChannelConversation :one
INSERT INTO conversations (id, creator_id, end_user_id, channel, channel_id)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (creator_id, end_user_id, channel) DO UPDATE
SET last_activity_at = now(), channel_id = EXCLUDED.channel_id
RETURNING *;

-- name: SetEndUserOptOut :one
-- Opts an end user out of (opted_out true) or back into proactive messages.
UPDATE end_users
SET opted_out_at = CASE WHEN @opted_out::bool THEN COALESCE(opted_out_at, now()) ELSE NULL END
WHERE id = @id
RETURNING *;

-- name: ClaimChannelDelivery :one
-- Like ClaimDelivery, with the final state of channels (window_closed) too. A proactive message
-- to someone who opted out is recorded as failed with error code opted_out.
INSERT INTO deliveries (message_id, creator_id, channel, status, attempts)
VALUES ($1, $2, $3, 'sending', 1)
ON CONFLICT (message_id) DO UPDATE SET attempts = deliveries.attempts + 1, updated_at = now()
WHERE deliveries.status NOT IN ('sent', 'delivered', 'read', 'failed', 'window_closed')
RETURNING *;

-- name: GetDeliveryPart :one
SELECT * FROM delivery_parts WHERE message_id = $1 AND part = $2;

-- name: LockDeliveryPart :one
SELECT * FROM delivery_parts WHERE message_id = $1 AND part = $2 FOR UPDATE;

-- name: BeginDeliveryPart :one
-- Records one provider call of a part, committed immediately before the call: status sending,
-- attempts counts the calls started. No row back means the part was sent already, or another
-- attempt's call is still within its time (updated less than live_ms ago): never two calls of
-- one part at once.
INSERT INTO delivery_parts (message_id, part, creator_id, channel_id, status, attempts)
VALUES (@message_id, @part, @creator_id, @channel_id, 'sending', 1)
ON CONFLICT (message_id, part) DO UPDATE SET status = 'sending', attempts = delivery_parts.attempts + 1, error = '', updated_at = now()
WHERE delivery_parts.status NOT IN ('sent', 'delivered', 'read')
  AND NOT (delivery_parts.status = 'sending' AND delivery_parts.updated_at > now() - make_interval(secs => sqlc.arg(live_secs)::float8))
RETURNING *;

-- name: FinishDeliveryPart :exec
UPDATE delivery_parts SET status = $3, provider_id = $4, error = $5, updated_at = now()
WHERE message_id = $1 AND part = $2;

-- name: DeliveryPartByProviderID :one
SELECT * FROM delivery_parts WHERE creator_id = @creator_id AND provider_id = @provider_id LIMIT 1;

-- name: AdvanceDeliveryPart :exec
-- Applies a provider status to a part when it moves it forward (sent < delivered < read;
-- failed is final).
UPDATE delivery_parts SET status = @status, error = @error, updated_at = now()
WHERE message_id = @message_id AND part = @part
  AND status <> 'failed'
  AND (@status::text = 'failed'
       OR (CASE @status::text WHEN 'sent' THEN 1 WHEN 'delivered' THEN 2 WHEN 'read' THEN 3 ELSE 0 END)
        > (CASE status WHEN 'sent' THEN 1 WHEN 'delivered' THEN 2 WHEN 'read' THEN 3 ELSE 0 END));
