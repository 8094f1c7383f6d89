-- name: InsertSession :exec
INSERT INTO auth_sessions (id, creator_id, user_id, member_id, user_agent, ip, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7);

-- name: TouchSession :one
-- A refresh of the session's family: its last use and expiry move on; answers whether it was
-- revoked (no row: a family older than sessions).
UPDATE auth_sessions
SET last_used_at = now(), expires_at = @expires_at,
    user_agent = CASE WHEN @user_agent::text = '' THEN user_agent ELSE @user_agent::text END,
    ip = CASE WHEN @ip::text = '' THEN ip ELSE @ip::text END
WHERE id = @id
RETURNING revoked_at;

-- name: RevokeSession :exec
UPDATE auth_sessions SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL;

-- name: MemberSession :one
-- The membership an access token names, and whether its session is still open (authenticate).
SELECT m.id, m.role, m.can_read_messages,
       EXISTS (SELECT 1 FROM auth_sessions s
               WHERE s.id = @session_id AND s.user_id = m.user_id AND s.revoked_at IS NULL) AS session_open
FROM members m
WHERE m.creator_id = @creator_id AND m.user_id = @user_id;

-- name: UserSessions :many
-- A person's open sessions across workspaces (AsUser), each with its workspace's name; a session
-- of a membership that was removed is not listed.
SELECT s.id, s.creator_id, c.name AS workspace, s.user_agent, s.ip, s.created_at, s.last_used_at, s.expires_at
FROM auth_sessions s
JOIN members m ON m.id = s.member_id AND m.user_id = s.user_id
JOIN creators c ON c.id = s.creator_id
WHERE s.user_id = @user_id AND s.revoked_at IS NULL AND s.expires_at > now()
ORDER BY s.last_used_at DESC, s.id;

-- name: UserSession :one
-- One of a person's sessions (AsUser), to revoke it.
SELECT id, creator_id, revoked_at FROM auth_sessions WHERE id = @id AND user_id = @user_id;

-- name: RevokeUserSessions :many
-- Revokes a person's sessions (AsUser), all of them or all but keep; answers the workspaces
-- they were in.
UPDATE auth_sessions SET revoked_at = now()
WHERE user_id = @user_id AND revoked_at IS NULL AND id IS DISTINCT FROM sqlc.narg(keep)::uuid
RETURNING creator_id;

-- name: RevokeUserRefreshTokens :exec
-- Revokes a person's refresh tokens in the workspace, all of them or all but the family keep.
UPDATE refresh_tokens SET revoked_at = now()
WHERE creator_id = @creator_id AND user_id = @user_id AND revoked_at IS NULL
  AND family_id IS DISTINCT FROM sqlc.narg(keep)::uuid;

-- name: SetPassword :exec
SELECT auth_set_password(@user_id::uuid, @password_hash::text);
