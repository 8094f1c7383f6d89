// Package analytics keeps the analytics rollups (issue 12, migrations 0017, 0027 and 0030) off the
// turn path: a message's write only queues it (analytics_queue, in the writing transaction);
// Apply moves queued messages into the rollups in batches, each batch in one transaction that
// also deletes its queue rows, so every message is counted exactly once whether the worker
// runs, dies mid-batch (the batch rolls back and is taken again) or several replicas run it.
// The analytics API applies the creator's queue before it reads, so its figures include every
// message committed before the request; the Worker keeps the queues short in between.
package analytics

import (
	"context"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/internal/db"
)

// Batch is how many queued messages one transaction applies.
const Batch = 5000

// Apply moves every message of the creator queued before it started into the rollups, Batch
// at a time, and returns how many it applied.
func Apply(ctx context.Context, store *db.Store, creator uuid.UUID) (int, error) {
	total := 0
	for {
		var n int32
		err := store.InTenant(ctx, creator, func(q *db.Queries) error {
			var err error
			n, err = q.AnalyticsApply(ctx, db.AnalyticsApplyParams{CreatorID: creator, MaxRows: Batch})
			return err
		})
		total += int(n)
		if err != nil || n < Batch {
			return total, err
		}
	}
}

// Worker applies every creator's queue every Interval (default 2 s: since migration 0030 a batch
// of 340 turns costs PostgreSQL about 0.2 ms per turn, docs/analytics.md; the analytics API
// applies the queue before it reads, so a longer interval never shows older figures).
type Worker struct {
	Store    *db.Store
	Log      *slog.Logger
	Interval time.Duration
}

// Run applies the queues until ctx ends.
func (w *Worker) Run(ctx context.Context) {
	every := w.Interval
	if every <= 0 {
		every = 2 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := w.RunOnce(ctx); err != nil && ctx.Err() == nil && w.Log != nil {
			w.Log.Warn("analytics rollups: a pass failed; the next one retries", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RunOnce applies the queue of every creator that has one and returns how many messages it
// applied.
func (w *Worker) RunOnce(ctx context.Context) (int, error) {
	var creators []uuid.UUID
	if err := w.Store.Global(ctx, func(q *db.Queries) error {
		var err error
		creators, err = q.AnalyticsQueuedCreators(ctx, 1000)
		return err
	}); err != nil {
		return 0, err
	}
	total := 0
	var first error
	for _, c := range creators {
		n, err := Apply(ctx, w.Store, c)
		total += n
		if err != nil && first == nil {
			first = err
		}
	}
	return total, first
}
