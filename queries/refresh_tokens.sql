-- name: InsertRefreshToken :exec
INSERT INTO refresh_tokens (id, creator_id, user_id, family_id, token_hash, expires_at)
VALUES ($1, $2, $3, $4, $5, $6);

-- name: RefreshTokenByHash :one
SELECT * FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE;

-- name: MarkRefreshTokenUsed :exec
UPDATE refresh_tokens SET used_at = now() WHERE id = $1;

-- name: RevokeRefreshFamily :exec
UPDATE refresh_tokens SET revoked_at = now()
WHERE creator_id = $1 AND family_id = $2 AND revoked_at IS NULL;

-- name: RefreshFamilyByHash :one
-- The family of a token, read without locking so the family lock can be taken first.
SELECT family_id FROM refresh_tokens WHERE token_hash = $1;

-- name: LockRefreshFamily :exec
-- Serializes every change to one refresh-token family until the transaction ends: rotation,
-- reuse revocation and logout. Without it a revocation could miss a token that a concurrent
-- rotation of the same family commits while the revoking UPDATE runs.
SELECT pg_advisory_xact_lock(hashtextextended(sqlc.arg(family_id)::uuid::text, 0));
