// Package gateway is coachwire's HTTP edge: the creator REST API, the widget script, the widget
// WebSocket, the demo page, the provider webhooks and health. It authenticates every request,
// publishes work to the bus and never does a worker's job (no LLM calls; no retrieval but the
// read-only "try a question" preview, through the function package app gives it) in a request.
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
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/internal/auth"
	"github.com/coachwire/coachwire/internal/auth/perm"
	"github.com/coachwire/coachwire/internal/bus"
	"github.com/coachwire/coachwire/internal/config"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/gateway/push"
	"github.com/coachwire/coachwire/internal/gateway/webhooks"
	"github.com/coachwire/coachwire/internal/gateway/widget"
	"github.com/coachwire/coachwire/internal/ops"
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
	// WhatsAppAPIURL is the Graph API base URL the channel API checks WhatsApp credentials
	// against ("" means https://graph.facebook.com).
	WhatsAppAPIURL string
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
	// PushAllowOrigins are push service origins the app's subscriptions may use over plain
	// http (COACHWIRE_PUSH_ALLOW_ORIGINS: loopback test services only).
	PushAllowOrigins []string
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
	// Metrics records requests by route and status, open widget sockets and webhook calls
	// (nil: none).
	Metrics *ops.Gateway

	// Retrieve runs a turn's knowledge retrieval for "try a question" (nil: that route answers
	// 503).
	Retrieve Retriever

	// VAPIDPublicKey is the deployment's Web Push public key (base64url) the app subscribes
	// with ("": the push routes answer 503).
	VAPIDPublicKey string
}

// Server serves the gateway's routes.
type Server struct {
	Deps
	// widget serves the end users' routes, webhooks the providers'.
	widget   *widget.Server
	webhooks *webhooks.Server
	// push serves the app's Web Push routes (end users).
	push *push.Server
	// limits are the request limits shared by every replica (limits.go).
	limits *limits
	// hc calls the providers' APIs (Telegram getMe, setWebhook) for the channel API.
	hc *http.Client

	mu      sync.Mutex
	closing bool
	// bg counts work a request left running after its answer (background); Shutdown waits.
	bg sync.WaitGroup
	// routes is the route table of the last Handler (Routes).
	routes []Route
}

// Route is one route of the table: its pattern and, for a creator API route, the permission it
// requires (empty for public routes: auth, invitations, webhooks, the widget).
type Route struct {
	Pattern string
	Perm    perm.Perm
	// Audit is the action the route records in the audit log ("" none), declared in
	// routeAudit (audit.go) by pattern.
	Audit string
}

// Routes returns the route table built by the last call of Handler (for tests and docs).
func (s *Server) Routes() []Route {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.routes)
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
		RateLimit: s.limits.rl, ClientIP: s.clientIP, AvatarHTTP: s.importClient()})
	s.webhooks = webhooks.New(webhooks.Deps{Store: d.Store, Bus: d.Bus, Keys: d.Keys, Log: d.Log, Now: d.Now})
	s.push = push.New(push.Deps{Store: d.Store, Auth: d.Auth, Log: d.Log, PublicKey: d.VAPIDPublicKey, AllowOrigins: c.PushAllowOrigins})
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
	var table []Route
	public := func(pattern string, h func(http.ResponseWriter, *http.Request) error) {
		table = append(table, Route{Pattern: pattern, Audit: routeAudit[pattern].Action})
		route(pattern, h)
	}
	// creator registers a creator API route with the permission it requires (requireCreator)
	// and, when routeAudit declares one, the audit entry it records (audit.go).
	creator := func(pattern string, p perm.Perm, h func(http.ResponseWriter, *http.Request, creatorAuth) error) {
		spec, audited := routeAudit[pattern]
		table = append(table, Route{Pattern: pattern, Perm: p, Audit: spec.Action})
		route(pattern, s.requireCreator(p, s.audited(spec, audited, h)))
	}

	// Health.
	mux.HandleFunc("GET /health", s.handleHealth)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("GET /readyz", s.handleHealth)

	// Creator auth.
	// sessionMode: the console's cookie mode with its CSRF checks (api_sessions.go).
	public("POST /api/v1/auth/register", s.sessionMode(s.handleRegister))
	public("POST /api/v1/auth/login", s.sessionMode(s.handleLogin))
	public("POST /api/v1/auth/refresh", s.sessionMode(s.handleRefresh))
	public("POST /api/v1/auth/logout", s.sessionMode(s.handleLogout))
	creator("GET /api/v1/auth/me", perm.AccountRead, s.handleMe)
	creator("GET /api/v1/auth/workspaces", perm.AccountRead, s.handleWorkspaces)
	creator("POST /api/v1/auth/switch", perm.AccountRead, s.handleSwitch)
	creator("GET /api/v1/auth/sessions", perm.AccountRead, s.handleListSessions)
	creator("DELETE /api/v1/auth/sessions/{id}", perm.AccountRead, s.handleRevokeSession)
	creator("POST /api/v1/auth/sessions/revoke-all", perm.AccountRead, s.handleSignOutEverywhere)
	creator("POST /api/v1/auth/password", perm.AccountRead, s.handleChangePassword)

	// Team: members, invitations, ownership (api_team.go) and API keys (api_keys.go).
	creator("GET /api/v1/members", perm.TeamRead, s.handleListMembers)
	creator("PATCH /api/v1/members/{user_id}", perm.TeamWrite, s.handleUpdateMember)
	creator("DELETE /api/v1/members/{user_id}", perm.TeamWrite, s.handleRemoveMember)
	creator("POST /api/v1/members/{user_id}/transfer-ownership", perm.OwnershipTransfer, s.handleTransferOwnership)
	creator("GET /api/v1/invitations", perm.TeamRead, s.handleListInvitations)
	creator("POST /api/v1/invitations", perm.TeamWrite, s.handleInvite)
	creator("DELETE /api/v1/invitations/{id}", perm.TeamWrite, s.handleRevokeInvitation)
	public("POST /api/v1/invitations/accept", s.sessionMode(s.handleAcceptInvitation))
	creator("GET /api/v1/api-keys", perm.KeysManage, s.handleListAPIKeys)
	creator("POST /api/v1/api-keys", perm.KeysManage, s.handleCreateAPIKey)
	creator("DELETE /api/v1/api-keys/{id}", perm.KeysManage, s.handleRevokeAPIKey)
	// Audit log (audit.go): what changed, who, when, from where; JSON pages or CSV.
	creator("GET /api/v1/audit", perm.AuditRead, s.handleListAudit)

	// Creator settings and knowledge.
	creator("GET /api/v1/widget/settings", perm.CoachRead, s.handleGetWidgetSettings)
	creator("PUT /api/v1/widget/settings", perm.CoachWrite, s.handlePutWidgetSettings)
	creator("PATCH /api/v1/widget/settings", perm.CoachWrite, s.handlePatchWidgetSettings)
	creator("POST /api/v1/documents", perm.KnowledgeWrite, s.handleCreateDocument)
	creator("POST /api/v1/documents/import", perm.KnowledgeWrite, s.handleImportDocument)
	creator("GET /api/v1/documents", perm.KnowledgeRead, s.handleListDocuments)
	creator("GET /api/v1/documents/events", perm.KnowledgeRead, s.handleDocumentEvents)
	creator("POST /api/v1/documents/reindex", perm.KnowledgeWrite, s.handleReindexAll)
	creator("GET /api/v1/documents/{id}", perm.KnowledgeRead, s.handleGetDocument)
	creator("PUT /api/v1/documents/{id}", perm.KnowledgeWrite, s.handleReplaceDocument)
	creator("DELETE /api/v1/documents/{id}", perm.KnowledgeWrite, s.handleDeleteDocument)
	creator("POST /api/v1/documents/{id}/reindex", perm.KnowledgeWrite, s.handleReindexDocument)
	creator("POST /api/v1/knowledge/search", perm.KnowledgeRead, s.handleKnowledgeSearch)

	// Channels and conversations.
	creator("POST /api/v1/channels", perm.SettingsWrite, s.handleCreateChannel)
	creator("GET /api/v1/channels", perm.SettingsRead, s.handleListChannels)
	creator("PATCH /api/v1/channels/{id}", perm.SettingsWrite, s.handleUpdateChannel)
	creator("DELETE /api/v1/channels/{id}", perm.SettingsWrite, s.handleDeleteChannel)
	creator("POST /api/v1/channels/{id}/test", perm.SettingsWrite, s.handleTestChannel)
	creator("GET /api/v1/conversations", perm.InboxRead, s.handleListConversations)
	creator("GET /api/v1/conversations/events", perm.ContentRead, s.handleConversationEvents)
	creator("GET /api/v1/conversations/{id}", perm.InboxRead, s.handleGetConversation)
	creator("GET /api/v1/conversations/{id}/messages", perm.ContentRead, s.handleListMessages)
	creator("POST /api/v1/conversations/{id}/messages", perm.InboxWrite, s.handleCreatorMessage)
	creator("POST /api/v1/conversations/{id}/takeover", perm.InboxWrite, s.handleTakeover)
	creator("POST /api/v1/conversations/{id}/release", perm.InboxWrite, s.handleRelease)

	// Analytics (issue 12): figures from the rollup tables; gap question text needs content.read.
	creator("GET /api/v1/analytics/activity", perm.AnalyticsRead, s.handleAnalyticsActivity)
	creator("GET /api/v1/analytics/responsiveness", perm.AnalyticsRead, s.handleAnalyticsResponsiveness)
	creator("GET /api/v1/analytics/knowledge-gaps", perm.AnalyticsRead, s.handleAnalyticsKnowledgeGaps)
	creator("GET /api/v1/analytics/retention", perm.AnalyticsRead, s.handleAnalyticsRetention)
	creator("GET /api/v1/analytics/campaigns", perm.AnalyticsRead, s.handleAnalyticsCampaigns)
	creator("GET /api/v1/analytics/programs", perm.AnalyticsRead, s.handleAnalyticsPrograms)
	creator("GET /api/v1/analytics/channels", perm.AnalyticsRead, s.handleAnalyticsChannels)
	creator("GET /api/v1/analytics/team", perm.AnalyticsRead, s.handleAnalyticsTeam)

	// Proactive coaching: campaigns, programs, memory.
	creator("POST /api/v1/campaigns", perm.CampaignsWrite, s.handleCreateCampaign)
	creator("GET /api/v1/campaigns", perm.CampaignsRead, s.handleListCampaigns)
	creator("POST /api/v1/campaigns/audience-count", perm.CampaignsRead, s.handleAudienceCount)
	creator("POST /api/v1/campaigns/preview", perm.CampaignsWrite, s.handlePreviewDraft)
	creator("GET /api/v1/campaigns/{id}", perm.CampaignsRead, s.handleGetCampaign)
	creator("PATCH /api/v1/campaigns/{id}", perm.CampaignsWrite, s.handleUpdateCampaign)
	creator("POST /api/v1/campaigns/{id}/pause", perm.CampaignsWrite, s.handlePauseCampaign)
	creator("POST /api/v1/campaigns/{id}/resume", perm.CampaignsWrite, s.handleResumeCampaign)
	creator("POST /api/v1/campaigns/{id}/cancel", perm.CampaignsWrite, s.handleCancelCampaign)
	creator("POST /api/v1/campaigns/{id}/preview", perm.CampaignsRead, s.handlePreviewCampaign)
	creator("GET /api/v1/campaigns/{id}/stats", perm.CampaignsRead, s.handleCampaignStats)
	creator("POST /api/v1/programs", perm.ProgramsWrite, s.handleCreateProgram)
	creator("POST /api/v1/programs/validate", perm.ProgramsWrite, s.handleValidateProgram)
	creator("GET /api/v1/programs", perm.ProgramsRead, s.handleListPrograms)
	creator("GET /api/v1/programs/{id}", perm.ProgramsRead, s.handleGetProgram)
	creator("PATCH /api/v1/programs/{id}", perm.ProgramsWrite, s.handleUpdateProgram)
	creator("POST /api/v1/programs/{id}/pause", perm.ProgramsWrite, s.handlePauseProgram)
	creator("POST /api/v1/programs/{id}/resume", perm.ProgramsWrite, s.handleResumeProgram)
	creator("POST /api/v1/programs/{id}/archive", perm.ProgramsWrite, s.handleArchiveProgram)
	creator("POST /api/v1/programs/{id}/enrollments", perm.ProgramsWrite, s.handleEnroll)
	creator("POST /api/v1/programs/{id}/enrollments/{enrollment}/pause", perm.ProgramsWrite, s.handlePauseEnrollment)
	creator("POST /api/v1/programs/{id}/enrollments/{enrollment}/resume", perm.ProgramsWrite, s.handleResumeEnrollment)
	creator("POST /api/v1/programs/{id}/enrollments/{enrollment}/cancel", perm.ProgramsWrite, s.handleCancelEnrollment)
	creator("GET /api/v1/end-users/{id}/memory", perm.ContentRead, s.handleGetMemory)
	creator("PUT /api/v1/end-users/{id}/memory", perm.MemoryWrite, s.handlePutMemory)
	creator("DELETE /api/v1/end-users/{id}/memory", perm.MemoryWrite, s.handleDeleteMemory)
	// Send policy (api_settings.go) and end users (api_endusers.go).
	creator("GET /api/v1/nudge-policy", perm.SettingsRead, s.handleGetNudgePolicy)
	creator("PUT /api/v1/nudge-policy", perm.SettingsWrite, s.handlePutNudgePolicy)
	creator("PATCH /api/v1/nudge-policy", perm.SettingsWrite, s.handlePatchNudgePolicy)
	creator("GET /api/v1/export", perm.WorkspaceExport, s.handleExport)
	creator("GET /api/v1/end-users", perm.InboxRead, s.handleListEndUsers)
	creator("GET /api/v1/end-users/{id}", perm.InboxRead, s.handleGetEndUser)
	creator("PUT /api/v1/end-users/{id}/tags", perm.InboxWrite, s.handlePutEndUserTags)
	creator("GET /api/v1/end-users/{id}/export", perm.EndUsersExport, s.handleExportEndUser)
	creator("DELETE /api/v1/end-users/{id}", perm.EndUsersDelete, s.handleDeleteEndUser)
	creator("DELETE /api/v1/end-users/{id}/link", perm.InboxWrite, s.handleUnlinkEndUser)

	// Provider webhooks: authenticated by the provider's signature or secret, per channel.
	public("GET /webhooks/whatsapp/{channel}", s.webhooks.WhatsAppVerify)
	public(webhookWhatsApp, s.webhooks.WhatsApp)
	public(webhookTelegram, s.webhooks.Telegram)

	// Widget (end users).
	mux.HandleFunc("GET /widget.js", s.widget.Script)
	mux.HandleFunc("GET /widget/preview", s.widget.Preview)
	mux.HandleFunc("GET /widget/preview.js", s.widget.PreviewScript)
	public("OPTIONS /api/v1/widget/session", s.widget.SessionPreflight)
	public("POST /api/v1/widget/session", s.widget.Session)
	public("GET /api/v1/widget/ws", s.Metrics.Sockets(s.widget.Socket))
	// The installable app (issue 16, docs/app.md): shell, manifest, icons, service worker, the
	// app's session (the widget's token, channel "app") and the end user's self-service API.
	mux.HandleFunc("GET /a/{slug}", s.widget.AppRedirect)
	public("GET /a/{slug}/{$}", func(w http.ResponseWriter, r *http.Request) error { return s.widget.AppShell(w, r) })
	mux.HandleFunc("GET /a/{slug}/app.js", s.widget.AppAsset("app.js"))
	mux.HandleFunc("GET /a/{slug}/app.css", s.widget.AppAsset("app.css"))
	mux.HandleFunc("GET /a/{slug}/sw.js", s.widget.AppAsset("sw.js"))
	public("GET /a/{slug}/manifest.webmanifest", s.widget.AppManifest)
	public("GET /a/{slug}/icons/{name}", s.widget.AppIcon)
	public("POST /api/v1/app/session", s.widget.AppSession)
	public("GET /api/v1/app/me", s.widget.EndUserHandler(s.widget.AppMe))
	public("PATCH /api/v1/app/me", s.widget.EndUserHandler(s.widget.AppPatchMe))
	public("GET /api/v1/app/memory", s.widget.EndUserHandler(s.widget.AppMemory))
	public("DELETE /api/v1/app/memory", s.widget.EndUserHandler(s.widget.AppForget))
	// The app's Web Push (end users, app session token; internal/gateway/push).
	public("GET /api/v1/app/push/key", s.push.Key)
	public("POST /api/v1/app/push/subscriptions", s.push.Subscribe)
	public("DELETE /api/v1/app/push/subscriptions", s.push.Unsubscribe)
	// Linking the app to the person's WhatsApp/Telegram chat (widget/link.go).
	public("POST /api/v1/app/link", s.widget.CreateLink)
	public("GET /api/v1/app/link", s.widget.ListLinks)
	public("DELETE /api/v1/app/link/{channel}", s.widget.Unlink)
	if s.Config.Dev {
		public("GET /demo", s.widget.Demo)
	}
	mux.HandleFunc("GET /openapi.yaml", s.handleOpenAPI)
	// Creator console (console.go).
	s.consoleRoutes(mux)
	s.mu.Lock()
	s.routes = table
	s.mu.Unlock()
	return s.logRequests(mux)
}

// Shutdown closes every widget socket so clients reconnect to another replica.
func (s *Server) Shutdown() {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	s.widget.Shutdown()
	s.bg.Wait()
}

// The webhook intake routes (counted apart: coachwire_webhook_requests_total).
const (
	webhookWhatsApp = "POST /webhooks/whatsapp/{channel}"
	webhookTelegram = "POST /webhooks/telegram/{channel}"
)

func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: 200}
		next.ServeHTTP(sw, r)
		s.Metrics.Request(r.Pattern, sw.status, time.Since(start))
		switch r.Pattern {
		case webhookWhatsApp:
			s.Metrics.Webhook("whatsapp", sw.status)
		case webhookTelegram:
			s.Metrics.Webhook("telegram", sw.status)
		}
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
