package gateway

// Request limits (issue 9) of the creator API: registrations per client address and login
// attempts (auth.LoginLimiter); the widget's limits (sessions, messages, sockets) are package
// widget's, counted in the same store. The counts live in PostgreSQL (package ratelimit), so
// every replica enforces one budget.

import (
	"net/http"

	"github.com/coachwire/coachwire/internal/auth"
	"github.com/coachwire/coachwire/internal/config"
	"github.com/coachwire/coachwire/internal/gateway/httpx"
	"github.com/coachwire/coachwire/internal/ratelimit"
)

type limits struct {
	cfg    config.Limits
	rl     *ratelimit.Limiter
	logins *auth.LoginLimiter
	addr   *httpx.ClientAddr
}

func newLimits(d Deps) *limits {
	var cfg config.Limits
	if d.Config != nil {
		cfg = d.Config.Limits
	}
	cfg = cfg.WithDefaults()
	l := &limits{cfg: cfg, addr: httpx.NewClientAddr(cfg.TrustedProxies)}
	if d.Store != nil {
		l.rl = ratelimit.New(d.Store, d.Now)
		l.logins = auth.NewLoginLimiter(auth.LoginLimits{
			PerIP: cfg.LoginsPerIP, PerEmailIP: cfg.LoginsPerEmailIP, PerEmail: cfg.LoginsPerEmail, TrustFor: cfg.LoginTrust,
		}, l.rl)
	}
	return l
}

// clientIP is the address of the client that sent r (httpx.ClientAddr: X-Forwarded-For only
// from a trusted proxy).
func (s *Server) clientIP(r *http.Request) string { return s.limits.addr.Of(r) }

// limitHTTP counts r against checks (all or none) and returns the 429 or 503 to answer when it
// may not proceed.
func (s *Server) limitHTTP(w http.ResponseWriter, r *http.Request, msg string, checks ...ratelimit.Check) error {
	return httpx.Limit(w, r, s.limits.rl, msg, checks...)
}
