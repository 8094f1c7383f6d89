// Package auth is coachwire's credential toolbox: it signs and verifies creator access tokens
// and widget session tokens (Ed25519 JWTs with a rotating keyset), hashes and checks creator
// passwords (bcrypt), mints and parses refresh tokens, and decides which login attempts count
// against which limits (LoginLimiter, over a store it is given).
//
// It is pure computation over keys held in memory and the key file it is given. It must never
// touch the database itself, the network or the request (handlers in package gateway do that); never
// log, return or wrap a secret (a password, a raw refresh token, a key seed) in an error; never
// accept a token whose signature, algorithm (EdDSA only), key id, issuer, audience and expiry
// have not all been checked; and never let one token kind pass for another (an access token is
// not a widget token and vice versa).
package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/coachwire/coachwire/internal/config"
)

// Audiences of the two token kinds. A token carries exactly one and is verified against it.
const (
	AudienceAPI    = "coachwire-api"
	AudienceWidget = "coachwire-widget"
)

// Issuer is the iss coachwire's processes sign with. It names the deployment, not a gateway's
// address, so a token one gateway replica issued is accepted by every other replica that reads
// the same key file (an issuer derived from each gateway's listen address got such tokens a 401).
const Issuer = "coachwire"

// leeway is the clock skew tolerated on exp and iat.
const leeway = 10 * time.Second

// Options configures a Service. Zero durations and cost take the documented defaults.
type Options struct {
	// KeyFile is the JSON keyset (see LoadKeyFile). It is created with one fresh key when missing.
	KeyFile string
	// Issuer is the iss of every token issued and required on every token verified (the app
	// passes the constant Issuer).
	Issuer string
	// AcceptIssuers are further iss values accepted on verification, never issued: the issuer an
	// older version signed with, so tokens issued before an upgrade keep working until they expire.
	AcceptIssuers []string
	// AccessTTL is the lifetime of creator access tokens (default 15m).
	AccessTTL time.Duration
	// RefreshTTL is the lifetime of refresh tokens (default 30 days).
	RefreshTTL time.Duration
	// WidgetTTL is the lifetime of widget session tokens (default 30m).
	WidgetTTL time.Duration
	// BcryptCost is the bcrypt work factor (default bcrypt.DefaultCost; 4..31).
	BcryptCost int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Service issues and verifies tokens and passwords. It is safe for concurrent use.
type Service struct {
	opts      Options
	keys      *keySet
	dummyHash []byte
}

// Errors callers may test for with errors.Is. Their messages are safe to show to clients.
var (
	ErrInvalidToken     = errors.New("auth: invalid token")
	ErrPasswordTooShort = fmt.Errorf("auth: password must be at least %d characters", MinPasswordChars)
	ErrPasswordTooLong  = fmt.Errorf("auth: password must be at most %d bytes", MaxPasswordBytes)
)

// New loads (or creates) the keyset and prepares the password hasher.
func New(o Options) (*Service, error) {
	if o.KeyFile == "" {
		return nil, errors.New("auth: no key file configured (COACHWIRE_JWT_KEY_FILE or <data>/keys/jwt.json)")
	}
	if o.Issuer == "" {
		return nil, errors.New("auth: no token issuer configured")
	}
	// The app passes config's settings; zero fields (a Service built in a test) take config's
	// defaults.
	if o.AccessTTL <= 0 {
		o.AccessTTL = config.DefaultAccessTokenTTL
	}
	if o.RefreshTTL <= 0 {
		o.RefreshTTL = config.DefaultRefreshTokenTTL
	}
	if o.WidgetTTL <= 0 {
		o.WidgetTTL = config.DefaultWidgetTokenTTL
	}
	if o.BcryptCost == 0 {
		o.BcryptCost = config.DefaultBcryptCost
	}
	if o.BcryptCost < minBcryptCost || o.BcryptCost > maxBcryptCost {
		return nil, fmt.Errorf("auth: bcrypt cost %d out of range %d..%d", o.BcryptCost, minBcryptCost, maxBcryptCost)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	ks, err := loadOrCreateKeyFile(o.KeyFile)
	if err != nil {
		return nil, err
	}
	s := &Service{opts: o, keys: ks}
	if s.dummyHash, err = newDummyHash(o.BcryptCost); err != nil {
		return nil, err
	}
	return s, nil
}

// AccessTTL is the lifetime of access tokens.
func (s *Service) AccessTTL() time.Duration { return s.opts.AccessTTL }

// RefreshTTL is the lifetime of refresh tokens.
func (s *Service) RefreshTTL() time.Duration { return s.opts.RefreshTTL }

// WidgetTTL is the lifetime of widget session tokens.
func (s *Service) WidgetTTL() time.Duration { return s.opts.WidgetTTL }

// Now is the service's clock.
func (s *Service) Now() time.Time { return s.opts.Now() }
