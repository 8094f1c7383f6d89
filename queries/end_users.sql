-- name: ListEndUsers :many
-- One keyset page of the creator's end users in id order, after @after_id, with optional filters.
SELECT * FROM end_users
WHERE id > @after_id
  AND (sqlc.narg(channel)::text IS NULL OR channel = sqlc.narg(channel))
  AND (sqlc.narg(tag)::text IS NULL OR tags @> ARRAY[sqlc.narg(tag)::text])
ORDER BY id
LIMIT @max_rows;

-- name: EndUserEnrollment :one
-- An end user's enrollment in a program, if any.
SELECT * FROM program_enrollments WHERE program_id = @program_id AND end_user_id = @end_user_id;
