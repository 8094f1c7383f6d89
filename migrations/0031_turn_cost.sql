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

-- The request limits' check in one statement (package ratelimit, Allow): the buckets of keys are
-- locked in the order given (sorted and distinct: concurrent checks cannot deadlock), missing
-- ones created full, and GCRA applied to all or none. It returns the 1-based position of the key
-- whose wait is longest and that wait in microseconds when any refuses (nothing is then
-- consumed), (0, 0) when all allow (each bucket's TAT then moves on by its interval).
-- Intervals and tolerances are in microseconds. The transaction commits without waiting for
-- its WAL flush (a bucket lost in a crash only forgets a few recent requests); the function has
-- no SET clause, which would undo that setting on return, and names its objects by schema.
-- +goose StatementBegin
CREATE FUNCTION rate_limit_allow(p_keys bytea[], p_intervals bigint[], p_tolerances bigint[], p_now timestamptz,
                                 OUT refused integer, OUT wait_us bigint)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    plans text := pg_catalog.current_setting('plan_cache_mode');
BEGIN
    PERFORM pg_catalog.set_config('synchronous_commit', 'off', true);
    -- Planned once per connection: the custom plans PL/pgSQL tries first were chosen every time
    -- (a plan per call cost more than the statements).
    PERFORM pg_catalog.set_config('plan_cache_mode', 'force_generic_plan', true);
    WITH locked AS (
        INSERT INTO public.rate_limits AS r (key, tat)
        SELECT u.k, 'epoch'::timestamptz FROM unnest(p_keys) WITH ORDINALITY AS u (k, n) ORDER BY u.n
        ON CONFLICT (key) DO UPDATE SET key = excluded.key
        RETURNING r.key, r.tat
    )
    SELECT w.n, w.wait INTO refused, wait_us
    FROM (SELECT u.n::integer AS n,
                 (extract(epoch FROM greatest(l.tat, p_now) - p_now) * 1000000)::bigint - u.tol AS wait
          FROM unnest(p_keys, p_tolerances) WITH ORDINALITY AS u (k, tol, n) JOIN locked l ON l.key = u.k) w
    WHERE w.wait > 0
    ORDER BY w.wait DESC, w.n
    LIMIT 1;
    IF refused IS NULL THEN
        refused := 0;
        wait_us := 0;
        UPDATE public.rate_limits r SET tat = greatest(r.tat, p_now) + u.iv * interval '1 microsecond'
        FROM unnest(p_keys, p_intervals) AS u (k, iv)
        WHERE r.key = u.k;
    END IF;
    PERFORM pg_catalog.set_config('plan_cache_mode', plans, true);
END
$$;
-- +goose StatementEnd
GRANT EXECUTE ON FUNCTION rate_limit_allow(bytea[], bigint[], bigint[], timestamptz) TO coachwire_app;

-- The TATs of the limit checks move on every request; an index on them made each of those
-- updates write a new index entry (never a heap-only update). The sweep (SweepRateLimits, once a
-- minute per process) reads the table instead.
DROP INDEX rate_limits_tat;

-- +goose Down
CREATE INDEX rate_limits_tat ON rate_limits (tat);
DROP FUNCTION rate_limit_allow(bytea[], bigint[], bigint[], timestamptz);
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
