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
-- AnalyticsActivity in the creator's own zone (@tz), from the per-day rollup in one pass: each
-- conversation's figures per period and over the whole range (the row whose period is NULL:
-- the totals), then the period's, the median from the histogram of messages per conversation
-- (@from_day and @to_day: the range's first and last local days). An end user has one
-- conversation (conversations are unique per end user and channel, and an end user belongs to
-- one channel), so the active users are the conversations with a message in; and everyone
-- whose first message falls in a period is active in it, so the returning users are the
-- active ones less the new ones.
WITH conv AS (
    SELECT d.period, d.conversation_id, sum(d.messages_in)::bigint AS n_in, sum(d.messages_out)::bigint AS n_out
    FROM (SELECT (CASE @mode::text WHEN 'day' THEN ad.day
                      ELSE greatest(date_trunc('week', ad.day)::date, @from_day::date) END)::date AS period,
                 ad.conversation_id, ad.messages_in, ad.messages_out
          FROM analytics_days ad
          WHERE ad.creator_id = @creator_id AND ad.day >= @from_day::date AND ad.day <= @to_day::date
            AND (@channel::text = '' OR ad.channel = @channel::text)) d
    GROUP BY GROUPING SETS ((d.period, d.conversation_id), (d.conversation_id))
), hist AS (
    SELECT period, n_in + n_out AS n, count(*)::bigint AS convs, sum(n_in)::bigint AS n_in, sum(n_out)::bigint AS n_out,
           count(*) FILTER (WHERE n_in > 0)::bigint AS active
    FROM conv GROUP BY 1, 2
), per AS (
    SELECT period, sum(convs)::bigint AS conversations, sum(n_in)::bigint AS messages_in, sum(n_out)::bigint AS messages_out,
           sum(active)::bigint AS active,
           jsonb_agg(jsonb_build_array(n, convs) ORDER BY n) AS hist
    FROM hist GROUP BY 1
), fresh AS (
    SELECT f.period, count(*)::bigint AS n
    FROM (SELECT (CASE @mode::text WHEN 'day' THEN (fc.first_at AT TIME ZONE @tz::text)::date
                      ELSE greatest(date_trunc('week', fc.first_at AT TIME ZONE @tz::text)::date, @from_day::date) END)::date AS period
          FROM analytics_first_contact fc
          WHERE fc.creator_id = @creator_id AND fc.first_at >= @start_at AND fc.first_at < @end_at
            AND (@channel::text = '' OR fc.channel = @channel::text)) f
    GROUP BY GROUPING SETS ((f.period), ())
)
SELECT per.period::date AS period, per.conversations, per.messages_in, per.messages_out,
       per.active AS active_users, (per.active - coalesce(fresh.n, 0))::bigint AS returning_users,
       coalesce(fresh.n, 0)::bigint AS new_users, per.hist::jsonb AS hist
FROM per LEFT JOIN fresh ON fresh.period IS NOT DISTINCT FROM per.period
ORDER BY 1;

-- name: AnalyticsActiveWindowsHome :many
-- AnalyticsActiveWindows in the creator's own zone, from the per-day rollup (@from_day is 29
-- days before the range). One conversation per end user (see AnalyticsActivityHome): a
-- conversation's days are its person's, read in order from analytics_days_conversation, and
-- the starts and ends of covered runs are counted per day before they are spread.
WITH s AS (
    SELECT day, lag(day) OVER w AS prev, lead(day) OVER w AS next
    FROM analytics_days
    WHERE creator_id = @creator_id AND day >= @from_day::date AND day <= @to_day::date AND messages_in > 0
      AND (@channel::text = '' OR channel = @channel::text)
    WINDOW w AS (PARTITION BY conversation_id ORDER BY day)
), per_day AS (
    SELECT day,
           count(*) FILTER (WHERE prev IS NULL OR day - prev >= 7) AS s7, count(*) FILTER (WHERE next IS NULL OR next - day >= 7) AS e7,
           count(*) FILTER (WHERE prev IS NULL OR day - prev >= 30) AS s30, count(*) FILTER (WHERE next IS NULL OR next - day >= 30) AS e30
    FROM s GROUP BY day
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
-- AnalyticsCohortWeeks in the creator's own zone, from the per-day rollup: @until_day is 9
-- weeks after the range's last day.
WITH f AS (
    SELECT fc.end_user_id, date_trunc('week', fc.first_at AT TIME ZONE @tz::text)::date AS cohort
    FROM analytics_first_contact fc
    WHERE fc.creator_id = @creator_id AND fc.first_at >= @start_at AND fc.first_at < @end_at
      AND (@channel::text = '' OR fc.channel = @channel::text)
), act AS (
    SELECT DISTINCT d.end_user_id, f.cohort, (d.day - f.cohort) / 7 AS wk
    FROM analytics_days d JOIN f ON f.end_user_id = d.end_user_id
    WHERE d.creator_id = @creator_id AND d.day >= @from_day::date AND d.day < @until_day::date AND d.messages_in > 0
)
SELECT cohort::date AS cohort, wk::int AS week, count(*)::bigint AS users
FROM act WHERE wk BETWEEN 1 AND 8 GROUP BY 1, 2 ORDER BY 1, 2;

-- name: AnalyticsResponsiveness :many
-- A percentile is -1 when there is nothing to take it of. Dead-lettered turns are counted from
-- analytics_dead_letters by the time the person's message (or the turn request) was published.
WITH t AS (
    SELECT (CASE @mode::text WHEN 'day' THEN (asked_at AT TIME ZONE @tz::text)::date
                WHEN 'week' THEN greatest(date_trunc('week', asked_at AT TIME ZONE @tz::text)::date, @from_day::date)
                ELSE @from_day::date END)::date AS period,
           count(*)::bigint AS turns,
           coalesce(percentile_disc(0.5) WITHIN GROUP (ORDER BY first_token_ms), -1)::bigint AS first_token_p50,
           coalesce(percentile_disc(0.95) WITHIN GROUP (ORDER BY first_token_ms), -1)::bigint AS first_token_p95,
           coalesce(percentile_disc(0.5) WITHIN GROUP (ORDER BY final_ms), -1)::bigint AS final_p50,
           coalesce(percentile_disc(0.95) WITHIN GROUP (ORDER BY final_ms), -1)::bigint AS final_p95,
           count(*) FILTER (WHERE status = 'llm_error')::bigint AS llm_errors,
           count(*) FILTER (WHERE mode = 'passages')::bigint AS passages_answers
    FROM analytics_turns tt
    WHERE tt.creator_id = @creator_id AND tt.asked_at >= @start_at AND tt.asked_at < @end_at
      AND (@channel::text = '' OR tt.channel = @channel::text)
    GROUP BY 1
), dl AS (
    SELECT (CASE @mode::text WHEN 'day' THEN (at AT TIME ZONE @tz::text)::date
                WHEN 'week' THEN greatest(date_trunc('week', at AT TIME ZONE @tz::text)::date, @from_day::date)
                ELSE @from_day::date END)::date AS period,
           count(*)::bigint AS n
    FROM analytics_dead_letters dd
    WHERE dd.creator_id = @creator_id AND dd.at >= @start_at AND dd.at < @end_at
      AND (@channel::text = '' OR dd.channel = @channel::text)
    GROUP BY 1
)
SELECT period::date AS period, coalesce(t.turns, 0)::bigint AS turns,
       coalesce(t.first_token_p50, -1)::bigint AS first_token_p50, coalesce(t.first_token_p95, -1)::bigint AS first_token_p95,
       coalesce(t.final_p50, -1)::bigint AS final_p50, coalesce(t.final_p95, -1)::bigint AS final_p95,
       coalesce(t.llm_errors, 0)::bigint AS llm_errors, coalesce(t.passages_answers, 0)::bigint AS passages_answers,
       coalesce(dl.n, 0)::bigint AS dead_lettered
FROM t FULL JOIN dl USING (period)
ORDER BY 1;

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
-- Gap groups by normalised question; a question that is a gap for two reasons counts once.
WITH g AS (
    SELECT key, message_id, asked_at, question, reason FROM analytics_gaps
    WHERE creator_id = @creator_id AND asked_at >= @start_at AND asked_at < @end_at
      AND (@channel::text = '' OR channel = @channel::text)
), r AS (
    SELECT key, jsonb_object_agg(reason, n) AS reasons FROM (SELECT key, reason, count(*) AS n FROM g GROUP BY 1, 2) x GROUP BY 1
)
SELECT g.key, count(DISTINCT g.message_id)::bigint AS n, max(g.asked_at)::timestamptz AS last_at,
       (array_agg(g.question ORDER BY g.asked_at DESC))[1]::text AS question, r.reasons::jsonb AS reasons
FROM g JOIN r ON r.key = g.key
GROUP BY g.key, r.reasons
ORDER BY 2 DESC, 3 DESC
LIMIT 200;

-- name: AnalyticsGapExamples :many
SELECT key, conversation_id, message_id, asked_at, question FROM (
    SELECT key, conversation_id, message_id, asked_at, question,
           row_number() OVER (PARTITION BY key ORDER BY asked_at DESC, message_id) AS rn
    FROM (SELECT DISTINCT ON (message_id) * FROM analytics_gaps
          WHERE creator_id = @creator_id AND asked_at >= @start_at AND asked_at < @end_at AND key = ANY(@keys::text[])
            AND (@channel::text = '' OR channel = @channel::text)
          ORDER BY message_id) d
) e WHERE rn <= 5 ORDER BY key, asked_at DESC;

-- name: AnalyticsMostCited :many
SELECT c.document_id, coalesce(d.title, '')::text AS title, c.section, count(*)::bigint AS citations
FROM analytics_citations c LEFT JOIN documents d ON d.id = c.document_id
WHERE c.creator_id = @creator_id AND c.at >= @start_at AND c.at < @end_at
  AND (@channel::text = '' OR c.channel = @channel::text)
GROUP BY 1, 2, 3 ORDER BY 4 DESC, 2 LIMIT 50;

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
-- Per occurrence scheduled in the range: the decisions and what became of the sent messages
-- (analytics_sends: delivery status, a message of the person in the same conversation within
-- 24 hours); an opt-out after the send from the people who are opted out now.
SELECT o.id AS occurrence_id, o.campaign_id, c.name AS campaign_name, o.scheduled_at, o.targeted::bigint AS audience,
       count(n.end_user_id) FILTER (WHERE n.status = 'sent')::bigint AS sent,
       count(n.end_user_id) FILTER (WHERE n.status = 'held')::bigint AS held,
       count(n.end_user_id) FILTER (WHERE n.status = 'skipped')::bigint AS skipped,
       count(s.message_id) FILTER (WHERE s.status IN ('delivered', 'read'))::bigint AS delivered,
       count(s.message_id) FILTER (WHERE s.status = 'read')::bigint AS read,
       count(s.message_id) FILTER (WHERE s.status IN ('failed', 'window_closed'))::bigint AS failed,
       count(s.message_id) FILTER (WHERE s.replied)::bigint AS replied_24h,
       count(e.id) FILTER (WHERE e.opted_out_at > s.sent_at)::bigint AS opted_out_after
FROM campaign_occurrences o
JOIN campaigns c ON c.id = o.campaign_id
LEFT JOIN nudge_deliveries n ON n.occurrence_id = o.id
LEFT JOIN analytics_sends s ON s.message_id = n.message_id AND n.status = 'sent'
LEFT JOIN (SELECT eu.id, eu.opted_out_at FROM end_users eu WHERE eu.creator_id = @creator_id AND eu.opted_out_at IS NOT NULL) e
    ON e.id = n.end_user_id AND n.status = 'sent'
WHERE o.creator_id = @creator_id AND o.scheduled_at >= @start_at AND o.scheduled_at < @end_at
  AND (@channel::text = '' OR s.channel IS NULL OR s.channel = @channel::text)
GROUP BY o.id, o.campaign_id, c.name, o.scheduled_at, o.targeted
ORDER BY o.scheduled_at DESC, o.id;

-- name: AnalyticsCampaignReasons :many
SELECT n.occurrence_id, n.status, n.reason, count(*)::bigint AS n
FROM nudge_deliveries n JOIN campaign_occurrences o ON o.id = n.occurrence_id
WHERE o.creator_id = @creator_id AND o.scheduled_at >= @start_at AND o.scheduled_at < @end_at AND n.status = 'skipped'
GROUP BY 1, 2, 3;

-- name: AnalyticsCampaignFailures :many
SELECT n.occurrence_id, m.error_code AS code, count(*)::bigint AS n
FROM nudge_deliveries n JOIN campaign_occurrences o ON o.id = n.occurrence_id
JOIN analytics_sends m ON m.message_id = n.message_id
WHERE o.creator_id = @creator_id AND o.scheduled_at >= @start_at AND o.scheduled_at < @end_at
  AND n.status = 'sent' AND m.status IN ('failed', 'window_closed')
  AND (@channel::text = '' OR m.channel = @channel::text)
GROUP BY 1, 2;

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
    WHERE aa.creator_id = @creator_id AND aa.bucket >= @start_at AND aa.bucket < @end_at AND (@channel::text = '' OR aa.channel = @channel::text)
      AND aa.messages_out > 0
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
-- JIT compilation would cost more than it saves, and sorts and hashes stay in memory.
SELECT set_config('jit', 'off', true), set_config('work_mem', '64MB', true);
