package bus_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
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

func connect(t *testing.T, url string, log *slog.Logger, opt bus.Options) *bus.Bus {
	t.Helper()
	b, err := bus.Connect(context.Background(), url, t.Name(), log, opt)
	require.NoError(t, err)
	t.Cleanup(b.Close)
	return b
}

func streamConfig(t *testing.T, b *bus.Bus, name string) jetstream.StreamConfig {
	t.Helper()
	s, err := b.JetStream().Stream(context.Background(), name)
	require.NoError(t, err)
	return s.CachedInfo().Config
}

// TestStreamReplicasReconciled: on a 3-node cluster, streams created with one replica move to
// three when a process starts with COACHWIRE_STREAM_REPLICAS=3 (logged), keep every message,
// and stay writable and readable after a server (the stream's leader) stops.
func TestStreamReplicasReconciled(t *testing.T) {
	t.Parallel()
	cl := testenv.StartNATSCluster(t, 3)
	ctx := context.Background()
	b1 := connect(t, cl.URL(), testenv.Logger(t), bus.Options{Replicas: 1})
	// A stream as the previous version created it: no size limit, DiscardOld.
	ingest := events.Streams[slices.IndexFunc(events.Streams, func(s events.StreamSpec) bool { return s.Name == events.StreamIngest })]
	_, err := b1.JetStream().CreateStream(ctx, jetstream.StreamConfig{Name: ingest.Name, Subjects: ingest.Subjects,
		Storage: jetstream.FileStorage, Replicas: 1, MaxAge: ingest.MaxAge, Duplicates: events.DuplicateWindow, Discard: jetstream.DiscardOld})
	require.NoError(t, err)
	require.NoError(t, b1.EnsureStreams(ctx))
	for _, s := range events.Streams {
		cfg := streamConfig(t, b1, s.Name)
		require.Equal(t, 1, cfg.Replicas, s.Name)
		require.Equal(t, jetstream.DiscardNew, cfg.Discard, s.Name)
		want := int64(bus.DefaultStreamMaxBytes)
		if s.Name == events.StreamDLQ {
			want = -1 // never full: a dead letter that cannot be written is lost
		}
		require.Equal(t, want, cfg.MaxBytes, s.Name)
	}
	var info *jetstream.StreamInfo
	var st jetstream.Stream
	creator := uuid.New()
	subject := events.IngestSubject(creator)
	publish := func(b *bus.Bus, i int) error {
		ev := events.New(creator, events.DocumentIngest{DocumentID: uuid.New(), Action: "index", Version: int32(i)}, nil, time.Now())
		return bus.PublishEvent(ctx, b, subject, fmt.Sprintf("replicas-%d", i), ev)
	}
	for i := range 20 {
		require.NoError(t, publish(b1, i))
	}

	var logs testenv.SyncBuffer
	b3 := connect(t, cl.URL(), slog.New(slog.NewTextHandler(&logs, nil)), bus.Options{Replicas: 3})
	require.NoError(t, b3.EnsureStreams(ctx))
	for _, s := range events.Streams {
		require.Equal(t, 3, streamConfig(t, b3, s.Name).Replicas, s.Name)
	}
	require.Contains(t, logs.String(), "stream settings reconciled")
	require.Contains(t, logs.String(), "replicas 1→3")
	// A second start with the same settings changes (and logs) nothing.
	n := len(logs.String())
	require.NoError(t, b3.EnsureStreams(ctx))
	require.Len(t, logs.String(), n)
	// A process asking for fewer replicas (started without the setting) keeps them, and says so.
	require.NoError(t, b1.EnsureStreams(ctx))
	for _, s := range events.Streams {
		require.Equal(t, 3, streamConfig(t, b1, s.Name).Replicas, s.Name)
	}

	// Every replica caught up before the leader goes (a replica still copying would not count).
	st, err = b3.JetStream().Stream(ctx, events.StreamIngest)
	require.NoError(t, err)
	testenv.Eventually(t, 20*time.Second, func() bool {
		info, err := st.Info(ctx)
		if err != nil || info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
			return false
		}
		for _, r := range info.Cluster.Replicas {
			if !r.Current {
				return false
			}
		}
		return true
	}, "the replicas of %s current", events.StreamIngest)
	info, err = st.Info(ctx)
	require.NoError(t, err)
	leader := cl.Index(info.Cluster.Leader)
	require.GreaterOrEqual(t, leader, 0, "leader %q", info.Cluster.Leader)
	cl.Stop(leader)

	// Two of three servers: the stream elects a new leader and takes writes again.
	testenv.Eventually(t, 30*time.Second, func() bool { return publish(b3, 20) == nil }, "a publish after the leader stopped")
	info, err = st.Info(ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(21), info.State.Msgs, "no message lost with the leader")
}

// TestFullStreamRefusesNeverDrops: a stream at its size limit removes only what its consumers
// acknowledged to make room; with nothing acknowledged it refuses the publish (ErrStreamFull)
// instead of deleting unprocessed work, and every message accepted is delivered.
func TestFullStreamRefusesNeverDrops(t *testing.T) {
	t.Parallel()
	var logs testenv.SyncBuffer
	b := connect(t, testenv.OwnNATS(t), slog.New(slog.NewTextHandler(&logs, nil)), bus.Options{MaxMsgs: 10})
	ctx := context.Background()
	require.NoError(t, b.EnsureStreams(ctx))
	require.Equal(t, int64(10), streamConfig(t, b, events.StreamIngest).MaxMsgs)

	creator := uuid.New()
	subject := events.IngestSubject(creator)
	publish := func(i int) error {
		ev := events.New(creator, events.DocumentIngest{DocumentID: uuid.New(), Action: "index", Version: int32(i)}, nil, time.Now())
		return bus.PublishEvent(ctx, b, subject, fmt.Sprintf("full-%d", i), ev)
	}
	// Another role's consumer on the stream whose filter matches none of these messages (as
	// dispatch-whatsapp on CW_OUTBOUND when only the widget is used) does not hold them back.
	startRouter(t, b, uuid.New(), 5, func(*message.Message) error { return nil })
	gate := make(chan struct{})
	var mu sync.Mutex
	seen := map[int32]int{}
	startRouter(t, b, creator, 5, func(m *message.Message) error {
		<-gate
		ev, err := bus.Decode[events.DocumentIngest](m)
		if err != nil {
			return err
		}
		mu.Lock()
		seen[ev.Data.Version]++
		mu.Unlock()
		return nil
	})
	for i := range 10 {
		require.NoError(t, publish(i))
	}
	err := publish(10)
	require.ErrorIs(t, err, bus.ErrStreamFull, "nothing processed: the publish is refused")
	require.Contains(t, logs.String(), "nothing processed to remove")

	close(gate) // the consumer catches up: its acknowledged messages make room
	testenv.Eventually(t, 10*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(seen) == 10 }, "the first ten handled")
	// (Acknowledgements reach the server just after the handler returns.)
	testenv.Eventually(t, 10*time.Second, func() bool { return publish(10) == nil }, "a publish after the consumer caught up")
	require.NoError(t, publish(11))
	require.Contains(t, logs.String(), "removed the messages every consumer acknowledged")
	testenv.Eventually(t, 10*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(seen) == 12 }, "all twelve handled")
	mu.Lock()
	defer mu.Unlock()
	for v, n := range seen {
		require.Equal(t, 1, n, "message %d delivered once", v)
	}
}

// TestBatchIntoFullStream: PublishBatch compacts like Publish, and reports ErrStreamFull when
// it cannot.
func TestBatchIntoFullStream(t *testing.T) {
	t.Parallel()
	b := connect(t, testenv.OwnNATS(t), testenv.Logger(t), bus.Options{MaxMsgs: 5})
	ctx := context.Background()
	require.NoError(t, b.EnsureStreams(ctx))
	creator := uuid.New()
	batch := func(from, n int) []bus.Outgoing {
		var out []bus.Outgoing
		for i := from; i < from+n; i++ {
			ev := events.New(creator, events.DocumentIngest{DocumentID: uuid.New(), Action: "index", Version: int32(i)}, nil, time.Now())
			o, err := bus.Event(events.IngestSubject(creator), fmt.Sprintf("batch-%d", i), ev)
			require.NoError(t, err)
			out = append(out, o)
		}
		return out
	}
	require.ErrorIs(t, b.PublishBatch(ctx, batch(0, 6)), bus.ErrStreamFull)
	s, err := b.JetStream().Stream(ctx, events.StreamIngest)
	require.NoError(t, err)
	require.Equal(t, uint64(5), s.CachedInfo().State.Msgs, "the first five stored, none removed")
}
