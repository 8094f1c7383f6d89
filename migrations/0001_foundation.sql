-- +goose Up
-- The foundation schema: creators, their end users, conversations, messages, documents and the
-- auth tables. Every tenant table carries creator_id and is guarded by row-level security that
-- reads app.creator_id, set per transaction by db.Store.InTenant.

-- coachwire_app is the role the application runs as (or a role the operator's login role is a
-- member of). It owns nothing and gets only row access; created NOLOGIN here when missing.
-- +goose StatementBegin
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'coachwire_app') THEN
        CREATE ROLE coachwire_app NOLOGIN NOSUPERUSER NOBYPASSRLS;
    END IF;
END
$$;
-- +goose StatementEnd

CREATE TABLE creators (
    id                uuid PRIMARY KEY,
    name              text NOT NULL DEFAULT '',
    email             text NOT NULL,
    widget_key        text NOT NULL UNIQUE,
    widget_secret     text NOT NULL,
    persona           text NOT NULL DEFAULT '',
    allowed_origins   text[] NOT NULL DEFAULT '{}',
    identity_required boolean NOT NULL DEFAULT false,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- Credentials and widget keys are looked up before a tenant is known (login, widget bootstrap).
-- They live in tables without RLS that the application role cannot touch at all; it reaches them
-- only through the SECURITY DEFINER functions below, each answering one narrow question.
CREATE TABLE creator_accounts (
    creator_id    uuid PRIMARY KEY REFERENCES creators (id) ON DELETE CASCADE,
    email         text NOT NULL,
    password_hash text NOT NULL
);
CREATE UNIQUE INDEX creator_accounts_email ON creator_accounts (lower(email));

CREATE TABLE widget_keys (
    widget_key text PRIMARY KEY,
    creator_id uuid NOT NULL REFERENCES creators (id) ON DELETE CASCADE
);

CREATE TABLE refresh_tokens (
    id          uuid PRIMARY KEY,
    creator_id  uuid NOT NULL REFERENCES creators (id) ON DELETE CASCADE,
    family_id   uuid NOT NULL,
    token_hash  bytea NOT NULL UNIQUE,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    revoked_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (creator_id, family_id);

CREATE TABLE end_users (
    id            uuid PRIMARY KEY,
    creator_id    uuid NOT NULL REFERENCES creators (id) ON DELETE CASCADE,
    channel       text NOT NULL,
    external_id   text NOT NULL,
    display_name  text NOT NULL DEFAULT '',
    language      text NOT NULL DEFAULT '',
    timezone      text NOT NULL DEFAULT '',
    verified      boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (creator_id, channel, external_id)
);

CREATE TABLE conversations (
    id               uuid PRIMARY KEY,
    creator_id       uuid NOT NULL REFERENCES creators (id) ON DELETE CASCADE,
    end_user_id      uuid NOT NULL REFERENCES end_users (id) ON DELETE CASCADE,
    channel          text NOT NULL,
    status           text NOT NULL DEFAULT 'bot' CHECK (status IN ('bot', 'human', 'closed')),
    turn_lease_until timestamptz,
    turn_lease_owner uuid,
    created_at       timestamptz NOT NULL DEFAULT now(),
    last_activity_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (creator_id, end_user_id, channel)
);
CREATE INDEX conversations_activity ON conversations (creator_id, last_activity_at DESC);

CREATE TABLE messages (
    id                  uuid PRIMARY KEY,
    creator_id          uuid NOT NULL REFERENCES creators (id) ON DELETE CASCADE,
    conversation_id     uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq                 bigint NOT NULL GENERATED ALWAYS AS IDENTITY,
    role                text NOT NULL CHECK (role IN ('user', 'assistant', 'creator', 'system')),
    body                text NOT NULL,
    sources             jsonb NOT NULL DEFAULT '[]',
    reply_to            uuid,
    channel             text NOT NULL,
    provider_message_id text,
    status              text NOT NULL DEFAULT 'received',
    error               text NOT NULL DEFAULT '',
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX messages_seq ON messages (seq);
CREATE INDEX messages_conversation_seq ON messages (creator_id, conversation_id, seq);

CREATE TABLE documents (
    id          uuid PRIMARY KEY,
    creator_id  uuid NOT NULL REFERENCES creators (id) ON DELETE CASCADE,
    title       text NOT NULL,
    format      text NOT NULL,
    body        text NOT NULL,
    version     integer NOT NULL DEFAULT 1,
    status      text NOT NULL DEFAULT 'queued',
    error       text NOT NULL DEFAULT '',
    chunk_count integer NOT NULL DEFAULT 0,
    search_mode text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX documents_creator ON documents (creator_id, created_at DESC);

-- deliveries is the send log: a row exists before a provider is called, so a redelivered
-- outbound event never sends twice.
CREATE TABLE deliveries (
    message_id   uuid PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
    creator_id   uuid NOT NULL REFERENCES creators (id) ON DELETE CASCADE,
    channel      text NOT NULL,
    status       text NOT NULL,
    attempts     integer NOT NULL DEFAULT 0,
    provider_id  text NOT NULL DEFAULT '',
    error        text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Row-level security: one policy per tenant table, forced for the owner too.
-- +goose StatementBegin
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['refresh_tokens', 'end_users', 'conversations', 'messages', 'documents', 'deliveries'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
            USING (creator_id = NULLIF(current_setting('app.creator_id', true), '')::uuid)
            WITH CHECK (creator_id = NULLIF(current_setting('app.creator_id', true), '')::uuid)$p$, t);
    END LOOP;
END
$$;
-- +goose StatementEnd

ALTER TABLE creators ENABLE ROW LEVEL SECURITY;
ALTER TABLE creators FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON creators
    USING (id = NULLIF(current_setting('app.creator_id', true), '')::uuid)
    WITH CHECK (id = NULLIF(current_setting('app.creator_id', true), '')::uuid);

-- +goose StatementBegin
CREATE FUNCTION auth_account_by_email(p_email text)
RETURNS TABLE (creator_id uuid, password_hash text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$ SELECT a.creator_id, a.password_hash FROM creator_accounts a WHERE lower(a.email) = lower(p_email) $$;
-- +goose StatementEnd

-- Registers credentials for a creator row the caller just inserted in its own tenant
-- transaction; the creators FK and RLS make it useless for any other creator id.
-- +goose StatementBegin
CREATE FUNCTION auth_register_account(p_creator_id uuid, p_email text, p_password_hash text)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
BEGIN
    IF p_creator_id IS DISTINCT FROM NULLIF(current_setting('app.creator_id', true), '')::uuid THEN
        RAISE EXCEPTION 'auth_register_account: creator % is not the current tenant', p_creator_id
            USING ERRCODE = '42501';
    END IF;
    INSERT INTO creator_accounts (creator_id, email, password_hash) VALUES (p_creator_id, p_email, p_password_hash);
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION widget_register_key(p_creator_id uuid, p_key text)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
BEGIN
    IF p_creator_id IS DISTINCT FROM NULLIF(current_setting('app.creator_id', true), '')::uuid THEN
        RAISE EXCEPTION 'widget_register_key: creator % is not the current tenant', p_creator_id
            USING ERRCODE = '42501';
    END IF;
    INSERT INTO widget_keys (widget_key, creator_id) VALUES (p_key, p_creator_id);
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION widget_creator_by_key(p_key text)
RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$ SELECT k.creator_id FROM widget_keys k WHERE k.widget_key = p_key $$;
-- +goose StatementEnd

REVOKE ALL ON creator_accounts, widget_keys FROM PUBLIC;
REVOKE ALL ON FUNCTION auth_account_by_email(text), auth_register_account(uuid, text, text),
    widget_register_key(uuid, text), widget_creator_by_key(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auth_account_by_email(text), auth_register_account(uuid, text, text),
    widget_register_key(uuid, text), widget_creator_by_key(text) TO coachwire_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON creators, refresh_tokens, end_users, conversations,
    messages, documents, deliveries TO coachwire_app;

-- +goose Down
DROP FUNCTION widget_creator_by_key(text);
DROP FUNCTION widget_register_key(uuid, text);
DROP FUNCTION auth_register_account(uuid, text, text);
DROP FUNCTION auth_account_by_email(text);
DROP TABLE deliveries, documents, messages, conversations, end_users, refresh_tokens, widget_keys,
    creator_accounts, creators;
