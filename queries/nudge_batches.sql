-- Set-based statements of the nudge decider: one transaction decides a batch of recipients
-- (internal/nudge/batch.go).

-- name: LockEndUsers :many
-- Serialises proactive decisions per person (caps count across campaigns, channels and
-- replicas): the end users asked for and every end user linked into the same person
-- (migration 0025), locked in id order so two batches never deadlock, nor a batch and a link
-- or unlink (internal/people's LockPeople locks in the same order: keep them alike).
SELECT * FROM end_users
WHERE person_id IN (SELECT e.person_id FROM end_users e WHERE e.id = ANY(@ids::uuid[]))
ORDER BY id FOR UPDATE;

-- name: GetNudgeDeliveries :many
-- The decisions already recorded for the given (occurrence, recipient) pairs.
SELECT d.* FROM nudge_deliveries d
JOIN (SELECT unnest(@occurrence_ids::uuid[]) AS occurrence_id, unnest(@end_user_ids::uuid[]) AS end_user_id) AS k
  ON d.occurrence_id = k.occurrence_id AND d.end_user_id = k.end_user_id;

-- name: NudgeFacts :many
-- Per person: the last message they wrote (any conversation, any channel linked into the
-- person), and the proactive messages sent to them since the start of their local day and since
-- week_start (across campaigns, programs and the person's channels). The person's end users are
-- gathered once per recipient (members) so each count is an index scan over an id array, as
-- for a single end user.
SELECT u.id::uuid AS end_user_id,
       COALESCE((SELECT max(m.created_at) FROM conversations c JOIN messages m ON m.conversation_id = c.id
                 WHERE c.end_user_id = ANY(p.members) AND m.role = 'user'), 'epoch'::timestamptz)::timestamptz AS last_user_at,
       (SELECT count(*) FROM nudge_deliveries d
        WHERE d.end_user_id = ANY(p.members) AND d.status = 'sent' AND d.decided_at >= u.day_start)::int AS sent_day,
       (SELECT count(*) FROM nudge_deliveries d
        WHERE d.end_user_id = ANY(p.members) AND d.status = 'sent' AND d.decided_at >= @week_start::timestamptz)::int AS sent_week
FROM (SELECT unnest(@ids::uuid[]) AS id, unnest(@day_starts::timestamptz[]) AS day_start) AS u
JOIN end_users e ON e.id = u.id
CROSS JOIN LATERAL (SELECT array_agg(x.id)::uuid[] AS members FROM end_users x WHERE x.person_id = e.person_id) AS p;

-- name: MemoriesOf :many
-- The profile of each end user's person (linked end users share one), by end user.
SELECT e.id AS end_user_id, m.profile FROM end_users e
JOIN end_user_memory m ON m.end_user_id = e.person_id
WHERE e.id = ANY(@ids::uuid[]);

-- name: UpsertNudgeConversations :many
-- The conversations proactive messages go into (created on first contact), one per person and
-- channel; the caller passes each (person, channel) once.
INSERT INTO conversations (id, creator_id, end_user_id, channel, channel_id)
SELECT u.id, @creator_id, u.end_user_id, u.channel, NULLIF(u.channel_id, '00000000-0000-0000-0000-000000000000'::uuid)
FROM (SELECT unnest(@ids::uuid[]) AS id, unnest(@end_user_ids::uuid[]) AS end_user_id, unnest(@channels::text[]) AS channel, unnest(@channel_ids::uuid[]) AS channel_id) AS u
ON CONFLICT (creator_id, end_user_id, channel) DO UPDATE
SET channel_id = COALESCE(conversations.channel_id, EXCLUDED.channel_id)
RETURNING id, end_user_id, channel;

-- name: InsertNudgeMessages :exec
-- Proactive messages, by their deterministic ids: a batch decided again inserts nothing.
INSERT INTO messages (id, creator_id, conversation_id, role, body, sources, channel, status, template)
SELECT u.id, @creator_id, u.conversation_id, 'assistant', u.body, '[]'::jsonb, u.channel, 'queued', NULLIF(u.template, 'null'::jsonb)
FROM (SELECT unnest(@ids::uuid[]) AS id, unnest(@conversation_ids::uuid[]) AS conversation_id, unnest(@bodies::text[]) AS body, unnest(@channels::text[]) AS channel, unnest(@templates::jsonb[]) AS template) AS u
ON CONFLICT (id) DO NOTHING;

-- name: RecordNudgeDecisions :exec
-- Decisions of a batch. A decision replaces a held one; a final one (sent, skipped) is never
-- replaced. Nil ids and the zero time stand for NULL.
INSERT INTO nudge_deliveries (occurrence_id, end_user_id, creator_id, campaign_id, enrollment_id, status, reason, mode,
                              hold_until, message_id, decided_at, due_at, step)
SELECT u.occurrence_id, u.end_user_id, @creator_id,
       NULLIF(u.campaign_id, '00000000-0000-0000-0000-000000000000'::uuid),
       NULLIF(u.enrollment_id, '00000000-0000-0000-0000-000000000000'::uuid),
       u.status, u.reason, u.mode,
       NULLIF(u.hold_until, '0001-01-01 00:00:00+00'::timestamptz),
       NULLIF(u.message_id, '00000000-0000-0000-0000-000000000000'::uuid),
       @decided_at, NULLIF(u.due_at, '0001-01-01 00:00:00+00'::timestamptz), u.step
FROM (SELECT unnest(@occurrence_ids::uuid[]) AS occurrence_id, unnest(@end_user_ids::uuid[]) AS end_user_id, unnest(@campaign_ids::uuid[]) AS campaign_id, unnest(@enrollment_ids::uuid[]) AS enrollment_id, unnest(@statuses::text[]) AS status, unnest(@reasons::text[]) AS reason, unnest(@modes::text[]) AS mode, unnest(@hold_untils::timestamptz[]) AS hold_until, unnest(@message_ids::uuid[]) AS message_id, unnest(@due_ats::timestamptz[]) AS due_at, unnest(@steps::int[]) AS step) AS u
ON CONFLICT (occurrence_id, end_user_id) DO UPDATE
SET status = EXCLUDED.status, reason = EXCLUDED.reason, mode = EXCLUDED.mode, hold_until = EXCLUDED.hold_until,
    message_id = EXCLUDED.message_id, decided_at = EXCLUDED.decided_at, due_at = COALESCE(nudge_deliveries.due_at, EXCLUDED.due_at)
WHERE nudge_deliveries.status = 'held';
