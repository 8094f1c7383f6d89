-- +goose Up
-- The console's inbox (issue 11): full-text search over messages and keyset paging over
-- conversations.
--
-- Search: an inverted index of the messages' words. A GIN index on to_tsvector(body) cannot
-- serve the application role: messages has forced row-level security, and PostgreSQL runs a
-- query's own conditions after the tenant policy unless their operators are leakproof, which
-- tsvector's @@ is not, so the planner never uses such an index there (it reads the tenant's
-- messages instead). message_terms holds each message's distinct words (the lexemes of
-- to_tsvector('simple', body): lower-cased, no stemming, no stop words, any language) under
-- the tenant policy, and is searched with plain text comparisons (=, >=, <: leakproof) on a
-- btree, so a search is index range scans per word, never a scan of the messages. Kept by a
-- statement trigger on messages (set-based, like the analytics rollups); rows go with their
-- message (ON DELETE CASCADE: deleting an end user takes their words too).
CREATE TABLE message_terms (
    creator_id      uuid NOT NULL REFERENCES creators (id) ON DELETE CASCADE,
    message_id      uuid NOT NULL,
    term            text COLLATE "C" NOT NULL,
    conversation_id uuid NOT NULL,
    PRIMARY KEY (creator_id, message_id, term),
    FOREIGN KEY (creator_id, message_id) REFERENCES messages (creator_id, id) ON DELETE CASCADE
);
CREATE INDEX message_terms_search ON message_terms (creator_id, term, conversation_id);

-- The words of the messages people, the bot and the team write (system notes are not searched).
-- +goose StatementBegin
CREATE FUNCTION message_terms_inserted() RETURNS trigger
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
CREATE TRIGGER message_terms_inserted AFTER INSERT ON messages
    REFERENCING NEW TABLE AS new_messages FOR EACH STATEMENT EXECUTE FUNCTION message_terms_inserted();

-- A message's text rarely changes (a reply stored in place); its words follow.
-- +goose StatementBegin
CREATE FUNCTION message_terms_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM message_terms WHERE creator_id = NEW.creator_id AND message_id = NEW.id;
    INSERT INTO message_terms (creator_id, message_id, term, conversation_id)
    SELECT DISTINCT NEW.creator_id, NEW.id, t.lexeme, NEW.conversation_id
    FROM unnest(to_tsvector('simple', NEW.body)) t
    WHERE NEW.role IN ('user', 'assistant', 'creator') AND length(t.lexeme) <= 100
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER message_terms_updated AFTER UPDATE OF body ON messages FOR EACH ROW
    WHEN (OLD.body IS DISTINCT FROM NEW.body) EXECUTE FUNCTION message_terms_updated();

-- The messages written so far (the migration owner is subject to the policies: FORCE is lifted
-- inside this transaction for the backfill and restored).
ALTER TABLE messages NO FORCE ROW LEVEL SECURITY;
INSERT INTO message_terms (creator_id, message_id, term, conversation_id)
SELECT DISTINCT m.creator_id, m.id, t.lexeme, m.conversation_id
FROM messages m, unnest(to_tsvector('simple', m.body)) t
WHERE m.role IN ('user', 'assistant', 'creator') AND length(t.lexeme) <= 100;
ALTER TABLE messages FORCE ROW LEVEL SECURITY;

ALTER TABLE message_terms ENABLE ROW LEVEL SECURITY;
ALTER TABLE message_terms FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON message_terms
    USING (creator_id = NULLIF(current_setting('app.creator_id', true), '')::uuid)
    WITH CHECK (creator_id = NULLIF(current_setting('app.creator_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE, DELETE ON message_terms TO coachwire_app;

-- Keyset paging: newest activity first, ties broken by id, one creator at a time.
CREATE INDEX conversations_inbox ON conversations (creator_id, last_activity_at DESC, id DESC);

-- +goose Down
DROP INDEX conversations_inbox;
DROP TRIGGER message_terms_updated ON messages;
DROP TRIGGER message_terms_inserted ON messages;
DROP FUNCTION message_terms_updated();
DROP FUNCTION message_terms_inserted();
DROP TABLE message_terms;
