package generate_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/bus"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/llm"
	"github.com/coachwire/coachwire/internal/llm/ollamatest"
	"github.com/coachwire/coachwire/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const model = "llama3.2"

// ollama is a model double with the chat model and a client for it.
func ollama(t *testing.T, opts ollamatest.Options) (*ollamatest.Server, *llm.Client) {
	t.Helper()
	opts.ChatModels = []string{model}
	srv := ollamatest.New(t, opts)
	c, err := llm.New(srv.URL, llm.Options{MaxAttempts: 1, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	return srv, c
}

// rig is one creator (its own tenant) on a bus of its own, with the workers the test registers.
type rig struct {
	store   *db.Store
	b       *bus.Bus
	creator uuid.UUID
	router  *bus.Router
}

func newRig(t *testing.T, persona string) *rig {
	t.Helper()
	ctx := context.Background()
	r := &rig{store: testenv.Store(t), b: testenv.OwnBus(t), creator: uuid.New()}
	r.tx(t, func(q *db.Queries) error {
		_, err := q.InsertCreator(ctx, db.InsertCreatorParams{ID: r.creator, Name: "Coach", Email: r.creator.String() + "@example.com",
			WidgetKey: "wk-" + r.creator.String(), WidgetSecret: "ws", Persona: persona, AllowedOrigins: []string{}})
		return err
	})
	var err error
	r.router, err = bus.NewRouter(r.b, testenv.Logger(t))
	require.NoError(t, err)
	return r
}

// run starts the registered workers.
func (r *rig) run(t *testing.T) {
	t.Helper()
	go func() { _ = r.router.Run(context.Background()) }()
	<-r.router.Running()
	t.Cleanup(func() { _ = r.router.Close() })
}

func (r *rig) tx(t *testing.T, fn func(q *db.Queries) error) {
	t.Helper()
	require.NoError(t, r.store.InTenant(context.Background(), r.creator, fn))
}

// person creates an end user with a conversation on channel (WhatsApp and Telegram
// conversations belong to a channel).
func (r *rig) person(t *testing.T, channel string) (endUser, conv uuid.UUID) {
	t.Helper()
	ctx := context.Background()
	endUser, conv = uuid.New(), uuid.New()
	r.tx(t, func(q *db.Queries) error {
		if channel == events.ChannelWidget {
			if _, err := q.UpsertEndUser(ctx, db.UpsertEndUserParams{ID: endUser, CreatorID: r.creator, Channel: channel, ExternalID: "anon-" + endUser.String(), DisplayName: "Ana"}); err != nil {
				return err
			}
			_, err := q.UpsertConversation(ctx, db.UpsertConversationParams{ID: conv, CreatorID: r.creator, EndUserID: endUser, Channel: channel})
			return err
		}
		ch := uuid.New()
		if _, err := q.InsertChannel(ctx, db.InsertChannelParams{ID: ch, CreatorID: r.creator, Type: channel, Name: channel, ExternalID: ch.String(),
			Config: json.RawMessage("{}"), Secrets: "sealed"}); err != nil {
			return err
		}
		if _, err := q.UpsertChannelEndUser(ctx, db.UpsertChannelEndUserParams{ID: endUser, CreatorID: r.creator, Channel: channel, ExternalID: ch.String() + ":4917",
			ChannelID: uuid.NullUUID{UUID: ch, Valid: true}, ProviderUserID: "4917", ChatID: "4917"}); err != nil {
			return err
		}
		_, err := q.UpsertChannelConversation(ctx, db.UpsertChannelConversationParams{ID: conv, CreatorID: r.creator, EndUserID: endUser,
			Channel: channel, ChannelID: uuid.NullUUID{UUID: ch, Valid: true}})
		return err
	})
	return endUser, conv
}

// say stores a message of role in conv (as retrieve stores an inbound one) and returns it.
func (r *rig) say(t *testing.T, conv uuid.UUID, role, body string) db.Message {
	t.Helper()
	var m db.Message
	pid := uuid.NewString()
	r.tx(t, func(q *db.Queries) error {
		c, err := q.GetConversation(context.Background(), conv)
		if err != nil {
			return err
		}
		p := db.InsertMessageParams{ID: uuid.New(), CreatorID: r.creator, ConversationID: conv, Role: role, Body: body,
			Sources: json.RawMessage("[]"), Channel: c.Channel, Status: "received"}
		if role == "user" {
			p.ProviderMessageID = &pid
		}
		m, err = q.InsertMessage(context.Background(), p)
		return err
	})
	return m
}

// fixedAnswer stores an answer covering only msg, as retrieve does for a command.
func (r *rig) fixedAnswer(t *testing.T, msg db.Message, body string) uuid.UUID {
	t.Helper()
	id := uuid.New()
	r.tx(t, func(q *db.Queries) error {
		_, err := q.InsertReply(context.Background(), db.InsertReplyParams{ID: id, CreatorID: r.creator, ConversationID: msg.ConversationID,
			Body: body, Sources: json.RawMessage("[]"), ReplyTo: uuid.NullUUID{UUID: msg.ID, Valid: true}, Channel: msg.Channel,
			Status: "queued", Covers: []uuid.UUID{msg.ID}})
		return err
	})
	return id
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

func (r *rig) messages(t *testing.T, conv uuid.UUID) []db.Message {
	t.Helper()
	return testenv.Read(t, r.store, r.creator, func(ctx context.Context, q *db.Queries) ([]db.Message, error) {
		return q.RecentMessages(ctx, db.RecentMessagesParams{ConversationID: conv, Limit: 1000})
	})
}

func (r *rig) message(t *testing.T, id uuid.UUID) db.Message {
	t.Helper()
	return testenv.Read(t, r.store, r.creator, func(ctx context.Context, q *db.Queries) (db.Message, error) { return q.GetMessage(ctx, id) })
}

func (r *rig) conversation(t *testing.T, id uuid.UUID) db.Conversation {
	t.Helper()
	return testenv.Read(t, r.store, r.creator, func(ctx context.Context, q *db.Queries) (db.Conversation, error) { return q.GetConversation(ctx, id) })
}

// turn asks generate for a turn on msg under the bus message id key.
func (r *rig) turn(t *testing.T, key string, msg db.Message, passages []events.Passage, mode string) {
	t.Helper()
	ev := events.New(r.creator, events.TurnRequested{ConversationID: msg.ConversationID, MessageID: msg.ID, Channel: msg.Channel,
		Query: msg.Body, Passages: passages, SearchMode: mode}, nil, time.Now())
	require.NoError(t, bus.PublishEvent(context.Background(), r.b, events.GenerateSubject(r.creator), key, ev))
}

// settled waits until the durable consumer has acknowledged everything in its stream.
func (r *rig) settled(t *testing.T, stream, durable string) {
	t.Helper()
	ctx := context.Background()
	testenv.Eventually(t, 60*time.Second, func() bool {
		s, err := r.b.JetStream().Stream(ctx, stream)
		require.NoError(t, err)
		si, err := s.Info(ctx)
		require.NoError(t, err)
		c, err := s.Consumer(ctx, durable)
		require.NoError(t, err)
		ci, err := c.Info(ctx)
		require.NoError(t, err)
		return ci.AckFloor.Stream >= si.State.LastSeq && ci.NumAckPending == 0 && ci.NumPending == 0
	}, "%s to settle every message of %s", durable, stream)
}

// stream returns the event payloads stored in stream on subject, in order.
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
		if err != nil || m.Subject != subject {
			continue
		}
		var env struct {
			Data json.RawMessage `json:"data"`
		}
		require.NoError(t, json.Unmarshal(m.Data, &env))
		out = append(out, env.Data)
	}
	return out
}

// outbound is what was handed to dispatch on channel.
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

// listen collects the core-NATS messages on subject from now on.
type listener struct {
	ch chan *nats.Msg
}

func (r *rig) listen(t *testing.T, subject string) *listener {
	t.Helper()
	l := &listener{ch: make(chan *nats.Msg, 1024)}
	sub, err := r.b.Listen(context.Background(), subject, l.ch)
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	require.NoError(t, r.b.Flush(context.Background()))
	return l
}

// until collects the live frames until done holds for what arrived so far.
func (l *listener) until(t *testing.T, done func([]events.Live) bool) []events.Live {
	t.Helper()
	var out []events.Live
	deadline := time.After(30 * time.Second)
	for !done(out) {
		select {
		case m := <-l.ch:
			var f events.Live
			require.NoError(t, json.Unmarshal(m.Data, &f))
			out = append(out, f)
		case <-deadline:
			t.Fatalf("live frames: got %+v", out)
		}
	}
	return out
}

// text is what the delta frames add up to (a reset starts over).
func text(frames []events.Live) string {
	var b []byte
	for _, f := range frames {
		if f.Kind != "delta" {
			continue
		}
		if f.Reset {
			b = b[:0]
		}
		b = append(b, f.Text...)
	}
	return string(b)
}
