package capacity_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/capacity"
	"github.com/coachwire/coachwire/internal/clock"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/llm"
	"github.com/coachwire/coachwire/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func creator(t *testing.T, s *db.Store) uuid.UUID {
	t.Helper()
	c := uuid.New()
	require.NoError(t, s.InTenant(context.Background(), c, func(q *db.Queries) error {
		_, err := q.InsertCreator(context.Background(), db.InsertCreatorParams{ID: c, Name: "c", Email: c.String() + "@example.com",
			WidgetKey: "wk_" + c.String(), WidgetSecret: "s", AllowedOrigins: []string{}})
		return err
	}))
	return c
}

func allow(t *testing.T, b *capacity.Budgets, c uuid.UUID, k capacity.Kind) capacity.Decision {
	t.Helper()
	d, err := b.Allow(context.Background(), c, k)
	require.NoError(t, err)
	return d
}

// TestBudgetAcrossDays: a day's usage counts against that UTC day's limit only; a call that
// starts under the limit may end over it, the next is refused with the kind's reason until the
// day changes (one nanosecond before midnight is still the old day); kinds are counted apart;
// an override replaces the default (0: unlimited, nil: back to the default).
func TestBudgetAcrossDays(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := testenv.Store(t)
	c := creator(t, s)
	// 22:30 in UTC-5 is 03:30 UTC the next day: the budget day is the UTC one.
	clk := clock.NewFake(time.Date(2026, 3, 8, 22, 30, 0, 0, time.FixedZone("EST", -5*3600)))
	b := capacity.New(s, clk, capacity.Limits{NudgeDailyTokens: 100, EmbedDailyTokens: 1000})
	midnight := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)

	d := allow(t, b, c, capacity.Nudge)
	require.True(t, d.Allowed)
	require.Equal(t, int64(100), d.Limit)
	require.Equal(t, midnight, d.ResetAt)
	require.NoError(t, b.Record(ctx, c, capacity.Nudge, llm.Usage{PromptTokens: 60, ReplyTokens: 39}))
	d = allow(t, b, c, capacity.Nudge)
	require.True(t, d.Allowed, "99 of 100 used")
	require.Equal(t, int64(99), d.Used)
	require.NoError(t, b.Record(ctx, c, capacity.Nudge, llm.Usage{PromptTokens: 50, ReplyTokens: 20}))
	d = allow(t, b, c, capacity.Nudge)
	require.False(t, d.Allowed)
	require.Equal(t, capacity.ReasonNudge, d.Reason)
	require.Equal(t, int64(169), d.Used)
	require.NoError(t, b.Record(ctx, c, capacity.Nudge, llm.Usage{})) // a call that cost nothing counts nothing
	tokens, calls, err := b.Usage(ctx, c, capacity.Nudge, clk.Now())
	require.NoError(t, err)
	require.Equal(t, [2]int64{169, 2}, [2]int64{tokens, calls})

	// The embed budget is its own.
	d = allow(t, b, c, capacity.Embed)
	require.True(t, d.Allowed)
	require.Zero(t, d.Used)
	require.NoError(t, b.RecordTokens(ctx, c, capacity.Embed, 1000))
	d = allow(t, b, c, capacity.Embed)
	require.False(t, d.Allowed)
	require.Equal(t, capacity.ReasonEmbed, d.Reason)

	// Still the same UTC day one nanosecond before midnight; a new one at midnight.
	clk.Set(midnight.Add(-time.Nanosecond))
	require.False(t, allow(t, b, c, capacity.Nudge).Allowed)
	clk.Set(midnight)
	d = allow(t, b, c, capacity.Nudge)
	require.True(t, d.Allowed)
	require.Zero(t, d.Used)
	require.Equal(t, midnight.Add(24*time.Hour), d.ResetAt)
	require.True(t, allow(t, b, c, capacity.Embed).Allowed)
	require.NoError(t, b.RecordTokens(ctx, c, capacity.Nudge, 100))
	require.False(t, allow(t, b, c, capacity.Nudge).Allowed)
	// Yesterday's usage is kept apart.
	tokens, _, err = b.Usage(ctx, c, capacity.Nudge, midnight.Add(-time.Hour))
	require.NoError(t, err)
	require.Equal(t, int64(169), tokens)

	// Overrides: a higher limit, unlimited, back to the default.
	for _, tc := range []struct {
		limit   *int64
		allowed bool
	}{{ptr(150), true}, {ptr(100), false}, {ptr(0), true}, {nil, false}} {
		require.NoError(t, b.SetLimit(ctx, c, capacity.Nudge, tc.limit))
		d = allow(t, b, c, capacity.Nudge)
		require.Equal(t, tc.allowed, d.Allowed, "override %v", tc.limit)
	}
	require.Error(t, b.SetLimit(ctx, c, capacity.Nudge, ptr(-1)))

	// No default limit: unlimited.
	free := capacity.New(s, clk, capacity.Limits{})
	require.NoError(t, free.RecordTokens(ctx, c, capacity.Embed, 1<<40))
	require.True(t, allow(t, free, c, capacity.Embed).Allowed)
	// A nil Budgets allows everything.
	var none *capacity.Budgets
	require.True(t, allow(t, none, c, capacity.Nudge).Allowed)
	require.NoError(t, none.RecordTokens(ctx, c, capacity.Nudge, 10))
}

func ptr(n int64) *int64 { return &n }

// TestBudgetIsolation: creator A's usage and override never count for B, and concurrent
// records of both add up exactly per creator. Row-level security is tried, not assumed: as B
// (and with no tenant) A's usage and limit rows are invisible and cannot be written, and a row
// claiming A's creator id cannot be inserted from B's tenant.
func TestBudgetIsolation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := testenv.Store(t)
	a, bb := creator(t, s), creator(t, s)
	clk := clock.NewFake(time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC))
	b := capacity.New(s, clk, capacity.Limits{NudgeDailyTokens: 500})

	done := make(chan error, 40)
	for i := range 40 {
		c := a
		if i%2 == 1 {
			c = bb
		}
		go func() { done <- b.RecordTokens(ctx, c, capacity.Nudge, 20) }()
	}
	for range 40 {
		require.NoError(t, <-done)
	}
	for _, c := range []uuid.UUID{a, bb} {
		tokens, calls, err := b.Usage(ctx, c, capacity.Nudge, clk.Now())
		require.NoError(t, err)
		require.Equal(t, [2]int64{400, 20}, [2]int64{tokens, calls})
	}
	require.NoError(t, b.RecordTokens(ctx, a, capacity.Nudge, 200))
	require.NoError(t, b.SetLimit(ctx, a, capacity.Nudge, ptr(10_000)))
	require.True(t, allow(t, b, bb, capacity.Nudge).Allowed, "B has used 400 of 500")
	require.True(t, allow(t, b, a, capacity.Nudge).Allowed, "A's own override")
	require.NoError(t, b.SetLimit(ctx, a, capacity.Nudge, ptr(1)))
	d := allow(t, b, bb, capacity.Nudge)
	require.True(t, d.Allowed, "A's override and usage are not B's")
	require.Equal(t, int64(400), d.Used)
	require.Equal(t, int64(500), d.Limit)

	for _, setup := range []string{fmt.Sprintf("SELECT set_config('app.creator_id', '%s', true)", bb), "SELECT 1"} {
		for _, table := range []string{"llm_usage", "llm_budgets"} {
			func() {
				tx, err := s.Pool().Begin(ctx)
				require.NoError(t, err)
				defer tx.Rollback(ctx) //nolint:errcheck
				_, err = tx.Exec(ctx, setup)
				require.NoError(t, err)
				var n int
				require.NoError(t, tx.QueryRow(ctx, "SELECT count(*) FROM "+table+" WHERE creator_id = $1", a).Scan(&n))
				require.Zero(t, n, "%s: saw A's rows (%s)", table, setup)
				tag, err := tx.Exec(ctx, "UPDATE "+table+" SET updated_at = now() WHERE creator_id = $1", a)
				require.NoError(t, err)
				require.Zero(t, tag.RowsAffected(), "%s: updated A's rows", table)
				tag, err = tx.Exec(ctx, "DELETE FROM "+table+" WHERE creator_id = $1", a)
				require.NoError(t, err)
				require.Zero(t, tag.RowsAffected(), "%s: deleted A's rows", table)
			}()
		}
		func() {
			tx, err := s.Pool().Begin(ctx)
			require.NoError(t, err)
			defer tx.Rollback(ctx) //nolint:errcheck
			_, err = tx.Exec(ctx, setup)
			require.NoError(t, err)
			_, err = tx.Exec(ctx, "INSERT INTO llm_usage (creator_id, day, kind, tokens, calls) VALUES ($1, '2026-06-01', 'nudge', 1, 1)", a)
			require.ErrorContains(t, err, "row-level security")
		}()
	}
	// B's own writes never reach A's row.
	tokens, calls, err := b.Usage(ctx, a, capacity.Nudge, clk.Now())
	require.NoError(t, err)
	require.Equal(t, [2]int64{600, 21}, [2]int64{tokens, calls})
}
