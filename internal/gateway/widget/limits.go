package widget

// The widget's request limits (issue 9): messages per session and per end user across sockets
// and replicas, open sockets per session. Session minting is limited in Session. The counts
// live in PostgreSQL (package ratelimit), so every replica enforces one budget.

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/time/rate"

	"github.com/coachwire/coachwire/internal/auth"
	"github.com/coachwire/coachwire/internal/gateway/httpx"
	"github.com/coachwire/coachwire/internal/ratelimit"
)

// messageLimitTimeout bounds the shared message-limit check; past it the message is allowed
// by the socket's own limiter, as when the store is down.
const messageLimitTimeout = 2 * time.Second

// allowMessage counts one end-user message against its conversation and its end user, across
// sockets and replicas. When the shared store cannot be reached it allows the message (the
// socket's own limiter still applies): an outage of the limit store must not cost people their
// messages.
func (s *Server) allowMessage(ctx context.Context, c auth.WidgetClaims) bool {
	// Bounded: a PostgreSQL that hangs must not stall the socket's frames behind this check.
	ctx, cancel := context.WithTimeout(ctx, messageLimitTimeout)
	defer cancel()
	d, err := s.RateLimit.Allow(ctx,
		ratelimit.Check{Key: "widget:msg:conversation:" + c.ConversationID.String(), Rule: s.Limits.MessagesPerSession},
		ratelimit.Check{Key: "widget:msg:end-user:" + c.EndUserID.String(), Rule: s.Limits.MessagesPerEndUser})
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
	r := s.Limits.MessagesPerSession
	if r.Off() {
		return rate.NewLimiter(rate.Inf, 0)
	}
	return rate.NewLimiter(rate.Every(r.Per/time.Duration(r.N)), r.N)
}

// acquireSocket takes one of the session's socket places; the 429 when all are taken.
func (s *Server) acquireSocket(w http.ResponseWriter, r *http.Request, c auth.WidgetClaims) (func(), error) {
	release, ok, err := s.sockets.Acquire(r.Context(), "widget:conversation:"+c.ConversationID.String(), s.Limits.SocketsPerSession)
	if err != nil {
		return nil, httpx.LimitsUnavailable(w, err)
	}
	if !ok {
		w.Header().Set("Retry-After", "30")
		return nil, &httpx.Error{Status: http.StatusTooManyRequests, Code: "too_many_sockets",
			Message: "this chat is open in " + strconv.Itoa(s.Limits.SocketsPerSession) + " places already; close one and retry"}
	}
	return release, nil
}

// closeSockets stops this replica's socket holder: its sockets stop counting at once.
func (s *Server) closeSockets() {
	if s.sockets == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.sockets.Close(ctx); err != nil {
		s.Log.Warn("socket holder not removed; its sockets stop counting when its lease ends", "err", err)
	}
}
