package gateway_test

import (
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/coachwire/coachwire/internal/config"
)

// TestLoginLockoutIsPerAddress (issue 9, defect 5): wrong passwords from one address lock that
// address out of the account, not the owner at theirs; the slower per-email limit still stops a
// guesser that moves between addresses. Clients are told apart by X-Forwarded-For from a
// trusted proxy (the test server's peer, 127.0.0.1).
func TestLoginLockoutIsPerAddress(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{limits: &config.Limits{
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
		LoginsPerEmail: config.Rate{N: 8, Per: time.Hour},
	}})
	owner := "198.51.100.10"
	email := uniqueEmail()
	if r := e.do(t, "POST", "/api/v1/auth/register", map[string]string{"email": email, "password": goodPassword, "name": "Owner"},
		"X-Forwarded-For", owner); r.status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
	login := func(from, password string) resp {
		return e.do(t, "POST", "/api/v1/auth/login", map[string]string{"email": email, "password": password}, "X-Forwarded-For", from)
	}

	// One attacker address: 5 wrong passwords, then locked out there (even with the right one).
	for i := range 5 {
		if r := login("203.0.113.1", "wrong password"); r.status != http.StatusUnauthorized {
			t.Fatalf("attacker attempt %d: %d %s", i+1, r.status, r.body)
		}
	}
	for _, pw := range []string{"wrong password", goodPassword} {
		r := login("203.0.113.1", pw)
		if r.status != http.StatusTooManyRequests || r.code(t) != "rate_limited" || r.header.Get("Retry-After") == "" {
			t.Fatalf("attacker after 5 attempts: %d %s (Retry-After %q)", r.status, r.body, r.header.Get("Retry-After"))
		}
	}
	// The owner, at their address, is not locked out.
	if r := login(owner, goodPassword); r.status != http.StatusOK {
		t.Fatalf("owner locked out by an attacker at another address: %d %s", r.status, r.body)
	}

	// A guesser spread over many addresses: each address has budget left, the email's global
	// limit (8 per hour for addresses it never logged in from, 5 used above) does not.
	guesses, refused := 0, 0
	for i := range 10 {
		from := netip.AddrFrom4([4]byte{203, 0, 113, byte(20 + i)}).String()
		switch r := login(from, "wrong password"); r.status {
		case http.StatusUnauthorized:
			guesses++
		case http.StatusTooManyRequests:
			refused++
		default:
			t.Fatalf("distributed attempt: %d %s", r.status, r.body)
		}
	}
	if guesses != 3 || refused != 7 {
		t.Fatalf("distributed guesser: %d guesses checked, %d refused; want 3 and 7", guesses, refused)
	}
	// The owner still gets in from their address; behind the proxy, at 127.0.0.1 itself, the
	// proxy's own address does not stand for the owner.
	if r := login(owner, goodPassword); r.status != http.StatusOK {
		t.Fatalf("owner during a distributed attack: %d %s", r.status, r.body)
	}
	if r := login("198.51.100.99", goodPassword); r.status != http.StatusTooManyRequests {
		t.Fatalf("a new address during the attack is not slowed: %d %s", r.status, r.body)
	}
}

// TestForwardedForIgnoredFromUntrustedPeers: without trusted proxies, X-Forwarded-For is the
// client's own claim and buys no fresh budget.
func TestForwardedForIgnoredFromUntrustedPeers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{limits: &config.Limits{RegistrationsPerIP: config.Rate{N: -1}, LoginsPerIP: config.Rate{N: -1}}})
	email := uniqueEmail()
	e.register(t, email)
	for i := range 7 {
		xff := netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}).String()
		r := e.do(t, "POST", "/api/v1/auth/login", map[string]string{"email": email, "password": "wrong password"}, "X-Forwarded-For", xff)
		want := http.StatusUnauthorized
		if i >= 5 {
			want = http.StatusTooManyRequests
		}
		if r.status != want {
			t.Fatalf("attempt %d with a spoofed X-Forwarded-For: %d, want %d: %s", i+1, r.status, want, r.body)
		}
	}
}
