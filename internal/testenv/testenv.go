// Package testenv starts the real dependencies tests run against: a PostgreSQL cluster, an
// embedded NATS server with JetStream and a Weaviate server, once per test binary. Each test
// isolates itself by creating its own creator (tenant). It never fakes any of them.
package testenv

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/coachwire/coachwire/internal/bus"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/localdeps"
)

var (
	mu       sync.Mutex
	root     string
	stops    []func()
	pg       *localdeps.Postgres
	pgErr    error
	pgOnce   sync.Once
	ns       *server.Server
	nsErr    error
	nsOnce   sync.Once
	wv       *localdeps.Weaviate
	wvErr    error
	wvOnce   sync.Once
	migrated sync.Once
	migErr   error
)

// Main runs the tests of a package and stops whatever they started. Use it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	mu.Lock()
	for i := len(stops) - 1; i >= 0; i-- {
		stops[i]()
	}
	if root != "" {
		_ = os.RemoveAll(root)
	}
	mu.Unlock()
	os.Exit(code)
}

func dir(name string) string {
	mu.Lock()
	defer mu.Unlock()
	if root == "" {
		var err error
		root, err = os.MkdirTemp("", "coachwire-test-")
		if err != nil {
			panic(err)
		}
		_ = os.Chmod(root, 0o755)
	}
	d := filepath.Join(root, name)
	_ = os.MkdirAll(d, 0o755)
	return d
}

func onStop(f func()) {
	mu.Lock()
	stops = append(stops, f)
	mu.Unlock()
}

// DB holds the URLs of the package's migrated database.
type DB struct {
	OwnerURL string // schema owner, for migrations
	AppURL   string // the application role: owns nothing, NOBYPASSRLS
	SuperURL string // bootstrap superuser, for tests that prove start-up refuses it
}

// Postgres returns the package's migrated database, starting the cluster on first use.
func Postgres(tb testing.TB) DB {
	tb.Helper()
	pgOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		pg, pgErr = localdeps.StartPostgres(ctx, localdeps.PostgresOptions{DataDir: dir("pg")})
		if pgErr == nil {
			onStop(func() { _ = pg.Stop() })
		}
	})
	if pgErr != nil {
		tb.Fatalf("testenv: start postgres: %v", pgErr)
	}
	migrated.Do(func() {
		migErr = db.Migrate(context.Background(), pg.OwnerURL(), slog.New(slog.DiscardHandler))
	})
	if migErr != nil {
		tb.Fatalf("testenv: migrate: %v", migErr)
	}
	return DB{OwnerURL: pg.OwnerURL(), AppURL: pg.AppURL(), SuperURL: pg.SuperURL()}
}

// Store opens a pool as the application role, closed when the test ends.
func Store(tb testing.TB) *db.Store {
	tb.Helper()
	d := Postgres(tb)
	s, err := db.Open(context.Background(), d.AppURL, 10)
	if err != nil {
		tb.Fatalf("testenv: open store: %v", err)
	}
	tb.Cleanup(s.Close)
	return s
}

// NATS returns the URL of the package's embedded NATS server with JetStream.
func NATS(tb testing.TB) string {
	tb.Helper()
	nsOnce.Do(func() {
		ns, nsErr = bus.StartEmbedded(bus.EmbeddedOptions{StoreDir: dir("nats"), Port: -1})
		if nsErr == nil {
			onStop(func() { ns.Shutdown(); ns.WaitForShutdown() })
		}
	})
	if nsErr != nil {
		tb.Fatalf("testenv: start nats: %v", nsErr)
	}
	return ns.ClientURL()
}

// Bus connects to the package's NATS server with every stream created.
func Bus(tb testing.TB) *bus.Bus {
	tb.Helper()
	b, err := bus.Connect(context.Background(), NATS(tb), tb.Name(), Logger(tb), bus.Options{})
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	tb.Cleanup(b.Close)
	if err := b.EnsureStreams(context.Background()); err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	return b
}

// Weaviate returns the URL of the package's Weaviate server, starting it on first use. The
// binary comes from `make weaviate`; without it the test fails and says so.
func Weaviate(tb testing.TB) string {
	tb.Helper()
	wvOnce.Do(func() {
		bin, err := localdeps.FindWeaviateBin(os.Getenv)
		if err != nil {
			wvErr = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		wv, wvErr = localdeps.StartWeaviate(ctx, localdeps.WeaviateOptions{Bin: bin, DataDir: dir("weaviate")})
		if wvErr == nil {
			onStop(func() { _ = wv.Stop() })
		}
	})
	if wvErr != nil {
		tb.Fatalf("testenv: start weaviate: %v", wvErr)
	}
	return wv.URL()
}

// WeaviateGRPC returns the gRPC address (host:port) of the package's Weaviate server.
func WeaviateGRPC(tb testing.TB) string {
	tb.Helper()
	Weaviate(tb)
	return wv.GRPCAddr()
}

// Logger routes slog output to the test log.
func Logger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tlogWriter{tb}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tlogWriter struct{ tb testing.TB }

func (w tlogWriter) Write(p []byte) (int, error) {
	defer func() { _ = recover() }() // a log line after the test ended must not panic the process
	w.tb.Logf("%s", p)
	return len(p), nil
}

// Quiet is a logger that drops everything (benchmarks).
func Quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// Eventually polls cond until it holds or the deadline passes.
func Eventually(tb testing.TB, timeout time.Duration, cond func() bool, format string, args ...any) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("testenv: timed out after %s waiting for %s", timeout, fmt.Sprintf(format, args...))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
