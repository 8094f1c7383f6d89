package localdeps

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// PostgresOptions configures a managed PostgreSQL cluster.
type PostgresOptions struct {
	// BinDir holds initdb and postgres; found automatically when empty.
	BinDir  string
	DataDir string
	// Port to listen on; a free one is picked when 0 (and remembered for the next start).
	Port   int
	Logger *slog.Logger
	// NoFsync runs the server with fsync=off: for throwaway test clusters only (a commit still
	// reaches the kernel before it is acknowledged, so a killed server loses nothing; a machine
	// crash would). The tests commit thousands of times on a disk other processes keep busy.
	NoFsync bool
}

// Postgres is a PostgreSQL server running as a child process.
type Postgres struct {
	cmd      *exec.Cmd
	dataDir  string
	port     int
	pw       passwords
	superURL string
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
func (p *Postgres) SuperURL() string { return p.superURL }

// SocketDir is the directory of the server's unix socket; only the owner of the data dir can
// reach it, and a connection through it needs a password like one over TCP.
func (p *Postgres) SocketDir() string { return socketDir(p.dataDir) }

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
//
// Every connection needs a password (SCRAM-SHA-256, over TCP on 127.0.0.1 and over the unix
// socket alike): the passwords of the superuser, the owner and the application role are
// generated on first use and kept in passwords.json in the data dir (0600), and the data dir
// and the socket directory are reachable by their owner only. A cluster created by an older
// coachwire with trust authentication is upgraded on its next start, data intact.
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
	// The passwords, the log and the socket live here: the owner's only.
	if err := os.Chmod(opt.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("postgres: data dir: %w", err)
	}
	if err := os.MkdirAll(socketDir(opt.DataDir), 0o700); err != nil {
		return nil, fmt.Errorf("postgres: socket dir: %w", err)
	}
	if err := os.Chmod(socketDir(opt.DataDir), 0o700); err != nil {
		return nil, fmt.Errorf("postgres: socket dir: %w", err)
	}
	pw, created, err := loadPasswords(opt.DataDir)
	if err != nil {
		return nil, err
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
		if err := initdb(ctx, bin, opt.DataDir, pgdata, pw.Super, cred); err != nil {
			return nil, err
		}
	}
	hbaChanged, err := writeHBA(pgdata, cred)
	if err != nil {
		return nil, err
	}
	if !fresh && (created || hbaChanged) {
		// A cluster from before password authentication (trust, no superuser password), or
		// one whose passwords file was lost: set the superuser's password in single-user mode,
		// which needs no connection at all, before the server listens.
		log.Info("postgres: setting up password authentication for an existing cluster", "data", pgdata)
		if err := setSuperPassword(ctx, bin, pgdata, pw.Super, cred); err != nil {
			return nil, err
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
	_ = os.WriteFile(portFile, []byte(strconv.Itoa(port)), 0o600)
	logFile, err := os.OpenFile(filepath.Join(opt.DataDir, "postgres.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("postgres: log file: %w", err)
	}
	fsync := "on"
	if opt.NoFsync {
		fsync = "off"
	}
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", pgdata, "-p", strconv.Itoa(port),
		"-h", "127.0.0.1", "-k", socketDir(opt.DataDir), "-c", "unix_socket_permissions=0700",
		"-c", "password_encryption=scram-sha-256", "-c", "max_connections=200", "-c", "fsync="+fsync,
		"-c", "shared_buffers=128MB")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("postgres: start: %w", err)
	}
	p := &Postgres{cmd: cmd, dataDir: opt.DataDir, port: port, pw: pw, done: make(chan struct{}), log: log}
	p.superURL = p.url("postgres", pw.Super, "postgres")
	go func() { _ = cmd.Wait(); logFile.Close(); close(p.done) }()
	if err := p.waitReady(ctx); err != nil {
		_ = p.Stop()
		return nil, err
	}
	if err := p.ensureRoles(ctx); err != nil {
		_ = p.Stop()
		return nil, err
	}
	log.Info("postgres started", "port", port, "data", pgdata)
	return p, nil
}

// url is a connection URL to the server for role with password.
func (p *Postgres) url(role, password, database string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(role, password), Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port)),
		Path: "/" + database, RawQuery: "sslmode=disable"}
	return u.String()
}

func socketDir(dataDir string) string { return filepath.Join(dataDir, "socket") }

// passwords are the cluster's generated role passwords, kept in passwordsFile (0600).
type passwords struct {
	Super string `json:"postgres"`
	Owner string `json:"coachwire_owner"`
	App   string `json:"coachwire_app"`
}

const passwordsFile = "passwords.json"

// loadPasswords reads the data dir's passwords, generating (and storing) any missing one;
// created reports that the superuser's was generated now.
func loadPasswords(dataDir string) (pw passwords, created bool, err error) {
	path := filepath.Join(dataDir, passwordsFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &pw); err != nil {
			return pw, false, fmt.Errorf("postgres: %s: %w", path, err)
		}
		if err := os.Chmod(path, 0o600); err != nil {
			return pw, false, fmt.Errorf("postgres: %s: %w", path, err)
		}
	case !errors.Is(err, os.ErrNotExist):
		return pw, false, fmt.Errorf("postgres: read passwords: %w", err)
	}
	changed := false
	for _, f := range []*string{&pw.Super, &pw.Owner, &pw.App} {
		if *f == "" {
			if *f, err = newPassword(); err != nil {
				return pw, false, err
			}
			changed = true
			created = created || f == &pw.Super
		}
	}
	if changed {
		b, _ := json.MarshalIndent(pw, "", "  ")
		if err := writeFileAtomic(path, append(b, '\n')); err != nil {
			return pw, false, fmt.Errorf("postgres: write passwords: %w", err)
		}
	}
	// The single application password of older versions is replaced by passwords.json.
	_ = os.Remove(filepath.Join(dataDir, "app-password"))
	return pw, created, nil
}

func newPassword() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("postgres: generate a password: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// writeFileAtomic writes data to path with mode 0600 (a temporary file, then a rename).
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// initdb creates the cluster with SCRAM authentication and the superuser's password.
func initdb(ctx context.Context, bin, dataDir, pgdata, superPassword string, cred *syscall.Credential) error {
	pwFile := filepath.Join(dataDir, ".initdb-password")
	if err := os.WriteFile(pwFile, []byte(superPassword+"\n"), 0o600); err != nil {
		return fmt.Errorf("postgres: initdb password file: %w", err)
	}
	defer os.Remove(pwFile)
	if cred != nil {
		if err := os.Chown(pwFile, int(cred.Uid), int(cred.Gid)); err != nil {
			return fmt.Errorf("postgres: initdb password file: %w", err)
		}
	}
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", pgdata, "-U", "postgres",
		"--auth=scram-sha-256", "--pwfile="+pwFile, "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("postgres: initdb: %w: %s", err, out)
	}
	return nil
}

// hbaConf admits password (SCRAM) connections only: on the unix socket and on loopback.
const hbaConf = `# Written by coachwire (internal/localdeps) at every start: every connection needs a password
# (SCRAM-SHA-256); the passwords are in ../passwords.json.
# TYPE  DATABASE  USER  ADDRESS       METHOD
local   all       all                 scram-sha-256
host    all       all   127.0.0.1/32  scram-sha-256
host    all       all   ::1/128       scram-sha-256
`

// writeHBA makes pg_hba.conf hbaConf; changed reports it was something else (a cluster
// created with trust authentication by an older coachwire, or edited by hand).
func writeHBA(pgdata string, cred *syscall.Credential) (changed bool, err error) {
	path := filepath.Join(pgdata, "pg_hba.conf")
	if b, err := os.ReadFile(path); err == nil && string(b) == hbaConf {
		return false, nil
	}
	if err := writeFileAtomic(path, []byte(hbaConf)); err != nil {
		return false, fmt.Errorf("postgres: write pg_hba.conf: %w", err)
	}
	if cred != nil {
		if err := os.Chown(path, int(cred.Uid), int(cred.Gid)); err != nil {
			return false, fmt.Errorf("postgres: pg_hba.conf: %w", err)
		}
	}
	return true, nil
}

// setSuperPassword sets the superuser's password with the server in single-user mode (no
// listener, no authentication): the way into a cluster whose superuser has no known password.
func setSuperPassword(ctx context.Context, bin, pgdata, password string, cred *syscall.Credential) error {
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "postgres"), "--single", "-D", pgdata,
		"-c", "password_encryption=scram-sha-256", "postgres")
	// The password is hex: nothing to quote.
	cmd.Stdin = strings.NewReader("ALTER ROLE postgres WITH PASSWORD '" + password + "';\n")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	out, err := cmd.CombinedOutput()
	if err != nil || strings.Contains(string(out), "ERROR") {
		return fmt.Errorf("postgres: set the superuser password (single-user mode): %v: %s", err, tail(string(out), 2000))
	}
	return nil
}

func (p *Postgres) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		conn, err := pgx.Connect(ctx, p.SuperURL())
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && (pgErr.Code == "28P01" || pgErr.Code == "28000") {
			return fmt.Errorf("postgres: the superuser password in %s is refused (changed by hand?); "+
				"remove that file to have it set again on the next start: %w", filepath.Join(p.dataDir, passwordsFile), err)
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

// ensureRoles creates the database, the owner role and the application role, and sets the
// owner's and the application's passwords (every start, so they always match passwords.json).
func (p *Postgres) ensureRoles(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, p.SuperURL())
	if err != nil {
		return fmt.Errorf("postgres: connect as superuser: %w", err)
	}
	defer conn.Close(ctx)
	// The passwords are hex: nothing to quote.
	stmts := []string{
		`DO $$ BEGIN
		   IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'coachwire_owner') THEN
		     CREATE ROLE coachwire_owner LOGIN NOSUPERUSER;
		   END IF;
		   IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'coachwire_app') THEN
		     CREATE ROLE coachwire_app LOGIN NOSUPERUSER NOBYPASSRLS;
		   END IF;
		 END $$`,
		`ALTER ROLE coachwire_owner LOGIN PASSWORD '` + p.pw.Owner + `'`,
		`ALTER ROLE coachwire_app LOGIN PASSWORD '` + p.pw.App + `'`,
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
	p.ownerURL = p.url("coachwire_owner", p.pw.Owner, "coachwire")
	p.appURL = p.url("coachwire_app", p.pw.App, "coachwire")
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
