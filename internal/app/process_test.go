package app_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/llm/ollamatest"
	"github.com/coachwire/coachwire/internal/localdeps"
	"github.com/coachwire/coachwire/internal/testenv"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// coachwireBin builds cmd/coachwire once per test binary.
func coachwireBin(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "coachwire-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "coachwire")
		binErr = testenv.BuildCoachwire(binPath)
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// proc is one coachwire OS process.
type proc struct {
	t      testing.TB
	name   string
	cmd    *exec.Cmd
	done   chan struct{}
	mu     sync.Mutex
	stdout strings.Builder
	stderr strings.Builder // the process's log lines
}

func (h *harness) env(dataDir string, extra ...string) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"COACHWIRE_NATS_URL=" + h.natsURL, "COACHWIRE_DATABASE_URL=" + h.db.AppURL,
		"COACHWIRE_WEAVIATE_URL=" + h.weaviate, "COACHWIRE_WEAVIATE_GRPC_ADDR=" + h.wvGRPC, "COACHWIRE_OLLAMA_URL=" + h.ollama.URL,
		"COACHWIRE_DATA_DIR=" + dataDir, "COACHWIRE_BCRYPT_COST=4", "COACHWIRE_LOG_LEVEL=debug",
		// Many processes per host: each ops listener on a port of its own.
		"COACHWIRE_OPS_ADDR=127.0.0.1:0",
		// A test's processes share its NATS server and database, so any of them may dispatch
		// a channel message: they share one keyring too.
		"COACHWIRE_SECRET_KEYS=" + testSecretKeys,
		// and one JWT key file, as gateway replicas must (gateways.go).
		"COACHWIRE_JWT_KEY_FILE=" + h.jwtKeys,
		// Never the real providers: a channel message no double is set up for goes to a closed
		// loopback port (channel tests override these with their doubles).
		"COACHWIRE_WHATSAPP_API_URL=http://127.0.0.1:9", "COACHWIRE_TELEGRAM_API_URL=http://127.0.0.1:9",
		// No memory extraction unless a test turns it on: a request left over from an earlier
		// test would otherwise reach this test's model double between two of its counts.
		"COACHWIRE_MEMORY_EVERY=0",
		// The model double has no slot limit of its own (tests that measure the scheduler set
		// Slots on the double and this to match).
		"COACHWIRE_OLLAMA_SLOTS=32",
		// Every test's clients come from 127.0.0.1 and share one limit store: no per-address
		// limits unless a test turns them on (limits_test.go uses addresses of its own).
		"COACHWIRE_LIMIT_REGISTER_IP=off", "COACHWIRE_LIMIT_WIDGET_SESSIONS_IP=off", "COACHWIRE_LIMIT_LOGIN_IP=off",
		// A test that moves its clock signs in again each time, from the same address.
		"COACHWIRE_LIMIT_LOGIN_EMAIL_IP=off",
	}
	return append(env, extra...)
}

func startProc(t testing.TB, name string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, done: make(chan struct{})}
	p.cmd = exec.Command(coachwireBin(t), args...)
	p.cmd.Env = env
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := p.cmd.StdoutPipe()
	require.NoError(t, err)
	stderr, err := p.cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, p.cmd.Start())
	go p.pump(stdout, true)
	go p.pump(stderr, false)
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.kill(syscall.SIGKILL) })
	return p
}

func (p *proc) pump(r io.Reader, keep bool) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		p.mu.Lock()
		if keep {
			p.stdout.WriteString(line + "\n")
		} else {
			p.stderr.WriteString(line + "\n")
		}
		p.mu.Unlock()
		if !strings.Contains(line, `"level":"DEBUG"`) {
			func() {
				defer func() { _ = recover() }()
				p.t.Logf("[%s] %s", p.name, line)
			}()
		}
	}
}

var apiLine = regexp.MustCompile(`API:\s+(http://[^/\s]+)/api/v1`)

// apiBase waits for the start banner and returns the gateway's base URL from its API line.
func (p *proc) apiBase(t *testing.T) string {
	t.Helper()
	var base string
	testenv.Eventually(t, 2*time.Minute, func() bool {
		if m := apiLine.FindStringSubmatch(p.output()); m != nil {
			base = m[1]
		}
		return base != ""
	}, "the start banner's API line")
	return base
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stdout.String()
}

func (p *proc) kill(sig syscall.Signal) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func waitHealthy(t testing.TB, base string) {
	t.Helper()
	testenv.Eventually(t, 60*time.Second, func() bool {
		resp, err := http.Get(base + "/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, "gateway at %s to be healthy", base)
}

// startCluster runs gateway, ingest, retrieve, generate and dispatch as separate OS processes.
func startCluster(t testing.TB, h *harness, extraEnv ...string) (base string, procs map[string]*proc) {
	port, err := localdeps.FreePort()
	require.NoError(t, err)
	base = fmt.Sprintf("http://127.0.0.1:%d", port)
	procs = map[string]*proc{}
	// Uploaded originals are written by the gateway and read by ingest: like a deployment's
	// shared volume, every process of the cluster gets the same storage directory.
	extraEnv = append([]string{"COACHWIRE_STORAGE_DIR=" + sharedDir(t)}, extraEnv...)
	gwEnv := h.env(t.TempDir(), append([]string{"COACHWIRE_TARGET=gateway", "COACHWIRE_HTTP_ADDR=127.0.0.1:" + fmt.Sprint(port),
		"COACHWIRE_MIGRATE_DATABASE_URL=" + h.db.OwnerURL}, extraEnv...)...)
	procs["gateway"] = startProc(t, "gateway", gwEnv)
	waitHealthy(t, base)
	for _, target := range []string{"ingest", "retrieve", "generate", "dispatch"} {
		procs[target] = startProc(t, target, h.env(t.TempDir(), append([]string{"COACHWIRE_TARGET=" + target}, extraEnv...)...))
	}
	return base, procs
}

// TestSeparateProcesses runs the whole widget path with every target in its own OS process.
func TestSeparateProcesses(t *testing.T) {
	t.Parallel()
	h := newHarness(t, ollamatest.Options{DeltaDelay: time.Millisecond})
	base, procs := startCluster(t, h)
	c := testenv.NewClient(base)
	cr := c.Register(t)
	docID := c.AddDocument(t, cr, "Sleep basics", "markdown", sleepDoc)
	ctx := context.Background()
	sess := c.StartWidget(t, cr.WidgetKey, "anon-"+uuid.NewString())
	ws, _, err := c.DialWidget(ctx, sess, 0, nil)
	require.NoError(t, err)
	defer ws.CloseNow()
	_, err = ws.Say(ctx, "When should I stop caffeine?")
	require.NoError(t, err)
	reply := ws.Next(t, 60*time.Second, testenv.IsReply)
	require.Contains(t, reply.Text, "caffeine")
	require.NotEmpty(t, reply.Sources)
	require.Equal(t, docID, reply.Sources[0].DocumentID)

	// SIGTERM: each process drains and exits 0.
	for name, p := range procs {
		p.kill(syscall.SIGTERM)
		require.Equal(t, 0, p.cmd.ProcessState.ExitCode(), "%s exit code", name)
	}
}

// TestGenerateKilledMidReply kills -9 the generate process while it streams a reply; after a
// restart the user gets exactly one reply.
func TestGenerateKilledMidReply(t *testing.T) {
	t.Parallel()
	h := newHarness(t, ollamatest.Options{DeltaDelay: 40 * time.Millisecond, ChunkSize: 2})
	base, procs := startCluster(t, h, "COACHWIRE_TURN_LEASE=3s")
	c := testenv.NewClient(base)
	cr := c.Register(t)
	ctx := context.Background()
	sess := c.StartWidget(t, cr.WidgetKey, "anon-"+uuid.NewString())
	ws, _, err := c.DialWidget(ctx, sess, 0, nil)
	require.NoError(t, err)
	defer ws.CloseNow()
	_, err = ws.Say(ctx, "Tell me something long about evening routines please")
	require.NoError(t, err)

	// The reply is streaming: kill the generate process without any chance to clean up.
	ws.Next(t, 60*time.Second, func(f testenv.Frame) bool { return f.Type == "delta" })
	procs["generate"].kill(syscall.SIGKILL)
	chatsBefore := h.ollama.Counts().Chat
	procs["generate"] = startProc(t, "generate-2", h.env(t.TempDir(), "COACHWIRE_TARGET=generate", "COACHWIRE_TURN_LEASE=3s"))

	reply := ws.Next(t, 90*time.Second, testenv.IsReply)
	require.Contains(t, reply.Text, "evening routines")
	require.Greater(t, h.ollama.Counts().Chat, chatsBefore, "the restarted process generated the turn again")

	// Exactly one reply is stored, and no second distinct reply reaches the widget.
	deadline := time.After(5 * time.Second)
	for done := false; !done; {
		select {
		case f := <-ws.Frames:
			if testenv.IsReply(f) {
				require.Equal(t, reply.ID, f.ID, "a second reply reached the end user")
			}
		case <-deadline:
			done = true
		}
	}
	var msgs struct {
		Messages []struct {
			Role string `json:"role"`
		} `json:"messages"`
	}
	_, _, err = c.Do(ctx, "GET", "/api/v1/conversations/"+sess.ConversationID.String()+"/messages", cr.AccessToken, nil, &msgs)
	require.NoError(t, err)
	assistant := 0
	for _, m := range msgs.Messages {
		if m.Role == "assistant" {
			assistant++
		}
	}
	require.Equal(t, 1, assistant, "stored replies")
}

// TestEmbeddedDefault runs the binary as `make run` does: no URLs, so it starts NATS in-process
// and Postgres and Weaviate as children under one data dir. Ctrl-C stops everything; the next
// start finds the data intact.
func TestEmbeddedDefault(t *testing.T) {
	t.Parallel()
	if _, err := localdeps.FindWeaviateBin(os.Getenv); err != nil {
		t.Fatal(err)
	}
	dataDir := t.TempDir()
	require.NoError(t, os.Chmod(dataDir, 0o755))
	// Port 0: the process picks its own and prints it (a port chosen here beforehand can be
	// taken by the embedded NATS server's random port before the gateway binds it).
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "COACHWIRE_DATA_DIR=" + dataDir,
		"COACHWIRE_HTTP_ADDR=127.0.0.1:0", "COACHWIRE_OPS_ADDR=127.0.0.1:0", "COACHWIRE_OLLAMA_URL=http://127.0.0.1:1", "COACHWIRE_BCRYPT_COST=4"}
	if b := os.Getenv("COACHWIRE_WEAVIATE_BIN"); b != "" {
		env = append(env, "COACHWIRE_WEAVIATE_BIN="+b)
	}

	p := startProc(t, "embedded", env, "-dev")
	base := p.apiBase(t)
	waitHealthy(t, base)
	testenv.Eventually(t, 30*time.Second, func() bool { return strings.Contains(p.output(), "Demo page:") }, "the start banner")
	out := p.output()
	require.Contains(t, out, "API:")
	require.Contains(t, out, base+"/demo")
	require.Contains(t, out, "LLM mode:   passages")

	c := testenv.NewClient(base)
	cr := c.Register(t)
	p.kill(syscall.SIGINT)
	require.Equal(t, 0, p.cmd.ProcessState.ExitCode())
	requireNoChildren(t, dataDir)

	p2 := startProc(t, "embedded-2", env, "-dev")
	base = p2.apiBase(t)
	waitHealthy(t, base)
	c = testenv.NewClient(base)
	var session struct {
		AccessToken string `json:"access_token"`
	}
	st, raw, err := c.Do(context.Background(), "POST", "/api/v1/auth/login", "", map[string]string{"email": cr.Email, "password": "correct horse battery"}, &session)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, st, "the creator survived the restart: %s", raw)
	p2.kill(syscall.SIGTERM)
	require.Equal(t, 0, p2.cmd.ProcessState.ExitCode())
	requireNoChildren(t, dataDir)
}

// requireNoChildren checks that no postgres or weaviate process still uses dataDir.
func requireNoChildren(t *testing.T, dataDir string) {
	t.Helper()
	testenv.Eventually(t, 20*time.Second, func() bool {
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
			if err == nil && strings.Contains(string(b), dataDir) {
				return false
			}
			env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
			if err == nil && strings.Contains(string(env), "PERSISTENCE_DATA_PATH="+dataDir) {
				return false
			}
		}
		return true
	}, "child processes of %s to exit", dataDir)
}

// sharedDir is a directory every process of a test can use (postgres-style permissions aside,
// all coachwire processes run as the test's user).
func sharedDir(t testing.TB) string {
	d := t.TempDir()
	require.NoError(t, os.Chmod(d, 0o755))
	return d
}
