package llm

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/internal/clock"
)

// The scheduler's order is tested here without servers: backends are built with a model list and
// slots, calls wait in acquire, and the test releases slots one at a time and records who got
// each. The clock is a fake one, moved by hand for aging.

var (
	creatorA = uuid.MustParse("00000000-0000-0000-0000-00000000000a")
	creatorB = uuid.MustParse("00000000-0000-0000-0000-00000000000b")
	creatorC = uuid.MustParse("00000000-0000-0000-0000-00000000000c")
)

type rig struct {
	t     *testing.T
	s     *scheduler
	clock *clock.Fake
	mu    sync.Mutex
	on    map[string]*backend // where each granted call runs
	got   chan string
}

func newRig(t *testing.T, opts PoolOptions, servers ...*backend) *rig {
	t.Helper()
	fc := clock.NewFake(time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC))
	opts.Clock = fc
	return &rig{t: t, s: newScheduler(servers, opts), clock: fc, on: map[string]*backend{}, got: make(chan string, 100)}
}

func server(t *testing.T, name string, slots int, models ...string) *backend {
	t.Helper()
	c, err := New("http://"+name+".invalid:11434", Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := newBackend(c, slots)
	b.setModels(models, time.Now())
	return b
}

type held struct {
	b     *backend
	w     Work
	model string
}

// call starts a call that waits for a slot; when granted it reports its label on r.got and
// holds the slot until the returned release is called.
func (r *rig) call(label string, w Work, model string) (release func()) {
	r.t.Helper()
	n := r.waiting()
	granted := make(chan held, 1)
	go func() {
		b, err := r.s.acquire(context.Background(), w, model, nil)
		if err != nil {
			r.got <- label + ": " + err.Error()
			return
		}
		granted <- held{b, w, model}
		r.mu.Lock()
		r.on[label] = b
		r.mu.Unlock()
		r.got <- label
	}()
	// Wait until it is queued or granted, so arrival order is the order of the calls.
	deadline := time.Now().Add(5 * time.Second)
	for r.waiting() == n && len(granted) == 0 {
		if time.Now().After(deadline) {
			r.t.Fatalf("call %s never reached the scheduler", label)
		}
		time.Sleep(time.Millisecond)
	}
	return func() {
		h := <-granted
		granted <- h
		r.s.release(h.b, h.w, h.model)
	}
}

// server returns the server a granted call runs on.
func (r *rig) server(label string) *backend {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.on[label]
}

func (r *rig) waiting() int {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	return len(r.s.waiting)
}

// next waits for the next grant.
func (r *rig) next() string {
	r.t.Helper()
	select {
	case l := <-r.got:
		return l
	case <-time.After(5 * time.Second):
		r.t.Fatal("no call was granted a slot")
		return ""
	}
}

// drain releases one slot at a time (starting with first) and returns the order in which the
// waiting calls got it.
func (r *rig) drain(first func(), releases map[string]func()) []string {
	r.t.Helper()
	var order []string
	rel := first
	for range releases {
		rel()
		l := r.next()
		order = append(order, l)
		rel = releases[l]
	}
	rel()
	return order
}

func TestSchedulerServesLiveFirst(t *testing.T) {
	t.Parallel()
	r := newRig(t, PoolOptions{Aging: time.Minute}, server(t, "a", 1, "chat", "embed"))
	busy := r.call("busy", Work{Class: Nudge, Creator: creatorA}, "chat")
	if l := r.next(); l != "busy" {
		t.Fatalf("first grant %q", l)
	}
	rel := map[string]func(){}
	for _, c := range []struct {
		label string
		w     Work
		model string
	}{
		{"nudge-A", Work{Class: Nudge, Creator: creatorA}, "chat"},
		{"ingest-A", Work{Class: IngestEmbed, Creator: creatorA}, "chat"},
		{"memory-B", Work{Class: Memory, Creator: creatorB}, "chat"},
		{"embed-C", Work{Class: LiveEmbed, Creator: creatorC}, "chat"},
		{"live-B", Work{Class: Live, Creator: creatorB}, "chat"},
	} {
		rel[c.label] = r.call(c.label, c.w, c.model)
	}
	got := fmt.Sprint(r.drain(busy, rel))
	if want := "[live-B embed-C memory-B ingest-A nudge-A]"; got != want {
		t.Fatalf("grant order %s, want %s", got, want)
	}
}

func TestSchedulerSharesAClassFairlyBetweenCreators(t *testing.T) {
	t.Parallel()
	r := newRig(t, PoolOptions{Aging: time.Hour}, server(t, "a", 1, "chat"))
	busy := r.call("busy", Work{Class: Live, Creator: creatorC}, "chat")
	r.next()
	rel := map[string]func(){}
	// A's campaign queues six messages before B's two: B does not wait behind all of A's.
	for i := range 6 {
		l := fmt.Sprintf("A%d", i)
		rel[l] = r.call(l, Work{Class: Nudge, Creator: creatorA}, "chat")
	}
	for i := range 2 {
		l := fmt.Sprintf("B%d", i)
		rel[l] = r.call(l, Work{Class: Nudge, Creator: creatorB}, "chat")
	}
	got := fmt.Sprint(r.drain(busy, rel))
	if want := "[A0 B0 A1 B1 A2 A3 A4 A5]"; got != want {
		t.Fatalf("grant order %s, want %s", got, want)
	}
}

func TestSchedulerWeights(t *testing.T) {
	t.Parallel()
	weight := func(c uuid.UUID) float64 {
		if c == creatorA {
			return 2
		}
		return 1
	}
	r := newRig(t, PoolOptions{Aging: time.Hour, Weight: weight}, server(t, "a", 1, "chat"))
	busy := r.call("busy", Work{Class: Live, Creator: creatorC}, "chat")
	r.next()
	rel := map[string]func(){}
	for i := range 4 {
		l := fmt.Sprintf("A%d", i)
		rel[l] = r.call(l, Work{Class: Live, Creator: creatorA}, "chat")
	}
	for i := range 2 {
		l := fmt.Sprintf("B%d", i)
		rel[l] = r.call(l, Work{Class: Live, Creator: creatorB}, "chat")
	}
	// A's tags move by 1/2 per call, B's by 1: A gets two turns per B turn.
	got := fmt.Sprint(r.drain(busy, rel))
	if want := "[A0 B0 A1 A2 B1 A3]"; got != want {
		t.Fatalf("grant order %s, want %s", got, want)
	}
}

func TestSchedulerAgingPromotesAWaitingCall(t *testing.T) {
	t.Parallel()
	r := newRig(t, PoolOptions{Aging: 10 * time.Second}, server(t, "a", 1, "chat"))
	busy := r.call("busy", Work{Class: Live, Creator: creatorC}, "chat")
	r.next()
	rel := map[string]func(){}
	rel["nudge"] = r.call("nudge", Work{Class: Nudge, Creator: creatorA}, "chat")
	r.clock.Advance(25 * time.Second) // two classes up: Memory, still below live work
	rel["live1"] = r.call("live1", Work{Class: Live, Creator: creatorB}, "chat")
	busy()
	if l := r.next(); l != "live1" {
		t.Fatalf("after 25 s the nudge (now memory class) went before a live reply: %s", l)
	}
	r.clock.Advance(20 * time.Second) // 45 s: four classes up, it is live work that waited longest
	rel["live2"] = r.call("live2", Work{Class: Live, Creator: creatorB}, "chat")
	rel["live1"]()
	if l := r.next(); l != "nudge" {
		t.Fatalf("a nudge waiting 45 s with 10 s aging was not served before a new live reply: %s", l)
	}
	rel["nudge"]()
	if l := r.next(); l != "live2" {
		t.Fatalf("then %s", l)
	}
	rel["live2"]()
}

func TestSchedulerCreatorCap(t *testing.T) {
	t.Parallel()
	r := newRig(t, PoolOptions{Aging: time.Hour, CreatorCap: map[Class]int{Nudge: 1}}, server(t, "a", 2, "chat"))
	a0 := r.call("A0", Work{Class: Nudge, Creator: creatorA}, "chat")
	if l := r.next(); l != "A0" {
		t.Fatal(l)
	}
	a1 := r.call("A1", Work{Class: Nudge, Creator: creatorA}, "chat")
	b0 := r.call("B0", Work{Class: Nudge, Creator: creatorB}, "chat")
	// One slot is free: A is at its cap, B gets it although A1 came first.
	if l := r.next(); l != "B0" {
		t.Fatalf("free slot went to %s, want B0 (A is at its cap of 1)", l)
	}
	if r.waiting() != 1 {
		t.Fatalf("%d waiting, want A1", r.waiting())
	}
	a0()
	if l := r.next(); l != "A1" {
		t.Fatal(l)
	}
	a1()
	b0()
}

func TestSchedulerLeastLoadedServerWithTheModel(t *testing.T) {
	t.Parallel()
	big := server(t, "big", 4, "chat")
	small := server(t, "small", 1, "chat", "embed")
	r := newRig(t, PoolOptions{Aging: time.Hour}, big, small)
	count := map[string]int{}
	var rels []func()
	for i := range 5 {
		rels = append(rels, r.call(fmt.Sprint("c", i), Work{Creator: creatorA}, "chat"))
		r.next()
	}
	for _, b := range []*backend{big, small} {
		count[b.client.URL()] = b.stats().InFlight
	}
	if count["http://big.invalid:11434"] != 4 || count["http://small.invalid:11434"] != 1 {
		t.Fatalf("in flight per server %v, want 4 on big and 1 on small (by load: in flight / slots)", count)
	}
	// Every chat slot is taken. Slots are per model: an embedding runs at once on small, the only
	// server with the embedding model, beside small's chat.
	e := r.call("embed", Work{Class: LiveEmbed, Creator: creatorA}, "embed")
	if l := r.next(); l != "embed" || r.server("embed") != small {
		t.Fatalf("%s granted on %v", l, r.server(l))
	}
	// A second embedding waits for the first (small has one slot per model), not for a chat.
	e2 := r.call("embed2", Work{Class: LiveEmbed, Creator: creatorA}, "embed")
	for _, rel := range rels {
		rel()
	}
	select {
	case l := <-r.got:
		t.Fatalf("%s granted when chats ended", l)
	case <-time.After(30 * time.Millisecond):
	}
	e()
	if l := r.next(); l != "embed2" {
		t.Fatal(l)
	}
	e2()
}

func TestSchedulerModelOnNoServer(t *testing.T) {
	t.Parallel()
	r := newRig(t, PoolOptions{}, server(t, "a", 1, "chat"))
	_, err := r.s.acquire(context.Background(), Work{}, "missing", nil)
	if !errIs(err, ErrModelNotFound) {
		t.Fatalf("err %v, want ErrModelNotFound at once", err)
	}
}

func TestSchedulerCancelledWaitGivesNothingAway(t *testing.T) {
	t.Parallel()
	b := server(t, "a", 1, "chat")
	r := newRig(t, PoolOptions{}, b)
	busy := r.call("busy", Work{Creator: creatorA}, "chat")
	r.next()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := r.s.acquire(ctx, Work{Creator: creatorB}, "chat", nil); done <- err }()
	for r.waiting() == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("err %v", err)
	}
	busy()
	if st := b.stats(); st.InFlight != 0 || r.waiting() != 0 {
		t.Fatalf("after a cancelled wait: in flight %d, waiting %d", st.InFlight, r.waiting())
	}
}

func errIs(err, target error) bool {
	e, ok := err.(*Error)
	return ok && e.Is(target)
}
