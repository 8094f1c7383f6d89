// Package ratelimit keeps coachwire's request limits in PostgreSQL, so that every gateway
// replica enforces one budget: a limit counted per process gives an attacker one budget per
// replica, and one per socket one budget per socket.
//
// Rates are limited with GCRA, the generic cell rate algorithm (the token bucket expressed as one
// timestamp per key, as in redis-cell and throttled): a key's state is its theoretical arrival
// time (TAT); a request at now is allowed when max(TAT, now) - now ≤ (burst-1)·interval, and then
// moves TAT on by one interval. A check of several keys is all-or-nothing: the rows are locked in
// one transaction (in key order, so concurrent checks cannot deadlock), and a refused request
// consumes nothing. Keys are stored as SHA-256 digests.
//
// Why PostgreSQL rather than a NATS JetStream KV bucket: the check is a read-modify-write of
// several keys that must be atomic together; PostgreSQL gives row locks and transactions for
// that (a check is one statement, one round trip), while KV offers only per-key
// compare-and-swap (retry loops under contention, no multi-key atomicity) and no way to count a
// session's live sockets without listing keys. Every gateway already holds a PostgreSQL pool.
//
// Time is the caller's clock (replicas are assumed NTP-synchronised; skew of a second shifts a
// bucket by that much, never more).
package ratelimit

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/coachwire/coachwire/internal/config"
	"github.com/coachwire/coachwire/internal/db"
)

// Rule is N requests per Per with bursts of up to N: GCRA with an emission interval of Per/N and
// a burst tolerance of N-1 intervals. A Rule that is Off never limits.
type Rule = config.Rate

func interval(r Rule) time.Duration { return r.Per / time.Duration(r.N) }

// Check is one key to count a request against, under a rule.
type Check struct {
	Key  string
	Rule Rule
}

// Decision is the outcome of Allow. RetryAfter is how long until the request would be allowed
// (zero when Allowed); Key names the refusing check.
type Decision struct {
	Allowed    bool
	RetryAfter time.Duration
	Key        string
}

// Limiter counts requests in PostgreSQL. It is safe for concurrent use.
type Limiter struct {
	store     *db.Store
	now       func() time.Time
	lastSweep atomic.Int64
}

// New builds a limiter over store; now is the clock (nil: time.Now).
func New(store *db.Store, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{store: store, now: now}
}

// digest is the stored form of a key.
func digest(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}

var errRefused = errors.New("ratelimit: refused")

// Allow counts one request against every check, or against none when any refuses. Checks with
// an Off rule or an empty key are skipped; two checks of one key are not allowed.
func (l *Limiter) Allow(ctx context.Context, checks ...Check) (Decision, error) {
	type item struct {
		check  Check
		digest []byte
	}
	var items []item
	for _, c := range checks {
		if c.Rule.Off() || c.Key == "" {
			continue
		}
		items = append(items, item{c, digest(c.Key)})
	}
	if len(items) == 0 {
		return Decision{Allowed: true}, nil
	}
	items, keys := byDigest(items, func(it item) []byte { return it.digest })
	now := l.now()
	ivs, tols := make([]int64, len(items)), make([]int64, len(items))
	for i, it := range items {
		t := interval(it.check.Rule)
		ivs[i], tols[i] = t.Microseconds(), (t * time.Duration(it.check.Rule.N-1)).Microseconds()
	}
	// One statement, committed on its own, one round trip: rate_limit_allow (migration 0031)
	// locks the buckets in key order, creating missing ones full, and applies GCRA to each at
	// now (TAT' = max(TAT, now); allowed when TAT' - now <= tolerance, then TAT = TAT' +
	// interval), moving every TAT or none.
	var res db.AllowRateLimitsRow
	err := l.store.Autocommit(ctx, func(q *db.Queries) error {
		var err error
		res, err = q.AllowRateLimits(ctx, db.AllowRateLimitsParams{Keys: keys, IntervalsUs: ivs, TolerancesUs: tols, Now: now})
		return err
	})
	if err != nil {
		return Decision{}, fmt.Errorf("ratelimit: %w", err)
	}
	if res.Refused > 0 {
		return Decision{RetryAfter: time.Duration(res.WaitUs) * time.Microsecond, Key: items[res.Refused-1].check.Key}, nil
	}
	l.maybeSweep(ctx, now)
	return Decision{Allowed: true}, nil
}

// Mark records that key holds until now+ttl (or later, when marked so before).
func (l *Limiter) Mark(ctx context.Context, key string, ttl time.Duration) error {
	err := l.store.Global(ctx, func(q *db.Queries) error {
		return q.MarkRateLimit(ctx, db.MarkRateLimitParams{Key: digest(key), Tat: l.now().Add(ttl)})
	})
	if err != nil {
		return fmt.Errorf("ratelimit: mark: %w", err)
	}
	return nil
}

// Marked reports whether key was marked and has not expired.
func (l *Limiter) Marked(ctx context.Context, key string) (bool, error) {
	var until time.Time
	err := l.store.Global(ctx, func(q *db.Queries) error {
		var err error
		until, err = q.RateLimitTat(ctx, digest(key))
		return err
	})
	if db.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("ratelimit: marked: %w", err)
	}
	return until.After(l.now()), nil
}

// sweepEvery is how often a process deletes full buckets (rows whose TAT has passed).
const sweepEvery = time.Minute

func (l *Limiter) maybeSweep(ctx context.Context, now time.Time) {
	last := l.lastSweep.Load()
	if now.UnixNano()-last < int64(sweepEvery) || !l.lastSweep.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	// Off the request's path: the request that happens to trigger the sweep does not wait for it.
	go func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = l.store.Global(ctx, func(q *db.Queries) error {
			_, err := q.SweepRateLimits(ctx, now)
			return err
		})
	}()
}

// byDigest sorts items by their key digest and drops repeats: the rows are then locked in one
// order by every caller (no deadlock between two requests sharing keys). keys are the digests.
func byDigest[T any](items []T, digest func(T) []byte) ([]T, [][]byte) {
	slices.SortFunc(items, func(a, b T) int { return slices.Compare(digest(a), digest(b)) })
	items = slices.CompactFunc(items, func(a, b T) bool { return slices.Equal(digest(a), digest(b)) })
	keys := make([][]byte, len(items))
	for i, it := range items {
		keys[i] = digest(it)
	}
	return items, keys
}

// lockBuckets locks the rows of keys (in their order, creating missing ones empty) for the rest
// of the transaction, which commits without waiting for its WAL flush: a bucket lost in a crash
// only forgets a few recent requests.
func lockBuckets(ctx context.Context, q *db.Queries, keys [][]byte) ([]db.RateLimit, error) {
	if err := q.AsyncCommit(ctx); err != nil {
		return nil, err
	}
	return q.LockRateLimits(ctx, db.LockRateLimitsParams{Keys: keys, Empty: time.Unix(0, 0)})
}
