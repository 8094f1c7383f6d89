-- +goose Up
-- Message numbers per conversation, and replies that record what they answer.
--
-- seq was one identity counter for every creator, so the numbers an end user sees (widget
-- frames, resume's last_seq, seen, the REST history) revealed the whole platform's traffic. The
-- identity column stays, renamed gseq: the server's global insertion order, never shown, used
-- where messages of one person are compared across conversations (the memory extraction floor
-- end_user_memory.extracted_seq holds gseq values, as it always did). seq is now numbered per
-- conversation, 1, 2, 3 ..., from conversations.last_seq by the trigger below, so every insert
-- (one row or a set-based batch) gets it in the statement that stores the message.
ALTER TABLE messages RENAME COLUMN seq TO gseq;
ALTER TABLE messages ADD COLUMN seq bigint;
ALTER TABLE conversations ADD COLUMN last_seq bigint NOT NULL DEFAULT 0;

-- answered_by (on a user message) is the reply that answered it: a fixed answer (media, opt
-- words, memory commands, program keywords) answers exactly the message it was written for, a
-- model reply exactly the messages it was built from. answered_seq (on the conversation) is the
-- answer floor: every user message up to it is answered, by a model reply that covered all
-- unanswered messages up to there or by a creator's message (a person answering in the coach's
-- place answers everything before). A turn answers the user messages after the floor that have
-- no answer yet.
ALTER TABLE messages ADD COLUMN answered_by uuid;
ALTER TABLE conversations ADD COLUMN answered_seq bigint NOT NULL DEFAULT 0;

-- The backfill reads and writes every tenant's rows: row security is lifted for the owner for
-- the length of this migration's transaction.
ALTER TABLE messages NO FORCE ROW LEVEL SECURITY;
ALTER TABLE conversations NO FORCE ROW LEVEL SECURITY;

UPDATE messages m SET seq = n.seq
FROM (SELECT id, row_number() OVER (PARTITION BY conversation_id ORDER BY gseq) AS seq FROM messages) n
WHERE m.id = n.id;
ALTER TABLE messages ALTER COLUMN seq SET NOT NULL;

-- The old (creator_id, conversation_id, seq) index now covers gseq: kept for the memory
-- queries, which read a person's messages after a gseq floor.
ALTER INDEX messages_conversation_seq RENAME TO messages_conversation_gseq;
CREATE UNIQUE INDEX messages_conversation_seq ON messages (creator_id, conversation_id, seq);

-- Before this migration any assistant or creator message closed every user message before it.
UPDATE messages u SET answered_by = (
    SELECT a.id FROM messages a
    WHERE a.creator_id = u.creator_id AND a.conversation_id = u.conversation_id AND a.seq > u.seq
      AND a.role IN ('assistant', 'creator')
    ORDER BY a.seq LIMIT 1)
WHERE u.role = 'user';

UPDATE conversations c SET last_seq = n.last_seq, answered_seq = n.answered_seq
FROM (SELECT conversation_id, max(seq) AS last_seq,
             COALESCE(max(seq) FILTER (WHERE role IN ('assistant', 'creator')), 0) AS answered_seq
      FROM messages GROUP BY conversation_id) n
WHERE c.id = n.conversation_id;

ALTER TABLE messages FORCE ROW LEVEL SECURITY;
ALTER TABLE conversations FORCE ROW LEVEL SECURITY;

-- messages_number gives a new message the next number of its conversation. The conversation
-- row is locked first (until the transaction ends), so a conversation's messages are numbered
-- in commit order and a number is never handed out twice; a message that is stored already (a
-- redelivery, dropped by ON CONFLICT (id) DO NOTHING) takes no number, so the numbers have no
-- gaps. A creator's message also moves the answer floor. It runs as the caller, under row
-- security: a conversation the tenant cannot see (another creator's, or none) is refused as a
-- foreign key violation, the error the composite foreign key gives for it.
-- +goose StatementBegin
CREATE FUNCTION messages_number() RETURNS trigger
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

CREATE TRIGGER messages_number BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION messages_number();

-- +goose Down
DROP TRIGGER messages_number ON messages;
DROP FUNCTION messages_number();
DROP INDEX messages_conversation_seq;
ALTER INDEX messages_conversation_gseq RENAME TO messages_conversation_seq;
ALTER TABLE conversations DROP COLUMN answered_seq;
ALTER TABLE messages DROP COLUMN answered_by;
ALTER TABLE conversations DROP COLUMN last_seq;
ALTER TABLE messages DROP COLUMN seq;
ALTER TABLE messages RENAME COLUMN gseq TO seq;
