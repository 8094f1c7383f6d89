package auth

import (
	"crypto/rand"
	"fmt"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

// Password policy. bcrypt reads at most 72 bytes, so longer passwords are refused rather than
// silently truncated.
const (
	MinPasswordChars = 8
	MaxPasswordBytes = 72

	minBcryptCost = bcrypt.MinCost
	maxBcryptCost = bcrypt.MaxCost
)

// ValidatePassword applies the password policy: at least MinPasswordChars characters and at most
// MaxPasswordBytes bytes of UTF-8. It returns ErrPasswordTooShort or ErrPasswordTooLong.
func ValidatePassword(password string) error {
	switch {
	case len(password) > MaxPasswordBytes:
		return ErrPasswordTooLong
	case utf8.RuneCountInString(password) < MinPasswordChars:
		return ErrPasswordTooShort
	}
	return nil
}

// HashPassword validates password against the policy and returns its bcrypt hash.
func (s *Service) HashPassword(password string) (string, error) {
	if err := ValidatePassword(password); err != nil {
		return "", err
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), s.opts.BcryptCost)
	if err != nil {
		return "", fmt.Errorf("auth: hash password: %w", err)
	}
	return string(h), nil
}

// CheckPassword reports whether password matches hash. With an empty hash (no such account) it
// compares against a dummy hash of the same cost and returns false, so that a login for an
// unknown email costs the same time as a wrong password.
func (s *Service) CheckPassword(hash, password string) bool {
	h := []byte(hash)
	if hash == "" {
		h = s.dummyHash
	}
	// Passwords over 72 bytes can never have been stored; still pay for one comparison.
	pw := []byte(password)
	if len(pw) > MaxPasswordBytes {
		pw = pw[:MaxPasswordBytes]
		_ = bcrypt.CompareHashAndPassword(h, pw)
		return false
	}
	return bcrypt.CompareHashAndPassword(h, pw) == nil && hash != ""
}

func newDummyHash(cost int) ([]byte, error) {
	pw := make([]byte, 32)
	if _, err := rand.Read(pw); err != nil {
		return nil, err
	}
	// Random bytes may include NUL, which bcrypt accepts; nobody knows them anyway.
	h, err := bcrypt.GenerateFromPassword(pw, cost)
	if err != nil {
		return nil, fmt.Errorf("auth: dummy hash: %w", err)
	}
	return h, nil
}
