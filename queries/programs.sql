-- name: InsertProgram :one
INSERT INTO programs (id, creator_id, name, keyword, steps, layout) VALUES (@id, @creator_id, @name, @keyword, @steps, coalesce(sqlc.narg(layout)::jsonb, '{}'::jsonb)) RETURNING *;

-- name: GetProgram :one
SELECT * FROM programs WHERE id = $1;

-- name: LockProgram :one
SELECT * FROM programs WHERE id = $1 FOR UPDATE;

-- name: UpdateProgram :one
-- layout NULL keeps the canvas positions the program has.
UPDATE programs SET name = @name, keyword = @keyword, steps = @steps, layout = coalesce(sqlc.narg(layout)::jsonb, layout),
    updated_at = now() WHERE id = @id RETURNING *;

-- name: SetProgramStatus :one
-- paused_at records when a program was paused; resuming clears it (see ShiftProgramEnrollments).
UPDATE programs SET status = @status, paused_at = sqlc.narg(paused_at), updated_at = now() WHERE id = @id RETURNING *;

-- name: ShiftProgramEnrollments :execrows
-- A program resumed after being paused for shift_seconds: the timelines of its active
-- enrollments that began before the pause move on by as much, so no step is missed or bunched.
UPDATE program_enrollments
SET enrolled_at = enrolled_at + make_interval(secs => @shift_seconds::float8),
    next_at = next_at + make_interval(secs => @shift_seconds::float8), updated_at = now()
WHERE program_id = @program_id AND status = 'active' AND enrolled_at < @paused_at::timestamptz;

-- name: RecheckProgramEnrollments :execrows
-- After an edit, active enrollments are looked at again on the next pass: each next step's due
-- time is recomputed from the new steps (sent if due, rescheduled otherwise).
UPDATE program_enrollments SET next_at = LEAST(next_at, @now::timestamptz), updated_at = now()
WHERE program_id = @program_id AND status = 'active';

-- name: RemapProgramEnrollments :execrows
-- After an edit that moved, added or removed steps, each enrollment not finished points at the
-- same step as before (by the step's ID): step i of the old program becomes new_next[i+1] as
-- the next step and new_last[i+1] as the last one sent (arrays are 1-based; an index out of
-- them, such as the end of the old program or -1, is kept).
UPDATE program_enrollments e
SET next_step = coalesce((sqlc.arg(new_next)::int[])[e.next_step + 1], e.next_step),
    last_step = coalesce((sqlc.arg(new_last)::int[])[e.last_step + 1], e.last_step),
    updated_at = now()
WHERE e.program_id = @program_id AND e.status IN ('active', 'paused');

-- name: ListPrograms :many
SELECT * FROM programs ORDER BY created_at DESC LIMIT @max_rows;

-- name: ProgramByKeyword :one
SELECT * FROM programs WHERE keyword <> '' AND lower(keyword) = lower(@keyword) AND status = 'active' LIMIT 1;

-- name: ProgramKeywordTaken :one
-- Whether another program that is not archived already answers to keyword (any case).
SELECT EXISTS (SELECT 1 FROM programs WHERE keyword <> '' AND lower(keyword) = lower(@keyword)
    AND status <> 'archived' AND id <> @id)::bool;

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

-- name: PauseEnrollment :one
UPDATE program_enrollments SET status = 'paused', paused_at = @now::timestamptz, lease_until = NULL,
    history = history || @entry::jsonb, updated_at = now()
WHERE id = @id RETURNING *;

-- name: ResumeEnrollment :one
-- The timeline moves on by the time it was paused (the caller computes enrolled_at and next_at).
UPDATE program_enrollments SET status = 'active', paused_at = NULL, enrolled_at = @enrolled_at, next_at = @next_at,
    lease_until = NULL, history = history || @entry::jsonb, updated_at = now()
WHERE id = @id RETURNING *;

-- name: CancelEnrollment :one
UPDATE program_enrollments SET status = 'cancelled', next_at = NULL, lease_until = NULL,
    history = history || @entry::jsonb, updated_at = now()
WHERE id = @id RETURNING *;

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
