package people_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/people"
	"github.com/coachwire/coachwire/internal/testenv"
)

// TestCodesPerHourUnderConcurrency: two requests for a code at once cannot both pass the
// hourly limit: the one that waits counts the other's code.
func TestCodesPerHourUnderConcurrency(t *testing.T) {
	t.Parallel()
	s := testenv.Store(t)
	x := newTenant(t, s)
	app := x.endUser("app")
	ctx := context.Background()
	now := time.Now()
	x.tx(func(q *db.Queries) error {
		for range people.CodesPerHour - 1 {
			if _, err := people.NewCode(ctx, q, x.c, app.ID, now); err != nil {
				return err
			}
		}
		return nil
	})
	// The last allowed code, in a transaction left open.
	tx, err := s.Pool().Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	_, err = tx.Exec(ctx, "SELECT set_config('app.creator_id', $1, true)", x.c.String())
	require.NoError(t, err)
	var pid int
	require.NoError(t, tx.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid))
	_, err = people.NewCode(ctx, db.New(tx), x.c, app.ID, now)
	require.NoError(t, err)

	done := make(chan error, 1)
	go func() {
		done <- s.InTenant(ctx, x.c, func(q *db.Queries) error {
			_, err := people.NewCode(ctx, q, x.c, app.ID, now)
			return err
		})
	}()
	testenv.Eventually(t, 30*time.Second, func() bool {
		var n int
		if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))`, pid).Scan(&n); err != nil {
			t.Error(err)
			return true
		}
		return n > 0
	}, "the second request waiting on the first")
	require.NoError(t, tx.Commit(ctx))
	require.ErrorIs(t, <-done, people.ErrTooManyCodes)
}
