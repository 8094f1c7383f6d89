package retrieve_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/bus"
	"github.com/coachwire/coachwire/internal/channels"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/ids"
	"github.com/coachwire/coachwire/internal/retrieve"
	"github.com/coachwire/coachwire/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// rig is one creator (its own tenant) with a running retrieve worker on a bus of its own.
type rig struct {
	store   *db.Store
	b       *bus.Bus
	creator uuid.UUID
}

// newRig creates the creator and starts w (Store, Bus, Log and Now are filled in).
func newRig(t *testing.T, w *retrieve.Worker) *rig {
	t.Helper()
	ctx := context.Background()
	r := &rig{store: testenv.Store(t), b: testenv.OwnBus(t), creator: uuid.New()}
	r.tx(t, func(q *db.Queries) error {
		_, err := q.InsertCreator(ctx, db.InsertCreatorParams{ID: r.creator, Name: "Coach", Email: r.creator.String() + "@example.com",
			WidgetKey: "wk-" + r.creator.String(), WidgetSecret: "ws", AllowedOrigins: []string{}})
		return err
	})
	w.Store, w.Bus, w.Log, w.Now = r.store, r.b, testenv.Logger(t), time.Now
	router, err := bus.NewRouter(r.b, w.Log)
	require.NoError(t, err)
	require.NoError(t, w.Register(ctx, router))
	go func() { _ = router.Run(context.Background()) }()
	<-router.Running()
	t.Cleanup(func() { _ = router.Close() })
	return r
}

func (r *rig) tx(t *testing.T, fn func(q *db.Queries) error) {
	t.Helper()
	require.NoError(t, r.store.InTenant(context.Background(), r.creator, fn))
}

// channel adds a WhatsApp or Telegram channel with cfg.
func (r *rig) channel(t *testing.T, typ string, cfg channels.Config) uuid.UUID {
	t.Helper()
	id := uuid.New()
	raw, err := json.Marshal(cfg)
	require.NoError(t, err)
	r.tx(t, func(q *db.Queries) error {
		_, err := q.InsertChannel(context.Background(), db.InsertChannelParams{ID: id, CreatorID: r.creator, Type: typ, Name: typ,
			ExternalID: id.String(), Config: raw, Secrets: "sealed"})
		return err
	})
	return id
}

// widgetUser creates a widget end user with a conversation, as the gateway does.
func (r *rig) widgetUser(t *testing.T) (endUser, conv uuid.UUID) {
	t.Helper()
	ctx := context.Background()
	endUser, conv = uuid.New(), uuid.New()
	r.tx(t, func(q *db.Queries) error {
		if _, err := q.UpsertEndUser(ctx, db.UpsertEndUserParams{ID: endUser, CreatorID: r.creator, Channel: "widget", ExternalID: "anon-" + endUser.String()}); err != nil {
			return err
		}
		_, err := q.UpsertConversation(ctx, db.UpsertConversationParams{ID: conv, CreatorID: r.creator, EndUserID: endUser, Channel: "widget"})
		return err
	})
	return endUser, conv
}

// program creates an active program with keyword (one step, due a day after enrollment).
func (r *rig) program(t *testing.T, name, keyword string) uuid.UUID {
	t.Helper()
	id := uuid.New()
	r.tx(t, func(q *db.Queries) error {
		_, err := q.InsertProgram(context.Background(), db.InsertProgramParams{ID: id, CreatorID: r.creator, Name: name, Keyword: keyword,
			Steps: json.RawMessage(`[{"day":1,"content":{"kind":"text","text":"Welcome to ` + name + `"}}]`)})
		return err
	})
	return id
}

func (r *rig) enrollments(t *testing.T, program uuid.UUID) []db.ProgramEnrollment {
	t.Helper()
	var out []db.ProgramEnrollment
	r.tx(t, func(q *db.Queries) error {
		var err error
		out, err = q.ListEnrollments(context.Background(), db.ListEnrollmentsParams{ProgramID: program, MaxRows: 100})
		return err
	})
	return out
}

func (r *rig) putMemory(t *testing.T, endUser uuid.UUID, p map[string][]string) {
	t.Helper()
	raw, err := json.Marshal(p)
	require.NoError(t, err)
	r.tx(t, func(q *db.Queries) error {
		_, err := q.PutMemory(context.Background(), db.PutMemoryParams{EndUserID: endUser, CreatorID: r.creator, Profile: raw})
		return err
	})
}

// memory is the stored profile of endUser ("" when there is none).
func (r *rig) memory(t *testing.T, endUser uuid.UUID) string {
	t.Helper()
	var out string
	r.tx(t, func(q *db.Queries) error {
		m, err := q.GetMemory(context.Background(), endUser)
		if db.IsNotFound(err) {
			return nil
		}
		out = string(m.Profile)
		return err
	})
	return out
}

// messages is the conversation's history, oldest first.
func (r *rig) messages(t *testing.T, conv uuid.UUID) []db.Message {
	t.Helper()
	return testenv.Read(t, r.store, r.creator, func(ctx context.Context, q *db.Queries) ([]db.Message, error) {
		return q.RecentMessages(ctx, db.RecentMessagesParams{ConversationID: conv, Limit: 1000})
	})
}

func (r *rig) endUser(t *testing.T, id uuid.UUID) db.EndUser {
	t.Helper()
	return testenv.Read(t, r.store, r.creator, func(ctx context.Context, q *db.Queries) (db.EndUser, error) { return q.GetEndUser(ctx, id) })
}

// publish hands an inbound message to retrieve under msgID (a new id is a redelivery JetStream
// would make after a lost ack; the same one is deduplicated by the stream).
func (r *rig) publish(t *testing.T, msgID string, in events.MessageReceived) {
	t.Helper()
	ev := events.New(r.creator, in, nil, time.Now())
	require.NoError(t, bus.PublishEvent(context.Background(), r.b, events.InboundSubject(r.creator, in.Channel), msgID, ev))
}

// stream returns the payloads stored in stream on subject, in order.
func (r *rig) stream(t *testing.T, stream, subject string) []json.RawMessage {
	t.Helper()
	ctx := context.Background()
	s, err := r.b.JetStream().Stream(ctx, stream)
	require.NoError(t, err)
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(subject))
	require.NoError(t, err)
	var out []json.RawMessage
	if info.State.Msgs == 0 {
		return nil
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			continue // deleted
		}
		if m.Subject == subject {
			var env struct {
				Data json.RawMessage `json:"data"`
			}
			require.NoError(t, json.Unmarshal(m.Data, &env))
			out = append(out, env.Data)
		}
	}
	return out
}

// outbound is what retrieve handed to dispatch on channel.
func (r *rig) outbound(t *testing.T, channel string) []events.MessageOutbound {
	t.Helper()
	var out []events.MessageOutbound
	for _, raw := range r.stream(t, "CW_OUTBOUND", events.OutboundSubject(r.creator, channel)) {
		var o events.MessageOutbound
		require.NoError(t, json.Unmarshal(raw, &o))
		out = append(out, o)
	}
	return out
}

// turns is what retrieve asked generate for.
func (r *rig) turns(t *testing.T) []events.TurnRequested {
	t.Helper()
	var out []events.TurnRequested
	for _, raw := range r.stream(t, "CW_GENERATE", events.GenerateSubject(r.creator)) {
		var o events.TurnRequested
		require.NoError(t, json.Unmarshal(raw, &o))
		out = append(out, o)
	}
	return out
}

// memoryRequests is what retrieve told the memory extractor.
func (r *rig) memoryRequests(t *testing.T) []events.MemoryRequested {
	t.Helper()
	var out []events.MemoryRequested
	for _, raw := range r.stream(t, "CW_MEMORY", events.MemorySubject(r.creator)) {
		var o events.MemoryRequested
		require.NoError(t, json.Unmarshal(raw, &o))
		out = append(out, o)
	}
	return out
}

// handled waits until the worker has acknowledged every inbound message published so far: then
// everything it publishes for them is in the streams.
func (r *rig) handled(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	testenv.Eventually(t, 30*time.Second, func() bool {
		s, err := r.b.JetStream().Stream(ctx, "CW_INBOUND")
		require.NoError(t, err)
		si, err := s.Info(ctx)
		require.NoError(t, err)
		c, err := s.Consumer(ctx, "retrieve")
		require.NoError(t, err)
		ci, err := c.Info(ctx)
		require.NoError(t, err)
		return ci.AckFloor.Stream >= si.State.LastSeq && ci.NumAckPending == 0 && ci.NumPending == 0
	}, "retrieve to settle every inbound message")
}

// answerTo is the fixed answer stored for the inbound message, if any.
func (r *rig) answerTo(t *testing.T, conv, msgID uuid.UUID) *db.Message {
	t.Helper()
	for _, m := range r.messages(t, conv) {
		if m.ID == ids.Reply(msgID) {
			return &m
		}
	}
	return nil
}

// freezeProxy forwards TCP to target until frozen; then it cuts the open connections and
// holds new ones without answering (a server under SIGSTOP, as far as a client can tell).
type freezeProxy struct {
	ln     net.Listener
	mu     sync.Mutex
	frozen bool
	conns  []net.Conn
}

func newFreezeProxy(t *testing.T, target string) *freezeProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &freezeProxy{ln: ln}
	t.Cleanup(func() { _ = ln.Close(); p.freeze() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			p.conns = append(p.conns, c)
			frozen := p.frozen
			p.mu.Unlock()
			if frozen {
				continue // held open, never answered
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); _ = up.Close() }()
			go func() { _, _ = io.Copy(c, up); _ = c.Close() }()
		}
	}()
	return p
}

func (p *freezeProxy) addr() string { return p.ln.Addr().String() }

func (p *freezeProxy) freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.frozen = true
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}
