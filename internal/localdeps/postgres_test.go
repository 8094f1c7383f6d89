package localdeps

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// pgDataDir is a data dir as testenv and `make run` make them: group- and world-readable to
// start with, so the test shows StartPostgres closes it.
func pgDataDir(t *testing.T) string {
	t.Helper()
	if _, err := FindPostgresBin(""); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "postgres")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func startPG(t *testing.T, dir string) *Postgres {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, err := StartPostgres(ctx, PostgresOptions{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop() })
	return p
}

// withPassword returns u with the password replaced (or removed when pw is empty).
func withPassword(t *testing.T, u, pw string) string {
	t.Helper()
	x, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	if pw == "" {
		x.User = url.User(x.User.Username())
	} else {
		x.User = url.UserPassword(x.User.Username(), pw)
	}
	return x.String()
}

// requireRefused connects and wants the server to refuse the password.
func requireRefused(t *testing.T, what, connString string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, connString)
	if err == nil {
		conn.Close(ctx)
		t.Errorf("%s: connected", what)
		return
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "28P01" {
		t.Errorf("%s: want the password refused (28P01), got %v", what, err)
	}
}

func queryOne(t *testing.T, connString, sql string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, connString)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	var s string
	if err := conn.QueryRow(ctx, sql).Scan(&s); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return s
}

// requirePrivate checks that path is reachable by its owner only.
func requirePrivate(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != want {
		t.Errorf("%s: mode %v, want %v", path, st.Mode().Perm(), want)
	}
}

// requirePasswordsOnly: no role gets in without its password, over TCP or the unix socket,
// and the generated URLs do.
func requirePasswordsOnly(t *testing.T, p *Postgres) {
	t.Helper()
	for name, u := range map[string]string{"superuser": p.SuperURL(), "owner": p.OwnerURL(), "app": p.AppURL()} {
		requireRefused(t, name+" without a password", withPassword(t, u, ""))
		requireRefused(t, name+" with a wrong password", withPassword(t, u, "0123456789abcdef"))
		x, _ := url.Parse(u)
		sock := fmt.Sprintf("host=%s port=%d user=%s dbname=postgres sslmode=disable", p.SocketDir(), p.Port(), x.User.Username())
		requireRefused(t, name+" on the unix socket without a password", sock)
		if got := queryOne(t, u, "SELECT current_user::text"); got != x.User.Username() {
			t.Errorf("%s URL connects as %s", name, got)
		}
	}
	b, err := os.ReadFile(filepath.Join(p.dataDir, "data", "pg_hba.conf"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 0 && !strings.HasPrefix(f[0], "#") && f[len(f)-1] != "scram-sha-256" {
			t.Errorf("pg_hba.conf admits without a password: %q", line)
		}
	}
	requirePrivate(t, filepath.Join(p.dataDir, passwordsFile), 0o600)
	requirePrivate(t, p.dataDir, 0o700)
	requirePrivate(t, p.SocketDir(), 0o700)
}

// TestPostgresRequiresPasswords: a new cluster refuses every connection without the right
// password (defect 13: it trusted every local user on 127.0.0.1, so any local account could
// connect as the superuser and bypass row security); the passwords file and the socket
// directory are the owner's only; a restart keeps passwords and data.
func TestPostgresRequiresPasswords(t *testing.T) {
	t.Parallel()
	dir := pgDataDir(t)
	p := startPG(t, dir)
	requirePasswordsOnly(t, p)

	owner := p.OwnerURL()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, owner)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('before restart')"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}

	p2 := startPG(t, dir)
	if p2.OwnerURL() != owner {
		t.Errorf("the owner URL changed across a restart")
	}
	if got := queryOne(t, p2.OwnerURL(), "SELECT v FROM kept"); got != "before restart" {
		t.Errorf("after restart: %q", got)
	}
	requirePasswordsOnly(t, p2)
}

// TestPostgresUpgradesTrustCluster: a data dir made by the previous version (initdb
// --auth=trust, superuser without a password, an app-password file) is switched to passwords
// on its next start, with its data intact.
func TestPostgresUpgradesTrustCluster(t *testing.T) {
	t.Parallel()
	dir := pgDataDir(t)
	bin, _ := FindPostgresBin("")
	cred, err := unprivileged()
	if err != nil {
		t.Fatal(err)
	}
	pgdata := filepath.Join(dir, "data")
	if cred != nil {
		if err := chownTree(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			t.Fatal(err)
		}
		if err := ensureTraversable(dir); err != nil {
			t.Fatal(err)
		}
	}
	run := func(name string, args ...string) *exec.Cmd {
		cmd := exec.Command(filepath.Join(bin, name), args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: syscall.SIGKILL}
		return cmd
	}
	// The previous version's cluster, exactly as it made it.
	if out, err := run("initdb", "-D", pgdata, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v: %s", err, out)
	}
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	srv := run("postgres", "-D", pgdata, "-p", strconv.Itoa(port), "-h", "127.0.0.1", "-k", dir)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	trustURL := func(user, db string) string {
		return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", user, port, db)
	}
	ctx := context.Background()
	var conn *pgx.Conn
	for i := 0; ; i++ {
		if conn, err = pgx.Connect(ctx, trustURL("postgres", "postgres")); err == nil {
			break
		}
		if i > 300 {
			t.Fatalf("legacy server: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, s := range []string{"CREATE ROLE coachwire_owner LOGIN NOSUPERUSER", "CREATE ROLE coachwire_app LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD 'old'",
		"CREATE DATABASE coachwire OWNER coachwire_owner"} {
		if _, err := conn.Exec(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	conn.Close(ctx)
	conn, err = pgx.Connect(ctx, trustURL("coachwire_owner", "coachwire"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('from the trust days')"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	if err := os.WriteFile(filepath.Join(dir, "app-password"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	_ = srv.Process.Signal(syscall.SIGINT)
	_ = srv.Wait()

	p := startPG(t, dir)
	requirePasswordsOnly(t, p)
	if got := queryOne(t, p.OwnerURL(), "SELECT v FROM kept"); got != "from the trust days" {
		t.Errorf("data after the upgrade: %q", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "app-password")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the old app-password file is still there: %v", err)
	}
	// And the upgraded cluster starts again as a normal one.
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	requirePasswordsOnly(t, startPG(t, dir))
}
