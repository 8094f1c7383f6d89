-- +goose Up
-- Web Push subscriptions of the app channel (issue 16): one row per end user and device (a
-- browser's PushSubscription), unique per creator and endpoint, so registering the same
-- endpoint again updates it (the person re-subscribed, or the device now belongs to another
-- identity of the same creator). The same endpoint registered with two creators is two rows,
-- one in each tenant: a tenant never learns another's subscriptions.
--
-- part is the subscription's number in the send log: a push to this device is delivery_parts
-- (message, part), so a redelivered outbound event never pushes twice to a device. A sequence
-- shared by every tenant (numbers only need to differ within one message's parts).
CREATE TABLE push_subscriptions (
    id           uuid NOT NULL PRIMARY KEY,
    creator_id   uuid NOT NULL REFERENCES creators (id) ON DELETE CASCADE,
    end_user_id  uuid NOT NULL,
    endpoint     text NOT NULL,
    p256dh       text NOT NULL,
    auth         text NOT NULL,
    device       text NOT NULL DEFAULT '',
    part         integer GENERATED ALWAYS AS IDENTITY (START WITH 10000) NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    last_push_at timestamptz,
    UNIQUE (creator_id, endpoint),
    FOREIGN KEY (creator_id, end_user_id) REFERENCES end_users (creator_id, id) ON DELETE CASCADE
);
CREATE INDEX push_subscriptions_end_user ON push_subscriptions (creator_id, end_user_id, updated_at);

ALTER TABLE push_subscriptions ENABLE ROW LEVEL SECURITY;
ALTER TABLE push_subscriptions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON push_subscriptions
    USING (creator_id = NULLIF(current_setting('app.creator_id', true), '')::uuid)
    WITH CHECK (creator_id = NULLIF(current_setting('app.creator_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE, DELETE ON push_subscriptions TO coachwire_app;

-- +goose Down
DROP TABLE push_subscriptions;
