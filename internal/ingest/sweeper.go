package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/bus"
	"github.com/coachwire/coachwire/internal/db"
)

// Sweeper makes sure no document stays in a processing state forever. On every tick it claims
// documents that have not moved for StuckAfter (across creators, through the SECURITY DEFINER
// function ingest_claim_stuck, which skips rows another replica is claiming) and, inside each
// document's tenant, requeues it — or, after MaxAttempts requeues, marks it failed with the
// reason. Documents being deleted are requeued for deletion without limit. Several replicas
// can run it at once.
type Sweeper struct {
	Store       *db.Store
	Bus         *bus.Bus
	StuckAfter  time.Duration
	Interval    time.Duration
	MaxAttempts int
	// Batch is the most documents claimed per tick (default 100).
	Batch int
	Log   *slog.Logger
	Now   func() time.Time
}

// Run sweeps every Interval until ctx ends.
func (s *Sweeper) Run(ctx context.Context) {
	t := time.NewTicker(s.Interval)
	defer t.Stop()
	for {
		if _, err := s.SweepOnce(ctx); err != nil && ctx.Err() == nil {
			s.Log.Warn("ingest sweep failed", "err", err)
		}
		if _, err := s.WakeWaiting(ctx); err != nil && ctx.Err() == nil {
			s.Log.Warn("waking documents that waited for their embedding budget failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// batchAndClock is the batch size (default 100) and the clock (default time.Now).
func (s *Sweeper) batchAndClock() (int, func() time.Time) {
	batch, now := s.Batch, s.Now
	if batch <= 0 {
		batch = 100
	}
	if now == nil {
		now = time.Now
	}
	return batch, now
}

// SweepOnce claims and handles one batch of stuck documents and returns how many it handled.
func (s *Sweeper) SweepOnce(ctx context.Context) (int, error) {
	batch, now := s.batchAndClock()
	var rows []db.ClaimStuckDocumentsRow
	if err := s.Store.Global(ctx, func(q *db.Queries) (err error) {
		rows, err = q.ClaimStuckDocuments(ctx, db.ClaimStuckDocumentsParams{StaleSeconds: s.StuckAfter.Seconds(), Lim: int32(batch)})
		return err
	}); err != nil {
		return 0, fmt.Errorf("ingest: claim stuck documents: %w", err)
	}
	for _, r := range rows {
		log := s.Log.With("creator_id", r.CreatorID, "document_id", r.DocumentID, "status", r.Status, "attempt", r.Attempts)
		msgID := "sweep:" + r.DocumentID.String() + ":" + strconv.Itoa(int(r.Version)) + ":" + strconv.Itoa(int(r.Attempts))
		action := events.IngestIndex
		switch {
		case r.Status == StatusDeleting:
			action = events.IngestDelete
		case int(r.Attempts) > s.MaxAttempts:
			reason := fmt.Sprintf("indexing did not finish: stuck in %q after %d attempts", r.Status, s.MaxAttempts)
			var n int64
			if err := s.Store.InTenant(ctx, r.CreatorID, func(q *db.Queries) (err error) {
				n, err = q.MarkDocumentFailed(ctx, db.MarkDocumentFailedParams{ID: r.DocumentID, Version: r.Version, Error: reason})
				return err
			}); err != nil {
				log.Warn("stuck document not marked failed", "err", err)
				continue
			}
			if n > 0 {
				log.Warn("stuck document marked failed")
				ev := events.New(r.CreatorID, events.DocumentState{DocumentID: r.DocumentID, Status: StatusFailed, Error: reason}, nil, now())
				_ = bus.PublishEvent(ctx, s.Bus, events.KnowledgeSubject(r.CreatorID), msgID, ev)
			}
			continue
		}
		ev := events.New(r.CreatorID, events.DocumentIngest{DocumentID: r.DocumentID, Action: action, Version: r.Version}, nil, now())
		if err := bus.PublishEvent(ctx, s.Bus, events.IngestSubject(r.CreatorID), msgID, ev); err != nil {
			log.Warn("stuck document not requeued", "err", err)
			continue
		}
		log.Info("stuck document requeued")
	}
	return len(rows), nil
}

// WakeWaiting requeues one batch of documents whose wait for their creator's embedding budget
// is over (the UTC day it waited for has come, by Now) and returns how many it requeued. A
// claimed document is no longer waiting: should its requeue be lost, the stuck sweep covers it.
func (s *Sweeper) WakeWaiting(ctx context.Context) (int, error) {
	batch, now := s.batchAndClock()
	at := now()
	var rows []db.ClaimWaitingDocumentsRow
	if err := s.Store.Global(ctx, func(q *db.Queries) (err error) {
		rows, err = q.ClaimWaitingDocuments(ctx, db.ClaimWaitingDocumentsParams{Now: at, Lim: int32(batch)})
		return err
	}); err != nil {
		return 0, fmt.Errorf("ingest: claim waiting documents: %w", err)
	}
	for _, r := range rows {
		msgID := "wake:" + r.DocumentID.String() + ":" + strconv.Itoa(int(r.Version)) + ":" + strconv.FormatInt(at.UnixNano(), 10)
		ev := events.New(r.CreatorID, events.DocumentIngest{DocumentID: r.DocumentID, Action: events.IngestIndex, Version: r.Version}, nil, at)
		if err := bus.PublishEvent(ctx, s.Bus, events.IngestSubject(r.CreatorID), msgID, ev); err != nil {
			s.Log.Warn("waiting document not requeued", "creator_id", r.CreatorID, "document_id", r.DocumentID, "err", err)
			continue
		}
		s.Log.Info("document requeued: its embedding budget is available again", "creator_id", r.CreatorID, "document_id", r.DocumentID)
	}
	return len(rows), nil
}
