-- name: InsertRefreshToken :exec
INSERT INTO refresh_tokens (id, creator_id, family_id, token_hash, expires_at)
VALUES ($1, $2, $3, $4, $5);

-- name: RefreshTokenByHash :one
SELECT * FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE;

-- name: MarkRefreshTokenUsed :exec
UPDATE refresh_tokens SET used_at = now() WHERE id = $1;

-- name: RevokeRefreshFamily :exec
UPDATE refresh_tokens SET revoked_at = now()
WHERE creator_id = $1 AND family_id = $2 AND revoked_at IS NULL;
