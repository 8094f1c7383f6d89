// Package gateway is coachwire's HTTP edge: the creator REST API, the widget script, the widget
// WebSocket, the demo page, the provider webhooks and health. It authenticates every request,
// publishes work to the bus and never does a worker's job (no retrieval, no LLM calls) in a
// request.
//
// The package holds the creator API and the one route table (Handler); the end users' side is
// package widget, the providers' side package webhooks, and the HTTP plumbing they all share
// (errors as JSON, JSON bodies, client addresses, limit answers) package httpx.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/internal/auth"
	"github.com/coachwire/coachwire/internal/bus"
	"github.com/coachwire/coachwire/internal/config"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/gateway/webhooks"
	"github.com/coachwire/coachwire/internal/gateway/widget"
	"github.com/coachwire/coachwire/internal/proactive"
	"github.com/coachwire/coachwire/internal/secrets"
	"github.com/coachwire/coachwire/internal/storage"
)

// HealthCheck is one dependency probe for /health.
type HealthCheck struct {
	Name string
	// Optional checks report "degraded" instead of failing the whole service.
	Optional bool
	Check    func(ctx context.Context) error
}

// Settings are the configuration values the gateway reads, taken from config.Config by package
// app. A zero field takes its config default (New applies config's WithDefaults).
type Settings struct {
	PublicURL      string
	Dev            bool
	TelegramAPIURL string
	// Limits are the request limits (limits.go; zero fields take config.LimitDefaults).
	Limits config.Limits
	// Platform is the platform's send policy (the campaign preview decides with it); MinInterval
	// the shortest gap allowed between two occurrences of a recurring campaign.
	Platform    proactive.Platform
	MinInterval time.Duration
	// Knowledge uploads: the per-file and per-creator limits, and whether URL import may reach
	// private addresses (tests only).
	MaxUploadBytes     int64
	MaxCreatorBytes    int64
	ImportAllowPrivate bool
}

// withDefaults fills zero fields with the config defaults (package config holds them).
func (c Settings) withDefaults() Settings {
	n := config.Nudge{CeilingDay: c.Platform.CeilingDay, CeilingWeek: c.Platform.CeilingWeek, LiveWindow: c.Platform.LiveWindow,
		MaxHold: c.Platform.MaxHold, MinInterval: c.MinInterval}.WithDefaults()
	c.Platform = proactive.Platform{CeilingDay: n.CeilingDay, CeilingWeek: n.CeilingWeek, LiveWindow: n.LiveWindow, MaxHold: n.MaxHold}
	c.MinInterval = n.MinInterval
	k := config.Knowledge{MaxUploadBytes: c.MaxUploadBytes, MaxCreatorBytes: c.MaxCreatorBytes}.WithDefaults("")
	c.MaxUploadBytes, c.MaxCreatorBytes = k.MaxUploadBytes, k.MaxCreatorBytes
	return c
}

// Deps is what the gateway needs, built by package app.
type Deps struct {
	// Config is the gateway's own settings, not the whole process configuration (nil: the
	// defaults).
	Config *Settings
	Store  *db.Store
	// Files holds the originals of uploaded documents (the ingest target reads them).
	Files *storage.Dir
	Bus   *bus.Bus
	Auth  *auth.Service
	// Keys is the secrets keyring that seals and opens channel credentials (built by package
	// app; nil: the channel API and the webhooks answer 500).
	Keys *secrets.Keyring
	// Tenants creates a new creator's space in the knowledge index (a Weaviate tenant).
	Tenants func(ctx context.Context, creatorID uuid.UUID) error
	Health  []HealthCheck
	Log     *slog.Logger
	Now     func() time.Time
	// DemoWidgetKey is shown on /demo in dev mode.
	DemoWidgetKey func() string
}

// Server serves the gateway's routes.
type Server struct {
	Deps
	// widget serves the end users' routes, webhooks the providers'.
	widget   *widget.Server
	webhooks *webhooks.Server
	// limits are the request limits shared by every replica (limits.go).
	limits *limits
	// hc calls the providers' APIs (Telegram getMe, setWebhook) for the channel API.
	hc *http.Client

	mu      sync.Mutex
	closing bool
}

// New builds the gateway.
func New(d Deps) *Server {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	var c Settings
	if d.Config != nil {
		c = *d.Config
	}
	c = c.withDefaults()
	d.Config = &c
	s := &Server{Deps: d, limits: newLimits(d),
		hc: &http.Client{Timeout: 15 * time.Second, Transport: http.DefaultTransport.(*http.Transport).Clone()}}
	cfg, publicURL := s.limits.cfg, d.Config.PublicURL
	s.widget = widget.New(widget.Deps{Store: d.Store, Bus: d.Bus, Auth: d.Auth, Log: d.Log, Now: d.Now,
		PublicURL: publicURL, DemoWidgetKey: d.DemoWidgetKey,
		Limits: widget.Limits{SessionsPerIP: cfg.WidgetSessionsPerIP, SessionsPerKey: cfg.WidgetSessionsPerKey,
			MessagesPerSession: cfg.WidgetMessagesPerSession, MessagesPerEndUser: cfg.WidgetMessagesPerEndUser,
			SocketsPerSession: cfg.WidgetSocketsPerSession},
		RateLimit: s.limits.rl, ClientIP: s.clientIP})
	s.webhooks = webhooks.New(webhooks.Deps{Store: d.Store, Bus: d.Bus, Keys: d.Keys, Log: d.Log, Now: d.Now})
	return s
}

// errNoKeyring answers a channel request when the gateway was given no secrets keyring.
var errNoKeyring = errors.New("gateway: no secrets keyring (Deps.Keys)")

// keyring is the secrets keyring for channel credentials, given by package app.
func (s *Server) keyring() (*secrets.Keyring, error) {
	if s.Keys == nil {
		return nil, errNoKeyring
	}
	return s.Keys, nil
}

// providerHTTP is the client for the providers' APIs.
func (s *Server) providerHTTP() *http.Client { return s.hc }

// Handler returns every route in one table.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	route := func(pattern string, h func(http.ResponseWriter, *http.Request) error) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				// A panic is a bug: answer 500 and log it at ERROR with its stack, once.
				if p := recover(); p != nil {
					if p == http.ErrAbortHandler {
						panic(p)
					}
					writeError(w, r, s.Log, fmt.Errorf("panic: %v\n%s", p, debug.Stack()))
				}
			}()
			err := checkQuery(r)
			if err == nil {
				err = h(w, r)
			}
			if err != nil {
				writeError(w, r, s.Log, err)
			}
		})
	}
	creator := func(pattern string, h func(http.ResponseWriter, *http.Request, creatorAuth) error) {
		route(pattern, s.requireCreator(h))
	}

	// Health.
	mux.HandleFunc("GET /health", s.handleHealth)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("GET /readyz", s.handleHealth)

	// Creator auth.
	route("POST /api/v1/auth/register", s.handleRegister)
	route("POST /api/v1/auth/login", s.handleLogin)
	route("POST /api/v1/auth/refresh", s.handleRefresh)
	route("POST /api/v1/auth/logout", s.handleLogout)
	creator("GET /api/v1/auth/me", s.handleMe)

	// Creator settings and knowledge.
	creator("GET /api/v1/widget/settings", s.handleGetWidgetSettings)
	creator("PUT /api/v1/widget/settings", s.handlePutWidgetSettings)
	creator("PATCH /api/v1/widget/settings", s.handlePatchWidgetSettings)
	creator("POST /api/v1/documents", s.handleCreateDocument)
	creator("POST /api/v1/documents/import", s.handleImportDocument)
	creator("GET /api/v1/documents", s.handleListDocuments)
	creator("GET /api/v1/documents/events", s.handleDocumentEvents)
	creator("POST /api/v1/documents/reindex", s.handleReindexAll)
	creator("GET /api/v1/documents/{id}", s.handleGetDocument)
	creator("PUT /api/v1/documents/{id}", s.handleReplaceDocument)
	creator("DELETE /api/v1/documents/{id}", s.handleDeleteDocument)
	creator("POST /api/v1/documents/{id}/reindex", s.handleReindexDocument)

	// Channels and conversations.
	creator("POST /api/v1/channels", s.handleCreateChannel)
	creator("GET /api/v1/channels", s.handleListChannels)
	creator("PATCH /api/v1/channels/{id}", s.handleUpdateChannel)
	creator("DELETE /api/v1/channels/{id}", s.handleDeleteChannel)
	creator("GET /api/v1/conversations", s.handleListConversations)
	creator("GET /api/v1/conversations/events", s.handleConversationEvents)
	creator("GET /api/v1/conversations/{id}/messages", s.handleListMessages)
	creator("POST /api/v1/conversations/{id}/messages", s.handleCreatorMessage)
	creator("POST /api/v1/conversations/{id}/takeover", s.handleTakeover)
	creator("POST /api/v1/conversations/{id}/release", s.handleRelease)

	// Proactive coaching: campaigns, programs, memory.
	creator("POST /api/v1/campaigns", s.handleCreateCampaign)
	creator("GET /api/v1/campaigns", s.handleListCampaigns)
	creator("GET /api/v1/campaigns/{id}", s.handleGetCampaign)
	creator("PATCH /api/v1/campaigns/{id}", s.handleUpdateCampaign)
	creator("POST /api/v1/campaigns/{id}/pause", s.handlePauseCampaign)
	creator("POST /api/v1/campaigns/{id}/resume", s.handleResumeCampaign)
	creator("POST /api/v1/campaigns/{id}/cancel", s.handleCancelCampaign)
	creator("POST /api/v1/campaigns/{id}/preview", s.handlePreviewCampaign)
	creator("GET /api/v1/campaigns/{id}/stats", s.handleCampaignStats)
	creator("POST /api/v1/programs", s.handleCreateProgram)
	creator("GET /api/v1/programs", s.handleListPrograms)
	creator("GET /api/v1/programs/{id}", s.handleGetProgram)
	creator("PATCH /api/v1/programs/{id}", s.handleUpdateProgram)
	creator("POST /api/v1/programs/{id}/pause", s.handlePauseProgram)
	creator("POST /api/v1/programs/{id}/resume", s.handleResumeProgram)
	creator("POST /api/v1/programs/{id}/archive", s.handleArchiveProgram)
	creator("POST /api/v1/programs/{id}/enrollments", s.handleEnroll)
	creator("POST /api/v1/programs/{id}/enrollments/{enrollment}/pause", s.handlePauseEnrollment)
	creator("POST /api/v1/programs/{id}/enrollments/{enrollment}/resume", s.handleResumeEnrollment)
	creator("POST /api/v1/programs/{id}/enrollments/{enrollment}/cancel", s.handleCancelEnrollment)
	creator("GET /api/v1/end-users/{id}/memory", s.handleGetMemory)
	creator("PUT /api/v1/end-users/{id}/memory", s.handlePutMemory)
	creator("DELETE /api/v1/end-users/{id}/memory", s.handleDeleteMemory)
	// Send policy (api_settings.go) and end users (api_endusers.go).
	creator("GET /api/v1/nudge-policy", s.handleGetNudgePolicy)
	creator("PUT /api/v1/nudge-policy", s.handlePutNudgePolicy)
	creator("PATCH /api/v1/nudge-policy", s.handlePatchNudgePolicy)
	creator("GET /api/v1/end-users", s.handleListEndUsers)
	creator("GET /api/v1/end-users/{id}", s.handleGetEndUser)
	creator("PUT /api/v1/end-users/{id}/tags", s.handlePutEndUserTags)

	// Provider webhooks: authenticated by the provider's signature or secret, per channel.
	route("GET /webhooks/whatsapp/{channel}", s.webhooks.WhatsAppVerify)
	route("POST /webhooks/whatsapp/{channel}", s.webhooks.WhatsApp)
	route("POST /webhooks/telegram/{channel}", s.webhooks.Telegram)

	// Widget (end users).
	mux.HandleFunc("GET /widget.js", s.widget.Script)
	route("OPTIONS /api/v1/widget/session", s.widget.SessionPreflight)
	route("POST /api/v1/widget/session", s.widget.Session)
	route("GET /api/v1/widget/ws", s.widget.Socket)
	if s.Config.Dev {
		route("GET /demo", s.widget.Demo)
	}
	mux.HandleFunc("GET /openapi.yaml", s.handleOpenAPI)
	// Creator console (console.go).
	s.consoleRoutes(mux)
	return s.logRequests(mux)
}

// Shutdown closes every widget socket so clients reconnect to another replica.
func (s *Server) Shutdown() {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	s.widget.Shutdown()
}

func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: 200}
		next.ServeHTTP(sw, r)
		if r.URL.Path == "/healthz" {
			return
		}
		s.Log.Debug("http", "method", r.Method, "path", r.URL.Path, "status", sw.status, "dur", time.Since(start))
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) { w.status = code; w.ResponseWriter.WriteHeader(code) }

// Unwrap lets http.ResponseController and coder/websocket reach the hijacker.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
