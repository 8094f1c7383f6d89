package ratelimit_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/config"
	"github.com/coachwire/coachwire/internal/ratelimit"
	"github.com/coachwire/coachwire/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newClock() *clock { return &clock{t: time.Now().Truncate(time.Second)} }

// TestGCRA: a rule allows its burst, then one request per interval, with the exact wait; a
// check of several keys is all or nothing.
func TestGCRA(t *testing.T) {
	t.Parallel()
	clk := newClock()
	l := ratelimit.New(testenv.Store(t), clk.Now)
	ctx := context.Background()
	key := "test:" + uuid.NewString()
	rule := config.Rate{N: 5, Per: 10 * time.Second}
	for i := range 5 {
		d, err := l.Allow(ctx, ratelimit.Check{Key: key, Rule: rule})
		require.NoError(t, err)
		require.True(t, d.Allowed, "request %d of the burst", i+1)
	}
	d, err := l.Allow(ctx, ratelimit.Check{Key: key, Rule: rule})
	require.NoError(t, err)
	require.False(t, d.Allowed)
	require.Equal(t, 2*time.Second, d.RetryAfter)
	require.Equal(t, key, d.Key)

	clk.Add(time.Second) // half an interval: still refused
	d, err = l.Allow(ctx, ratelimit.Check{Key: key, Rule: rule})
	require.NoError(t, err)
	require.Equal(t, time.Second, d.RetryAfter)
	clk.Add(time.Second)
	d, err = l.Allow(ctx, ratelimit.Check{Key: key, Rule: rule})
	require.NoError(t, err)
	require.True(t, d.Allowed, "one interval later one more request")

	// All or nothing: a refused key leaves the other key's budget untouched.
	other := "test:" + uuid.NewString()
	for range 3 {
		d, err = l.Allow(ctx, ratelimit.Check{Key: key, Rule: rule}, ratelimit.Check{Key: other, Rule: config.Rate{N: 1, Per: time.Hour}})
		require.NoError(t, err)
		require.False(t, d.Allowed)
	}
	d, err = l.Allow(ctx, ratelimit.Check{Key: other, Rule: config.Rate{N: 1, Per: time.Hour}})
	require.NoError(t, err)
	require.True(t, d.Allowed, "a refused check consumed the other key's budget")

	// Off rules and empty keys never limit.
	for range 10 {
		d, err = l.Allow(ctx, ratelimit.Check{Key: key, Rule: config.Rate{N: -1}}, ratelimit.Check{Rule: rule})
		require.NoError(t, err)
		require.True(t, d.Allowed)
	}
}

// TestGCRAAcrossReplicas: two limiters on two pools (two gateway replicas) hammered at once
// share one budget exactly.
func TestGCRAAcrossReplicas(t *testing.T) {
	t.Parallel()
	clk := newClock()
	a := ratelimit.New(testenv.Store(t), clk.Now)
	b := ratelimit.New(testenv.Store(t), clk.Now)
	key := "test:" + uuid.NewString()
	rule := config.Rate{N: 7, Per: time.Hour}
	var allowed atomic.Int32
	var wg sync.WaitGroup
	for i := range 60 {
		l := a
		if i%2 == 1 {
			l = b
		}
		wg.Go(func() {
			d, err := l.Allow(context.Background(), ratelimit.Check{Key: key, Rule: rule},
				ratelimit.Check{Key: key + ":second", Rule: config.Rate{N: 1000, Per: time.Hour}})
			if err != nil {
				t.Error(err)
				return
			}
			if d.Allowed {
				allowed.Add(1)
			}
		})
	}
	wg.Wait()
	require.EqualValues(t, 7, allowed.Load())
}

func TestMarks(t *testing.T) {
	t.Parallel()
	clk := newClock()
	l := ratelimit.New(testenv.Store(t), clk.Now)
	ctx := context.Background()
	key := "mark:" + uuid.NewString()
	ok, err := l.Marked(ctx, key)
	require.NoError(t, err)
	require.False(t, ok)
	require.NoError(t, l.Mark(ctx, key, time.Hour))
	ok, err = l.Marked(ctx, key)
	require.NoError(t, err)
	require.True(t, ok)
	clk.Add(time.Hour + time.Second)
	ok, err = l.Marked(ctx, key)
	require.NoError(t, err)
	require.False(t, ok, "a mark outlived its ttl")
}

// TestSocketCap: two holders (replicas) share a session's cap; a released place is free again;
// a holder that closes or stops renewing stops counting.
func TestSocketCap(t *testing.T) {
	t.Parallel()
	clk := newClock()
	a := ratelimit.NewSockets(testenv.Store(t), clk.Now, testenv.Logger(t), time.Minute)
	b := ratelimit.NewSockets(testenv.Store(t), clk.Now, testenv.Logger(t), time.Minute)
	ctx := context.Background()
	session := "s:" + uuid.NewString()
	var releases []func()
	for i := range 4 {
		h := a
		if i%2 == 1 {
			h = b
		}
		rel, ok, err := h.Acquire(ctx, session, 4)
		require.NoError(t, err)
		require.True(t, ok, "place %d", i+1)
		releases = append(releases, rel)
	}
	for _, h := range []*ratelimit.Sockets{a, b} {
		_, ok, err := h.Acquire(ctx, session, 4)
		require.NoError(t, err)
		require.False(t, ok, "a fifth socket")
	}
	releases[0]()
	releases[0]() // twice is once
	rel, ok, err := b.Acquire(ctx, session, 4)
	require.NoError(t, err)
	require.True(t, ok, "a released place")
	_ = rel

	// Holder a closes (replica shut down): its one remaining socket stops counting.
	require.NoError(t, a.Close(ctx))
	_, ok, err = b.Acquire(ctx, session, 4)
	require.NoError(t, err)
	require.True(t, ok, "a closed holder's socket still counted")

	// Holder b dies without closing: after its lease its sockets stop counting for c.
	c := ratelimit.NewSockets(testenv.Store(t), clk.Now, testenv.Logger(t), time.Minute)
	defer c.Close(ctx)
	_, ok, err = c.Acquire(ctx, session, 4)
	require.NoError(t, err)
	require.False(t, ok, "b's four sockets are live")
	clk.Add(2 * time.Minute)
	_, ok, err = c.Acquire(ctx, session, 4)
	require.NoError(t, err)
	require.True(t, ok, "a dead holder's sockets still counted")
}

// BenchmarkAllow is the cost of one widget message's shared check (a conversation and an end
// user, one transaction).
func BenchmarkAllow(b *testing.B) {
	l := ratelimit.New(testenv.Store(b), nil)
	ctx := context.Background()
	conv, user := "bench:c:"+uuid.NewString(), "bench:u:"+uuid.NewString()
	rule := config.Rate{N: 1 << 30, Per: time.Hour}
	b.ResetTimer()
	for b.Loop() {
		if _, err := l.Allow(ctx, ratelimit.Check{Key: conv, Rule: rule}, ratelimit.Check{Key: user, Rule: rule}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSocketAcquire is the cost of taking and giving back a socket place.
func BenchmarkSocketAcquire(b *testing.B) {
	s := ratelimit.NewSockets(testenv.Store(b), nil, nil, 0)
	defer s.Close(context.Background())
	ctx := context.Background()
	session := "bench:s:" + uuid.NewString()
	b.ResetTimer()
	for b.Loop() {
		release, ok, err := s.Acquire(ctx, session, 10)
		if err != nil || !ok {
			b.Fatal(ok, err)
		}
		release()
	}
}
