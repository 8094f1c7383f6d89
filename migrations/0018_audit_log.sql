-- +goose Up
-- The audit log (issue 11): who changed what in a workspace, when and from which address. A row
-- is written in the same transaction as the change it records (the gateway's tenant transaction,
-- just before COMMIT), so a change that fails or rolls back leaves no row and a committed change
-- always has one. The application role may only read and append: no UPDATE, no DELETE.
--
-- actor_type is 'user' (a member; actor_id is the user id, actor_label their email) or
-- 'api_key' (actor_id the key id, actor_label its name), or 'anonymous' for a failed sign-in of
-- an email that names a user (actor_id that user, actor_label the email typed). The labels are
-- copied at write time: the log still names a member who was removed or a key that was revoked.
-- Targets are kept as a type and an id with no foreign key: the log outlives what it names.
CREATE TABLE audit_log (
    creator_id  uuid        NOT NULL REFERENCES creators (id) ON DELETE CASCADE,
    id          uuid        NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    actor_type  text        NOT NULL CHECK (actor_type IN ('user', 'api_key', 'anonymous')),
    actor_id    uuid,
    actor_label text        NOT NULL DEFAULT '',
    action      text        NOT NULL CHECK (action ~ '^[a-z_]+(\.[a-z_]+)+$'),
    target_type text        NOT NULL DEFAULT '',
    target_id   text        NOT NULL DEFAULT '',
    ip          text        NOT NULL DEFAULT '',
    details     jsonb       NOT NULL DEFAULT '{}',
    PRIMARY KEY (creator_id, id)
);
-- Newest first (the API's order and keyset), and the filters that narrow it.
CREATE INDEX audit_log_at ON audit_log (creator_id, at DESC, id DESC);
CREATE INDEX audit_log_action ON audit_log (creator_id, action, at DESC);
CREATE INDEX audit_log_actor ON audit_log (creator_id, actor_id, at DESC);
CREATE INDEX audit_log_target ON audit_log (creator_id, target_type, target_id, at DESC);

ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_log FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_log
    USING (creator_id = NULLIF(current_setting('app.creator_id', true), '')::uuid)
    WITH CHECK (creator_id = NULLIF(current_setting('app.creator_id', true), '')::uuid);

REVOKE ALL ON audit_log FROM PUBLIC;
-- Append-only for the application: read and insert, never change or remove.
GRANT SELECT, INSERT ON audit_log TO coachwire_app;

-- +goose Down
DROP TABLE audit_log;
