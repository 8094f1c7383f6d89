package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/google/uuid"
)

// refreshRandomBytes is the entropy of a refresh token.
const refreshRandomBytes = 32

// NewRefreshToken mints a refresh token for creatorID: raw is "<creator uuid>.<32 random bytes,
// base64url>" and goes to the client only; hash (SHA-256 of raw) is what the database stores.
// The creator prefix lets the refresh run inside the creator's tenant; it grants nothing by
// itself, since the token is found by its hash.
func NewRefreshToken(creatorID uuid.UUID) (raw string, hash []byte) {
	b := make([]byte, refreshRandomBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it crashes the program instead)
	raw = creatorID.String() + "." + base64.RawURLEncoding.EncodeToString(b)
	return raw, hashRefresh(raw)
}

// ParseRefreshToken checks the shape of a raw refresh token and returns the creator it names and
// the hash to look it up by. It does not say whether the token exists, is unexpired or unused.
func ParseRefreshToken(raw string) (uuid.UUID, []byte, error) {
	prefix, secret, ok := strings.Cut(raw, ".")
	if !ok || len(prefix) != 36 {
		return uuid.Nil, nil, fmt.Errorf("%w: malformed refresh token", ErrInvalidToken)
	}
	id, err := uuid.Parse(prefix)
	if err != nil || id == uuid.Nil || id.String() != prefix {
		return uuid.Nil, nil, fmt.Errorf("%w: malformed refresh token", ErrInvalidToken)
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(secret)
	if err != nil || len(b) != refreshRandomBytes {
		return uuid.Nil, nil, fmt.Errorf("%w: malformed refresh token", ErrInvalidToken)
	}
	return id, hashRefresh(raw), nil
}

func hashRefresh(raw string) []byte {
	sum := sha256.Sum256([]byte(raw))
	return sum[:]
}
