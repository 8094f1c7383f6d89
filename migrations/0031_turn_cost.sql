-- +goose Up
-- The PostgreSQL cost of one turn (issue 12: the turn benchmark at 200 turns/s). Only work the
-- turn's statements did for nothing goes; every guarantee stays.

-- Foreign keys to creators that a composite foreign key already implies. A message names its
-- conversation by (creator_id, conversation_id), and the conversation its creator; a term and a
-- delivery name their message by (creator_id, message_id). Each creator_id → creators.id check
-- took a key-share lock on the creator's one row for every row written (a message's words are
-- one row each: 12 checks per turn of two six-word messages, all on the same row), and deleting
-- a creator still takes these rows with it through the chain of ON DELETE CASCADE.
ALTER TABLE message_terms DROP CONSTRAINT message_terms_creator_id_fkey;
ALTER TABLE messages DROP CONSTRAINT messages_creator_id_fkey;
ALTER TABLE deliveries DROP CONSTRAINT deliveries_creator_id_fkey;

-- conversations_inbox (creator_id, last_activity_at DESC, id DESC) serves every query
-- conversations_activity (creator_id, last_activity_at DESC) served; each turn moves
-- last_activity_at, which updated both.
DROP INDEX conversations_activity;

-- A message's words are inserted once, with the message (new_messages holds only the rows the
-- statement inserted, and a tsvector's lexemes are distinct): no conflict to look for.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION message_terms_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO message_terms (creator_id, message_id, term, conversation_id)
    SELECT DISTINCT n.creator_id, n.id, t.lexeme, n.conversation_id
    FROM new_messages n, unnest(to_tsvector('simple', n.body)) t
    WHERE n.role IN ('user', 'assistant', 'creator') AND length(t.lexeme) <= 100;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION message_terms_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO message_terms (creator_id, message_id, term, conversation_id)
    SELECT DISTINCT n.creator_id, n.id, t.lexeme, n.conversation_id
    FROM new_messages n, unnest(to_tsvector('simple', n.body)) t
    WHERE n.role IN ('user', 'assistant', 'creator') AND length(t.lexeme) <= 100
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE INDEX conversations_activity ON conversations (creator_id, last_activity_at DESC);
ALTER TABLE deliveries ADD CONSTRAINT deliveries_creator_id_fkey FOREIGN KEY (creator_id) REFERENCES creators (id) ON DELETE CASCADE;
ALTER TABLE messages ADD CONSTRAINT messages_creator_id_fkey FOREIGN KEY (creator_id) REFERENCES creators (id) ON DELETE CASCADE;
ALTER TABLE message_terms ADD CONSTRAINT message_terms_creator_id_fkey FOREIGN KEY (creator_id) REFERENCES creators (id) ON DELETE CASCADE;
