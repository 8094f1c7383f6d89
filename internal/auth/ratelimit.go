package auth

import (
	"context"
	"net/netip"
	"strings"
	"time"

	"github.com/coachwire/coachwire/internal/config"
	"github.com/coachwire/coachwire/internal/ratelimit"
)

// LoginLimits configures a LoginLimiter. Zero rules take the defaults (DefaultLoginLimits).
type LoginLimits struct {
	// PerIP limits attempts per client address, IPv6 per /64, whatever the email.
	PerIP ratelimit.Rule
	// PerEmailIP limits attempts for one email from one client address: the lock-out a guesser
	// from one address meets.
	PerEmailIP ratelimit.Rule
	// PerEmail is the slower global limit of attempts for one email from addresses it has not
	// logged in from: it slows a guesser spread over many addresses, and cannot keep the owner
	// out from an address they logged in from before.
	PerEmail ratelimit.Rule
	// TrustFor is how long a successful login (or registration) from an address exempts that
	// address from the PerEmail limit of that email.
	TrustFor time.Duration
}

// DefaultLoginLimits are the limits when none are configured: config's (COACHWIRE_LIMIT_LOGIN_*,
// COACHWIRE_LOGIN_TRUST).
var DefaultLoginLimits = LoginLimits{
	PerIP:      config.LimitDefaults.LoginsPerIP,
	PerEmailIP: config.LimitDefaults.LoginsPerEmailIP,
	PerEmail:   config.LimitDefaults.LoginsPerEmail,
	TrustFor:   config.LimitDefaults.LoginTrust,
}

// WithDefaults fills zero fields from DefaultLoginLimits.
func (l LoginLimits) WithDefaults() LoginLimits {
	d := DefaultLoginLimits
	if l.PerIP == (ratelimit.Rule{}) {
		l.PerIP = d.PerIP
	}
	if l.PerEmailIP == (ratelimit.Rule{}) {
		l.PerEmailIP = d.PerEmailIP
	}
	if l.PerEmail == (ratelimit.Rule{}) {
		l.PerEmail = d.PerEmail
	}
	if l.TrustFor <= 0 {
		l.TrustFor = d.TrustFor
	}
	return l
}

// LoginStore is where login attempts are counted: package ratelimit's PostgreSQL limiter, shared
// by every gateway replica.
type LoginStore interface {
	Allow(ctx context.Context, checks ...ratelimit.Check) (ratelimit.Decision, error)
	Mark(ctx context.Context, key string, ttl time.Duration) error
	Marked(ctx context.Context, key string) (bool, error)
}

// LoginLimiter limits login attempts, every attempt counting, successful or not:
//
//   - per client address (any email): a guesser trying many accounts;
//   - per (email, client address): a guesser of one account from one address is locked out
//     there, and only there: the owner's own address keeps its budget;
//   - per email, slower, for addresses the email has not logged in from: a guesser spread over
//     many addresses is slowed to PerEmail overall. An address the owner logged in (or
//     registered) from within TrustFor is exempt, so no attacker can keep the owner out of an
//     address they use (the device-cookie scheme of OWASP's guessing-attack advice, keyed by
//     address because the API has no cookies). A first login from a new address may wait
//     while an attack runs; the owner's refresh tokens keep working meanwhile.
//
// The counts live in the shared store: one budget across gateway replicas.
type LoginLimiter struct {
	limits LoginLimits
	store  LoginStore
}

// NewLoginLimiter builds a limiter over store.
func NewLoginLimiter(l LoginLimits, store LoginStore) *LoginLimiter {
	return &LoginLimiter{limits: l.WithDefaults(), store: store}
}

// Allow records one login attempt from client address ip for email. When a limit is exhausted
// it consumes nothing and returns false with the time to wait.
func (l *LoginLimiter) Allow(ctx context.Context, ip, email string) (bool, time.Duration, error) {
	ipk, ek := IPKey(ip), EmailKey(email)
	checks := []ratelimit.Check{{Key: "login:ip:" + ipk, Rule: l.limits.PerIP}}
	if ek != "" {
		checks = append(checks, ratelimit.Check{Key: "login:email-ip:" + ek + "|" + ipk, Rule: l.limits.PerEmailIP})
		trusted, err := l.store.Marked(ctx, trustKey(ek, ipk))
		if err != nil {
			return false, 0, err
		}
		if !trusted {
			checks = append(checks, ratelimit.Check{Key: "login:email:" + ek, Rule: l.limits.PerEmail})
		}
	}
	d, err := l.store.Allow(ctx, checks...)
	if err != nil {
		return false, 0, err
	}
	return d.Allowed, d.RetryAfter, nil
}

// Succeeded records that email authenticated from ip: that address is exempt from the email's
// global limit for TrustFor.
func (l *LoginLimiter) Succeeded(ctx context.Context, ip, email string) error {
	return l.store.Mark(ctx, trustKey(EmailKey(email), IPKey(ip)), l.limits.TrustFor)
}

func trustKey(email, ip string) string { return "login:trusted:" + email + "|" + ip }

// EmailKey is the normalized form of an email for limiting and comparison.
func EmailKey(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// IPKey reduces a client address (host or host:port) to what one client controls: the IPv4
// address, or the /64 of an IPv6 address.
func IPKey(addr string) string {
	addr = strings.TrimSpace(addr)
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		addr = ap.Addr().String()
	}
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}
