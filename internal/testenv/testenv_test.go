package testenv_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// catalog is what decides what the application role may do in a database: table and function
// privileges, row-level security switches and policies, and the role connected as.
const catalog = `
SELECT string_agg(x, E'\n' ORDER BY x) FROM (
  SELECT format('table %s owner=%s acl=%s rls=%s force=%s', c.relname, pg_get_userbyid(c.relowner), c.relacl,
                c.relrowsecurity, c.relforcerowsecurity) AS x
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname = 'public' AND c.relkind IN ('r', 'S', 'v')
  UNION ALL
  SELECT format('policy %s.%s roles=%s cmd=%s using=%s check=%s', tablename, policyname, roles, cmd, qual, with_check)
    FROM pg_policies WHERE schemaname = 'public'
  UNION ALL
  SELECT format('function %s owner=%s acl=%s definer=%s', p.oid::regprocedure, pg_get_userbyid(p.proowner), p.proacl, p.prosecdef)
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'
) s`

func queryString(t *testing.T, url, sql string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var s string
	require.NoError(t, conn.QueryRow(ctx, sql).Scan(&s))
	return s
}

// TestOwnDatabaseKeepsPrivilegesAndRLS: a database copied from the template has the same
// grants, row-level security and policies as the migrated shared database, the application role
// connects to it as itself and sees only its tenant's rows, and each test's copy is its own.
func TestOwnDatabaseKeepsPrivilegesAndRLS(t *testing.T) {
	t.Parallel()
	shared := testenv.Postgres(t)
	own := testenv.OwnDatabase(t)
	require.NotEqual(t, shared.AppURL, own.AppURL)

	want := queryString(t, shared.OwnerURL, catalog)
	require.Contains(t, want, "coachwire_app=arwd/coachwire_owner", "the migrations grant the application role its tables")
	require.Contains(t, want, "policy creators.tenant_isolation")
	require.Equal(t, want, queryString(t, own.OwnerURL, catalog), "the copy has the migrated database's grants and policies")

	require.Equal(t, "coachwire_app false false", queryString(t, own.AppURL,
		"SELECT current_user || ' ' || rolsuper || ' ' || rolbypassrls FROM pg_roles WHERE rolname = current_user"))

	ctx := context.Background()
	s, err := db.Open(ctx, own.AppURL, 2)
	require.NoError(t, err)
	defer s.Close()
	id := uuid.New()
	require.NoError(t, s.InTenant(ctx, id, func(q *db.Queries) error {
		_, err := q.InsertCreator(ctx, db.InsertCreatorParams{ID: id, Name: "c", Email: id.String() + "@example.com",
			WidgetKey: "wk_" + id.String(), WidgetSecret: "s", AllowedOrigins: []string{}})
		return err
	}))
	count := func(url, tenant string) string {
		conn, err := pgx.Connect(ctx, url)
		require.NoError(t, err)
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, "SELECT set_config('app.creator_id', $1, false)", tenant)
		require.NoError(t, err)
		var s string
		require.NoError(t, conn.QueryRow(ctx, "SELECT current_setting('app.creator_id') || ' ' || count(*) FROM creators").Scan(&s))
		return s
	}
	require.Equal(t, " 0", count(own.AppURL, ""), "no tenant: row-level security hides every creator")
	require.Equal(t, id.String()+" 1", count(own.AppURL, id.String()))
	require.Equal(t, id.String()+" 0", count(shared.AppURL, id.String()), "the shared database does not see the copy's rows")
	other := testenv.OwnDatabase(t)
	require.Equal(t, id.String()+" 0", count(other.AppURL, id.String()), "another copy does not see this one's rows")

	// The application role may not create tables in the copy either (it owns nothing).
	conn, err := pgx.Connect(ctx, own.AppURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "CREATE TABLE intruder (x int)")
	require.Error(t, err, "the application role creates no tables")
}

// TestOwnDatabaseDropped: a test's database is gone once the test has ended.
func TestOwnDatabaseDropped(t *testing.T) {
	t.Parallel()
	var name string
	t.Run("user", func(t *testing.T) {
		d := testenv.OwnDatabase(t)
		name = queryString(t, d.AppURL, "SELECT current_database()")
	})
	require.NotEmpty(t, name)
	require.Equal(t, "false", queryString(t, testenv.Postgres(t).OwnerURL,
		"SELECT (count(*) > 0)::text FROM pg_database WHERE datname = '"+name+"'"))
}

// TestOwnNATS: each test's NATS server is its own, with JetStream, and stops with the test.
func TestOwnNATS(t *testing.T) {
	t.Parallel()
	var first string
	t.Run("user", func(t *testing.T) {
		first = testenv.OwnNATS(t)
		second := testenv.OwnNATS(t)
		require.NotEqual(t, first, second)
		nc, err := nats.Connect(first)
		require.NoError(t, err)
		defer nc.Close()
		js, err := nc.JetStream()
		require.NoError(t, err)
		_, err = js.AccountInfo()
		require.NoError(t, err, "JetStream is enabled")
	})
	_, err := nats.Connect(first, nats.NoReconnect())
	require.Error(t, err, "the server stopped with its test")
}

// TestClusterWithoutJIT: the tests' cluster runs without PostgreSQL's JIT, in the shared and in
// an own database, for the application role too (noJIT).
func TestClusterWithoutJIT(t *testing.T) {
	t.Parallel()
	require.Equal(t, "off", queryString(t, testenv.Postgres(t).AppURL, "SHOW jit"))
	require.Equal(t, "off", queryString(t, testenv.OwnDatabase(t).AppURL, "SHOW jit"))
}
