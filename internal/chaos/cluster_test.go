package chaos_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/coachwire/coachwire/internal/bus"
	"github.com/coachwire/coachwire/internal/channels/telegramtest"
	"github.com/coachwire/coachwire/internal/channels/whatsapptest"
	"github.com/coachwire/coachwire/internal/llm/ollamatest"
	"github.com/coachwire/coachwire/internal/localdeps"
	"github.com/coachwire/coachwire/internal/testenv"
)

// The test binary re-executes itself as the NATS server (see TestMain) so that NATS is an OS
// process of its own that the suite can kill and start again on the same port and store.
const (
	natsChildEnv = "COACHWIRE_CHAOS_NATS_CHILD"
	natsPortEnv  = "COACHWIRE_CHAOS_NATS_PORT"
	natsStoreEnv = "COACHWIRE_CHAOS_NATS_STORE"
)

// testSecretKeys is the channel-secret keyring every process of the cluster shares.
const testSecretKeys = "test1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

func TestMain(m *testing.M) {
	if os.Getenv(natsChildEnv) == "1" {
		os.Exit(runNATSChild())
	}
	os.Exit(m.Run())
}

// runNATSChild is the body of the NATS child process: JetStream with file storage until
// SIGTERM or SIGINT (SIGKILL is the fault the suite injects).
func runNATSChild() int {
	port, err := strconv.Atoi(os.Getenv(natsPortEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos nats child: bad port:", err)
		return 2
	}
	ns, err := bus.StartEmbedded(bus.EmbeddedOptions{StoreDir: os.Getenv(natsStoreEnv), Port: port})
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos nats child:", err)
		return 1
	}
	fmt.Println("nats ready on", ns.ClientURL())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	ns.Shutdown()
	ns.WaitForShutdown()
	return 0
}

// cluster is the system under test and its dependencies.
type cluster struct {
	t       *testing.T
	dir     string // data and logs; kept when the test fails
	bin     string
	natsURL string

	natsPort int
	nats     *osProc

	pg     *localdeps.Postgres
	pgDir  string
	pgPort int
	pgMu   sync.Mutex

	wv *localdeps.Weaviate

	ollama     *ollamatest.Server
	ollamaOpts ollamatest.Options
	wa         *whatsapptest.Server
	tg         *telegramtest.Server

	base       string
	httpPort   int
	storageDir string

	mu    sync.Mutex
	procs map[string]*osProc
	// exits records unexpected process exits (not the suite's own kills), by target.
	exits []procExit
	phase func() int
}

type procExit struct {
	name  string
	phase int
	err   string
}

func newCluster(t *testing.T, dir string, ollamaOpts ollamatest.Options) *cluster {
	t.Helper()
	c := &cluster{t: t, dir: dir, procs: map[string]*osProc{}, phase: func() int { return 0 }, ollamaOpts: ollamaOpts}
	for _, d := range []string{"logs", "storage", "data"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	c.storageDir = filepath.Join(dir, "storage")
	c.ollama = ollamatest.New(t, ollamaOpts)
	c.wa = whatsapptest.New(t)
	c.tg = telegramtest.New(t)

	var wg sync.WaitGroup
	errs := make([]error, 4)
	wg.Add(4)
	go func() { defer wg.Done(); c.bin = buildBinaryErr(dir, &errs[0]) }()
	go func() { defer wg.Done(); errs[1] = c.startNATS() }()
	go func() { defer wg.Done(); errs[2] = c.startPostgres() }()
	go func() { defer wg.Done(); errs[3] = c.startWeaviate() }()
	wg.Wait()
	t.Cleanup(c.stopAll)
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("chaos: start the cluster: %v", err)
	}
	return c
}

func buildBinaryErr(dir string, errp *error) string {
	bin := filepath.Join(dir, "coachwire")
	*errp = testenv.BuildCoachwire(bin)
	return bin
}

// --- NATS ---

func (c *cluster) startNATS() error {
	port, err := localdeps.FreePort()
	if err != nil {
		return err
	}
	c.natsPort = port
	c.natsURL = fmt.Sprintf("nats://127.0.0.1:%d", port)
	store := filepath.Join(c.dir, "nats")
	self, err := os.Executable()
	if err != nil {
		return err
	}
	c.nats = newOSProc(c, "nats", self, []string{"-test.run=^$"}, []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		natsChildEnv + "=1", natsPortEnv + "=" + strconv.Itoa(port), natsStoreEnv + "=" + store,
	})
	c.nats.start()
	return c.waitNATS(30 * time.Second)
}

func (c *cluster) waitNATS(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		nc, err := nats.Connect(c.natsURL, nats.Timeout(time.Second))
		if err == nil {
			js, _ := jetstream.New(nc)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, err = js.AccountInfo(ctx)
			cancel()
			nc.Close()
			if err == nil {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nats not ready after %s: %w", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// --- PostgreSQL ---

func (c *cluster) startPostgres() error {
	c.pgDir = filepath.Join(c.dir, "pg")
	return c.pgStart()
}

func (c *cluster) pgStart() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pg, err := localdeps.StartPostgres(ctx, localdeps.PostgresOptions{DataDir: c.pgDir, Port: c.pgPort})
	if err != nil {
		return err
	}
	c.pgMu.Lock()
	c.pg, c.pgPort = pg, pg.Port()
	c.pgMu.Unlock()
	return nil
}

func (c *cluster) pgURLs() (owner, app string) {
	c.pgMu.Lock()
	defer c.pgMu.Unlock()
	return c.pg.OwnerURL(), c.pg.AppURL()
}

// restartPostgres stops the server (fast shutdown: every connection is cut), keeps it down for
// down and starts it again on the same data directory and port.
func (c *cluster) restartPostgres(down time.Duration) error {
	c.pgMu.Lock()
	pg := c.pg
	c.pgMu.Unlock()
	_ = pg.Stop()
	time.Sleep(down)
	return c.pgStart()
}

// --- Weaviate ---

func (c *cluster) startWeaviate() error {
	bin, err := localdeps.FindWeaviateBin(os.Getenv)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c.wv, err = localdeps.StartWeaviate(ctx, localdeps.WeaviateOptions{Bin: bin, DataDir: filepath.Join(c.dir, "weaviate")})
	return err
}

// freezeWeaviate stops the Weaviate process group (SIGSTOP) for d, then continues it: its
// sockets stay open and every request hangs, as with a stalled server or a long GC pause.
func (c *cluster) freezeWeaviate(d time.Duration) {
	pgid := c.wv.Pid()
	_ = syscall.Kill(-pgid, syscall.SIGSTOP)
	time.Sleep(d)
	_ = syscall.Kill(-pgid, syscall.SIGCONT)
}

// --- coachwire processes ---

// targets in start order (gateway first: it migrates the database).
var targets = []string{"gateway", "ingest", "retrieve", "generate", "dispatch", "nudge"}

func (c *cluster) env(target string) []string {
	owner, app := c.pgURLs()
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"COACHWIRE_NATS_URL=" + c.natsURL, "COACHWIRE_DATABASE_URL=" + app,
		"COACHWIRE_WEAVIATE_URL=" + c.wv.URL(), "COACHWIRE_WEAVIATE_GRPC_ADDR=" + c.wv.GRPCAddr(),
		"COACHWIRE_OLLAMA_URL=" + c.ollama.URL, "COACHWIRE_OLLAMA_SLOTS=8", // the double has no slot limit
		"COACHWIRE_WHATSAPP_API_URL=" + c.wa.URL, "COACHWIRE_TELEGRAM_API_URL=" + c.tg.URL,
		"COACHWIRE_DATA_DIR=" + filepath.Join(c.dir, "data", target),
		"COACHWIRE_STORAGE_DIR=" + c.storageDir,
		"COACHWIRE_SECRET_KEYS=" + testSecretKeys,
		"COACHWIRE_BCRYPT_COST=4", "COACHWIRE_LOG_LEVEL=info", "COACHWIRE_MEMORY_EVERY=0",
		"COACHWIRE_OPS_ADDR=127.0.0.1:0", // every process on this host: an ops port each
		"COACHWIRE_WORKER_PARALLEL=4",
		// A killed generate process's turn comes back after the lease, not after 45 s.
		"COACHWIRE_TURN_LEASE=6s",
		// The campaign recurs within the run: a fast scheduler, no live-conversation hold for the
		// campaign's recipients (they wrote once at set-up), ceilings that a recurring test
		// campaign does not reach, and a minimum interval between occurrences below the
		// campaign's (where the build enforces one).
		"COACHWIRE_NUDGE_TICK=250ms", "COACHWIRE_NUDGE_LEASE=5s", "COACHWIRE_NUDGE_LIVE_WINDOW=1s",
		"COACHWIRE_NUDGE_CEILING_DAY=10000", "COACHWIRE_NUDGE_CEILING_WEEK=100000",
		"COACHWIRE_NUDGE_MIN_INTERVAL=" + campaignInterval.String(),
		"COACHWIRE_PUBLIC_URL=" + c.base,
		// Every simulated client comes from 127.0.0.1: no per-address limits (the per-session
		// and per-key limits stay on; the load keeps within them).
		"COACHWIRE_LIMIT_REGISTER_IP=off", "COACHWIRE_LIMIT_WIDGET_SESSIONS_IP=off", "COACHWIRE_LIMIT_LOGIN_IP=off",
		// Each simulated widget user writes up to ~27 messages a minute for the whole run: the
		// per-end-user hourly budget (120/h) would throttle the load of the later phases.
		"COACHWIRE_LIMIT_WIDGET_MESSAGES_END_USER=off",
	}
	if target == "gateway" {
		env = append(env, "COACHWIRE_HTTP_ADDR=127.0.0.1:"+strconv.Itoa(c.httpPort), "COACHWIRE_MIGRATE_DATABASE_URL="+owner)
	}
	return env
}

func (c *cluster) startTargets() {
	port, err := localdeps.FreePort()
	if err != nil {
		c.t.Fatal(err)
	}
	c.httpPort = port
	c.base = fmt.Sprintf("http://127.0.0.1:%d", port)
	for _, name := range targets {
		p := newOSProc(c, name, c.bin, []string{"-target", name}, nil)
		p.envFn = func() []string { return c.env(name) }
		c.mu.Lock()
		c.procs[name] = p
		c.mu.Unlock()
		p.start()
		if name == "gateway" {
			if err := c.waitHealthy(90 * time.Second); err != nil {
				c.t.Fatalf("chaos: %v (log %s)", err, p.logPath)
			}
		}
	}
}

func (c *cluster) waitHealthy(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get(c.base + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("gateway at %s not healthy after %s: %v", c.base, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (c *cluster) proc(name string) *osProc {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.procs[name]
}

func (c *cluster) recordExit(name, err string) {
	c.mu.Lock()
	c.exits = append(c.exits, procExit{name: name, phase: c.phase(), err: err})
	c.mu.Unlock()
}

func (c *cluster) stopAll() {
	c.mu.Lock()
	procs := make([]*osProc, 0, len(c.procs))
	for _, name := range targets {
		if p := c.procs[name]; p != nil {
			procs = append(procs, p)
		}
	}
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Add(1)
		go func() { defer wg.Done(); p.stop() }()
	}
	wg.Wait()
	if c.nats != nil {
		c.nats.stop()
	}
	if c.wv != nil {
		_ = syscall.Kill(-c.wv.Pid(), syscall.SIGCONT)
		_ = c.wv.Stop()
	}
	c.pgMu.Lock()
	if c.pg != nil {
		_ = c.pg.Stop()
	}
	c.pgMu.Unlock()
}

// osProc is a supervised OS process: like a container with a restart policy, it is started
// again when it exits. kill -9 by the suite restarts it after the requested down time; any other
// exit is recorded as unexpected and restarted after a second.
type osProc struct {
	c       *cluster
	name    string
	bin     string
	args    []string
	envFn   func() []string
	logPath string

	mu      sync.Mutex
	cmd     *exec.Cmd
	down    time.Duration // set by kill: how long to stay down
	killed  bool
	stopped bool
	done    chan struct{} // closed when the supervisor ends
	started chan struct{} // replaced at every start
}

func newOSProc(c *cluster, name, bin string, args, env []string) *osProc {
	p := &osProc{c: c, name: name, bin: bin, args: args, logPath: filepath.Join(c.dir, "logs", name+".log"),
		done: make(chan struct{}), started: make(chan struct{})}
	p.envFn = func() []string { return env }
	return p
}

func (p *osProc) start() {
	ready := make(chan struct{})
	go p.supervise(ready)
	<-ready
}

func (p *osProc) spawn() (*exec.Cmd, error) {
	log, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "=== %s start %s\n", time.Now().UTC().Format(time.RFC3339Nano), p.name)
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env = p.envFn()
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, err
	}
	go func() { <-p.done; log.Close() }()
	return cmd, nil
}

func (p *osProc) supervise(ready chan struct{}) {
	defer close(p.done)
	first := true
	for {
		cmd, err := p.spawn()
		p.mu.Lock()
		if p.stopped {
			p.mu.Unlock()
			if cmd != nil {
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				_ = cmd.Wait()
			}
			if first {
				close(ready)
			}
			return
		}
		p.cmd = cmd
		close(p.started)
		p.started = make(chan struct{})
		p.mu.Unlock()
		if first {
			close(ready)
			first = false
		}
		var waitErr error
		if cmd != nil {
			waitErr = cmd.Wait()
		} else {
			waitErr = err
		}
		p.mu.Lock()
		stopped, killed, down := p.stopped, p.killed, p.down
		p.killed, p.down, p.cmd = false, 0, nil
		p.mu.Unlock()
		if stopped {
			return
		}
		if !killed {
			p.c.recordExit(p.name, fmt.Sprint(waitErr))
			down = time.Second
		}
		time.Sleep(down)
	}
}

// kill sends SIGKILL to the process group and has the supervisor start it again after down.
// It returns once the new process is started.
func (p *osProc) kill(down time.Duration) {
	p.mu.Lock()
	cmd := p.cmd
	started := p.started
	if cmd == nil || p.stopped {
		p.mu.Unlock()
		return
	}
	p.killed, p.down = true, down
	p.mu.Unlock()
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-started:
	case <-time.After(down + 30*time.Second):
	}
}

// stop ends the process (SIGTERM, SIGKILL after 20 s) and its supervisor.
func (p *osProc) stop() {
	p.mu.Lock()
	p.stopped = true
	cmd := p.cmd
	p.mu.Unlock()
	if cmd != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	}
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		if cmd != nil {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
		<-p.done
	}
}
