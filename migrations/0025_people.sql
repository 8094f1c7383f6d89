-- +goose Up
-- One person, several channels (issue 16): end users of one creator that the person linked
-- (the app and their WhatsApp or Telegram chat) share one person, named by the id of one of
-- them (end_users.person_id; an end user nobody linked is its own person). Memory, program
-- enrollment, send caps and opt-outs are kept per person (docs/architecture.md "People").
--
-- person_id names an end user of the same creator (a composite key like every tenant
-- reference, migration 0012): a person never spans two creators. A new end user is its own
-- person (the trigger fills person_id with id). When the end user that names a person is
-- deleted, the others are each their own person again (ON DELETE SET NULL, then the trigger).
ALTER TABLE end_users ADD COLUMN person_id uuid;
ALTER TABLE end_users NO FORCE ROW LEVEL SECURITY;
UPDATE end_users SET person_id = id;
ALTER TABLE end_users FORCE ROW LEVEL SECURITY;
ALTER TABLE end_users ALTER COLUMN person_id SET NOT NULL,
    ADD CONSTRAINT end_users_person_fkey FOREIGN KEY (creator_id, person_id)
        REFERENCES end_users (creator_id, id) ON DELETE SET NULL (person_id);
-- Looking up a person's end users (every per-person rule, and the foreign key's ON DELETE):
-- person ids are end user ids, unique across creators.
CREATE INDEX end_users_person ON end_users (person_id);

-- +goose StatementBegin
CREATE FUNCTION end_users_own_person() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.person_id IS NULL THEN
        NEW.person_id := NEW.id;
    END IF;
    RETURN NEW;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER end_users_own_person BEFORE INSERT OR UPDATE OF person_id ON end_users
    FOR EACH ROW EXECUTE FUNCTION end_users_own_person();

-- Opting out is the person's: STOP (or a provider's opt-out signal) on any of their channels
-- stops proactive messages on all of them, START resumes all. Every writer of opted_out_at
-- (retrieve's keywords, dispatch's provider errors, the app's buttons) gets it from here.
-- +goose StatementBegin
CREATE FUNCTION end_users_person_consent() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF pg_trigger_depth() > 1 THEN
        RETURN NULL; -- the propagation below itself
    END IF;
    UPDATE end_users SET opted_out_at = NEW.opted_out_at
    WHERE creator_id = NEW.creator_id AND person_id = NEW.person_id AND id <> NEW.id
      AND opted_out_at IS DISTINCT FROM NEW.opted_out_at;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER end_users_person_consent AFTER UPDATE OF opted_out_at ON end_users
    FOR EACH ROW WHEN (OLD.opted_out_at IS DISTINCT FROM NEW.opted_out_at)
    EXECUTE FUNCTION end_users_person_consent();

-- Link codes: an end user of the app (or widget) asks for one and sends it in their WhatsApp
-- or Telegram chat with the same coach. Only a hash is stored; a code is used once
-- (used_at, used_by) and expires; it is looked up inside the creator's tenant only, so a code
-- sent to another creator's bot is unknown there.
CREATE TABLE link_codes (
    creator_id  uuid NOT NULL REFERENCES creators (id) ON DELETE CASCADE,
    code_hash   bytea NOT NULL,
    end_user_id uuid NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    used_by     uuid,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (creator_id, code_hash),
    FOREIGN KEY (creator_id, end_user_id) REFERENCES end_users (creator_id, id) ON DELETE CASCADE,
    FOREIGN KEY (creator_id, used_by) REFERENCES end_users (creator_id, id) ON DELETE SET NULL (used_by)
);
CREATE INDEX link_codes_end_user ON link_codes (creator_id, end_user_id, created_at);

ALTER TABLE link_codes ENABLE ROW LEVEL SECURITY;
ALTER TABLE link_codes FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON link_codes
    USING (creator_id = NULLIF(current_setting('app.creator_id', true), '')::uuid)
    WITH CHECK (creator_id = NULLIF(current_setting('app.creator_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE, DELETE ON link_codes TO coachwire_app;

-- +goose Down
DROP TABLE link_codes;
DROP TRIGGER end_users_person_consent ON end_users;
DROP FUNCTION end_users_person_consent();
DROP TRIGGER end_users_own_person ON end_users;
DROP FUNCTION end_users_own_person();
DROP INDEX end_users_person;
ALTER TABLE end_users DROP CONSTRAINT end_users_person_fkey, DROP COLUMN person_id;
