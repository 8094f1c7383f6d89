package bus_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/bus"
	"github.com/coachwire/coachwire/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// startRouter runs fn as the handler of a fresh durable consumer on CW_INGEST for one creator.
func startRouter(t *testing.T, b *bus.Bus, creator uuid.UUID, maxDeliver int, fn func(*message.Message) error) {
	t.Helper()
	ctx := context.Background()
	r, err := bus.NewRouter(b, testenv.Logger(t))
	require.NoError(t, err)
	durable := "test-" + uuid.NewString()[:8]
	require.NoError(t, r.Handle(ctx, durable, bus.ConsumerSpec{
		Stream: "CW_INGEST", Durable: durable, Filter: events.IngestSubject(creator),
		AckWait: 2 * time.Second, MaxDeliver: maxDeliver, Parallel: 2,
	}, fn))
	go func() { _ = r.Run(ctx) }()
	<-r.Running()
	t.Cleanup(func() { _ = r.Close() })
}

func dlqMessages(t *testing.T, b *bus.Bus, source string) []jetstream.Msg {
	t.Helper()
	ctx := context.Background()
	s, err := b.JetStream().Stream(ctx, "CW_DLQ")
	require.NoError(t, err)
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{events.DLQSubject("CW_INGEST")}})
	require.NoError(t, err)
	var out []jetstream.Msg
	for {
		batch, err := c.Fetch(100, jetstream.FetchMaxWait(300*time.Millisecond))
		require.NoError(t, err)
		n := 0
		for m := range batch.Messages() {
			n++
			if m.Headers().Get(bus.SourceHeader) == source {
				out = append(out, m)
			}
		}
		if n == 0 {
			return out
		}
	}
}

// TestPoisonMessagesGoToDLQ: undecodable events, events whose creator does not match the
// subject, and events whose handler always fails all end in the dead-letter stream with a
// reason, and the consumer keeps processing good events.
func TestPoisonMessagesGoToDLQ(t *testing.T) {
	t.Parallel()
	b := testenv.Bus(t)
	ctx := context.Background()
	creator := uuid.New()
	subject := events.IngestSubject(creator)
	var good, failing atomic.Int64
	alwaysFails := uuid.New()
	startRouter(t, b, creator, 3, func(m *message.Message) error {
		ev, err := bus.Decode[events.DocumentIngest](m)
		if err != nil {
			return err
		}
		if ev.Data.DocumentID == alwaysFails {
			failing.Add(1)
			return errors.New("boom: downstream keeps failing")
		}
		good.Add(1)
		return nil
	})

	require.NoError(t, b.Publish(ctx, subject, "junk-"+creator.String(), []byte("{not json"), nil))
	forged := events.New(uuid.New(), events.DocumentIngest{DocumentID: uuid.New(), Action: "index"}, nil, time.Now())
	require.NoError(t, bus.PublishEvent(ctx, b, subject, "forged-"+creator.String(), forged))
	require.NoError(t, bus.PublishEvent(ctx, b, subject, "fail-"+creator.String(), events.New(creator, events.DocumentIngest{DocumentID: alwaysFails, Action: "index"}, nil, time.Now())))
	for i := range 20 {
		require.NoError(t, bus.PublishEvent(ctx, b, subject, "good-"+creator.String()+"-"+string(rune('a'+i)), events.New(creator, events.DocumentIngest{DocumentID: uuid.New(), Action: "index"}, nil, time.Now())))
	}

	testenv.Eventually(t, 30*time.Second, func() bool { return len(dlqMessages(t, b, subject)) == 3 }, "three dead letters")
	require.EqualValues(t, 20, good.Load(), "good events still flow")
	reasons := map[string]bool{}
	ids := map[string]bool{}
	for _, m := range dlqMessages(t, b, subject) {
		reasons[m.Headers().Get(bus.ReasonHeader)] = true
		ids[m.Headers().Get(bus.SourceMsgIDHeader)] = true
	}
	require.Equal(t, map[string]bool{"junk-" + creator.String(): true, "forged-" + creator.String(): true, "fail-" + creator.String(): true}, ids,
		"each dead letter keeps its original Nats-Msg-Id")
	require.Len(t, reasons, 3)
	var joined string
	for r := range reasons {
		joined += r + "\n"
	}
	require.Contains(t, joined, "malformed")
	require.Contains(t, joined, "envelope creator")
	// The always-failing event is dead-lettered by whichever path sees it first: the handler's
	// last failure, or (on a slow machine, when AckWait runs out during the in-process retries)
	// JetStream's max-deliveries advisory. Both use one dedup id, so there is one entry.
	require.Regexp(t, `gave up after 3 deliveries|reached max deliveries \(3\)`, joined)
	// Retries in process plus redeliveries, bounded: (1 + 3 retries) x 3 deliveries.
	require.LessOrEqual(t, failing.Load(), int64(12))
}

// TestDuplicatePublishIsDropped: the same Nats-Msg-Id published twice is stored once.
func TestDuplicatePublishIsDropped(t *testing.T) {
	t.Parallel()
	b := testenv.Bus(t)
	ctx := context.Background()
	creator := uuid.New()
	var n atomic.Int64
	startRouter(t, b, creator, 3, func(m *message.Message) error { n.Add(1); return nil })
	ev := events.New(creator, events.DocumentIngest{DocumentID: uuid.New(), Action: "index"}, nil, time.Now())
	for range 5 {
		require.NoError(t, bus.PublishEvent(ctx, b, events.IngestSubject(creator), "same-"+creator.String(), ev))
	}
	testenv.Eventually(t, 10*time.Second, func() bool { return n.Load() >= 1 }, "delivery")
	time.Sleep(500 * time.Millisecond) // give a duplicate the chance to show up
	require.EqualValues(t, 1, n.Load())
}

// TestHungHandlerIsDeadLettered: a handler that never finishes in time (as if its process hung
// or died) is redelivered MaxDeliver times, then JetStream's advisory puts it in the DLQ.
func TestHungHandlerIsDeadLettered(t *testing.T) {
	t.Parallel()
	b := testenv.Bus(t)
	ctx := context.Background()
	creator := uuid.New()
	subject := events.IngestSubject(creator)
	hung := uuid.New()
	var calls atomic.Int64
	r, err := bus.NewRouter(b, testenv.Logger(t))
	require.NoError(t, err)
	durable := "hung-" + uuid.NewString()[:8]
	require.NoError(t, r.Handle(ctx, durable, bus.ConsumerSpec{
		Stream: "CW_INGEST", Durable: durable, Filter: subject, AckWait: 500 * time.Millisecond, MaxDeliver: 2, Parallel: 1,
	}, func(m *message.Message) error {
		calls.Add(1)
		<-m.Context().Done() // never answers before the ack deadline
		return nil
	}))
	go func() { _ = r.Run(ctx) }()
	<-r.Running()
	defer r.Close()
	require.NoError(t, bus.PublishEvent(ctx, b, subject, "hung-"+creator.String(), events.New(creator, events.DocumentIngest{DocumentID: hung, Action: "index"}, nil, time.Now())))
	testenv.Eventually(t, 30*time.Second, func() bool { return len(dlqMessages(t, b, subject)) == 1 }, "the hung message in the DLQ")
	require.Contains(t, dlqMessages(t, b, subject)[0].Headers().Get(bus.ReasonHeader), "max deliveries (2)")
	require.Equal(t, "hung-"+creator.String(), dlqMessages(t, b, subject)[0].Headers().Get(bus.SourceMsgIDHeader), "the original id, for coachwire dlq replay")
	require.EqualValues(t, 2, calls.Load())
}

// TestDeferRedeliversLater: a handler that defers a message gets it again after (not before)
// the delay, as a further delivery, and nothing goes to the dead-letter stream.
func TestDeferRedeliversLater(t *testing.T) {
	t.Parallel()
	b := testenv.Bus(t)
	ctx := context.Background()
	creator := uuid.New()
	const delay = 700 * time.Millisecond
	var (
		mu    sync.Mutex
		times []time.Time
		seen  []string
	)
	startRouter(t, b, creator, 5, func(m *message.Message) error {
		mu.Lock()
		defer mu.Unlock()
		times = append(times, time.Now())
		seen = append(seen, m.Metadata.Get(bus.MetaDelivered))
		if len(times) == 1 {
			bus.Defer(m, delay)
		}
		return nil
	})
	ev := events.New(creator, events.DocumentIngest{DocumentID: uuid.New(), Action: "index"}, nil, time.Now())
	require.NoError(t, bus.PublishEvent(ctx, b, events.IngestSubject(creator), "defer-"+creator.String(), ev))
	testenv.Eventually(t, 10*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(times) == 2 }, "the deferred redelivery")
	time.Sleep(500 * time.Millisecond) // a third delivery would show up by now
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, times, 2, "acked after the redelivery")
	require.GreaterOrEqual(t, times[1].Sub(times[0]), delay)
	require.Equal(t, []string{"1", "2"}, seen)
	require.Empty(t, dlqMessages(t, b, events.IngestSubject(creator)))
}
