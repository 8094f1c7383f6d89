// Package db is coachwire's PostgreSQL access: the sqlc-generated queries, the connection pool
// and the one way to run tenant SQL, Store.InTenant. Nothing here ever issues a session-level
// SET or runs tenant SQL outside a transaction that has set app.creator_id.
package db

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	pgxuuid "github.com/vgarvardt/pgx-google-uuid/v5"
)

// ErrNotFound is returned when a row does not exist in the current tenant.
var ErrNotFound = errors.New("db: not found")

// Store runs queries against the pool, always inside a tenant.
type Store struct {
	pool *pgxpool.Pool
}

// Open connects to url and checks that the role is fit to run the application (see CheckAppRole).
func Open(ctx context.Context, url string, maxConns int32) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("db: parse COACHWIRE_DATABASE_URL: %w", err)
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	// uuid.UUID is encoded as 16 bytes rather than through its driver.Valuer string (which
	// costs a parse and an allocation per value: a quarter of the CPU of a batch of 500 ids).
	cfg.AfterConnect = func(_ context.Context, conn *pgx.Conn) error {
		pgxuuid.Register(conn.TypeMap())
		return nil
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("db: connect: %w", err)
	}
	if err := CheckAppRole(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return &Store{pool: pool}, nil
}

// Pool exposes the pool for health checks and tests.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close closes the pool.
func (s *Store) Close() { s.pool.Close() }

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// InTenant runs fn in a transaction whose row-level security context is creatorID. The
// transaction commits when fn returns nil and rolls back otherwise.
//
// BEGIN and set_config travel with the transaction's first statement, in one pipeline
// (openingConn), so neither the tenant nor the BEGIN costs a round trip of its own. A
// connection given back in any state but idle is destroyed by the pool, so a tenant setting
// can never outlive its transaction.
func (s *Store) InTenant(ctx context.Context, creatorID uuid.UUID, fn func(q *Queries) error) (err error) {
	if creatorID == uuid.Nil {
		return errors.New("db: tenant transaction without a creator id")
	}
	return s.inTx(ctx, "app.creator_id", creatorID.String(), func(q *Queries) error {
		if err := fn(q); err != nil {
			return err
		}
		if hook, ok := ctx.Value(beforeCommitKey{}).(BeforeCommit); ok {
			return hook(ctx, creatorID, q)
		}
		return nil
	})
}

// InTenantOne is InTenant for a transaction of one statement (or one Queries.Pipeline): BEGIN,
// the tenant, the statements and COMMIT travel in one pipeline, one round trip where InTenant
// takes two. A later statement is refused with an error. What fn ran commits when it succeeded,
// whatever fn returns after it; a failed statement rolls it all back. A context carrying a
// BeforeCommit hook gets InTenant (the hook's statements must commit with the change).
func (s *Store) InTenantOne(ctx context.Context, creatorID uuid.UUID, fn func(q *Queries) error) error {
	if _, ok := ctx.Value(beforeCommitKey{}).(BeforeCommit); ok {
		return s.InTenant(ctx, creatorID, fn)
	}
	if creatorID == uuid.Nil {
		return errors.New("db: tenant transaction without a creator id")
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("db: acquire: %w", err)
	}
	defer conn.Release()
	oc := &openingConn{conn: conn, setting: "app.creator_id", value: creatorID.String(), commit: true}
	err = fn(New(oc))
	// Committed with the statement, or the statement failed and its transaction waits for a
	// ROLLBACK (a pipeline stops at an error: its COMMIT never ran).
	rollback(ctx, conn.Conn())
	return err
}

// inTx runs fn in a transaction opened with its first statement (openingConn) that sets setting
// to value (setting "": none), and commits when fn returns nil.
func (s *Store) inTx(ctx context.Context, setting, value string, fn func(q *Queries) error) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("db: acquire: %w", err)
	}
	defer conn.Release()
	oc := &openingConn{conn: conn, setting: setting, value: value}
	committed := false
	defer func() {
		if !committed {
			rollback(ctx, conn.Conn())
		}
	}()
	if err := fn(New(oc)); err != nil {
		return err
	}
	committed = true
	if !oc.open { // fn ran no statement: there is no transaction
		return nil
	}
	tag, err := conn.Exec(ctx, "COMMIT")
	if err != nil {
		committed = false
		return fmt.Errorf("db: commit: %w", err)
	}
	if tag.String() == "ROLLBACK" { // the transaction had failed: COMMIT rolls it back
		return errors.New("db: commit: transaction was rolled back after an earlier error")
	}
	return nil
}

// BeforeCommit runs in every tenant transaction (InTenant) whose context carries it, after the
// transaction's function succeeded and before COMMIT, with the same queries: what it writes
// commits or rolls back with the change, and its error rolls the whole transaction back. The
// gateway's audit log is written this way (WithBeforeCommit on the request's context).
type BeforeCommit func(ctx context.Context, creatorID uuid.UUID, q *Queries) error

type beforeCommitKey struct{}

// WithBeforeCommit returns ctx carrying hook for the tenant transactions run with it.
func WithBeforeCommit(ctx context.Context, hook BeforeCommit) context.Context {
	return context.WithValue(ctx, beforeCommitKey{}, hook)
}

// AsUser runs fn in a transaction that names a person (app.user_id) and no workspace: only
// that person's memberships and the creators rows of their workspaces are visible there (the
// members and creators policies of migration 0014); every tenant table's policy matches no row.
// It commits when fn returns nil.
func (s *Store) AsUser(ctx context.Context, userID uuid.UUID, fn func(q *Queries) error) error {
	if userID == uuid.Nil {
		return errors.New("db: user transaction without a user id")
	}
	return s.inTx(ctx, "app.user_id", userID.String(), fn)
}

func rollback(ctx context.Context, c *pgx.Conn) {
	if c.PgConn().TxStatus() == 'I' {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_, _ = c.Exec(rctx, "ROLLBACK")
}

// Global runs fn outside any tenant: only the SECURITY DEFINER lookups (login, widget key)
// return anything there, since every tenant table's policy matches no row.
func (s *Store) Global(ctx context.Context, fn func(q *Queries) error) error {
	return s.inTx(ctx, "", "", fn)
}

// Autocommit runs fn outside any tenant and outside a transaction of its own: each statement
// fn runs commits alone (PostgreSQL's implicit transaction of one statement), with no BEGIN or
// COMMIT and no round trip for them. For one statement that needs nothing around it on tables
// no creator owns (every tenant table's policy matches no row here, as in Global).
func (s *Store) Autocommit(ctx context.Context, fn func(q *Queries) error) error {
	return fn(New(s.pool))
}

// IsNotFound reports whether err means "no such row".
func IsNotFound(err error) bool {
	return errors.Is(err, pgx.ErrNoRows) || errors.Is(err, ErrNotFound)
}

// IsUniqueViolation reports whether err is a unique constraint violation.
func IsUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

// IsForeignKeyViolation reports whether err is a foreign key violation: a row referenced a
// parent that does not exist in its creator's tenant (every tenant foreign key includes
// creator_id, so another creator's row counts as missing).
func IsForeignKeyViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23503"
}

// CheckAppRole refuses a role that could see past row-level security: a superuser, a role with
// BYPASSRLS, or one that owns (or is a member of a role that owns) a table in the schema.
func CheckAppRole(ctx context.Context, pool *pgxpool.Pool) error {
	var (
		user             string
		super, bypassRLS bool
		owned            []string
	)
	err := pool.QueryRow(ctx, `
		SELECT r.rolname, r.rolsuper, r.rolbypassrls,
		       COALESCE((SELECT array_agg(c.relname::text ORDER BY c.relname)
		                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		                 WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
		                   AND pg_has_role(current_user, c.relowner, 'USAGE')), '{}')
		FROM pg_roles r WHERE r.rolname = current_user`).Scan(&user, &super, &bypassRLS, &owned)
	if err != nil {
		return fmt.Errorf("db: check application role: %w", err)
	}
	var reasons []string
	if super {
		reasons = append(reasons, "is a superuser")
	}
	if bypassRLS {
		reasons = append(reasons, "has BYPASSRLS")
	}
	if len(owned) > 0 {
		reasons = append(reasons, fmt.Sprintf("owns tables %v (directly or through membership)", owned))
	}
	if len(reasons) > 0 {
		return fmt.Errorf("db: refusing to run as role %q: it %v; row-level security would not isolate creators. "+
			"Connect COACHWIRE_DATABASE_URL as a role that owns nothing, is NOSUPERUSER NOBYPASSRLS and is a member of coachwire_app; "+
			"run migrations with COACHWIRE_MIGRATE_DATABASE_URL as the owner", user, reasons)
	}
	return nil
}
