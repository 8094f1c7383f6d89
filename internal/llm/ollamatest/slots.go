package ollamatest

import (
	"context"
	"slices"
	"sync"
	"time"
)

// slots is the server's generation slots (OLLAMA_NUM_PARALLEL): at most limit holders at once
// (0: unlimited), the others wait in arrival order, as in Ollama's queue. A waiter whose context
// ends leaves the queue. No goroutine or timer of its own: a release hands the slot to the first
// waiter directly.
type slots struct {
	mu       sync.Mutex
	limit    int
	inflight int
	max      int
	waiting  []*waiter
}

type waiter struct {
	ready   chan struct{}
	granted bool // set under mu before ready is closed
}

// acquire takes a slot, waiting in line while none is free; false when ctx ended first (the
// request then holds no slot).
func (q *slots) acquire(ctx context.Context) bool {
	q.mu.Lock()
	if len(q.waiting) == 0 && q.free() {
		q.take()
		q.mu.Unlock()
		return true
	}
	w := &waiter{ready: make(chan struct{})}
	q.waiting = append(q.waiting, w)
	q.mu.Unlock()
	select {
	case <-w.ready:
		return true
	case <-ctx.Done():
		q.mu.Lock()
		if w.granted { // handed a slot just as the client left: pass it on
			q.mu.Unlock()
			q.release()
			return false
		}
		if i := slices.Index(q.waiting, w); i >= 0 {
			q.waiting = slices.Delete(q.waiting, i, i+1)
		}
		q.mu.Unlock()
		return false
	}
}

func (q *slots) free() bool { return q.limit <= 0 || q.inflight < q.limit }

func (q *slots) take() {
	q.inflight++
	q.max = max(q.max, q.inflight)
}

// grant hands free slots to the waiters in order; q.mu is held.
func (q *slots) grant() {
	for len(q.waiting) > 0 && q.free() {
		w := q.waiting[0]
		q.waiting[0] = nil
		q.waiting = q.waiting[1:]
		w.granted = true
		q.take()
		close(w.ready)
	}
}

func (q *slots) release() {
	q.mu.Lock()
	q.inflight--
	q.grant()
	q.mu.Unlock()
}

func (q *slots) setLimit(n int) {
	q.mu.Lock()
	q.limit = n
	q.grant()
	q.mu.Unlock()
}

// counts returns the slots in use, the most seen in use at once, and the requests waiting.
func (q *slots) counts() (inflight, most, queued int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.inflight, q.max, len(q.waiting)
}

// sleepUntil waits until t or until ctx ends (false). It uses one timer, no polling.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	return sleep(ctx, d)
}

// sleep waits d or until ctx ends (false).
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		return false
	}
}
