-- +goose Up
-- Teams (issue 11): a creator is a workspace with members. People sign in (users: email and
-- password), workspaces hold the data (creators, and every tenant table keyed by creator_id as
-- before), and members join the two with a role. Row-level security keeps keying on the
-- workspace (app.creator_id); roles are checked on top of it by the gateway.
--
-- Existing data: every creator_accounts row becomes a user whose id is the creator's id (so the
-- refresh tokens already issued to that login are theirs) and the owner of that creator's
-- workspace. creator_accounts and its two functions go; the Down section restores them from the
-- owners.

-- users holds credentials, looked up before any workspace is known (login, invitations). Like
-- creator_accounts before it, it has no row security and the application role cannot touch it:
-- it reaches users only through the SECURITY DEFINER functions below.
CREATE TABLE users (
    id              uuid PRIMARY KEY,
    email           text NOT NULL,
    password_hash   text NOT NULL,
    name            text NOT NULL DEFAULT '',
    -- The workspace the user last signed in to or switched to: login issues tokens for it.
    last_creator_id uuid REFERENCES creators (id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email ON users (lower(email));

-- members: who belongs to a workspace, with which role. id is the membership's own id, carried
-- in access tokens: removing a member (or removing and inviting again) invalidates every access
-- token of the old membership at once. can_read_messages grants a viewer (or editor) end users'
-- message content; agents, admins and owners always have it.
CREATE TABLE members (
    id                uuid PRIMARY KEY,
    creator_id        uuid NOT NULL REFERENCES creators (id) ON DELETE CASCADE,
    user_id           uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role              text NOT NULL CHECK (role IN ('owner', 'admin', 'editor', 'agent', 'viewer')),
    can_read_messages boolean NOT NULL DEFAULT false,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (creator_id, user_id)
);
-- Exactly one owner per workspace at most; a transfer demotes before it promotes.
CREATE UNIQUE INDEX members_one_owner ON members (creator_id) WHERE role = 'owner';
CREATE INDEX members_user ON members (user_id);

-- invitations: a single-use, expiring link. The raw token ("<creator id>.<random>") goes to the
-- inviter once; only its SHA-256 is kept.
CREATE TABLE invitations (
    id                uuid PRIMARY KEY,
    creator_id        uuid NOT NULL REFERENCES creators (id) ON DELETE CASCADE,
    email             text NOT NULL,
    role              text NOT NULL CHECK (role IN ('admin', 'editor', 'agent', 'viewer')),
    can_read_messages boolean NOT NULL DEFAULT false,
    token_hash        bytea NOT NULL UNIQUE,
    invited_by        uuid,
    expires_at        timestamptz NOT NULL,
    accepted_at       timestamptz,
    accepted_by       uuid,
    revoked_at        timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX invitations_creator ON invitations (creator_id, created_at DESC);

-- api_keys: workspace keys for automation, with a role (never owner). The secret is shown once;
-- only its SHA-256 is kept, and prefix (its first characters) is what lists show.
CREATE TABLE api_keys (
    id           uuid PRIMARY KEY,
    creator_id   uuid NOT NULL REFERENCES creators (id) ON DELETE CASCADE,
    name         text NOT NULL,
    role         text NOT NULL CHECK (role IN ('admin', 'editor', 'agent', 'viewer')),
    prefix       text NOT NULL,
    token_hash   bytea NOT NULL UNIQUE,
    created_by   uuid,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX api_keys_creator ON api_keys (creator_id, created_at DESC);

-- api_key_lookup finds a key's workspace from its hash before any tenant is known (as
-- widget_keys does for widget keys); outside row security and out of the app role's reach.
CREATE TABLE api_key_lookup (
    token_hash bytea PRIMARY KEY,
    creator_id uuid NOT NULL REFERENCES creators (id) ON DELETE CASCADE
);

-- Refresh tokens now belong to a person in a workspace.
ALTER TABLE refresh_tokens ADD COLUMN user_id uuid REFERENCES users (id) ON DELETE CASCADE;

-- Data: the migration owner is itself subject to the tenant policies (FORCE); lift FORCE for
-- the copy, inside this migration's transaction, and restore it.
ALTER TABLE creators NO FORCE ROW LEVEL SECURITY;
ALTER TABLE refresh_tokens NO FORCE ROW LEVEL SECURITY;
INSERT INTO users (id, email, password_hash, name, last_creator_id, created_at)
SELECT a.creator_id, a.email, a.password_hash, c.name, c.id, c.created_at
FROM creator_accounts a JOIN creators c ON c.id = a.creator_id;
INSERT INTO members (id, creator_id, user_id, role, created_at, updated_at)
SELECT a.creator_id, a.creator_id, a.creator_id, 'owner', c.created_at, now()
FROM creator_accounts a JOIN creators c ON c.id = a.creator_id;
UPDATE refresh_tokens SET user_id = creator_id;
DELETE FROM refresh_tokens r WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = r.user_id);
ALTER TABLE refresh_tokens ALTER COLUMN user_id SET NOT NULL;
CREATE INDEX refresh_tokens_user ON refresh_tokens (creator_id, user_id);
ALTER TABLE creators FORCE ROW LEVEL SECURITY;
ALTER TABLE refresh_tokens FORCE ROW LEVEL SECURITY;

-- Row security of the new tenant tables.
-- +goose StatementBegin
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['members', 'invitations', 'api_keys'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
            USING (creator_id = NULLIF(current_setting('app.creator_id', true), '')::uuid)
            WITH CHECK (creator_id = NULLIF(current_setting('app.creator_id', true), '')::uuid)$p$, t);
    END LOOP;
END
$$;
-- +goose StatementEnd

-- A person's own memberships, across workspaces, are readable in a transaction that names the
-- person (app.user_id, set by db.Store.AsUser) and no workspace; so is each of those
-- workspaces' creators row (its name). Nothing else is: every other policy keys on the workspace.
CREATE POLICY member_self ON members FOR SELECT
    USING (user_id = NULLIF(current_setting('app.user_id', true), '')::uuid);
CREATE POLICY member_workspaces ON creators FOR SELECT
    USING (id IN (SELECT m.creator_id FROM members m
                  WHERE m.user_id = NULLIF(current_setting('app.user_id', true), '')::uuid));

-- +goose StatementBegin
CREATE FUNCTION auth_user_by_email(p_email text)
RETURNS TABLE (id uuid, email text, name text, password_hash text, last_creator_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$ SELECT u.id, u.email, u.name, u.password_hash, u.last_creator_id FROM users u WHERE lower(u.email) = lower(p_email) $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION auth_create_user(p_id uuid, p_email text, p_password_hash text, p_name text)
RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
AS $$ INSERT INTO users (id, email, password_hash, name) VALUES (p_id, p_email, p_password_hash, p_name) $$;
-- +goose StatementEnd

-- The profiles (never the password hashes) of the people the caller may see: the members of
-- the current workspace, or the caller (app.user_id) when they belong to some workspace. The
-- members policies decide, since this function runs as the owner, who is subject to them (FORCE).
-- +goose StatementBegin
CREATE FUNCTION auth_member_profiles()
RETURNS TABLE (id uuid, email text, name text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$ SELECT u.id, u.email, u.name FROM users u WHERE u.id IN (SELECT m.user_id FROM members m) $$;
-- +goose StatementEnd

-- Records the workspace a member signed in to; refused (no row changed) unless the user is a
-- member of the current workspace.
-- +goose StatementBegin
CREATE FUNCTION auth_set_last_workspace(p_user_id uuid)
RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
    UPDATE users SET last_creator_id = m.creator_id
    FROM members m
    WHERE users.id = p_user_id AND m.user_id = p_user_id
      AND m.creator_id = NULLIF(current_setting('app.creator_id', true), '')::uuid
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION api_key_register(p_creator_id uuid, p_token_hash bytea)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
BEGIN
    IF p_creator_id IS DISTINCT FROM NULLIF(current_setting('app.creator_id', true), '')::uuid THEN
        RAISE EXCEPTION 'api_key_register: creator % is not the current tenant', p_creator_id
            USING ERRCODE = '42501';
    END IF;
    INSERT INTO api_key_lookup (token_hash, creator_id) VALUES (p_token_hash, p_creator_id);
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION api_key_creator(p_token_hash bytea)
RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$ SELECT k.creator_id FROM api_key_lookup k WHERE k.token_hash = p_token_hash $$;
-- +goose StatementEnd

DROP FUNCTION auth_account_by_email(text);
DROP FUNCTION auth_register_account(uuid, text, text);
DROP TABLE creator_accounts;

REVOKE ALL ON users, api_key_lookup FROM PUBLIC;
REVOKE ALL ON FUNCTION auth_user_by_email(text), auth_create_user(uuid, text, text, text), auth_member_profiles(),
    auth_set_last_workspace(uuid), api_key_register(uuid, bytea), api_key_creator(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auth_user_by_email(text), auth_create_user(uuid, text, text, text), auth_member_profiles(),
    auth_set_last_workspace(uuid), api_key_register(uuid, bytea), api_key_creator(bytea) TO coachwire_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON members, invitations, api_keys TO coachwire_app;

-- +goose Down
-- Each workspace's owner gets its login back as creator_accounts; a person owning several
-- workspaces keeps the login of the oldest (creator_accounts allows one creator per email), and
-- members who are not owners lose access, as there was no such thing before.
ALTER TABLE members NO FORCE ROW LEVEL SECURITY;
CREATE TABLE creator_accounts (
    creator_id    uuid PRIMARY KEY REFERENCES creators (id) ON DELETE CASCADE,
    email         text NOT NULL,
    password_hash text NOT NULL
);
CREATE UNIQUE INDEX creator_accounts_email ON creator_accounts (lower(email));
INSERT INTO creator_accounts (creator_id, email, password_hash)
SELECT DISTINCT ON (lower(u.email)) m.creator_id, u.email, u.password_hash
FROM members m JOIN users u ON u.id = m.user_id
WHERE m.role = 'owner'
ORDER BY lower(u.email), m.created_at, m.creator_id;

-- +goose StatementBegin
CREATE FUNCTION auth_account_by_email(p_email text)
RETURNS TABLE (creator_id uuid, password_hash text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$ SELECT a.creator_id, a.password_hash FROM creator_accounts a WHERE lower(a.email) = lower(p_email) $$;
-- +goose StatementEnd

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

REVOKE ALL ON creator_accounts FROM PUBLIC;
REVOKE ALL ON FUNCTION auth_account_by_email(text), auth_register_account(uuid, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auth_account_by_email(text), auth_register_account(uuid, text, text) TO coachwire_app;

-- Refresh tokens of people who were not an owner of that workspace cannot be used any more.
ALTER TABLE refresh_tokens NO FORCE ROW LEVEL SECURITY;
DELETE FROM refresh_tokens r WHERE NOT EXISTS (
    SELECT 1 FROM creator_accounts a JOIN users u ON lower(u.email) = lower(a.email)
    WHERE a.creator_id = r.creator_id AND u.id = r.user_id);
ALTER TABLE refresh_tokens FORCE ROW LEVEL SECURITY;
DROP INDEX refresh_tokens_user;
ALTER TABLE refresh_tokens DROP COLUMN user_id;

DROP POLICY member_workspaces ON creators;
DROP FUNCTION api_key_creator(bytea);
DROP FUNCTION api_key_register(uuid, bytea);
DROP FUNCTION auth_set_last_workspace(uuid);
DROP FUNCTION auth_member_profiles();
DROP FUNCTION auth_create_user(uuid, text, text, text);
DROP FUNCTION auth_user_by_email(text);
DROP TABLE api_key_lookup, api_keys, invitations, members, users;
