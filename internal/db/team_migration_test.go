package db_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/testenv"
	"github.com/coachwire/coachwire/migrations"
)

// TestTeamMigration: migration 0014 turns every creator's login into a person who owns that
// creator's workspace, keeping their refresh tokens; its Down gives each workspace's owner the
// login back, and Up again works.
func TestTeamMigration(t *testing.T) {
	t.Parallel()
	d := testenv.Postgres(t)
	ctx := context.Background()
	name := "teammig_" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
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
	_, err = p.UpTo(ctx, 12)
	require.NoError(t, err)

	conn, err := pgx.Connect(ctx, u.String())
	require.NoError(t, err)
	defer conn.Close(ctx)
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
	one := func(creator uuid.UUID, sql string, args ...any) (n int) {
		t.Helper()
		tx, err := conn.Begin(ctx)
		require.NoError(t, err)
		defer tx.Rollback(ctx) //nolint:errcheck
		_, err = tx.Exec(ctx, "SELECT set_config('app.creator_id', $1, true)", creator.String())
		require.NoError(t, err)
		require.NoError(t, tx.QueryRow(ctx, sql, args...).Scan(&n))
		return n
	}
	a, b := uuid.New(), uuid.New()
	for _, c := range []uuid.UUID{a, b} {
		as(c, `INSERT INTO creators (id, name, email, widget_key, widget_secret) VALUES ($1, 'Coach', $2, $3, 's')`, c, c.String()+"@example.com", "wk_"+c.String())
		as(c, `SELECT auth_register_account($1, $2, $3)`, c, c.String()+"@Example.com", "hash-"+c.String())
		as(c, `INSERT INTO refresh_tokens (id, creator_id, family_id, token_hash, expires_at) VALUES ($1, $2, $3, $4, now() + interval '1 day')`,
			uuid.New(), c, uuid.New(), c[:])
	}

	_, err = p.Up(ctx)
	require.NoError(t, err)
	for _, c := range []uuid.UUID{a, b} {
		var id uuid.UUID
		var hash string
		require.NoError(t, conn.QueryRow(ctx, "SELECT id, password_hash FROM auth_user_by_email($1)", strings.ToUpper(c.String())+"@example.com").Scan(&id, &hash))
		require.Equal(t, c, id, "the person keeps the creator's id")
		require.Equal(t, "hash-"+c.String(), hash)
		require.Equal(t, 1, one(c, "SELECT count(*) FROM members WHERE creator_id = $1 AND user_id = $1 AND role = 'owner'", c))
		require.Equal(t, 1, one(c, "SELECT count(*) FROM refresh_tokens WHERE creator_id = $1 AND user_id = $1", c))
	}
	// After the migration: A's person also owns a new workspace and B's person joins A as agent.
	w := uuid.New()
	as(w, `INSERT INTO creators (id, name, email, widget_key, widget_secret) VALUES ($1, 'Second', 'x@example.com', $2, 's')`, w, "wk_"+w.String())
	as(w, `INSERT INTO members (id, creator_id, user_id, role) VALUES ($1, $2, $3, 'owner')`, uuid.New(), w, a)
	as(a, `INSERT INTO members (id, creator_id, user_id, role) VALUES ($1, $2, $3, 'agent')`, uuid.New(), a, b)
	as(a, `INSERT INTO refresh_tokens (id, creator_id, user_id, family_id, token_hash, expires_at) VALUES ($1, $2, $3, $4, $5, now() + interval '1 day')`,
		uuid.New(), a, b, uuid.New(), []byte("b-in-a"))

	_, err = p.DownTo(ctx, 12)
	require.NoError(t, err)
	for _, c := range []uuid.UUID{a, b} {
		var got uuid.UUID
		var hash string
		require.NoError(t, conn.QueryRow(ctx, "SELECT creator_id, password_hash FROM auth_account_by_email($1)", c.String()+"@example.com").Scan(&got, &hash))
		require.Equal(t, c, got, "the owner's login goes to their oldest workspace")
		require.Equal(t, "hash-"+c.String(), hash)
		require.Equal(t, 1, one(c, "SELECT count(*) FROM refresh_tokens WHERE creator_id = $1", c), "the owner's refresh token is kept")
	}
	_, err = p.Up(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, one(a, "SELECT count(*) FROM members WHERE creator_id = $1", a))
}
