package auth

// Refresh-token families in the database: a login starts a family (and its session row,
// auth_sessions, whose id is the family's); every refresh rotates the token inside it;
// presenting a used token revokes the whole family and its session; logout revokes both. q
// runs in the creator's tenant.

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/internal/db"
)

// RefreshRefused is a refresh the rules refuse; Code is the machine-readable reason
// ("invalid_token", or "token_reused" when the token had been used and its family was revoked).
type RefreshRefused struct {
	Code    string
	Message string
	// Family is the family revoked on reuse.
	Family uuid.UUID
}

func (e *RefreshRefused) Error() string { return e.Message }

// StoreRefresh stores a fresh refresh token of family for userID in workspace creatorID, valid
// until expires, and returns the raw token (for the client only).
func StoreRefresh(ctx context.Context, q *db.Queries, creatorID, userID, family uuid.UUID, expires time.Time) (string, error) {
	raw, hash := NewRefreshToken(creatorID)
	id, err := uuid.NewV7()
	if err != nil {
		return "", err
	}
	err = q.InsertRefreshToken(ctx, db.InsertRefreshTokenParams{ID: id, CreatorID: creatorID, UserID: userID, FamilyID: family, TokenHash: hash,
		ExpiresAt: expires})
	return raw, err
}

// lockRefreshToken takes the lock of the token's family, then reads the token (FOR UPDATE).
// Every change to a family (rotation, reuse revocation, logout) holds that lock, so a revocation
// always sees the tokens a concurrent rotation added, and a rotation always sees a revocation.
func lockRefreshToken(ctx context.Context, q *db.Queries, hash []byte) (db.RefreshToken, error) {
	family, err := q.RefreshFamilyByHash(ctx, hash)
	if err != nil {
		return db.RefreshToken{}, err
	}
	if err := q.LockRefreshFamily(ctx, family); err != nil {
		return db.RefreshToken{}, err
	}
	return q.RefreshTokenByHash(ctx, hash)
}

// RotateRefresh rotates the refresh token of hash (ParseRefreshToken) at now: it is marked used
// and a new token of the same family, valid for ttl, is returned with the user it belongs to
// and the family (the session). A token unknown, revoked or
// expired is refused; one already used is refused and its whole family revoked (the revocation
// is part of q's transaction: commit it, then answer the refusal). Two concurrent rotations of
// one token serialize on the family lock; the second counts as reuse.
func RotateRefresh(ctx context.Context, q *db.Queries, creatorID uuid.UUID, hash []byte, now time.Time, ttl time.Duration) (raw string, userID, family uuid.UUID, refused *RefreshRefused, err error) {
	rt, err := lockRefreshToken(ctx, q, hash)
	if db.IsNotFound(err) {
		return "", uuid.Nil, uuid.Nil, &RefreshRefused{Code: "invalid_token", Message: "invalid refresh token"}, nil
	}
	if err != nil {
		return "", uuid.Nil, uuid.Nil, nil, err
	}
	switch {
	case rt.RevokedAt != nil:
		return "", uuid.Nil, uuid.Nil, &RefreshRefused{Code: "invalid_token", Message: "refresh token revoked"}, nil
	case rt.UsedAt != nil:
		refused = &RefreshRefused{Code: "token_reused", Message: "refresh token already used; every session of this login was revoked",
			Family: rt.FamilyID}
		if err := q.RevokeSession(ctx, rt.FamilyID); err != nil {
			return "", uuid.Nil, uuid.Nil, nil, err
		}
		return "", uuid.Nil, uuid.Nil, refused, q.RevokeRefreshFamily(ctx, db.RevokeRefreshFamilyParams{CreatorID: creatorID, FamilyID: rt.FamilyID})
	case !now.Before(rt.ExpiresAt):
		return "", uuid.Nil, uuid.Nil, &RefreshRefused{Code: "invalid_token", Message: "refresh token expired"}, nil
	}
	if err := q.MarkRefreshTokenUsed(ctx, rt.ID); err != nil {
		return "", uuid.Nil, uuid.Nil, nil, err
	}
	raw, err = StoreRefresh(ctx, q, creatorID, rt.UserID, rt.FamilyID, now.Add(ttl))
	return raw, rt.UserID, rt.FamilyID, nil, err
}

// RevokeRefresh revokes the family of the refresh token of hash (logout); an unknown token is
// not an error.
func RevokeRefresh(ctx context.Context, q *db.Queries, creatorID uuid.UUID, hash []byte) error {
	rt, err := lockRefreshToken(ctx, q, hash)
	if db.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := q.RevokeSession(ctx, rt.FamilyID); err != nil {
		return err
	}
	return q.RevokeRefreshFamily(ctx, db.RevokeRefreshFamilyParams{CreatorID: creatorID, FamilyID: rt.FamilyID})
}
