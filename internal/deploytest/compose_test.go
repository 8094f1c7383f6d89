// Package deploytest keeps the deployment files honest: compose.yaml cannot run here (no Docker
// engine), so it is loaded and validated with the Compose specification's own loader, the NATS
// configuration with the NATS server's own parser, the Dockerfile is read line by line, and
// every coachwire service's command line runs as a non-root user against real services
// (run_test.go).
package deploytest

import (
	"context"
	"encoding/base64"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// coachwireServices are the services that run the coachwire image, migrate first.
var coachwireServices = []string{"migrate", "gateway", "ingest", "retrieve", "generate", "dispatch", "nudge"}

// secretEnv is the environment an operator provides (deploy/gen-env.sh writes it to .env): every
// secret of the deployment, each a recognizable sentinel.
var secretEnv = map[string]string{
	"POSTGRES_PASSWORD":           "sentinel-postgres-pw",
	"COACHWIRE_OWNER_DB_PASSWORD": "sentinel-owner-pw",
	"COACHWIRE_APP_DB_PASSWORD":   "sentinel-app-pw",
	"COACHWIRE_SECRET_KEYS":       "k1:" + base64.StdEncoding.EncodeToString([]byte("sentinel-secret-key-32-bytes-ok!")),
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	return root
}

// loadProject loads compose.yaml as `docker compose` would with env as the environment.
func loadProject(t *testing.T, env map[string]string) (*types.Project, error) {
	t.Helper()
	root := repoRoot(t)
	var kv []string
	for k, v := range env {
		kv = append(kv, k+"="+v)
	}
	opts, err := cli.NewProjectOptions([]string{filepath.Join(root, "compose.yaml")},
		cli.WithWorkingDirectory(root), cli.WithName("coachwire"), cli.WithResolvedPaths(true), cli.WithEnv(kv))
	require.NoError(t, err)
	return opts.LoadProject(context.Background())
}

func TestComposeFileIsValid(t *testing.T) {
	p, err := loadProject(t, secretEnv)
	require.NoError(t, err)
	for _, name := range append([]string{"nats", "postgres", "weaviate", "ollama", "ollama-models"}, coachwireServices...) {
		require.Contains(t, p.ServiceNames(), name)
	}
	targets := map[string]string{}
	models := p.Services["ollama-models"].Environment
	for _, name := range coachwireServices[1:] {
		s := p.Services[name]
		v := s.Environment["COACHWIRE_TARGET"]
		require.NotNil(t, v, "%s has COACHWIRE_TARGET", name)
		targets[name] = *v
		for _, k := range []string{"COACHWIRE_NATS_URL", "COACHWIRE_DATABASE_URL", "COACHWIRE_WEAVIATE_URL", "COACHWIRE_SECRET_KEYS", "COACHWIRE_OPS_ADDR"} {
			require.NotNil(t, s.Environment[k], "%s sets %s", name, k)
		}
		for _, k := range []string{"COACHWIRE_CHAT_MODEL", "COACHWIRE_EMBED_MODEL"} {
			require.Equal(t, *models[k], *s.Environment[k], "%s uses the model ollama-models pulls", name)
		}
		require.Equal(t, types.ServiceConditionCompletedSuccessfully, s.DependsOn["migrate"].Condition, "%s waits for migrations", name)
		require.Equal(t, types.ServiceConditionCompletedSuccessfully, s.DependsOn["ollama-models"].Condition, "%s waits for the models", name)
		require.Equal(t, types.ServiceConditionHealthy, s.DependsOn["nats"].Condition, "%s waits for NATS", name)
		require.NotNil(t, s.HealthCheck, "%s has a health check", name)
		require.False(t, s.HealthCheck.Disable, name)
		require.Equal(t, types.HealthCheckTest{"CMD", "/usr/local/bin/coachwire", "healthcheck"}, s.HealthCheck.Test, name)
		for _, port := range s.Ports {
			require.Contains(t, port.Published, "-", "%s publishes a port range, not one fixed host port (it scales)", name)
		}
	}
	for name, target := range targets {
		require.Equal(t, name, target)
	}
	require.Equal(t, []string{"migrate"}, []string(p.Services["migrate"].Command))
	require.True(t, p.Services["migrate"].HealthCheck.Disable, "migrate is one-shot")
	require.Equal(t, "8080-8083", p.Services["gateway"].Ports[0].Published)

	// NATS runs with the repository's configuration and a health check on its monitoring port.
	nats := p.Services["nats"]
	require.NotNil(t, nats.HealthCheck)
	require.Contains(t, strings.Join(nats.HealthCheck.Test, " "), "8222/healthz")
	require.Equal(t, []string{"-c", "/etc/nats/nats.conf"}, []string(nats.Command))
	require.True(t, slices.ContainsFunc(nats.Volumes, func(v types.ServiceVolumeConfig) bool {
		return v.Source == filepath.Join(repoRoot(t), "deploy", "nats.conf") && v.Target == "/etc/nats/nats.conf"
	}), "deploy/nats.conf is mounted")

	// Ollama: a pinned image, a health check, and the one-shot pull of both models.
	for _, name := range []string{"ollama", "ollama-models"} {
		img := p.Services[name].Image
		require.Regexp(t, `^ollama/ollama:\d+\.\d+\.\d+$`, img, "%s pins its image", name)
	}
	require.NotNil(t, p.Services["ollama"].HealthCheck)
	pull := p.Services["ollama-models"]
	require.Equal(t, types.ServiceConditionHealthy, pull.DependsOn["ollama"].Condition)
	require.Equal(t, `ollama pull "$COACHWIRE_CHAT_MODEL" && ollama pull "$COACHWIRE_EMBED_MODEL"`, pull.Command[0])
	require.Equal(t, "http://ollama:11434", *pull.Environment["OLLAMA_HOST"])
	require.Equal(t, "no", pull.Restart)
}

// TestComposeHoldsNoSecret: compose.yaml refuses to load without the secrets, and every secret
// a service gets comes from the environment, none from the file.
func TestComposeHoldsNoSecret(t *testing.T) {
	for k := range secretEnv {
		env := maps.Clone(secretEnv)
		delete(env, k)
		_, err := loadProject(t, env)
		require.ErrorContains(t, err, k, "compose.yaml loads without %s", k)
	}
	p, err := loadProject(t, secretEnv)
	require.NoError(t, err)
	for _, name := range coachwireServices {
		for k, v := range p.Services[name].Environment {
			if !strings.HasSuffix(k, "_URL") || v == nil {
				continue
			}
			u, err := url.Parse(*v)
			require.NoError(t, err)
			if pw, ok := u.User.Password(); ok {
				require.Contains(t, pw, "sentinel-", "%s %s: the password comes from the environment", name, k)
			}
		}
		if name != "migrate" {
			require.Equal(t, secretEnv["COACHWIRE_SECRET_KEYS"], *p.Services[name].Environment["COACHWIRE_SECRET_KEYS"])
		}
	}
	require.Equal(t, secretEnv["POSTGRES_PASSWORD"], *p.Services["postgres"].Environment["POSTGRES_PASSWORD"])
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "compose.yaml"))
	require.NoError(t, err)
	require.NotRegexp(t, `change-me|PASSWORD: [^$]|k1:[A-Za-z0-9+/]{20}`, string(raw))
}

// TestNATSConfig: deploy/nats.conf, read by the NATS server's own parser, enables JetStream with
// fsync on every write and the monitoring port the health check uses.
func TestNATSConfig(t *testing.T) {
	opts, err := server.ProcessConfigFile(filepath.Join(repoRoot(t), "deploy", "nats.conf"))
	require.NoError(t, err)
	require.True(t, opts.JetStream)
	require.True(t, opts.SyncAlways, "sync_interval: always")
	require.Equal(t, "/data", opts.StoreDir)
	require.Equal(t, 4222, opts.Port)
	require.Equal(t, 8222, opts.HTTPPort)
	require.EqualValues(t, 4<<20, opts.MaxPayload)
}

// dockerfile is what the tests need of the Dockerfile's final stage.
type dockerfile struct {
	User       string
	Entrypoint []string
	Workdir    string
	Env        map[string]string
	// Owned maps each directory COPY --chown creates to its owner.
	Owned map[string]string
}

// readDockerfile reads the final stage of the Dockerfile (one instruction a line, exec-form
// ENTRYPOINT).
func readDockerfile(t *testing.T) dockerfile {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "Dockerfile"))
	require.NoError(t, err)
	var d dockerfile
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "FROM":
			d = dockerfile{Env: map[string]string{}, Owned: map[string]string{}, Workdir: "/"}
		case "USER":
			d.User = f[1]
		case "WORKDIR":
			d.Workdir = f[1]
		case "ENV":
			k, v, ok := strings.Cut(f[1], "=")
			require.True(t, ok, "ENV %s: write ENV KEY=value", f[1])
			d.Env[k] = v
		case "ENTRYPOINT":
			ep := strings.TrimSpace(strings.TrimPrefix(line, f[0]))
			require.True(t, strings.HasPrefix(ep, "["), "exec-form ENTRYPOINT")
			for _, a := range strings.Split(strings.Trim(ep, "[]"), ",") {
				d.Entrypoint = append(d.Entrypoint, strings.Trim(strings.TrimSpace(a), `"`))
			}
		case "COPY":
			for _, a := range f[1:] {
				if owner, ok := strings.CutPrefix(a, "--chown="); ok {
					d.Owned[f[len(f)-1]] = owner
				}
			}
		}
	}
	return d
}

// TestDockerfile: the image runs as a non-root user and creates every mount point compose.yaml
// mounts a volume on, owned by that user (a new named volume starts as a copy of it).
func TestDockerfile(t *testing.T) {
	d := readDockerfile(t)
	require.NotEmpty(t, d.User)
	require.NotContains(t, []string{"root", "0", "0:0"}, d.User)
	require.Equal(t, []string{"/usr/local/bin/coachwire"}, d.Entrypoint)
	p, err := loadProject(t, secretEnv)
	require.NoError(t, err)
	for _, name := range coachwireServices {
		for _, v := range p.Services[name].Volumes {
			require.Equal(t, d.User, d.Owned[v.Target], "%s mounts %s: the image creates it owned by %s", name, v.Target, d.User)
		}
	}
	require.Equal(t, d.User, d.Owned[d.Env["COACHWIRE_DATA_DIR"]], "the data dir belongs to the user")

	ignore, err := os.ReadFile(filepath.Join(repoRoot(t), ".dockerignore"))
	require.NoError(t, err)
	for _, pat := range []string{".git", "bin/", ".coachwire/", ".env", "web/console/node_modules/", "**/node_modules"} {
		require.Contains(t, strings.Split(string(ignore), "\n"), pat, ".dockerignore leaves out %s", pat)
	}
}

// TestPostgresInit runs deploy/postgres-init.sh as the postgres image does on its first start
// (POSTGRES_USER and the passwords in the environment, psql on the path), against the test's
// PostgreSQL cluster. That cluster has coachwire's roles and database already, so the script's
// names are given a unique suffix; everything else (psql's quoting of the passwords included)
// is the script's own. The roles must log in with the passwords, the app role without bypassing
// row security, and the database belong to the owner.
func TestPostgresInit(t *testing.T) {
	t.Parallel()
	psql, err := exec.LookPath("psql")
	if err != nil {
		t.Skip("psql is not installed: deploy/postgres-init.sh needs it (the postgres image has it)")
	}
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "postgres-init.sh"))
	require.NoError(t, err)
	sfx := "_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:8]
	script := strings.NewReplacer("coachwire_owner", "coachwire_owner"+sfx, "coachwire_app", "coachwire_app"+sfx,
		"DATABASE coachwire ", "DATABASE coachwire"+sfx+" ").Replace(string(raw))
	path := filepath.Join(t.TempDir(), "init.sh")
	require.NoError(t, os.WriteFile(path, []byte(script), 0o755))

	super, err := url.Parse(testenv.Postgres(t).SuperURL)
	require.NoError(t, err)
	superPW, _ := super.User.Password()
	ownerPW, appPW := "o'wner pw$1", `a"pp pw;\`
	cmd := exec.Command("/bin/sh", path)
	cmd.Env = []string{"PATH=" + filepath.Dir(psql) + ":/usr/bin:/bin", "POSTGRES_USER=" + super.User.Username(), "PGPASSWORD=" + superPW,
		"PGHOST=" + super.Hostname(), "PGPORT=" + super.Port(), "COACHWIRE_OWNER_DB_PASSWORD=" + ownerPW, "COACHWIRE_APP_DB_PASSWORD=" + appPW}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	t.Cleanup(func() {
		superExec(t, super.String(), "DROP DATABASE IF EXISTS coachwire"+sfx+" WITH (FORCE)")
		superExec(t, super.String(), "DROP ROLE IF EXISTS coachwire_app"+sfx)
		superExec(t, super.String(), "DROP ROLE IF EXISTS coachwire_owner"+sfx)
	})

	as := func(role, pw string) string {
		u := *super
		u.User = url.UserPassword(role, pw)
		u.Path = "/coachwire" + sfx
		return u.String()
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, as("coachwire_owner"+sfx, ownerPW))
	require.NoError(t, err, "the owner logs in with its password")
	var owner string
	require.NoError(t, conn.QueryRow(ctx, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()").Scan(&owner))
	require.Equal(t, "coachwire_owner"+sfx, owner)
	require.NoError(t, conn.Close(ctx))
	conn, err = pgx.Connect(ctx, as("coachwire_app"+sfx, appPW))
	require.NoError(t, err, "the app role logs in with its password")
	var isSuper, bypass bool
	require.NoError(t, conn.QueryRow(ctx, "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user").Scan(&isSuper, &bypass))
	require.False(t, isSuper)
	require.False(t, bypass)
	require.NoError(t, conn.Close(ctx))

	cmd = exec.Command("/bin/sh", path)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "POSTGRES_USER=postgres"}
	out, err = cmd.CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "set COACHWIRE_OWNER_DB_PASSWORD", "without the passwords the script stops and says so")
}
