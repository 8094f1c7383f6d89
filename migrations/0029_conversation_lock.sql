-- +goose Up
-- The turn path's row locks on a conversation no longer wait for key-share locks. A message's
-- number (messages_number, migration 0008) locked its conversation FOR UPDATE, which conflicts
-- with FOR KEY SHARE: every message stored in a conversation waited for an analytics batch that
-- held its key-share lock on that conversation (analytics_apply, migration 0027), some hundreds
-- of milliseconds on a busy database. FOR NO KEY UPDATE, the lock the UPDATE of last_seq takes
-- anyway, serializes the numbering the same way (it conflicts with itself) and lets key-share
-- locks (foreign key checks, the analytics batch) be.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION messages_number() RETURNS trigger
LANGUAGE plpgsql VOLATILE SET search_path = public, pg_temp
AS $$
DECLARE
    next bigint;
BEGIN
    SELECT c.last_seq + 1 INTO next FROM conversations c WHERE c.id = NEW.conversation_id FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'message % refers to conversation %, which is not in this tenant', NEW.id, NEW.conversation_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = NEW.id) THEN
        UPDATE conversations c
        SET last_seq = next,
            answered_seq = CASE WHEN NEW.role = 'creator' THEN next ELSE c.answered_seq END
        WHERE c.id = NEW.conversation_id;
    END IF;
    NEW.seq := next;
    RETURN NEW;
END
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION messages_number() RETURNS trigger
LANGUAGE plpgsql VOLATILE SET search_path = public, pg_temp
AS $$
DECLARE
    next bigint;
BEGIN
    SELECT c.last_seq + 1 INTO next FROM conversations c WHERE c.id = NEW.conversation_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'message % refers to conversation %, which is not in this tenant', NEW.id, NEW.conversation_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = NEW.id) THEN
        UPDATE conversations c
        SET last_seq = next,
            answered_seq = CASE WHEN NEW.role = 'creator' THEN next ELSE c.answered_seq END
        WHERE c.id = NEW.conversation_id;
    END IF;
    NEW.seq := next;
    RETURN NEW;
END
$$;
-- +goose StatementEnd
