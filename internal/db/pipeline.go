package db

import (
	"cmp"
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Pipelines: independent statements of a transaction sent together, one round trip where each
// took one. A pipeline queues the generated queries' SQL with their arguments, and reads the
// results back through the generated functions themselves (batchResults, a DBTX that hands
// each call the next result), so the scanning stays sqlc's.

// batchSender is what can send a pipeline: the transaction of Store.InTenant (openingConn, which
// opens with it when it is the first), a pgx.Tx, a connection or a pool.
type batchSender interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

func (q *Queries) sendBatch(ctx context.Context, b *pgx.Batch) (pgx.BatchResults, error) {
	switch d := q.db.(type) {
	case *openingConn:
		return d.sendBatch(ctx, b)
	case batchSender:
		return d.SendBatch(ctx, b), nil
	}
	return nil, fmt.Errorf("db: %T cannot send a pipeline", q.db)
}

// sendBatch sends b in the transaction, opening it with b when no statement has run yet.
func (o *openingConn) sendBatch(ctx context.Context, b *pgx.Batch) (pgx.BatchResults, error) {
	if o.open && o.commit {
		return nil, errSecondStatement
	}
	if o.open {
		return o.conn.SendBatch(ctx, b), nil
	}
	o.open = true
	all := &pgx.Batch{}
	all.Queue("BEGIN")
	if o.setting != "" {
		all.Queue("SELECT set_config($1, $2, true)", o.setting, o.value)
	}
	opening := all.Len()
	for _, qq := range b.QueuedQueries {
		all.Queue(qq.SQL, qq.Arguments...)
	}
	if o.commit {
		all.Queue("COMMIT") // InTenantOne: the pipeline is the transaction (see first)
	}
	br := o.conn.SendBatch(ctx, all)
	for i := 0; i < opening; i++ {
		if _, err := br.Exec(); err != nil {
			_ = br.Close()
			return nil, fmt.Errorf("db: begin transaction: %w", err)
		}
	}
	return br, nil
}

// batchResults is the DBTX of a pipeline's results: each call, whatever its SQL, gets the next
// result (the calls must come in the order the statements were queued).
type batchResults struct{ br pgx.BatchResults }

func (b batchResults) Exec(context.Context, string, ...any) (pgconn.CommandTag, error) {
	return b.br.Exec()
}
func (b batchResults) Query(context.Context, string, ...any) (pgx.Rows, error) { return b.br.Query() }
func (b batchResults) QueryRow(context.Context, string, ...any) pgx.Row        { return b.br.QueryRow() }

// TurnReadsParams names what a turn reads once it holds its conversation's lease.
type TurnReadsParams struct {
	MessageID      uuid.UUID // the message that asked for the turn
	ConversationID uuid.UUID
	AnsweredSeq    int64 // the conversation's answer floor
	EndUserID      uuid.UUID
	CreatorID      uuid.UUID
	RecentLimit    int32
}

// TurnReads is what a turn reads: GetMessage of the trigger, UnansweredUserMessages,
// RecentMessages, GetMemory (nil: no profile) and GetCreator.
type TurnReads struct {
	Trigger Message
	Pending []Message
	Recent  []Message
	Memory  *EndUserMemory
	Creator Creator
}

// TurnReads runs the turn's five reads in one pipeline, one round trip. Errors are those of
// the single queries: a missing trigger or creator is ErrNoRows (IsNotFound); a missing
// profile is a nil Memory.
func (q *Queries) TurnReads(ctx context.Context, p TurnReadsParams) (TurnReads, error) {
	var out TurnReads
	var terr, perr, rerr, merr, cerr error
	err := q.Pipeline(ctx, func(q *Queries) error {
		// Every call, whatever the others return (Pipeline's contract).
		out.Trigger, terr = q.GetMessage(ctx, p.MessageID)
		out.Pending, perr = q.UnansweredUserMessages(ctx, UnansweredUserMessagesParams{ConversationID: p.ConversationID, AnsweredSeq: p.AnsweredSeq})
		out.Recent, rerr = q.RecentMessages(ctx, RecentMessagesParams{ConversationID: p.ConversationID, Limit: p.RecentLimit})
		var m EndUserMemory
		m, merr = q.GetMemory(ctx, p.EndUserID)
		out.Memory = &m
		out.Creator, cerr = q.GetCreator(ctx, p.CreatorID)
		return nil
	})
	if IsNotFound(merr) {
		out.Memory, merr = nil, nil
	}
	// The trigger's error last, as a single reader would find the others first.
	return out, cmp.Or(err, perr, rerr, merr, cerr, terr)
}

// ErrQueued is what every query returns in Pipeline's first run of its calls.
var ErrQueued = errors.New("db: statement queued in a pipeline")

// Pipeline runs the statements calls runs in one round trip. calls runs twice: first against
// Queries that queue each statement (every call returns ErrQueued and zero results), then,
// once the pipeline is sent, against Queries that hand each call its result in order. calls
// must therefore make the same calls both times, in the same order, whatever their results
// (it may branch on its own inputs, not on results); Pipeline returns calls's error of the
// second run, or the pipeline's. In a transaction of Store.InTenant the statements run in it
// (opening it when they are the first).
func (q *Queries) Pipeline(ctx context.Context, calls func(q *Queries) error) error {
	rec := &batchRecorder{b: &pgx.Batch{}}
	if err := calls(New(rec)); rec.b.Len() == 0 {
		return err // no statement: nothing to send
	}
	br, err := q.sendBatch(ctx, rec.b)
	if err != nil {
		return err
	}
	err = calls(New(batchResults{br}))
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return err
}

// batchRecorder is the DBTX of Pipeline's first run: it queues each statement.
type batchRecorder struct{ b *pgx.Batch }

func (r *batchRecorder) Exec(_ context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	r.b.Queue(sql, args...)
	return pgconn.CommandTag{}, ErrQueued
}

func (r *batchRecorder) Query(_ context.Context, sql string, args ...any) (pgx.Rows, error) {
	r.b.Queue(sql, args...)
	return nil, ErrQueued
}

func (r *batchRecorder) QueryRow(_ context.Context, sql string, args ...any) pgx.Row {
	r.b.Queue(sql, args...)
	return errRow{ErrQueued}
}
