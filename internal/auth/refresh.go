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

// Invitation tokens have the refresh tokens' shape behind their own prefix, so that one is never
// taken for the other: "cwi_<creator uuid>.<32 random bytes, base64url>". The creator prefix lets
// the acceptance run inside the inviting workspace's tenant; the token is found by its hash.
const invitationPrefix = "cwi_"

// NewInvitationToken mints an invitation token for workspace creatorID: raw goes to the inviter
// once, hash is what the database stores.
func NewInvitationToken(creatorID uuid.UUID) (raw string, hash []byte) {
	raw, _ = NewRefreshToken(creatorID)
	raw = invitationPrefix + raw
	return raw, hashRefresh(raw)
}

// ParseInvitationToken checks the shape of a raw invitation token and returns the workspace it
// names and the hash to look it up by.
func ParseInvitationToken(raw string) (uuid.UUID, []byte, error) {
	rest, ok := strings.CutPrefix(raw, invitationPrefix)
	if !ok {
		return uuid.Nil, nil, fmt.Errorf("%w: malformed invitation token", ErrInvalidToken)
	}
	id, _, err := ParseRefreshToken(rest)
	if err != nil {
		return uuid.Nil, nil, fmt.Errorf("%w: malformed invitation token", ErrInvalidToken)
	}
	return id, hashRefresh(raw), nil
}

// API keys: "cwk_" and 32 random bytes (base64url). The database keeps their SHA-256 and the
// prefix lists show; the workspace is found from the hash (a lookup table outside row security).
const (
	apiKeyPrefix   = "cwk_"
	apiKeyShownLen = len(apiKeyPrefix) + 8
	apiKeyLen      = len(apiKeyPrefix) + 43
)

// NewAPIKey mints an API key: raw is shown to its creator once, prefix identifies it in lists,
// hash is what the database stores.
func NewAPIKey() (raw, prefix string, hash []byte) {
	b := make([]byte, refreshRandomBytes)
	_, _ = rand.Read(b)
	raw = apiKeyPrefix + base64.RawURLEncoding.EncodeToString(b)
	return raw, raw[:apiKeyShownLen], hashRefresh(raw)
}

// IsAPIKey reports whether a bearer credential has an API key's shape (rather than a JWT).
func IsAPIKey(raw string) bool { return strings.HasPrefix(raw, apiKeyPrefix) }

// ParseAPIKey checks the shape of a raw API key and returns the hash to look it up by.
func ParseAPIKey(raw string) ([]byte, error) {
	if len(raw) != apiKeyLen || !IsAPIKey(raw) {
		return nil, fmt.Errorf("%w: malformed API key", ErrInvalidToken)
	}
	if b, err := base64.RawURLEncoding.Strict().DecodeString(raw[len(apiKeyPrefix):]); err != nil || len(b) != refreshRandomBytes {
		return nil, fmt.Errorf("%w: malformed API key", ErrInvalidToken)
	}
	return hashRefresh(raw), nil
}
