-- Analytics (issue 12): read from the rollup tables of migration 0017, never from messages by
-- range. @start_at and @end_at are the instants of the range's first local midnight and of the local
-- midnight after its last day; @tz the IANA zone; @mode 'day', 'week' or 'all' (one period, the
-- totals); @from_day the range's first local day (a week period is clipped to it); @channel ''
-- for every channel. A period is named by its first local day.

-- name: AnalyticsActivity :many
WITH a AS (
    SELECT (CASE @mode::text WHEN 'day' THEN (bucket AT TIME ZONE @tz::text)::date
                WHEN 'week' THEN greatest(date_trunc('week', bucket AT TIME ZONE @tz::text)::date, @from_day::date)
                ELSE @from_day::date END)::date AS period,
           aa.conversation_id, aa.end_user_id, aa.messages_in, aa.messages_out
    FROM analytics_activity aa
    WHERE aa.creator_id = @creator_id AND aa.bucket >= @start_at AND aa.bucket < @end_at
      AND (@channel::text = '' OR aa.channel = @channel::text)
), conv AS (
    SELECT period, conversation_id, sum(messages_in + messages_out) AS n FROM a GROUP BY 1, 2
), per AS (
    SELECT period, count(*)::bigint AS conversations, percentile_cont(0.5) WITHIN GROUP (ORDER BY n)::float8 AS median
    FROM conv GROUP BY 1
), msgs AS (
    SELECT period, sum(messages_in)::bigint AS messages_in, sum(messages_out)::bigint AS messages_out FROM a GROUP BY 1
), users AS (
    SELECT u.period, count(*)::bigint AS active,
           count(*) FILTER (WHERE (f.first_at AT TIME ZONE @tz::text)::date < u.period)::bigint AS returning
    FROM (SELECT DISTINCT period, end_user_id FROM a WHERE messages_in > 0) u
    LEFT JOIN analytics_first_contact f ON f.end_user_id = u.end_user_id
    GROUP BY 1
), fresh AS (
    SELECT (CASE @mode::text WHEN 'day' THEN (first_at AT TIME ZONE @tz::text)::date
                WHEN 'week' THEN greatest(date_trunc('week', first_at AT TIME ZONE @tz::text)::date, @from_day::date)
                ELSE @from_day::date END)::date AS period, count(*)::bigint AS n
    FROM analytics_first_contact fc
    WHERE fc.creator_id = @creator_id AND fc.first_at >= @start_at AND fc.first_at < @end_at
      AND (@channel::text = '' OR fc.channel = @channel::text)
    GROUP BY 1
)
SELECT per.period::date AS period, per.conversations, msgs.messages_in, msgs.messages_out,
       coalesce(users.active, 0)::bigint AS active_users, coalesce(users.returning, 0)::bigint AS returning_users,
       coalesce(fresh.n, 0)::bigint AS new_users, per.median
FROM per JOIN msgs USING (period) LEFT JOIN users USING (period) LEFT JOIN fresh USING (period)
ORDER BY 1;

-- name: AnalyticsActiveWindows :many
-- Distinct end users who wrote in the 7 and the 30 local days ending on each day: every active
-- day covers itself and the next 6 (29) days; runs of covered days are counted with +1 where
-- one starts and -1 after it ends, summed in date order. @start_at is 29 days before the range.
WITH days AS (
    SELECT DISTINCT end_user_id, (bucket AT TIME ZONE @tz::text)::date AS day
    FROM analytics_activity
    WHERE creator_id = @creator_id AND bucket >= @start_at AND bucket < @end_at AND messages_in > 0
      AND (@channel::text = '' OR channel = @channel::text)
), s AS (
    SELECT day, lag(day) OVER w AS prev, lead(day) OVER w AS next
    FROM days WINDOW w AS (PARTITION BY end_user_id ORDER BY day)
), ev AS (
    SELECT day AS d, 1 AS w7, 0 AS w30 FROM s WHERE prev IS NULL OR day - prev >= 7
    UNION ALL SELECT day + 7, -1, 0 FROM s WHERE next IS NULL OR next - day >= 7
    UNION ALL SELECT day, 0, 1 FROM s WHERE prev IS NULL OR day - prev >= 30
    UNION ALL SELECT day + 30, 0, -1 FROM s WHERE next IS NULL OR next - day >= 30
), agg AS (
    SELECT d, sum(w7) AS w7, sum(w30) AS w30 FROM ev GROUP BY d
)
SELECT d::date AS day, (sum(w7) OVER (ORDER BY d))::bigint AS active_7d, (sum(w30) OVER (ORDER BY d))::bigint AS active_30d
FROM agg ORDER BY d;

-- name: AnalyticsActivityHome :many
-- AnalyticsActivity in the creator's own zone (@tz), from the rollups of migration 0027: a
-- period's conversations, active people and median from the distribution of conversations by
-- messages per day or per week (analytics_period_hist); in week mode the clipped first and the
-- cut last week from the per-day rollup; the messages from the per-day totals. The totals (the
-- row whose period is NULL): with @by_span (long ranges), a conversation whose whole span lies
-- in the range counts with its totals (analytics_conversation_span) and only the others read
-- their days; otherwise every conversation-day of the range. An end user has one conversation
-- (conversations are unique per end user and channel, and an end user belongs to one channel),
-- so the active users are the conversations with a message in; and everyone whose first
-- message falls in a period is active in it, so the returning users are the active ones less
-- the new ones. @from_day and @to_day: the range's first and last local days; @weeks_from and
-- @weeks_last: the first and the last Monday of the range's whole weeks, @tail_from the day
-- after the last whole week.
WITH hp AS (
    SELECT h.period, h.n, h.convs, CASE WHEN h.active THEN h.convs ELSE 0 END AS active
    FROM analytics_period_hist h
    WHERE h.creator_id = @creator_id AND h.grain = (CASE WHEN @mode::text = 'day' THEN 'd' ELSE 'w' END)::text
      AND h.period >= (CASE WHEN @mode::text = 'day' THEN @from_day::date ELSE @weeks_from::date END)
      AND h.period <= (CASE WHEN @mode::text = 'day' THEN @to_day::date ELSE @weeks_last::date END)
      AND h.convs <> 0 AND (@channel::text = '' OR h.channel = @channel::text)
), edge AS (
    SELECT greatest(date_trunc('week', d.day)::date, @from_day::date) AS period, d.conversation_id,
           sum(d.messages_in + d.messages_out)::int AS n, sum(d.messages_in) > 0 AS active
    FROM (SELECT day, conversation_id, channel, messages_in, messages_out FROM analytics_days
          WHERE @mode::text <> 'day' AND creator_id = @creator_id AND day >= @from_day::date AND day < @weeks_from::date
          UNION ALL
          SELECT day, conversation_id, channel, messages_in, messages_out FROM analytics_days
          WHERE @mode::text <> 'day' AND creator_id = @creator_id AND day >= @tail_from::date AND day <= @to_day::date) d
    WHERE @channel::text = '' OR d.channel = @channel::text
    GROUP BY 1, 2
), pn AS (
    SELECT period, n, sum(convs)::bigint AS convs, sum(active)::bigint AS active FROM (
        SELECT period, n, convs, active FROM hp
        UNION ALL
        SELECT period, n, 1, CASE WHEN active THEN 1 ELSE 0 END FROM edge) u
    GROUP BY 1, 2
), per AS (
    SELECT period, sum(convs)::bigint AS conversations, sum(active)::bigint AS active,
           jsonb_agg(jsonb_build_array(n, convs) ORDER BY n) AS hist
    FROM pn GROUP BY 1
), msgs AS (
    SELECT (CASE WHEN @mode::text = 'day' THEN t.day ELSE greatest(date_trunc('week', t.day)::date, @from_day::date) END)::date AS period,
           sum(t.messages_in)::bigint AS n_in, sum(t.messages_out)::bigint AS n_out
    FROM analytics_day_totals t
    WHERE t.creator_id = @creator_id AND t.day >= @from_day::date AND t.day <= @to_day::date
      AND (@channel::text = '' OR t.channel = @channel::text)
    GROUP BY 1
), conv AS (
    SELECT s.messages_in AS n_in, s.messages_out AS n_out FROM analytics_conversation_span s
    WHERE @by_span::boolean AND s.creator_id = @creator_id AND s.last_day >= @from_day::date AND s.last_day <= @to_day::date
      AND s.first_day >= @from_day::date AND (@channel::text = '' OR s.channel = @channel::text)
    UNION ALL
    SELECT p.n_in, p.n_out FROM analytics_conversation_span s CROSS JOIN LATERAL (
        SELECT sum(d.messages_in) AS n_in, sum(d.messages_out) AS n_out FROM analytics_days d
        WHERE d.creator_id = @creator_id AND d.conversation_id = s.conversation_id AND d.day >= @from_day::date AND d.day <= @to_day::date) p
    WHERE @by_span::boolean AND s.creator_id = @creator_id AND s.last_day >= @from_day::date AND s.first_day <= @to_day::date
      AND (s.first_day < @from_day::date OR s.last_day > @to_day::date) AND (@channel::text = '' OR s.channel = @channel::text)
      AND p.n_in IS NOT NULL
    UNION ALL
    SELECT sum(d.messages_in), sum(d.messages_out) FROM analytics_days d
    WHERE NOT @by_span::boolean AND d.creator_id = @creator_id AND d.day >= @from_day::date AND d.day <= @to_day::date
      AND (@channel::text = '' OR d.channel = @channel::text)
    GROUP BY d.conversation_id
), tn AS (
    SELECT n_in + n_out AS n, count(*)::bigint AS convs, count(*) FILTER (WHERE n_in > 0)::bigint AS active,
           sum(n_in)::bigint AS n_in, sum(n_out)::bigint AS n_out
    FROM conv GROUP BY 1
), tot AS (
    SELECT NULL::date AS period, sum(convs)::bigint AS conversations, sum(active)::bigint AS active, sum(n_in)::bigint AS n_in,
           sum(n_out)::bigint AS n_out, jsonb_agg(jsonb_build_array(n, convs) ORDER BY n) AS hist
    FROM tn HAVING count(*) > 0
), fresh AS (
    SELECT f.period, count(*)::bigint AS n
    FROM (SELECT (CASE @mode::text WHEN 'day' THEN (fc.first_at AT TIME ZONE @tz::text)::date
                      ELSE greatest(date_trunc('week', fc.first_at AT TIME ZONE @tz::text)::date, @from_day::date) END)::date AS period
          FROM analytics_first_contact fc
          WHERE fc.creator_id = @creator_id AND fc.first_at >= @start_at AND fc.first_at < @end_at
            AND (@channel::text = '' OR fc.channel = @channel::text)) f
    GROUP BY GROUPING SETS ((f.period), ())
), out AS (
    SELECT per.period, per.conversations, coalesce(msgs.n_in, 0)::bigint AS n_in, coalesce(msgs.n_out, 0)::bigint AS n_out, per.active, per.hist
    FROM per LEFT JOIN msgs ON msgs.period = per.period
    UNION ALL
    SELECT period, conversations, n_in, n_out, active, hist FROM tot
)
SELECT o.period::date AS period, o.conversations::bigint AS conversations, o.n_in::bigint AS messages_in,
       o.n_out::bigint AS messages_out, o.active::bigint AS active_users,
       (o.active - coalesce(fresh.n, 0))::bigint AS returning_users, coalesce(fresh.n, 0)::bigint AS new_users, o.hist::jsonb AS hist
FROM out o LEFT JOIN fresh ON fresh.period IS NOT DISTINCT FROM o.period
ORDER BY 1;

-- name: AnalyticsActiveWindowsHome :many
-- AnalyticsActiveWindows in the creator's own zone, from the counted starts and ends of
-- conversations' covered runs per day (analytics_window_days, migration 0027): summed from
-- the creator's first day to @to_day (a few rows a day), spread and accumulated in day order.
-- One conversation per end user (see AnalyticsActivityHome).
WITH per_day AS (
    SELECT day, sum(s7)::bigint AS s7, sum(e7)::bigint AS e7, sum(s30)::bigint AS s30, sum(e30)::bigint AS e30
    FROM analytics_window_days
    WHERE creator_id = @creator_id AND day <= @to_day::date AND (@channel::text = '' OR channel = @channel::text)
    GROUP BY day
), ev AS (
    SELECT day AS d, s7 AS w7, s30 AS w30 FROM per_day
    UNION ALL SELECT day + 7, -e7, 0 FROM per_day
    UNION ALL SELECT day + 30, 0, -e30 FROM per_day
), agg AS (
    SELECT d, sum(w7) AS w7, sum(w30) AS w30 FROM ev GROUP BY d
)
SELECT d::date AS day, (sum(w7) OVER (ORDER BY d))::bigint AS active_7d, (sum(w30) OVER (ORDER BY d))::bigint AS active_30d
FROM agg ORDER BY d;

-- name: AnalyticsCohortWeeksHome :many
-- AnalyticsCohortWeeks in the creator's own zone, from each person's cohort and active weeks
-- (analytics_retention, migration 0027).
SELECT r.cohort::date AS cohort, k.wk::int AS week, count(*)::bigint AS users
FROM analytics_retention r CROSS JOIN generate_series(1, 8) k(wk)
WHERE r.creator_id = @creator_id AND r.first_at >= @start_at AND r.first_at < @end_at
  AND (@channel::text = '' OR r.channel = @channel::text) AND r.weeks & (1 << k.wk) <> 0
GROUP BY 1, 2 ORDER BY 1, 2;

-- name: AnalyticsResponsiveness :many
-- A percentile is -1 when there is nothing to take it of. Dead-lettered turns are counted from
-- analytics_dead_letters by the time the person's message (or the turn request) was published.
-- The periods and, as the row whose period is NULL, the whole range, in one pass (an index-only
-- scan of analytics_turns_cover).
WITH t0 AS (
    -- Both percentiles of a figure from one sort.
    SELECT period, count(*)::bigint AS turns,
           percentile_disc(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY first_token_ms) AS ft,
           percentile_disc(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY final_ms) AS fin,
           count(*) FILTER (WHERE status = 'llm_error')::bigint AS llm_errors,
           count(*) FILTER (WHERE mode = 'passages')::bigint AS passages_answers
    FROM (SELECT (CASE @mode::text WHEN 'day' THEN (asked_at AT TIME ZONE @tz::text)::date
                     ELSE greatest(date_trunc('week', asked_at AT TIME ZONE @tz::text)::date, @from_day::date) END)::date AS period,
                 first_token_ms, final_ms, status, mode
          FROM analytics_turns tt
          WHERE tt.creator_id = @creator_id AND tt.asked_at >= @start_at AND tt.asked_at < @end_at
            AND (@channel::text = '' OR tt.channel = @channel::text)) x
    GROUP BY GROUPING SETS ((period), ())
), t AS (
    SELECT period, turns, coalesce(ft[1], -1)::bigint AS first_token_p50, coalesce(ft[2], -1)::bigint AS first_token_p95,
           coalesce(fin[1], -1)::bigint AS final_p50, coalesce(fin[2], -1)::bigint AS final_p95, llm_errors, passages_answers
    FROM t0
), dl AS (
    SELECT period, count(*)::bigint AS n
    FROM (SELECT (CASE @mode::text WHEN 'day' THEN (at AT TIME ZONE @tz::text)::date
                     ELSE greatest(date_trunc('week', at AT TIME ZONE @tz::text)::date, @from_day::date) END)::date AS period
          FROM analytics_dead_letters dd
          WHERE dd.creator_id = @creator_id AND dd.at >= @start_at AND dd.at < @end_at
            AND (@channel::text = '' OR dd.channel = @channel::text)) x
    GROUP BY GROUPING SETS ((period), ())
)
SELECT coalesce(t.period, dl.period)::date AS period, coalesce(t.turns, 0)::bigint AS turns,
       coalesce(t.first_token_p50, -1)::bigint AS first_token_p50, coalesce(t.first_token_p95, -1)::bigint AS first_token_p95,
       coalesce(t.final_p50, -1)::bigint AS final_p50, coalesce(t.final_p95, -1)::bigint AS final_p95,
       coalesce(t.llm_errors, 0)::bigint AS llm_errors, coalesce(t.passages_answers, 0)::bigint AS passages_answers,
       coalesce(dl.n, 0)::bigint AS dead_lettered
FROM t FULL JOIN dl ON coalesce(t.period, '-infinity'::date) = coalesce(dl.period, '-infinity'::date)
ORDER BY 1;

-- name: AnalyticsResponsivenessHome :many
-- AnalyticsResponsiveness in the creator's own zone, from the per-day turn figures
-- (analytics_turn_days, migration 0027), without the percentiles.
WITH d AS (
    SELECT (CASE @mode::text WHEN 'day' THEN td.day ELSE greatest(date_trunc('week', td.day)::date, @from_day::date) END)::date AS period,
           td.turns, td.llm_errors, td.passages
    FROM analytics_turn_days td
    WHERE td.creator_id = @creator_id AND td.day >= @from_day::date AND td.day <= @to_day::date
      AND (@channel::text = '' OR td.channel = @channel::text)
), cnt AS (
    SELECT period, sum(turns)::bigint AS turns, sum(llm_errors)::bigint AS llm_errors, sum(passages)::bigint AS passages_answers
    FROM d GROUP BY GROUPING SETS ((period), ())
), t AS (
    -- The percentiles are taken by the caller (AnalyticsTurnDayTimes).
    SELECT period, turns, -1::bigint AS first_token_p50, -1::bigint AS first_token_p95, -1::bigint AS final_p50, -1::bigint AS final_p95,
           llm_errors, passages_answers
    FROM cnt WHERE turns > 0
), dl AS (
    SELECT period, count(*)::bigint AS n
    FROM (SELECT (CASE @mode::text WHEN 'day' THEN (at AT TIME ZONE @tz::text)::date
                     ELSE greatest(date_trunc('week', at AT TIME ZONE @tz::text)::date, @from_day::date) END)::date AS period
          FROM analytics_dead_letters dd
          WHERE dd.creator_id = @creator_id AND dd.at >= @start_at AND dd.at < @end_at
            AND (@channel::text = '' OR dd.channel = @channel::text)) x
    GROUP BY GROUPING SETS ((period), ())
)
SELECT coalesce(t.period, dl.period)::date AS period, coalesce(t.turns, 0)::bigint AS turns,
       coalesce(t.first_token_p50, -1)::bigint AS first_token_p50, coalesce(t.first_token_p95, -1)::bigint AS first_token_p95,
       coalesce(t.final_p50, -1)::bigint AS final_p50, coalesce(t.final_p95, -1)::bigint AS final_p95,
       coalesce(t.llm_errors, 0)::bigint AS llm_errors, coalesce(t.passages_answers, 0)::bigint AS passages_answers,
       coalesce(dl.n, 0)::bigint AS dead_lettered
FROM t FULL JOIN dl ON coalesce(t.period, '-infinity'::date) = coalesce(dl.period, '-infinity'::date)
ORDER BY 1;

-- name: AnalyticsTurnDayTimes :many
-- Every turn's message → reply and message → first token times per local day of the
-- creator's own zone (the caller takes the exact percentiles of each period).
SELECT td.day, td.final_ms, td.first_token_ms
FROM analytics_turn_days td
WHERE td.creator_id = @creator_id AND td.day >= @from_day::date AND td.day <= @to_day::date
  AND (@channel::text = '' OR td.channel = @channel::text);

-- name: RecordTurnTiming :exec
-- generate, in the reply's transaction: message → first token and the mode of the answer, kept
-- with the reply's queue row (migration 0027) until the rollup worker writes its turn row.
UPDATE analytics_queue SET first_token_ms = @first_token_ms, mode = @mode WHERE message_id = @reply_id;

-- name: AnalyticsApply :one
-- Moves up to @max_rows of the tenant's queued messages into the rollups (migration 0027);
-- returns how many it took.
SELECT analytics_apply(@creator_id::uuid, @max_rows::int)::int AS applied;

-- name: AnalyticsQueuedCreators :many
SELECT creator_id::uuid AS creator_id FROM analytics_queued_creators(@max_rows::int);

-- name: AnalyticsGaps :many
-- Gap groups by normalised question; a question that is a gap for two reasons counts once: as
-- its no_passage row, its takeover row only without one (one hashed pass over the covering
-- index, no sort; the question text comes with the examples).
SELECT g.key, (count(*) FILTER (WHERE g.reason = 'no_passage')
               + count(*) FILTER (WHERE g.reason = 'takeover' AND NOT EXISTS (
                   SELECT 1 FROM analytics_gaps o WHERE o.message_id = g.message_id AND o.reason = 'no_passage')))::bigint AS n,
       max(g.asked_at)::timestamptz AS last_at,
       count(*) FILTER (WHERE g.reason = 'no_passage')::bigint AS no_passage, count(*) FILTER (WHERE g.reason = 'takeover')::bigint AS takeover
FROM analytics_gaps g
WHERE g.creator_id = @creator_id AND g.asked_at >= @start_at AND g.asked_at < @end_at
  AND (@channel::text = '' OR g.channel = @channel::text)
GROUP BY g.key
ORDER BY 2 DESC, 3 DESC
LIMIT 200;

-- name: AnalyticsGapsHome :many
-- AnalyticsGaps in the creator's own zone: the range's whole local months [@months_from,
-- @months_to) from the month rollup (analytics_gap_months, migration 0028), the rest of the
-- range ([@start_at, @mid_start) and [@mid_end, @end_at)) from the raw rows.
WITH parts AS (
    SELECT m.key, m.n, m.no_passage, m.takeover, m.last_at
    FROM analytics_gap_months m
    WHERE m.creator_id = @creator_id AND m.month >= @months_from::date AND m.month < @months_to::date
      AND (@channel::text = '' OR m.channel = @channel::text)
    UNION ALL
    SELECT g.key, (g.reason = 'no_passage' OR NOT EXISTS (
               SELECT 1 FROM analytics_gaps o WHERE o.message_id = g.message_id AND o.reason = 'no_passage'))::int,
           (g.reason = 'no_passage')::int, (g.reason = 'takeover')::int, g.asked_at
    FROM analytics_gaps g
    WHERE g.creator_id = @creator_id
      AND ((g.asked_at >= @start_at AND g.asked_at < @mid_start::timestamptz) OR (g.asked_at >= @mid_end::timestamptz AND g.asked_at < @end_at))
      AND (@channel::text = '' OR g.channel = @channel::text)
)
SELECT p.key::text AS key, sum(p.n)::bigint AS n, max(p.last_at)::timestamptz AS last_at,
       sum(p.no_passage)::bigint AS no_passage, sum(p.takeover)::bigint AS takeover
FROM parts p
GROUP BY p.key
ORDER BY 2 DESC, 3 DESC
LIMIT 200;

-- name: AnalyticsGapExamples :many
-- The newest five questions of each group (analytics_gaps_key), a question once.
SELECT k.key::text AS key, e.conversation_id, e.message_id, e.asked_at, e.question
FROM unnest(@keys::text[]) k(key) CROSS JOIN LATERAL (
    SELECT DISTINCT ON (g.asked_at, g.message_id) g.conversation_id, g.message_id, g.asked_at, g.question
    FROM analytics_gaps g
    WHERE g.creator_id = @creator_id AND g.key = k.key AND g.asked_at >= @start_at AND g.asked_at < @end_at
      AND (@channel::text = '' OR g.channel = @channel::text)
    ORDER BY g.asked_at DESC, g.message_id
    LIMIT 5) e
ORDER BY 1, 4 DESC, 3;

-- name: AnalyticsMostCited :many
SELECT c.document_id, coalesce(d.title, '')::text AS title, c.section, count(*)::bigint AS citations
FROM analytics_citations c LEFT JOIN documents d ON d.id = c.document_id
WHERE c.creator_id = @creator_id AND c.at >= @start_at AND c.at < @end_at
  AND (@channel::text = '' OR c.channel = @channel::text)
GROUP BY 1, 2, 3 ORDER BY 4 DESC, 2 LIMIT 50;

-- name: AnalyticsMostCitedHome :many
-- AnalyticsMostCited in the creator's own zone: whole months from analytics_citation_months
-- (migration 0028), the rest of the range from the raw rows (see AnalyticsGapsHome).
WITH parts AS (
    SELECT m.document_id, m.section, m.n::bigint AS n
    FROM analytics_citation_months m
    WHERE m.creator_id = @creator_id AND m.month >= @months_from::date AND m.month < @months_to::date
      AND (@channel::text = '' OR m.channel = @channel::text)
    UNION ALL
    SELECT c.document_id, c.section, 1
    FROM analytics_citations c
    WHERE c.creator_id = @creator_id
      AND ((c.at >= @start_at AND c.at < @mid_start::timestamptz) OR (c.at >= @mid_end::timestamptz AND c.at < @end_at))
      AND (@channel::text = '' OR c.channel = @channel::text)
), agg AS (
    SELECT document_id, section, sum(n)::bigint AS citations FROM parts GROUP BY 1, 2 HAVING sum(n) > 0
)
SELECT a.document_id, coalesce(d.title, '')::text AS title, a.section, a.citations
FROM agg a LEFT JOIN documents d ON d.id = a.document_id
ORDER BY 4 DESC, 2 LIMIT 50;

-- name: AnalyticsNeverCited :many
SELECT d.id, d.title FROM documents d
WHERE d.creator_id = @creator_id AND d.status = 'indexed'
  AND NOT EXISTS (SELECT 1 FROM analytics_citations c
                  WHERE c.creator_id = @creator_id AND c.document_id = d.id AND c.at >= @start_at AND c.at < @end_at
                    AND (@channel::text = '' OR c.channel = @channel::text))
ORDER BY d.title LIMIT 200;

-- name: AnalyticsCohortSizes :many
SELECT date_trunc('week', first_at AT TIME ZONE @tz::text)::date AS cohort, count(*)::bigint AS users
FROM analytics_first_contact
WHERE creator_id = @creator_id AND first_at >= @start_at AND first_at < @end_at
  AND (@channel::text = '' OR channel = @channel::text)
GROUP BY 1 ORDER BY 1;

-- name: AnalyticsCohortWeeks :many
-- @until is 9 weeks after the range's end: activity up to the 8th week of the last cohort.
WITH f AS (
    SELECT fc.end_user_id, date_trunc('week', fc.first_at AT TIME ZONE @tz::text)::date AS cohort
    FROM analytics_first_contact fc
    WHERE fc.creator_id = @creator_id AND fc.first_at >= @start_at AND fc.first_at < @end_at
      AND (@channel::text = '' OR fc.channel = @channel::text)
), act AS (
    SELECT DISTINCT a.end_user_id, f.cohort, ((a.bucket AT TIME ZONE @tz::text)::date - f.cohort) / 7 AS wk
    FROM analytics_activity a JOIN f ON f.end_user_id = a.end_user_id
    WHERE a.creator_id = @creator_id AND a.bucket >= @start_at AND a.bucket < @until AND a.messages_in > 0
)
SELECT cohort::date AS cohort, wk::int AS week, count(*)::bigint AS users
FROM act WHERE wk BETWEEN 1 AND 8 GROUP BY 1, 2 ORDER BY 1, 2;

-- name: AnalyticsCampaignOccurrences :many
-- Per occurrence scheduled in the range: its decisions and what became of the sent messages,
-- from the per-occurrence rollup (analytics_campaign_counts, migration 0028: a few rows per
-- occurrence, by the send's channel; decisions without a send count for every channel). An
-- occurrence is listed even when the channel filter leaves none of its decisions.
SELECT o.id AS occurrence_id, o.campaign_id, c.name AS campaign_name, o.scheduled_at, o.targeted::bigint AS audience,
       coalesce(sum(k.sent), 0)::bigint AS sent, coalesce(sum(k.held), 0)::bigint AS held, coalesce(sum(k.skipped), 0)::bigint AS skipped,
       coalesce(sum(k.delivered), 0)::bigint AS delivered, coalesce(sum(k.read), 0)::bigint AS read,
       coalesce(sum(k.failed), 0)::bigint AS failed, coalesce(sum(k.replied), 0)::bigint AS replied_24h,
       coalesce(sum(k.opted_out), 0)::bigint AS opted_out_after
FROM campaign_occurrences o
JOIN campaigns c ON c.id = o.campaign_id
LEFT JOIN analytics_campaign_counts k ON k.occurrence_id = o.id AND (@channel::text = '' OR k.channel = '' OR k.channel = @channel::text)
WHERE o.creator_id = @creator_id AND o.scheduled_at >= @start_at AND o.scheduled_at < @end_at
GROUP BY o.id, o.campaign_id, c.name, o.scheduled_at, o.targeted
ORDER BY o.scheduled_at DESC, o.id;

-- name: AnalyticsCampaignReasons :many
SELECT k.occurrence_id, 'skipped'::text AS status, k.skip_reason AS reason, sum(k.skipped)::bigint AS n
FROM analytics_campaign_counts k JOIN campaign_occurrences o ON o.id = k.occurrence_id
WHERE o.creator_id = @creator_id AND o.scheduled_at >= @start_at AND o.scheduled_at < @end_at AND k.skipped <> 0
GROUP BY 1, 2, 3 HAVING sum(k.skipped) <> 0;

-- name: AnalyticsCampaignFailures :many
SELECT k.occurrence_id, k.fail_code AS code, sum(k.failed)::bigint AS n
FROM analytics_campaign_counts k JOIN campaign_occurrences o ON o.id = k.occurrence_id
WHERE o.creator_id = @creator_id AND o.scheduled_at >= @start_at AND o.scheduled_at < @end_at AND k.failed <> 0
  AND (@channel::text = '' OR k.channel = @channel::text)
GROUP BY 1, 2 HAVING sum(k.failed) <> 0;

-- name: AnalyticsCampaignRebuild :exec
-- Recounts the creator's campaign rollup from the raw rows (migration 0028; tests and bulk loads).
SELECT analytics_campaign_rebuild(@creator_id::uuid);

-- name: AnalyticsProgramSteps :many
SELECT p.id AS program_id, p.name AS program_name, n.step,
       count(*)::bigint AS reached,
       count(*) FILTER (WHERE n.status = 'sent')::bigint AS sent,
       count(m.message_id) FILTER (WHERE m.replied)::bigint AS replied,
       count(*) FILTER (WHERE pe.status IN ('cancelled', 'paused') AND pe.last_step = n.step)::bigint AS dropped,
       count(*) FILTER (WHERE pe.status = 'completed' AND pe.last_step = n.step)::bigint AS completed
FROM nudge_deliveries n
JOIN program_enrollments pe ON pe.id = n.enrollment_id
JOIN programs p ON p.id = pe.program_id
LEFT JOIN analytics_sends m ON m.message_id = n.message_id AND n.status = 'sent'
WHERE n.creator_id = @creator_id AND n.enrollment_id IS NOT NULL AND n.decided_at >= @start_at AND n.decided_at < @end_at
  AND (@channel::text = '' OR m.channel IS NULL OR m.channel = @channel::text)
GROUP BY 1, 2, 3 ORDER BY 2, 1, 3;

-- name: AnalyticsProgramBranches :many
-- The branch entries of enrollments' histories ({step, event: branched_on_reply:N, at}); the
-- caller keeps those in the range.
SELECT pe.program_id, jsonb_path_query(pe.history, '$[*] ? (@.event starts with "branched_on_reply:")')::jsonb AS entry
FROM program_enrollments pe
WHERE pe.creator_id = @creator_id AND pe.history @? '$[*] ? (@.event starts with "branched_on_reply:")';

-- name: AnalyticsChannelSeries :many
WITH ev AS (
    SELECT (CASE @mode::text WHEN 'day' THEN (at AT TIME ZONE @tz::text)::date
                WHEN 'week' THEN greatest(date_trunc('week', at AT TIME ZONE @tz::text)::date, @from_day::date)
                ELSE @from_day::date END)::date AS period,
           count(*) FILTER (WHERE kind = 'opt_out')::bigint AS opt_outs,
           count(*) FILTER (WHERE kind = 'opt_in')::bigint AS opt_ins,
           count(*) FILTER (WHERE kind = 'window_closed')::bigint AS window_closed,
           count(*) FILTER (WHERE kind = 'failed')::bigint AS provider_errors
    FROM analytics_channel_events ce
    WHERE ce.creator_id = @creator_id AND ce.at >= @start_at AND ce.at < @end_at AND (@channel::text = '' OR ce.channel = @channel::text)
    GROUP BY 1
), sends AS (
    SELECT (CASE @mode::text WHEN 'day' THEN (bucket AT TIME ZONE @tz::text)::date
                WHEN 'week' THEN greatest(date_trunc('week', bucket AT TIME ZONE @tz::text)::date, @from_day::date)
                ELSE @from_day::date END)::date AS period,
           sum(messages_out)::bigint AS sends,
           (sum(messages_out) FILTER (WHERE channel = 'whatsapp'))::bigint AS whatsapp_sends
    FROM analytics_activity aa
    WHERE NOT @home::boolean AND aa.creator_id = @creator_id AND aa.bucket >= @start_at AND aa.bucket < @end_at
      AND (@channel::text = '' OR aa.channel = @channel::text) AND aa.messages_out > 0
    GROUP BY 1
    UNION ALL
    -- In the creator's own zone: the per-day totals (migration 0027).
    SELECT (CASE @mode::text WHEN 'day' THEN t.day ELSE greatest(date_trunc('week', t.day)::date, @from_day::date) END)::date,
           sum(t.messages_out)::bigint, (sum(t.messages_out) FILTER (WHERE t.channel = 'whatsapp'))::bigint
    FROM analytics_day_totals t
    WHERE @home::boolean AND t.creator_id = @creator_id AND t.day >= @from_day::date AND t.day <= @to_day::date
      AND (@channel::text = '' OR t.channel = @channel::text)
    GROUP BY 1
)
SELECT period::date AS period, coalesce(ev.opt_outs, 0)::bigint AS opt_outs, coalesce(ev.opt_ins, 0)::bigint AS opt_ins,
       coalesce(sends.sends, 0)::bigint AS sends, coalesce(sends.whatsapp_sends, 0)::bigint AS whatsapp_sends,
       coalesce(ev.window_closed, 0)::bigint AS window_closed, coalesce(ev.provider_errors, 0)::bigint AS provider_errors
FROM ev FULL JOIN sends USING (period) ORDER BY 1;

-- name: AnalyticsChannelErrors :many
SELECT channel, CASE WHEN kind = 'window_closed' THEN 'window_closed' ELSE code END::text AS code, count(*)::bigint AS n
FROM analytics_channel_events
WHERE creator_id = @creator_id AND at >= @start_at AND at < @end_at AND kind IN ('failed', 'window_closed')
  AND (@channel::text = '' OR channel = @channel::text)
GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2;

-- name: AnalyticsTeamSeries :many
SELECT (CASE @mode::text WHEN 'day' THEN (at AT TIME ZONE @tz::text)::date
            WHEN 'week' THEN greatest(date_trunc('week', at AT TIME ZONE @tz::text)::date, @from_day::date)
            ELSE @from_day::date END)::date AS period,
       count(*) FILTER (WHERE kind = 'takeover')::bigint AS takeovers,
       coalesce(percentile_disc(0.5) WITHIN GROUP (ORDER BY wait_ms) FILTER (WHERE kind = 'takeover'), -1)::bigint AS wait_p50,
       coalesce(percentile_disc(0.95) WITHIN GROUP (ORDER BY wait_ms) FILTER (WHERE kind = 'takeover'), -1)::bigint AS wait_p95,
       count(*) FILTER (WHERE kind = 'reply')::bigint AS replies
FROM analytics_team_events
WHERE creator_id = @creator_id AND at >= @start_at AND at < @end_at AND (@channel::text = '' OR channel = @channel::text)
GROUP BY 1 ORDER BY 1;

-- name: AnalyticsTeamMembers :many
SELECT user_id, count(*) FILTER (WHERE kind = 'takeover')::bigint AS takeovers,
       count(*) FILTER (WHERE kind = 'reply')::bigint AS replies
FROM analytics_team_events
WHERE creator_id = @creator_id AND at >= @start_at AND at < @end_at AND (@channel::text = '' OR channel = @channel::text)
GROUP BY 1 ORDER BY 3 DESC, 2 DESC;

-- name: SetActingUser :exec
-- The member acting in this transaction, for the team rollup (analytics_team_events.user_id).
SELECT set_config('app.user_id', @user_id::text, true);

-- name: GetTurnTiming :one
SELECT reply_id, final_ms, first_token_ms, mode, status FROM analytics_turns WHERE reply_id = $1;

-- name: RecordDeadLetter :exec
-- A dead-lettered turn (generate.DeadTurns), once per event.
INSERT INTO analytics_dead_letters (event_id, creator_id, channel, stage, at)
VALUES (@event_id, @creator_id, @channel, @stage, @at)
ON CONFLICT (event_id) DO NOTHING;

-- name: AnalyticsSettings :exec
-- The analytics transaction's settings: a request aggregates up to a million rollup rows once;
-- JIT compilation would cost more than it saves, and sorts and hashes stay in memory. No
-- parallel workers: the rollup reads are small, and starting workers cost more (70 ms seen on
-- a loaded machine for a branch of AnalyticsActivityHome that reads no row).
SELECT set_config('jit', 'off', true), set_config('work_mem', '64MB', true), set_config('max_parallel_workers_per_gather', '0', true);
