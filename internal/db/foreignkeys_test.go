package db_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/testenv"
	"github.com/coachwire/coachwire/migrations"
)

// TestEveryTenantForeignKeyIncludesCreator enumerates every foreign key of the schema from
// pg_catalog. A foreign key is checked without row-level security, so one that names a parent
// row by its id alone lets a creator point a row of their tenant at another creator's row.
// Every foreign key from a table with a creator_id to another such table must therefore pair
// creator_id with the parent's creator_id, and one to creators must be creator_id → creators.id:
// so a table added by a later migration cannot forget it.
func TestEveryTenantForeignKeyIncludesCreator(t *testing.T) {
	t.Parallel()
	d := testenv.Postgres(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, d.OwnerURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `
		SELECT c.conname::text, ch.relname::text, pa.relname::text,
		       ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, i)
		             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i),
		       ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(n, i)
		             JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.i),
		       EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.conrelid AND a.attname = 'creator_id' AND NOT a.attisdropped),
		       EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.confrelid AND a.attname = 'creator_id' AND NOT a.attisdropped)
		FROM pg_constraint c
		JOIN pg_class ch ON ch.oid = c.conrelid
		JOIN pg_class pa ON pa.oid = c.confrelid
		JOIN pg_namespace n ON n.oid = ch.relnamespace
		WHERE c.contype = 'f' AND n.nspname = 'public'
		ORDER BY ch.relname, c.conname`)
	require.NoError(t, err)
	defer rows.Close()
	checked := 0
	var bad []string
	for rows.Next() {
		var name, child, parent string
		var childCols, parentCols []string
		var childTenant, parentTenant bool
		require.NoError(t, rows.Scan(&name, &child, &parent, &childCols, &parentCols, &childTenant, &parentTenant))
		if !childTenant || (!parentTenant && parent != "creators") {
			continue // goose's own table, or a reference to something no creator owns
		}
		checked++
		want := "creator_id"
		if parent == "creators" {
			want = "id"
		}
		i := slices.Index(childCols, "creator_id")
		if i < 0 || parentCols[i] != want {
			bad = append(bad, fmt.Sprintf("%s: %s (%v) → %s (%v)", name, child, childCols, parent, parentCols))
		}
	}
	require.NoError(t, rows.Err())
	t.Logf("%d foreign keys between tenant tables checked", checked)
	require.Greater(t, checked, 20)
	require.Empty(t, bad, "foreign keys that do not include creator_id: a creator could reference another creator's row")
}

// tenantFixture is one creator with a row in every table a foreign key can point to.
type tenantFixture struct {
	seeded
	channel, endUser2, message2, campaign, program, enrollment uuid.UUID
}

func seedFixture(t *testing.T, s *db.Store) tenantFixture {
	t.Helper()
	x := tenantFixture{seeded: seed(t, s), channel: uuid.New(), endUser2: uuid.New(), message2: uuid.New(),
		campaign: uuid.New(), program: uuid.New(), enrollment: uuid.New()}
	require.NoError(t, tenantExec(s.Pool(), x.creator, func(tx pgx.Tx) error {
		for _, st := range []struct {
			sql  string
			args []any
		}{
			{`INSERT INTO channels (id, creator_id, type, secrets) VALUES ($1, $2, 'telegram', 'x')`, []any{x.channel, x.creator}},
			{`UPDATE end_users SET channel_id = $1 WHERE id = $2`, []any{x.channel, x.endUser}},
			{`UPDATE conversations SET channel_id = $1 WHERE id = $2`, []any{x.channel, x.conversation}},
			{`INSERT INTO end_users (id, creator_id, channel, external_id) VALUES ($1, $2, 'widget', 'second')`, []any{x.endUser2, x.creator}},
			{`INSERT INTO messages (id, creator_id, conversation_id, role, body, channel) VALUES ($1, $2, $3, 'assistant', 'b', 'widget')`,
				[]any{x.message2, x.creator, x.conversation}},
			{`INSERT INTO campaigns (id, creator_id, name, content, schedule) VALUES ($1, $2, 'c', '{}', '{}')`, []any{x.campaign, x.creator}},
			{`INSERT INTO programs (id, creator_id, name, steps) VALUES ($1, $2, 'p', '[]')`, []any{x.program, x.creator}},
			{`INSERT INTO program_enrollments (id, creator_id, program_id, end_user_id, enrolled_at) VALUES ($1, $2, $3, $4, now())`,
				[]any{x.enrollment, x.creator, x.program, x.endUser}},
		} {
			if _, err := tx.Exec(context.Background(), st.sql, st.args...); err != nil {
				return fmt.Errorf("%s: %w", st.sql, err)
			}
		}
		return nil
	}))
	return x
}

// tenantExec runs fn as the application role in creator's tenant and commits.
func tenantExec(pool *pgxpool.Pool, creator uuid.UUID, fn func(pgx.Tx) error) error {
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	if _, err := tx.Exec(ctx, "SELECT set_config('app.creator_id', $1, true)", creator.String()); err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// TestForeignKeysRefuseAnotherTenantsRows: as the application role in creator B's tenant,
// every row that references a parent is inserted (or updated) once pointing at B's own parent,
// which must work, and once at creator A's, which must fail with a foreign key violation — row
// security lets B write the row (its creator_id is B), only the composite key refuses it.
func TestForeignKeysRefuseAnotherTenantsRows(t *testing.T) {
	t.Parallel()
	s := testenv.Store(t)
	a := seedFixture(t, s)
	b := seedFixture(t, s)
	ctx := context.Background()
	exec := func(sql string, args ...any) func(pgx.Tx) error {
		return func(tx pgx.Tx) error { _, err := tx.Exec(ctx, sql, args...); return err }
	}
	type refCase struct {
		name string
		// stmt is the statement in B's tenant referencing the fixture f (B's own or A's).
		stmt func(f tenantFixture) func(pgx.Tx) error
	}
	at := time.Now()
	cases := []refCase{
		{"conversations.end_user_id", func(f tenantFixture) func(pgx.Tx) error {
			return exec(`INSERT INTO conversations (id, creator_id, end_user_id, channel) VALUES ($1, $2, $3, 'telegram')`, uuid.New(), b.creator, f.endUser)
		}},
		{"conversations.channel_id", func(f tenantFixture) func(pgx.Tx) error {
			return exec(`INSERT INTO conversations (id, creator_id, end_user_id, channel, channel_id) VALUES ($1, $2, $3, 'telegram', $4)`,
				uuid.New(), b.creator, b.endUser2, f.channel)
		}},
		{"update conversations.channel_id", func(f tenantFixture) func(pgx.Tx) error {
			return exec(`UPDATE conversations SET channel_id = $1 WHERE id = $2`, f.channel, b.conversation)
		}},
		{"update conversations.end_user_id", func(f tenantFixture) func(pgx.Tx) error {
			return exec(`UPDATE conversations SET end_user_id = $1 WHERE id = $2`, f.endUser2, b.conversation)
		}},
		{"end_users.channel_id", func(f tenantFixture) func(pgx.Tx) error {
			return exec(`INSERT INTO end_users (id, creator_id, channel, external_id, channel_id) VALUES ($1, $2, 'telegram', $3, $4)`,
				uuid.New(), b.creator, uuid.NewString(), f.channel)
		}},
		{"update end_users.channel_id", func(f tenantFixture) func(pgx.Tx) error {
			return exec(`UPDATE end_users SET channel_id = $1 WHERE id = $2`, f.channel, b.endUser2)
		}},
		{"messages.conversation_id", func(f tenantFixture) func(pgx.Tx) error {
			return exec(`INSERT INTO messages (id, creator_id, conversation_id, role, body, channel) VALUES ($1, $2, $3, 'user', 'x', 'widget')`,
				uuid.New(), b.creator, f.conversation)
		}},
		{"update messages.conversation_id", func(f tenantFixture) func(pgx.Tx) error {
			return exec(`UPDATE messages SET conversation_id = $1 WHERE id = $2`, f.conversation, b.message2)
		}},
		{"deliveries.message_id", func(f tenantFixture) func(pgx.Tx) error {
			return exec(`INSERT INTO deliveries (message_id, creator_id, channel, status) VALUES ($1, $2, 'widget', 'sending')`, f.message2, b.creator)
		}},
		{"delivery_parts.message_id", func(f tenantFixture) func(pgx.Tx) error {
			return exec(`INSERT INTO delivery_parts (message_id, part, creator_id, status) VALUES ($1, 0, $2, 'sending')`, f.message2, b.creator)
		}},
		{"campaign_occurrences.campaign_id", func(f tenantFixture) func(pgx.Tx) error {
			return exec(`INSERT INTO campaign_occurrences (id, creator_id, campaign_id, scheduled_at) VALUES ($1, $2, $3, $4)`,
				uuid.New(), b.creator, f.campaign, at)
		}},
		{"program_enrollments.program_id", func(f tenantFixture) func(pgx.Tx) error {
			return exec(`INSERT INTO program_enrollments (id, creator_id, program_id, end_user_id, enrolled_at) VALUES ($1, $2, $3, $4, now())`,
				uuid.New(), b.creator, f.program, b.endUser2)
		}},
		{"program_enrollments.end_user_id", func(f tenantFixture) func(pgx.Tx) error {
			return exec(`INSERT INTO program_enrollments (id, creator_id, program_id, end_user_id, enrolled_at) VALUES ($1, $2, $3, $4, now())`,
				uuid.New(), b.creator, b.program, f.endUser2)
		}},
		{"nudge_deliveries.end_user_id", func(f tenantFixture) func(pgx.Tx) error {
			return exec(`INSERT INTO nudge_deliveries (occurrence_id, end_user_id, creator_id, status, decided_at) VALUES ($1, $2, $3, 'sent', now())`,
				uuid.New(), f.endUser, b.creator)
		}},
		{"nudge_deliveries.campaign_id", func(f tenantFixture) func(pgx.Tx) error {
			return exec(`INSERT INTO nudge_deliveries (occurrence_id, end_user_id, creator_id, campaign_id, status, decided_at) VALUES ($1, $2, $3, $4, 'sent', now())`,
				uuid.New(), b.endUser, b.creator, f.campaign)
		}},
		{"nudge_deliveries.enrollment_id", func(f tenantFixture) func(pgx.Tx) error {
			return exec(`INSERT INTO nudge_deliveries (occurrence_id, end_user_id, creator_id, enrollment_id, status, decided_at) VALUES ($1, $2, $3, $4, 'sent', now())`,
				uuid.New(), b.endUser, b.creator, f.enrollment)
		}},
		{"end_user_memory.end_user_id", func(f tenantFixture) func(pgx.Tx) error {
			return exec(`INSERT INTO end_user_memory (end_user_id, creator_id) VALUES ($1, $2)`, f.endUser2, b.creator)
		}},
	}
	// rolledBack runs stmt in B's tenant and always rolls back, so every case starts from the
	// same state.
	rolledBack := func(stmt func(pgx.Tx) error) error {
		errRollback := errors.New("rollback")
		err := tenantExec(s.Pool(), b.creator, func(tx pgx.Tx) error {
			if err := stmt(tx); err != nil {
				return err
			}
			return errRollback
		})
		if errors.Is(err, errRollback) {
			return nil
		}
		return err
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, rolledBack(tc.stmt(b)), "referencing B's own row")
			err := rolledBack(tc.stmt(a))
			var pgErr *pgconn.PgError
			require.True(t, errors.As(err, &pgErr) && pgErr.Code == "23503",
				"referencing creator A's row from B's tenant: want a foreign key violation, got %v", err)
			require.True(t, db.IsForeignKeyViolation(err))
		})
	}
}

// TestCompositeForeignKeysKeepDeleteRules: deleting a channel keeps its end users and
// conversations (their channel_id becomes NULL, creator_id stays), deleting an end user
// removes their conversations, messages, enrollments and decisions.
func TestCompositeForeignKeysKeepDeleteRules(t *testing.T) {
	t.Parallel()
	s := testenv.Store(t)
	x := seedFixture(t, s)
	ctx := context.Background()
	require.NoError(t, tenantExec(s.Pool(), x.creator, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO delivery_parts (message_id, part, creator_id, channel_id, status) VALUES ($1, 0, $2, $3, 'sent')`,
			x.message2, x.creator, x.channel); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO nudge_deliveries (occurrence_id, end_user_id, creator_id, enrollment_id, campaign_id, status, decided_at)
			VALUES ($1, $2, $3, $4, $5, 'sent', now())`, uuid.New(), x.endUser, x.creator, x.enrollment, x.campaign); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM channels WHERE id = $1`, x.channel)
		return err
	}))
	count := func(sql string, args ...any) (n int) {
		require.NoError(t, tenantExec(s.Pool(), x.creator, func(tx pgx.Tx) error { return tx.QueryRow(ctx, sql, args...).Scan(&n) }))
		return n
	}
	require.Equal(t, 1, count(`SELECT count(*) FROM end_users WHERE id = $1 AND channel_id IS NULL AND creator_id = $2`, x.endUser, x.creator))
	require.Equal(t, 1, count(`SELECT count(*) FROM conversations WHERE id = $1 AND channel_id IS NULL AND creator_id = $2`, x.conversation, x.creator))
	require.Equal(t, 1, count(`SELECT count(*) FROM delivery_parts WHERE message_id = $1`, x.message2))

	require.NoError(t, tenantExec(s.Pool(), x.creator, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM end_users WHERE id = $1`, x.endUser)
		return err
	}))
	for table, col := range map[string]string{"conversations": "end_user_id", "program_enrollments": "end_user_id", "nudge_deliveries": "end_user_id"} {
		require.Zero(t, count(`SELECT count(*) FROM `+table+` WHERE `+col+` = $1`, x.endUser), table)
	}
	for _, table := range []string{"messages", "deliveries", "delivery_parts"} {
		require.Zero(t, count(`SELECT count(*) FROM `+table+` WHERE creator_id = $1`, x.creator), table)
	}
	require.Equal(t, 1, count(`SELECT count(*) FROM end_users WHERE id = $1`, x.endUser2))
}

// TestTenantForeignKeyMigration applies the migrations up to 0007 to a database of its own,
// writes rows that point into another creator's tenant (as the old single-column keys
// allowed), then migrates: the migration must succeed with those rows removed (required
// references) or cleared (optional ones) and every legitimate row kept. Down and up again
// must work too.
func TestTenantForeignKeyMigration(t *testing.T) {
	t.Parallel()
	d := testenv.Postgres(t)
	ctx := context.Background()
	name := "fkmig_" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	super, err := pgx.Connect(ctx, d.SuperURL)
	require.NoError(t, err)
	defer super.Close(ctx)
	_, err = super.Exec(ctx, "CREATE DATABASE "+name+" OWNER coachwire_owner")
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = super.Exec(context.Background(), "DROP DATABASE "+name+" WITH (FORCE)") })
	u, err := url.Parse(d.OwnerURL)
	require.NoError(t, err)
	u.Path = "/" + name
	cfg, err := pgx.ParseConfig(u.String())
	require.NoError(t, err)
	sqlDB := stdlib.OpenDB(*cfg)
	defer sqlDB.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, sqlDB, migrations.FS)
	require.NoError(t, err)
	_, err = p.UpTo(ctx, 7)
	require.NoError(t, err)

	conn, err := pgx.Connect(ctx, u.String())
	require.NoError(t, err)
	defer conn.Close(ctx)
	a, b := uuid.New(), uuid.New()
	ids := map[string]uuid.UUID{}
	for _, k := range []string{"aUser", "aConv", "aMsg", "aChan", "aCamp", "aProg", "aEnr", "bUser", "bConv", "bMsg", "bStolenConv", "bProg"} {
		ids[k] = uuid.New()
	}
	as := func(creator uuid.UUID, sql string, args ...any) {
		t.Helper()
		tx, err := conn.Begin(ctx)
		require.NoError(t, err)
		defer tx.Rollback(ctx) //nolint:errcheck
		_, err = tx.Exec(ctx, "SELECT set_config('app.creator_id', $1, true)", creator.String())
		require.NoError(t, err)
		_, err = tx.Exec(ctx, sql, args...)
		require.NoError(t, err, sql)
		require.NoError(t, tx.Commit(ctx))
	}
	for _, c := range []uuid.UUID{a, b} {
		as(c, `INSERT INTO creators (id, email, widget_key, widget_secret) VALUES ($1, $2, $3, 's')`, c, c.String()+"@example.com", "wk_"+c.String())
	}
	// A's own rows.
	as(a, `INSERT INTO channels (id, creator_id, type, secrets) VALUES ($1, $2, 'telegram', 'x')`, ids["aChan"], a)
	as(a, `INSERT INTO end_users (id, creator_id, channel, external_id, channel_id) VALUES ($1, $2, 'telegram', 'x', $3)`, ids["aUser"], a, ids["aChan"])
	as(a, `INSERT INTO conversations (id, creator_id, end_user_id, channel, channel_id) VALUES ($1, $2, $3, 'telegram', $4)`, ids["aConv"], a, ids["aUser"], ids["aChan"])
	as(a, `INSERT INTO messages (id, creator_id, conversation_id, role, body, channel) VALUES ($1, $2, $3, 'user', 'hi', 'telegram')`, ids["aMsg"], a, ids["aConv"])
	as(a, `INSERT INTO campaigns (id, creator_id, name, content, schedule) VALUES ($1, $2, 'c', '{}', '{}')`, ids["aCamp"], a)
	as(a, `INSERT INTO programs (id, creator_id, name, steps) VALUES ($1, $2, 'p', '[]')`, ids["aProg"], a)
	as(a, `INSERT INTO program_enrollments (id, creator_id, program_id, end_user_id, enrolled_at) VALUES ($1, $2, $3, $4, now())`, ids["aEnr"], a, ids["aProg"], ids["aUser"])
	// B's own rows, some pointing at A's channel, campaign and enrollment (optional references).
	as(b, `INSERT INTO end_users (id, creator_id, channel, external_id, channel_id) VALUES ($1, $2, 'telegram', 'y', $3)`, ids["bUser"], b, ids["aChan"])
	as(b, `INSERT INTO conversations (id, creator_id, end_user_id, channel, channel_id) VALUES ($1, $2, $3, 'telegram', $4)`, ids["bConv"], b, ids["bUser"], ids["aChan"])
	as(b, `INSERT INTO messages (id, creator_id, conversation_id, role, body, channel) VALUES ($1, $2, $3, 'user', 'hi', 'telegram')`, ids["bMsg"], b, ids["bConv"])
	as(b, `INSERT INTO programs (id, creator_id, name, steps) VALUES ($1, $2, 'p', '[]')`, ids["bProg"], b)
	as(b, `INSERT INTO nudge_deliveries (occurrence_id, end_user_id, creator_id, campaign_id, enrollment_id, status, decided_at)
		VALUES ($1, $2, $3, $4, $5, 'sent', now())`, uuid.New(), ids["bUser"], b, ids["aCamp"], ids["aEnr"])
	// B's rows whose required reference is A's.
	as(b, `INSERT INTO conversations (id, creator_id, end_user_id, channel) VALUES ($1, $2, $3, 'widget')`, ids["bStolenConv"], b, ids["aUser"])
	as(b, `INSERT INTO messages (id, creator_id, conversation_id, role, body, channel) VALUES ($1, $2, $3, 'user', 'x', 'widget')`, uuid.New(), b, ids["aConv"])
	as(b, `INSERT INTO deliveries (message_id, creator_id, channel, status) VALUES ($1, $2, 'telegram', 'sending')`, ids["aMsg"], b)
	as(b, `INSERT INTO delivery_parts (message_id, part, creator_id, status) VALUES ($1, 0, $2, 'sending')`, ids["aMsg"], b)
	as(b, `INSERT INTO campaign_occurrences (id, creator_id, campaign_id, scheduled_at) VALUES ($1, $2, $3, now())`, uuid.New(), b, ids["aCamp"])
	as(b, `INSERT INTO program_enrollments (id, creator_id, program_id, end_user_id, enrolled_at) VALUES ($1, $2, $3, $4, now())`, uuid.New(), b, ids["aProg"], ids["bUser"])
	as(b, `INSERT INTO program_enrollments (id, creator_id, program_id, end_user_id, enrolled_at) VALUES ($1, $2, $3, $4, now())`, uuid.New(), b, ids["bProg"], ids["aUser"])
	as(b, `INSERT INTO nudge_deliveries (occurrence_id, end_user_id, creator_id, status, decided_at) VALUES ($1, $2, $3, 'sent', now())`, uuid.New(), ids["aUser"], b)

	_, err = p.Up(ctx)
	require.NoError(t, err)

	count := func(creator uuid.UUID, sql string, args ...any) (n int) {
		t.Helper()
		tx, err := conn.Begin(ctx)
		require.NoError(t, err)
		defer tx.Rollback(ctx) //nolint:errcheck
		_, err = tx.Exec(ctx, "SELECT set_config('app.creator_id', $1, true)", creator.String())
		require.NoError(t, err)
		require.NoError(t, tx.QueryRow(ctx, sql, args...).Scan(&n))
		return n
	}
	// A kept everything. (The owner's scheduler policies show it every creator's programs,
	// campaigns and decisions, so each count names the creator.)
	for table, n := range map[string]int{"end_users": 1, "conversations": 1, "messages": 1, "campaigns": 1, "programs": 1, "program_enrollments": 1} {
		require.Equal(t, n, count(a, "SELECT count(*) FROM "+table+" WHERE creator_id = $1", a), "A's %s", table)
	}
	require.Equal(t, 1, count(a, "SELECT count(*) FROM end_users WHERE channel_id = $1", ids["aChan"]))
	// B kept its own rows, with the optional references into A cleared, and lost the others.
	require.Equal(t, 1, count(b, "SELECT count(*) FROM end_users WHERE id = $1 AND channel_id IS NULL", ids["bUser"]))
	require.Equal(t, 1, count(b, "SELECT count(*) FROM conversations WHERE creator_id = $1", b))
	require.Equal(t, 1, count(b, "SELECT count(*) FROM conversations WHERE id = $1 AND channel_id IS NULL", ids["bConv"]))
	require.Equal(t, 1, count(b, "SELECT count(*) FROM messages WHERE creator_id = $1", b))
	require.Equal(t, 1, count(b, "SELECT count(*) FROM messages WHERE id = $1", ids["bMsg"]))
	require.Equal(t, 1, count(b, "SELECT count(*) FROM nudge_deliveries WHERE creator_id = $1", b))
	require.Equal(t, 1, count(b, "SELECT count(*) FROM nudge_deliveries WHERE creator_id = $1 AND campaign_id IS NULL AND enrollment_id IS NULL", b))
	for _, table := range []string{"deliveries", "delivery_parts", "campaign_occurrences", "program_enrollments"} {
		require.Zero(t, count(b, "SELECT count(*) FROM "+table+" WHERE creator_id = $1", b), "B's %s pointing into A", table)
	}
	// The owner is subject to the tenant policies again.
	require.Zero(t, count(uuid.New(), "SELECT count(*) FROM messages"))
	var unforced []string
	require.NoError(t, conn.QueryRow(ctx, `SELECT COALESCE(array_agg(relname::text), '{}') FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relrowsecurity AND NOT c.relforcerowsecurity`).Scan(&unforced))
	require.Empty(t, unforced)

	_, err = p.DownTo(ctx, 7)
	require.NoError(t, err)
	_, err = p.Up(ctx)
	require.NoError(t, err)
}
