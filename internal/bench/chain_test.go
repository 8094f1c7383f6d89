package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/bus"
	"github.com/coachwire/coachwire/internal/testenv"
)

// Bare-chain streams: their own subjects (cwbench.*), so they never overlap the CW_* streams
// of a coachwire process on the same server, with the settings bus.EnsureStreams uses.
var chainStreams = []struct{ name, subject string }{
	{"BENCH_INBOUND", "cwbench.*.inbound"},
	{"BENCH_GENERATE", "cwbench.*.generate"},
	{"BENCH_OUTBOUND", "cwbench.*.outbound"},
}

// BenchmarkBareChain is the floor under BenchmarkTurnOverhead: the same three JetStream hops
// (inbound → generate → outbound, each a watermill handler through bus.Router on a durable
// pull consumer with the production middleware, file storage, publish with Nats-Msg-Id), the
// same event payloads, and the same final core-NATS live push, but no Postgres, Weaviate,
// LLM, HTTP or WebSocket. Measured from the inbound publish to the live message's arrival.
func BenchmarkBareChain(b *testing.B) {
	st := settings(b)
	url := testenv.NATS(b)
	ctx := context.Background()
	workers, err := bus.Connect(ctx, url, "bench-workers", testenv.Quiet(), bus.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(workers.Close)
	edge, err := bus.Connect(ctx, url, "bench-edge", testenv.Quiet(), bus.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(edge.Close)
	for _, s := range chainStreams {
		_ = workers.JetStream().DeleteStream(ctx, s.name) // a fresh stream per run
		if _, err := workers.JetStream().CreateOrUpdateStream(ctx, jetstream.StreamConfig{
			Name: s.name, Subjects: []string{s.subject}, Retention: jetstream.LimitsPolicy, Storage: jetstream.FileStorage,
			Replicas: 1, MaxAge: 24 * time.Hour, Duplicates: events.DuplicateWindow, Discard: jetstream.DiscardOld,
		}); err != nil {
			b.Fatal(err)
		}
	}
	const parallel = 8 // as COACHWIRE_WORKER_PARALLEL's default
	r, err := bus.NewRouter(workers, testenv.Quiet())
	if err != nil {
		b.Fatal(err)
	}
	h := &chain{b: workers}
	for _, hop := range []struct {
		name, stream, filter string
		ackWait              time.Duration
		fn                   func(*message.Message) error
	}{
		{"b-retrieve", "BENCH_INBOUND", "cwbench.*.inbound", 30 * time.Second, h.inbound},
		{"b-generate", "BENCH_GENERATE", "cwbench.*.generate", 45 * time.Second, h.generate},
		{"b-dispatch", "BENCH_OUTBOUND", "cwbench.*.outbound", 30 * time.Second, h.outbound},
	} {
		if err := r.Handle(ctx, hop.name, bus.ConsumerSpec{Stream: hop.stream, Durable: hop.name, Filter: hop.filter,
			AckWait: hop.ackWait, MaxDeliver: 8, Parallel: parallel}, hop.fn); err != nil {
			b.Fatal(err)
		}
	}
	go func() { _ = r.Run(context.Background()) }()
	b.Cleanup(func() { _ = r.Close() })
	<-r.Running()

	// The edge (the gateway's role): publishes inbound events, receives live pushes.
	d := &chainDriver{edge: edge, inflight: map[uuid.UUID]chainOp{}}
	sub, err := edge.Conn().Subscribe("cwbench.*.live.*", d.live)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := edge.Conn().Flush(); err != nil {
		b.Fatal(err)
	}
	b.Logf("bare chain: 3 hops, Parallel=%d per hop, file storage, steps %v × %s", parallel, st.Rates, st.Duration)

	d.run(min(st.Rates[0], 100), 3*time.Second) // warm up, not recorded
	var results []Result
	for _, rate := range st.Rates {
		b.Run(fmt.Sprintf("rate=%g", rate), func(b *testing.B) {
			res := d.run(rate, st.Duration)
			results = append(results, res)
			if len(results) == len(st.Rates) { // the parent's log is not printed: the table goes with the last step
				b.Log(table("Bare JetStream chain: inbound publish → 3 watermill hops → live push received", results))
			}
			report(b, res, "msgs/s")
			b.Logf("rate %g: achieved %.1f/s, p50 %.2f ms, p99 %.2f ms, failed %d; cpu %s", rate, res.Achieved, Ms(res.P50), Ms(res.P99), res.Failed, res.CPU)
		})
	}
}

// chain holds the three handlers: decode, check the creator, publish the next event.
type chain struct{ b *bus.Bus }

func decode[T events.Event](msg *message.Message) (events.Message[T], error) {
	ev, err := events.Decode[T](msg.Payload)
	if err != nil {
		return ev, bus.Permanent(err)
	}
	parts := strings.SplitN(msg.Metadata.Get(bus.MetaSubject), ".", 3)
	if len(parts) < 3 || parts[1] != ev.CreatorID.String() {
		return ev, bus.Permanent(fmt.Errorf("creator mismatch on %q", msg.Metadata.Get(bus.MetaSubject)))
	}
	return ev, nil
}

var benchPassages = func() []events.Passage {
	var ps []events.Passage
	for i, t := range strings.Split(knowledgeDoc, "\n\n## ")[1:] {
		ps = append(ps, events.Passage{DocumentID: uuid.New(), Title: "Sleep basics", Heading: fmt.Sprint(i), Text: t, Score: 0.5})
	}
	return ps
}()

func (h *chain) inbound(msg *message.Message) error {
	ev, err := decode[events.MessageReceived](msg)
	if err != nil {
		return err
	}
	id, _ := uuid.Parse(ev.Data.ProviderMessageID)
	turn := events.New(ev.CreatorID, events.TurnRequested{ConversationID: ev.Data.ConversationID, MessageID: id,
		Channel: ev.Data.Channel, Query: ev.Data.Text, Passages: benchPassages, SearchMode: "hybrid"}, &ev.Envelope, time.Now())
	return bus.PublishEvent(msg.Context(), h.b, "cwbench."+ev.CreatorID.String()+".generate", "turn:"+id.String(), turn)
}

func (h *chain) generate(msg *message.Message) error {
	ev, err := decode[events.TurnRequested](msg)
	if err != nil {
		return err
	}
	out := events.New(ev.CreatorID, events.MessageOutbound{MessageID: ev.Data.MessageID, ConversationID: ev.Data.ConversationID,
		Channel: ev.Data.Channel}, &ev.Envelope, time.Now())
	return bus.PublishEvent(msg.Context(), h.b, "cwbench."+ev.CreatorID.String()+".outbound", "out:"+ev.Data.MessageID.String(), out)
}

func (h *chain) outbound(msg *message.Message) error {
	ev, err := decode[events.MessageOutbound](msg)
	if err != nil {
		return err
	}
	l, _ := json.Marshal(events.Live{Kind: "message", MessageID: ev.Data.MessageID, ReplyTo: ev.Data.MessageID, Role: "assistant",
		Text: "Stop caffeine eight hours before bed.", Sources: benchPassages})
	return h.b.Conn().Publish("cwbench."+ev.CreatorID.String()+".live."+ev.Data.ConversationID.String(), l)
}

type chainOp struct {
	due, sent time.Time
	rec       *Recorder
}

type chainDriver struct {
	edge     *bus.Bus
	mu       sync.Mutex
	inflight map[uuid.UUID]chainOp
}

func (d *chainDriver) live(m *nats.Msg) {
	now := time.Now()
	var l events.Live
	if json.Unmarshal(m.Data, &l) != nil {
		return
	}
	d.mu.Lock()
	op, ok := d.inflight[l.ReplyTo]
	delete(d.inflight, l.ReplyTo)
	d.mu.Unlock()
	if ok {
		op.rec.Done(op.due, op.sent, now)
	}
}

// run offers rate messages/s for dur (open loop: every send on its own goroutine, as if from
// its own socket) and waits for the live pushes.
func (d *chainDriver) run(rate float64, dur time.Duration) Result {
	cpu0 := ReadCPU()
	start := time.Now()
	rec := NewRecorder(start)
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	creators := []uuid.UUID{uuid.New(), uuid.New(), uuid.New(), uuid.New()}
	var wg sync.WaitGroup
	Schedule(ctx, start, rate, dur, func(_ context.Context, i int, due time.Time) bool {
		wg.Go(func() {
			c, id, conv := creators[i%len(creators)], uuid.New(), uuid.New()
			ev := events.New(c, events.MessageReceived{Channel: events.ChannelWidget, ProviderMessageID: id.String(),
				EndUserID: uuid.New(), ConversationID: conv, Text: questions[i%len(questions)], SentAt: time.Now().UTC().Format(time.RFC3339Nano)}, nil, time.Now())
			now := time.Now()
			d.mu.Lock()
			d.inflight[id] = chainOp{due: due, sent: now, rec: rec}
			d.mu.Unlock()
			rec.Issued(due, now)
			pctx, pcancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer pcancel()
			if err := bus.PublishEvent(pctx, d.edge, "cwbench."+c.String()+".inbound", "widget:"+id.String(), ev); err != nil {
				d.mu.Lock()
				delete(d.inflight, id)
				d.mu.Unlock()
				rec.Fail("publish")
			}
		})
		return true
	})
	wg.Wait()
	WaitOutstanding(rec, drainWait)
	d.mu.Lock()
	for id, op := range d.inflight {
		if op.rec == rec {
			delete(d.inflight, id)
			rec.Fail("timeout")
		}
	}
	d.mu.Unlock()
	res := rec.Result(rate)
	res.CPU = ReadCPU().Sub(cpu0)
	res.Wall = time.Since(start)
	return res
}
