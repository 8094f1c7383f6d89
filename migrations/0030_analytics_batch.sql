-- +goose Up
-- The analytics batch made cheaper (issue 12: the turn benchmark at 200 turns/s within 5 % of
-- its figure without analytics). analytics_apply (migration 0027) cost PostgreSQL about 1.2 ms
-- per turn, now about 0.2 (docs/analytics.md, "5 December, night"; BenchmarkApplyCost):
-- - The batch's messages are read once (one statement, each message and its conversation by
--   primary key) into an array, and every rollup statement reads that array; the
--   conversations are then key-share locked each by its key. Before, four statements each joined the queue, messages and conversations
--   again, and on young tables (the estimates of a few rows) the planner ran them as a loop over
--   all the creator's conversations and a scan of the creator's queue per message: 0.2-0.5 s a
--   batch of 300 turns.
-- - The queue rows are deleted first (DELETE … RETURNING gives the batch and its columns).
-- - Retention is recounted only for the people whose figures can change: a conversation with a
--   new active local day (a message in on a day that had none) or a new first contact. An
--   unchanged row is not rewritten.

-- Fewer index entries and checks per rollup row:
-- - A rollup row that names its conversation, message or end user with creator_id already
--   references it by (creator_id, id), and that key's parent cascades from the creator: the
--   second foreign key, to creators alone, was one more check per row written (four to five a
--   turn). The composite keys stay (TestEveryTenantForeignKeyIncludesCreator).
ALTER TABLE analytics_activity DROP CONSTRAINT analytics_activity_creator_id_fkey;
ALTER TABLE analytics_days DROP CONSTRAINT analytics_days_creator_id_fkey;
ALTER TABLE analytics_first_contact DROP CONSTRAINT analytics_first_contact_creator_id_fkey;
ALTER TABLE analytics_turns DROP CONSTRAINT analytics_turns_creator_id_fkey;
ALTER TABLE analytics_gaps DROP CONSTRAINT analytics_gaps_creator_id_fkey;
ALTER TABLE analytics_citations DROP CONSTRAINT analytics_citations_creator_id_fkey;
ALTER TABLE analytics_team_events DROP CONSTRAINT analytics_team_events_creator_id_fkey;
ALTER TABLE analytics_sends DROP CONSTRAINT analytics_sends_creator_id_fkey;
ALTER TABLE analytics_conversation_span DROP CONSTRAINT analytics_conversation_span_creator_id_fkey;
ALTER TABLE analytics_retention DROP CONSTRAINT analytics_retention_creator_id_fkey;
-- - The queue (two rows a turn, on the turn path): keyed by (creator_id, message_id), so one
--   index serves the per-creator batch and the row lookups (row security adds the creator), and
--   no foreign key: a deleted creator's queue rows are deleted by the next pass (analytics_apply
--   finds no creator and no messages).
ALTER TABLE analytics_queue DROP CONSTRAINT analytics_queue_creator_id_fkey;
ALTER TABLE analytics_queue DROP CONSTRAINT analytics_queue_pkey;
ALTER TABLE analytics_queue ADD PRIMARY KEY (creator_id, message_id);
DROP INDEX analytics_queue_creator;
-- - analytics_days: the primary key carries the covering index's columns (the range reads are
--   index-only on it as on analytics_days_cover), so a batch's updated row (the counters change:
--   never a HOT update) writes two index entries instead of three, and the batch's lookups by
--   (creator, day, conversation) use the whole key (the planner took the cover index and
--   filtered the day's conversations).
CREATE UNIQUE INDEX analytics_days_key ON analytics_days (creator_id, day, conversation_id)
    INCLUDE (end_user_id, channel, messages_in, messages_out);
ALTER TABLE analytics_days DROP CONSTRAINT analytics_days_pkey;
ALTER TABLE analytics_days ADD CONSTRAINT analytics_days_pkey PRIMARY KEY USING INDEX analytics_days_key;
DROP INDEX analytics_days_cover;

-- One message of a batch, as analytics_apply reads it.
CREATE TYPE analytics_batch_message AS (
    id              uuid,
    conversation_id uuid,
    end_user_id     uuid,
    channel         text,         -- the conversation's (activity, days)
    mchannel        text,         -- the message's (sends, turns, gaps, citations)
    created_at      timestamptz,
    day             date,         -- local day of the creator's zone
    role            text,
    reply_to        uuid,
    sources         jsonb,
    status          text,         -- now
    error_code      text,
    user_id         uuid,         -- from the queue: the member who wrote a creator message
    qstatus         text,         -- from the queue: the status it was written with
    first_token_ms  bigint,
    mode            text
);

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION analytics_apply(p_creator uuid, p_limit integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    ids      uuid[];
    q_user   uuid[];
    q_status text[];
    q_ft     bigint[];
    q_mode   text[];
    tz       text;
    msgs     analytics_batch_message[];
    has_bot  boolean;
    has_send boolean;
    recount  uuid[];
    recount2 uuid[];
    convs    uuid[];
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('analytics_apply:' || p_creator::text, 0));
    -- The batch: its queue rows, deleted in this transaction (a batch that rolls back leaves
    -- them; nothing is applied twice).
    WITH d AS (
        DELETE FROM analytics_queue q
        WHERE q.creator_id = p_creator
          AND q.message_id = ANY(ARRAY(SELECT a.message_id FROM analytics_queue a WHERE a.creator_id = p_creator LIMIT p_limit))
        RETURNING q.message_id, q.user_id, q.status, q.first_token_ms, q.mode
    )
    SELECT array_agg(message_id), array_agg(user_id), array_agg(status), array_agg(first_token_ms), array_agg(mode)
    INTO ids, q_user, q_status, q_ft, q_mode
    FROM d;
    IF ids IS NULL THEN
        RETURN 0;
    END IF;
    -- The creator's row, key-share locked: a zone change (which rebuilds the local-day rollups)
    -- waits for the batch, or the batch reads the new zone.
    SELECT c.timezone INTO tz FROM creators c WHERE c.id = p_creator FOR KEY SHARE;
    IF NOT FOUND THEN
        RETURN cardinality(ids);
    END IF;
    -- The messages, read once: each by its primary key and its conversation by its own (a join
    -- would let the planner start from the creator's conversations, estimated at a few rows on
    -- a young table: every batch read every conversation of the creator).
    SELECT array_agg(ROW(q.id, m.conversation_id, c.end_user_id, c.channel, m.channel, m.created_at,
                         (m.created_at AT TIME ZONE tz)::date, m.role, m.reply_to, m.sources, m.status, m.error_code,
                         q.user_id, q.status, q.ft, q.mode)::analytics_batch_message)
    INTO msgs
    FROM unnest(ids, q_user, q_status, q_ft, q_mode) AS q(id, user_id, status, ft, mode)
    CROSS JOIN LATERAL (SELECT m.conversation_id, m.channel, m.created_at, m.role, m.reply_to, m.sources, m.status, m.error_code
                        FROM messages m WHERE m.id = q.id AND m.role IN ('user', 'assistant', 'creator') LIMIT 1) m
    CROSS JOIN LATERAL (SELECT c.end_user_id, c.channel FROM conversations c WHERE c.id = m.conversation_id LIMIT 1) c;
    IF msgs IS NULL THEN
        RETURN cardinality(ids);
    END IF;
    -- Their conversations, key-share locked (in order, each by its key): an erasure (the end
    -- user's delete cascading to the conversation and its messages) waits for the batch and
    -- then removes what it wrote, or came first: then its conversation is not locked here, and
    -- its messages, read above, are left out. A message deleted before it was applied leaves
    -- only its queue row.
    SELECT array_agg(l.id) INTO convs
    FROM (SELECT DISTINCT x.conversation_id AS id FROM unnest(msgs) x ORDER BY 1) k
    CROSS JOIN LATERAL (SELECT c.id FROM conversations c WHERE c.id = k.id FOR KEY SHARE) l;
    IF coalesce(cardinality(convs), 0) < (SELECT count(DISTINCT x.conversation_id) FROM unnest(msgs) x) THEN
        msgs := ARRAY(SELECT x FROM unnest(msgs) x WHERE x.conversation_id = ANY(convs));
    END IF;

    -- The rollups of the creator's own zone, from the batch's messages per conversation and
    -- local day and the rows as they were before this batch (read before analytics_days moves).
    -- The end users of the conversations with a new active day come back (retention, below).
    WITH b AS (
        SELECT x.channel, x.conversation_id, x.day,
               count(*) FILTER (WHERE x.role = 'user')::int AS din, count(*) FILTER (WHERE x.role <> 'user')::int AS dout
        FROM unnest(msgs) x
        GROUP BY 1, 2, 3
    ), bo AS (
        -- each conversation-day's row before this batch (one probe of analytics_days' key)
        SELECT b.*, od.messages_in AS oin, od.messages_out AS oout
        FROM b LEFT JOIN analytics_days od ON od.creator_id = p_creator AND od.day = b.day AND od.conversation_id = b.conversation_id
    ), dd AS (
        SELECT 'd'::text AS grain, channel, day AS period, oin, oout, din, dout FROM bo
    ), bw AS (
        SELECT channel, conversation_id, date_trunc('week', day)::date AS week, sum(din)::int AS din, sum(dout)::int AS dout
        FROM b GROUP BY 1, 2, 3
    ), ww AS (
        SELECT 'w'::text AS grain, bw.channel, bw.week AS period, o.oin, o.oout, bw.din, bw.dout
        FROM bw LEFT JOIN LATERAL (
            SELECT sum(d.messages_in)::int AS oin, sum(d.messages_out)::int AS oout FROM analytics_days d
            WHERE d.creator_id = p_creator AND d.conversation_id = bw.conversation_id
              AND d.day = ANY(ARRAY[bw.week, bw.week + 1, bw.week + 2, bw.week + 3, bw.week + 4, bw.week + 5, bw.week + 6])) o ON true
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
        SELECT DISTINCT conversation_id, channel FROM bo WHERE din > 0 AND coalesce(oin, 0) = 0
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
    ), span AS (
        INSERT INTO analytics_conversation_span AS sp (conversation_id, creator_id, channel, first_day, last_day, messages_in, messages_out)
        SELECT conversation_id, p_creator, min(channel), min(day), max(day), sum(din), sum(dout) FROM b GROUP BY 1
        ORDER BY 1
        ON CONFLICT (conversation_id) DO UPDATE
            SET first_day = least(sp.first_day, EXCLUDED.first_day), last_day = greatest(sp.last_day, EXCLUDED.last_day),
                messages_in = sp.messages_in + EXCLUDED.messages_in, messages_out = sp.messages_out + EXCLUDED.messages_out
    )
    SELECT array_agg(DISTINCT x.end_user_id) INTO recount
    FROM unnest(msgs) x WHERE x.conversation_id IN (SELECT conversation_id FROM nd);

    -- The quarter-hour and local-day counters, first contacts (the people whose first contact
    -- moved come back), replies to proactive sends and members' replies.
    WITH x AS (
        SELECT x.*, x.role = 'user' AS inbound FROM unnest(msgs) x
    ), qh AS (
        INSERT INTO analytics_activity AS a (creator_id, conversation_id, end_user_id, channel, bucket, messages_in, messages_out)
        SELECT p_creator, conversation_id, end_user_id, channel, date_bin('15 minutes', created_at, 'epoch'),
               count(*) FILTER (WHERE inbound), count(*) FILTER (WHERE NOT inbound)
        FROM x
        GROUP BY 2, 3, 4, 5
        ORDER BY 2, 5
        ON CONFLICT (conversation_id, bucket) DO UPDATE
            SET messages_in = a.messages_in + EXCLUDED.messages_in, messages_out = a.messages_out + EXCLUDED.messages_out
    ), replied AS (
        -- A person's message is the reply to the sends of the 24 hours before it.
        UPDATE analytics_sends s SET replied = true
        FROM x
        WHERE x.inbound AND s.conversation_id = x.conversation_id AND NOT s.replied
          AND s.sent_at <= x.created_at AND s.sent_at > x.created_at - interval '24 hours'
    ), team AS (
        INSERT INTO analytics_team_events (creator_id, conversation_id, channel, kind, user_id, at)
        SELECT p_creator, conversation_id, channel, 'reply', user_id, created_at
        FROM x WHERE role = 'creator'
    ), days AS (
        INSERT INTO analytics_days AS d (creator_id, day, conversation_id, end_user_id, channel, messages_in, messages_out)
        SELECT p_creator, x.day, x.conversation_id, x.end_user_id, x.channel,
               count(*) FILTER (WHERE x.inbound), count(*) FILTER (WHERE NOT x.inbound)
        FROM x
        GROUP BY 2, 3, 4, 5
        ORDER BY 2, 3
        ON CONFLICT (creator_id, day, conversation_id) DO UPDATE
            SET messages_in = d.messages_in + EXCLUDED.messages_in, messages_out = d.messages_out + EXCLUDED.messages_out
    ), fc AS (
        -- Only the people without a first contact at or before their first message here (the
        -- batch is the only writer of these rows): a conflicting row would be locked even
        -- when left as it is.
        INSERT INTO analytics_first_contact AS f (end_user_id, creator_id, channel, first_at)
        SELECT x.end_user_id, p_creator, min(x.channel), min(x.created_at)
        FROM x WHERE x.inbound
        GROUP BY 1
        HAVING NOT EXISTS (SELECT 1 FROM analytics_first_contact o WHERE o.end_user_id = x.end_user_id AND o.first_at <= min(x.created_at))
        ORDER BY 1
        ON CONFLICT (end_user_id) DO UPDATE SET first_at = EXCLUDED.first_at WHERE EXCLUDED.first_at < f.first_at
        RETURNING f.end_user_id
    )
    SELECT array_agg(end_user_id) INTO recount2 FROM fc;

    SELECT coalesce(bool_or(x.role = 'assistant'), false), coalesce(bool_or(x.role = 'assistant' AND x.reply_to IS NULL), false)
    INTO has_bot, has_send
    FROM unnest(msgs) x;
    IF has_send THEN
        -- Proactive sends (the coach's messages that answer nothing), share locked (each by its
        -- key, in order) with their status as it is now: a delivery status update (mirrored
        -- into analytics_sends by analytics_send_status) committed before is read here, a later
        -- one waits and then finds the row written here. The sends go first, so a person's
        -- message of the same batch (replied, above) is found by the EXISTS below.
        INSERT INTO analytics_sends (message_id, creator_id, conversation_id, channel, sent_at, status, error_code, replied)
        SELECT n.id, p_creator, n.conversation_id, n.mchannel, n.created_at, l.status, l.error_code,
               EXISTS (SELECT 1 FROM messages u WHERE u.creator_id = p_creator AND u.conversation_id = n.conversation_id AND u.role = 'user'
                         AND u.created_at >= n.created_at AND u.created_at < n.created_at + interval '24 hours')
        FROM (SELECT x.* FROM unnest(msgs) x WHERE x.role = 'assistant' AND x.reply_to IS NULL ORDER BY x.id) n
        CROSS JOIN LATERAL (SELECT m.status, m.error_code FROM messages m WHERE m.id = n.id FOR SHARE) l
        ON CONFLICT DO NOTHING;
    END IF;
    IF has_bot THEN
        -- The bot's replies: turns, gaps, citations; the question read once.
        WITH n AS (
            SELECT x.* FROM unnest(msgs) x WHERE x.role = 'assistant'
        ), r AS (
            SELECT n.id, n.conversation_id, n.mchannel AS channel, n.created_at, n.qstatus AS status, n.sources, n.first_token_ms, n.mode,
                   u.id AS ask_id, u.created_at AS asked_at, u.body AS question
            FROM n JOIN messages u ON u.id = n.reply_to AND u.role = 'user'
        ), turns AS (
            INSERT INTO analytics_turns (reply_id, creator_id, conversation_id, channel, asked_at, final_ms, first_token_ms, mode, status)
            SELECT id, p_creator, conversation_id, channel, asked_at,
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
            FROM (SELECT (t.asked_at AT TIME ZONE tz)::date AS day, t.channel, count(*)::int AS turns,
                         count(*) FILTER (WHERE t.status = 'llm_error')::int AS llm_errors, count(*) FILTER (WHERE t.mode = 'passages')::int AS passages,
                         array_agg(t.final_ms) AS final_ms,
                         coalesce(array_agg(t.first_token_ms) FILTER (WHERE t.first_token_ms IS NOT NULL), '{}') AS first_token_ms
                  FROM turns t
                  GROUP BY 1, 2) g
            ORDER BY 2, 3
            ON CONFLICT (creator_id, day, channel, part) DO UPDATE
                SET turns = td.turns + EXCLUDED.turns, llm_errors = td.llm_errors + EXCLUDED.llm_errors, passages = td.passages + EXCLUDED.passages,
                    final_ms = td.final_ms || EXCLUDED.final_ms, first_token_ms = td.first_token_ms || EXCLUDED.first_token_ms
        ), gaps AS (
            -- Only the coach's answers: keyword auto-replies (stored 'queued' by retrieve) are none.
            INSERT INTO analytics_gaps (message_id, reason, creator_id, conversation_id, channel, asked_at, key, question)
            SELECT ask_id, 'no_passage', p_creator, conversation_id, channel, asked_at, analytics_question_key(question), question
            FROM r
            WHERE status IN ('generated', 'search_unavailable', 'llm_error') AND (sources = '[]'::jsonb OR status = 'search_unavailable')
            ON CONFLICT DO NOTHING
        )
        INSERT INTO analytics_citations (reply_id, document_id, section, creator_id, channel, at)
        SELECT DISTINCT n.id, (s->>'document_id')::uuid, coalesce(s->>'heading', ''), p_creator, n.mchannel, n.created_at
        FROM n, jsonb_array_elements(CASE WHEN jsonb_typeof(n.sources) = 'array' THEN n.sources ELSE '[]'::jsonb END) s
        WHERE s ? 'document_id'
        ON CONFLICT DO NOTHING;
    END IF;

    -- Retention of the people whose cohort or active weeks can have changed: a new first
    -- contact (just written) or a new active day (analytics_days, just updated); recounted, and
    -- written only when different.
    recount := ARRAY(SELECT DISTINCT u FROM unnest(coalesce(recount, '{}') || coalesce(recount2, '{}')) u ORDER BY 1);
    IF cardinality(recount) > 0 THEN
        INSERT INTO analytics_retention AS r (end_user_id, creator_id, channel, first_at, cohort, weeks)
        SELECT f.end_user_id, p_creator, f.channel, f.first_at, w.cohort,
               coalesce((SELECT bit_or(1 << ((d.day - w.cohort) / 7)) FROM analytics_days d
                         WHERE d.creator_id = p_creator AND d.messages_in > 0 AND d.day >= w.cohort + 7 AND d.day < w.cohort + 63
                           AND d.conversation_id = ANY(ARRAY(SELECT cc.id FROM conversations cc
                                                             WHERE cc.creator_id = p_creator AND cc.end_user_id = f.end_user_id))), 0)
        FROM analytics_first_contact f,
        LATERAL (SELECT date_trunc('week', f.first_at AT TIME ZONE tz)::date AS cohort) w
        WHERE f.end_user_id = ANY(recount)
        ORDER BY 1
        ON CONFLICT (end_user_id) DO UPDATE
            SET channel = EXCLUDED.channel, first_at = EXCLUDED.first_at, cohort = EXCLUDED.cohort, weeks = EXCLUDED.weeks
            WHERE (r.channel, r.first_at, r.cohort, r.weeks) IS DISTINCT FROM (EXCLUDED.channel, EXCLUDED.first_at, EXCLUDED.cohort, EXCLUDED.weeks);
    END IF;
    RETURN cardinality(ids);
END
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION analytics_apply(p_creator uuid, p_limit integer) RETURNS integer
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
    ), bo AS (
        -- each conversation-day's row before this batch (one probe of analytics_days' key)
        SELECT b.*, od.messages_in AS oin, od.messages_out AS oout
        FROM b LEFT JOIN analytics_days od ON od.creator_id = p_creator AND od.day = b.day AND od.conversation_id = b.conversation_id
    ), dd AS (
        SELECT 'd'::text AS grain, channel, day AS period, oin, oout, din, dout FROM bo
    ), bw AS (
        SELECT channel, conversation_id, date_trunc('week', day)::date AS week, sum(din)::int AS din, sum(dout)::int AS dout
        FROM b GROUP BY 1, 2, 3
    ), ww AS (
        SELECT 'w'::text AS grain, bw.channel, bw.week AS period, o.oin, o.oout, bw.din, bw.dout
        FROM bw LEFT JOIN LATERAL (
            SELECT sum(d.messages_in)::int AS oin, sum(d.messages_out)::int AS oout FROM analytics_days d
            WHERE d.creator_id = p_creator AND d.conversation_id = bw.conversation_id
              AND d.day = ANY(ARRAY[bw.week, bw.week + 1, bw.week + 2, bw.week + 3, bw.week + 4, bw.week + 5, bw.week + 6])) o ON true
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
        SELECT DISTINCT conversation_id, channel FROM bo WHERE din > 0 AND coalesce(oin, 0) = 0
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
DROP TYPE analytics_batch_message;
CREATE INDEX analytics_days_cover ON analytics_days (creator_id, day) INCLUDE (conversation_id, end_user_id, channel, messages_in, messages_out);
ALTER TABLE analytics_days DROP CONSTRAINT analytics_days_pkey;
ALTER TABLE analytics_days ADD PRIMARY KEY (creator_id, day, conversation_id);
CREATE INDEX analytics_queue_creator ON analytics_queue (creator_id);
ALTER TABLE analytics_queue DROP CONSTRAINT analytics_queue_pkey;
ALTER TABLE analytics_queue ADD PRIMARY KEY (message_id);
ALTER TABLE analytics_queue ADD FOREIGN KEY (creator_id) REFERENCES creators (id) ON DELETE CASCADE;
-- +goose StatementBegin
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['analytics_activity', 'analytics_days', 'analytics_first_contact', 'analytics_turns', 'analytics_gaps',
                             'analytics_citations', 'analytics_team_events', 'analytics_sends', 'analytics_conversation_span',
                             'analytics_retention'] LOOP
        EXECUTE format('ALTER TABLE %I ADD FOREIGN KEY (creator_id) REFERENCES creators (id) ON DELETE CASCADE', t);
    END LOOP;
END
$$;
-- +goose StatementEnd
