-- One person, several channels (migration 0025, internal/people): link codes and the end users
-- that share a person.

-- name: InsertLinkCode :exec
INSERT INTO link_codes (creator_id, code_hash, end_user_id, expires_at)
VALUES (@creator_id, @code_hash, @end_user_id, @expires_at);

-- name: RecentLinkCodes :one
-- How many codes an end user asked for since @since (the rate limit).
SELECT count(*)::int FROM link_codes WHERE end_user_id = @end_user_id AND created_at >= @since;

-- name: ExpireLinkCodes :exec
-- A new code replaces the end user's unused ones.
UPDATE link_codes SET expires_at = LEAST(expires_at, @now::timestamptz)
WHERE end_user_id = @end_user_id AND used_at IS NULL;

-- name: LockLinkCode :one
-- A code by its hash, in the current tenant only.
SELECT * FROM link_codes WHERE code_hash = @code_hash FOR UPDATE;

-- name: UseLinkCode :exec
UPDATE link_codes SET used_at = @used_at, used_by = @used_by WHERE code_hash = @code_hash;

-- name: LockPeople :many
-- Every end user of the people of @ids (themselves included), locked in one statement in id
-- order: the order every locker of end_users rows uses (the nudge batch's LockEndUsers too), so
-- a link, an unlink and a batch never deadlock.
SELECT * FROM end_users
WHERE person_id IN (SELECT e.person_id FROM end_users e WHERE e.id = ANY(@ids::uuid[]))
ORDER BY id FOR UPDATE;

-- name: PersonIdentities :many
-- The end users sharing a person with each of @ids (themselves included): pairs of an end user
-- asked about and one of its person's end users, oldest first.
SELECT a.id::uuid AS end_user_id, e.id, e.channel, e.external_id, e.display_name, e.provider_user_id, e.last_seen_at, e.person_id
FROM end_users a JOIN end_users e ON e.creator_id = a.creator_id AND e.person_id = a.person_id
WHERE a.id = ANY(@ids::uuid[])
ORDER BY a.id, e.created_at, e.id;

-- name: MovePerson :exec
-- The end users of person @from join person @to (a link).
UPDATE end_users SET person_id = @to_person WHERE person_id = @from_person;

-- name: RenamePerson :exec
-- The end users of person @from other than @from itself become person @to_person (@from leaves).
UPDATE end_users SET person_id = @to_person WHERE person_id = @from_person AND id <> @from_person;

-- name: OwnPerson :exec
-- An end user becomes its own person again (an unlink).
UPDATE end_users SET person_id = id WHERE id = @id;

-- name: SetPersonOptOut :exec
-- The person's opt-out, on every end user of theirs (NULL: opted in).
UPDATE end_users SET opted_out_at = sqlc.narg(opted_out_at) WHERE person_id = @person_id;

-- name: MemoryRow :one
-- The stored profile row keyed by @end_user_id itself (GetMemory resolves the person).
SELECT * FROM end_user_memory WHERE end_user_id = @end_user_id;

-- name: MergeMemory :exec
-- A link's merged profile, stored as the person's.
INSERT INTO end_user_memory (end_user_id, creator_id, profile, extracted_seq, edited_by_creator, version, updated_at)
VALUES (@end_user_id, @creator_id, @profile, @extracted_seq, @edited_by_creator, 1, now())
ON CONFLICT (end_user_id) DO UPDATE SET profile = EXCLUDED.profile,
    extracted_seq = GREATEST(end_user_memory.extracted_seq, EXCLUDED.extracted_seq),
    edited_by_creator = end_user_memory.edited_by_creator OR EXCLUDED.edited_by_creator,
    version = end_user_memory.version + 1, updated_at = now();

-- name: DeleteMemoryRow :exec
DELETE FROM end_user_memory WHERE end_user_id = @end_user_id;

-- name: MoveMemoryRow :exec
-- The person's profile follows the person when the end user naming it leaves.
UPDATE end_user_memory SET end_user_id = @to_end_user WHERE end_user_id = @from_end_user;

-- name: PersonEnrollments :many
-- The program enrollments of every end user of the person of @end_user_id.
SELECT pe.* FROM program_enrollments pe
WHERE pe.end_user_id IN (SELECT p.id FROM end_users p
                         WHERE p.person_id = (SELECT e.person_id FROM end_users e WHERE e.id = @end_user_id))
ORDER BY pe.enrolled_at, pe.id;

-- name: CountRecentAnswers :one
-- How many answers with exactly @body conversation @conversation_id got since @since (the link
-- command's wrong-code answers: at most people.MaxWrongCodes an hour per chat).
SELECT count(*)::int FROM messages
WHERE conversation_id = @conversation_id AND role = 'assistant' AND body = @body AND created_at >= @since;
