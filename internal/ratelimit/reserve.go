package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/coachwire/coachwire/internal/db"
)

// Reservation is the outcome of Reserve: when OK, the caller may act after Wait (its place in
// every bucket is taken); otherwise nothing was consumed and Wait is how long until the checks
// would allow it, Key the check (or block) that is furthest off.
type Reservation struct {
	OK   bool
	Wait time.Duration
	Key  string
}

// Reserve takes one request's place in every check's bucket at the earliest instant all of
// them allow it and no block key is still marked (Mark): the same GCRA as Allow, but a request
// that must wait up to maxWait is not refused, it is scheduled (the buckets' TATs move past its
// instant, so concurrent callers, in any process, are spaced one emission interval apart as a
// single golang.org/x/time/rate limiter would space them in one process). A wait beyond maxWait
// consumes nothing. This is how dispatch replicas share a provider's send limit (the limit is
// the provider's, per number or bot, not per replica).
func (l *Limiter) Reserve(ctx context.Context, maxWait time.Duration, checks []Check, blocks []string) (Reservation, error) {
	type item struct {
		key    string
		rule   Rule
		block  bool
		digest []byte
	}
	var items []item
	for _, c := range checks {
		if !c.Rule.Off() && c.Key != "" {
			items = append(items, item{key: c.Key, rule: c.Rule, digest: digest(c.Key)})
		}
	}
	for _, k := range blocks {
		if k != "" {
			items = append(items, item{key: k, block: true, digest: digest(k)})
		}
	}
	if len(items) == 0 {
		return Reservation{OK: true}, nil
	}
	items, keys := byDigest(items, func(it item) []byte { return it.digest })
	var now time.Time
	res := Reservation{OK: true}
	err := l.store.Global(ctx, func(q *db.Queries) error {
		rows, err := lockBuckets(ctx, q, keys)
		if err != nil {
			return err
		}
		// The clock is read once the buckets are locked: a wait for another replica's lock
		// does not make this reservation's instant (and the caller's send) later than it says.
		now = l.now()
		tats := make(map[string]time.Time, len(rows))
		for _, r := range rows {
			tats[string(r.Key)] = r.Tat
		}
		// The instant every bucket allows: TAT - tolerance for a rate, the mark for a block.
		at := now
		for _, it := range items {
			tat := tats[string(it.digest)]
			earliest := tat
			if !it.block {
				t := interval(it.rule)
				earliest = tat.Add(-t * time.Duration(it.rule.N-1))
			}
			if earliest.After(at) {
				at, res.Key = earliest, it.key
			}
		}
		res.Wait = at.Sub(now)
		if res.Wait > maxWait {
			res.OK = false
			return errRefused
		}
		var upd [][]byte
		var next []time.Time
		for _, it := range items {
			if it.block {
				continue
			}
			tat := tats[string(it.digest)]
			if tat.Before(at) {
				tat = at
			}
			upd = append(upd, it.digest)
			next = append(next, tat.Add(interval(it.rule)))
		}
		if len(upd) == 0 {
			return nil
		}
		return q.SetRateLimits(ctx, db.SetRateLimitsParams{Keys: upd, Tats: next})
	})
	switch {
	case errors.Is(err, errRefused):
		return res, nil
	case err != nil:
		return Reservation{}, fmt.Errorf("ratelimit: reserve: %w", err)
	}
	if res.Wait == 0 {
		res.Key = ""
	}
	l.maybeSweep(ctx, now)
	return res, nil
}

// MarkedUntil returns the latest instant any of keys is marked until (Mark), and that key; the
// zero time when none is marked now.
func (l *Limiter) MarkedUntil(ctx context.Context, keys ...string) (time.Time, string, error) {
	var (
		until time.Time
		key   string
	)
	now := l.now()
	err := l.store.Global(ctx, func(q *db.Queries) error {
		for _, k := range keys {
			t, err := q.RateLimitTat(ctx, digest(k))
			if db.IsNotFound(err) {
				continue
			}
			if err != nil {
				return err
			}
			if t.After(now) && t.After(until) {
				until, key = t, k
			}
		}
		return nil
	})
	if err != nil {
		return time.Time{}, "", fmt.Errorf("ratelimit: marked: %w", err)
	}
	return until, key, nil
}
