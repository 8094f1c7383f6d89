// Package config holds coachwire's one Config, read from COACHWIRE_* environment variables and
// command-line flags, and validated before anything starts. No other package reads the
// environment.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Targets a process can run.
const (
	TargetAll      = "all"
	TargetGateway  = "gateway"
	TargetIngest   = "ingest"
	TargetRetrieve = "retrieve"
	TargetGenerate = "generate"
	TargetNudge    = "nudge"
	TargetDispatch = "dispatch"
)

// WorkerTargets is every component target, in start order.
var WorkerTargets = []string{TargetGateway, TargetIngest, TargetRetrieve, TargetGenerate, TargetDispatch, TargetNudge}

// LLM modes.
const (
	LLMAuto     = "auto"
	LLMOllama   = "ollama"
	LLMPassages = "passages"
)

// Defaults of the settings other packages also fall back on when a field is left zero (a
// package built directly, in tests): they are written here only.
const (
	DefaultAccessTokenTTL       = 15 * time.Minute
	DefaultRefreshTokenTTL      = 30 * 24 * time.Hour
	DefaultWidgetTokenTTL       = 30 * time.Minute
	DefaultBcryptCost           = 11
	DefaultProviderCallTimeout  = 30 * time.Second
	DefaultWorkerParallel       = 8
	DefaultMemoryParallel       = 2
	DefaultStreamReplicas       = 1
	DefaultExtractTimeout       = 60 * time.Second
	DefaultExtractMemory        = 1 << 30
	DefaultOllamaURL            = "http://127.0.0.1:11434"
	DefaultOllamaSlots          = 2
	DefaultReplyTokens          = 512
	DefaultLLMAging             = 60 * time.Second
	DefaultLLMNudgeConcurrency  = 0
	DefaultLLMIngestConcurrency = 0
)

// DefaultOpsAddr is the ops listener's address: loopback, so metrics and readiness are not
// public unless an operator says so.
const DefaultOpsAddr = "127.0.0.1:9090"

// Config is everything a coachwire process needs to start.
type Config struct {
	Targets []string
	DataDir string

	HTTPAddr  string
	PublicURL string
	Dev       bool

	// OpsAddr is COACHWIRE_OPS_ADDR: the ops listener every process starts (/metrics,
	// /healthz, /readyz); port 0 picks a free port.
	OpsAddr string

	NATSURL            string
	DatabaseURL        string
	MigrateDatabaseURL string
	WeaviateURL        string
	// WeaviateGRPCAddr is Weaviate's gRPC host:port, used for searches (default: the REST
	// URL's host on port 50051, Weaviate's default; unreachable: searches use GraphQL).
	WeaviateGRPCAddr string
	// WeaviateAPIKey is COACHWIRE_WEAVIATE_API_KEY: the API key of an external Weaviate with API
	// key authentication (empty: anonymous). The embedded Weaviate gets a generated one.
	WeaviateAPIKey string
	// OllamaURLs is COACHWIRE_OLLAMA_URL: a comma list of Ollama servers, one pool.
	OllamaURLs []string

	// LLM servers and the model scheduler (issue 14); see llm.PoolOptions.
	LLM LLM

	WeaviateBin string
	PGBinDir    string

	LLMMode    string
	ChatModel  string
	EmbedModel string

	JWTKeyFile      string
	AccessTokenTTL  time.Duration
	RefreshTokenTTL time.Duration
	WidgetTokenTTL  time.Duration
	BcryptCost      int

	ChunkTokens    int
	ChunkOverlap   int
	ContextTokens  int
	TurnLease      time.Duration
	WorkerParallel int

	// Knowledge lifecycle (issue 3); zero fields take KnowledgeDefaults (WithDefaults).
	Knowledge Knowledge

	// Nudge configures the proactive scheduler (issue 5); zero fields take NudgeDefaults (WithDefaults).
	Nudge Nudge

	// MemoryEvery is COACHWIRE_MEMORY_EVERY: a person's memory profile is extracted once this
	// many of their messages are waiting (default 4; 0 turns automatic extraction off).
	// MemoryIdle is COACHWIRE_MEMORY_IDLE: or once they have been quiet this long (default 2m).
	// MemoryParallel is COACHWIRE_MEMORY_PARALLEL: extractions run at once (default 2).
	MemoryEvery    int
	MemoryIdle     time.Duration
	MemoryParallel int

	// StreamReplicas is COACHWIRE_STREAM_REPLICAS: the replicas of every JetStream stream
	// created (default 1; 3 on a 3-node NATS cluster in production).
	StreamReplicas int
	// StreamMaxBytes is COACHWIRE_STREAM_MAX_BYTES and StreamMaxMsgs COACHWIRE_STREAM_MAX_MSGS:
	// each stream's size limit (0: the bus's defaults, 256 MiB and no message limit; -1: none).
	// A full stream refuses publishes after removing what every consumer acknowledged, never
	// unprocessed messages (internal/bus/streams.go).
	StreamMaxBytes int64
	StreamMaxMsgs  int64

	LogLevel string

	// Limits are the gateway's request limits (limits.go); zero fields take LimitDefaults.
	Limits Limits

	// Channels. SecretKeys is COACHWIRE_SECRET_KEYS: a comma list of "<id>:<base64 32 bytes>",
	// the first encrypts channel credentials, all decrypt (empty: a key file in the data dir).
	SecretKeys     string
	WhatsAppAPIURL string
	TelegramAPIURL string
	// ProviderCallTimeout is COACHWIRE_PROVIDER_CALL_TIMEOUT (default 30s): the longest one
	// WhatsApp/Telegram send may take; a dispatch process that died mid-call has its message
	// retried after about twice that.
	ProviderCallTimeout time.Duration

	// Web Push, the app channel (issue 16). VAPIDKeyFile is COACHWIRE_VAPID_KEY_FILE: the
	// deployment's VAPID key pair (default <data dir>/keys/vapid.json, generated on first start;
	// every gateway and dispatch process must read the same file). VAPIDSubject is
	// COACHWIRE_VAPID_SUBJECT, the contact push services see: a mailto: address or an https URL
	// (default: the public URL when it is https, else mailto:push@coachwire.invalid).
	// PushAllowOrigins is COACHWIRE_PUSH_ALLOW_ORIGINS: origins of push services accepted over
	// plain http (loopback test services only; production endpoints are https).
	VAPIDKeyFile     string
	VAPIDSubject     string
	PushAllowOrigins []string
}

// LLM configures the pool of Ollama servers every model call of a process goes through.
type LLM struct {
	// Slots is COACHWIRE_OLLAMA_SLOTS, one per URL of OllamaURLs: how many calls this process
	// runs at once on each server (its OLLAMA_NUM_PARALLEL divided by the processes sharing it).
	// Written as one number for every server or a comma list in the order of the URLs; default 2.
	Slots []int
	// KeepAlive is COACHWIRE_OLLAMA_KEEP_ALIVE: how long Ollama keeps a model loaded after a
	// call (0, unset: Ollama's default; negative: for ever).
	KeepAlive time.Duration
	// Think is COACHWIRE_OLLAMA_THINK: let thinking models think first (default false).
	Think bool
	// ReplyTokens is COACHWIRE_REPLY_TOKENS: the reply budget (num_predict); the context window
	// (num_ctx) is COACHWIRE_CONTEXT_TOKENS plus it. Default 512.
	ReplyTokens int
	// ModelOptions is COACHWIRE_OLLAMA_MODEL_OPTIONS: Ollama options per model, a JSON object
	// such as {"llama3.2": {"temperature": 0.3}}.
	ModelOptions map[string]map[string]any
	// Aging is COACHWIRE_LLM_AGING: a waiting call moves up one priority class per Aging
	// waited (default 60s).
	Aging time.Duration
	// NudgeConcurrency and IngestConcurrency are COACHWIRE_LLM_NUDGE_CONCURRENCY and
	// COACHWIRE_LLM_INGEST_CONCURRENCY: the most AI-nudge and document-embedding calls one
	// creator may have running at once in this process (default 0 each: no cap besides the slots; fair sharing already keeps one creator from starving another).
	NudgeConcurrency  int
	IngestConcurrency int
	// NudgeDailyTokens is COACHWIRE_LLM_NUDGE_DAILY_TOKENS and EmbedDailyTokens
	// COACHWIRE_LLM_EMBED_DAILY_TOKENS: each creator's default daily token budget for AI-written
	// nudges and for embedding uploaded documents (UTC days; 0, the default: unlimited). A
	// creator's own limit in llm_budgets overrides it (internal/capacity).
	NudgeDailyTokens int64
	EmbedDailyTokens int64
}

// NumCtx is the context window to ask Ollama for: the prompt budget plus the reply budget.
func (c *Config) NumCtx() int { return c.ContextTokens + c.LLM.ReplyTokens }

// Knowledge configures uploads, storage and the ingest pipeline.
type Knowledge struct {
	StorageDir         string        // COACHWIRE_STORAGE_DIR, default <data dir>/files
	MaxUploadBytes     int64         // COACHWIRE_MAX_UPLOAD_BYTES, default 25 MiB
	MaxCreatorBytes    int64         // COACHWIRE_MAX_CREATOR_BYTES, default 500 MiB
	EmbedBatch         int           // COACHWIRE_EMBED_BATCH, default 32 chunks per embedding call
	Parallel           int           // COACHWIRE_INGEST_PARALLEL, default 2 documents at once (each extraction may take ExtractMemory)
	StuckAfter         time.Duration // COACHWIRE_INGEST_STUCK_AFTER, default 10m
	SweepInterval      time.Duration // COACHWIRE_INGEST_SWEEP_INTERVAL, default 1m
	MaxAttempts        int           // COACHWIRE_INGEST_MAX_ATTEMPTS, default 3 sweeper requeues
	AckWait            time.Duration // COACHWIRE_INGEST_ACK_WAIT, default 30s: a dead ingest's document is redelivered after it
	ExtractTimeout     time.Duration // COACHWIRE_EXTRACT_TIMEOUT, default 60s
	ExtractMemory      int64         // COACHWIRE_EXTRACT_MEMORY_BYTES, default 1 GiB
	ImportAllowPrivate bool          // COACHWIRE_IMPORT_ALLOW_PRIVATE: tests only; lets URL import reach private addresses
}

// Nudge configures the nudge target: scheduler cadence and the platform-wide send ceilings
// every creator's policy lives under.
type Nudge struct {
	Tick        time.Duration // COACHWIRE_NUDGE_TICK, default 1s: how often due work is claimed
	Page        int           // COACHWIRE_NUDGE_PAGE, default 5000 recipients per audience page
	Lease       time.Duration // COACHWIRE_NUDGE_LEASE, default 30s: a dead replica's work is taken over after it
	Batch       int           // COACHWIRE_NUDGE_BATCH, default 500 recipients decided per transaction
	Parallel    int           // COACHWIRE_NUDGE_PARALLEL, default 2 decision batches (transactions) at once
	CeilingDay  int           // COACHWIRE_NUDGE_CEILING_DAY, default 3 proactive messages per person per day
	CeilingWeek int           // COACHWIRE_NUDGE_CEILING_WEEK, default 10 per person per 7 days
	LiveWindow  time.Duration // COACHWIRE_NUDGE_LIVE_WINDOW, default 10m: who wrote within it is not interrupted
	MaxHold     time.Duration // COACHWIRE_NUDGE_MAX_HOLD, default 48h: a held nudge older than that is skipped (expired)
	MinInterval time.Duration // COACHWIRE_NUDGE_MIN_INTERVAL, default 1h: the shortest gap allowed between two occurrences of a recurring campaign
	AckWait     time.Duration // COACHWIRE_NUDGE_ACK_WAIT, default 60s: a dead replica's claimed recipients are redelivered after it
}

// NudgeDefaults are the nudge settings when none are configured (the one place they are
// written: Parse, WithDefaults and the nudge worker's zero-field fallback read them).
var NudgeDefaults = Nudge{
	Tick: time.Second, Page: 5000, Lease: 30 * time.Second, Batch: 500, Parallel: 2,
	CeilingDay: 3, CeilingWeek: 10, LiveWindow: 10 * time.Minute, MaxHold: 48 * time.Hour, MinInterval: time.Hour,
	AckWait: 60 * time.Second,
}

// WithDefaults fills zero fields from NudgeDefaults.
func (n Nudge) WithDefaults() Nudge {
	d := NudgeDefaults
	fillDur(&n.Tick, d.Tick)
	fillInt(&n.Page, d.Page)
	fillDur(&n.Lease, d.Lease)
	fillInt(&n.Batch, d.Batch)
	fillInt(&n.Parallel, d.Parallel)
	fillInt(&n.CeilingDay, d.CeilingDay)
	fillInt(&n.CeilingWeek, d.CeilingWeek)
	fillDur(&n.LiveWindow, d.LiveWindow)
	fillDur(&n.MaxHold, d.MaxHold)
	fillDur(&n.MinInterval, d.MinInterval)
	fillDur(&n.AckWait, d.AckWait)
	return n
}

// KnowledgeDefaults are the knowledge settings when none are configured; StorageDir's default
// is <data dir>/files (see WithDefaults).
var KnowledgeDefaults = Knowledge{
	MaxUploadBytes: 25 << 20, MaxCreatorBytes: 500 << 20, EmbedBatch: 32, Parallel: 2, StuckAfter: 10 * time.Minute,
	SweepInterval: time.Minute, MaxAttempts: 3, AckWait: 30 * time.Second, ExtractTimeout: DefaultExtractTimeout, ExtractMemory: DefaultExtractMemory,
}

// WithDefaults fills zero fields from KnowledgeDefaults.
func (k Knowledge) WithDefaults(dataDir string) Knowledge {
	d := KnowledgeDefaults
	if k.StorageDir == "" {
		k.StorageDir = filepath.Join(dataDir, "files")
	}
	fillInt64(&k.MaxUploadBytes, d.MaxUploadBytes)
	fillInt64(&k.MaxCreatorBytes, d.MaxCreatorBytes)
	fillInt(&k.EmbedBatch, d.EmbedBatch)
	fillInt(&k.Parallel, d.Parallel)
	fillDur(&k.StuckAfter, d.StuckAfter)
	fillDur(&k.SweepInterval, d.SweepInterval)
	fillInt(&k.MaxAttempts, d.MaxAttempts)
	fillDur(&k.AckWait, d.AckWait)
	fillDur(&k.ExtractTimeout, d.ExtractTimeout)
	fillInt64(&k.ExtractMemory, d.ExtractMemory)
	return k
}

func fillInt(v *int, def int) {
	if *v <= 0 {
		*v = def
	}
}

func fillInt64(v *int64, def int64) {
	if *v <= 0 {
		*v = def
	}
}

func fillDur(v *time.Duration, def time.Duration) {
	if *v <= 0 {
		*v = def
	}
}

// Embedded reports whether this process starts its own NATS, Postgres and Weaviate.
func (c *Config) Embedded() bool { return c.NATSURL == "" }

// Runs reports whether target is among the configured ones.
func (c *Config) Runs(target string) bool {
	return slices.Contains(c.Targets, TargetAll) || slices.Contains(c.Targets, target)
}

// UsageError is a command line Parse cannot read (an unknown flag, a bad flag value, a stray
// argument): the command prints its usage and exits 2. -h and -help give flag.ErrHelp instead.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// PrintFlags writes the command-line flags, their meaning and their defaults (as the
// environment through getenv sets them) to w.
func PrintFlags(w io.Writer, getenv func(string) string) {
	fs, _ := flags(&Config{}, getenv)
	fs.SetOutput(w)
	fs.PrintDefaults()
}

// flags is the flag set Parse reads into c; target receives -target.
func flags(c *Config, getenv func(string) string) (fs *flag.FlagSet, target *string) {
	env := func(k, def string) string {
		if v := strings.TrimSpace(getenv(k)); v != "" {
			return v
		}
		return def
	}
	fs = flag.NewFlagSet("coachwire", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	target = fs.String("target", env("COACHWIRE_TARGET", TargetAll), "comma list of targets: all, or "+strings.Join(WorkerTargets, ", "))
	fs.StringVar(&c.DataDir, "data-dir", env("COACHWIRE_DATA_DIR", ".coachwire"), "directory for embedded NATS, Postgres, Weaviate data and keys")
	fs.StringVar(&c.HTTPAddr, "http-addr", env("COACHWIRE_HTTP_ADDR", "127.0.0.1:8080"), "gateway listen address")
	fs.StringVar(&c.OpsAddr, "ops-addr", env("COACHWIRE_OPS_ADDR", DefaultOpsAddr), "ops listener address: /metrics, /healthz, /readyz (every process)")
	fs.StringVar(&c.PublicURL, "public-url", env("COACHWIRE_PUBLIC_URL", ""), "public base URL of the gateway (default http://<http-addr>)")
	fs.BoolVar(&c.Dev, "dev", env("COACHWIRE_DEV", "") == "true" || env("COACHWIRE_DEV", "") == "1", "serve the demo page and seed a demo creator")
	fs.StringVar(&c.LLMMode, "llm-mode", env("COACHWIRE_LLM_MODE", LLMAuto), "auto, ollama or passages")
	fs.StringVar(&c.LogLevel, "log-level", env("COACHWIRE_LOG_LEVEL", "info"), "debug, info, warn, error")
	return fs, target
}

// Parse reads flags from args and the environment through getenv. A command line it cannot
// read is a *UsageError (its message is also written to stderr); -h gives flag.ErrHelp.
func Parse(args []string, getenv func(string) string, stderr io.Writer) (*Config, error) {
	env := func(k, def string) string {
		if v := strings.TrimSpace(getenv(k)); v != "" {
			return v
		}
		return def
	}
	c := &Config{}
	fs, target := flags(c, getenv)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		fmt.Fprintln(stderr, err)
		return nil, &UsageError{err}
	}
	if fs.NArg() > 0 {
		err := fmt.Errorf("unexpected argument %q: a subcommand comes before any flag", fs.Arg(0))
		fmt.Fprintln(stderr, err)
		return nil, &UsageError{err}
	}
	c.Targets = splitList(*target)
	c.NATSURL = env("COACHWIRE_NATS_URL", "")
	c.DatabaseURL = env("COACHWIRE_DATABASE_URL", "")
	c.MigrateDatabaseURL = env("COACHWIRE_MIGRATE_DATABASE_URL", "")
	c.WeaviateURL = env("COACHWIRE_WEAVIATE_URL", "")
	c.WeaviateGRPCAddr = env("COACHWIRE_WEAVIATE_GRPC_ADDR", "")
	c.WeaviateAPIKey = env("COACHWIRE_WEAVIATE_API_KEY", "")
	if c.WeaviateGRPCAddr == "" && c.WeaviateURL != "" {
		if u, err := url.Parse(c.WeaviateURL); err == nil && u.Hostname() != "" {
			c.WeaviateGRPCAddr = net.JoinHostPort(u.Hostname(), "50051")
		}
	}
	c.OllamaURLs = splitList(env("COACHWIRE_OLLAMA_URL", DefaultOllamaURL))
	c.WeaviateBin = env("COACHWIRE_WEAVIATE_BIN", "")
	c.PGBinDir = env("COACHWIRE_PG_BIN_DIR", "")
	c.ChatModel = env("COACHWIRE_CHAT_MODEL", "llama3.2")
	c.EmbedModel = env("COACHWIRE_EMBED_MODEL", "nomic-embed-text")
	c.JWTKeyFile = env("COACHWIRE_JWT_KEY_FILE", "")
	c.SecretKeys = env("COACHWIRE_SECRET_KEYS", "")
	c.WhatsAppAPIURL = env("COACHWIRE_WHATSAPP_API_URL", "https://graph.facebook.com")
	c.TelegramAPIURL = env("COACHWIRE_TELEGRAM_API_URL", "https://api.telegram.org")
	c.VAPIDKeyFile = env("COACHWIRE_VAPID_KEY_FILE", "")
	c.VAPIDSubject = env("COACHWIRE_VAPID_SUBJECT", "")
	c.PushAllowOrigins = splitList(env("COACHWIRE_PUSH_ALLOW_ORIGINS", ""))

	var errs []error
	dur := func(k string, def time.Duration) time.Duration {
		v := env(k, "")
		if v == "" {
			return def
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("%s=%q: want a positive duration such as 15m", k, v))
			return def
		}
		return d
	}
	num := func(k string, def int) int {
		v := env(k, "")
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: want an integer", k, v))
			return def
		}
		return n
	}
	c.AccessTokenTTL = dur("COACHWIRE_ACCESS_TOKEN_TTL", DefaultAccessTokenTTL)
	c.RefreshTokenTTL = dur("COACHWIRE_REFRESH_TOKEN_TTL", DefaultRefreshTokenTTL)
	c.WidgetTokenTTL = dur("COACHWIRE_WIDGET_TOKEN_TTL", DefaultWidgetTokenTTL)
	c.TurnLease = dur("COACHWIRE_TURN_LEASE", 45*time.Second)
	c.BcryptCost = num("COACHWIRE_BCRYPT_COST", DefaultBcryptCost)
	c.ChunkTokens = num("COACHWIRE_CHUNK_TOKENS", 1000)
	c.ChunkOverlap = num("COACHWIRE_CHUNK_OVERLAP", 200)
	c.ContextTokens = num("COACHWIRE_CONTEXT_TOKENS", 4000)
	c.WorkerParallel = num("COACHWIRE_WORKER_PARALLEL", DefaultWorkerParallel)
	kd := KnowledgeDefaults
	c.Knowledge = Knowledge{StorageDir: env("COACHWIRE_STORAGE_DIR", ""),
		MaxUploadBytes: int64(num("COACHWIRE_MAX_UPLOAD_BYTES", int(kd.MaxUploadBytes))), MaxCreatorBytes: int64(num("COACHWIRE_MAX_CREATOR_BYTES", int(kd.MaxCreatorBytes))),
		EmbedBatch: num("COACHWIRE_EMBED_BATCH", kd.EmbedBatch), Parallel: num("COACHWIRE_INGEST_PARALLEL", kd.Parallel),
		StuckAfter:    dur("COACHWIRE_INGEST_STUCK_AFTER", kd.StuckAfter),
		SweepInterval: dur("COACHWIRE_INGEST_SWEEP_INTERVAL", kd.SweepInterval), MaxAttempts: num("COACHWIRE_INGEST_MAX_ATTEMPTS", kd.MaxAttempts),
		AckWait:        dur("COACHWIRE_INGEST_ACK_WAIT", kd.AckWait),
		ExtractTimeout: dur("COACHWIRE_EXTRACT_TIMEOUT", kd.ExtractTimeout), ExtractMemory: int64(num("COACHWIRE_EXTRACT_MEMORY_BYTES", int(kd.ExtractMemory))),
		ImportAllowPrivate: env("COACHWIRE_IMPORT_ALLOW_PRIVATE", "") == "true"}
	nd := NudgeDefaults
	c.Nudge = Nudge{Tick: dur("COACHWIRE_NUDGE_TICK", nd.Tick), Page: num("COACHWIRE_NUDGE_PAGE", nd.Page),
		Lease: dur("COACHWIRE_NUDGE_LEASE", nd.Lease), Batch: num("COACHWIRE_NUDGE_BATCH", nd.Batch), Parallel: num("COACHWIRE_NUDGE_PARALLEL", nd.Parallel),
		CeilingDay: num("COACHWIRE_NUDGE_CEILING_DAY", nd.CeilingDay), CeilingWeek: num("COACHWIRE_NUDGE_CEILING_WEEK", nd.CeilingWeek),
		LiveWindow: dur("COACHWIRE_NUDGE_LIVE_WINDOW", nd.LiveWindow), MaxHold: dur("COACHWIRE_NUDGE_MAX_HOLD", nd.MaxHold),
		MinInterval: dur("COACHWIRE_NUDGE_MIN_INTERVAL", nd.MinInterval), AckWait: dur("COACHWIRE_NUDGE_ACK_WAIT", nd.AckWait)}
	c.ProviderCallTimeout = dur("COACHWIRE_PROVIDER_CALL_TIMEOUT", DefaultProviderCallTimeout)
	c.MemoryEvery = num("COACHWIRE_MEMORY_EVERY", 4)
	c.MemoryIdle = dur("COACHWIRE_MEMORY_IDLE", 2*time.Minute)
	c.MemoryParallel = num("COACHWIRE_MEMORY_PARALLEL", DefaultMemoryParallel)
	c.StreamReplicas = num("COACHWIRE_STREAM_REPLICAS", DefaultStreamReplicas)
	c.StreamMaxBytes = int64(num("COACHWIRE_STREAM_MAX_BYTES", 0))
	c.StreamMaxMsgs = int64(num("COACHWIRE_STREAM_MAX_MSGS", 0))
	c.Limits = parseLimits(env, dur, &errs)
	c.LLM = parseLLM(env, dur, num, len(c.OllamaURLs), &errs)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if c.PublicURL == "" {
		c.PublicURL = "http://" + c.HTTPAddr
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	if c.VAPIDSubject == "" {
		c.VAPIDSubject = "mailto:push@coachwire.invalid"
		if strings.HasPrefix(c.PublicURL, "https://") {
			c.VAPIDSubject = c.PublicURL
		}
	}
	if abs, err := filepath.Abs(c.DataDir); err == nil {
		c.DataDir = abs
	}
	return c, c.Validate()
}

// Validate checks every setting and names the bad ones.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if len(c.Targets) == 0 {
		bad("-target (COACHWIRE_TARGET) is empty: use all or a comma list of %s", strings.Join(WorkerTargets, ", "))
	}
	for _, t := range c.Targets {
		if t != TargetAll && !slices.Contains(WorkerTargets, t) {
			bad("-target (COACHWIRE_TARGET): unknown target %q: use all or a comma list of %s", t, strings.Join(WorkerTargets, ", "))
		}
	}
	external := []struct{ name, val string }{
		{"COACHWIRE_NATS_URL", c.NATSURL}, {"COACHWIRE_DATABASE_URL", c.DatabaseURL}, {"COACHWIRE_WEAVIATE_URL", c.WeaviateURL},
	}
	set := 0
	for _, e := range external {
		if e.val != "" {
			set++
		}
	}
	if set != 0 && set != len(external) {
		var missing []string
		for _, e := range external {
			if e.val == "" {
				missing = append(missing, e.name)
			}
		}
		bad("external services are half configured: also set %s (or unset all three to run the embedded defaults)", strings.Join(missing, ", "))
	}
	if set == 0 && !(len(c.Targets) == 1 && c.Targets[0] == TargetAll) {
		bad("-target %s needs COACHWIRE_NATS_URL, COACHWIRE_DATABASE_URL and COACHWIRE_WEAVIATE_URL: only target all starts embedded services", strings.Join(c.Targets, ","))
	}
	for _, u := range []struct{ name, val string }{
		{"COACHWIRE_NATS_URL", c.NATSURL}, {"COACHWIRE_DATABASE_URL", c.DatabaseURL}, {"COACHWIRE_WEAVIATE_URL", c.WeaviateURL},
		{"COACHWIRE_PUBLIC_URL", c.PublicURL}, {"COACHWIRE_MIGRATE_DATABASE_URL", c.MigrateDatabaseURL},
		{"COACHWIRE_WHATSAPP_API_URL", c.WhatsAppAPIURL}, {"COACHWIRE_TELEGRAM_API_URL", c.TelegramAPIURL},
	} {
		if u.val == "" {
			continue
		}
		p, err := url.Parse(u.val)
		if err != nil || p.Scheme == "" || p.Host == "" {
			bad("%s=%q is not a URL with scheme and host", u.name, redact(u.val))
		}
	}
	c.validateLLM(bad)
	if c.WeaviateGRPCAddr != "" {
		if _, _, err := net.SplitHostPort(c.WeaviateGRPCAddr); err != nil {
			bad("COACHWIRE_WEAVIATE_GRPC_ADDR=%q: want host:port", c.WeaviateGRPCAddr)
		}
	}
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		bad("-http-addr (COACHWIRE_HTTP_ADDR)=%q: want host:port", c.HTTPAddr)
	}
	if _, _, err := net.SplitHostPort(c.OpsAddr); err != nil {
		bad("-ops-addr (COACHWIRE_OPS_ADDR)=%q: want host:port", c.OpsAddr)
	}
	if !slices.Contains([]string{LLMAuto, LLMOllama, LLMPassages}, c.LLMMode) {
		bad("-llm-mode (COACHWIRE_LLM_MODE)=%q: want auto, ollama or passages", c.LLMMode)
	}
	if c.ChunkTokens < 50 || c.ChunkOverlap < 0 || c.ChunkOverlap >= c.ChunkTokens {
		bad("COACHWIRE_CHUNK_TOKENS=%d / COACHWIRE_CHUNK_OVERLAP=%d: want tokens ≥ 50 and 0 ≤ overlap < tokens", c.ChunkTokens, c.ChunkOverlap)
	}
	if c.ContextTokens < 500 {
		bad("COACHWIRE_CONTEXT_TOKENS=%d: want at least 500", c.ContextTokens)
	}
	if c.BcryptCost < 4 || c.BcryptCost > 16 {
		bad("COACHWIRE_BCRYPT_COST=%d: want 4..16", c.BcryptCost)
	}
	if c.WorkerParallel < 1 || c.WorkerParallel > 256 {
		bad("COACHWIRE_WORKER_PARALLEL=%d: want 1..256", c.WorkerParallel)
	}
	for _, p := range []struct {
		name string
		n    int
	}{{"COACHWIRE_INGEST_PARALLEL", c.Knowledge.Parallel}, {"COACHWIRE_MEMORY_PARALLEL", c.MemoryParallel}} {
		if p.n < 1 || p.n > 256 {
			bad("%s=%d: want 1..256", p.name, p.n)
		}
	}
	if c.StreamReplicas < 1 || c.StreamReplicas > 5 { // JetStream allows at most 5
		bad("COACHWIRE_STREAM_REPLICAS=%d: want 1..5", c.StreamReplicas)
	}
	if c.StreamMaxBytes < -1 || (c.StreamMaxBytes > 0 && c.StreamMaxBytes < 1<<20) {
		bad("COACHWIRE_STREAM_MAX_BYTES=%d: want at least 1048576, 0 for the default or -1 for no limit", c.StreamMaxBytes)
	}
	if c.StreamMaxMsgs < -1 {
		bad("COACHWIRE_STREAM_MAX_MSGS=%d: want a count, 0 for the default or -1 for no limit", c.StreamMaxMsgs)
	}
	if c.LLM.NudgeDailyTokens < 0 || c.LLM.EmbedDailyTokens < 0 {
		bad("COACHWIRE_LLM_NUDGE_DAILY_TOKENS=%d / COACHWIRE_LLM_EMBED_DAILY_TOKENS=%d: want 0 (unlimited) or more tokens", c.LLM.NudgeDailyTokens, c.LLM.EmbedDailyTokens)
	}
	if c.MemoryEvery < 0 || c.MemoryEvery > 40 { // one extraction reads at most 40 messages
		bad("COACHWIRE_MEMORY_EVERY=%d: want 0 (off) to 40 messages", c.MemoryEvery)
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.LogLevel) {
		bad("-log-level (COACHWIRE_LOG_LEVEL)=%q: want debug, info, warn or error", c.LogLevel)
	}
	if s := c.VAPIDSubject; s != "" && !(strings.HasPrefix(s, "mailto:") && strings.Contains(s, "@")) && !strings.HasPrefix(s, "https://") {
		bad("COACHWIRE_VAPID_SUBJECT=%q: want a mailto: address or an https:// URL", s)
	}
	if c.Embedded() && c.DataDir == "" {
		bad("-data-dir (COACHWIRE_DATA_DIR) is empty")
	}
	if len(errs) > 0 {
		return fmt.Errorf("config: %w", errors.Join(errs...))
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// redact hides a URL's password in error messages and logs.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// Redact hides a URL's password.
func Redact(raw string) string { return redact(raw) }
