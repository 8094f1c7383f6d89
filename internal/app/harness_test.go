package app_test

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coachwire/coachwire/internal/app"
	"github.com/coachwire/coachwire/internal/config"
	"github.com/coachwire/coachwire/internal/extract"
	"github.com/coachwire/coachwire/internal/llm/ollamatest"
	"github.com/coachwire/coachwire/internal/testenv"
)

// The tests here run whole coachwire processes and mostly wait on them: up to 8 at once.
func TestMain(m *testing.M) { extract.MainIfChild(); testenv.MainParallel(m, 8) }

// harness holds the real services a test's coachwire processes connect to: a database and a
// NATS server of the test's own (its workers' durable consumers and the nudge scheduler see
// only this test's work, so tests run in parallel) and the package's Weaviate (each creator is
// its own Weaviate tenant).
type harness struct {
	t        testing.TB
	db       testenv.DB
	natsURL  string
	weaviate string
	wvGRPC   string
	ollama   *ollamatest.Server
	// jwtKeys is the JWT key file every gateway of the test reads (replicas share one).
	jwtKeys string
}

func newHarness(t testing.TB, ollama ollamatest.Options) *harness {
	t.Helper()
	if ollama.ChatModels == nil {
		ollama.ChatModels = []string{"llama3.2"}
	}
	if ollama.EmbedModels == nil {
		ollama.EmbedModels = []string{"nomic-embed-text"}
	}
	return &harness{t: t, db: testenv.OwnDatabase(t), natsURL: testenv.OwnNATS(t), weaviate: testenv.Weaviate(t),
		wvGRPC: testenv.WeaviateGRPC(t), ollama: ollamatest.New(t, ollama), jwtKeys: filepath.Join(t.TempDir(), "keys", "jwt.json")}
}

// config is what a process of targets parses from COACHWIRE_* with the harness's URLs (so every
// setting gets its real default), with the test-friendly values of h.env.
func (h *harness) config(targets ...string) *config.Config {
	if len(targets) == 0 {
		targets = []string{config.TargetAll}
	}
	env := map[string]string{}
	for _, kv := range h.env(h.t.TempDir(), "COACHWIRE_HTTP_ADDR=127.0.0.1:0", "COACHWIRE_MIGRATE_DATABASE_URL="+h.db.OwnerURL,
		"COACHWIRE_TURN_LEASE=10s", "COACHWIRE_WORKER_PARALLEL=4") {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	c, err := config.Parse([]string{"-target", strings.Join(targets, ",")}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
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
