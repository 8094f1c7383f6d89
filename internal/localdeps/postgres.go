package localdeps

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresOptions configures a managed PostgreSQL cluster.
type PostgresOptions struct {
	// BinDir holds initdb and postgres; found automatically when empty.
	BinDir  string
	DataDir string
	// Port to listen on; a free one is picked when 0 (and remembered for the next start).
	Port   int
	Logger *slog.Logger
}

// Postgres is a PostgreSQL server running as a child process.
type Postgres struct {
	cmd      *exec.Cmd
	dataDir  string
	port     int
	ownerURL string
	appURL   string
	done     chan struct{}
	log      *slog.Logger
}

// OwnerURL connects as the role that owns the schema (for migrations).
func (p *Postgres) OwnerURL() string { return p.ownerURL }

// AppURL connects as the application role (owns nothing, NOBYPASSRLS).
func (p *Postgres) AppURL() string { return p.appURL }

// SuperURL connects as the bootstrap superuser (tests use it to prove the role check refuses it).
func (p *Postgres) SuperURL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.port)
}

// FindPostgresBin finds the directory holding initdb and postgres.
func FindPostgresBin(dir string) (string, error) {
	if dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "initdb")); err != nil {
			return "", fmt.Errorf("COACHWIRE_PG_BIN_DIR=%s has no initdb: %w", dir, err)
		}
		return dir, nil
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(matches) > 0 {
		return filepath.Dir(matches[len(matches)-1]), nil
	}
	return "", errors.New("PostgreSQL server binaries (initdb, postgres) not found: install them " +
		"(Debian: apt-get install postgresql) or set COACHWIRE_PG_BIN_DIR, or set COACHWIRE_DATABASE_URL to use an existing server")
}

// StartPostgres initialises the cluster on first use and starts it. When the process runs as
// root (CI does), initdb and postgres run as the unprivileged "postgres" user, which they require.
func StartPostgres(ctx context.Context, opt PostgresOptions) (*Postgres, error) {
	bin, err := FindPostgresBin(opt.BinDir)
	if err != nil {
		return nil, err
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(opt.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("postgres: data dir: %w", err)
	}
	cred, err := unprivileged()
	if err != nil {
		return nil, err
	}
	if cred != nil {
		if err := chownTree(opt.DataDir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, fmt.Errorf("postgres: give %s to the postgres user: %w", opt.DataDir, err)
		}
		if err := ensureTraversable(opt.DataDir); err != nil {
			return nil, err
		}
	}
	pgdata := filepath.Join(opt.DataDir, "data")
	fresh := false
	if _, err := os.Stat(filepath.Join(pgdata, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		fresh = true
		cmd := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", pgdata, "-U", "postgres",
			"--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("postgres: initdb: %w: %s", err, out)
		}
	}
	port := opt.Port
	portFile := filepath.Join(opt.DataDir, "port")
	if port == 0 {
		if b, err := os.ReadFile(portFile); err == nil {
			port, _ = strconv.Atoi(strings.TrimSpace(string(b)))
			if port != 0 && !portFree(port) {
				port = 0
			}
		}
	}
	if port == 0 {
		if port, err = FreePort(); err != nil {
			return nil, err
		}
	}
	_ = os.WriteFile(portFile, []byte(strconv.Itoa(port)), 0o644)
	logFile, err := os.OpenFile(filepath.Join(opt.DataDir, "postgres.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("postgres: log file: %w", err)
	}
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", pgdata, "-p", strconv.Itoa(port),
		"-h", "127.0.0.1", "-k", opt.DataDir, "-c", "max_connections=200", "-c", "fsync=on",
		"-c", "shared_buffers=128MB")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("postgres: start: %w", err)
	}
	p := &Postgres{cmd: cmd, dataDir: opt.DataDir, port: port, done: make(chan struct{}), log: log}
	go func() { _ = cmd.Wait(); logFile.Close(); close(p.done) }()
	if err := p.waitReady(ctx); err != nil {
		_ = p.Stop()
		return nil, err
	}
	if err := p.ensureRoles(ctx, fresh); err != nil {
		_ = p.Stop()
		return nil, err
	}
	log.Info("postgres started", "port", port, "data", pgdata)
	return p, nil
}

func (p *Postgres) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		conn, err := pgx.Connect(ctx, p.SuperURL())
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		select {
		case <-p.done:
			b, _ := os.ReadFile(filepath.Join(p.dataDir, "postgres.log"))
			return fmt.Errorf("postgres exited during start: %s", tail(string(b), 2000))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres not ready after 60s: %w", err)
		}
	}
}

// ensureRoles creates the database, the owner role and the application role (with a password
// kept in the data dir), once.
func (p *Postgres) ensureRoles(ctx context.Context, fresh bool) error {
	pwFile := filepath.Join(p.dataDir, "app-password")
	pw, err := os.ReadFile(pwFile)
	if err != nil {
		b := make([]byte, 18)
		_, _ = rand.Read(b)
		pw = []byte(hex.EncodeToString(b))
		if err := os.WriteFile(pwFile, pw, 0o600); err != nil {
			return fmt.Errorf("postgres: write app password: %w", err)
		}
	}
	password := strings.TrimSpace(string(pw))
	conn, err := pgx.Connect(ctx, p.SuperURL())
	if err != nil {
		return fmt.Errorf("postgres: connect as superuser: %w", err)
	}
	defer conn.Close(ctx)
	stmts := []string{
		`DO $$ BEGIN
		   IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'coachwire_owner') THEN
		     CREATE ROLE coachwire_owner LOGIN NOSUPERUSER;
		   END IF;
		   IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'coachwire_app') THEN
		     CREATE ROLE coachwire_app LOGIN NOSUPERUSER NOBYPASSRLS;
		   END IF;
		 END $$`,
		`ALTER ROLE coachwire_app LOGIN PASSWORD '` + password + `'`,
	}
	for _, s := range stmts {
		if _, err := conn.Exec(ctx, s); err != nil {
			return fmt.Errorf("postgres: create roles: %w", err)
		}
	}
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_database WHERE datname = 'coachwire')`).Scan(&exists); err != nil {
		return fmt.Errorf("postgres: check database: %w", err)
	}
	if !exists {
		if _, err := conn.Exec(ctx, `CREATE DATABASE coachwire OWNER coachwire_owner`); err != nil {
			return fmt.Errorf("postgres: create database: %w", err)
		}
	}
	_ = fresh
	p.ownerURL = fmt.Sprintf("postgres://coachwire_owner@127.0.0.1:%d/coachwire?sslmode=disable", p.port)
	p.appURL = fmt.Sprintf("postgres://coachwire_app:%s@127.0.0.1:%d/coachwire?sslmode=disable", password, p.port)
	return nil
}

// CreateDatabase creates another database owned by coachwire_owner and returns owner and app
// URLs for it. Tests use it to give each package its own schema state.
func (p *Postgres) CreateDatabase(ctx context.Context, name string) (ownerURL, appURL string, err error) {
	conn, err := pgx.Connect(ctx, p.SuperURL())
	if err != nil {
		return "", "", err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" OWNER coachwire_owner"); err != nil {
		return "", "", fmt.Errorf("postgres: create database %s: %w", name, err)
	}
	swap := func(u string) string { return strings.Replace(u, "/coachwire?", "/"+name+"?", 1) }
	return swap(p.ownerURL), swap(p.appURL), nil
}

// Stop shuts the server down (fast shutdown) and waits for it.
func (p *Postgres) Stop() error {
	select {
	case <-p.done:
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
	return nil
}

// Port is the TCP port the server listens on.
func (p *Postgres) Port() int { return p.port }

func unprivileged() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, errors.New("running as root, PostgreSQL must run as an unprivileged user and there is no 'postgres' user: " +
			"install Debian's postgresql package (it creates one) or run coachwire as a normal user")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func chownTree(dir string, uid, gid int) error {
	return filepath.Walk(dir, func(path string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, uid, gid)
	})
}

// ensureTraversable makes every parent of dir searchable so the postgres user can reach it.
func ensureTraversable(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	for d := filepath.Dir(abs); d != "/" && d != "."; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil {
			return err
		}
		if st.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(d, st.Mode().Perm()|0o011); err != nil {
				return fmt.Errorf("postgres: make %s reachable for the postgres user: %w", d, err)
			}
		}
	}
	return nil
}

func portFree(port int) bool {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
