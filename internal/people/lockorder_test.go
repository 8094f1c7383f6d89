package people_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/people"
	"github.com/coachwire/coachwire/internal/testenv"
)

// idWith is a fresh end user id whose first byte is b: ids ordered on purpose.
func idWith(b byte) uuid.UUID {
	id := uuid.New()
	id[0] = b
	return id
}

func (x tenant) endUserID(id uuid.UUID, channel string) db.EndUser {
	x.t.Helper()
	var eu db.EndUser
	x.tx(func(q *db.Queries) (err error) {
		eu, err = q.UpsertEndUser(context.Background(), db.UpsertEndUserParams{ID: id, CreatorID: x.c, Channel: channel, ExternalID: uuid.NewString()})
		return err
	})
	return eu
}

// begin opens a tenant transaction on its own connection and returns it with its backend pid.
func begin(t *testing.T, pool *pgxpool.Pool, c uuid.UUID) (pgx.Tx, int32) {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = tx.Rollback(ctx) })
	_, err = tx.Exec(ctx, "SELECT set_config('app.creator_id', $1, true)", c.String())
	require.NoError(t, err)
	var pid int32
	require.NoError(t, tx.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid))
	return tx, pid
}

// lockedInIDOrder runs op (a locker of end users) while another transaction holds the row of
// held, the lowest id op locks, and reports, once op waits for it, which of free (higher ids)
// a third transaction can still lock: all of them when op locks in id order (it waits on its
// first row, holding nothing), as the nudge batch's LockEndUsers does.
func lockedInIDOrder(t *testing.T, x tenant, held uuid.UUID, free []uuid.UUID, op func(q *db.Queries) error) {
	t.Helper()
	ctx := context.Background()
	pool := x.s.Pool()
	a, _ := begin(t, pool, x.c)
	_, err := a.Exec(ctx, "SELECT 1 FROM end_users WHERE id = $1 FOR UPDATE", held)
	require.NoError(t, err)
	b, bpid := begin(t, pool, x.c)
	done := make(chan error, 1)
	go func() { done <- op(db.New(b)) }()
	testenv.Eventually(t, 30*time.Second, func() bool {
		var waiting bool
		err := pool.QueryRow(ctx, "SELECT coalesce(bool_or(wait_event_type = 'Lock'), false) FROM pg_stat_activity WHERE pid = $1", bpid).Scan(&waiting)
		return err == nil && waiting
	}, "the locker waits for the held row")
	c, _ := begin(t, pool, x.c)
	for _, id := range free {
		_, err := c.Exec(ctx, "SELECT 1 FROM end_users WHERE id = $1 FOR UPDATE NOWAIT", id)
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "55P03" {
			require.Failf(t, "not in id order", "end user %s was locked before the lower id %s", id, held)
		}
		require.NoError(t, err)
	}
	require.NoError(t, c.Rollback(ctx))
	require.NoError(t, a.Rollback(ctx))
	require.NoError(t, <-done)
	require.NoError(t, b.Commit(ctx))
}

// TestLinkAndUnlinkLockInIDOrder: Link and Unlink lock a person's end users in id order, the
// order of the nudge batch's LockEndUsers, whatever their creation order, so they never
// deadlock with a batch (or each other).
func TestLinkAndUnlinkLockInIDOrder(t *testing.T) {
	t.Parallel()
	x := newTenant(t, testenv.Store(t))

	// Unlink: the older end user has the higher id.
	old := x.endUserID(idWith(0xf0), "app")
	young := x.endUserID(idWith(0x10), "whatsapp")
	x.link(old, young)
	lockedInIDOrder(t, x, young.ID, []uuid.UUID{old.ID}, func(q *db.Queries) error {
		_, err := people.Unlink(context.Background(), q, old.ID)
		return err
	})

	// Link of two people: {lo, hi} (linked) and {mid}; the lowest id is in the second.
	lo := x.endUserID(idWith(0x20), "app")
	hi := x.endUserID(idWith(0xe0), "telegram")
	x.link(lo, hi)
	mid := x.endUserID(idWith(0x80), "whatsapp")
	app, channel := x.get(hi.ID), x.get(mid.ID)
	lockedInIDOrder(t, x, lo.ID, []uuid.UUID{mid.ID, hi.ID}, func(q *db.Queries) error {
		_, err := people.Link(context.Background(), q, app, channel, time.Now())
		return err
	})
}
