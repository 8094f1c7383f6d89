// Package widget is the gateway's end-user side: the embeddable widget script and the demo
// page (static/), the widget session endpoint that mints a socket token, the widget WebSocket
// (ws.go, leanconn.go), the live hub that feeds sockets from core NATS (hub.go) and the widget's
// delivered and read receipts (receipts.go). Package gateway registers its handlers in the one
// route table.
package widget

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/auth"
	"github.com/coachwire/coachwire/internal/bus"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/gateway/httpx"
	"github.com/coachwire/coachwire/internal/gateway/widget/static"
	"github.com/coachwire/coachwire/internal/ids"
	"github.com/coachwire/coachwire/internal/ratelimit"
)

// Limits are the widget's request limits (config.Limits with defaults applied).
type Limits struct {
	// SessionsPerIP and SessionsPerKey bound session minting per client address and widget key.
	SessionsPerIP, SessionsPerKey ratelimit.Rule
	// MessagesPerSession and MessagesPerEndUser bound end-user messages per conversation and per
	// end user, across sockets and replicas.
	MessagesPerSession, MessagesPerEndUser ratelimit.Rule
	// SocketsPerSession bounds the sockets open on one conversation.
	SocketsPerSession int
}

// Deps is what the widget needs, given by package gateway.
type Deps struct {
	Store *db.Store
	Bus   *bus.Bus
	Auth  *auth.Service
	Log   *slog.Logger
	Now   func() time.Time
	// PublicURL is the gateway's own origin: the demo page's script and an allowed origin.
	PublicURL string
	// DemoWidgetKey is shown on /demo (nil or "": no demo creator).
	DemoWidgetKey func() string
	Limits        Limits
	// RateLimit holds the shared request limits (nil without a Store).
	RateLimit *ratelimit.Limiter
	// ClientIP is the address of the client that sent a request (trusted proxies applied).
	ClientIP func(*http.Request) string
	// AvatarHTTP fetches the coach's avatar for the app's icons; it must refuse private
	// addresses (the gateway gives its URL-import client). Nil: icons from the initials only.
	AvatarHTTP *http.Client
}

// Server serves the widget's routes.
type Server struct {
	Deps
	hub *hub
	// sockets counts the open sockets of each conversation across replicas.
	sockets *ratelimit.Sockets
}

// New builds the widget's side of the gateway.
func New(d Deps) *Server {
	if d.Now == nil {
		d.Now = time.Now
	}
	s := &Server{Deps: d, hub: newHub(d.Bus, d.Log)}
	if d.Store != nil {
		s.sockets = ratelimit.NewSockets(d.Store, d.Now, d.Log, 0)
	}
	return s
}

// Shutdown closes every widget socket so clients reconnect to another replica, and stops this
// replica's socket holder.
func (s *Server) Shutdown() {
	s.hub.closeAll()
	s.closeSockets()
}

// Script serves widget.js (GET /widget.js).
func (s *Server) Script(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	widgetScript().Serve(w, r)
}

// widgetScript is widget.js, gzipped once per process: every page that embeds the widget
// downloads it (its budget, 25 KB gzipped, is checked in package static).
var widgetScript = sync.OnceValue(func() httpx.Asset {
	js, err := fs.ReadFile(static.Files, "widget.js")
	if err != nil {
		panic(err) // embedded
	}
	return httpx.NewAsset(js, "text/javascript; charset=utf-8")
})

// previewCSP is the preview page's policy: its own scripts only (widget.js styles itself with a
// constructable stylesheet), the session and socket on this origin, avatars from anywhere, and
// framed by this origin only (the console).
const previewCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https: http: data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"

// Preview serves the page the console frames as the widget's live preview (GET /widget/preview,
// docs/widget.md "Preview"): a static page whose script waits for the console's message with
// the widget key and the unsaved settings, then loads /widget.js with data-preview. It is on
// the gateway's origin, so the widget session accepts it like the console itself.
func (s *Server) Preview(w http.ResponseWriter, r *http.Request) {
	serveStatic(w, r, "preview.html", "text/html; charset=utf-8", previewCSP)
}

// PreviewScript serves the preview page's script (GET /widget/preview.js).
func (s *Server) PreviewScript(w http.ResponseWriter, r *http.Request) {
	serveStatic(w, r, "preview.js", "text/javascript; charset=utf-8", "")
}

func serveStatic(w http.ResponseWriter, r *http.Request, name, contentType, csp string) {
	b, err := fs.ReadFile(static.Files, name)
	if err != nil {
		panic(err) // embedded
	}
	h := w.Header()
	if csp != "" {
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Frame-Options", "SAMEORIGIN")
		h.Set("Referrer-Policy", "no-referrer")
	}
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Type", contentType)
	_, _ = w.Write(b)
}

// Demo serves the demo page embedding the widget for the demo creator (GET /demo, dev mode).
func (s *Server) Demo(w http.ResponseWriter, r *http.Request) error {
	key := ""
	if s.DemoWidgetKey != nil {
		key = s.DemoWidgetKey()
	}
	if key == "" {
		return httpx.NotFound("demo creator")
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	return static.DemoPage(w, key, s.PublicURL+"/widget.js")
}

// widgetCreator is what the widget endpoints need to know about a creator.
type widgetCreator struct {
	ID               uuid.UUID
	AllowedOrigins   []string
	IdentityRequired bool
	Secret           string
	Coach            widgetCoach
}

// widgetCoach is the coach as the widget shows it (the creator's widget settings).
type widgetCoach struct {
	Name        string   `json:"name"`
	AvatarURL   string   `json:"avatar_url"`
	Welcome     string   `json:"welcome"`
	Suggestions []string `json:"suggestions"`
	// Topics are the titles of the creator's largest documents, offered as first questions when
	// there are no suggestions.
	Topics   []string `json:"topics"`
	Branding bool     `json:"branding"`
	// SourceURLs maps a document id to the page it was imported from, when the creator lets
	// sources link there.
	SourceURLs map[string]string `json:"source_urls"`
	// Look is the widget's look as the creator set it, keyed by the data- option it stands for
	// (color, position, theme, lang, launcher-text); only the ones set. A page's data- attribute
	// wins.
	Look        map[string]string `json:"look"`
	linkSources bool
}

func (s *Server) widgetCreatorByKey(ctx context.Context, key string) (widgetCreator, error) {
	var wc widgetCreator
	if key == "" || len(key) > 128 {
		return wc, httpx.BadRequest("bad_widget_key", "widget_key is missing or malformed")
	}
	err := s.Store.Global(ctx, func(q *db.Queries) error {
		id, err := q.CreatorByWidgetKey(ctx, key)
		if err != nil {
			return err
		}
		wc.ID = id
		return nil
	})
	if err != nil || wc.ID == uuid.Nil {
		return wc, httpx.NotFound("widget key")
	}
	return s.widgetCreator(ctx, wc.ID)
}

func (s *Server) widgetCreator(ctx context.Context, id uuid.UUID) (widgetCreator, error) {
	wc := widgetCreator{ID: id}
	err := s.Store.InTenant(ctx, id, func(q *db.Queries) error {
		c, err := q.GetCreator(ctx, id)
		if err != nil {
			return err
		}
		wc.AllowedOrigins, wc.IdentityRequired, wc.Secret = c.AllowedOrigins, c.IdentityRequired, c.WidgetSecret
		wc.Coach = widgetCoach{Name: c.Name, AvatarURL: c.WidgetAvatarUrl, Welcome: c.WidgetWelcome,
			Suggestions: c.WidgetSuggestions, Branding: c.WidgetBranding, linkSources: c.WidgetLinkSources, Look: map[string]string{}}
		for k, v := range map[string]string{"color": c.WidgetColor, "position": c.WidgetPosition, "theme": c.WidgetTheme,
			"lang": c.WidgetLanguage, "launcher-text": c.WidgetLauncherText} {
			if v != "" {
				wc.Coach.Look[k] = v
			}
		}
		if wc.Coach.Suggestions == nil {
			wc.Coach.Suggestions = []string{}
		}
		return nil
	})
	if db.IsNotFound(err) {
		return wc, httpx.NotFound("creator")
	}
	return wc, err
}

// originAllowed reports whether a browser Origin may use a creator's widget: one of the
// creator's allowed origins (scheme://host[:port], or "*"), or the gateway's own origin (demo).
// A request without Origin is not a browser's cross-site request; it still needs a token.
func (s *Server) originAllowed(origin string, wc widgetCreator, r *http.Request) bool {
	if origin == "" {
		return true
	}
	o, err := url.Parse(origin)
	if err != nil || o.Host == "" {
		return false
	}
	norm := strings.ToLower(o.Scheme + "://" + o.Host)
	if strings.EqualFold(o.Host, r.Host) || norm == strings.ToLower(s.PublicURL) {
		return true
	}
	for _, a := range wc.AllowedOrigins {
		if a == "*" || strings.EqualFold(strings.TrimRight(a, "/"), norm) {
			return true
		}
	}
	return false
}

// SessionPreflight answers the CORS preflight of Session.
func (s *Server) SessionPreflight(w http.ResponseWriter, r *http.Request) error {
	// The widget key is in the body, not known at preflight: allow the method and header, the
	// real request is checked against the creator's origins.
	if o := r.Header.Get("Origin"); o != "" {
		w.Header().Set("Access-Control-Allow-Origin", o)
		w.Header().Set("Vary", "Origin")
	}
	w.Header().Set("Access-Control-Allow-Methods", "POST")
	w.Header().Set("Access-Control-Allow-Headers", "Content-Type")
	w.Header().Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type widgetSessionRequest struct {
	WidgetKey string `json:"widget_key"`
	AnonID    string `json:"anon_id"`
	UserID    string `json:"user_id,omitempty"`
	UserHash  string `json:"user_hash,omitempty"`
}

type widgetSessionResponse struct {
	Token          string      `json:"token"`
	ExpiresAt      time.Time   `json:"expires_at"`
	ConversationID uuid.UUID   `json:"conversation_id"`
	EndUserID      uuid.UUID   `json:"end_user_id"`
	Coach          widgetCoach `json:"coach"`
}

// Session starts (or resumes) an end user's widget session: it checks the page's
// Origin against the creator's allowed origins and, when given or required, the verified
// identity HMAC, then returns a short-lived token for the socket.
func (s *Server) Session(w http.ResponseWriter, r *http.Request) error {
	var req widgetSessionRequest
	if err := httpx.ReadJSON(w, r, &req); err != nil {
		return err
	}
	if err := httpx.Limit(w, r, s.RateLimit, "too many widget sessions; retry later",
		ratelimit.Check{Key: "widget:session:ip:" + auth.IPKey(s.ClientIP(r)), Rule: s.Limits.SessionsPerIP},
		ratelimit.Check{Key: "widget:session:key:" + req.WidgetKey, Rule: s.Limits.SessionsPerKey}); err != nil {
		return err
	}
	ctx := r.Context()
	wc, err := s.widgetCreatorByKey(ctx, req.WidgetKey)
	if err != nil {
		return err
	}
	origin := r.Header.Get("Origin")
	if origin != "" {
		// Also on the 403 below: the widget must be able to read why it was refused (and tell
		// the creator in the console) instead of seeing an opaque network error and retrying.
		w.Header().Set("Access-Control-Allow-Origin", origin)
		w.Header().Set("Vary", "Origin")
	}
	if !s.originAllowed(origin, wc, r) {
		return &httpx.Error{Status: http.StatusForbidden, Code: "origin_not_allowed",
			Message: "origin " + origin + " is not in this widget's allowed origins (widget setting allowed_origins)"}
	}
	external, verified, err := endUserIdentity(wc, req)
	if err != nil {
		return err
	}
	return s.openSession(w, r, wc, events.ChannelWidget, external, verified)
}

// openSession records the end user and their conversation on channel (the widget's or the
// app's) and answers with a session token for the socket.
func (s *Server) openSession(w http.ResponseWriter, r *http.Request, wc widgetCreator, channel, external string, verified bool) error {
	ctx := r.Context()
	endUserID := ids.EndUser(wc.ID, channel, external)
	convID := ids.Conversation(wc.ID, endUserID, channel)
	err := s.Store.InTenant(ctx, wc.ID, func(q *db.Queries) error {
		if _, err := q.UpsertEndUser(ctx, db.UpsertEndUserParams{ID: endUserID, CreatorID: wc.ID, Channel: channel, ExternalID: external, Verified: verified}); err != nil {
			return err
		}
		c, err := q.UpsertConversation(ctx, db.UpsertConversationParams{ID: convID, CreatorID: wc.ID, EndUserID: endUserID, Channel: channel})
		if err != nil {
			return err
		}
		convID = c.ID
		if len(wc.Coach.Suggestions) == 0 {
			if wc.Coach.Topics, err = q.TopDocumentTitles(ctx, db.TopDocumentTitlesParams{CreatorID: wc.ID, MaxTitles: 3}); err != nil {
				return err
			}
		}
		if wc.Coach.linkSources {
			rows, err := q.DocumentSourceURLs(ctx, db.DocumentSourceURLsParams{CreatorID: wc.ID, MaxUrls: 200})
			if err != nil {
				return err
			}
			wc.Coach.SourceURLs = make(map[string]string, len(rows))
			for _, r := range rows {
				wc.Coach.SourceURLs[r.ID.String()] = r.SourceUrl
			}
		}
		return nil
	})
	if wc.Coach.Topics == nil {
		wc.Coach.Topics = []string{}
	}
	if wc.Coach.SourceURLs == nil {
		wc.Coach.SourceURLs = map[string]string{}
	}
	if err != nil {
		return err
	}
	tok, exp, err := s.Auth.IssueWidget(auth.WidgetClaims{CreatorID: wc.ID, EndUserID: endUserID, ConversationID: convID, Channel: channel})
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	httpx.WriteJSON(w, http.StatusOK, widgetSessionResponse{Token: tok, ExpiresAt: exp, ConversationID: convID, EndUserID: endUserID, Coach: wc.Coach})
	return nil
}

// endUserIdentity is who a widget session is for, as the end user's external id on the widget
// channel: a verified user ("user:<id>", when the page signed user_id with the creator's widget
// secret) or an anonymous browser ("anon:<id>"), unless the creator requires verified identities.
func endUserIdentity(wc widgetCreator, req widgetSessionRequest) (external string, verified bool, err error) {
	switch {
	case req.UserID != "":
		if len(req.UserID) > 256 || !validUserHash(wc.Secret, req.UserID, req.UserHash) {
			return "", false, httpx.Unauthorized("user_hash does not match user_id")
		}
		return "user:" + req.UserID, true, nil
	case wc.IdentityRequired:
		return "", false, httpx.Unauthorized("this widget requires a verified user_id and user_hash")
	default:
		if len(req.AnonID) < 8 || len(req.AnonID) > 64 || strings.ContainsAny(req.AnonID, " \t\r\n") {
			return "", false, httpx.BadRequest("bad_anon_id", "anon_id must be 8 to 64 characters without spaces")
		}
		return "anon:" + req.AnonID, false, nil
	}
}

func validUserHash(secret, userID, hash string) bool {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(userID))
	want := mac.Sum(nil)
	got, err := hex.DecodeString(hash)
	return err == nil && hmac.Equal(want, got)
}

// UserHash computes the verified-identity HMAC a creator's server puts on its pages.
func UserHash(secret, userID string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(userID))
	return hex.EncodeToString(mac.Sum(nil))
}

func originPatterns(allowed []string) []string {
	var out []string
	for _, a := range allowed {
		if a == "*" {
			return []string{"*"}
		}
		if u, err := url.Parse(a); err == nil && u.Host != "" && !slices.Contains(out, u.Host) {
			out = append(out, u.Host)
		}
	}
	return out
}
