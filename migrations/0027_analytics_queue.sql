-- +goose Up
-- Analytics rollups off the turn's transaction (issue 12). Migration 0017's statement trigger
-- on messages did every rollup's work inside the writing transaction (two to three upserts per
-- message: about 1.5 ms of database CPU per turn). Now the trigger only notes the new message in
-- analytics_queue (one small insert, in the same transaction, so a committed message is never
-- missed), and analytics_apply, run by the rollup worker (internal/analytics) and by the
-- analytics API before it reads, moves queued messages into the rollups in batches: set-based,
-- one upsert per rollup per batch, and exactly once, since the queue rows are deleted in the
-- transaction that applies them (a worker that dies rolls back; nothing is applied twice).

CREATE TABLE analytics_queue (
    message_id     uuid PRIMARY KEY,
    creator_id     uuid NOT NULL REFERENCES creators (id) ON DELETE CASCADE,
    -- The member who wrote a creator message (app.user_id of the writing transaction).
    user_id        uuid,
    -- generate, in the reply's transaction: message → first token, and the answer's mode.
    first_token_ms bigint,
    mode           text NOT NULL DEFAULT '',
    -- The status the message was written with (dispatch moves a reply on to sent, delivered…;
    -- the turn and gap rollups classify a reply by what generate stored).
    status         text NOT NULL
);
CREATE INDEX analytics_queue_creator ON analytics_queue (creator_id);

ALTER TABLE analytics_queue ENABLE ROW LEVEL SECURITY;
ALTER TABLE analytics_queue FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON analytics_queue
    USING (creator_id = NULLIF(current_setting('app.creator_id', true), '')::uuid)
    WITH CHECK (creator_id = NULLIF(current_setting('app.creator_id', true), '')::uuid);
-- The owner (analytics_queued_creators, SECURITY DEFINER) sees which creators have work.
CREATE POLICY analytics_worker ON analytics_queue FOR SELECT TO CURRENT_USER USING (true);
GRANT SELECT, INSERT, UPDATE, DELETE ON analytics_queue TO coachwire_app;

-- The turn path's whole share of the rollups: one insert of the statement's new messages.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION analytics_messages_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO analytics_queue (message_id, creator_id, user_id, status)
    SELECT id, creator_id, CASE WHEN role = 'creator' THEN NULLIF(current_setting('app.user_id', true), '')::uuid END, status
    FROM new_messages WHERE role IN ('user', 'assistant', 'creator')
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- Creators with queued messages, oldest work first is not needed (every batch is applied in
-- full): up to p_limit of them, for the worker to apply in each one's tenant.
-- +goose StatementBegin
CREATE FUNCTION analytics_queued_creators(p_limit integer)
RETURNS TABLE (creator_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
    SELECT DISTINCT q.creator_id FROM analytics_queue q LIMIT p_limit
$$;
-- +goose StatementEnd
REVOKE ALL ON FUNCTION analytics_queued_creators(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION analytics_queued_creators(integer) TO coachwire_app;

-- analytics_apply moves up to p_limit of the creator's queued messages into the rollups and
-- returns how many it took; run in the creator's tenant. What migration 0017's trigger did per
-- statement, now per batch:
-- - one applier per creator at a time (a transaction advisory lock), so the batches' counter
--   upserts never interleave;
-- - the creator's row is key-share locked first: a zone change (which rebuilds analytics_days)
--   waits for the batch, or the batch reads the new zone (see migration 0017);
-- - the batch's conversations are key-share locked: an erasure (the end user's delete cascading
--   to the conversation and its messages) waits for the batch and then removes what it wrote,
--   or came first and the batch no longer sees the messages;
-- - the proactive sends among them are share locked: a delivery status update (mirrored into
--   analytics_sends by analytics_send_status) waits, and then finds the row written here.
-- A message deleted before it was applied leaves only its queue row, deleted here too.
-- +goose StatementBegin
CREATE FUNCTION analytics_apply(p_creator uuid, p_limit integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    ids uuid[];
    has_bot boolean;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('analytics_apply:' || p_creator::text, 0));
    SELECT array_agg(message_id) INTO ids
    FROM (SELECT message_id FROM analytics_queue WHERE creator_id = p_creator LIMIT p_limit) q;
    IF ids IS NULL THEN
        RETURN 0;
    END IF;
    PERFORM 1 FROM creators WHERE id = p_creator FOR KEY SHARE;
    PERFORM 1 FROM conversations c
    WHERE c.id IN (SELECT m.conversation_id FROM messages m WHERE m.id = ANY(ids))
    ORDER BY c.id FOR KEY SHARE;
    PERFORM 1 FROM messages m WHERE m.id = ANY(ids) AND m.role = 'assistant' AND m.reply_to IS NULL ORDER BY m.id FOR SHARE;

    WITH x AS (
        SELECT m.creator_id, m.conversation_id, c.end_user_id, c.channel, m.created_at, m.role, m.role = 'user' AS inbound, q.user_id
        FROM analytics_queue q JOIN messages m ON m.id = q.message_id JOIN conversations c ON c.id = m.conversation_id
        WHERE q.message_id = ANY(ids)
    ), qh AS (
        INSERT INTO analytics_activity AS a (creator_id, conversation_id, end_user_id, channel, bucket, messages_in, messages_out)
        SELECT creator_id, conversation_id, end_user_id, channel, date_bin('15 minutes', created_at, 'epoch'),
               count(*) FILTER (WHERE inbound), count(*) FILTER (WHERE NOT inbound)
        FROM x
        GROUP BY 1, 2, 3, 4, 5
        ORDER BY 2, 5
        ON CONFLICT (conversation_id, bucket) DO UPDATE
            SET messages_in = a.messages_in + EXCLUDED.messages_in, messages_out = a.messages_out + EXCLUDED.messages_out
    ), fc AS (
        INSERT INTO analytics_first_contact AS f (end_user_id, creator_id, channel, first_at)
        SELECT end_user_id, creator_id, min(channel), min(created_at)
        FROM x WHERE inbound
        GROUP BY 1, 2
        ORDER BY 1
        ON CONFLICT (end_user_id) DO UPDATE SET first_at = EXCLUDED.first_at WHERE EXCLUDED.first_at < f.first_at
    ), replied AS (
        -- A person's message is the reply to the sends of the 24 hours before it.
        UPDATE analytics_sends s SET replied = true
        FROM x
        WHERE x.inbound AND s.conversation_id = x.conversation_id AND NOT s.replied
          AND s.sent_at <= x.created_at AND s.sent_at > x.created_at - interval '24 hours'
    ), team AS (
        INSERT INTO analytics_team_events (creator_id, conversation_id, channel, kind, user_id, at)
        SELECT creator_id, conversation_id, channel, 'reply', user_id, created_at
        FROM x WHERE role = 'creator'
    )
    INSERT INTO analytics_days AS d (creator_id, day, conversation_id, end_user_id, channel, messages_in, messages_out)
    SELECT x.creator_id, (x.created_at AT TIME ZONE z.timezone)::date, x.conversation_id, x.end_user_id, x.channel,
           count(*) FILTER (WHERE x.inbound), count(*) FILTER (WHERE NOT x.inbound)
    FROM x JOIN creators z ON z.id = x.creator_id
    GROUP BY 1, 2, 3, 4, 5
    ORDER BY 1, 2, 3
    ON CONFLICT (creator_id, day, conversation_id) DO UPDATE
        SET messages_in = d.messages_in + EXCLUDED.messages_in, messages_out = d.messages_out + EXCLUDED.messages_out;

    SELECT coalesce(bool_or(m.role = 'assistant'), false) INTO has_bot FROM messages m WHERE m.id = ANY(ids);
    IF has_bot THEN
        -- The bot's messages: replies (turns, gaps, citations; the question read once) and
        -- proactive sends (those answering nothing). The sends go first, so a person's message
        -- of the same batch (replied, above) is found by the EXISTS below.
        INSERT INTO analytics_sends (message_id, creator_id, conversation_id, channel, sent_at, status, error_code, replied)
        SELECT n.id, n.creator_id, n.conversation_id, n.channel, n.created_at, n.status, n.error_code,
               EXISTS (SELECT 1 FROM messages u WHERE u.creator_id = n.creator_id AND u.conversation_id = n.conversation_id AND u.role = 'user'
                         AND u.created_at >= n.created_at AND u.created_at < n.created_at + interval '24 hours')
        FROM messages n
        WHERE n.id = ANY(ids) AND n.role = 'assistant' AND n.reply_to IS NULL
        ON CONFLICT DO NOTHING;

        WITH n AS (
            SELECT m.id, m.creator_id, m.conversation_id, m.channel, m.created_at, m.sources, m.reply_to,
                   q.status, q.first_token_ms, q.mode
            FROM analytics_queue q JOIN messages m ON m.id = q.message_id
            WHERE q.message_id = ANY(ids) AND m.role = 'assistant'
        ), r AS (
            SELECT n.id, n.creator_id, n.conversation_id, n.channel, n.created_at, n.status, n.sources, n.first_token_ms, n.mode,
                   u.id AS ask_id, u.created_at AS asked_at, u.body AS question
            FROM n JOIN messages u ON u.id = n.reply_to AND u.role = 'user'
        ), turns AS (
            INSERT INTO analytics_turns (reply_id, creator_id, conversation_id, channel, asked_at, final_ms, first_token_ms, mode, status)
            SELECT id, creator_id, conversation_id, channel, asked_at,
                   greatest(0, floor(extract(epoch FROM created_at - asked_at) * 1000))::bigint, first_token_ms, mode, status
            FROM r
            ON CONFLICT DO NOTHING
        ), gaps AS (
            -- Only the coach's answers: keyword auto-replies (stored 'queued' by retrieve) are none.
            INSERT INTO analytics_gaps (message_id, reason, creator_id, conversation_id, channel, asked_at, key, question)
            SELECT ask_id, 'no_passage', creator_id, conversation_id, channel, asked_at, analytics_question_key(question), question
            FROM r
            WHERE status IN ('generated', 'search_unavailable', 'llm_error') AND (sources = '[]'::jsonb OR status = 'search_unavailable')
            ON CONFLICT DO NOTHING
        )
        INSERT INTO analytics_citations (reply_id, document_id, section, creator_id, channel, at)
        SELECT DISTINCT n.id, (s->>'document_id')::uuid, coalesce(s->>'heading', ''), n.creator_id, n.channel, n.created_at
        FROM n, jsonb_array_elements(CASE WHEN jsonb_typeof(n.sources) = 'array' THEN n.sources ELSE '[]'::jsonb END) s
        WHERE s ? 'document_id'
        ON CONFLICT DO NOTHING;
    END IF;

    DELETE FROM analytics_queue WHERE message_id = ANY(ids);
    RETURN cardinality(ids);
END
$$;
-- +goose StatementEnd

-- The messages already written are in the rollups (0017's trigger and backfill).

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION analytics_messages_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    has_any boolean;
    has_bot boolean;
BEGIN
    -- One look at the new rows, so a single message (the turn path) runs only its own rollups:
    -- two statements for a bot reply, one for any other message, each writing several rollups
    -- from one read of the new rows (data-modifying WITH clauses all run).
    SELECT coalesce(bool_or(role IN ('user', 'assistant', 'creator')), false), coalesce(bool_or(role = 'assistant'), false)
    INTO has_any, has_bot FROM new_messages;
    IF NOT has_any THEN
        RETURN NULL;
    END IF;
    -- The quarter-hour and the local-day counters, first contacts, replies to proactive sends and
    -- members' replies. The creator's zone needs no lock of its own: the foreign key check of
    -- these messages holds a key share lock on the creator's row until commit, and
    -- creators_zone (a unique index with the zone) makes a zone change take the conflicting
    -- lock, so the change (which rebuilds analytics_days) waits for this transaction, or this
    -- statement's key check waited for the change and this trigger, running after the check,
    -- reads the new zone.
    WITH x AS (
        SELECT n.creator_id, n.conversation_id, c.end_user_id, c.channel, n.created_at, n.role, n.role = 'user' AS inbound
        FROM new_messages n JOIN conversations c ON c.id = n.conversation_id
        WHERE n.role IN ('user', 'assistant', 'creator')
    ), qh AS (
        INSERT INTO analytics_activity AS a (creator_id, conversation_id, end_user_id, channel, bucket, messages_in, messages_out)
        SELECT creator_id, conversation_id, end_user_id, channel, date_bin('15 minutes', created_at, 'epoch'),
               count(*) FILTER (WHERE inbound), count(*) FILTER (WHERE NOT inbound)
        FROM x
        GROUP BY 1, 2, 3, 4, 5
        ORDER BY 2, 5
        ON CONFLICT (conversation_id, bucket) DO UPDATE
            SET messages_in = a.messages_in + EXCLUDED.messages_in, messages_out = a.messages_out + EXCLUDED.messages_out
    ), fc AS (
        INSERT INTO analytics_first_contact AS f (end_user_id, creator_id, channel, first_at)
        SELECT end_user_id, creator_id, min(channel), min(created_at)
        FROM x WHERE inbound
        GROUP BY 1, 2
        ORDER BY 1
        ON CONFLICT (end_user_id) DO UPDATE SET first_at = EXCLUDED.first_at WHERE EXCLUDED.first_at < f.first_at
    ), replied AS (
        -- A person's message is the reply to the sends of the 24 hours before it.
        UPDATE analytics_sends s SET replied = true
        FROM x
        WHERE x.inbound AND s.conversation_id = x.conversation_id AND NOT s.replied
          AND s.sent_at <= x.created_at AND s.sent_at > x.created_at - interval '24 hours'
    ), team AS (
        INSERT INTO analytics_team_events (creator_id, conversation_id, channel, kind, user_id, at)
        SELECT creator_id, conversation_id, channel, 'reply', NULLIF(current_setting('app.user_id', true), '')::uuid, created_at
        FROM x WHERE role = 'creator'
    )
    INSERT INTO analytics_days AS d (creator_id, day, conversation_id, end_user_id, channel, messages_in, messages_out)
    SELECT x.creator_id, (x.created_at AT TIME ZONE z.timezone)::date, x.conversation_id, x.end_user_id, x.channel,
           count(*) FILTER (WHERE x.inbound), count(*) FILTER (WHERE NOT x.inbound)
    FROM x JOIN creators z ON z.id = x.creator_id
    GROUP BY 1, 2, 3, 4, 5
    ORDER BY 1, 2, 3
    ON CONFLICT (creator_id, day, conversation_id) DO UPDATE
        SET messages_in = d.messages_in + EXCLUDED.messages_in, messages_out = d.messages_out + EXCLUDED.messages_out;

    IF NOT has_bot THEN
        RETURN NULL;
    END IF;

    -- The bot's messages: replies (turns, gaps, citations; the question read once) and proactive
    -- sends (those answering nothing).
    WITH r AS (
        SELECT n.id, n.creator_id, n.conversation_id, n.channel, n.created_at, n.status, n.sources,
               u.id AS ask_id, u.created_at AS asked_at, u.body AS question
        FROM new_messages n JOIN messages u ON u.id = n.reply_to AND u.role = 'user'
        WHERE n.role = 'assistant'
    ), turns AS (
        INSERT INTO analytics_turns (reply_id, creator_id, conversation_id, channel, asked_at, final_ms, status)
        SELECT id, creator_id, conversation_id, channel, asked_at,
               greatest(0, floor(extract(epoch FROM created_at - asked_at) * 1000))::bigint, status
        FROM r
        ON CONFLICT DO NOTHING
    ), gaps AS (
        -- Only the coach's answers: keyword auto-replies (stored 'queued' by retrieve) are none.
        INSERT INTO analytics_gaps (message_id, reason, creator_id, conversation_id, channel, asked_at, key, question)
        SELECT ask_id, 'no_passage', creator_id, conversation_id, channel, asked_at, analytics_question_key(question), question
        FROM r
        WHERE status IN ('generated', 'search_unavailable', 'llm_error') AND (sources = '[]'::jsonb OR status = 'search_unavailable')
        ON CONFLICT DO NOTHING
    ), citations AS (
        INSERT INTO analytics_citations (reply_id, document_id, section, creator_id, channel, at)
        SELECT DISTINCT n.id, (s->>'document_id')::uuid, coalesce(s->>'heading', ''), n.creator_id, n.channel, n.created_at
        FROM new_messages n, jsonb_array_elements(CASE WHEN jsonb_typeof(n.sources) = 'array' THEN n.sources ELSE '[]'::jsonb END) s
        WHERE n.role = 'assistant' AND s ? 'document_id'
        ON CONFLICT DO NOTHING
    )
    INSERT INTO analytics_sends (message_id, creator_id, conversation_id, channel, sent_at, status, error_code, replied)
    SELECT n.id, n.creator_id, n.conversation_id, n.channel, n.created_at, n.status, n.error_code,
           EXISTS (SELECT 1 FROM messages u WHERE u.creator_id = n.creator_id AND u.conversation_id = n.conversation_id AND u.role = 'user'
                     AND u.created_at >= n.created_at AND u.created_at < n.created_at + interval '24 hours')
    FROM new_messages n
    WHERE n.role = 'assistant' AND n.reply_to IS NULL
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
DROP FUNCTION analytics_apply(uuid, integer);
DROP FUNCTION analytics_queued_creators(integer);
DROP TABLE analytics_queue;
