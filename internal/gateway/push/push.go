// Package push serves the app channel's Web Push routes to end users (issue 16): the
// deployment's VAPID public key, and registering and removing a device's push subscription.
// Every route is authenticated by the app's (the widget's) session token, "Authorization:
// Bearer <token>": the token names creator, end user and conversation, so a person can only
// ever register devices for themselves, in their creator's tenant.
package push

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/auth"
	"github.com/coachwire/coachwire/internal/channels/webpush"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/gateway/httpx"
)

// Deps is what the push routes use.
type Deps struct {
	Store *db.Store
	Auth  *auth.Service
	Log   *slog.Logger
	// PublicKey is the deployment's VAPID public key (base64url), "" when push is not set up.
	PublicKey string
	// AllowOrigins are push service origins accepted over plain http (tests only).
	AllowOrigins []string
}

// Server serves the push routes.
type Server struct{ Deps }

// New builds the push routes' server.
func New(d Deps) *Server {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	return &Server{Deps: d}
}

// session checks the Bearer session token.
func (s *Server) session(r *http.Request) (auth.WidgetClaims, error) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return auth.WidgetClaims{}, httpx.Unauthorized("missing session token (Authorization: Bearer <token> of POST /api/v1/app/session)")
	}
	c, err := s.Auth.VerifyWidget(strings.TrimSpace(tok))
	if err != nil {
		return auth.WidgetClaims{}, httpx.Unauthorized("invalid session token")
	}
	return c, nil
}

func (s *Server) configured() error {
	if s.PublicKey == "" {
		return &httpx.Error{Status: http.StatusServiceUnavailable, Code: "push_unavailable", Message: "web push is not set up on this server"}
	}
	return nil
}

// Key answers GET /api/v1/app/push/key: {public_key}, the applicationServerKey to subscribe with.
func (s *Server) Key(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.session(r); err != nil {
		return err
	}
	if err := s.configured(); err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "private, max-age=3600")
	httpx.WriteJSON(w, http.StatusOK, map[string]string{"public_key": s.PublicKey})
	return nil
}

type subscriptionKeys struct {
	P256dh string `json:"p256dh"`
	Auth   string `json:"auth"`
}

type subscribeRequest struct {
	Endpoint string           `json:"endpoint"`
	Keys     subscriptionKeys `json:"keys"`
	Device   string           `json:"device"`
	// ExpirationTime is PushSubscription.toJSON's field, accepted and ignored so the app can
	// post the subscription as the browser gives it.
	ExpirationTime *float64 `json:"expirationTime"`
}

// Subscription is a registered device as the API shows it.
type Subscription struct {
	ID       uuid.UUID `json:"id"`
	Endpoint string    `json:"endpoint"`
	Device   string    `json:"device"`
}

// Subscribe answers POST /api/v1/app/push/subscriptions: registers (or refreshes: idempotent
// per endpoint) a device of the session's end user. 201 when new, 200 when it was known. An end
// user keeps at most webpush.MaxPerEndUser devices: a new one replaces the oldest.
func (s *Server) Subscribe(w http.ResponseWriter, r *http.Request) error {
	c, err := s.session(r)
	if err != nil {
		return err
	}
	if err := s.configured(); err != nil {
		return err
	}
	var req subscribeRequest
	if err := httpx.ReadJSON(w, r, &req); err != nil {
		return err
	}
	req.Device = strings.TrimSpace(req.Device)
	if len([]rune(req.Device)) > webpush.MaxDeviceLen {
		return httpx.BadRequest("bad_device", "device: at most 120 characters")
	}
	sub := webpush.Subscription{Endpoint: strings.TrimSpace(req.Endpoint), P256dh: req.Keys.P256dh, Auth: req.Keys.Auth}
	if err := webpush.Validate(sub, s.AllowOrigins); err != nil {
		return httpx.BadRequest("bad_subscription", strings.TrimPrefix(err.Error(), webpush.ErrInvalid.Error()+": "))
	}
	var (
		row     db.PushSubscription
		created bool
	)
	err = s.Store.InTenant(r.Context(), c.CreatorID, func(q *db.Queries) error {
		eu, err := q.GetEndUser(r.Context(), c.EndUserID)
		if db.IsNotFound(err) {
			return httpx.Unauthorized("the session's end user no longer exists")
		}
		if err != nil {
			return err
		}
		if eu.Channel != events.ChannelApp {
			return httpx.Forbidden("push notifications are for the app's sessions (channel app), not " + eu.Channel)
		}
		id := uuid.New()
		row, err = q.UpsertPushSubscription(r.Context(), db.UpsertPushSubscriptionParams{ID: id, CreatorID: c.CreatorID, EndUserID: eu.ID,
			Endpoint: sub.Endpoint, P256dh: sub.P256dh, Auth: sub.Auth, Device: req.Device})
		if err != nil {
			return err
		}
		created = row.ID == id
		_, err = q.TrimPushSubscriptions(r.Context(), db.TrimPushSubscriptionsParams{EndUserID: eu.ID, Keep: webpush.MaxPerEndUser})
		return err
	})
	if err != nil {
		var he *httpx.Error
		if errors.As(err, &he) {
			return he
		}
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		s.Log.InfoContext(r.Context(), "push subscription registered", "creator_id", c.CreatorID, "end_user_id", c.EndUserID,
			"subscription_id", row.ID, "push_service", webpush.Origin(row.Endpoint))
	}
	httpx.WriteJSON(w, status, Subscription{ID: row.ID, Endpoint: row.Endpoint, Device: row.Device})
	return nil
}

type unsubscribeRequest struct {
	Endpoint string `json:"endpoint"`
}

// Unsubscribe answers DELETE /api/v1/app/push/subscriptions {endpoint}: removes that device of
// the session's end user. 204, also when it was not registered (idempotent).
func (s *Server) Unsubscribe(w http.ResponseWriter, r *http.Request) error {
	c, err := s.session(r)
	if err != nil {
		return err
	}
	var req unsubscribeRequest
	if err := httpx.ReadJSON(w, r, &req); err != nil {
		return err
	}
	if req.Endpoint == "" || len(req.Endpoint) > webpush.MaxEndpointLen {
		return httpx.BadRequest("bad_subscription", "endpoint: 1 to 2048 characters")
	}
	if err := s.Store.InTenant(r.Context(), c.CreatorID, func(q *db.Queries) error {
		_, err := q.DeletePushSubscriptionOf(r.Context(), db.DeletePushSubscriptionOfParams{EndUserID: c.EndUserID, Endpoint: strings.TrimSpace(req.Endpoint)})
		return err
	}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
