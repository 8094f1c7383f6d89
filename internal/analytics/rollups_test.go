package analytics_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/analytics"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestApplyExactlyOnce: messages are queued by their write and counted once in the rollups,
// whether a batch dies before its commit (rolled back: taken again), appliers run concurrently
// (the worker and API requests) or the queue is applied again; the counters equal a direct
// count over the messages, and the queue ends empty.
func TestApplyExactlyOnce(t *testing.T) {
	t.Parallel()
	s := testenv.Store(t)
	ctx := context.Background()
	c, convs := seedConversations(t, s, 5)
	write := func(n int) {
		for i := 0; i < n; i++ {
			require.NoError(t, s.InTenant(ctx, c, func(q *db.Queries) error {
				conv := convs[i%len(convs)]
				ask := uuid.New()
				if _, err := q.InsertMessage(ctx, db.InsertMessageParams{ID: ask, CreatorID: c, ConversationID: conv, Role: "user",
					Body: "question?", Sources: json.RawMessage("[]"), Channel: "widget", Status: "received"}); err != nil {
					return err
				}
				reply := uuid.New()
				if _, err := q.InsertReply(ctx, db.InsertReplyParams{ID: reply, CreatorID: c, ConversationID: conv, Body: "r",
					Sources: json.RawMessage("[]"), ReplyTo: uuid.NullUUID{UUID: ask, Valid: true}, Channel: "widget", Status: "generated",
					Covers: []uuid.UUID{}}); err != nil {
					return err
				}
				ft := int64(7)
				return q.RecordTurnTiming(ctx, db.RecordTurnTimingParams{ReplyID: reply, FirstTokenMs: &ft, Mode: "ollama"})
			}))
		}
	}
	type figures struct{ in, out, rawIn, rawOut, turns, timed, queued int }
	read := func() figures {
		t.Helper()
		tx := tenantTx(t, s, c, "0")
		defer tx.Rollback(ctx) //nolint:errcheck
		var f figures
		require.NoError(t, tx.QueryRow(ctx, `SELECT
			(SELECT coalesce(sum(messages_in), 0) FROM analytics_activity), (SELECT coalesce(sum(messages_out), 0) FROM analytics_days),
			(SELECT count(*) FROM messages WHERE role = 'user'), (SELECT count(*) FROM messages WHERE role = 'assistant'),
			(SELECT count(*) FROM analytics_turns), (SELECT count(*) FROM analytics_turns WHERE first_token_ms = 7 AND mode = 'ollama'),
			(SELECT count(*) FROM analytics_queue)`).Scan(&f.in, &f.out, &f.rawIn, &f.rawOut, &f.turns, &f.timed, &f.queued))
		return f
	}

	write(20)
	require.Equal(t, figures{rawIn: 20, rawOut: 20, queued: 40}, read(), "queued by the write, nothing applied yet")

	// A batch that dies before its commit leaves the queue as it was.
	died := errors.New("process died")
	err := s.InTenant(ctx, c, func(q *db.Queries) error {
		n, err := q.AnalyticsApply(ctx, db.AnalyticsApplyParams{CreatorID: c, MaxRows: 1000})
		require.NoError(t, err)
		require.EqualValues(t, 40, n)
		return died
	})
	require.ErrorIs(t, err, died)
	require.Equal(t, figures{rawIn: 20, rawOut: 20, queued: 40}, read())

	// Appliers in parallel with more writes, small batches: every message counted once.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				err := s.InTenant(ctx, c, func(q *db.Queries) error {
					_, err := q.AnalyticsApply(ctx, db.AnalyticsApplyParams{CreatorID: c, MaxRows: 7})
					return err
				})
				if err != nil {
					t.Error(err)
					return
				}
				time.Sleep(time.Millisecond)
			}
		}()
	}
	write(30)
	close(stop)
	wg.Wait()
	w := &analytics.Worker{Store: s}
	_, err = w.RunOnce(ctx)
	require.NoError(t, err)
	_, err = analytics.Apply(ctx, s, c) // nothing left: applying again changes nothing
	require.NoError(t, err)
	require.Equal(t, figures{in: 50, out: 50, rawIn: 50, rawOut: 50, turns: 50, timed: 50}, read())
}

// TestTurnDoesNotWaitForBatch: an analytics batch holds key-share locks on its conversations
// until it commits; the turn path's writes on those conversations (a message numbered, the
// conversation locked to store a reply) must not wait for it. Each write here runs with a
// lock_timeout while a batch over the same conversation is open: a wait would fail it.
func TestTurnDoesNotWaitForBatch(t *testing.T) {
	t.Parallel()
	s := testenv.Store(t)
	ctx := context.Background()
	c, convs := seedConversations(t, s, 1)
	conv := convs[0]
	require.NoError(t, s.InTenant(ctx, c, func(q *db.Queries) error {
		_, err := q.InsertMessage(ctx, db.InsertMessageParams{ID: uuid.New(), CreatorID: c, ConversationID: conv, Role: "user",
			Body: "first question?", Sources: json.RawMessage("[]"), Channel: "widget", Status: "received"})
		return err
	}))

	// The batch: applied, not committed.
	batch := tenantTx(t, s, c, "0")
	defer batch.Rollback(ctx) //nolint:errcheck
	var applied int
	require.NoError(t, batch.QueryRow(ctx, "SELECT analytics_apply($1, 100)", c).Scan(&applied))
	require.Equal(t, 1, applied)

	ask := uuid.New()
	turn := tenantTx(t, s, c, "5s")
	defer turn.Rollback(ctx) //nolint:errcheck
	q := db.New(turn)
	require.NoError(t, func() error {
		if _, err := q.InsertMessage(ctx, db.InsertMessageParams{ID: ask, CreatorID: c, ConversationID: conv, Role: "user",
			Body: "second question?", Sources: json.RawMessage("[]"), Channel: "widget", Status: "received"}); err != nil {
			return err
		}
		if _, err := q.LockConversation(ctx, conv); err != nil {
			return err
		}
		_, err := q.InsertReply(ctx, db.InsertReplyParams{ID: uuid.New(), CreatorID: c, ConversationID: conv, Body: "r",
			Sources: json.RawMessage("[]"), ReplyTo: uuid.NullUUID{UUID: ask, Valid: true}, Channel: "widget", Status: "generated",
			Covers: []uuid.UUID{ask}})
		return err
	}(), "the turn's writes waited for the open analytics batch")
	require.NoError(t, turn.Commit(ctx))
	require.NoError(t, batch.Commit(ctx))
}

// seedConversations makes a creator with n end users, a widget conversation each.
func seedConversations(t testing.TB, s *db.Store, n int) (uuid.UUID, []uuid.UUID) {
	t.Helper()
	ctx := context.Background()
	c := uuid.New()
	var convs []uuid.UUID
	require.NoError(t, s.InTenant(ctx, c, func(q *db.Queries) error {
		if _, err := q.InsertCreator(ctx, db.InsertCreatorParams{ID: c, Name: "c", Email: c.String() + "@example.com",
			WidgetKey: "wk_" + c.String(), WidgetSecret: "s", AllowedOrigins: []string{}}); err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			eu, conv := uuid.New(), uuid.New()
			if _, err := q.UpsertEndUser(ctx, db.UpsertEndUserParams{ID: eu, CreatorID: c, Channel: "widget", ExternalID: eu.String()}); err != nil {
				return err
			}
			if _, err := q.UpsertConversation(ctx, db.UpsertConversationParams{ID: conv, CreatorID: c, EndUserID: eu, Channel: "widget"}); err != nil {
				return err
			}
			convs = append(convs, conv)
		}
		return nil
	}))
	return c, convs
}

// tenantTx begins a raw transaction in creator c's tenant whose statements wait for a lock at
// most lockTimeout ("0": no limit); the caller rolls it back or commits.
func tenantTx(t *testing.T, s *db.Store, c uuid.UUID, lockTimeout string) pgx.Tx {
	t.Helper()
	ctx := context.Background()
	tx, err := s.Pool().Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "SELECT set_config('app.creator_id', $1, true), set_config('lock_timeout', $2, true)", c.String(), lockTimeout)
	require.NoError(t, err)
	return tx
}

// TestApplyAfterErasure: an erasure (the end user deleted, cascading to the conversation and
// its messages) that is under way while a batch reads its messages: the batch waits for it on
// the conversation's key-share lock, then leaves that conversation's messages out (no error,
// nothing of theirs in any rollup) and applies the others.
func TestApplyAfterErasure(t *testing.T) {
	t.Parallel()
	s := testenv.Store(t)
	ctx := context.Background()
	c, convs := seedConversations(t, s, 2)
	var gone uuid.UUID
	require.NoError(t, s.InTenant(ctx, c, func(q *db.Queries) error {
		for _, conv := range convs {
			if _, err := q.InsertMessage(ctx, db.InsertMessageParams{ID: uuid.New(), CreatorID: c, ConversationID: conv, Role: "user",
				Body: "question?", Sources: json.RawMessage("[]"), Channel: "widget", Status: "received"}); err != nil {
				return err
			}
		}
		return nil
	}))
	erasure := tenantTx(t, s, c, "0")
	defer erasure.Rollback(ctx) //nolint:errcheck
	require.NoError(t, erasure.QueryRow(ctx, "DELETE FROM end_users WHERE id = (SELECT end_user_id FROM conversations WHERE id = $1) RETURNING id",
		convs[0]).Scan(&gone))

	batch := tenantTx(t, s, c, "0")
	defer batch.Rollback(ctx) //nolint:errcheck
	var pid int
	require.NoError(t, batch.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid))
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		var r result
		r.err = batch.QueryRow(ctx, "SELECT analytics_apply($1, 100)", c).Scan(&r.n)
		done <- r
	}()
	// The batch has read the messages and waits for the erasure's lock on the conversation.
	waiting := false
	for i := 0; i < 600 && !waiting; i++ {
		require.NoError(t, s.Pool().QueryRow(ctx, "SELECT coalesce((SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1), false)",
			pid).Scan(&waiting))
		if !waiting {
			time.Sleep(50 * time.Millisecond)
		}
	}
	require.True(t, waiting, "the batch never waited for the erasure")
	require.NoError(t, erasure.Commit(ctx))
	r := <-done
	require.NoError(t, r.err)
	require.Equal(t, 2, r.n, "both queue rows taken")
	require.NoError(t, batch.Commit(ctx))

	tx := tenantTx(t, s, c, "0")
	defer tx.Rollback(ctx) //nolint:errcheck
	var left, in, queued int
	require.NoError(t, tx.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM analytics_activity WHERE conversation_id = $1) + (SELECT count(*) FROM analytics_days WHERE conversation_id = $1)
		  + (SELECT count(*) FROM analytics_conversation_span WHERE conversation_id = $1) + (SELECT count(*) FROM analytics_first_contact WHERE end_user_id = $2)
		  + (SELECT count(*) FROM analytics_retention WHERE end_user_id = $2),
		(SELECT coalesce(sum(messages_in), 0) FROM analytics_day_totals), (SELECT count(*) FROM analytics_queue)`, convs[0], gone).Scan(&left, &in, &queued))
	require.Equal(t, 0, left, "rows of the erased conversation")
	require.Equal(t, 1, in, "the other conversation's message, and only it, counted")
	require.Equal(t, 0, queued)
}
