-- +goose Up
-- Messaging channels (WhatsApp Cloud API numbers, Telegram bots) per creator, the per-part send
-- log of channel deliveries, and the end-user columns the channels need.

-- channels holds one provider account of a creator. secrets is AES-GCM ciphertext (package
-- internal/secrets, bound to the channel id); config holds the non-secret settings.
CREATE TABLE channels (
    id          uuid PRIMARY KEY,
    creator_id  uuid NOT NULL REFERENCES creators (id) ON DELETE CASCADE,
    type        text NOT NULL CHECK (type IN ('whatsapp', 'telegram')),
    name        text NOT NULL DEFAULT '',
    -- external_id is the provider's account id: the WhatsApp phone number id or the bot id.
    external_id text NOT NULL DEFAULT '',
    config      jsonb NOT NULL DEFAULT '{}',
    secrets     text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX channels_creator ON channels (creator_id, created_at);

-- A webhook names only its channel id; the creator is looked up through this table, which the
-- application role cannot read: only channel_creator_by_id answers, and only that question.
CREATE TABLE channel_keys (
    channel_id uuid PRIMARY KEY REFERENCES channels (id) ON DELETE CASCADE,
    creator_id uuid NOT NULL REFERENCES creators (id) ON DELETE CASCADE
);

-- +goose StatementBegin
CREATE FUNCTION channel_keys_register()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
AS $$
BEGIN
    INSERT INTO channel_keys (channel_id, creator_id) VALUES (NEW.id, NEW.creator_id);
    RETURN NEW;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER channels_register_key AFTER INSERT ON channels
    FOR EACH ROW EXECUTE FUNCTION channel_keys_register();

-- +goose StatementBegin
CREATE FUNCTION channel_creator_by_id(p_channel_id uuid)
RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$ SELECT k.creator_id FROM channel_keys k WHERE k.channel_id = p_channel_id $$;
-- +goose StatementEnd

-- End users reached on a channel: the channel they use, the chat to answer in, when they last
-- wrote (WhatsApp's 24-hour window) and whether they opted out of proactive messages.
ALTER TABLE end_users
    ADD COLUMN channel_id       uuid REFERENCES channels (id) ON DELETE SET NULL,
    ADD COLUMN provider_user_id text NOT NULL DEFAULT '',
    ADD COLUMN chat_id          text NOT NULL DEFAULT '',
    ADD COLUMN last_inbound_at  timestamptz,
    ADD COLUMN opted_out_at     timestamptz;

ALTER TABLE conversations
    ADD COLUMN channel_id uuid REFERENCES channels (id) ON DELETE SET NULL;
CREATE INDEX conversations_filter ON conversations (creator_id, channel, status, last_activity_at DESC);

ALTER TABLE messages ADD COLUMN error_code text NOT NULL DEFAULT '';

-- delivery_parts logs each provider call of a channel delivery (long replies are split): a part
-- is claimed before the call and never sent twice once recorded as sent.
CREATE TABLE delivery_parts (
    message_id  uuid NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    part        integer NOT NULL,
    creator_id  uuid NOT NULL REFERENCES creators (id) ON DELETE CASCADE,
    channel_id  uuid,
    status      text NOT NULL,
    attempts    integer NOT NULL DEFAULT 0,
    provider_id text NOT NULL DEFAULT '',
    error       text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (message_id, part)
);
CREATE INDEX delivery_parts_provider ON delivery_parts (creator_id, provider_id) WHERE provider_id <> '';

-- +goose StatementBegin
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['channels', 'delivery_parts'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
            USING (creator_id = NULLIF(current_setting('app.creator_id', true), '')::uuid)
            WITH CHECK (creator_id = NULLIF(current_setting('app.creator_id', true), '')::uuid)$p$, t);
    END LOOP;
END
$$;
-- +goose StatementEnd

REVOKE ALL ON channel_keys FROM PUBLIC;
REVOKE ALL ON FUNCTION channel_creator_by_id(uuid), channel_keys_register() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION channel_creator_by_id(uuid) TO coachwire_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON channels, delivery_parts TO coachwire_app;

-- +goose Down
DROP TABLE delivery_parts;
ALTER TABLE messages DROP COLUMN error_code;
ALTER TABLE conversations DROP COLUMN channel_id;
ALTER TABLE end_users DROP COLUMN channel_id, DROP COLUMN provider_user_id, DROP COLUMN chat_id,
    DROP COLUMN last_inbound_at, DROP COLUMN opted_out_at;
DROP TRIGGER channels_register_key ON channels;
DROP FUNCTION channel_creator_by_id(uuid);
DROP FUNCTION channel_keys_register();
DROP TABLE channel_keys, channels;
