-- +goose Up
-- Sessions (issue 11): one row per refresh-token family, i.e. per sign-in (login, registration,
-- switch of workspace, accepted invitation), so a person can list where they are signed in and
-- revoke one session or all. Access tokens carry the session's id (sid) and the gateway reads
-- the row on every request, as it reads the membership: revoking a session (or all of them)
-- stops its access tokens at once, not when they expire.
CREATE TABLE auth_sessions (
    id           uuid PRIMARY KEY, -- the refresh-token family (refresh_tokens.family_id)
    creator_id   uuid NOT NULL REFERENCES creators (id) ON DELETE CASCADE,
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The membership the session was opened through: a removed member's sessions no longer list.
    member_id    uuid NOT NULL,
    user_agent   text NOT NULL DEFAULT '',
    ip           text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz
);
CREATE INDEX auth_sessions_user ON auth_sessions (user_id, last_used_at DESC);
CREATE INDEX auth_sessions_creator ON auth_sessions (creator_id, user_id);

ALTER TABLE auth_sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE auth_sessions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON auth_sessions
    USING (creator_id = NULLIF(current_setting('app.creator_id', true), '')::uuid)
    WITH CHECK (creator_id = NULLIF(current_setting('app.creator_id', true), '')::uuid);
-- A person's own sessions, across workspaces, are readable and revocable in a transaction that
-- names the person (db.Store.AsUser), like their memberships (members.member_self).
CREATE POLICY session_self_read ON auth_sessions FOR SELECT
    USING (user_id = NULLIF(current_setting('app.user_id', true), '')::uuid);
CREATE POLICY session_self_revoke ON auth_sessions FOR UPDATE
    USING (user_id = NULLIF(current_setting('app.user_id', true), '')::uuid)
    WITH CHECK (user_id = NULLIF(current_setting('app.user_id', true), '')::uuid);

-- Changes a member's password hash; refused (no row changed) unless the user is a member of the
-- current workspace (the caller checked the current password first).
-- +goose StatementBegin
CREATE FUNCTION auth_set_password(p_user_id uuid, p_password_hash text)
RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
    UPDATE users SET password_hash = p_password_hash
    FROM members m
    WHERE users.id = p_user_id AND m.user_id = p_user_id
      AND m.creator_id = NULLIF(current_setting('app.creator_id', true), '')::uuid
$$;
-- +goose StatementEnd

REVOKE ALL ON FUNCTION auth_set_password(uuid, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auth_set_password(uuid, text) TO coachwire_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON auth_sessions TO coachwire_app;

-- +goose Down
DROP FUNCTION auth_set_password(uuid, text);
DROP TABLE auth_sessions;
