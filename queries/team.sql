-- name: CreateUser :exec
SELECT auth_create_user(@id::uuid, @email::text, @password_hash::text, @name::text);

-- name: UserByEmail :one
SELECT id::uuid AS id, email::text AS email, name::text AS name, password_hash::text AS password_hash,
       last_creator_id::uuid AS last_creator_id
FROM auth_user_by_email(@email::text);

-- name: MemberProfiles :many
-- The people the transaction may see: the current workspace's members, or (AsUser) the user.
SELECT id::uuid AS id, email::text AS email, name::text AS name FROM auth_member_profiles();

-- name: SetLastWorkspace :exec
SELECT auth_set_last_workspace(@user_id::uuid);

-- name: InsertMember :one
INSERT INTO members (id, creator_id, user_id, role, can_read_messages)
VALUES ($1, $2, $3, $4, $5)
RETURNING *;

-- name: GetMember :one
SELECT * FROM members WHERE creator_id = $1 AND user_id = $2;

-- name: GetMemberForUpdate :one
SELECT * FROM members WHERE creator_id = $1 AND user_id = $2 FOR UPDATE;

-- name: ListMembers :many
SELECT * FROM members WHERE creator_id = $1 ORDER BY created_at, id;

-- name: UpdateMember :one
-- A NULL parameter keeps the column's value.
UPDATE members
SET role = COALESCE(sqlc.narg(role)::text, role),
    can_read_messages = COALESCE(sqlc.narg(can_read_messages)::boolean, can_read_messages),
    updated_at = now()
WHERE creator_id = @creator_id AND user_id = @user_id
RETURNING *;

-- name: DeleteMember :execrows
DELETE FROM members WHERE creator_id = $1 AND user_id = $2;

-- name: LockWorkspaceMembers :exec
-- Serializes changes to one workspace's members (roles, removal, ownership) until the
-- transaction ends.
SELECT pg_advisory_xact_lock(hashtextextended('members:' || sqlc.arg(creator_id)::uuid::text, 0));

-- name: UserWorkspaces :many
-- A user's memberships across workspaces, with each workspace's name (AsUser only).
SELECT m.creator_id, m.id AS member_id, m.role, m.can_read_messages, c.name, m.created_at
FROM members m JOIN creators c ON c.id = m.creator_id
WHERE m.user_id = $1
ORDER BY m.created_at, m.creator_id;

-- name: RevokeMemberRefreshTokens :exec
UPDATE refresh_tokens SET revoked_at = now()
WHERE creator_id = $1 AND user_id = $2 AND revoked_at IS NULL;

-- name: InsertInvitation :one
INSERT INTO invitations (id, creator_id, email, role, can_read_messages, token_hash, invited_by, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
RETURNING *;

-- name: InvitationByHash :one
SELECT * FROM invitations WHERE token_hash = $1 FOR UPDATE;

-- name: ListPendingInvitations :many
SELECT * FROM invitations
WHERE creator_id = $1 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > now()
ORDER BY created_at DESC, id;

-- name: AcceptInvitation :exec
UPDATE invitations SET accepted_at = now(), accepted_by = $2 WHERE id = $1;

-- name: RevokeInvitation :execrows
UPDATE invitations SET revoked_at = now()
WHERE creator_id = $1 AND id = $2 AND accepted_at IS NULL AND revoked_at IS NULL;

-- name: InsertAPIKey :one
INSERT INTO api_keys (id, creator_id, name, role, prefix, token_hash, created_by)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING *;

-- name: RegisterAPIKey :exec
SELECT api_key_register(@creator_id::uuid, @token_hash::bytea);

-- name: APIKeyCreator :one
SELECT api_key_creator(@token_hash::bytea)::uuid AS creator_id;

-- name: APIKeyByHash :one
SELECT * FROM api_keys WHERE token_hash = $1;

-- name: TouchAPIKey :exec
-- Records a use at most once a minute, so a busy key does not write on every request.
UPDATE api_keys SET last_used_at = now()
WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute');

-- name: ListAPIKeys :many
SELECT * FROM api_keys WHERE creator_id = $1 ORDER BY created_at DESC, id;

-- name: RevokeAPIKey :execrows
UPDATE api_keys SET revoked_at = now() WHERE creator_id = $1 AND id = $2 AND revoked_at IS NULL;

-- name: MemberProfile :one
SELECT id::uuid AS id, email::text AS email, name::text AS name FROM auth_member_profiles() WHERE id = @user_id::uuid;

-- name: GetAPIKey :one
SELECT * FROM api_keys WHERE id = $1;

-- name: RevokeMemberAPIKeys :execrows
-- The keys a removed member created stop working with their membership.
UPDATE api_keys SET revoked_at = now()
WHERE creator_id = $1 AND created_by = @user_id::uuid AND revoked_at IS NULL;
