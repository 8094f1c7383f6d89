package ratelimit_test

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/config"
	"github.com/coachwire/coachwire/internal/ratelimit"
	"github.com/coachwire/coachwire/internal/testenv"
)

// TestReserveSharedAcrossLimiters: two limiters (two dispatch replicas) reserving places in one
// bucket at the same instant are given distinct instants one interval apart, as one process's
// limiter would give them; a wait beyond maxWait is refused and consumes nothing; a pair bucket
// with a burst lets its burst through at once; a marked block holds every reservation back.
func TestReserveSharedAcrossLimiters(t *testing.T) {
	t.Parallel()
	clk := newClock()
	store := testenv.Store(t)
	replicas := []*ratelimit.Limiter{ratelimit.New(store, clk.Now), ratelimit.New(store, clk.Now)}
	ctx := context.Background()
	number := ratelimit.Check{Key: "test:number:" + uuid.NewString(), Rule: config.Rate{N: 1, Per: 100 * time.Millisecond}}

	var (
		mu    sync.Mutex
		waits []time.Duration
		wg    sync.WaitGroup
	)
	for _, l := range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 15 {
				r, err := l.Reserve(ctx, time.Second, []ratelimit.Check{number}, nil)
				if !assert.NoError(t, err) {
					return
				}
				if r.OK {
					mu.Lock()
					waits = append(waits, r.Wait)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	sort.Slice(waits, func(i, j int) bool { return waits[i] < waits[j] })
	// 10/s with no burst, up to 1 s ahead: the instants 0, 100 ms … 1 s, whoever asked.
	require.Len(t, waits, 11)
	for i, w := range waits {
		require.Equal(t, time.Duration(i)*100*time.Millisecond, w, "reservation %d", i)
	}
	r, err := replicas[0].Reserve(ctx, time.Second, []ratelimit.Check{number}, nil)
	require.NoError(t, err)
	require.False(t, r.OK, "refused: nothing consumed by the 19 refusals")
	require.Equal(t, 1100*time.Millisecond, r.Wait)
	require.Equal(t, number.Key, r.Key)

	// A pair bucket of 3 every 6 s: three at once, the fourth 6 s on; all or nothing with the number.
	pair := ratelimit.Check{Key: "test:pair:" + uuid.NewString(), Rule: config.Rate{N: 3, Per: 18 * time.Second}}
	other := ratelimit.Check{Key: "test:number:" + uuid.NewString(), Rule: config.Rate{N: 1, Per: 100 * time.Millisecond}}
	for i := range 3 {
		r, err := replicas[i%2].Reserve(ctx, time.Second, []ratelimit.Check{pair, other}, nil)
		require.NoError(t, err)
		require.True(t, r.OK)
		require.Equal(t, time.Duration(i)*100*time.Millisecond, r.Wait, "the number bucket spaces the burst")
	}
	r, err = replicas[0].Reserve(ctx, time.Second, []ratelimit.Check{pair, other}, nil)
	require.NoError(t, err)
	require.False(t, r.OK)
	require.Equal(t, pair.Key, r.Key)

	// A provider's retry_after marked by one replica holds the other's reservations back.
	block := "test:block:" + uuid.NewString()
	fresh := ratelimit.Check{Key: "test:number:" + uuid.NewString(), Rule: config.Rate{N: 1, Per: 100 * time.Millisecond}}
	require.NoError(t, replicas[0].Mark(ctx, block, 500*time.Millisecond))
	r, err = replicas[1].Reserve(ctx, time.Second, []ratelimit.Check{fresh}, []string{block})
	require.NoError(t, err)
	require.True(t, r.OK)
	require.Equal(t, 500*time.Millisecond, r.Wait)
	require.Equal(t, block, r.Key)
	r, err = replicas[1].Reserve(ctx, 100*time.Millisecond, []ratelimit.Check{fresh}, []string{block})
	require.NoError(t, err)
	require.False(t, r.OK, "blocked beyond maxWait")
	until, key, err := replicas[1].MarkedUntil(ctx, "test:none", block)
	require.NoError(t, err)
	require.Equal(t, block, key)
	require.WithinDuration(t, clk.Now().Add(500*time.Millisecond), until, time.Millisecond)
}
