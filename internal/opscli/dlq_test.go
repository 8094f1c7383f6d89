package opscli_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/bus"
	"github.com/coachwire/coachwire/internal/opscli"
	"github.com/coachwire/coachwire/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// startConsumer runs fn on a durable consumer of creator's ingest subject (MaxDeliver 2).
func startConsumer(t *testing.T, b *bus.Bus, creator uuid.UUID, fn func(*message.Message) error) {
	t.Helper()
	ctx := context.Background()
	r, err := bus.NewRouter(b, testenv.Logger(t))
	require.NoError(t, err)
	require.NoError(t, r.Handle(ctx, "ingest-test", bus.ConsumerSpec{Stream: events.StreamIngest, Durable: "ingest-test",
		Filter: events.IngestSubject(creator), AckWait: 5 * time.Second, MaxDeliver: 2, Parallel: 1}, fn))
	go func() { _ = r.Run(ctx) }()
	<-r.Running()
	t.Cleanup(func() { _ = r.Close() })
}

// TestDLQReplay: an event its handler rejects as permanent is dead-lettered; list and show name
// its source subject, original id and reason; a dry run changes nothing; the replay delivers
// the same event (same envelope id and correlation id) to the handler again and removes it
// from the DLQ. The original is inside the duplicate window, so the replay uses the derived id.
func TestDLQReplay(t *testing.T) {
	t.Parallel()
	b := testenv.OwnBus(t)
	ctx := context.Background()
	creator := uuid.New()
	var broken atomic.Bool
	broken.Store(true)
	got := make(chan events.Message[events.DocumentIngest], 4)
	gotCorr := make(chan string, 4)
	startConsumer(t, b, creator, func(m *message.Message) error {
		ev, err := bus.Decode[events.DocumentIngest](m)
		if err != nil {
			return err
		}
		if broken.Load() {
			return bus.Permanent(errors.New("the document store is broken"))
		}
		got <- ev
		gotCorr <- m.Metadata.Get(bus.HeaderCorrelationID)
		return nil
	})
	ev := events.New(creator, events.DocumentIngest{DocumentID: uuid.New(), Action: events.IngestIndex, Version: 3}, nil, time.Now())
	ev.CorrelationID = "corr-" + creator.String()
	require.NoError(t, bus.PublishEvent(ctx, b, events.IngestSubject(creator), "orig-1", ev))

	d := opscli.DLQ{JS: b.JetStream()}
	var dls []opscli.DeadLetter
	testenv.Eventually(t, 30*time.Second, func() bool {
		var err error
		dls, err = d.List(ctx)
		require.NoError(t, err)
		return len(dls) == 1
	}, "the event dead-lettered")
	dl := dls[0]
	require.Equal(t, events.IngestSubject(creator), dl.Source)
	require.Equal(t, "orig-1", dl.SourceMsgID)
	require.Contains(t, dl.Reason, "the document store is broken")

	var out strings.Builder
	require.NoError(t, opscli.WriteList(&out, dls))
	require.Regexp(t, `(?m)^ID +DEAD-LETTERED +SOURCE SUBJECT +REASON\n1 +\S+ +`+events.IngestSubject(creator)+` +.*the document store is broken`, out.String())
	out.Reset()
	shown, err := d.Get(ctx, dl.ID)
	require.NoError(t, err)
	require.NoError(t, opscli.WriteShow(&out, shown))
	require.Contains(t, out.String(), "source msg id:  orig-1")
	require.Contains(t, out.String(), ev.ID.String())
	require.Contains(t, out.String(), "correlation_id: corr-"+creator.String())

	r, err := d.Replay(ctx, dl.ID, true)
	require.NoError(t, err)
	require.Equal(t, "orig-1", r.MsgID)
	dls, err = d.List(ctx)
	require.NoError(t, err)
	require.Len(t, dls, 1, "a dry run keeps the dead letter")

	broken.Store(false)
	r, err = d.Replay(ctx, dl.ID, false)
	require.NoError(t, err)
	require.Equal(t, "orig-1:replay:1", r.MsgID, "inside the duplicate window the replay gets its own id")
	select {
	case again := <-got:
		require.Equal(t, ev.ID, again.ID)
		require.Equal(t, ev.Data, again.Data)
		require.Equal(t, ev.CorrelationID, <-gotCorr)
	case <-time.After(30 * time.Second):
		t.Fatal("the replayed event never reached the handler")
	}
	dls, err = d.List(ctx)
	require.NoError(t, err)
	require.Empty(t, dls)
	s, err := b.JetStream().Stream(ctx, events.StreamIngest)
	require.NoError(t, err)
	replayed, err := s.GetLastMsgForSubject(ctx, events.IngestSubject(creator))
	require.NoError(t, err)
	require.Equal(t, "corr-"+creator.String(), replayed.Header.Get(bus.HeaderCorrelationID))
	for k := range replayed.Header {
		require.NotContains(t, []string{"handler_poisoned", "subscriber_poisoned", "topic_poisoned", bus.ReasonHeader, bus.SourceHeader,
			bus.SourceMsgIDHeader, bus.MetaDelivered, bus.MetaStreamSeq, bus.MetaSubject}, k, "the replay carries no dead-letter header")
	}
	_, err = d.Get(ctx, dl.ID)
	require.ErrorContains(t, err, "no message 1")
	_, err = d.Replay(ctx, dl.ID, false)
	require.ErrorContains(t, err, "no message 1", "a second replay of the same id finds nothing")
}

// deadLetter writes a message to the DLQ as the dead-letter paths do.
func deadLetter(t *testing.T, b *bus.Bus, source, msgID string, body []byte) {
	t.Helper()
	h := nats.Header{}
	h.Set(bus.SourceHeader, source)
	h.Set(bus.ReasonHeader, "test")
	h.Set(bus.HeaderCorrelationID, "c-"+msgID)
	if msgID != "" {
		h.Set(bus.SourceMsgIDHeader, msgID)
	}
	require.NoError(t, b.Publish(context.Background(), events.DLQSubject(events.StreamIngest), "dlq-"+uuid.NewString(), body, h))
}

// TestDLQReplayAllUnderOriginalIDs: dead letters whose originals are outside the duplicate window
// go back under their original Nats-Msg-Id, with their headers but without the dead-letter
// ones; --all replays every one; a dead letter without a source subject is refused.
func TestDLQReplayAllUnderOriginalIDs(t *testing.T) {
	t.Parallel()
	b := testenv.OwnBus(t)
	ctx := context.Background()
	creator := uuid.New()
	deadLetter(t, b, events.IngestSubject(creator), "long-ago-1", []byte(`{"n":1}`))
	deadLetter(t, b, events.IngestSubject(creator), "", []byte(`{"n":2}`))
	d := opscli.DLQ{JS: b.JetStream()}
	dls, err := d.List(ctx)
	require.NoError(t, err)
	require.Len(t, dls, 2)
	for _, dl := range dls {
		_, err := d.Replay(ctx, dl.ID, false)
		require.NoError(t, err)
	}
	s, err := b.JetStream().Stream(ctx, events.StreamIngest)
	require.NoError(t, err)
	first, err := s.GetLastMsgForSubject(ctx, events.IngestSubject(creator))
	require.NoError(t, err)
	require.Equal(t, "replay:2", first.Header.Get(nats.MsgIdHdr), "without an original id the replay's id is the dead letter's")
	require.Equal(t, "c-", first.Header.Get(bus.HeaderCorrelationID))
	prev, err := s.GetMsg(ctx, first.Sequence-1)
	require.NoError(t, err)
	require.Equal(t, "long-ago-1", prev.Header.Get(nats.MsgIdHdr))
	require.Equal(t, `{"n":1}`, string(prev.Data))
	require.Equal(t, "c-long-ago-1", prev.Header.Get(bus.HeaderCorrelationID))
	for _, k := range []string{bus.ReasonHeader, bus.SourceHeader, bus.SourceMsgIDHeader} {
		require.Empty(t, prev.Header.Get(k), k)
	}

	deadLetter(t, b, "", "x", []byte("{}"))
	dls, err = d.List(ctx)
	require.NoError(t, err)
	require.Len(t, dls, 1)
	_, err = d.Replay(ctx, dls[0].ID, false)
	require.ErrorContains(t, err, "original subject is unknown")
}

// TestDLQPurge: purge empties the stream and says how many it deleted; list then says so.
func TestDLQPurge(t *testing.T) {
	t.Parallel()
	b := testenv.OwnBus(t)
	ctx := context.Background()
	for i := range 3 {
		deadLetter(t, b, events.IngestSubject(uuid.New()), "m"+string(rune('a'+i)), []byte("{}"))
	}
	d := opscli.DLQ{JS: b.JetStream()}
	n, err := d.Purge(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 3, n)
	dls, err := d.List(ctx)
	require.NoError(t, err)
	require.Empty(t, dls)
	var out strings.Builder
	require.NoError(t, opscli.WriteList(&out, dls))
	require.Equal(t, "the dead-letter stream is empty\n", out.String())
}

// TestDLQWithoutStream: before any coachwire process created the streams, the DLQ commands say so.
func TestDLQWithoutStream(t *testing.T) {
	t.Parallel()
	b, err := bus.Connect(context.Background(), testenv.OwnNATS(t), t.Name(), testenv.Logger(t), bus.Options{})
	require.NoError(t, err)
	t.Cleanup(b.Close)
	_, err = opscli.DLQ{JS: b.JetStream()}.List(context.Background())
	require.ErrorContains(t, err, "does not exist yet")
}
