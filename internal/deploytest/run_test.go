package deploytest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/llm/ollamatest"
	"github.com/coachwire/coachwire/internal/testenv"
)

// TestComposeServicesRun runs every coachwire service of compose.yaml as the image would: the
// image's entrypoint with the service's command and environment (plus the image's ENV), as a
// non-root user, with each volume and image directory an empty directory owned by that user
// (as a new named volume is), and the service hostnames (nats, postgres, weaviate, ollama)
// pointing at this test's real services: NATS started from deploy/nats.conf, an empty
// PostgreSQL database, Weaviate, and the Ollama double serving the models compose pulls.
// migrate must exit 0; every other service must start, and its compose health check must pass.
func TestComposeServicesRun(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds the binary and runs every service")
	}
	cred := nonRoot(t)
	p, err := loadProject(t, secretEnv)
	require.NoError(t, err)
	img := readDockerfile(t)

	dir, err := os.MkdirTemp("", "coachwire-compose-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	bin := filepath.Join(dir, "coachwire")
	require.NoError(t, testenv.BuildCoachwire(bin))

	hosts := startServices(t, p)

	procs := map[string]*proc{}
	for _, name := range coachwireServices {
		s := p.Services[name]
		require.Equal(t, "coachwire:local", s.Image, name)
		env := containerEnv(t, dir, name, s, img, hosts, cred)
		args := append(append([]string{}, img.Entrypoint[1:]...), s.Command...)
		pr := start(t, bin, args, env, mapPath(dir, name, s, img, img.Workdir), cred)
		if name == "migrate" {
			require.NoError(t, pr.wait(3*time.Minute), "migrate: %s", pr.output())
			continue
		}
		procs[name] = pr
	}
	for name, pr := range procs {
		testenv.Eventually(t, 2*time.Minute, func() bool {
			require.False(t, pr.exited(), "%s exited: %s", name, pr.output())
			return strings.Contains(pr.stdout.String(), "coachwire running: targets "+name)
		}, "%s started", name)
	}
	// The gateway wrote its JWT key file into the keys volume as the non-root user.
	fi, err := os.Stat(filepath.Join(dir, "volumes", "keys", "jwt.json"))
	require.NoError(t, err, "the gateway's key file in the keys volume")
	require.EqualValues(t, cred.Uid, fi.Sys().(*syscall.Stat_t).Uid)

	for name, pr := range procs {
		s := p.Services[name]
		check := s.HealthCheck.Test
		require.Equal(t, "CMD", check[0])
		require.Equal(t, img.Entrypoint[0], check[1], "%s's health check runs the coachwire binary", name)
		var last string
		testenv.Eventually(t, 2*time.Minute, func() bool {
			require.False(t, pr.exited(), "%s exited: %s", name, pr.output())
			hc := start(t, bin, check[2:], pr.env, pr.dir, cred)
			err := hc.wait(time.Minute)
			last = hc.output()
			return err == nil
		}, "%s healthy (coachwire healthcheck exits 0); last: %s", name, last)
	}
}

// nonRoot returns the credentials of a non-root user to run the services as: nobody when the
// test runs as root, else the test's own user.
func nonRoot(t *testing.T) *syscall.Credential {
	t.Helper()
	if os.Geteuid() != 0 {
		return &syscall.Credential{Uid: uint32(os.Geteuid()), Gid: uint32(os.Getegid())}
	}
	uid, gid := uint32(65534), uint32(65534)
	if u, err := user.Lookup("nobody"); err == nil {
		if n, err := strconv.Atoi(u.Uid); err == nil {
			uid = uint32(n)
		}
		if n, err := strconv.Atoi(u.Gid); err == nil {
			gid = uint32(n)
		}
	}
	c := &syscall.Credential{Uid: uid, Gid: gid, NoSetGroups: true}
	cmd := exec.Command("/bin/true")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c}
	if err := cmd.Run(); err != nil {
		t.Skipf("cannot run a process as uid %d here (%v): the services must run as a non-root user", uid, err)
	}
	return c
}

// hostMap maps a compose service address (host:port) to this test's service.
type hostMap struct {
	addr map[string]string // "nats:4222" -> "127.0.0.1:41234"
	pg   map[string]string // database user -> URL of the test's empty database as that user
}

// startServices starts the test's stand-ins of the compose services coachwire connects to.
func startServices(t *testing.T, p *types.Project) hostMap {
	t.Helper()
	h := hostMap{addr: map[string]string{}, pg: map[string]string{}}

	// NATS from the compose configuration file, on a free port with a temporary store.
	opts, err := server.ProcessConfigFile(filepath.Join(repoRoot(t), "deploy", "nats.conf"))
	require.NoError(t, err)
	opts.Host, opts.Port, opts.HTTPPort, opts.StoreDir, opts.NoSigs = "127.0.0.1", -1, 0, t.TempDir(), true
	ns, err := server.NewServer(opts)
	require.NoError(t, err)
	go ns.Start()
	require.True(t, ns.ReadyForConnections(15*time.Second))
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	h.addr["nats:4222"] = ns.Addr().String()

	// An empty database, created as deploy/postgres-init.sh does (owned by coachwire_owner).
	dbs := testenv.Postgres(t)
	name := "compose_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
	superExec(t, dbs.SuperURL, "CREATE DATABASE "+name+" OWNER coachwire_owner")
	t.Cleanup(func() { superExec(t, dbs.SuperURL, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") })
	h.pg["coachwire_owner"] = withDatabase(t, dbs.OwnerURL, name)
	h.pg["coachwire_app"] = withDatabase(t, dbs.AppURL, name)

	wv, err := url.Parse(testenv.Weaviate(t))
	require.NoError(t, err)
	h.addr["weaviate:8080"] = wv.Host
	h.addr["weaviate:50051"] = testenv.WeaviateGRPC(t)

	models := p.Services["ollama-models"].Environment
	ol := ollamatest.New(t, ollamatest.Options{ChatModels: []string{*models["COACHWIRE_CHAT_MODEL"]}, EmbedModels: []string{*models["COACHWIRE_EMBED_MODEL"]}})
	h.addr["ollama:11434"] = strings.TrimPrefix(ol.URL, "http://")
	return h
}

func superExec(t *testing.T, superURL, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, superURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	require.NoError(t, err)
}

func withDatabase(t *testing.T, u, name string) string {
	t.Helper()
	x, err := url.Parse(u)
	require.NoError(t, err)
	x.Path = "/" + name
	return x.String()
}

// mapPath maps a path inside service name's container to this test's directories: a volume's
// mount point to dir/volumes/<volume> (shared by the services that mount it), an image
// directory to dir/containers/<service>/<dir> (its own). Both are created empty and owned by
// the non-root user, as the image's COPY --chown creates them. Other values are unchanged.
func mapPath(dir, name string, s types.ServiceConfig, img dockerfile, p string) string {
	for _, v := range s.Volumes {
		if rest, ok := cutDir(p, v.Target); ok {
			return filepath.Join(dir, "volumes", v.Source) + rest
		}
	}
	for d := range img.Owned {
		if rest, ok := cutDir(p, d); ok {
			return filepath.Join(dir, "containers", name, d) + rest
		}
	}
	return p
}

func cutDir(p, d string) (string, bool) {
	if p == d {
		return "", true
	}
	rest, ok := strings.CutPrefix(p, d+"/")
	return "/" + rest, ok
}

// containerEnv is service name's environment inside its container (the image's ENV, then the
// service's), with paths mapped (mapPath), the compose hostnames replaced by the test's
// services and every listener on 0.0.0.0 moved to a free loopback port. It creates the
// directories the container would have.
func containerEnv(t *testing.T, dir, name string, s types.ServiceConfig, img dockerfile, h hostMap, cred *syscall.Credential) []string {
	t.Helper()
	for _, v := range s.Volumes {
		mkOwned(t, filepath.Join(dir, "volumes", v.Source), cred)
	}
	for d := range img.Owned {
		mkOwned(t, filepath.Join(dir, "containers", name, d), cred)
	}
	env := map[string]string{}
	for k, v := range img.Env {
		env[k] = v
	}
	for k, v := range s.Environment {
		if v != nil {
			env[k] = *v
		}
	}
	var out []string
	for k, v := range env {
		out = append(out, k+"="+rewrite(t, mapPath(dir, name, s, img, v), h))
	}
	return out
}

func mkOwned(t *testing.T, d string, cred *syscall.Credential) {
	t.Helper()
	require.NoError(t, os.MkdirAll(d, 0o755))
	for p := d; strings.Contains(p, "coachwire-compose-"); p = filepath.Dir(p) {
		require.NoError(t, os.Chmod(p, 0o755))
	}
	require.NoError(t, os.Chown(d, int(cred.Uid), int(cred.Gid)))
}

// rewrite points one environment value at the test's services.
func rewrite(t *testing.T, v string, h hostMap) string {
	t.Helper()
	if strings.HasPrefix(v, "postgres://") {
		u, err := url.Parse(v)
		require.NoError(t, err)
		require.Equal(t, "postgres:5432", u.Host, v)
		require.Equal(t, "/coachwire", u.Path, v)
		to, ok := h.pg[u.User.Username()]
		require.True(t, ok, "database user %s", u.User.Username())
		return to
	}
	if host, _, err := net.SplitHostPort(v); err == nil && host == "0.0.0.0" {
		return freeAddr(t)
	}
	for from, to := range h.addr {
		v = strings.ReplaceAll(v, from, to)
	}
	return v
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// proc is a running service.
type proc struct {
	cmd            *exec.Cmd
	env            []string
	dir            string
	stdout, stderr testenv.SyncBuffer
	done           chan struct{}
	err            error
}

func start(t *testing.T, bin string, args, env []string, dir string, cred *syscall.Credential) *proc {
	t.Helper()
	pr := &proc{env: env, dir: dir, done: make(chan struct{})}
	pr.cmd = exec.Command(bin, args...)
	pr.cmd.Env = env
	pr.cmd.Dir = dir
	pr.cmd.Stdout, pr.cmd.Stderr = &pr.stdout, &pr.stderr
	pr.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	require.NoError(t, pr.cmd.Start())
	go func() { pr.err = pr.cmd.Wait(); close(pr.done) }()
	t.Cleanup(func() {
		if !pr.exited() {
			_ = pr.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-pr.done:
			case <-time.After(30 * time.Second):
				_ = pr.cmd.Process.Kill()
				<-pr.done
			}
		}
	})
	return pr
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits for the process to exit and returns its error (nil for exit 0).
func (p *proc) wait(d time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(d):
		return errors.New("still running after " + d.String())
	}
}

func (p *proc) output() string {
	return fmt.Sprintf("stdout:\n%s\nstderr:\n%s", p.stdout.String(), p.stderr.String())
}
