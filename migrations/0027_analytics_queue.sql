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

-- Coarser rollups in the creator's own zone (like analytics_days; rebuilt with it when the
-- zone changes), so a long range reads hundreds of rows instead of a conversation-day each:
-- Messages in and out per local day and channel.
CREATE TABLE analytics_day_totals (
    creator_id   uuid NOT NULL REFERENCES creators (id) ON DELETE CASCADE,
    day          date NOT NULL,
    channel      text NOT NULL,
    messages_in  bigint NOT NULL DEFAULT 0,
    messages_out bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (creator_id, day, channel)
);
-- The distribution of conversations per local day (grain 'd') and per Monday-started local
-- week (grain 'w'): how many conversations of the channel had n messages in that period, and
-- whether they had a message in (active). The period's conversations, active people and median
-- come from these few rows; kept exact by analytics_apply (a conversation's old bucket -1, its
-- new one +1). Aggregate counts without any end-user reference: they stay after an erasure.
CREATE TABLE analytics_period_hist (
    creator_id uuid NOT NULL REFERENCES creators (id) ON DELETE CASCADE,
    grain      text NOT NULL CHECK (grain IN ('d', 'w')),
    period     date NOT NULL,
    channel    text NOT NULL,
    n          integer NOT NULL,
    active     boolean NOT NULL,
    convs      integer NOT NULL,
    PRIMARY KEY (creator_id, grain, period, channel, n, active)
);
-- Each conversation's first and last local day with a message and its totals: a range that
-- covers a conversation's whole span takes its totals from this row, not from its days.
CREATE TABLE analytics_conversation_span (
    conversation_id uuid PRIMARY KEY,
    creator_id      uuid NOT NULL REFERENCES creators (id) ON DELETE CASCADE,
    channel         text NOT NULL,
    first_day       date NOT NULL,
    last_day        date NOT NULL,
    messages_in     bigint NOT NULL,
    messages_out    bigint NOT NULL,
    FOREIGN KEY (creator_id, conversation_id) REFERENCES conversations (creator_id, id) ON DELETE CASCADE
);
CREATE INDEX analytics_conversation_span_range ON analytics_conversation_span (creator_id, last_day)
    INCLUDE (first_day, channel, messages_in, messages_out);

-- The active-user windows (7 and 30 local days ending on a day): for each local day and
-- channel, how many conversations' runs of covered days start there (a day with a message in
-- whose previous such day is 7 / 30 or more days before) and end there (the next is 7 / 30 or
-- more days after, or none). The number of people active in the window ending on day t is the
-- starts up to t less the ends up to t - 7 (t - 30). Kept by analytics_apply, which recounts the
-- flags of the conversations that got a new active day; aggregate counts.
CREATE TABLE analytics_window_days (
    creator_id uuid NOT NULL REFERENCES creators (id) ON DELETE CASCADE,
    day        date NOT NULL,
    channel    text NOT NULL,
    s7         integer NOT NULL DEFAULT 0,
    e7         integer NOT NULL DEFAULT 0,
    s30        integer NOT NULL DEFAULT 0,
    e30        integer NOT NULL DEFAULT 0,
    PRIMARY KEY (creator_id, day, channel)
);
-- Retention: each person's cohort (the local week of their first message) and the weeks 1…8
-- after it in which they wrote (bit w of weeks). Recomputed by analytics_apply for the people
-- of a batch's messages in; it names the person, so it goes with them.
CREATE TABLE analytics_retention (
    end_user_id uuid PRIMARY KEY,
    creator_id  uuid NOT NULL REFERENCES creators (id) ON DELETE CASCADE,
    channel     text NOT NULL,
    first_at    timestamptz NOT NULL,
    cohort      date NOT NULL,
    weeks       integer NOT NULL,
    FOREIGN KEY (creator_id, end_user_id) REFERENCES end_users (creator_id, id) ON DELETE CASCADE
);
CREATE INDEX analytics_retention_range ON analytics_retention (creator_id, first_at) INCLUDE (channel, cohort, weeks);

-- Responsiveness per local day and channel: the turns, LLM errors and passages answers, and
-- every turn's message → reply and message → first token times (unsorted arrays): a range's
-- exact percentiles take the values of a few hundred rows instead of a row per turn. Kept by
-- analytics_apply with the turn rows; latencies and counts only (they stay after an erasure).
-- A day's values go in parts of about 2,048 turns, so a batch appends to a bounded array.
CREATE TABLE analytics_turn_days (
    creator_id     uuid NOT NULL REFERENCES creators (id) ON DELETE CASCADE,
    day            date NOT NULL,
    channel        text NOT NULL,
    part           integer NOT NULL,
    turns          integer NOT NULL,
    llm_errors     integer NOT NULL,
    passages       integer NOT NULL,
    final_ms       bigint[] NOT NULL,
    first_token_ms bigint[] NOT NULL,
    PRIMARY KEY (creator_id, day, channel, part)
);

-- Covering indexes: the range scans of the per-event rollups read the index alone.
CREATE INDEX analytics_turns_cover ON analytics_turns (creator_id, asked_at)
    INCLUDE (channel, final_ms, first_token_ms, status, mode);
DROP INDEX analytics_turns_range;
CREATE INDEX analytics_gaps_cover ON analytics_gaps (creator_id, asked_at) INCLUDE (channel, key, message_id, reason);
CREATE INDEX analytics_gaps_key ON analytics_gaps (creator_id, key, asked_at DESC);
DROP INDEX analytics_gaps_range;
CREATE INDEX analytics_citations_cover ON analytics_citations (creator_id, at) INCLUDE (channel, document_id, section);
-- Never cited: one probe per document.
CREATE INDEX analytics_citations_document ON analytics_citations (creator_id, document_id, at) INCLUDE (channel);
DROP INDEX analytics_citations_range;
CREATE INDEX analytics_first_contact_cover ON analytics_first_contact (creator_id, first_at) INCLUDE (channel, end_user_id);
DROP INDEX analytics_first_contact_range;
CREATE INDEX analytics_sends_cover ON analytics_sends (creator_id, sent_at) INCLUDE (message_id, channel, status, error_code, replied);
DROP INDEX analytics_sends_range;
-- Programs: a creator's program decisions by time (not a scan of every creator's deliveries).
CREATE INDEX nudge_deliveries_program_range ON nudge_deliveries (creator_id, decided_at) INCLUDE (enrollment_id, step, status, message_id)
    WHERE enrollment_id IS NOT NULL;
CREATE INDEX analytics_days_cover ON analytics_days (creator_id, day) INCLUDE (conversation_id, end_user_id, channel, messages_in, messages_out);

-- +goose StatementBegin
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['analytics_day_totals', 'analytics_period_hist', 'analytics_conversation_span', 'analytics_window_days',
                             'analytics_retention', 'analytics_turn_days'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
            USING (creator_id = NULLIF(current_setting('app.creator_id', true), '')::uuid)
            WITH CHECK (creator_id = NULLIF(current_setting('app.creator_id', true), '')::uuid)$p$, t);
    END LOOP;
END
$$;
-- +goose StatementEnd
GRANT SELECT, INSERT, UPDATE, DELETE ON analytics_day_totals, analytics_period_hist, analytics_conversation_span, analytics_window_days,
    analytics_retention, analytics_turn_days TO coachwire_app;

-- analytics_rebuild_home recomputes the creator's rollups of its own zone from analytics_days
-- (a zone change, the backfill below, the bench's bulk load).
-- +goose StatementBegin
CREATE FUNCTION analytics_rebuild_home(p_creator uuid) RETURNS void
-- Bulk joins of a whole creator: hash joins, whatever the statistics say.
LANGUAGE plpgsql SET enable_nestloop = off AS $$
BEGIN
    DELETE FROM analytics_day_totals WHERE creator_id = p_creator;
    DELETE FROM analytics_period_hist WHERE creator_id = p_creator;
    DELETE FROM analytics_conversation_span WHERE creator_id = p_creator;
    INSERT INTO analytics_day_totals (creator_id, day, channel, messages_in, messages_out)
    SELECT creator_id, day, channel, sum(messages_in), sum(messages_out)
    FROM analytics_days WHERE creator_id = p_creator GROUP BY 1, 2, 3;
    INSERT INTO analytics_period_hist (creator_id, grain, period, channel, n, active, convs)
    SELECT creator_id, 'd', day, channel, messages_in + messages_out, messages_in > 0, count(*)
    FROM analytics_days WHERE creator_id = p_creator GROUP BY 1, 2, 3, 4, 5, 6;
    INSERT INTO analytics_period_hist (creator_id, grain, period, channel, n, active, convs)
    SELECT creator_id, 'w', week, channel, n, active, count(*)
    FROM (SELECT creator_id, date_trunc('week', day)::date AS week, channel, conversation_id,
                 sum(messages_in + messages_out)::int AS n, sum(messages_in) > 0 AS active
          FROM analytics_days WHERE creator_id = p_creator GROUP BY 1, 2, 3, 4) w
    GROUP BY 1, 2, 3, 4, 5, 6;
    INSERT INTO analytics_conversation_span (conversation_id, creator_id, channel, first_day, last_day, messages_in, messages_out)
    SELECT conversation_id, creator_id, min(channel), min(day), max(day), sum(messages_in), sum(messages_out)
    FROM analytics_days WHERE creator_id = p_creator GROUP BY 1, 2;
    DELETE FROM analytics_window_days WHERE creator_id = p_creator;
    INSERT INTO analytics_window_days (creator_id, day, channel, s7, e7, s30, e30)
    SELECT p_creator, day, channel,
           count(*) FILTER (WHERE prev IS NULL OR day - prev >= 7), count(*) FILTER (WHERE next IS NULL OR next - day >= 7),
           count(*) FILTER (WHERE prev IS NULL OR day - prev >= 30), count(*) FILTER (WHERE next IS NULL OR next - day >= 30)
    FROM (SELECT day, channel, lag(day) OVER w AS prev, lead(day) OVER w AS next
          FROM analytics_days WHERE creator_id = p_creator AND messages_in > 0
          WINDOW w AS (PARTITION BY conversation_id ORDER BY day)) f
    GROUP BY 2, 3;
    DELETE FROM analytics_turn_days WHERE creator_id = p_creator;
    INSERT INTO analytics_turn_days (creator_id, day, channel, part, turns, llm_errors, passages, final_ms, first_token_ms)
    SELECT p_creator, day, channel, part, count(*), count(*) FILTER (WHERE status = 'llm_error'),
           count(*) FILTER (WHERE mode = 'passages'), array_agg(final_ms),
           coalesce(array_agg(first_token_ms) FILTER (WHERE first_token_ms IS NOT NULL), '{}')
    FROM (SELECT (t.asked_at AT TIME ZONE z.timezone)::date AS day, t.channel, t.status, t.mode, t.final_ms, t.first_token_ms,
                 (row_number() OVER (PARTITION BY (t.asked_at AT TIME ZONE z.timezone)::date, t.channel) - 1) / 2048 AS part
          FROM analytics_turns t JOIN creators z ON z.id = t.creator_id
          WHERE t.creator_id = p_creator) x
    GROUP BY 2, 3, 4;
    DELETE FROM analytics_retention WHERE creator_id = p_creator;
    INSERT INTO analytics_retention (end_user_id, creator_id, channel, first_at, cohort, weeks)
    SELECT f.end_user_id, p_creator, f.channel, f.first_at, w.cohort,
           coalesce(bit_or(1 << ((d.day - w.cohort) / 7)) FILTER (WHERE d.day >= w.cohort + 7 AND d.day < w.cohort + 63), 0)
    FROM analytics_first_contact f JOIN creators z ON z.id = f.creator_id
    CROSS JOIN LATERAL (SELECT date_trunc('week', f.first_at AT TIME ZONE z.timezone)::date AS cohort) w
    LEFT JOIN analytics_days d ON d.creator_id = p_creator AND d.end_user_id = f.end_user_id AND d.messages_in > 0
    WHERE f.creator_id = p_creator
    GROUP BY 1, 2, 3, 4, 5;
END
$$;
-- +goose StatementEnd

-- A zone change rebuilds analytics_days (as in 0017) and the rollups above.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION analytics_zone_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM analytics_days WHERE creator_id = NEW.id;
    INSERT INTO analytics_days (creator_id, day, conversation_id, end_user_id, channel, messages_in, messages_out)
    SELECT creator_id, (bucket AT TIME ZONE NEW.timezone)::date, conversation_id, end_user_id, channel, sum(messages_in), sum(messages_out)
    FROM analytics_activity WHERE creator_id = NEW.id
    GROUP BY 1, 2, 3, 4, 5;
    PERFORM analytics_rebuild_home(NEW.id);
    RETURN NULL;
END
$$;
-- +goose StatementEnd

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

    -- The rollups of the creator's own zone, from the batch's messages per conversation and
    -- local day and the rows as they were before this batch (read before analytics_days moves).
    WITH b AS (
        SELECT c.channel, m.conversation_id, (m.created_at AT TIME ZONE z.timezone)::date AS day,
               count(*) FILTER (WHERE m.role = 'user')::int AS din, count(*) FILTER (WHERE m.role <> 'user')::int AS dout
        FROM analytics_queue q JOIN messages m ON m.id = q.message_id JOIN conversations c ON c.id = m.conversation_id
             JOIN creators z ON z.id = m.creator_id
        WHERE q.message_id = ANY(ids) AND m.role IN ('user', 'assistant', 'creator')
        GROUP BY 1, 2, 3
    ), dd AS (
        SELECT 'd'::text AS grain, b.channel, b.day AS period, od.messages_in AS oin, od.messages_out AS oout, b.din, b.dout
        FROM b LEFT JOIN analytics_days od ON od.creator_id = p_creator AND od.day = b.day AND od.conversation_id = b.conversation_id
    ), bw AS (
        SELECT channel, conversation_id, date_trunc('week', day)::date AS week, sum(din)::int AS din, sum(dout)::int AS dout
        FROM b GROUP BY 1, 2, 3
    ), ww AS (
        SELECT 'w'::text AS grain, bw.channel, bw.week AS period, o.oin, o.oout, bw.din, bw.dout
        FROM bw LEFT JOIN LATERAL (
            SELECT sum(d.messages_in)::int AS oin, sum(d.messages_out)::int AS oout FROM analytics_days d
            WHERE d.creator_id = p_creator AND d.conversation_id = bw.conversation_id AND d.day >= bw.week AND d.day < bw.week + 7) o ON true
    ), ev AS (
        SELECT grain, channel, period, oin + oout AS n, oin > 0 AS active, -1 AS k FROM dd WHERE oin IS NOT NULL
        UNION ALL
        SELECT grain, channel, period, coalesce(oin, 0) + coalesce(oout, 0) + din + dout, coalesce(oin, 0) + din > 0, 1 FROM dd
        UNION ALL
        SELECT grain, channel, period, oin + oout, oin > 0, -1 FROM ww WHERE oin IS NOT NULL
        UNION ALL
        SELECT grain, channel, period, coalesce(oin, 0) + coalesce(oout, 0) + din + dout, coalesce(oin, 0) + din > 0, 1 FROM ww
    ), nd AS (
        -- The conversations with a new active day (a message in on a day that had none).
        SELECT DISTINCT b.conversation_id, b.channel FROM b
        LEFT JOIN analytics_days od ON od.creator_id = p_creator AND od.day = b.day AND od.conversation_id = b.conversation_id
        WHERE b.din > 0 AND coalesce(od.messages_in, 0) = 0
    ), od AS (
        SELECT d.conversation_id, nd.channel, d.day FROM analytics_days d JOIN nd ON nd.conversation_id = d.conversation_id
        WHERE d.creator_id = p_creator AND d.messages_in > 0
    ), nw AS (
        SELECT conversation_id, channel, day FROM od
        UNION
        SELECT conversation_id, channel, day FROM b WHERE din > 0 AND conversation_id IN (SELECT conversation_id FROM nd)
    ), wf AS (
        SELECT day, channel, -1 AS k, lag(day) OVER w AS prev, lead(day) OVER w AS next FROM od WINDOW w AS (PARTITION BY conversation_id ORDER BY day)
        UNION ALL
        SELECT day, channel, 1, lag(day) OVER w, lead(day) OVER w FROM nw WINDOW w AS (PARTITION BY conversation_id ORDER BY day)
    ), win AS (
        INSERT INTO analytics_window_days AS wd (creator_id, day, channel, s7, e7, s30, e30)
        SELECT p_creator, day, channel,
               coalesce(sum(k) FILTER (WHERE prev IS NULL OR day - prev >= 7), 0), coalesce(sum(k) FILTER (WHERE next IS NULL OR next - day >= 7), 0),
               coalesce(sum(k) FILTER (WHERE prev IS NULL OR day - prev >= 30), 0), coalesce(sum(k) FILTER (WHERE next IS NULL OR next - day >= 30), 0)
        FROM wf GROUP BY 2, 3
        ORDER BY 2, 3
        ON CONFLICT (creator_id, day, channel) DO UPDATE
            SET s7 = wd.s7 + EXCLUDED.s7, e7 = wd.e7 + EXCLUDED.e7, s30 = wd.s30 + EXCLUDED.s30, e30 = wd.e30 + EXCLUDED.e30
    ), hist AS (
        INSERT INTO analytics_period_hist AS h (creator_id, grain, period, channel, n, active, convs)
        SELECT p_creator, grain, period, channel, n, active, sum(k)
        FROM ev GROUP BY 2, 3, 4, 5, 6 HAVING sum(k) <> 0
        ORDER BY 2, 3, 4, 5, 6
        ON CONFLICT (creator_id, grain, period, channel, n, active) DO UPDATE SET convs = h.convs + EXCLUDED.convs
    ), totals AS (
        INSERT INTO analytics_day_totals AS t (creator_id, day, channel, messages_in, messages_out)
        SELECT p_creator, day, channel, sum(din), sum(dout) FROM b GROUP BY 2, 3
        ORDER BY 2, 3
        ON CONFLICT (creator_id, day, channel) DO UPDATE
            SET messages_in = t.messages_in + EXCLUDED.messages_in, messages_out = t.messages_out + EXCLUDED.messages_out
    )
    INSERT INTO analytics_conversation_span AS sp (conversation_id, creator_id, channel, first_day, last_day, messages_in, messages_out)
    SELECT conversation_id, p_creator, min(channel), min(day), max(day), sum(din), sum(dout) FROM b GROUP BY 1
    ORDER BY 1
    ON CONFLICT (conversation_id) DO UPDATE
        SET first_day = least(sp.first_day, EXCLUDED.first_day), last_day = greatest(sp.last_day, EXCLUDED.last_day),
            messages_in = sp.messages_in + EXCLUDED.messages_in, messages_out = sp.messages_out + EXCLUDED.messages_out;

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
            RETURNING channel, asked_at, final_ms, first_token_ms, mode, status
        ), turn_days AS (
            INSERT INTO analytics_turn_days AS td (creator_id, day, channel, part, turns, llm_errors, passages, final_ms, first_token_ms)
            SELECT p_creator, g.day, g.channel,
                   -- the day's last part, or a new one when it holds 2,048 turns
                   coalesce((SELECT CASE WHEN x.turns >= 2048 THEN x.part + 1 ELSE x.part END FROM analytics_turn_days x
                             WHERE x.creator_id = p_creator AND x.day = g.day AND x.channel = g.channel ORDER BY x.part DESC LIMIT 1), 0),
                   g.turns, g.llm_errors, g.passages, g.final_ms, g.first_token_ms
            FROM (SELECT (t.asked_at AT TIME ZONE z.timezone)::date AS day, t.channel, count(*)::int AS turns,
                         count(*) FILTER (WHERE t.status = 'llm_error')::int AS llm_errors, count(*) FILTER (WHERE t.mode = 'passages')::int AS passages,
                         array_agg(t.final_ms) AS final_ms,
                         coalesce(array_agg(t.first_token_ms) FILTER (WHERE t.first_token_ms IS NOT NULL), '{}') AS first_token_ms
                  FROM turns t JOIN creators z ON z.id = p_creator
                  GROUP BY 1, 2) g
            ORDER BY 2, 3
            ON CONFLICT (creator_id, day, channel, part) DO UPDATE
                SET turns = td.turns + EXCLUDED.turns, llm_errors = td.llm_errors + EXCLUDED.llm_errors, passages = td.passages + EXCLUDED.passages,
                    final_ms = td.final_ms || EXCLUDED.final_ms, first_token_ms = td.first_token_ms || EXCLUDED.first_token_ms
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

    -- Retention of the people who wrote in this batch: their cohort (first contact, just
    -- updated) and their active weeks 1…8 after it (analytics_days, just updated), recounted.
    INSERT INTO analytics_retention AS r (end_user_id, creator_id, channel, first_at, cohort, weeks)
    SELECT f.end_user_id, p_creator, f.channel, f.first_at, w.cohort,
           coalesce((SELECT bit_or(1 << ((d.day - w.cohort) / 7)) FROM analytics_days d
                     WHERE d.creator_id = p_creator AND d.messages_in > 0 AND d.day >= w.cohort + 7 AND d.day < w.cohort + 63
                       AND d.conversation_id IN (SELECT cc.id FROM conversations cc WHERE cc.creator_id = p_creator AND cc.end_user_id = u.end_user_id)), 0)
    FROM (SELECT DISTINCT c.end_user_id
          FROM messages m JOIN conversations c ON c.id = m.conversation_id
          WHERE m.id = ANY(ids) AND m.role = 'user') u
    JOIN analytics_first_contact f ON f.end_user_id = u.end_user_id
    JOIN creators z ON z.id = p_creator,
    LATERAL (SELECT date_trunc('week', f.first_at AT TIME ZONE z.timezone)::date AS cohort) w
    ORDER BY 1
    ON CONFLICT (end_user_id) DO UPDATE
        SET channel = EXCLUDED.channel, first_at = EXCLUDED.first_at, cohort = EXCLUDED.cohort, weeks = EXCLUDED.weeks;

    DELETE FROM analytics_queue WHERE message_id = ANY(ids);
    RETURN cardinality(ids);
END
$$;
-- +goose StatementEnd

-- The messages already written are in the rollups of 0017 (its trigger and backfill); the new
-- ones are filled from analytics_days.
ALTER TABLE creators NO FORCE ROW LEVEL SECURITY;
ALTER TABLE analytics_days NO FORCE ROW LEVEL SECURITY;
ALTER TABLE analytics_day_totals NO FORCE ROW LEVEL SECURITY;
ALTER TABLE analytics_period_hist NO FORCE ROW LEVEL SECURITY;
ALTER TABLE analytics_conversation_span NO FORCE ROW LEVEL SECURITY;
ALTER TABLE analytics_window_days NO FORCE ROW LEVEL SECURITY;
ALTER TABLE analytics_retention NO FORCE ROW LEVEL SECURITY;
ALTER TABLE analytics_turn_days NO FORCE ROW LEVEL SECURITY;
ALTER TABLE analytics_turns NO FORCE ROW LEVEL SECURITY;
ALTER TABLE analytics_first_contact NO FORCE ROW LEVEL SECURITY;
SELECT analytics_rebuild_home(id) FROM creators;
ALTER TABLE creators FORCE ROW LEVEL SECURITY;
ALTER TABLE analytics_days FORCE ROW LEVEL SECURITY;
ALTER TABLE analytics_day_totals FORCE ROW LEVEL SECURITY;
ALTER TABLE analytics_period_hist FORCE ROW LEVEL SECURITY;
ALTER TABLE analytics_conversation_span FORCE ROW LEVEL SECURITY;
ALTER TABLE analytics_window_days FORCE ROW LEVEL SECURITY;
ALTER TABLE analytics_retention FORCE ROW LEVEL SECURITY;
ALTER TABLE analytics_turn_days FORCE ROW LEVEL SECURITY;
ALTER TABLE analytics_turns FORCE ROW LEVEL SECURITY;
ALTER TABLE analytics_first_contact FORCE ROW LEVEL SECURITY;

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
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION analytics_zone_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM analytics_days WHERE creator_id = NEW.id;
    INSERT INTO analytics_days (creator_id, day, conversation_id, end_user_id, channel, messages_in, messages_out)
    SELECT creator_id, (bucket AT TIME ZONE NEW.timezone)::date, conversation_id, end_user_id, channel, sum(messages_in), sum(messages_out)
    FROM analytics_activity WHERE creator_id = NEW.id
    GROUP BY 1, 2, 3, 4, 5;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
DROP FUNCTION analytics_apply(uuid, integer);
DROP FUNCTION analytics_rebuild_home(uuid);
CREATE INDEX analytics_turns_range ON analytics_turns (creator_id, asked_at);
CREATE INDEX analytics_gaps_range ON analytics_gaps (creator_id, asked_at);
CREATE INDEX analytics_citations_range ON analytics_citations (creator_id, at);
CREATE INDEX analytics_first_contact_range ON analytics_first_contact (creator_id, first_at);
CREATE INDEX analytics_sends_range ON analytics_sends (creator_id, sent_at);
DROP INDEX analytics_turns_cover, analytics_gaps_cover, analytics_gaps_key, analytics_citations_cover, analytics_citations_document, analytics_first_contact_cover,
    analytics_sends_cover, analytics_days_cover, nudge_deliveries_program_range;
DROP TABLE analytics_day_totals, analytics_period_hist, analytics_conversation_span, analytics_window_days, analytics_retention,
    analytics_turn_days;
DROP FUNCTION analytics_queued_creators(integer);
DROP TABLE analytics_queue;
