-- The installable app (issue 16): the creator's slug and the end user's self-service.

-- name: CreatorByAppSlug :one
-- Runs before any tenant is known (the app's URL names only the slug): a SECURITY DEFINER
-- function, like widget_creator_by_key.
-- current_slug is the creator's slug now: another when the slug was retired (the app redirects).
SELECT app_creator_by_slug(@slug::text)::uuid AS creator_id, COALESCE(app_current_slug(@slug::text), '')::text AS current_slug;

-- name: AppSlugTaken :one
SELECT app_slug_taken(@slug::text) AS taken;

-- name: SetAppSlug :one
-- False when another creator has the slug.
SELECT app_set_slug(@creator_id::uuid, @slug::text) AS set;

-- name: AppSlugOf :one
SELECT COALESCE(app_slug_of(@creator_id::uuid), '')::text AS slug;

-- name: AppEnrollments :many
-- The end user's program enrollments with their program, newest first.
SELECT e.id, e.status, e.next_step, e.next_at, e.enrolled_at, e.last_step, e.last_step_at,
       p.id AS program_id, p.name AS program_name, jsonb_array_length(p.steps)::int AS step_count,
       p.status AS program_status
FROM program_enrollments e JOIN programs p ON p.id = e.program_id
WHERE e.end_user_id = @end_user_id
ORDER BY e.enrolled_at DESC
LIMIT 20;

-- name: SetEndUserTimezone :one
UPDATE end_users SET timezone = @timezone::text WHERE id = @id RETURNING *;
