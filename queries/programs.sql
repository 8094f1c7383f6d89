-- name: InsertProgram :one
INSERT INTO programs (id, creator_id, name, keyword, steps) VALUES ($1, $2, $3, $4, $5) RETURNING *;

-- name: GetProgram :one
SELECT * FROM programs WHERE id = $1;

-- name: ListPrograms :many
SELECT * FROM programs ORDER BY created_at DESC LIMIT @max_rows;

-- name: ProgramByKeyword :one
SELECT * FROM programs WHERE keyword <> '' AND lower(keyword) = lower(@keyword) AND status = 'active' LIMIT 1;

-- name: Enroll :one
-- Enrolls an end user; enrolling again someone who is already in the program changes nothing.
INSERT INTO program_enrollments (id, creator_id, program_id, end_user_id, enrolled_at, next_at)
VALUES (@id, @creator_id, @program_id, @end_user_id, @enrolled_at, @next_at)
ON CONFLICT (program_id, end_user_id) DO UPDATE SET updated_at = now()
RETURNING *;

-- name: GetEnrollment :one
SELECT * FROM program_enrollments WHERE id = $1;

-- name: LockEnrollment :one
SELECT * FROM program_enrollments WHERE id = $1 FOR UPDATE;

-- name: ListEnrollments :many
SELECT * FROM program_enrollments WHERE program_id = @program_id ORDER BY enrolled_at, id LIMIT @max_rows;

-- name: AdvanceEnrollment :one
UPDATE program_enrollments
SET status = @status, next_step = @next_step, next_at = @next_at, last_step = @last_step, last_step_at = @last_step_at,
    lease_until = NULL, history = history || @entry::jsonb, updated_at = now()
WHERE id = @id
RETURNING *;

-- name: SetEnrollmentStatus :one
UPDATE program_enrollments SET status = @status, lease_until = NULL, updated_at = now() WHERE id = @id RETURNING *;

-- name: ClaimEnrollments :many
SELECT creator_id::uuid AS creator_id, enrollment_id::uuid AS enrollment_id
FROM nudge_claim_enrollments(@now::timestamptz, @lease_seconds::float8, @max_rows::int);

-- name: UserRepliedSince :one
-- Whether the person wrote after since (any of their conversations).
SELECT EXISTS (
    SELECT 1 FROM messages m JOIN conversations c ON c.id = m.conversation_id
    WHERE c.end_user_id = @end_user_id AND m.role = 'user' AND m.created_at > @since
)::bool AS replied;
