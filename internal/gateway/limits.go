package gateway

// Request limits (issue 9): widget messages per session and per end user across sockets and
// replicas, open sockets per session, widget session minting per client address and per widget
// key, registrations per client address, and login attempts (auth.LoginLimiter). The counts
// live in PostgreSQL (package ratelimit), so every replica enforces one budget.

import (
	"context"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/realclientip/realclientip-go"
	"golang.org/x/time/rate"

	"github.com/coachwire/coachwire/internal/auth"
	"github.com/coachwire/coachwire/internal/config"
	"github.com/coachwire/coachwire/internal/ratelimit"
)

type limits struct {
	cfg     config.Limits
	rl      *ratelimit.Limiter
	sockets *ratelimit.Sockets
	logins  *auth.LoginLimiter
	proxies []netip.Prefix
	xff     realclientip.Strategy
}

func newLimits(d Deps) *limits {
	var cfg config.Limits
	if d.Config != nil {
		cfg = d.Config.Limits
	}
	cfg = cfg.WithDefaults()
	l := &limits{cfg: cfg, proxies: cfg.TrustedProxies}
	if len(cfg.TrustedProxies) > 0 {
		nets := make([]net.IPNet, 0, len(cfg.TrustedProxies))
		for _, p := range cfg.TrustedProxies {
			nets = append(nets, net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())})
		}
		l.xff = realclientip.Must(realclientip.NewRightmostTrustedRangeStrategy("X-Forwarded-For", nets))
	}
	if d.Store != nil {
		l.rl = ratelimit.New(d.Store, d.Now)
		l.sockets = ratelimit.NewSockets(d.Store, d.Now, d.Log, 0)
		l.logins = auth.NewLoginLimiter(auth.LoginLimits{
			PerIP: cfg.LoginsPerIP, PerEmailIP: cfg.LoginsPerEmailIP, PerEmail: cfg.LoginsPerEmail, TrustFor: cfg.LoginTrust,
		}, l.rl)
	}
	return l
}

// clientIP is the address of the client that sent r: the peer, or, when the peer is a trusted
// proxy, the rightmost X-Forwarded-For address that is not a trusted proxy. X-Forwarded-For
// from any other peer is ignored (anyone can write it).
func (s *Server) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || s.limits.xff == nil {
		return host
	}
	peer = peer.Unmap().WithZone("")
	for _, p := range s.limits.proxies {
		if p.Contains(peer) {
			if ip := s.limits.xff.ClientIP(r.Header, r.RemoteAddr); ip != "" {
				return ip
			}
			return host
		}
	}
	return host
}

// errRateLimited is the 429 for a refused request, with Retry-After in whole seconds.
func errRateLimited(w http.ResponseWriter, wait time.Duration, msg string) error {
	w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(max(wait, time.Second).Seconds()))))
	return errTooMany(msg)
}

// errLimitsUnavailable is the answer when the shared limit store cannot be reached: the request
// is not served unlimited.
func errLimitsUnavailable(w http.ResponseWriter, err error) error {
	w.Header().Set("Retry-After", "5")
	return &apiError{Status: http.StatusServiceUnavailable, Code: "unavailable", Message: "temporarily unavailable, retry shortly", Err: err}
}

// limitHTTP counts r against checks (all or none) and returns the 429 or 503 to answer when it
// may not proceed.
func (s *Server) limitHTTP(w http.ResponseWriter, r *http.Request, msg string, checks ...ratelimit.Check) error {
	d, err := s.limits.rl.Allow(r.Context(), checks...)
	if err != nil {
		return errLimitsUnavailable(w, err)
	}
	if !d.Allowed {
		return errRateLimited(w, d.RetryAfter, msg)
	}
	return nil
}

// widgetLimitTimeout bounds the shared message-limit check; past it the message is allowed
// by the socket's own limiter, as when the store is down.
const widgetLimitTimeout = 2 * time.Second

// allowWidgetMessage counts one end-user message against its conversation and its end user,
// across sockets and replicas. When the shared store cannot be reached it allows the message
// (the socket's own limiter still applies): an outage of the limit store must not cost people
// their messages.
func (s *Server) allowWidgetMessage(ctx context.Context, c auth.WidgetClaims) bool {
	// Bounded: a PostgreSQL that hangs must not stall the socket's frames behind this check.
	ctx, cancel := context.WithTimeout(ctx, widgetLimitTimeout)
	defer cancel()
	d, err := s.limits.rl.Allow(ctx,
		ratelimit.Check{Key: "widget:msg:conversation:" + c.ConversationID.String(), Rule: s.limits.cfg.WidgetMessagesPerSession},
		ratelimit.Check{Key: "widget:msg:end-user:" + c.EndUserID.String(), Rule: s.limits.cfg.WidgetMessagesPerEndUser})
	if err != nil {
		s.Log.Warn("widget message limit unavailable; allowed by the socket's own limit", "err", err)
		return true
	}
	return d.Allowed
}

// socketMessageLimiter is a socket's own limiter: the configured session rate, applied before
// the shared one (it bounds the shared store's load per socket and stands in when the store is
// unreachable).
func (s *Server) socketMessageLimiter() *rate.Limiter {
	r := s.limits.cfg.WidgetMessagesPerSession
	if r.Off() {
		return rate.NewLimiter(rate.Inf, 0)
	}
	return rate.NewLimiter(rate.Every(r.Per/time.Duration(r.N)), r.N)
}

// acquireSocket takes one of the session's socket places; the 429 when all are taken.
func (s *Server) acquireSocket(w http.ResponseWriter, r *http.Request, c auth.WidgetClaims) (func(), error) {
	release, ok, err := s.limits.sockets.Acquire(r.Context(), "widget:conversation:"+c.ConversationID.String(), s.limits.cfg.WidgetSocketsPerSession)
	if err != nil {
		return nil, errLimitsUnavailable(w, err)
	}
	if !ok {
		w.Header().Set("Retry-After", "30")
		return nil, &apiError{Status: http.StatusTooManyRequests, Code: "too_many_sockets",
			Message: "this chat is open in " + strconv.Itoa(s.limits.cfg.WidgetSocketsPerSession) + " places already; close one and retry"}
	}
	return release, nil
}

// closeLimits stops this replica's socket holder: its sockets stop counting at once.
func (s *Server) closeLimits() {
	if s.limits.sockets == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.limits.sockets.Close(ctx); err != nil {
		s.Log.Warn("socket holder not removed; its sockets stop counting when its lease ends", "err", err)
	}
}
