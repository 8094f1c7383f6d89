package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/internal/db"
)

// Sockets caps the concurrent sockets of a session across replicas. Each process is a holder:
// it renews its row in socket_holders every HolderTTL/3 while it holds sockets, and a lease
// counts only while its holder's row is fresh, so a replica that dies frees its sessions'
// places after HolderTTL.
type Sockets struct {
	store *db.Store
	now   func() time.Time
	log   *slog.Logger
	ttl   time.Duration
	id    uuid.UUID

	mu      sync.Mutex
	live    int
	beatAt  time.Time
	pending []uuid.UUID // releases that failed, retried at the next beat
	stop    chan struct{}
	ticking bool
	closed  bool
}

// DefaultHolderTTL is how long a holder's sockets count after its last renewal.
const DefaultHolderTTL = 30 * time.Second

// NewSockets builds a holder. ttl ≤ 0 takes DefaultHolderTTL.
func NewSockets(store *db.Store, now func() time.Time, log *slog.Logger, ttl time.Duration) *Sockets {
	if now == nil {
		now = time.Now
	}
	if ttl <= 0 {
		ttl = DefaultHolderTTL
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Sockets{store: store, now: now, log: log, ttl: ttl, id: uuid.New(), stop: make(chan struct{})}
}

// Acquire takes one of max places of session. ok false means the session has max sockets
// already; release frees the place (call it once, when the socket ends).
func (s *Sockets) Acquire(ctx context.Context, session string, max int) (release func(), ok bool, err error) {
	if max <= 0 {
		return func() {}, true, nil
	}
	if err := s.beat(ctx, false); err != nil {
		return nil, false, err
	}
	key := sha256.Sum256([]byte(session))
	lock := int64(binary.BigEndian.Uint64(key[:8]))
	id := uuid.New()
	now := s.now()
	err = s.store.Global(ctx, func(q *db.Queries) error {
		if err := q.AsyncCommit(ctx); err != nil {
			return err
		}
		if err := q.LockSocketSession(ctx, lock); err != nil {
			return err
		}
		if err := q.DropDeadSocketLeases(ctx, db.DropDeadSocketLeasesParams{Session: key[:], Now: now}); err != nil {
			return err
		}
		n, err := q.CountSocketLeases(ctx, key[:])
		if err != nil {
			return err
		}
		if n >= int64(max) {
			return nil
		}
		ok = true
		return q.InsertSocketLease(ctx, db.InsertSocketLeaseParams{ID: id, Session: key[:], Holder: s.id})
	})
	if err != nil {
		return nil, false, fmt.Errorf("ratelimit: socket lease: %w", err)
	}
	if !ok {
		return nil, false, nil
	}
	s.mu.Lock()
	s.live++
	if !s.ticking && !s.closed {
		s.ticking = true
		go s.tick()
	}
	s.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { s.release(id) }) }, true, nil
}

func (s *Sockets) release(id uuid.UUID) {
	s.mu.Lock()
	s.live--
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.store.Global(ctx, func(q *db.Queries) error { return q.DeleteSocketLeases(ctx, []uuid.UUID{id}) })
	if err != nil {
		s.log.Warn("socket lease not released; retried at the next renewal", "err", err)
		s.mu.Lock()
		s.pending = append(s.pending, id)
		s.mu.Unlock()
	}
}

// beat renews the holder row when a third of its lease has passed (always when force).
func (s *Sockets) beat(ctx context.Context, force bool) error {
	now := s.now()
	s.mu.Lock()
	due := force || now.Sub(s.beatAt) >= s.ttl/3
	pending := s.pending
	s.pending = nil
	s.mu.Unlock()
	if !due && len(pending) == 0 {
		return nil
	}
	err := s.store.Global(ctx, func(q *db.Queries) error {
		if due {
			if err := q.BeatSocketHolder(ctx, db.BeatSocketHolderParams{Holder: s.id, ExpiresAt: now.Add(s.ttl)}); err != nil {
				return err
			}
		}
		if len(pending) > 0 {
			return q.DeleteSocketLeases(ctx, pending)
		}
		return nil
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.pending = append(s.pending, pending...)
		return fmt.Errorf("ratelimit: renew socket holder: %w", err)
	}
	if due {
		s.beatAt = now
	}
	return nil
}

// tick renews the holder while it has sockets, and sweeps long-dead holders.
func (s *Sockets) tick() {
	t := time.NewTicker(s.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.ttl/3)
		if err := s.beat(ctx, true); err != nil {
			s.log.Warn("socket holder not renewed", "err", err)
		}
		_ = s.store.Global(ctx, func(q *db.Queries) error { return q.SweepSocketHolders(ctx, s.now().Add(-time.Hour)) })
		cancel()
		s.mu.Lock()
		idle := s.live == 0 && len(s.pending) == 0
		if idle {
			s.ticking = false
		}
		s.mu.Unlock()
		if idle {
			return
		}
	}
}

// Close stops renewing and deletes the holder: its sockets stop counting at once. Call it when
// the process's sockets are closed.
func (s *Sockets) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.stop)
	s.mu.Unlock()
	return s.store.Global(ctx, func(q *db.Queries) error { return q.DeleteSocketHolder(ctx, s.id) })
}
