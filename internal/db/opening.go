package db

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// openingConn is the DBTX of a transaction that is opened with its first statement: BEGIN, the
// transaction's setting (app.creator_id for a tenant, app.user_id for a person, none for
// Store.Global) and the statement travel in one pipeline, one round trip where they took two.
// Later statements go to the connection as they are. A transaction whose function runs no
// statement never opens (nothing to commit).
//
// With commit (Store.InTenantOne), COMMIT follows the statement in the same pipeline: the
// transaction is that one statement, and a later statement is refused.
type openingConn struct {
	conn           *pgxpool.Conn
	setting, value string // setting "": none
	open           bool
	commit         bool
}

var errSecondStatement = errors.New("db: a one-statement transaction (InTenantOne) ran a second statement")

// first sends the opening and sql, and reads the opening's results: the caller reads sql's.
func (o *openingConn) first(ctx context.Context, sql string, args []any) (pgx.BatchResults, error) {
	o.open = true
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	if o.setting != "" {
		b.Queue("SELECT set_config($1, $2, true)", o.setting, o.value)
	}
	b.Queue(sql, args...)
	if o.commit {
		// Read with the pipeline's close, after sql's results: a failed sql stops the pipeline
		// before it (the caller's error), and the transaction is rolled back.
		b.Queue("COMMIT")
	}
	br := o.conn.SendBatch(ctx, b)
	opening := b.Len() - 1
	if o.commit {
		opening--
	}
	for i := 0; i < opening; i++ {
		if _, err := br.Exec(); err != nil {
			_ = br.Close()
			return nil, fmt.Errorf("db: begin transaction: %w", err)
		}
	}
	return br, nil
}

func (o *openingConn) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if o.open && o.commit {
		return pgconn.CommandTag{}, errSecondStatement
	}
	if o.open {
		return o.conn.Exec(ctx, sql, args...)
	}
	br, err := o.first(ctx, sql, args)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag, err
}

func (o *openingConn) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if o.open && o.commit {
		return nil, errSecondStatement
	}
	if o.open {
		return o.conn.Query(ctx, sql, args...)
	}
	br, err := o.first(ctx, sql, args)
	if err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		_ = br.Close()
		return nil, err
	}
	return &openingRows{Rows: rows, br: br}, nil
}

func (o *openingConn) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if o.open && o.commit {
		return errRow{errSecondStatement}
	}
	if o.open {
		return o.conn.QueryRow(ctx, sql, args...)
	}
	br, err := o.first(ctx, sql, args)
	if err != nil {
		return errRow{err}
	}
	return openingRow{row: br.QueryRow(), br: br}
}

// openingRows closes the pipeline with the rows.
type openingRows struct {
	pgx.Rows
	br     pgx.BatchResults
	closed bool
	err    error
}

func (r *openingRows) Close() {
	r.Rows.Close()
	if !r.closed {
		r.closed = true
		r.err = r.br.Close()
	}
}

func (r *openingRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.Close()
	return false
}

func (r *openingRows) Err() error {
	if err := r.Rows.Err(); err != nil {
		return err
	}
	return r.err
}

// openingRow closes the pipeline once scanned.
type openingRow struct {
	row pgx.Row
	br  pgx.BatchResults
}

func (r openingRow) Scan(dest ...any) error {
	err := r.row.Scan(dest...)
	if cerr := r.br.Close(); err == nil {
		err = cerr
	}
	return err
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }
