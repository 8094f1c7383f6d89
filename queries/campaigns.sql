-- name: InsertCampaign :one
INSERT INTO campaigns (id, creator_id, name, status, audience, content, schedule)
VALUES ($1, $2, $3, 'active', $4, $5, $6)
RETURNING *;

-- name: GetCampaign :one
SELECT * FROM campaigns WHERE id = $1;

-- name: LockCampaign :one
SELECT * FROM campaigns WHERE id = $1 FOR UPDATE;

-- name: ListCampaigns :many
SELECT * FROM campaigns
WHERE (sqlc.narg(status)::text IS NULL OR status = sqlc.narg(status))
ORDER BY created_at DESC LIMIT @max_rows;

-- name: UpdateCampaign :one
UPDATE campaigns SET name = @name, audience = @audience, content = @content, schedule = @schedule, updated_at = now()
WHERE id = @id RETURNING *;

-- name: SetCampaignStatus :one
UPDATE campaigns SET status = @status, updated_at = now() WHERE id = @id RETURNING *;

-- name: InsertOccurrence :exec
-- Idempotent per (campaign, scheduled time): two replicas computing the same next occurrence
-- insert it once.
INSERT INTO campaign_occurrences (id, creator_id, campaign_id, scheduled_at, local_date, local_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (campaign_id, scheduled_at) DO NOTHING;

-- name: DeleteFutureOccurrences :execrows
-- Occurrences nobody has started: an edit recomputes them.
DELETE FROM campaign_occurrences WHERE campaign_id = @campaign_id AND status = 'pending' AND lease_owner IS NULL;

-- name: CancelOccurrences :exec
UPDATE campaign_occurrences SET status = 'cancelled', updated_at = now()
WHERE campaign_id = @campaign_id AND status IN ('pending', 'expanding');

-- name: ListOccurrences :many
SELECT * FROM campaign_occurrences WHERE campaign_id = @campaign_id ORDER BY scheduled_at DESC LIMIT @max_rows;

-- name: GetOccurrence :one
SELECT * FROM campaign_occurrences WHERE id = $1;

-- name: ClaimOccurrences :many
SELECT creator_id::uuid AS creator_id, occurrence_id::uuid AS occurrence_id
FROM nudge_claim_occurrences(@owner::uuid, @now::timestamptz, @lease_seconds::float8, @max_rows::int);

-- name: AdvanceOccurrence :execrows
-- Records a published page: the keyset cursor moves on and the lease is renewed, only while
-- the caller still owns the lease.
UPDATE campaign_occurrences
SET cursor_id = @cursor_id, targeted = targeted + @added::int,
    lease_until = @lease_until, updated_at = now()
WHERE id = @id AND lease_owner = @owner AND status = 'expanding';

-- name: MissOccurrence :execrows
-- An occurrence reached too late to send is recorded as missed, only by its lease owner.
UPDATE campaign_occurrences SET status = 'missed', lease_until = NULL, updated_at = now()
WHERE id = @id AND lease_owner = @owner AND status = 'expanding';

-- name: HasPendingOccurrence :one
SELECT EXISTS (SELECT 1 FROM campaign_occurrences WHERE campaign_id = @campaign_id AND status = 'pending')::bool;

-- name: HasHeldDecisions :one
-- Whether some recipient of the campaign is still waiting (held): a completed campaign can
-- still be paused or cancelled for them.
SELECT EXISTS (SELECT 1 FROM nudge_deliveries WHERE campaign_id = @campaign_id AND status = 'held')::bool;

-- name: ReleasePausedHolds :execrows
-- Resuming a campaign: recipients held because it was paused are decided again at once.
UPDATE nudge_deliveries SET hold_until = @now::timestamptz
WHERE campaign_id = @campaign_id AND status = 'held' AND reason = 'paused';

-- name: ReleasePausedSteps :execrows
-- Resuming a program (or one enrollment, when enrollment_id is given): its steps held because
-- it was paused are decided again at once.
UPDATE nudge_deliveries d SET hold_until = @now::timestamptz
FROM program_enrollments e
WHERE d.enrollment_id = e.id AND e.program_id = @program_id
  AND (sqlc.narg(enrollment_id)::uuid IS NULL OR e.id = sqlc.narg(enrollment_id))
  AND d.status = 'held' AND d.reason = 'paused';

-- name: FinishOccurrence :execrows
UPDATE campaign_occurrences SET status = 'expanded', lease_until = NULL, updated_at = now()
WHERE id = @id AND lease_owner = @owner AND status = 'expanding';

-- name: AudiencePage :many
-- One keyset page of a campaign's audience: end users after @after_id matching every given
-- filter (a NULL filter matches everyone).
SELECT e.id, e.timezone FROM end_users e
WHERE e.id > @after_id
  AND (sqlc.narg(channel)::text IS NULL OR e.channel = sqlc.narg(channel))
  AND (sqlc.narg(tags)::text[] IS NULL OR e.tags @> sqlc.narg(tags)::text[])
  AND (sqlc.narg(any_tags)::text[] IS NULL OR e.tags && sqlc.narg(any_tags)::text[])
  AND (sqlc.narg(exclude_tags)::text[] IS NULL OR NOT e.tags && sqlc.narg(exclude_tags)::text[])
  AND (sqlc.narg(inactive_before)::timestamptz IS NULL
       OR GREATEST(e.last_seen_at, COALESCE(e.last_inbound_at, e.last_seen_at)) < sqlc.narg(inactive_before))
  AND (sqlc.narg(active_since)::timestamptz IS NULL
       OR GREATEST(e.last_seen_at, COALESCE(e.last_inbound_at, e.last_seen_at)) >= sqlc.narg(active_since))
  AND (sqlc.narg(joined_after)::timestamptz IS NULL OR e.created_at > sqlc.narg(joined_after))
  AND (sqlc.narg(program_id)::uuid IS NULL OR EXISTS (
        SELECT 1 FROM program_enrollments p WHERE p.end_user_id = e.id AND p.program_id = sqlc.narg(program_id)
          AND p.status IN ('active', 'paused')))
ORDER BY e.id
LIMIT @max_rows;

-- name: LockEndUser :one
-- Serialises every proactive decision for one person (the frequency caps count across
-- campaigns and replicas).
SELECT * FROM end_users WHERE id = $1 FOR UPDATE;

-- name: GetNudgeDelivery :one
SELECT * FROM nudge_deliveries WHERE occurrence_id = @occurrence_id AND end_user_id = @end_user_id;

-- name: RecordNudgeDecision :exec
-- A decision replaces a held one; a final one (sent, skipped) is never replaced.
INSERT INTO nudge_deliveries (occurrence_id, end_user_id, creator_id, campaign_id, enrollment_id, status, reason,
                              mode, hold_until, message_id, decided_at)
VALUES (@occurrence_id, @end_user_id, @creator_id, @campaign_id, @enrollment_id, @status, @reason, @mode,
        @hold_until, @message_id, @decided_at)
ON CONFLICT (occurrence_id, end_user_id) DO UPDATE
SET status = EXCLUDED.status, reason = EXCLUDED.reason, mode = EXCLUDED.mode, hold_until = EXCLUDED.hold_until,
    message_id = EXCLUDED.message_id, decided_at = EXCLUDED.decided_at
WHERE nudge_deliveries.status = 'held';

-- name: CountProactiveSent :one
-- Proactive messages sent to a person since day_start and since week_start, across campaigns
-- and programs.
SELECT count(*) FILTER (WHERE decided_at >= @day_start)::int AS sent_day,
       count(*) FILTER (WHERE decided_at >= @week_start)::int AS sent_week
FROM nudge_deliveries
WHERE end_user_id = @end_user_id AND status = 'sent' AND decided_at >= LEAST(@day_start, @week_start);

-- name: LastUserMessageAt :one
SELECT COALESCE(max(m.created_at), 'epoch'::timestamptz)::timestamptz AS last_at FROM messages m
JOIN conversations c ON c.id = m.conversation_id
WHERE c.end_user_id = @end_user_id AND m.role = 'user';

-- name: NudgeConversation :one
-- The conversation a proactive message goes into (created on first contact).
INSERT INTO conversations (id, creator_id, end_user_id, channel, channel_id)
VALUES (@id, @creator_id, @end_user_id, @channel, @channel_id)
ON CONFLICT (creator_id, end_user_id, channel) DO UPDATE
SET channel_id = COALESCE(conversations.channel_id, EXCLUDED.channel_id)
RETURNING *;

-- name: GetCreatorPolicy :one
SELECT id, name, timezone, quiet_start, quiet_end, nudge_cap_day, nudge_cap_week FROM creators WHERE id = $1;

-- name: SetCreatorPolicy :one
UPDATE creators SET timezone = @timezone, quiet_start = @quiet_start, quiet_end = @quiet_end,
    nudge_cap_day = @cap_day, nudge_cap_week = @cap_week, updated_at = now()
WHERE id = @id
RETURNING id, name, timezone, quiet_start, quiet_end, nudge_cap_day, nudge_cap_week;

-- name: ClaimHeld :many
SELECT creator_id::uuid AS creator_id, occurrence_id::uuid AS occurrence_id, end_user_id::uuid AS end_user_id,
       campaign_id::uuid AS campaign_id, enrollment_id::uuid AS enrollment_id, holds::int AS holds,
       COALESCE(due_at, 'epoch'::timestamptz)::timestamptz AS due_at, step::int AS step
FROM nudge_claim_held(@now::timestamptz, @lease_seconds::float8, @max_rows::int);

-- name: CampaignStats :one
-- Per-campaign counts: targeted (published), decided by outcome, and what happened to the sent
-- messages (delivered, read, failed, replied to, the person opted out after it).
SELECT
    (SELECT COALESCE(sum(o.targeted), 0) FROM campaign_occurrences o WHERE o.campaign_id = @campaign_id)::bigint AS targeted,
    count(*) FILTER (WHERE d.status = 'sent')::bigint AS sent,
    count(*) FILTER (WHERE d.status = 'held')::bigint AS held,
    count(*) FILTER (WHERE d.status = 'skipped')::bigint AS skipped,
    count(*) FILTER (WHERE m.status IN ('delivered', 'read'))::bigint AS delivered,
    count(*) FILTER (WHERE m.status = 'read')::bigint AS read,
    count(*) FILTER (WHERE m.status IN ('failed', 'window_closed'))::bigint AS failed,
    count(*) FILTER (WHERE d.status = 'sent' AND EXISTS (
        SELECT 1 FROM messages r WHERE r.conversation_id = m.conversation_id AND r.role = 'user' AND r.seq > m.seq))::bigint AS replied,
    count(*) FILTER (WHERE d.status = 'sent' AND e.opted_out_at > m.created_at)::bigint AS opted_out_after
FROM nudge_deliveries d
LEFT JOIN messages m ON m.id = d.message_id
LEFT JOIN end_users e ON e.id = d.end_user_id
WHERE d.campaign_id = @campaign_id;

-- name: CampaignSkipReasons :many
SELECT reason, count(*)::bigint AS n FROM nudge_deliveries
WHERE campaign_id = @campaign_id AND status = 'skipped'
GROUP BY reason ORDER BY reason;

-- name: ListNudgeDecisions :many
SELECT * FROM nudge_deliveries WHERE campaign_id = @campaign_id ORDER BY decided_at DESC LIMIT @max_rows;

-- name: SetEndUserTags :one
UPDATE end_users SET tags = @tags WHERE id = @id RETURNING *;

-- name: CountAudience :one
-- How many end users an audience matches now, and how many of them opted out (the console's live
-- count). The filters are AudiencePage's, kept identical (proactive's tests compare the two).
SELECT count(*)::bigint AS total, count(*) FILTER (WHERE e.opted_out_at IS NOT NULL)::bigint AS opted_out
FROM end_users e
WHERE (sqlc.narg(channel)::text IS NULL OR e.channel = sqlc.narg(channel))
  AND (sqlc.narg(tags)::text[] IS NULL OR e.tags @> sqlc.narg(tags)::text[])
  AND (sqlc.narg(any_tags)::text[] IS NULL OR e.tags && sqlc.narg(any_tags)::text[])
  AND (sqlc.narg(exclude_tags)::text[] IS NULL OR NOT e.tags && sqlc.narg(exclude_tags)::text[])
  AND (sqlc.narg(inactive_before)::timestamptz IS NULL
       OR GREATEST(e.last_seen_at, COALESCE(e.last_inbound_at, e.last_seen_at)) < sqlc.narg(inactive_before))
  AND (sqlc.narg(active_since)::timestamptz IS NULL
       OR GREATEST(e.last_seen_at, COALESCE(e.last_inbound_at, e.last_seen_at)) >= sqlc.narg(active_since))
  AND (sqlc.narg(joined_after)::timestamptz IS NULL OR e.created_at > sqlc.narg(joined_after))
  AND (sqlc.narg(program_id)::uuid IS NULL OR EXISTS (
        SELECT 1 FROM program_enrollments p WHERE p.end_user_id = e.id AND p.program_id = sqlc.narg(program_id)
          AND p.status IN ('active', 'paused')));

-- name: CampaignOccurrenceStats :many
-- Per occurrence of one campaign (the latest @max_rows): CampaignStats' counts, and the sent
-- people who opted out after the message.
SELECT o.id AS occurrence_id, o.scheduled_at, o.status, o.targeted::bigint AS targeted,
       count(d.end_user_id) FILTER (WHERE d.status = 'sent')::bigint AS sent,
       count(d.end_user_id) FILTER (WHERE d.status = 'held')::bigint AS held,
       count(d.end_user_id) FILTER (WHERE d.status = 'skipped')::bigint AS skipped,
       count(m.id) FILTER (WHERE m.status IN ('delivered', 'read'))::bigint AS delivered,
       count(m.id) FILTER (WHERE m.status = 'read')::bigint AS read,
       count(m.id) FILTER (WHERE m.status IN ('failed', 'window_closed'))::bigint AS failed,
       count(m.id) FILTER (WHERE EXISTS (
           SELECT 1 FROM messages r WHERE r.conversation_id = m.conversation_id AND r.role = 'user' AND r.seq > m.seq))::bigint AS replied,
       count(e.id) FILTER (WHERE e.opted_out_at > m.created_at)::bigint AS opted_out_after
FROM campaign_occurrences o
LEFT JOIN nudge_deliveries d ON d.occurrence_id = o.id
LEFT JOIN messages m ON m.id = d.message_id AND d.status = 'sent'
LEFT JOIN end_users e ON e.id = d.end_user_id AND d.status = 'sent'
WHERE o.campaign_id = @campaign_id
GROUP BY o.id, o.scheduled_at, o.status, o.targeted
ORDER BY o.scheduled_at DESC
LIMIT @max_rows;

-- name: CampaignOccurrenceReasons :many
-- Skip reasons and failure codes per occurrence of one campaign: kind 'skipped' (the decision's
-- reason) or 'failed' (the sent message's error code).
SELECT d.occurrence_id, 'skipped'::text AS kind, d.reason AS reason, count(*)::bigint AS n
FROM nudge_deliveries d
WHERE d.campaign_id = @campaign_id AND d.status = 'skipped'
GROUP BY d.occurrence_id, d.reason
UNION ALL
SELECT d.occurrence_id, 'failed'::text AS kind, m.error_code AS reason, count(*)::bigint AS n
FROM nudge_deliveries d JOIN messages m ON m.id = d.message_id
WHERE d.campaign_id = @campaign_id AND d.status = 'sent' AND m.status IN ('failed', 'window_closed')
GROUP BY d.occurrence_id, m.error_code;

-- name: CampaignListStats :many
-- The headline figures of several campaigns for the list: decisions and what became of the sent
-- messages.
SELECT d.campaign_id::uuid AS campaign_id,
       count(*) FILTER (WHERE d.status = 'sent')::bigint AS sent,
       count(*) FILTER (WHERE d.status = 'skipped')::bigint AS skipped,
       count(*) FILTER (WHERE d.status = 'held')::bigint AS held,
       count(m.id) FILTER (WHERE m.status IN ('delivered', 'read'))::bigint AS delivered,
       count(m.id) FILTER (WHERE m.status IN ('failed', 'window_closed'))::bigint AS failed,
       count(m.id) FILTER (WHERE EXISTS (
           SELECT 1 FROM messages r WHERE r.conversation_id = m.conversation_id AND r.role = 'user' AND r.seq > m.seq))::bigint AS replied
FROM nudge_deliveries d
LEFT JOIN messages m ON m.id = d.message_id AND d.status = 'sent'
WHERE d.campaign_id = ANY(@campaign_ids::uuid[])
GROUP BY d.campaign_id;
