-- name: UpsertPushSubscription :one
-- Registers a device of an end user: the same endpoint again updates its keys, device name and
-- owner (idempotent per endpoint within the tenant).
INSERT INTO push_subscriptions (id, creator_id, end_user_id, endpoint, p256dh, auth, device)
VALUES (@id, @creator_id, @end_user_id, @endpoint, @p256dh, @auth, @device)
ON CONFLICT (creator_id, endpoint) DO UPDATE SET end_user_id = excluded.end_user_id, p256dh = excluded.p256dh,
    auth = excluded.auth, device = excluded.device, updated_at = now()
RETURNING *;

-- name: TrimPushSubscriptions :execrows
-- Keeps an end user's newest @keep subscriptions (the oldest devices go first).
DELETE FROM push_subscriptions p
WHERE p.end_user_id = @end_user_id AND p.id NOT IN (
    SELECT s.id FROM push_subscriptions s WHERE s.end_user_id = @end_user_id
    ORDER BY s.updated_at DESC, s.part DESC LIMIT @keep::int);

-- name: DeletePushSubscriptionOf :execrows
-- An end user removes one of their devices.
DELETE FROM push_subscriptions WHERE end_user_id = @end_user_id AND endpoint = @endpoint;

-- name: DeletePushSubscription :execrows
-- The push service said the subscription is gone (404/410).
DELETE FROM push_subscriptions WHERE id = @id;

-- name: ListPushSubscriptions :many
SELECT * FROM push_subscriptions WHERE end_user_id = @end_user_id ORDER BY part;

-- name: MarkPushed :exec
UPDATE push_subscriptions SET last_push_at = now() WHERE id = @id;

-- name: ConversationSocketLive :one
-- Presence of the app channel: whether a socket of the conversation is open on a gateway
-- process that is alive. The widget socket takes a lease in socket_leases for its session
-- (sha256 of "widget:conversation:<id>", internal/ratelimit) while it is open, and its process
-- renews socket_holders while it runs.
SELECT EXISTS (
    SELECT 1 FROM socket_leases l JOIN socket_holders h ON h.holder = l.holder
    WHERE l.session = @session AND h.expires_at > @now)::bool AS live;

-- name: SetPushProviderID :exec
-- The push service's id of the first device's push, without touching the message's status (a
-- socket's receipt may have moved it on to delivered or read meanwhile).
UPDATE messages SET provider_message_id = COALESCE(provider_message_id, @provider_id::text), updated_at = now() WHERE id = @id;
