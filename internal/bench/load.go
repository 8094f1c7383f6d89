// Package bench holds coachwire's load benchmarks (turn overhead through the whole system, and
// a bare JetStream chain for comparison) and the small open-loop load driver they share.
//
// Numbers from here go into the team's notes; nothing in this package asserts on timing.
package bench

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Env variables that shape a run.
const (
	EnvRates   = "COACHWIRE_BENCH_RATES"   // comma list of offered rates (ops/s), e.g. 200,400,700
	EnvSeconds = "COACHWIRE_BENCH_SECONDS" // seconds of load per step
)

// DefaultRates are the offered rates stepped through when EnvRates is unset.
var DefaultRates = []float64{200, 400, 700, 1000}

// Settings is what the environment asks of a run.
type Settings struct {
	Rates    []float64
	Duration time.Duration
}

// ReadSettings parses EnvRates and EnvSeconds; bad values are errors, not silently ignored.
// The load is bounded: at most 5000 ops/s and 300 s per step.
func ReadSettings(getenv func(string) string) (Settings, error) {
	s := Settings{Rates: DefaultRates, Duration: 20 * time.Second}
	if v := strings.TrimSpace(getenv(EnvRates)); v != "" {
		s.Rates = nil
		for _, p := range strings.Split(v, ",") {
			r, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
			if err != nil || r <= 0 || r > 5000 {
				return s, fmt.Errorf("%s=%q: want a comma list of rates in (0, 5000]", EnvRates, v)
			}
			s.Rates = append(s.Rates, r)
		}
	}
	if v := strings.TrimSpace(getenv(EnvSeconds)); v != "" {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil || n <= 0 || n > 300 {
			return s, fmt.Errorf("%s=%q: want seconds in (0, 300]", EnvSeconds, v)
		}
		s.Duration = time.Duration(n * float64(time.Second))
	}
	return s, nil
}

// Recorder collects the outcome of every operation of one step. Safe for concurrent use.
type Recorder struct {
	mu        sync.Mutex
	start     time.Time
	latency   []time.Duration // send → completion
	fromSched []time.Duration // scheduled send time → completion (includes the driver's own lag)
	lateness  []time.Duration // actual send − scheduled send
	failed    int
	errs      map[string]int
	last      time.Time
	issued    int
	stages    map[string][]time.Duration
}

// NewRecorder starts a step at start.
func NewRecorder(start time.Time) *Recorder {
	return &Recorder{start: start, errs: map[string]int{}, stages: map[string][]time.Duration{}}
}

// Stage records how long one part of an operation took (for a breakdown of the latency).
func (r *Recorder) Stage(name string, d time.Duration) {
	r.mu.Lock()
	r.stages[name] = append(r.stages[name], d)
	r.mu.Unlock()
}

// Issued counts a sent operation and how late it left against its schedule.
func (r *Recorder) Issued(scheduled, sent time.Time) {
	r.mu.Lock()
	r.issued++
	r.lateness = append(r.lateness, max(0, sent.Sub(scheduled)))
	r.mu.Unlock()
}

// Done records a completed operation.
func (r *Recorder) Done(scheduled, sent, done time.Time) {
	r.mu.Lock()
	r.latency = append(r.latency, done.Sub(sent))
	r.fromSched = append(r.fromSched, done.Sub(scheduled))
	if done.After(r.last) {
		r.last = done
	}
	r.mu.Unlock()
}

// Fail records a failed or timed-out operation with a short reason.
func (r *Recorder) Fail(reason string) {
	r.mu.Lock()
	r.failed++
	r.errs[reason]++
	r.mu.Unlock()
}

// Outstanding is the number of issued operations neither done nor failed.
func (r *Recorder) Outstanding() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.issued - len(r.latency) - r.failed
}

// Result summarises a step.
type Result struct {
	Offered  float64 // ops/s asked for
	Achieved float64 // completed ops / (last completion − start)
	Issued   int
	Done     int
	Failed   int
	Errors   map[string]int
	P50, P90 time.Duration
	P99, Max time.Duration
	// SchedP99 is the 99th percentile measured from the scheduled send time: it adds the time
	// an operation waited for the driver (no free end user, i.e. the system was behind).
	SchedP99 time.Duration
	LateP99  time.Duration
	CPU      CPUUsage
	Wall     time.Duration
	// Stages are "name p50/p99" of the recorded stage durations, in name order.
	Stages []string
}

// Result computes the step's summary.
func (r *Recorder) Result(offered float64) Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	res := Result{Offered: offered, Issued: r.issued, Done: len(r.latency), Failed: r.failed, Errors: maps(r.errs)}
	if len(r.latency) > 0 {
		el := r.last.Sub(r.start)
		if el > 0 {
			res.Achieved = float64(len(r.latency)) / el.Seconds()
		}
	}
	l := slices.Clone(r.latency)
	slices.Sort(l)
	res.P50, res.P90, res.P99 = pct(l, 0.50), pct(l, 0.90), pct(l, 0.99)
	if len(l) > 0 {
		res.Max = l[len(l)-1]
	}
	s := slices.Clone(r.fromSched)
	slices.Sort(s)
	res.SchedP99 = pct(s, 0.99)
	lt := slices.Clone(r.lateness)
	slices.Sort(lt)
	res.LateP99 = pct(lt, 0.99)
	names := make([]string, 0, len(r.stages))
	for n := range r.stages {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		v := slices.Clone(r.stages[n])
		slices.Sort(v)
		res.Stages = append(res.Stages, fmt.Sprintf("%s p50 %.1f / p99 %.1f ms", n, Ms(pct(v, 0.5)), Ms(pct(v, 0.99))))
	}
	return res
}

func maps(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// pct is the nearest-rank percentile of sorted d.
func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(d)))) - 1
	return d[min(max(i, 0), len(d)-1)]
}

// Ms is d in milliseconds.
func Ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Schedule runs an open-loop arrival schedule: operation i is due at start + i/rate, whether or
// not earlier ones have completed. fire is called at (or, when the driver is behind, after) the
// due time and must return quickly; it may block only to wait for capacity (a free end user),
// which is how a saturated system shows up as a lower achieved rate. Schedule stops issuing
// after d or when ctx ends, and returns the number of operations issued.
func Schedule(ctx context.Context, start time.Time, rate float64, d time.Duration, fire func(ctx context.Context, i int, due time.Time) bool) int {
	interval := time.Duration(float64(time.Second) / rate)
	end := start.Add(d)
	n := 0
	for i := 0; ; i++ {
		due := start.Add(time.Duration(i) * interval)
		if !due.Before(end) || ctx.Err() != nil {
			return n
		}
		if w := time.Until(due); w > 0 {
			t := time.NewTimer(w)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return n
			}
		}
		if time.Now().After(end) {
			return n
		}
		if fire(ctx, i, due) {
			n++
		}
	}
}

// WaitOutstanding waits until r has nothing outstanding or timeout passes.
func WaitOutstanding(r *Recorder, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for r.Outstanding() > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
}

// CPUUsage is CPU time spent during a step, by process group.
type CPUUsage struct {
	Self, Postgres, Weaviate, Other time.Duration
}

func (u CPUUsage) String() string {
	if u == (CPUUsage{}) {
		return "n/a"
	}
	return fmt.Sprintf("test-process %.1fs, postgres %.1fs, weaviate %.1fs, other %.1fs",
		u.Self.Seconds(), u.Postgres.Seconds(), u.Weaviate.Seconds(), u.Other.Seconds())
}

// Sub is u − v.
func (u CPUUsage) Sub(v CPUUsage) CPUUsage {
	return CPUUsage{Self: u.Self - v.Self, Postgres: u.Postgres - v.Postgres, Weaviate: u.Weaviate - v.Weaviate, Other: u.Other - v.Other}
}

// ReadCPU sums user+system CPU of this process and of every descendant (the PostgreSQL cluster
// and the Weaviate server testenv starts as children), from /proc. Elsewhere it returns zero.
func ReadCPU() CPUUsage {
	const tick = 100 // USER_HZ on Linux
	type proc struct {
		ppid int
		comm string
		cpu  time.Duration
	}
	procs := map[int]proc{}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return CPUUsage{}
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(raw)
		lp, rp := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if lp < 0 || rp < lp {
			continue
		}
		f := strings.Fields(s[rp+1:])
		if len(f) < 13 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		procs[pid] = proc{ppid: ppid, comm: s[lp+1 : rp], cpu: time.Duration(ut+st) * time.Second / tick}
	}
	self := os.Getpid()
	var u CPUUsage
	for pid, p := range procs {
		if pid == self {
			u.Self += p.cpu
			continue
		}
		// descendant of self?
		q, hops := p, 0
		desc := false
		for q.ppid > 1 && hops < 16 {
			if q.ppid == self {
				desc = true
				break
			}
			q, hops = procs[q.ppid], hops+1
		}
		if !desc {
			continue
		}
		switch {
		case strings.HasPrefix(p.comm, "postgres"):
			u.Postgres += p.cpu
		case strings.HasPrefix(p.comm, "weaviate"):
			u.Weaviate += p.cpu
		default:
			u.Other += p.cpu
		}
	}
	return u
}
