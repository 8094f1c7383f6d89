-- +goose Up
-- The console's inbox (issue 11): full-text search over messages and keyset paging over
-- conversations.
--
-- Search: a GIN index on the messages' text as a 'simple' tsvector (no stemming, no stop words:
-- coaching conversations are in any language, and a creator searching "sleep" finds "sleep"),
-- so a search is one bitmap scan of the index, never a scan of the messages. The query must use
-- the same expression, to_tsvector('simple', body) (queries/conversations_inbox.sql).
CREATE INDEX messages_fts ON messages USING gin (to_tsvector('simple', body));

-- Keyset paging: newest activity first, ties broken by id, one creator at a time.
CREATE INDEX conversations_inbox ON conversations (creator_id, last_activity_at DESC, id DESC);

-- +goose Down
DROP INDEX conversations_inbox;
DROP INDEX messages_fts;
