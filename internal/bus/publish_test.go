package bus_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/bus"
	"github.com/coachwire/coachwire/internal/testenv"
)

// syncBuf is a log destination the test reads while the bus writes.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func ingest(creator uuid.UUID) events.Message[events.DocumentIngest] {
	return events.New(creator, events.DocumentIngest{DocumentID: uuid.New(), Action: "index"}, nil, time.Now())
}

// TestPublishBatch: a batch is acknowledged as a whole; every message is stored once (a
// duplicate id inside the batch is acknowledged, not stored twice) and delivered with its
// correlation id; a message no stream takes fails the batch with ErrPublish.
func TestPublishBatch(t *testing.T) {
	t.Parallel()
	b := testenv.Bus(t)
	ctx := context.Background()
	creator := uuid.New()
	subject := events.IngestSubject(creator)
	var (
		mu   sync.Mutex
		got  = map[uuid.UUID]int{}
		corr = map[uuid.UUID]string{}
	)
	startRouter(t, b, creator, 3, func(m *message.Message) error {
		ev, err := bus.Decode[events.DocumentIngest](m)
		if err != nil {
			return err
		}
		mu.Lock()
		got[ev.Data.DocumentID]++
		corr[ev.Data.DocumentID] = middleware.MessageCorrelationID(m)
		mu.Unlock()
		return nil
	})
	require.NoError(t, b.PublishBatch(ctx, nil))

	want := map[uuid.UUID]string{}
	var batch []bus.Outgoing
	for i := range 40 {
		ev := ingest(creator)
		o, err := bus.Event(subject, fmt.Sprintf("batch-%s-%d", creator, i), ev)
		require.NoError(t, err)
		batch = append(batch, o)
		want[ev.Data.DocumentID] = ev.CorrelationID
	}
	batch = append(batch, batch[3], batch[7]) // the same ids again
	require.NoError(t, b.PublishBatch(ctx, batch))

	testenv.Eventually(t, 30*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == len(want) }, "every message delivered")
	mu.Lock()
	for id, c := range want {
		require.Equal(t, 1, got[id], "delivered once")
		require.Equal(t, c, corr[id], "the correlation id travels in the header")
	}
	mu.Unlock()

	// A subject no stream takes: no ack, the batch fails as ErrPublish naming the subject.
	bad, err := bus.Event("nostream."+creator.String(), "bad-"+creator.String(), ingest(creator))
	require.NoError(t, err)
	good, err := bus.Event(subject, "good-after-"+creator.String(), ingest(creator))
	require.NoError(t, err)
	err = b.PublishBatch(ctx, []bus.Outgoing{good, bad})
	require.ErrorIs(t, err, bus.ErrPublish)
	require.Contains(t, err.Error(), "nostream.")
}

// TestPublishDetached: a detached publish returns at once and is delivered like any other; one
// that JetStream never acknowledges is logged, not returned.
func TestPublishDetached(t *testing.T) {
	t.Parallel()
	logs := &syncBuf{}
	b, err := bus.Connect(context.Background(), testenv.NATS(t), t.Name(), slog.New(slog.NewTextHandler(logs, nil)), bus.Options{})
	require.NoError(t, err)
	t.Cleanup(b.Close)
	require.NoError(t, b.EnsureStreams(context.Background()))
	creator := uuid.New()
	var n atomic.Int64
	startRouter(t, b, creator, 3, func(m *message.Message) error { n.Add(1); return nil })

	o, err := bus.Event(events.IngestSubject(creator), "detached-"+creator.String(), ingest(creator))
	require.NoError(t, err)
	require.NoError(t, b.PublishDetached(o))
	testenv.Eventually(t, 20*time.Second, func() bool { return n.Load() == 1 }, "the detached message delivered")

	lost, err := bus.Event("nostream."+creator.String(), "lost-"+creator.String(), ingest(creator))
	require.NoError(t, err)
	require.NoError(t, b.PublishDetached(lost), "queued: the sender never waits")
	testenv.Eventually(t, 20*time.Second, func() bool {
		return bytes.Contains([]byte(logs.String()), []byte("detached publish not stored"))
	}, "the lost message logged")
	require.Contains(t, logs.String(), "lost-"+creator.String())
}

// TestNotifyListen: Listen returns once the server has the subscription, so a Notify right
// after it arrives; ListenFunc with a queue gives each message to one listener of the group,
// without one to every listener; NotifyJSON refuses what JSON cannot encode.
func TestNotifyListen(t *testing.T) {
	t.Parallel()
	pub, sub := testenv.Bus(t), testenv.Bus(t)
	ctx := context.Background()
	subject := events.LiveSubject(uuid.New(), uuid.New())

	ch := make(chan *nats.Msg, 4)
	s, err := sub.Listen(ctx, subject, ch)
	require.NoError(t, err)
	require.NoError(t, pub.NotifyJSON(subject, map[string]string{"kind": "delta"}))
	select {
	case m := <-ch:
		require.JSONEq(t, `{"kind":"delta"}`, string(m.Data))
	case <-time.After(10 * time.Second):
		t.Fatal("a notify right after Listen was lost")
	}
	require.NoError(t, s.Unsubscribe())
	require.Error(t, pub.NotifyJSON(subject, map[string]any{"ch": make(chan int)}))

	const n = 50
	var q1, q2, all1, all2 atomic.Int64
	count := func(c *atomic.Int64) func(*nats.Msg) { return func(*nats.Msg) { c.Add(1) } }
	var subs []*nats.Subscription
	for _, l := range []struct {
		queue string
		c     *atomic.Int64
	}{{"dispatch", &q1}, {"dispatch", &q2}, {"", &all1}, {"", &all2}} {
		s, err := sub.ListenFunc(subject, l.queue, count(l.c))
		require.NoError(t, err)
		subs = append(subs, s)
	}
	require.NoError(t, sub.Flush(ctx))
	for i := range n {
		require.NoError(t, pub.Notify(subject, []byte(fmt.Sprint(i))))
	}
	require.NoError(t, pub.Flush(ctx))
	testenv.Eventually(t, 10*time.Second, func() bool {
		if q1.Load()+q2.Load() < n || all1.Load() < n || all2.Load() < n {
			return false
		}
		require.NoError(t, sub.Flush(ctx))
		for _, s := range subs {
			if p, _, _ := s.Pending(); p > 0 {
				return false
			}
		}
		return true
	}, "every notify handled")
	require.EqualValues(t, n, q1.Load()+q2.Load(), "a queue group gets each message once")
	require.EqualValues(t, n, all1.Load())
	require.EqualValues(t, n, all2.Load())
}

// TestClosedBus: after Close, publishing, notifying, flushing and pinging fail with errors that
// name the operation; Ping works while connected.
func TestClosedBus(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b, err := bus.Connect(ctx, testenv.NATS(t), t.Name(), testenv.Logger(t), bus.Options{})
	require.NoError(t, err)
	require.NoError(t, b.Ping(ctx))
	require.False(t, b.Closed())
	b.Close()
	testenv.Eventually(t, 10*time.Second, b.Closed, "drained and closed")
	require.ErrorContains(t, b.Publish(ctx, events.IngestSubject(uuid.New()), "x", []byte("{}"), nil), "bus: publish")
	require.ErrorContains(t, b.Notify("cw.x", []byte("x")), "bus: notify")
	require.Error(t, b.Flush(ctx))
	require.Error(t, b.Ping(ctx))
	o, err := bus.Event(events.IngestSubject(uuid.New()), "y", ingest(uuid.New()))
	require.NoError(t, err)
	require.ErrorIs(t, b.PublishDetached(o), bus.ErrPublish)
	require.ErrorIs(t, b.PublishBatch(ctx, []bus.Outgoing{o}), bus.ErrPublish)

	_, err = bus.Connect(ctx, "nats://127.0.0.1:1", "nowhere", testenv.Logger(t), bus.Options{})
	require.ErrorContains(t, err, "bus: connect to NATS at nats://127.0.0.1:1")
}

// TestLaterAndPermanentErrors: a handler error marked Later is not retried in the process but
// redelivered by JetStream (a new delivery each time); a plain error is retried in place first;
// a Permanent one is dead-lettered after one call.
func TestLaterAndPermanentErrors(t *testing.T) {
	t.Parallel()
	b := testenv.Bus(t)
	ctx := context.Background()
	creator := uuid.New()
	subject := events.IngestSubject(creator)
	later, plain, permanent := uuid.New(), uuid.New(), uuid.New()
	var (
		mu   sync.Mutex
		seen = map[uuid.UUID][]string{}
	)
	startRouter(t, b, creator, 5, func(m *message.Message) error {
		ev, err := bus.Decode[events.DocumentIngest](m)
		if err != nil {
			return err
		}
		id := ev.Data.DocumentID
		mu.Lock()
		seen[id] = append(seen[id], m.Metadata.Get(bus.MetaDelivered))
		k := len(seen[id])
		mu.Unlock()
		switch {
		case id == later && k == 1:
			return bus.Later(errors.New("model down"))
		case id == plain && k == 1:
			return errors.New("a blip")
		case id == permanent:
			return bus.Permanent(errors.New("document gone for good"))
		}
		return nil
	})
	for _, id := range []uuid.UUID{later, plain, permanent} {
		ev := events.New(creator, events.DocumentIngest{DocumentID: id, Action: "index"}, nil, time.Now())
		require.NoError(t, bus.PublishEvent(ctx, b, subject, "lp-"+id.String(), ev))
	}
	testenv.Eventually(t, 30*time.Second, func() bool { return len(dlqMessages(t, b, subject)) == 1 }, "the permanent failure dead-lettered")
	testenv.Eventually(t, 30*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen[later]) == 2 && len(seen[plain]) == 2
	}, "later and plain handled again")
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []string{"1", "2"}, seen[later], "Later: redelivered, not retried in process")
	require.Equal(t, []string{"1", "1"}, seen[plain], "a plain error: retried in process")
	require.Equal(t, []string{"1"}, seen[permanent], "Permanent: never retried")
	require.Contains(t, dlqMessages(t, b, subject)[0].Headers().Get(bus.ReasonHeader), "document gone for good")
	require.True(t, bus.IsPermanent(bus.Permanent(errors.New("x"))))
	require.False(t, bus.IsPermanent(bus.Later(errors.New("x"))))
	require.True(t, bus.IsPermanent(fmt.Errorf("wrapped: %w", events.ErrMalformed)))
}

// TestKeepAliveHoldsTheMessage: with KeepAlive, a handler still running at three times its
// AckWait keeps the message: it is not delivered to another handler meanwhile, and is acked
// once when it finishes.
func TestKeepAliveHoldsTheMessage(t *testing.T) {
	t.Parallel()
	b := testenv.Bus(t)
	ctx := context.Background()
	creator := uuid.New()
	subject := events.IngestSubject(creator)
	r, err := bus.NewRouter(b, testenv.Logger(t))
	require.NoError(t, err)
	durable := "keep-" + uuid.NewString()[:8]
	const ackWait = 600 * time.Millisecond
	var calls, done atomic.Int64
	require.NoError(t, r.Handle(ctx, durable, bus.ConsumerSpec{
		Stream: "CW_INGEST", Durable: durable, Filter: subject, AckWait: ackWait, MaxDeliver: 3, Parallel: 2, KeepAlive: true,
	}, func(m *message.Message) error {
		calls.Add(1)
		select {
		case <-time.After(3 * ackWait): // a long model turn
		case <-m.Context().Done():
			return m.Context().Err()
		}
		done.Add(1)
		return nil
	}))
	go func() { _ = r.Run(ctx) }()
	<-r.Running()
	t.Cleanup(func() { _ = r.Close() })
	require.NoError(t, bus.PublishEvent(ctx, b, subject, "keep-"+creator.String(), ingest(creator)))
	testenv.Eventually(t, 20*time.Second, func() bool { return done.Load() == 1 }, "the long handler finished")
	c, err := b.JetStream().Consumer(ctx, "CW_INGEST", durable)
	require.NoError(t, err)
	testenv.Eventually(t, 10*time.Second, func() bool {
		info, err := c.Info(ctx)
		return err == nil && info.NumAckPending == 0 && info.AckFloor.Stream > 0
	}, "acked")
	info, err := c.Info(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 0, info.NumRedelivered, "never redelivered while the handler ran")
	require.EqualValues(t, 1, calls.Load())
}

// TestRouterCloseSettlesInFlight: closing the router while a handler runs lets the handler
// finish and acknowledges its message before Close returns: nothing is left for redelivery.
func TestRouterCloseSettlesInFlight(t *testing.T) {
	t.Parallel()
	b := testenv.Bus(t)
	ctx := context.Background()
	creator := uuid.New()
	subject := events.IngestSubject(creator)
	r, err := bus.NewRouter(b, testenv.Logger(t))
	require.NoError(t, err)
	durable := "close-" + uuid.NewString()[:8]
	started, release := make(chan struct{}), make(chan struct{})
	var finished atomic.Bool
	require.NoError(t, r.Handle(ctx, durable, bus.ConsumerSpec{
		Stream: "CW_INGEST", Durable: durable, Filter: subject, AckWait: 5 * time.Second, MaxDeliver: 3, Parallel: 1, KeepAlive: true,
	}, func(m *message.Message) error {
		close(started)
		<-release
		finished.Store(true)
		return nil
	}))
	go func() { _ = r.Run(ctx) }()
	<-r.Running()
	require.NoError(t, bus.PublishEvent(ctx, b, subject, "close-"+creator.String(), ingest(creator)))
	<-started
	closed := make(chan bool, 1)
	go func() { _ = r.Close(); closed <- finished.Load() }()
	time.Sleep(300 * time.Millisecond) // give a Close that does not wait the chance to return
	close(release)
	require.True(t, <-closed, "Close returned before the in-flight handler finished")
	c, err := b.JetStream().Consumer(ctx, "CW_INGEST", durable)
	require.NoError(t, err)
	info, err := c.Info(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 0, info.NumAckPending, "the in-flight message was acknowledged")
	require.EqualValues(t, 0, info.NumPending)
	require.EqualValues(t, 0, info.NumRedelivered)
}

// TestPublishWithoutAck: a publish whose ack never comes (here a core NATS subscriber swallows
// it, as a server that died between storing and answering would) fails after
// Options.PublishTimeout instead of waiting out the caller's context, so a handler's message is
// redelivered and published again under the same id.
func TestPublishWithoutAck(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b, err := bus.Connect(ctx, testenv.NATS(t), t.Name(), testenv.Logger(t), bus.Options{PublishTimeout: 200 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(b.Close)
	subject := "chaos.noack." + uuid.NewString()
	nc, err := nats.Connect(testenv.NATS(t))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	sub, err := nc.SubscribeSync(subject) // a responder that never answers
	require.NoError(t, err)
	require.NoError(t, nc.Flush())

	long, cancel := context.WithTimeout(ctx, time.Hour)
	defer cancel()
	err = b.Publish(long, subject, "m1", []byte("{}"), nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NoError(t, long.Err(), "the caller's context is not what ended the wait")
	_, err = sub.NextMsg(time.Second)
	require.NoError(t, err, "the message did go out")

	o := bus.Outgoing{Subject: subject, MsgID: "m2", Payload: []byte("{}")}
	require.ErrorIs(t, b.PublishBatch(long, []bus.Outgoing{o}), bus.ErrPublish)
}
