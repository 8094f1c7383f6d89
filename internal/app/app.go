// Package app decides which components a coachwire process runs (its targets, in the table of
// targets.go) and wires them: it is the one place where dependencies are built and passed down. With no service URLs it
// starts the embedded defaults (NATS in-process, PostgreSQL and Weaviate as child processes).
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/coachwire/coachwire/internal/analytics"
	"github.com/coachwire/coachwire/internal/auth"
	"github.com/coachwire/coachwire/internal/bus"
	"github.com/coachwire/coachwire/internal/clock"
	"github.com/coachwire/coachwire/internal/config"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/dispatch"
	"github.com/coachwire/coachwire/internal/gateway"
	"github.com/coachwire/coachwire/internal/knowledge"
	"github.com/coachwire/coachwire/internal/llm"
	"github.com/coachwire/coachwire/internal/localdeps"
	"github.com/coachwire/coachwire/internal/nudge"
	"github.com/coachwire/coachwire/internal/ops"
	"github.com/coachwire/coachwire/internal/proactive"
	"github.com/coachwire/coachwire/internal/secrets"
	"github.com/coachwire/coachwire/internal/storage"
)

// App is a running coachwire process.
type App struct {
	cfg   *config.Config
	log   *slog.Logger
	out   io.Writer
	now   func() time.Time
	stops []func()

	Bus       *bus.Bus
	Store     *db.Store
	Knowledge *knowledge.Store
	Auth      *auth.Service
	// LLM is the process's one pool of Ollama servers, shared by every role (nil in the
	// configured passages mode and in a process without a target that calls a model).
	LLM *llm.Pool
	// chat is the pool as the chat roles see it, available while the LLM mode is ollama
	// (llmmode.go); llmCheck how often mode auto looks for the chat model.
	chat     *llmSwitch
	llmCheck time.Duration
	// hasEmbedder: the LLM has the embedding model (hybrid search).
	hasEmbedder bool
	// URL is the gateway's base URL when the gateway runs here.
	URL      string
	gateway  *gateway.Server
	httpSrv  *http.Server
	router   *bus.Router
	demoKey  string
	services services
	// DispatchLimits are the providers' send limits (zero fields: the defaults).
	DispatchLimits dispatch.Limits

	// Ops listener (ops.go): OpsAddr is its bound address (host:port), Registry the process's
	// metrics registry.
	OpsAddr  string
	Registry *prometheus.Registry
	ops      *ops.Server
	metrics  metrics
	started  atomic.Bool
	// stopping is set first thing in Stop: /readyz fails while the process drains.
	stopping atomic.Bool
	watched  atomic.Value // []consumerRef
}

type services struct {
	natsURL, dbURL, ownerURL, weaviateURL, weaviateGRPC, weaviateKey string
}

// Options for Start beyond the config.
type Options struct {
	Log *slog.Logger
	// Out receives the human-readable start banner.
	Out io.Writer
	Now func() time.Time
	// DispatchLimits override the providers' send limits (tests, benchmarks).
	DispatchLimits dispatch.Limits
	// LLMCheck is how often, in LLM mode auto, the process looks for the chat model, and how
	// often the pool re-reads the servers' models and probes those that are out (default
	// DefaultLLMCheck, and the pool's own 30 s / 2 s; tests).
	LLMCheck time.Duration
}

// Start brings up every dependency and component of cfg's targets. Stop undoes it.
func Start(ctx context.Context, cfg *config.Config, opt Options) (*App, error) {
	a := &App{cfg: cfg, log: opt.Log, out: opt.Out, now: opt.Now, DispatchLimits: opt.DispatchLimits, llmCheck: opt.LLMCheck}
	if a.now == nil {
		a.now = time.Now
	}
	if a.out == nil {
		a.out = io.Discard
	}
	started := false
	defer func() {
		// Undo what started (a named result would be nil here on `return nil, err`).
		if !started {
			a.Stop()
		}
	}()
	mods, err := resolve(cfg.Targets)
	if err != nil {
		return nil, err
	}
	if err := a.startTelemetry(ctx); err != nil { // telemetry.go
		return nil, err
	}
	for _, m := range mods { // the targets table (targets.go), in start order
		if err := m.start(a, ctx); err != nil {
			return nil, err
		}
	}
	a.readiness()
	a.started.Store(true)
	a.banner()
	started = true
	return a, nil
}

func (a *App) onStop(f func()) { a.stops = append(a.stops, f) }

// Stop shuts down in reverse order of start: the gateway stops accepting and closes sockets,
// handlers drain, then connections close and child processes stop.
func (a *App) Stop() {
	a.stopping.Store(true)
	for i := len(a.stops) - 1; i >= 0; i-- {
		a.stops[i]()
	}
	a.stops = nil
}

// startServices starts the embedded defaults or takes the configured URLs.
func (a *App) startServices(ctx context.Context) error {
	cfg := a.cfg
	if !cfg.Embedded() {
		a.services = services{natsURL: cfg.NATSURL, dbURL: cfg.DatabaseURL, ownerURL: cfg.MigrateDatabaseURL, weaviateURL: cfg.WeaviateURL,
			weaviateGRPC: cfg.WeaviateGRPCAddr, weaviateKey: cfg.WeaviateAPIKey}
		return nil
	}
	// Find every prerequisite before starting anything, so a missing one is reported at once.
	pgBin, err := localdeps.FindPostgresBin(cfg.PGBinDir)
	if err != nil {
		return err
	}
	getenv := func(k string) string {
		if k == "COACHWIRE_WEAVIATE_BIN" {
			return cfg.WeaviateBin
		}
		return os.Getenv(k)
	}
	wvBin, err := localdeps.FindWeaviateBin(getenv)
	if err != nil {
		return fmt.Errorf("%w (or set COACHWIRE_WEAVIATE_URL to use a running Weaviate)", err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return fmt.Errorf("data dir %s: %w", cfg.DataDir, err)
	}
	ns, err := bus.StartEmbedded(bus.EmbeddedOptions{StoreDir: filepath.Join(cfg.DataDir, "nats"), Port: -1})
	if err != nil {
		return err
	}
	a.onStop(func() { ns.Shutdown(); ns.WaitForShutdown() })
	a.log.Info("embedded nats started", "url", ns.ClientURL())
	pg, err := localdeps.StartPostgres(ctx, localdeps.PostgresOptions{BinDir: pgBin, DataDir: filepath.Join(cfg.DataDir, "postgres"), Logger: a.log})
	if err != nil {
		return err
	}
	a.onStop(func() { _ = pg.Stop() })
	// Weaviate's gRPC port listens on every interface whatever it is told: only this process's
	// key opens it (localdeps.WeaviateOptions.APIKey).
	wvKey, err := localdeps.NewAPIKey()
	if err != nil {
		return err
	}
	wv, err := localdeps.StartWeaviate(ctx, localdeps.WeaviateOptions{Bin: wvBin, DataDir: filepath.Join(cfg.DataDir, "weaviate"), Logger: a.log, APIKey: wvKey})
	if err != nil {
		return err
	}
	a.onStop(func() { _ = wv.Stop() })
	a.services = services{natsURL: natsURL(ns), dbURL: pg.AppURL(), ownerURL: pg.OwnerURL(), weaviateURL: wv.URL(), weaviateGRPC: wv.GRPCAddr(),
		weaviateKey: wvKey}
	return nil
}

func natsURL(ns *server.Server) string { return ns.ClientURL() }

// poolOptions are the LLM pool settings of cfg.
func poolOptions(cfg *config.Config, log *slog.Logger) llm.PoolOptions {
	servers := make([]llm.Server, len(cfg.OllamaURLs))
	for i, u := range cfg.OllamaURLs {
		servers[i] = llm.Server{URL: u, Slots: config.DefaultOllamaSlots}
		if i < len(cfg.LLM.Slots) {
			servers[i].Slots = cfg.LLM.Slots[i]
		}
	}
	l := cfg.LLM
	return llm.PoolOptions{
		Servers: servers,
		Client:  llm.Options{Logger: log, MaxAttempts: 3},
		Settings: llm.Settings{NumCtx: cfg.NumCtx(), NumPredict: l.ReplyTokens, KeepAlive: l.KeepAlive, Think: l.Think,
			ModelOptions: l.ModelOptions},
		CreatorCap: map[llm.Class]int{llm.Nudge: l.NudgeConcurrency, llm.IngestEmbed: l.IngestConcurrency},
		Aging:      l.Aging,
	}
}

// ollamaHealth is the optional "ollama" health check: every server is asked at once; it fails
// when one is down, naming the servers that are up and those that are not.
func (a *App) ollamaHealth() func(ctx context.Context) error {
	clients := make([]*llm.Client, 0, len(a.cfg.OllamaURLs))
	for _, u := range a.LLM.URLs() {
		if c, err := llm.New(u, llm.Options{Logger: a.log, MaxAttempts: 1}); err == nil {
			clients = append(clients, c)
		}
	}
	return func(ctx context.Context) error {
		errs := make([]error, len(clients))
		var wg sync.WaitGroup
		for i, c := range clients {
			wg.Add(1)
			go func() { defer wg.Done(); errs[i] = c.Ping(ctx) }()
		}
		wg.Wait()
		var up, down []string
		for i, c := range clients {
			if errs[i] == nil {
				up = append(up, c.URL())
			} else {
				down = append(down, fmt.Sprintf("%s (%v)", c.URL(), errs[i]))
			}
		}
		if len(down) == 0 {
			return nil
		}
		return fmt.Errorf("%d of %d ollama servers up [%s]; down: %s", len(up), len(clients), strings.Join(up, ", "), strings.Join(down, "; "))
	}
}

// startNudge registers the nudge consumer and runs the scheduler (issue 5).
func (a *App) startNudge(ctx context.Context) error {
	n := a.cfg.Nudge.WithDefaults()
	w := &nudge.Worker{Store: a.Store, Bus: a.Bus, Clock: clock.Func(a.now), Log: a.log.With("target", "nudge"),
		Platform: proactive.Platform{CeilingDay: n.CeilingDay, CeilingWeek: n.CeilingWeek, LiveWindow: n.LiveWindow, MaxHold: n.MaxHold},
		Tick:     n.Tick, Page: n.Page, Lease: n.Lease, Batch: n.Batch, Parallel: n.Parallel, AckWait: n.AckWait, Metrics: a.metrics.nudge}
	if err := w.Register(ctx, a.router); err != nil {
		return err
	}
	sctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	go w.Run(sctx)
	// The analytics rollup worker (migration 0027): applies the queued messages.
	go (&analytics.Worker{Store: a.Store, Log: a.log.With("target", "nudge")}).Run(sctx)
	a.onStop(stop)
	return nil
}

func (a *App) startGateway(ctx context.Context) error {
	cfg := a.cfg
	keyFile := cfg.JWTKeyFile
	if keyFile == "" {
		keyFile = filepath.Join(cfg.DataDir, "keys", "jwt.json")
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("gateway: listen on %s (COACHWIRE_HTTP_ADDR): %w", cfg.HTTPAddr, err)
	}
	a.URL = "http://" + ln.Addr().String()
	if cfg.PublicURL == "" || strings.HasSuffix(cfg.HTTPAddr, ":0") {
		cfg.PublicURL = a.URL
	}
	// The issuer does not depend on this replica's address (tokens issued before it was constant
	// named the public URL: accepted until they expire).
	a.Auth, err = auth.New(auth.Options{KeyFile: keyFile, Issuer: auth.Issuer, AcceptIssuers: []string{cfg.PublicURL},
		AccessTTL: cfg.AccessTokenTTL, RefreshTTL: cfg.RefreshTokenTTL, WidgetTTL: cfg.WidgetTokenTTL, BcryptCost: cfg.BcryptCost, Now: a.now})
	if err != nil {
		ln.Close()
		return err
	}
	if err := a.announceGateway(ctx, keyFile); err != nil {
		ln.Close()
		return err
	}
	keys, err := secrets.Load(cfg.SecretKeys, cfg.DataDir)
	if err != nil {
		ln.Close()
		return err
	}
	// The app channel's Web Push key pair (issue 16), beside the other keys.
	vapid, err := secrets.LoadOrCreateVAPID(secrets.VAPIDPath(cfg.VAPIDKeyFile, cfg.DataDir))
	if err != nil {
		ln.Close()
		return err
	}
	checks := []gateway.HealthCheck{
		{Name: "postgres", Check: a.Store.Ping},
		{Name: "nats", Check: a.Bus.Ping},
		{Name: "weaviate", Check: a.Knowledge.Ready},
	}
	if a.LLM != nil {
		checks = append(checks, gateway.HealthCheck{Name: "ollama", Optional: true, Check: a.ollamaHealth()})
	}
	checks = append(checks, a.consumersHealth())
	kc, nc := cfg.Knowledge.WithDefaults(cfg.DataDir), cfg.Nudge.WithDefaults()
	files, err := storage.New(kc.StorageDir)
	if err != nil {
		ln.Close()
		return err
	}
	a.gateway = gateway.New(gateway.Deps{
		Config: &gateway.Settings{PublicURL: cfg.PublicURL, Dev: cfg.Dev, TelegramAPIURL: cfg.TelegramAPIURL, WhatsAppAPIURL: cfg.WhatsAppAPIURL, Limits: cfg.Limits,
			Platform:    proactive.Platform{CeilingDay: nc.CeilingDay, CeilingWeek: nc.CeilingWeek, LiveWindow: nc.LiveWindow, MaxHold: nc.MaxHold},
			MinInterval: nc.MinInterval, MaxUploadBytes: kc.MaxUploadBytes, MaxCreatorBytes: kc.MaxCreatorBytes,
			ImportAllowPrivate: kc.ImportAllowPrivate, PushAllowOrigins: cfg.PushAllowOrigins},
		Files: files, Store: a.Store, Bus: a.Bus, Auth: a.Auth, Keys: keys, Log: a.log.With("target", "gateway"), Now: a.now,
		Tenants:        func(ctx context.Context, id uuid.UUID) error { return a.Knowledge.EnsureTenant(ctx, id) },
		Retrieve:       a.previewRetriever(),
		Health:         checks,
		DemoWidgetKey:  func() string { return a.demoKey },
		Metrics:        a.metrics.gateway,
		VAPIDPublicKey: vapid.PublicKey,
	})
	a.httpSrv = &http.Server{Handler: a.gateway.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	go func() {
		if err := a.httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("http server", "err", err)
		}
	}()
	a.onStop(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		a.gateway.Shutdown()
		_ = a.httpSrv.Shutdown(sctx)
	})
	if cfg.Dev {
		if a.demoKey, err = seedDemo(ctx, a); err != nil {
			a.log.Warn("demo creator not seeded", "err", err)
		}
	}
	return nil
}

func (a *App) banner() {
	fmt.Fprintf(a.out, "coachwire running: targets %s\n", strings.Join(a.cfg.Targets, ","))
	if a.URL != "" {
		fmt.Fprintf(a.out, "  API:        %s/api/v1 (OpenAPI: %s/openapi.yaml, health: %s/health)\n", a.cfg.PublicURL, a.cfg.PublicURL, a.cfg.PublicURL)
		fmt.Fprintf(a.out, "  Console:    %s/console\n", a.cfg.PublicURL)
		if a.cfg.Dev && a.demoKey != "" {
			fmt.Fprintf(a.out, "  Demo page:  %s/demo (widget key %s)\n", a.cfg.PublicURL, a.demoKey)
		}
	}
	// LLM and search lines only for the targets that use them (llmmode.go).
	urls := strings.Join(a.cfg.OllamaURLs, ", ")
	if a.cfg.Runs(config.TargetGenerate) {
		switch {
		case a.LLMMode() == config.LLMOllama:
			fmt.Fprintf(a.out, "  LLM mode:   ollama (%s at %s)\n", a.cfg.ChatModel, urls)
		case a.chat != nil:
			fmt.Fprintf(a.out, "  LLM mode:   passages until %s answers at %s (replies quote the best passages with their sources)\n", a.cfg.ChatModel, urls)
		default:
			fmt.Fprintf(a.out, "  LLM mode:   passages (COACHWIRE_LLM_MODE=passages: replies quote the best passages with their sources)\n")
		}
	}
	if a.LLM != nil {
		for _, st := range a.LLM.Stats() {
			state := "up"
			if !st.Up {
				state = "down"
			}
			fmt.Fprintf(a.out, "  LLM server: %s, %d slots, %s\n", st.URL, st.Slots, state)
		}
	}
	if a.cfg.Runs(config.TargetIngest) || a.cfg.Runs(config.TargetRetrieve) {
		if a.hasEmbedder {
			fmt.Fprintf(a.out, "  Search:     hybrid (BM25 + %s vectors)\n", a.cfg.EmbedModel)
		} else {
			fmt.Fprintf(a.out, "  Search:     BM25 only (no embedding model)\n")
		}
	}
	if a.cfg.Embedded() {
		fmt.Fprintf(a.out, "  Data:       %s (embedded NATS, PostgreSQL and Weaviate)\n", a.cfg.DataDir)
	}
}
