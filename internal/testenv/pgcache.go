package testenv

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/jackc/pgx/v5"

	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/localdeps"
	"github.com/coachwire/coachwire/migrations"
)

// Every test binary that uses PostgreSQL needs a cluster with the migrated database and the
// migrated template database. Making one (initdb, the migrations twice) cost each of some twenty
// test binaries about two seconds of CPU; the first binary now makes it once, stopped cleanly, in
// the user cache (keyed by the PostgreSQL binaries and the migrations' contents), and every
// binary starts a copy of it. The copy has the cached cluster's generated passwords; its port is
// picked afresh. COACHWIRE_TEST_PG_CACHE=off makes every binary run initdb as before.

// pgCacheEnv turns the cache off ("off") or names its directory.
const pgCacheEnv = "COACHWIRE_TEST_PG_CACHE"

// startCluster starts the package's cluster in dataDir, from the cached cluster when it can.
func startCluster(ctx context.Context, dataDir string) (*localdeps.Postgres, error) {
	opt := localdeps.PostgresOptions{DataDir: dataDir, NoFsync: true}
	cache, err := pgCacheDir()
	if err != nil || cache == "" {
		return localdeps.StartPostgres(ctx, opt)
	}
	if _, err := os.Stat(filepath.Join(cache, "ready")); err != nil {
		if err := buildPGCache(ctx, cache); err != nil {
			// Not fatal: a cluster of the binary's own, as without the cache.
			return localdeps.StartPostgres(ctx, opt)
		}
	}
	if err := os.RemoveAll(dataDir); err != nil {
		return nil, err
	}
	// cp -a keeps the modes PostgreSQL insists on (0700 data directory, 0600 files).
	if out, err := exec.CommandContext(ctx, "cp", "-a", cache, dataDir).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("testenv: copy the cached cluster: %v: %s", err, out)
	}
	_ = os.Remove(filepath.Join(dataDir, "ready"))
	pg, err := localdeps.StartPostgres(ctx, opt)
	if err != nil {
		// A damaged cache must not fail the tests: a cluster of the binary's own.
		if rerr := os.RemoveAll(dataDir); rerr != nil {
			return nil, err
		}
		return localdeps.StartPostgres(ctx, opt)
	}
	return pg, nil
}

// pgCacheDir is the cached cluster's directory, "" when the cache is off.
func pgCacheDir() (string, error) {
	root := os.Getenv(pgCacheEnv)
	switch root {
	case "off":
		return "", nil
	case "":
		base := os.Getenv("XDG_CACHE_HOME")
		if base == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return "", err
			}
			base = filepath.Join(home, ".cache")
		}
		root = filepath.Join(base, "coachwire", "testpg")
	}
	bin, err := localdeps.FindPostgresBin("")
	if err != nil {
		return "", err
	}
	h := sha256.New()
	fmt.Fprintf(h, "testpg v1\n%s\n", bin)
	if v, err := os.ReadFile(filepath.Join(filepath.Dir(bin), "..", "PG_VERSION")); err == nil {
		h.Write(v)
	}
	err = fs.WalkDir(migrations.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(migrations.FS, p)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s %d\n", p, len(b))
		h.Write(b)
		return nil
	})
	if err != nil {
		return "", err
	}
	return filepath.Join(root, hex.EncodeToString(h.Sum(nil))[:20]), nil
}

// buildPGCache makes the cached cluster: a fresh one with the database and the template
// database migrated, stopped cleanly, then renamed into place (a binary that loses the race to
// another one building it at the same time discards its own).
func buildPGCache(ctx context.Context, cache string) error {
	if err := os.MkdirAll(filepath.Dir(cache), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(cache), ".build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	_ = os.Chmod(tmp, 0o755)
	pg, err := localdeps.StartPostgres(ctx, localdeps.PostgresOptions{DataDir: tmp, NoFsync: true})
	if err != nil {
		return err
	}
	err = db.Migrate(ctx, pg.OwnerURL(), slog.New(slog.DiscardHandler))
	if err == nil {
		err = makeTemplate(pg)
	}
	if serr := pg.Stop(); err == nil {
		err = serr
	}
	if err != nil {
		return err
	}
	// What belongs to one running server, not to the cluster.
	for _, f := range []string{"port", "postgres.log", filepath.Join("data", "postmaster.pid"), filepath.Join("data", "postmaster.opts")} {
		_ = os.Remove(filepath.Join(tmp, f))
	}
	entries, _ := os.ReadDir(filepath.Join(tmp, "socket"))
	for _, e := range entries {
		_ = os.Remove(filepath.Join(tmp, "socket", e.Name()))
	}
	if _, err := os.Stat(filepath.Join(tmp, "data", "PG_VERSION")); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, "ready"), nil, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, cache); err != nil {
		if _, serr := os.Stat(filepath.Join(cache, "ready")); serr == nil {
			return nil // another binary made it first
		}
		return err
	}
	return nil
}

// templateExists reports whether the cluster already has the template database (a copy of the
// cached cluster has).
func templateExists(ctx context.Context, pg *localdeps.Postgres) (bool, error) {
	conn, err := pgx.Connect(ctx, pg.SuperURL())
	if err != nil {
		return false, err
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = $1", templateDB).Scan(&n); err != nil {
		return false, err
	}
	return n > 0, nil
}
