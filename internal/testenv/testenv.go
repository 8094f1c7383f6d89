// Package testenv starts the real dependencies tests run against: a PostgreSQL cluster, an
// embedded NATS server with JetStream and a Weaviate server, once per test binary. Each test
// isolates itself by creating its own creator (tenant), or, when it runs every target (durable
// consumers, schedulers scanning every creator), with a database and a NATS server of its own
// (OwnDatabase, OwnNATS) so it can run in parallel with the others. It never fakes any of them.
package testenv

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
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
	tmplOnce sync.Once
	tmplErr  error
)

// templateDB is the migrated database OwnDatabase copies. Nobody connects to it (CREATE
// DATABASE ... TEMPLATE needs it idle).
const templateDB = "coachwire_template"

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

// MainParallel is Main with up to n parallel tests (t.Parallel) at once unless -test.parallel is
// given. The default, GOMAXPROCS, suits CPU-bound tests; tests that run whole coachwire
// processes against real services spend most of their time waiting, so a package of those
// sets a higher n.
func MainParallel(m *testing.M, n int) {
	if !flag.Parsed() {
		flag.Parse()
	}
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.parallel" })
	if !given && n > 0 {
		if err := flag.Set("test.parallel", strconv.Itoa(n)); err != nil {
			panic(err)
		}
	}
	Main(m)
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

// OnStop registers f to run when Main ends, before whatever was started earlier is stopped: a
// package-wide fixture of the tests' own (a browser, an app on the package's services) is
// stopped there, after the last test.
func OnStop(f func()) { onStop(f) }

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

// cluster starts the package's PostgreSQL cluster on first use.
func cluster(tb testing.TB) *localdeps.Postgres {
	tb.Helper()
	pgOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		// fsync off: the cluster is deleted when the tests end, and commits waiting on a disk
		// the whole machine shares were most of some tests' time.
		// (startCluster: a copy of the cached, migrated cluster when there is one.)
		pg, pgErr = startCluster(ctx, dir("pg"))
		if pgErr == nil {
			onStop(func() { _ = pg.Stop() })
			pgErr = noJIT(ctx, pg)
		}
	})
	if pgErr != nil {
		tb.Fatalf("testenv: start postgres: %v", pgErr)
	}
	return pg
}

// noJIT turns PostgreSQL's LLVM JIT off in the tests' cluster: on the tests' small tables the
// planner still estimated some analytics and seeding queries above jit_above_cost, and compiling
// them cost more than running them (the gateway's three analytics tests: 20.6 s of CPU with JIT,
// 5.1 s without; the same answers). Benchmarks (-test.bench) keep PostgreSQL's defaults, JIT
// included, so their figures stay those of a default server.
func noJIT(ctx context.Context, pg *localdeps.Postgres) error {
	if f := flag.Lookup("test.bench"); f != nil && f.Value.String() != "" {
		return nil
	}
	if err := superExec(ctx, pg, "ALTER SYSTEM SET jit = off"); err != nil {
		return err
	}
	return superExec(ctx, pg, "SELECT pg_reload_conf()")
}

// Postgres returns the package's migrated database, starting the cluster on first use. Every
// test that uses it shares it: each isolates itself as its own creator (tenant).
func Postgres(tb testing.TB) DB {
	tb.Helper()
	pg := cluster(tb)
	migrated.Do(func() {
		migErr = db.Migrate(context.Background(), pg.OwnerURL(), slog.New(slog.DiscardHandler))
	})
	if migErr != nil {
		tb.Fatalf("testenv: migrate: %v", migErr)
	}
	return DB{OwnerURL: pg.OwnerURL(), AppURL: pg.AppURL(), SuperURL: pg.SuperURL()}
}

// OwnDatabase returns a fresh migrated database for this test alone, copied from a migrated
// template database (CREATE DATABASE ... TEMPLATE: tables, functions, row-level security
// policies and the application role's grants come with the copy) and dropped when the test
// ends. The URLs have the shape of Postgres's; SuperURL connects to this database too.
func OwnDatabase(tb testing.TB) DB {
	tb.Helper()
	pg := cluster(tb)
	tmplOnce.Do(func() { tmplErr = makeTemplate(pg) })
	if tmplErr != nil {
		tb.Fatalf("testenv: template database: %v", tmplErr)
	}
	name := "t_" + strings.ReplaceAll(uuid.NewString(), "-", "")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := superExec(ctx, pg, "CREATE DATABASE "+name+" TEMPLATE "+templateDB+" OWNER coachwire_owner"); err != nil {
		tb.Fatalf("testenv: create database: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := superExec(ctx, pg, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Errorf("testenv: drop database %s: %v", name, err)
		}
	})
	return DB{OwnerURL: withDatabase(pg.OwnerURL(), name), AppURL: withDatabase(pg.AppURL(), name), SuperURL: withDatabase(pg.SuperURL(), name)}
}

// makeTemplate creates and migrates the template database, then closes every connection to it.
func makeTemplate(pg *localdeps.Postgres) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if ok, err := templateExists(ctx, pg); err != nil || ok {
		return err // a copy of the cached cluster has it, migrated
	}
	if err := superExec(ctx, pg, "CREATE DATABASE "+templateDB+" OWNER coachwire_owner"); err != nil {
		return err
	}
	if err := db.Migrate(ctx, withDatabase(pg.OwnerURL(), templateDB), slog.New(slog.DiscardHandler)); err != nil {
		return err
	}
	// db.Migrate closed its pool; make sure no backend lingers and nobody connects later.
	return superExec(ctx, pg, "ALTER DATABASE "+templateDB+" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false")
}

func superExec(ctx context.Context, pg *localdeps.Postgres, sql string) error {
	conn, err := pgx.Connect(ctx, pg.SuperURL())
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// withDatabase returns connection URL u pointing at database name.
func withDatabase(u, name string) string {
	x, err := url.Parse(u)
	if err != nil {
		panic(err)
	}
	x.Path = "/" + name
	return x.String()
}

// Store opens a pool as the application role, closed when the test ends.
func Store(tb testing.TB) *db.Store {
	tb.Helper()
	return StoreAt(tb, Postgres(tb).AppURL)
}

// StoreAt opens a pool on appURL (an OwnDatabase's AppURL), closed when the test ends.
func StoreAt(tb testing.TB, appURL string) *db.Store {
	tb.Helper()
	s, err := db.Open(context.Background(), appURL, 10)
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

// OwnNATS starts an embedded NATS server with JetStream for this test alone (its store in the
// test's temporary directory) and returns its URL; it is shut down when the test ends. A test
// that runs workers on durable consumers uses it so no other test's messages reach them.
func OwnNATS(tb testing.TB) string {
	tb.Helper()
	s, err := bus.StartEmbedded(bus.EmbeddedOptions{StoreDir: tb.TempDir(), Port: -1})
	if err != nil {
		tb.Fatalf("testenv: start nats: %v", err)
	}
	tb.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s.ClientURL()
}

// Bus connects to the package's NATS server with every stream created.
func Bus(tb testing.TB) *bus.Bus {
	tb.Helper()
	return BusAt(tb, NATS(tb))
}

// BusAt connects to the NATS server at natsURL (an OwnNATS) with every stream created.
func BusAt(tb testing.TB, natsURL string) *bus.Bus {
	tb.Helper()
	b, err := bus.Connect(context.Background(), natsURL, tb.Name(), Logger(tb), bus.Options{})
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	tb.Cleanup(b.Close)
	if err := b.EnsureStreams(context.Background()); err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	return b
}

// OwnBus connects to a NATS server of this test's own (OwnNATS) with every stream created: for
// tests that run a role's workers on its durable consumers in parallel with other tests.
func OwnBus(tb testing.TB) *bus.Bus {
	tb.Helper()
	return BusAt(tb, OwnNATS(tb))
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

// Logger routes slog output to the test log until the test's cleanups run; later lines (from a
// goroutine that outlives the test, such as a socket's release) are dropped.
func Logger(tb testing.TB) *slog.Logger {
	w := &tlogWriter{tb: tb}
	tb.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// tlogWriter writes to the test log. The lock orders every Logf before the cleanup that ends
// writing: testing marks a test finished after its cleanups, and a Logf racing with that is a
// data race (and a panic after it).
type tlogWriter struct {
	tb   testing.TB
	mu   sync.Mutex
	done bool
}

func (w *tlogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.tb.Logf("%s", p)
	}
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

// Read runs f in creator's tenant on s and returns its result; an error fails the test. The
// role rigs read back what a worker wrote with it.
func Read[T any](tb testing.TB, s *db.Store, creator uuid.UUID, f func(ctx context.Context, q *db.Queries) (T, error)) T {
	tb.Helper()
	var out T
	ctx := context.Background()
	if err := s.InTenant(ctx, creator, func(q *db.Queries) error {
		var err error
		out, err = f(ctx, q)
		return err
	}); err != nil {
		tb.Fatalf("testenv: read in tenant %s: %v", creator, err)
	}
	return out
}
