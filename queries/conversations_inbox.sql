-- name: InboxConversations :many
-- One keyset page of the creator's inbox, newest activity first (ties by id), with the end
-- user's name, handle, tags and opt-out, their person and its channels (migration 0025), and
-- the conversation's last message. Filters are
-- optional. A search gives name_like (an ILIKE pattern on the name) and, when the text has
-- words, one [term_lo, term_hi) range per word: a conversation matches when its messages hold
-- a term in every range (message_terms, migration 0020: btree range scans, never a scan of the
-- messages). The page is chosen first (the inner query walks conversations_inbox), and only
-- its rows look up their last message.
SELECT p.id, p.end_user_id, p.channel, p.channel_id, p.status, p.created_at, p.last_activity_at,
       p.display_name, p.external_id, p.provider_user_id, p.tags, p.opted_out_at, p.person_id,
       ARRAY(SELECT pc.channel FROM end_users pc WHERE pc.creator_id = p.creator_id AND pc.person_id = p.person_id
             ORDER BY pc.created_at, pc.id)::text[] AS person_channels,
       coalesce(lm.role, '')::text AS last_role, coalesce(left(lm.body, 200), '')::text AS last_text,
       coalesce(lm.created_at, p.last_activity_at)::timestamptz AS last_at
FROM (
    SELECT c.id, c.creator_id, c.end_user_id, c.channel, c.channel_id, c.status, c.created_at, c.last_activity_at,
           e.display_name, e.external_id, e.provider_user_id, e.tags, e.opted_out_at, e.person_id
    FROM conversations c
    JOIN end_users e ON e.id = c.end_user_id
    WHERE (sqlc.narg(channel)::text IS NULL OR c.channel = sqlc.narg(channel))
      AND (sqlc.narg(channel_id)::uuid IS NULL OR c.channel_id = sqlc.narg(channel_id))
      AND (sqlc.narg(status)::text IS NULL OR c.status = sqlc.narg(status))
      AND (sqlc.narg(not_status)::text IS NULL OR c.status <> sqlc.narg(not_status))
      AND (sqlc.narg(end_user_id)::uuid IS NULL OR c.end_user_id = sqlc.narg(end_user_id))
      AND (sqlc.narg(active_after)::timestamptz IS NULL OR c.last_activity_at > sqlc.narg(active_after))
      AND (sqlc.narg(active_before)::timestamptz IS NULL OR c.last_activity_at < sqlc.narg(active_before))
      AND (sqlc.narg(tags)::text[] IS NULL OR e.tags @> sqlc.narg(tags)::text[])
      AND (sqlc.narg(opted_out)::boolean IS NULL OR (e.opted_out_at IS NOT NULL) = sqlc.narg(opted_out))
      AND (sqlc.narg(name_like)::text IS NULL OR c.id IN (
            SELECT t.conversation_id FROM message_terms t
            JOIN unnest(sqlc.narg(term_lo)::text[]) WITH ORDINALITY AS w (lo, n)
              ON t.term >= (w.lo COLLATE "C") AND t.term < ((sqlc.narg(term_hi)::text[])[w.n] COLLATE "C")
            GROUP BY t.conversation_id
            HAVING count(DISTINCT w.n) = cardinality(sqlc.narg(term_lo)::text[])
            UNION
            SELECT n.id FROM conversations n JOIN end_users ne ON ne.id = n.end_user_id
            WHERE ne.display_name ILIKE sqlc.narg(name_like)))
      AND (sqlc.narg(cursor_at)::timestamptz IS NULL
           OR (c.last_activity_at, c.id) < (sqlc.narg(cursor_at)::timestamptz, sqlc.narg(cursor_id)::uuid))
    ORDER BY c.last_activity_at DESC, c.id DESC
    LIMIT @max_rows
) p
LEFT JOIN LATERAL (
    SELECT m.role, m.body, m.created_at FROM messages m
    WHERE m.creator_id = p.creator_id AND m.conversation_id = p.id AND m.role <> 'system'
    ORDER BY m.seq DESC LIMIT 1
) lm ON true
ORDER BY p.last_activity_at DESC, p.id DESC;

-- name: GetInboxConversation :one
-- One conversation as an inbox row.
SELECT c.id, c.end_user_id, c.channel, c.channel_id, c.status, c.created_at, c.last_activity_at,
       e.display_name, e.external_id, e.provider_user_id, e.tags, e.opted_out_at, e.person_id,
       ARRAY(SELECT pc.channel FROM end_users pc WHERE pc.creator_id = e.creator_id AND pc.person_id = e.person_id
             ORDER BY pc.created_at, pc.id)::text[] AS person_channels,
       coalesce(lm.role, '')::text AS last_role, coalesce(left(lm.body, 200), '')::text AS last_text,
       coalesce(lm.created_at, c.last_activity_at)::timestamptz AS last_at
FROM conversations c
JOIN end_users e ON e.id = c.end_user_id
LEFT JOIN LATERAL (
    SELECT m.role, m.body, m.created_at FROM messages m
    WHERE m.creator_id = c.creator_id AND m.conversation_id = c.id AND m.role <> 'system'
    ORDER BY m.seq DESC LIMIT 1
) lm ON true
WHERE c.id = @id;

-- name: EndUserConversations :many
-- An end user's conversations (one per channel), for the export.
SELECT * FROM conversations WHERE end_user_id = @end_user_id ORDER BY created_at, id;

-- name: EndUserMessages :many
-- Every message of an end user, conversation by conversation in order, for the export.
SELECT m.* FROM messages m
JOIN conversations c ON c.creator_id = m.creator_id AND c.id = m.conversation_id
WHERE c.end_user_id = @end_user_id
ORDER BY c.created_at, c.id, m.seq;

-- name: EndUserEnrollments :many
-- An end user's program enrollments with the program's name, for the export.
SELECT pe.id, pe.program_id, p.name AS program_name, pe.status, pe.next_step, pe.enrolled_at, pe.last_step, pe.last_step_at
FROM program_enrollments pe JOIN programs p ON p.creator_id = pe.creator_id AND p.id = pe.program_id
WHERE pe.end_user_id = @end_user_id
ORDER BY pe.enrolled_at;

-- name: EndUserNudges :many
-- The proactive messages decided for an end user (sent, held, skipped), for the export.
SELECT occurrence_id, campaign_id, enrollment_id, status, reason, decided_at, message_id
FROM nudge_deliveries WHERE end_user_id = @end_user_id ORDER BY decided_at;

-- name: DeleteEndUser :execrows
-- Deletes an end user for good: every row of theirs cascades (conversations, messages,
-- deliveries, memory, enrollments, nudge decisions, the analytics rows that name them).
DELETE FROM end_users WHERE id = @id;
