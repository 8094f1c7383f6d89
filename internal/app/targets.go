package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/coachwire/coachwire/internal/bus"
	"github.com/coachwire/coachwire/internal/capacity"
	"github.com/coachwire/coachwire/internal/channels/webpush"
	"github.com/coachwire/coachwire/internal/clock"
	"github.com/coachwire/coachwire/internal/config"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/dispatch"
	"github.com/coachwire/coachwire/internal/extract"
	"github.com/coachwire/coachwire/internal/gateway"
	"github.com/coachwire/coachwire/internal/generate"
	"github.com/coachwire/coachwire/internal/ingest"
	"github.com/coachwire/coachwire/internal/knowledge"
	"github.com/coachwire/coachwire/internal/memory"
	"github.com/coachwire/coachwire/internal/retrieve"
	"github.com/coachwire/coachwire/internal/secrets"
	"github.com/coachwire/coachwire/internal/storage"
	"github.com/coachwire/coachwire/internal/tokens"
)

// module is one row of the targets table (the module manager of Loki's pkg/loki/modules.go,
// written small): what a process can start, what must be started before it, and how.
type module struct {
	name string
	// desc is the one line `coachwire -h` prints. Only modules with a description are targets
	// (-target values, and part of `all`); the others are started for the targets that need them.
	desc string
	// deps are started before this module whenever it starts.
	deps []string
	// then are brought along whenever this module starts, and start at their own, later, place
	// in the table: the router brings its consumers, which run once the targets before them
	// have registered their handlers (and before the gateway accepts requests).
	then  []string
	start func(a *App, ctx context.Context) error
}

// platform is what every target depends on: each process connects to NATS, PostgreSQL and
// Weaviate (and starts them when embedded) and knows its LLM mode before any component starts.
var platform = []string{"ops", "bus", "store", "knowledge", "llm"}

func withPlatform(more ...string) []string { return append(slices.Clone(platform), more...) }

// modules is the targets table, in start order: a module's deps come before it (a test checks).
// startServices, startNudge and startGateway are in app.go.
var modules = []module{
	{name: "ops", start: (*App).startOps}, // ops.go: /metrics, /healthz, /readyz, first
	{name: "services", start: (*App).startServices},
	{name: "bus", deps: []string{"services"}, start: (*App).startBus},
	{name: "store", deps: []string{"services"}, start: (*App).startStore},
	{name: "knowledge", deps: []string{"services"}, start: (*App).startKnowledge},
	{name: "llm", start: (*App).detectLLM},
	{name: "router", deps: []string{"bus"}, then: []string{"consumers"}, start: (*App).startRouter},
	{name: config.TargetIngest, desc: "document extraction, chunking, embedding and Weaviate indexing; the stuck-document sweeper",
		deps: withPlatform("router"), start: (*App).startIngest},
	{name: config.TargetRetrieve, desc: "records inbound messages and channel commands, searches the creator's knowledge, requests a turn",
		deps: withPlatform("router"), start: (*App).startRetrieve},
	{name: config.TargetGenerate, desc: "writes replies with the chat model (or passages), AI-personalized nudges and memory profiles",
		deps: withPlatform("router"), start: (*App).startGenerate},
	{name: config.TargetDispatch, desc: "delivers messages to the widget, WhatsApp and Telegram within the providers' limits",
		deps: withPlatform("router"), start: (*App).startDispatch},
	{name: config.TargetNudge, desc: "campaign and program scheduler and the send-policy decisions",
		deps: withPlatform("router"), start: (*App).startNudge},
	{name: "consumers", deps: []string{"router"}, start: (*App).runRouter},
	{name: config.TargetGateway, desc: "REST API, widget (script, WebSocket, demo page), provider webhooks, health",
		deps: withPlatform("router"), start: (*App).startGateway},
}

// Target is a value of -target, as `coachwire -h` lists it.
type Target struct{ Name, Description string }

// Targets are the targets a process can run, in start order; `all` runs every one of them.
func Targets() []Target {
	var out []Target
	for _, m := range modules {
		if m.desc != "" {
			out = append(out, Target{m.name, m.desc})
		}
	}
	return out
}

func moduleNamed(name string) (module, bool) {
	i := slices.IndexFunc(modules, func(m module) bool { return m.name == name })
	if i < 0 {
		return module{}, false
	}
	return modules[i], true
}

// resolve is the modules a process of targets starts, in start order: the targets (all: every
// target), their dependencies and what those bring along.
func resolve(targets []string) ([]module, error) {
	want := map[string]bool{}
	var add func(string) error
	add = func(name string) error {
		if want[name] {
			return nil
		}
		m, ok := moduleNamed(name)
		if !ok {
			return fmt.Errorf("unknown target %q", name)
		}
		want[name] = true
		for _, d := range append(slices.Clone(m.deps), m.then...) {
			if err := add(d); err != nil {
				return err
			}
		}
		return nil
	}
	for _, t := range targets {
		if t == config.TargetAll {
			for _, rt := range Targets() {
				if err := add(rt.Name); err != nil {
					return nil, err
				}
			}
			continue
		}
		if m, ok := moduleNamed(t); !ok || m.desc == "" {
			return nil, fmt.Errorf("unknown target %q", t)
		}
		if err := add(t); err != nil {
			return nil, err
		}
	}
	var out []module
	for _, m := range modules {
		if want[m.name] {
			out = append(out, m)
		}
	}
	return out, nil
}

// busOptions are the bus settings of cfg.
func busOptions(cfg *config.Config) bus.Options {
	return bus.Options{Replicas: cfg.StreamReplicas, MaxBytes: cfg.StreamMaxBytes, MaxMsgs: cfg.StreamMaxMsgs}
}

func (a *App) startBus(ctx context.Context) (err error) {
	if a.Bus, err = bus.Connect(ctx, a.services.natsURL, "coachwire-"+strings.Join(a.cfg.Targets, "+"), a.log, busOptions(a.cfg)); err != nil {
		return err
	}
	a.onStop(a.Bus.Close)
	return a.Bus.EnsureStreams(ctx)
}

func (a *App) startStore(ctx context.Context) (err error) {
	if a.services.ownerURL != "" {
		if err := db.Migrate(ctx, a.services.ownerURL, a.log); err != nil {
			return err
		}
	}
	if a.Store, err = db.Open(ctx, a.services.dbURL, 20); err != nil {
		return err
	}
	a.onStop(a.Store.Close)
	return nil
}

func (a *App) startKnowledge(ctx context.Context) (err error) {
	if a.Knowledge, err = knowledge.New(ctx, a.services.weaviateURL, knowledge.WithGRPC(a.services.weaviateGRPC),
		knowledge.WithLogger(a.log), knowledge.WithAPIKey(a.services.weaviateKey)); err != nil {
		return fmt.Errorf("knowledge index at %s: %w", a.services.weaviateURL, err)
	}
	a.onStop(func() { _ = a.Knowledge.Close() })
	return nil
}

// startRouter creates the message router every target's consumers are registered on.
func (a *App) startRouter(context.Context) (err error) {
	if a.router, err = bus.NewRouter(a.Bus, a.log); err == nil {
		a.router.SetMetrics(a.metrics.consumers)
	}
	return err
}

// runRouter runs the consumers registered by the targets before it (none: a gateway alone).
func (a *App) runRouter(ctx context.Context) error {
	if len(a.router.Handlers()) == 0 {
		return nil
	}
	go func() {
		if err := a.router.Run(context.WithoutCancel(ctx)); err != nil {
			a.log.Error("router stopped", "err", err)
		}
	}()
	a.onStop(func() { _ = a.router.Close() })
	select {
	case <-a.router.Running():
	case <-time.After(30 * time.Second):
		return errors.New("message router did not start within 30s")
	}
	return nil
}

// embedder is the LLM client when it has the embedding model, else nil (BM25 only).
func (a *App) embedder() interface {
	Embed(ctx context.Context, model string, inputs []string) ([][]float32, error)
} {
	if a.hasEmbedder {
		return a.LLM
	}
	return nil
}

func (a *App) startIngest(ctx context.Context) error {
	cfg := a.cfg
	tok, err := tokens.CL100K()
	if err != nil {
		return err
	}
	ch, err := ingest.NewChunker(ingest.ChunkerOptions{MaxTokens: cfg.ChunkTokens, OverlapTokens: cfg.ChunkOverlap, Tokenizer: tok})
	if err != nil {
		return err
	}
	kc := cfg.Knowledge.WithDefaults(cfg.DataDir)
	files, err := storage.New(kc.StorageDir)
	if err != nil {
		return err
	}
	w := &ingest.Worker{Store: a.Store, Bus: a.Bus, Index: a.Knowledge, EmbedModel: cfg.EmbedModel, Chunker: ch,
		Files: files, EmbedBatch: kc.EmbedBatch, Parallel: kc.Parallel, AckWait: kc.AckWait, Log: a.log.With("target", "ingest"), Now: a.now,
		Limits: extract.Limits{MaxBytes: kc.MaxUploadBytes, Timeout: kc.ExtractTimeout, MemoryBytes: kc.ExtractMemory}, Metrics: a.metrics.ingest}
	w.Budgets = a.budgets()
	if embed := a.embedder(); embed != nil {
		w.Embedder = embed
	}
	if err := w.Register(ctx, a.router); err != nil {
		return err
	}
	sw := &ingest.Sweeper{Store: a.Store, Bus: a.Bus, StuckAfter: kc.StuckAfter, Interval: kc.SweepInterval,
		MaxAttempts: kc.MaxAttempts, Log: a.log.With("target", "ingest", "component", "sweeper"), Now: a.now}
	sctx, stopSweeper := context.WithCancel(context.WithoutCancel(ctx))
	go sw.Run(sctx)
	a.onStop(stopSweeper)
	return nil
}

func (a *App) startRetrieve(ctx context.Context) error {
	cfg := a.cfg
	w := &retrieve.Worker{Store: a.Store, Bus: a.Bus, Search: a.Knowledge, EmbedModel: cfg.EmbedModel, Memory: cfg.MemoryEvery > 0,
		Parallel: cfg.WorkerParallel, Log: a.log.With("target", "retrieve"), Now: a.now}
	if embed := a.embedder(); embed != nil {
		w.Embedder = embed
	}
	return w.Register(ctx, a.router)
}

// previewRetriever is the gateway's "try a question": the retrieve worker's search (the same
// settings as startRetrieve's), run in the request.
func (a *App) previewRetriever() gateway.Retriever {
	cfg := a.cfg
	w := &retrieve.Worker{Store: a.Store, Search: a.Knowledge, EmbedModel: cfg.EmbedModel, Passages: 5,
		Log: a.log.With("target", "gateway", "component", "knowledge-search"), Now: a.now}
	if embed := a.embedder(); embed != nil {
		w.Embedder = embed
	}
	return w.Retrieve
}

func (a *App) startGenerate(ctx context.Context) error {
	cfg := a.cfg
	w := &generate.Worker{Store: a.Store, Bus: a.Bus, Model: cfg.ChatModel, ContextTokens: cfg.ContextTokens,
		Lease: cfg.TurnLease, Parallel: cfg.WorkerParallel, Log: a.log.With("target", "generate"), Now: a.now, Metrics: a.metrics.turn}
	if tok, err := tokens.CL100K(); err == nil {
		w.Tokens = generate.CachedCounter(tok.Count, 50_000)
	}
	if a.chat != nil { // switched per message between ollama and passages (llmmode.go)
		w.LLM = a.chat
	}
	if err := w.Register(ctx, a.router); err != nil {
		return err
	}
	// Dead-lettered turns, for the analytics Responsiveness section.
	if err := (&generate.DeadTurns{Store: a.Store}).Register(ctx, a.router); err != nil {
		return err
	}
	// AI-personalized nudges are written by the generate target too: it is the LLM role.
	cw := &generate.Composer{Store: a.Store, Bus: a.Bus, Model: cfg.ChatModel, Search: a.Knowledge,
		Parallel: cfg.WorkerParallel, Log: a.log.With("target", "generate", "component", "compose")}
	cw.Budgets = a.budgets()
	if a.chat != nil { // switched per message between ollama and passages (llmmode.go)
		cw.LLM = a.chat
	}
	if err := cw.Register(ctx, a.router); err != nil {
		return err
	}
	// Memory extraction is LLM work too.
	mw := &memory.Worker{Extractor: &memory.Extractor{Store: a.Store, Model: cfg.ChatModel},
		Every: cfg.MemoryEvery, Idle: cfg.MemoryIdle, Parallel: cfg.MemoryParallel, Log: a.log.With("target", "generate", "component", "memory")}
	if a.chat != nil { // switched per message between ollama and passages (llmmode.go)
		mw.Extractor.LLM = a.chat
	}
	return mw.Register(ctx, a.router)
}

func (a *App) startDispatch(ctx context.Context) error {
	cfg := a.cfg
	keys, err := secrets.Load(cfg.SecretKeys, cfg.DataDir)
	if err != nil {
		return err
	}
	limits := a.DispatchLimits
	if limits.CallTimeout == 0 {
		limits.CallTimeout = cfg.ProviderCallTimeout
	}
	// The app channel's Web Push key pair (issue 16), beside the other keys.
	vapid, err := secrets.LoadOrCreateVAPID(secrets.VAPIDPath(cfg.VAPIDKeyFile, cfg.DataDir))
	if err != nil {
		return err
	}
	w := &dispatch.Worker{Store: a.Store, Bus: a.Bus, Parallel: cfg.WorkerParallel, Log: a.log.With("target", "dispatch"), Now: a.now,
		Keys: keys, WhatsAppURL: cfg.WhatsAppAPIURL, TelegramURL: cfg.TelegramAPIURL, Limits: limits, Metrics: a.metrics.dispatch,
		Push: &webpush.Sender{VAPID: vapid, Subject: cfg.VAPIDSubject}, PushAllowOrigins: cfg.PushAllowOrigins}
	return w.Register(ctx, a.router)
}

// budgets are the creators' daily token budgets for AI nudges and document embedding.
func (a *App) budgets() *capacity.Budgets {
	return capacity.New(a.Store, clock.Func(a.now), capacity.Limits{
		NudgeDailyTokens: a.cfg.LLM.NudgeDailyTokens, EmbedDailyTokens: a.cfg.LLM.EmbedDailyTokens})
}
