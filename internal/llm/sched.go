package llm

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
)

// The scheduler hands out the servers' slots. A call asks for a slot for a model and waits in
// line; whenever a slot frees (or a call arrives, or a server comes back) the waiting calls are
// served in this order:
//
//  1. class, live replies first (Live < LiveEmbed < Memory < IngestEmbed < Nudge), after aging:
//     a call that has waited k×Aging counts as k classes higher, so a low class runs on spare
//     capacity and is never starved forever;
//  2. inside a class, start-time fair queueing between creators: a call's start tag is the later
//     of the class's virtual time and its creator's last finish tag, and a creator's finish tag
//     moves by 1/weight per call, so creators with calls waiting take turns in proportion to
//     their weights however many calls each has queued (a 10,000-message campaign is one turn per
//     round, like a single live reply);
//  3. arrival.
//
// A call is never given a slot its creator's cap in its class forbids. The slot goes to the
// least loaded server (in-flight calls of the model / slots) that is up and has the model. Slots
// are per model, as Ollama's OLLAMA_NUM_PARALLEL is: the chat model and the embedding model of a
// server each run that many calls at once, so a live query's embedding never waits for a slot a
// generation holds (and never hands one to a waiting nudge).
type scheduler struct {
	mu      sync.Mutex
	servers []*backend
	opts    PoolOptions
	waiting []*waiter
	seq     uint64
	vtime   [numClasses]float64
	finish  [numClasses]map[uuid.UUID]float64
	running [numClasses]map[uuid.UUID]int
	rr      int
}

type waiter struct {
	work     Work
	model    string
	avoid    *backend // the server that just failed this call: another one if possible
	enq      time.Time
	start    float64
	seq      uint64
	promoted bool
	ready    chan grant
}

type grant struct {
	b   *backend
	err error
}

func newScheduler(servers []*backend, opts PoolOptions) *scheduler {
	s := &scheduler{servers: servers, opts: opts}
	for c := range s.finish {
		s.finish[c] = map[uuid.UUID]float64{}
		s.running[c] = map[uuid.UUID]int{}
	}
	return s
}

func (s *scheduler) weight(c uuid.UUID) float64 {
	if s.opts.Weight != nil {
		if w := s.opts.Weight(c); w > 0 {
			return w
		}
	}
	return 1
}

// acquire waits for a slot on a server that has model. It fails at once with ErrModelNotFound
// when no server has the model (as far as known: a server that is out and never answered may
// have it, and is tried when no server that is up has the model).
func (s *scheduler) acquire(ctx context.Context, w Work, model string, avoid *backend) (*backend, error) {
	if w.Class < 0 || w.Class >= numClasses {
		w.Class = Live
	}
	s.mu.Lock()
	if err := s.servable(model); err != nil {
		s.mu.Unlock()
		return nil, err
	}
	cl := w.Class
	start := max(s.vtime[cl], s.finish[cl][w.Creator])
	s.finish[cl][w.Creator] = start + 1/s.weight(w.Creator)
	s.seq++
	wt := &waiter{work: w, model: model, avoid: avoid, enq: s.opts.Clock.Now(), start: start, seq: s.seq, ready: make(chan grant, 1)}
	s.waiting = append(s.waiting, wt)
	s.dispatch()
	s.mu.Unlock()

	select {
	case g := <-wt.ready:
		return g.b, g.err
	case <-ctx.Done():
		s.mu.Lock()
		if i := slices.Index(s.waiting, wt); i >= 0 {
			s.waiting = slices.Delete(s.waiting, i, i+1)
			s.mu.Unlock()
			return nil, ctx.Err()
		}
		s.mu.Unlock()
		// Granted meanwhile: give the slot back.
		if g := <-wt.ready; g.b != nil {
			s.release(g.b, w, model)
		}
		return nil, ctx.Err()
	}
}

// servable reports why model cannot be served (nil when a server that is up has it, or a
// server that is out may have it). Called with s.mu held.
func (s *scheduler) servable(model string) error {
	for _, b := range s.servers {
		if has, _ := b.has(model); has {
			return nil
		}
	}
	return &Error{Op: "schedule", Model: model, Kind: ErrModelNotFound, Err: errNotOnAnyServer}
}

// upHas reports whether a server that is up has model. Called with s.mu held.
func (s *scheduler) upHas(model string) bool {
	for _, b := range s.servers {
		if has, up := b.has(model); has && up {
			return true
		}
	}
	return false
}

// release gives back the slot of a call of w for model on b.
func (s *scheduler) release(b *backend, w Work, model string) {
	s.mu.Lock()
	b.give(model)
	cl := w.Class
	if cl < 0 || cl >= numClasses {
		cl = Live
	}
	if n := s.running[cl][w.Creator] - 1; n > 0 {
		s.running[cl][w.Creator] = n
	} else {
		delete(s.running[cl], w.Creator)
	}
	if len(s.finish[cl]) > 1024 {
		// A creator whose finish tag the class's virtual time has passed starts from the
		// virtual time anyway: forget it.
		for c, f := range s.finish[cl] {
			if f <= s.vtime[cl] {
				delete(s.finish[cl], c)
			}
		}
	}
	s.dispatch()
	s.mu.Unlock()
}

// wake re-runs the dispatch (a server came back or lost a model).
func (s *scheduler) wake() {
	s.mu.Lock()
	s.dispatch()
	s.mu.Unlock()
}

// dispatch grants free slots to waiting calls in order and fails the calls no server can serve
// any more. Called with s.mu held.
func (s *scheduler) dispatch() {
	if len(s.waiting) == 0 {
		return
	}
	now := s.opts.Clock.Now()
	eff := func(w *waiter) Class {
		k := Class(0)
		if s.opts.Aging > 0 {
			k = Class(now.Sub(w.enq) / s.opts.Aging)
		}
		w.promoted = k > 0 && w.work.Class > 0
		return max(w.work.Class-k, 0)
	}
	slices.SortFunc(s.waiting, func(a, b *waiter) int {
		ea, eb := eff(a), eff(b)
		if ea != eb {
			return int(ea - eb)
		}
		// Promoted calls go first in their new class, oldest first: start tags of different
		// classes do not compare.
		if a.promoted != b.promoted {
			if a.promoted {
				return -1
			}
			return 1
		}
		if a.promoted && !a.enq.Equal(b.enq) {
			return a.enq.Compare(b.enq)
		}
		if a.work.Class == b.work.Class && a.start != b.start {
			if a.start < b.start {
				return -1
			}
			return 1
		}
		if a.seq < b.seq {
			return -1
		}
		return 1
	})
	kept := s.waiting[:0]
	for _, w := range s.waiting {
		if err := s.servable(w.model); err != nil {
			w.ready <- grant{err: err}
			continue
		}
		cl := w.work.Class
		if limit := s.opts.CreatorCap[cl]; limit > 0 && s.running[cl][w.work.Creator] >= limit {
			kept = append(kept, w)
			continue
		}
		b := s.pick(w.model, w.avoid)
		if b == nil {
			kept = append(kept, w)
			continue
		}
		b.take(w.model)
		s.running[cl][w.work.Creator]++
		s.vtime[cl] = max(s.vtime[cl], w.start)
		w.ready <- grant{b: b}
	}
	clear(s.waiting[len(kept):])
	s.waiting = kept
}

// pick returns the least loaded server that is up, has model and a free slot (avoid only when it
// is the only one). When no server that is up has the model, the servers that are out and may
// have it are tried instead: a call does not fail without asking a server. Called with s.mu held.
func (s *scheduler) pick(model string, avoid *backend) *backend {
	out := !s.upHas(model)
	var best *backend
	var bestLoad float64
	n := len(s.servers)
	s.rr++
	for i := range n {
		b := s.servers[(s.rr+i)%n]
		load, ok := b.free(model, out)
		if !ok {
			continue
		}
		if b == avoid {
			load += 1e6 // last resort
		}
		if best == nil || load < bestLoad {
			best, bestLoad = b, load
		}
	}
	return best
}
