package llm

import (
	"slices"
	"sync"
	"time"
)

// ClassStats is what one priority class's calls saw in this process: counts, and the queue wait
// and time to first token of the latest calls (up to sampleSize of them).
type ClassStats struct {
	Class                        Class
	Calls, Failed                int64
	Waiting                      int // calls waiting for a slot now
	QueuedP50, QueuedP95         time.Duration
	FirstTokenP50, FirstTokenP95 time.Duration // streamed chats only
}

const sampleSize = 2048

type ring struct {
	buf  []time.Duration
	next int
}

func (r *ring) add(d time.Duration) {
	if len(r.buf) < sampleSize {
		r.buf = append(r.buf, d)
		return
	}
	r.buf[r.next] = d
	r.next = (r.next + 1) % sampleSize
}

func (r *ring) quantiles() (p50, p95 time.Duration) {
	if len(r.buf) == 0 {
		return 0, 0
	}
	s := slices.Clone(r.buf)
	slices.Sort(s)
	return s[len(s)*50/100], s[min(len(s)*95/100, len(s)-1)]
}

type classStats struct {
	mu     sync.Mutex
	calls  [numClasses]int64
	failed [numClasses]int64
	queued [numClasses]ring
	ttft   [numClasses]ring
}

func (s *classStats) record(c Class, u *Usage, err error) {
	if c < 0 || c >= numClasses {
		c = Live
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[c]++
	if err != nil {
		s.failed[c]++
	}
	s.queued[c].add(u.Queued)
	if u.FirstToken > 0 {
		s.ttft[c].add(u.FirstToken)
	}
}

// ClassStats returns per-class figures, highest priority first.
func (p *Pool) ClassStats() []ClassStats {
	var waiting [numClasses]int
	p.sched.mu.Lock()
	for _, w := range p.sched.waiting {
		waiting[w.work.Class]++
	}
	p.sched.mu.Unlock()
	s := &p.stats
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ClassStats, 0, numClasses)
	for _, c := range Classes {
		cs := ClassStats{Class: c, Calls: s.calls[c], Failed: s.failed[c], Waiting: waiting[c]}
		cs.QueuedP50, cs.QueuedP95 = s.queued[c].quantiles()
		cs.FirstTokenP50, cs.FirstTokenP95 = s.ttft[c].quantiles()
		out = append(out, cs)
	}
	return out
}
