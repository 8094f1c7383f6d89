package localdeps

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeBin writes executable scripts named after PostgreSQL's binaries into a directory next to
// the data dir (reachable by the postgres user once StartPostgres opened the data dir's parents).
func fakeBin(t *testing.T, dataDir string, scripts map[string]string) string {
	t.Helper()
	bin := filepath.Join(filepath.Dir(dataDir), "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range scripts {
		if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return bin
}

func startErr(t *testing.T, opt PostgresOptions) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := StartPostgres(ctx, opt)
	if err == nil {
		_ = p.Stop()
		t.Fatal("StartPostgres succeeded")
	}
	return err
}

// TestStartPostgresReportsFailures: what goes wrong before the server answers is reported with
// its cause: a bin dir without initdb, initdb's own output when it fails, and the server log's
// last lines when postgres exits during start.
func TestStartPostgresReportsFailures(t *testing.T) {
	t.Run("no initdb", func(t *testing.T) {
		empty := t.TempDir()
		err := startErr(t, PostgresOptions{DataDir: pgDataDir(t), BinDir: empty})
		if !strings.Contains(err.Error(), "COACHWIRE_PG_BIN_DIR="+empty+" has no initdb") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("initdb fails", func(t *testing.T) {
		dir := pgDataDir(t)
		bin := fakeBin(t, dir, map[string]string{"initdb": `echo "initdb: error: could not create directory: No space left on device" >&2; exit 1`})
		err := startErr(t, PostgresOptions{DataDir: dir, BinDir: bin})
		if !strings.Contains(err.Error(), "postgres: initdb") || !strings.Contains(err.Error(), "No space left on device") {
			t.Fatalf("err %v", err)
		}
		if _, err := os.Stat(filepath.Join(dir, ".initdb-password")); !os.IsNotExist(err) {
			t.Fatalf("the superuser's password file was left behind: %v", err)
		}
	})
	t.Run("postgres exits during start", func(t *testing.T) {
		dir := pgDataDir(t)
		bin := fakeBin(t, dir, map[string]string{
			"initdb":   `mkdir -p "$2" && echo 15 > "$2/PG_VERSION"`,
			"postgres": `echo "FATAL:  could not map anonymous shared memory: Cannot allocate memory"; exit 1`,
		})
		err := startErr(t, PostgresOptions{DataDir: dir, BinDir: bin})
		if !strings.Contains(err.Error(), "postgres exited during start") || !strings.Contains(err.Error(), "could not map anonymous shared memory") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("unreadable passwords file", func(t *testing.T) {
		dir := pgDataDir(t)
		if err := os.WriteFile(filepath.Join(dir, passwordsFile), []byte("{not json"), 0o600); err != nil {
			t.Fatal(err)
		}
		err := startErr(t, PostgresOptions{DataDir: dir})
		if !strings.Contains(err.Error(), filepath.Join(dir, passwordsFile)) {
			t.Fatalf("err %v", err)
		}
	})
}

// TestPostgresSuperPasswordChangedByHand: a superuser password in passwords.json that the
// cluster refuses is reported with the file to remove, and removing it recovers the cluster
// with its data; CreateDatabase gives a database of the owner reachable by the app role.
func TestPostgresSuperPasswordChangedByHand(t *testing.T) {
	dir := pgDataDir(t)
	p := startPG(t, dir)
	ownerURL, appURL, err := p.CreateDatabase(context.Background(), "pkg_one")
	if err != nil {
		t.Fatal(err)
	}
	if got := queryOne(t, appURL, "SELECT current_database() || ' ' || current_user"); got != "pkg_one coachwire_app" {
		t.Fatalf("app URL reaches %q", got)
	}
	if got := queryOne(t, ownerURL, "SELECT pg_catalog.pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'pkg_one'"); got != "coachwire_owner" {
		t.Fatalf("owner %q", got)
	}
	if _, _, err := p.CreateDatabase(context.Background(), "pkg_one"); err == nil || !strings.Contains(err.Error(), "create database pkg_one") {
		t.Fatalf("second CreateDatabase: %v", err)
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}

	path := filepath.Join(dir, passwordsFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var pw passwords
	if err := json.Unmarshal(b, &pw); err != nil {
		t.Fatal(err)
	}
	pw.Super = "0123456789abcdef"
	b, _ = json.Marshal(pw)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	err = startErr(t, PostgresOptions{DataDir: dir})
	if !strings.Contains(err.Error(), "superuser password in "+path+" is refused") {
		t.Fatalf("err %v", err)
	}

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	p = startPG(t, dir)
	if got := queryOne(t, p.SuperURL(), "SELECT count(*)::text FROM pg_database WHERE datname = 'pkg_one'"); got != "1" {
		t.Fatalf("the database is gone after recovery: %s", got)
	}
}
