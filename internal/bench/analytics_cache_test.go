package bench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/localdeps"
)

// The analytics bench's database (issue 12's scale: 21 creators of a million messages) takes
// long to generate, so it is kept between runs: a PostgreSQL data directory under
// ~/.cache/coachwire/bench-analytics/<key> (COACHWIRE_BENCH_ANALYTICS_CACHE: another root, or
// "off" for a throwaway cluster). The key hashes migrations/*.sql, generateHistory's source, this
// file and the scale, so a schema or generator change generates again; entries of other sources
// (stale) and unfinished ones are removed when a new one is made, unless a running bench holds
// them (a lock file beside each entry).

// analyticsMeta is what a finished cache entry remembers of its generation (meta.json).
type analyticsMeta struct {
	Creator   uuid.UUID `json:"creator"`
	Email     string    `json:"email"`
	Messages  int64     `json:"messages"`
	Rollup    int64     `json:"rollup"`
	Created   time.Time `json:"created"`
	Generate  string    `json:"generate"`  // the measured creator, generateHistory
	Neighbour string    `json:"neighbour"` // all neighbours (cloned or generated)
	Vacuum    string    `json:"vacuum"`    // VACUUM ANALYZE and CHECKPOINT
	Total     string    `json:"total"`
	Bytes     int64     `json:"bytes"`
	Others    int       `json:"others"` // neighbours made (fewer than asked when the disk ran short)
	Load      string    `json:"load"`   // load average when generation ended
}

// analyticsCache is the bench's cluster: from the cache (Hit) or new.
type analyticsCache struct {
	PG      *localdeps.Postgres
	Dir     string // the entry; "" when the cache is off
	DataDir string // the cluster's directory
	Hit     bool
	Started time.Duration // starting the cluster (and the migration check)
	Meta    analyticsMeta
}

func analyticsCacheRoot() string {
	if v := os.Getenv("COACHWIRE_BENCH_ANALYTICS_CACHE"); v != "" {
		return v
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "off"
	}
	return filepath.Join(home, ".cache", "coachwire", "bench-analytics")
}

// analyticsCacheKey returns the hash of what the data depends on (source) and the entry's
// name: source-scale.
func analyticsCacheKey(sc analyticsScale) (source, key string, err error) {
	h := sha256.New()
	migs, err := filepath.Glob("../../migrations/*.sql")
	if err != nil || len(migs) == 0 {
		return "", "", fmt.Errorf("migrations: %v (%d files)", err, len(migs))
	}
	sort.Strings(migs)
	for _, m := range migs {
		b, err := os.ReadFile(m)
		if err != nil {
			return "", "", err
		}
		fmt.Fprintf(h, "%s %d\n", filepath.Base(m), len(b))
		h.Write(b)
	}
	gen, err := funcSource("analytics_test.go", "generateHistory")
	if err != nil {
		return "", "", err
	}
	h.Write([]byte(gen))
	self, err := os.ReadFile("analytics_cache_test.go")
	if err != nil {
		return "", "", err
	}
	h.Write(self)
	source = hex.EncodeToString(h.Sum(nil))[:12]
	s := sha256.Sum256(fmt.Appendf(nil, "%d %d %d %d %d %g", sc.Messages, sc.Users, sc.Campaigns, sc.Programs, sc.Others, sc.Fraction))
	return source, source + "-" + hex.EncodeToString(s[:])[:8], nil
}

// funcSource returns the source text of function name in file.
func funcSource(file, name string) (string, error) {
	src, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, file, src, 0)
	if err != nil {
		return "", err
	}
	for _, d := range f.Decls {
		if fd, ok := d.(*ast.FuncDecl); ok && fd.Name.Name == name {
			return string(src[fset.Position(fd.Pos()).Offset:fset.Position(fd.End()).Offset]), nil
		}
	}
	return "", fmt.Errorf("%s: no func %s", file, name)
}

// lockEntry takes the entry's lock (blocking when wait, else failing at once when held).
func lockEntry(path string, wait bool) (*os.File, error) {
	f, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	how := syscall.LOCK_EX
	if !wait {
		how |= syscall.LOCK_NB
	}
	if err := syscall.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// removeStale removes the root's entries other than keep that are of another source or
// unfinished and not in use.
func removeStale(b *testing.B, root, source, keep string) {
	ents, err := os.ReadDir(root)
	if err != nil {
		return
	}
	for _, e := range ents {
		if !e.IsDir() || e.Name() == keep {
			continue
		}
		p := filepath.Join(root, e.Name())
		if strings.HasPrefix(e.Name(), source+"-") {
			if _, err := os.Stat(filepath.Join(p, "meta.json")); err == nil {
				continue // another scale of this source, finished
			}
		}
		l, err := lockEntry(p, false)
		if err != nil {
			b.Logf("analytics cache: %s is in use, kept", e.Name())
			continue
		}
		size := dirBytes(p)
		if err := os.RemoveAll(p); err != nil {
			b.Logf("analytics cache: remove %s: %v", p, err)
		} else {
			b.Logf("analytics cache: removed stale %s (%.1f GB)", e.Name(), float64(size)/1e9)
		}
		_ = os.Remove(p + ".lock")
		l.Close()
	}
}

func dirBytes(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// openAnalyticsCache starts the bench's cluster: on the cached entry of this scale when there
// is a finished one (Hit), else on a new entry (or a temporary directory when the cache is off),
// migrated and with the bulk load's setting granted. The cluster stops when the benchmark ends.
func openAnalyticsCache(b *testing.B, sc analyticsScale) *analyticsCache {
	ctx := context.Background()
	c := &analyticsCache{}
	root := analyticsCacheRoot()
	dataDir := filepath.Join(b.TempDir(), "pg")
	if root != "off" {
		source, key, err := analyticsCacheKey(sc)
		if err != nil {
			b.Fatalf("analytics cache key: %v", err)
		}
		if err := os.MkdirAll(root, 0o755); err != nil {
			b.Fatal(err)
		}
		c.Dir = filepath.Join(root, key)
		lock, err := lockEntry(c.Dir, true)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { lock.Close() })
		if raw, err := os.ReadFile(filepath.Join(c.Dir, "meta.json")); err == nil && json.Unmarshal(raw, &c.Meta) == nil {
			c.Hit = true
		} else {
			removeStale(b, root, source, key)
			_ = os.RemoveAll(c.Dir)
		}
		dataDir = filepath.Join(c.Dir, "pg")
	}
	start := time.Now()
	pg, err := localdeps.StartPostgres(ctx, localdeps.PostgresOptions{DataDir: dataDir, NoFsync: true})
	if err != nil {
		b.Fatalf("analytics cluster: %v", err)
	}
	b.Cleanup(func() { _ = pg.Stop() })
	if err := db.Migrate(ctx, pg.OwnerURL(), slog.New(slog.DiscardHandler)); err != nil {
		b.Fatalf("analytics cluster: migrate: %v", err)
	}
	c.PG, c.Started, c.DataDir = pg, time.Since(start), dataDir
	if !c.Hit {
		// The bulk load turns triggers off (session_replication_role): a superuser setting,
		// granted to the schema owner for this database.
		if err := execAs(ctx, superInDB(pg), "GRANT SET ON PARAMETER session_replication_role TO coachwire_owner"); err != nil {
			b.Fatal(err)
		}
		// A bulk load's settings (the cluster is the bench's own; finish resets them): fewer
		// checkpoints and no full-page images in the WAL.
		for _, s := range []string{"ALTER SYSTEM SET full_page_writes = off", "ALTER SYSTEM SET max_wal_size = '2GB'",
			"ALTER SYSTEM SET checkpoint_timeout = '30min'", "ALTER SYSTEM SET maintenance_work_mem = '256MB'", "SELECT pg_reload_conf()"} {
			if err := execAs(ctx, pg.SuperURL(), s); err != nil {
				b.Fatal(err)
			}
		}
	}
	return c
}

// finish makes a new entry a finished one: statistics and visibility map, a checkpoint (a quick
// start next time), its size and meta.json.
func (c *analyticsCache) finish(b *testing.B, m analyticsMeta, generating time.Duration) {
	ctx := context.Background()
	t0 := time.Now()
	if err := execAs(ctx, superInDB(c.PG), "VACUUM ANALYZE"); err != nil {
		b.Fatal(err)
	}
	// The defaults again, after checkpoints under a small WAL limit drop the bulk load's WAL
	// segments from the cached directory.
	for _, s := range []string{"ALTER SYSTEM RESET ALL", "ALTER SYSTEM SET max_wal_size = '64MB'", "ALTER SYSTEM SET min_wal_size = '32MB'",
		"SELECT pg_reload_conf()", "CHECKPOINT", "SELECT pg_switch_wal()", "CHECKPOINT", "ALTER SYSTEM RESET ALL", "SELECT pg_reload_conf()"} {
		if err := execAs(ctx, c.PG.SuperURL(), s); err != nil {
			b.Fatal(err)
		}
	}
	m.Vacuum = time.Since(t0).Round(time.Second).String()
	m.Total = (generating + time.Since(t0)).Round(time.Second).String()
	m.Created = time.Now().UTC()
	load, _ := os.ReadFile("/proc/loadavg")
	m.Load = strings.Join(strings.Fields(string(load))[:3], " ")
	if c.Dir != "" {
		m.Bytes = dirBytes(filepath.Join(c.Dir, "pg"))
		raw, _ := json.MarshalIndent(m, "", "  ")
		if err := os.WriteFile(filepath.Join(c.Dir, "meta.json"), raw, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	c.Meta = m
}

// superInDB is the superuser's URL on the coachwire database (SuperURL names "postgres").
func superInDB(pg *localdeps.Postgres) string {
	u, err := url.Parse(pg.SuperURL())
	if err != nil {
		panic(err)
	}
	u.Path = "/coachwire"
	return u.String()
}

func execAs(ctx context.Context, connURL string, sql string, args ...any) error {
	conn, err := pgx.Connect(ctx, connURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql, args...)
	return err
}

// cloneTable is a tenant table a clone copies: its columns but identity, serial and generated
// ones (which take new values), and which of them are uuids (remapped).
type cloneTable struct {
	name  string
	cols  []string
	uuids map[string]bool
}

// cloneTables lists the tables a neighbour's clone copies from src: every table with a
// creator_id column where src has rows and the freshly registered blank creator has none (the
// rows registering makes are the neighbour's own already). New rollup tables come along
// without a change here.
func cloneTables(ctx context.Context, conn *pgx.Conn, src, blank uuid.UUID) ([]cloneTable, error) {
	rows, err := conn.Query(ctx, `
		SELECT c.relname, array_agg(a.attname::text ORDER BY a.attnum), array_agg(a.atttypid = 'uuid'::regtype ORDER BY a.attnum)
		FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
		JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
		LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
		WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.relname <> 'creators'
		  AND a.attgenerated = '' AND a.attidentity = ''
		  AND coalesce(pg_get_expr(d.adbin, d.adrelid), '') NOT LIKE 'nextval(%'
		  AND EXISTS (SELECT 1 FROM pg_attribute x WHERE x.attrelid = c.oid AND x.attname = 'creator_id' AND NOT x.attisdropped)
		GROUP BY c.relname ORDER BY c.relname`)
	if err != nil {
		return nil, err
	}
	var all []cloneTable
	for rows.Next() {
		var t cloneTable
		var isUUID []bool
		if err := rows.Scan(&t.name, &t.cols, &isUUID); err != nil {
			return nil, err
		}
		t.uuids = map[string]bool{}
		for i, col := range t.cols {
			t.uuids[col] = isUUID[i]
		}
		all = append(all, t)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var out []cloneTable
	for _, t := range all {
		var has, blankHas bool
		q := "SELECT EXISTS (SELECT 1 FROM " + pgx.Identifier{t.name}.Sanitize() + " WHERE creator_id = $1)"
		if err := conn.QueryRow(ctx, q, src).Scan(&has); err != nil {
			return nil, fmt.Errorf("%s: %w", t.name, err)
		}
		if err := conn.QueryRow(ctx, q, blank).Scan(&blankHas); err != nil {
			return nil, fmt.Errorf("%s: %w", t.name, err)
		}
		if has && !blankHas {
			out = append(out, t)
		}
	}
	return out, nil
}

// cloneCreator copies src's rows of tables to dst (a registered creator) in one transaction,
// set-based with the indexes in place and no trigger firing: creator_id becomes dst and every
// other uuid the md5 of it and dst, the same mapping in every table, so references between the
// copies hold. Ids inside JSON (a message's cited document) keep src's value; the analytics
// read them from the rollups' columns. The creator's zone comes along.
func cloneCreator(ctx context.Context, conn *pgx.Conn, tables []cloneTable, src, dst uuid.UUID) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, "SET LOCAL session_replication_role = replica"); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "UPDATE creators SET timezone = (SELECT timezone FROM creators WHERE id = $1) WHERE id = $2", src, dst); err != nil {
		return err
	}
	for _, t := range tables {
		cols := make([]string, len(t.cols))
		exprs := make([]string, len(t.cols))
		for i, col := range t.cols {
			id := pgx.Identifier{col}.Sanitize()
			cols[i] = id
			switch {
			case col == "creator_id":
				exprs[i] = "$2::uuid"
			case t.uuids[col]:
				exprs[i] = "md5(" + id + "::text || $3::text)::uuid"
			default:
				exprs[i] = id
			}
		}
		q := fmt.Sprintf("INSERT INTO %s (%s) SELECT %s FROM %s WHERE creator_id = $1::uuid", pgx.Identifier{t.name}.Sanitize(),
			strings.Join(cols, ", "), strings.Join(exprs, ", "), pgx.Identifier{t.name}.Sanitize())
		args := []any{src, dst}
		if strings.Contains(q, "$3") {
			args = append(args, dst.String())
		}
		if _, err := tx.Exec(ctx, q, args...); err != nil {
			return fmt.Errorf("clone %s: %w", t.name, err)
		}
	}
	return tx.Commit(ctx)
}

// diskReserve is the free space a clone leaves on the cache's disk (the machine is shared): a
// neighbour is not started when less than this and one creator's size would remain.
const diskReserve = 6 << 30

func freeBytes(dir string) int64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 1 << 62
	}
	return int64(st.Bavail) * st.Bsize
}

// cloneNeighbours fills creators of dsts with a copy of src's history, over workers connections
// at once, and returns how many it filled: all, unless the disk of dataDir would fall under
// diskReserve (the neighbours left are empty then; the count says so).
func cloneNeighbours(ctx context.Context, connURL, dataDir string, src uuid.UUID, dsts []uuid.UUID, workers int, logf func(string, ...any)) (int, error) {
	if len(dsts) == 0 {
		return 0, nil
	}
	first, err := pgx.Connect(ctx, connURL)
	if err != nil {
		return 0, err
	}
	tables, err := cloneTables(ctx, first, src, dsts[0])
	var perCreator int64
	if err == nil {
		err = first.QueryRow(ctx, "SELECT pg_database_size(current_database()) / greatest(1, (SELECT count(DISTINCT creator_id) FROM conversations))").Scan(&perCreator)
	}
	first.Close(ctx)
	if err != nil {
		return 0, err
	}
	names := make([]string, len(tables))
	for i, t := range tables {
		names[i] = t.name
	}
	logf("cloning %d neighbours over %d connections; tables: %s", len(dsts), workers, strings.Join(names, " "))
	work := make(chan uuid.UUID)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for range min(workers, len(dsts)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := pgx.Connect(ctx, connURL)
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				for range work {
				}
				return
			}
			defer conn.Close(ctx)
			for dst := range work {
				t0 := time.Now()
				err := cloneCreator(ctx, conn, tables, src, dst)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				}
				mu.Unlock()
				logf("cloned %s in %s (%v)", dst, time.Since(t0).Round(time.Second), err)
			}
		}()
	}
	// COACHWIRE_BENCH_ANALYTICS_CLONE_BUDGET=<duration>: start no clone after that long (a
	// loaded machine; the count says how many were made).
	var budget time.Duration
	if v := os.Getenv("COACHWIRE_BENCH_ANALYTICS_CLONE_BUDGET"); v != "" {
		if budget, err = time.ParseDuration(v); err != nil {
			return 0, fmt.Errorf("COACHWIRE_BENCH_ANALYTICS_CLONE_BUDGET=%q", v)
		}
	}
	start := time.Now()
	done := 0
	for _, d := range dsts {
		if budget > 0 && time.Since(start) > budget {
			logf("not cloning the %d neighbours left: the budget of %s is spent", len(dsts)-done, budget)
			break
		}
		if free := freeBytes(dataDir); free < diskReserve+int64(workers)*perCreator {
			logf("not cloning the %d neighbours left: %.1f GB free, a creator takes about %.1f GB", len(dsts)-done,
				float64(free)/1e9, float64(perCreator)/1e9)
			break
		}
		work <- d
		done++
	}
	close(work)
	wg.Wait()
	return done, errors.Join(errs...)
}
