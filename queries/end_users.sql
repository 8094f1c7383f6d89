-- name: ListEndUsers :many
-- One keyset page of the creator's end users in id order, after @after_id, with optional filters.
SELECT * FROM end_users
WHERE id > @after_id
  AND (sqlc.narg(channel)::text IS NULL OR channel = sqlc.narg(channel))
  AND (sqlc.narg(tag)::text IS NULL OR tags @> ARRAY[sqlc.narg(tag)::text])
ORDER BY id
LIMIT @max_rows;

-- name: EndUserEnrollment :one
-- The enrollment in a program of an end user's person, if any: one enrollment per person, made
-- on whichever of their linked channels (a running one first, then their own: a link cancels
-- the app's duplicate, internal/people).
SELECT pe.* FROM program_enrollments pe
WHERE pe.program_id = @program_id
  AND pe.end_user_id IN (SELECT p.id FROM end_users p
                         WHERE p.person_id = (SELECT e.person_id FROM end_users e WHERE e.id = @end_user_id))
ORDER BY (pe.status IN ('active', 'paused')) DESC, (pe.end_user_id = @end_user_id) DESC, pe.enrolled_at
LIMIT 1;
