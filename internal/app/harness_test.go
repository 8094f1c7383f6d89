package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/coachwire/coachwire/internal/app"
	"github.com/coachwire/coachwire/internal/config"
	"github.com/coachwire/coachwire/internal/llm/ollamatest"
	"github.com/coachwire/coachwire/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// harness holds the real services a test's coachwire processes connect to.
type harness struct {
	t        testing.TB
	db       testenv.DB
	natsURL  string
	weaviate string
	ollama   *ollamatest.Server
}

func newHarness(t testing.TB, ollama ollamatest.Options) *harness {
	t.Helper()
	if ollama.ChatModels == nil {
		ollama.ChatModels = []string{"llama3.2"}
	}
	if ollama.EmbedModels == nil {
		ollama.EmbedModels = []string{"nomic-embed-text"}
	}
	return &harness{t: t, db: testenv.Postgres(t), natsURL: testenv.NATS(t), weaviate: testenv.Weaviate(t), ollama: ollamatest.New(t, ollama)}
}

// config is what a process of targets would parse from COACHWIRE_* with the harness's URLs.
func (h *harness) config(targets ...string) *config.Config {
	if len(targets) == 0 {
		targets = []string{config.TargetAll}
	}
	c := &config.Config{
		Targets: targets, DataDir: h.t.TempDir(), HTTPAddr: "127.0.0.1:0",
		NATSURL: h.natsURL, DatabaseURL: h.db.AppURL, MigrateDatabaseURL: h.db.OwnerURL, WeaviateURL: h.weaviate,
		OllamaURL: h.ollama.URL, LLMMode: config.LLMAuto, ChatModel: "llama3.2", EmbedModel: "nomic-embed-text",
		AccessTokenTTL: 15 * time.Minute, RefreshTokenTTL: time.Hour, WidgetTokenTTL: 30 * time.Minute, BcryptCost: 4,
		ChunkTokens: 1000, ChunkOverlap: 200, ContextTokens: 4000, TurnLease: 10 * time.Second, WorkerParallel: 4,
		LogLevel: "debug",
	}
	if err := c.Validate(); err != nil {
		h.t.Fatalf("config: %v", err)
	}
	return c
}

func (h *harness) start(cfg *config.Config) *app.App {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a, err := app.Start(ctx, cfg, app.Options{Log: testenv.Logger(h.t)})
	if err != nil {
		h.t.Fatalf("start %v: %v", cfg.Targets, err)
	}
	h.t.Cleanup(a.Stop)
	return a
}
