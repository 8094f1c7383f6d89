package localdeps

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// WeaviateVersion is the Weaviate server version the project builds and tests
// against.
const WeaviateVersion = "v1.35.2"

// weaviateReadyTimeout bounds how long StartWeaviate waits for the server to
// answer its readiness probe.
const weaviateReadyTimeout = 60 * time.Second

// weaviateStopGrace is how long Stop waits after SIGTERM before SIGKILL.
const weaviateStopGrace = 15 * time.Second

// WeaviateOptions configures StartWeaviate.
type WeaviateOptions struct {
	// Bin is the path of the weaviate-server binary (see FindWeaviateBin).
	Bin string
	// DataDir holds the persisted data and weaviate.log. Created if missing.
	DataDir string
	// Logger receives start/stop messages; nil means slog.Default().
	Logger *slog.Logger
	// APIKey, when set, is the only key Weaviate accepts (REST and gRPC, "Authorization: Bearer
	// <key>"); anonymous access is off. Weaviate 1.35 binds its gRPC port on every interface
	// (there is no setting for its address), so the embedded default sets a generated key:
	// only coachwire can use that port. Empty: anonymous access (tests).
	APIKey string
}

// Weaviate is a running Weaviate server child process on loopback.
type Weaviate struct {
	cmd      *exec.Cmd
	logFile  *os.File
	logger   *slog.Logger
	httpPort int
	grpcPort int
	dataPort int           // the cluster data API (CLUSTER_DATA_BIND_PORT)
	done     chan struct{} // closed when the process has exited
	waitErr  error         // set before done is closed

	stopOnce sync.Once
	stopErr  error
}

// FindWeaviateBin locates the weaviate-server binary: $COACHWIRE_WEAVIATE_BIN
// if set, else <cache>/coachwire/weaviate-v1.35.2/weaviate-server where
// <cache> is $XDG_CACHE_HOME or $HOME/.cache. The error names the command that
// builds it.
func FindWeaviateBin(getenv func(string) string) (string, error) {
	if p := getenv("COACHWIRE_WEAVIATE_BIN"); p != "" {
		if err := checkExecutable(p); err != nil {
			return "", fmt.Errorf("localdeps: COACHWIRE_WEAVIATE_BIN=%q: %w", p, err)
		}
		return p, nil
	}
	dir := WeaviateBinDir(getenv)
	if dir == "" {
		return "", errors.New("localdeps: cannot locate weaviate-server: set COACHWIRE_WEAVIATE_BIN, XDG_CACHE_HOME or HOME")
	}
	p := filepath.Join(dir, "weaviate-server")
	if err := checkExecutable(p); err != nil {
		return "", fmt.Errorf("localdeps: weaviate-server not found at %s (%v); build it with `make weaviate` "+
			"(runs: GOBIN=%s go install github.com/weaviate/weaviate/cmd/weaviate-server@%s) "+
			"or set COACHWIRE_WEAVIATE_BIN", p, err, dir, WeaviateVersion)
	}
	return p, nil
}

// WeaviateBinDir is the directory `make weaviate` installs weaviate-server
// into: $XDG_CACHE_HOME (or $HOME/.cache)/coachwire/weaviate-v1.35.2. It
// returns "" when neither variable is set.
func WeaviateBinDir(getenv func(string) string) string {
	cache := getenv("XDG_CACHE_HOME")
	if cache == "" {
		home := getenv("HOME")
		if home == "" {
			return ""
		}
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "coachwire", "weaviate-"+WeaviateVersion)
}

func checkExecutable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return errors.New("is a directory")
	}
	if fi.Mode().Perm()&0o111 == 0 {
		return errors.New("not executable")
	}
	return nil
}

// StartWeaviate starts a single-node Weaviate on free loopback ports with
// anonymous access (local use only) and no vectorizer module, and returns
// once GET /v1/.well-known/ready answers 200. The child's stdout and stderr
// go to DataDir/weaviate.log. If ctx ends or the server is not ready within
// 60 seconds the child is killed and an error returned.
func StartWeaviate(ctx context.Context, opts WeaviateOptions) (*Weaviate, error) {
	if opts.Bin == "" {
		return nil, errors.New("localdeps: WeaviateOptions.Bin is empty (see FindWeaviateBin)")
	}
	if opts.DataDir == "" {
		return nil, errors.New("localdeps: WeaviateOptions.DataDir is empty")
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	dataDir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, fmt.Errorf("localdeps: weaviate data dir: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("localdeps: weaviate data dir: %w", err)
	}
	// The free ports are free when picked, not when Weaviate binds them: another process (a
	// parallel test package starting its own Weaviate) can take one in between, and Weaviate
	// then exits at once. Such an early exit is retried with new ports.
	var w *Weaviate
	for attempt := 1; ; attempt++ {
		w, err = startWeaviate(ctx, opts.Bin, dataDir, opts.APIKey, logger)
		if err == nil || !errors.Is(err, errExitedEarly) || attempt == 3 {
			return w, err
		}
		logger.Warn("weaviate exited while starting; retrying with other ports", "attempt", attempt, "err", err)
	}
}

// errExitedEarly is a server process that exited before it was ready.
var errExitedEarly = errors.New("process exited before ready")

func startWeaviate(ctx context.Context, bin, dataDir, apiKey string, logger *slog.Logger) (*Weaviate, error) {
	// http, grpc, gossip, data, raft, raft internal rpc, profiling
	ports, err := FreePorts(7)
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dataDir, "weaviate.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("localdeps: weaviate log: %w", err)
	}

	// Not exec.CommandContext: the child's lifetime is owned by Stop, not by
	// the start context.
	cmd := exec.Command(bin,
		"--host", "127.0.0.1",
		"--port", strconv.Itoa(ports[0]),
		"--scheme", "http",
	)
	cmd.Dir = dataDir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// Weaviate 1.35 has no setting for the address of its gRPC port or of its cluster data port
	// (CLUSTER_DATA_BIND_PORT): both listen on every interface. The REST API (--host), gossip
	// (CLUSTER_BIND_ADDR) and raft listen on loopback. The data port, which a single node never
	// needs from outside, takes only generated basic-auth credentials; the gRPC port takes only
	// APIKey when one is given.
	clusterPassword, err := randomSecret()
	if err != nil {
		_ = logFile.Close()
		return nil, err
	}
	auth := []string{"AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED=true"}
	if apiKey != "" {
		auth = []string{"AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED=false", "AUTHENTICATION_APIKEY_ENABLED=true",
			"AUTHENTICATION_APIKEY_ALLOWED_KEYS=" + apiKey, "AUTHENTICATION_APIKEY_USERS=coachwire"}
	}
	cmd.Env = append(minimalEnv(), auth...)
	cmd.Env = append(cmd.Env,
		"PERSISTENCE_DATA_PATH="+dataDir,
		"CLUSTER_BASIC_AUTH_USERNAME=coachwire",
		"CLUSTER_BASIC_AUTH_PASSWORD="+clusterPassword,
		"DEFAULT_VECTORIZER_MODULE=none",
		"CLUSTER_HOSTNAME=node1",
		"CLUSTER_ADVERTISE_ADDR=127.0.0.1",
		"CLUSTER_BIND_ADDR=127.0.0.1",
		"RAFT_BOOTSTRAP_EXPECT=1",
		"RAFT_JOIN=node1",
		"GRPC_PORT="+strconv.Itoa(ports[1]),
		"CLUSTER_GOSSIP_BIND_PORT="+strconv.Itoa(ports[2]),
		"CLUSTER_DATA_BIND_PORT="+strconv.Itoa(ports[3]),
		"RAFT_PORT="+strconv.Itoa(ports[4]),
		"RAFT_INTERNAL_RPC_PORT="+strconv.Itoa(ports[5]),
		// The profiling server listens on all interfaces (default :6060, which
		// would also collide between instances): switch it off, and give it a
		// free port in case a version ignores the switch.
		"GO_PROFILING_DISABLE=true",
		"GO_PROFILING_PORT="+strconv.Itoa(ports[6]),
		// Local instance: no phoning home.
		"DISABLE_TELEMETRY=true",
		"LOG_FORMAT=text",
		"LOG_LEVEL=info",
	)
	// Own process group, so Stop can signal Weaviate and anything it spawns
	// without touching ours. Pdeathsig kills it when the thread that started
	// it dies; the Go runtime does not retire threads of unlocked goroutines,
	// so in practice that is when this process dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:   true,
		Pdeathsig: syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("localdeps: start %s: %w", bin, err)
	}
	w := &Weaviate{
		cmd:      cmd,
		logFile:  logFile,
		logger:   logger,
		httpPort: ports[0],
		grpcPort: ports[1],
		dataPort: ports[3],
		done:     make(chan struct{}),
	}
	go func() {
		w.waitErr = cmd.Wait()
		close(w.done)
	}()
	logger.Info("weaviate starting", "pid", cmd.Process.Pid, "url", w.URL(), "grpc", w.GRPCAddr(), "data", dataDir, "log", logPath)

	started := time.Now()
	if err := w.waitReady(ctx, weaviateReadyTimeout); err != nil {
		_ = w.Stop()
		return nil, fmt.Errorf("localdeps: weaviate not ready (log: %s, ending %q): %w", logPath, logTail(logPath, 3), err)
	}
	logger.Info("weaviate ready", "url", w.URL(), "after", time.Since(started).Round(time.Millisecond))
	return w, nil
}

// randomSecret is 32 random bytes, base64url: a password or API key for the embedded Weaviate.
func randomSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("localdeps: random secret: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// NewAPIKey is a generated key for WeaviateOptions.APIKey.
func NewAPIKey() (string, error) { return randomSecret() }

// minimalEnv passes through only what a child process reasonably needs, so
// that the parent's configuration (for example another instance's ports)
// cannot leak into Weaviate's environment-based configuration.
func minimalEnv() []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "TZ", "LANG"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

func (w *Weaviate) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	url := w.URL() + "/v1/.well-known/ready"
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
		} else {
			last = err
		}
		select {
		case <-w.done:
			return fmt.Errorf("%w: %v", errExitedEarly, w.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("%w (last probe: %v)", ctx.Err(), last)
		case <-tick.C:
		}
	}
}

// URL is the REST base URL, http://127.0.0.1:<port>.
func (w *Weaviate) URL() string {
	return "http://127.0.0.1:" + strconv.Itoa(w.httpPort)
}

// GRPCAddr is the gRPC address, 127.0.0.1:<port>.
func (w *Weaviate) GRPCAddr() string {
	return "127.0.0.1:" + strconv.Itoa(w.grpcPort)
}

// Pid is the server's process id (also its process group id). Tests freeze the server with
// SIGSTOP / SIGCONT to it.
func (w *Weaviate) Pid() int { return w.cmd.Process.Pid }

// Done is closed when the server process has exited.
func (w *Weaviate) Done() <-chan struct{} { return w.done }

// Stop sends SIGTERM to the server's process group, waits up to 15 seconds
// for it to exit, then kills the group. It is safe to call more than once and
// returns nil when the server stopped on request.
func (w *Weaviate) Stop() error {
	w.stopOnce.Do(func() {
		w.stopErr = w.stop()
	})
	return w.stopErr
}

func (w *Weaviate) stop() error {
	defer func() { _ = w.logFile.Close() }()
	pgid := w.cmd.Process.Pid // Setpgid: the group id is the child's pid
	select {
	case <-w.done:
		return nil // already gone
	default:
	}
	if err := syscall.Kill(-pgid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		w.logger.Warn("weaviate: SIGTERM failed", "err", err)
	}
	select {
	case <-w.done:
		w.logger.Info("weaviate stopped", "pid", pgid)
		return nil
	case <-time.After(weaviateStopGrace):
	}
	w.logger.Warn("weaviate did not stop after SIGTERM, killing", "pid", pgid)
	if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("localdeps: kill weaviate: %w", err)
	}
	select {
	case <-w.done:
		return nil
	case <-time.After(5 * time.Second):
		return errors.New("localdeps: weaviate did not exit after SIGKILL")
	}
}

// logTail is the last n lines of the file at path ("" if unreadable), for error messages.
func logTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
