package dispatch_test

// The dispatch role on the real PostgreSQL and NATS JetStream with the loopback providers:
// what an outbound or delivery-status event leads to at the provider doubles and in the send
// log. The tests do not run in parallel: every worker of the package consumes the same durable
// consumers (dispatch, dispatch-whatsapp, dispatch-telegram, dispatch-delivery), so a parallel
// test's worker would take this test's messages to its own doubles. Each test still has its own
// creator and worker.

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/bus"
	"github.com/coachwire/coachwire/internal/channels"
	"github.com/coachwire/coachwire/internal/channels/telegramtest"
	"github.com/coachwire/coachwire/internal/channels/whatsapptest"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/dispatch"
	"github.com/coachwire/coachwire/internal/secrets"
	"github.com/coachwire/coachwire/internal/testenv"
)

// msgSpec is one stored message for a recipient.
type msgSpec struct {
	typ       string        // whatsapp, telegram or widget
	channel   uuid.NullUUID // the conversation's channel (none: removed)
	to        string        // recipient (chat id / wa_id); widget: ignored
	user      string        // the person's provider id when not the chat (a group member)
	body      string
	inboundAt *time.Time // the person's last message (nil: now)
	template  []byte     // the message's own WhatsApp template
	reply     bool       // a reply to a message of the person (not proactive)
	endUser   uuid.UUID  // reuse this widget end user's conversation (widget only)
	optedOut  bool       // the person opted out of proactive messages
}

type stored struct {
	id, conv, endUser uuid.UUID
	seq               int64
}

// put writes the end user, conversation and assistant message of s.
func (r *rig) put(t *testing.T, s msgSpec) stored {
	t.Helper()
	ctx := context.Background()
	var out stored
	require.NoError(t, r.put1(ctx, s, &out))
	return out
}

func (r *rig) put1(ctx context.Context, s msgSpec, out *stored) error {
	return r.store.InTenant(ctx, r.creator, func(q *db.Queries) error {
		var (
			eu   db.EndUser
			conv db.Conversation
			err  error
		)
		if s.typ == events.ChannelWidget {
			if s.endUser != uuid.Nil {
				if eu, err = q.GetEndUser(ctx, s.endUser); err != nil {
					return err
				}
			} else if eu, err = q.UpsertEndUser(ctx, db.UpsertEndUserParams{ID: uuid.New(), CreatorID: r.creator, Channel: "widget",
				ExternalID: "anon-" + uuid.NewString()}); err != nil {
				return err
			}
			if conv, err = q.UpsertConversation(ctx, db.UpsertConversationParams{ID: uuid.New(), CreatorID: r.creator, EndUserID: eu.ID, Channel: "widget"}); err != nil {
				return err
			}
		} else {
			at := time.Now()
			if s.inboundAt != nil {
				at = *s.inboundAt
			}
			user := s.to
			if s.user != "" {
				user = s.user
			}
			if eu, err = q.UpsertChannelEndUser(ctx, db.UpsertChannelEndUserParams{ID: uuid.New(), CreatorID: r.creator, Channel: s.typ,
				ExternalID: uuid.NewString() + ":" + s.to, ChannelID: s.channel, ProviderUserID: user, ChatID: s.to, InboundAt: &at}); err != nil {
				return err
			}
			if conv, err = q.UpsertChannelConversation(ctx, db.UpsertChannelConversationParams{ID: uuid.New(), CreatorID: r.creator, EndUserID: eu.ID,
				Channel: s.typ, ChannelID: s.channel}); err != nil {
				return err
			}
		}
		if s.optedOut {
			if _, err := q.SetEndUserOptOut(ctx, db.SetEndUserOptOutParams{ID: eu.ID, OptedOut: true}); err != nil {
				return err
			}
		}
		var replyTo uuid.NullUUID
		if s.reply {
			u, err := q.InsertMessage(ctx, db.InsertMessageParams{ID: uuid.New(), CreatorID: r.creator, ConversationID: conv.ID, Role: "user",
				Body: "a question", Sources: []byte("[]"), Channel: s.typ, Status: "received"})
			if err != nil {
				return err
			}
			replyTo = uuid.NullUUID{UUID: u.ID, Valid: true}
		}
		m, err := q.InsertMessage(ctx, db.InsertMessageParams{ID: uuid.New(), CreatorID: r.creator, ConversationID: conv.ID, Role: "assistant",
			Body: s.body, Sources: []byte("[]"), ReplyTo: replyTo, Channel: s.typ, Status: "generated", Template: s.template})
		if err != nil {
			return err
		}
		*out = stored{id: m.ID, conv: conv.ID, endUser: eu.ID, seq: m.Seq}
		return nil
	})
}

// outbound hands a stored message to dispatch with bus.PublishEvent; natsID is the message's
// JetStream id (a duplicate with another id is a redelivered or repeated event).
func (r *rig) outbound(t *testing.T, typ string, s stored, natsID string) {
	t.Helper()
	ev := events.New(r.creator, events.MessageOutbound{MessageID: s.id, ConversationID: s.conv, EndUserID: s.endUser, Channel: typ}, nil, time.Now())
	require.NoError(t, bus.PublishEvent(context.Background(), r.b, events.OutboundSubject(r.creator, typ), natsID, ev))
}

// deliveryStatus publishes one delivery status (provider webhook or widget receipt).
func (r *rig) deliveryStatus(t *testing.T, st events.DeliveryStatus) {
	t.Helper()
	ev := events.New(r.creator, st, nil, time.Now())
	require.NoError(t, bus.PublishEvent(context.Background(), r.b, events.DeliverySubject(r.creator), uuid.NewString(), ev))
}

// drained waits until the durable consumer has handled and settled every event published so
// far on subject: it was delivered past the subject's last message and nothing is unsettled.
func (r *rig) drained(t *testing.T, stream, durable, subject string) {
	t.Helper()
	ctx := context.Background()
	st, err := r.b.JetStream().Stream(ctx, stream)
	require.NoError(t, err)
	last, err := st.GetLastMsgForSubject(ctx, subject)
	require.NoError(t, err)
	testenv.Eventually(t, 60*time.Second, func() bool {
		c, err := r.b.JetStream().Consumer(ctx, stream, durable)
		if err != nil {
			return false
		}
		info, err := c.Info(ctx)
		return err == nil && info.Delivered.Stream >= last.Sequence && info.NumAckPending == 0
	}, "consumer %s drained", durable)
}

func (r *rig) message(t *testing.T, id uuid.UUID) db.Message {
	t.Helper()
	var m db.Message
	require.NoError(t, r.store.InTenant(context.Background(), r.creator, func(q *db.Queries) error {
		var err error
		m, err = q.GetMessage(context.Background(), id)
		return err
	}))
	return m
}

func (r *rig) waitStatus(t *testing.T, id uuid.UUID, want string) db.Message {
	t.Helper()
	var m db.Message
	testenv.Eventually(t, 60*time.Second, func() bool { m = r.message(t, id); return m.Status == want }, "message %s", want)
	return m
}

func (r *rig) endUser(t *testing.T, id uuid.UUID) db.EndUser {
	t.Helper()
	var eu db.EndUser
	require.NoError(t, r.store.InTenant(context.Background(), r.creator, func(q *db.Queries) error {
		var err error
		eu, err = q.GetEndUser(context.Background(), id)
		return err
	}))
	return eu
}

// parts are the send log's parts of a message: part → status.
func (r *rig) parts(t *testing.T, id uuid.UUID) map[int32]string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, r.db.AppURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	_, err = tx.Exec(ctx, "SELECT set_config('app.creator_id', $1, true)", r.creator.String())
	require.NoError(t, err)
	rows, err := tx.Query(ctx, "SELECT part, status FROM delivery_parts WHERE message_id = $1", id)
	require.NoError(t, err)
	out := map[int32]string{}
	for rows.Next() {
		var p int32
		var s string
		require.NoError(t, rows.Scan(&p, &s))
		out[p] = s
	}
	require.NoError(t, rows.Err())
	return out
}

func wa(ch uuid.UUID) uuid.NullUUID { return uuid.NullUUID{UUID: ch, Valid: true} }

// TestWhatsAppPartsAndWindow: a long reply goes out as ordered 4096-character parts, each in
// the send log with the first part's wamid on the message; outside the 24-hour window the
// message's own template (with its parameters) is sent instead, else the channel's template,
// else nothing (window_closed, 131047); a 131047 from the provider inside our window is the
// same closed window.
func TestWhatsAppPartsAndWindow(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.startWorker(t, dispatch.Limits{}, nil)
	to := r.recipients(6)

	para := func(tag string) string { return tag + " " + strings.Repeat("Sleep is a skill you can practise. ", 110) }
	long := r.put(t, msgSpec{typ: "whatsapp", channel: wa(r.channel), to: to[0], body: para("ONE") + "\n\n" + para("TWO") + "\n\n" + para("THREE")})
	r.outbound(t, "whatsapp", long, "out:"+long.id.String())
	m := r.waitStatus(t, long.id, "sent")
	sent := r.wa.SentTo(to[0])
	require.Len(t, sent, 3)
	for i, tag := range []string{"ONE", "TWO", "THREE"} {
		require.Equal(t, "text", sent[i].Type)
		require.True(t, strings.HasPrefix(sent[i].Text, tag+" "), "part %d: %.20q", i, sent[i].Text)
		require.LessOrEqual(t, len([]rune(sent[i].Text)), 4096)
	}
	require.Equal(t, map[int32]string{0: "sent", 1: "sent", 2: "sent"}, r.parts(t, long.id))
	require.NotNil(t, m.ProviderMessageID)
	require.Equal(t, sent[0].WAMID, *m.ProviderMessageID, "the message carries its first part's wamid")

	// 25 hours after the person's last message, no template anywhere: nothing sent.
	old := time.Now().Add(-25 * time.Hour)
	closed := r.put(t, msgSpec{typ: "whatsapp", channel: wa(r.channel), to: to[1], body: "Checking in!", inboundAt: &old})
	r.outbound(t, "whatsapp", closed, "out:"+closed.id.String())
	m = r.waitStatus(t, closed.id, "window_closed")
	require.Equal(t, "131047", m.ErrorCode)
	require.Empty(t, r.wa.SentTo(to[1]))

	// The message's own template, its parameters as the body's components.
	tmpl, _ := json.Marshal(events.MessageTemplate{Name: "weekly_checkin", Language: "de", Params: []string{"Ana", "Montag"}})
	own := r.put(t, msgSpec{typ: "whatsapp", channel: wa(r.channel), to: to[2], body: "Hi Ana!", inboundAt: &old, template: tmpl})
	r.outbound(t, "whatsapp", own, "out:"+own.id.String())
	m = r.waitStatus(t, own.id, "sent")
	sent = r.wa.SentTo(to[2])
	require.Len(t, sent, 1)
	require.Equal(t, "template", sent[0].Type)
	require.Equal(t, "weekly_checkin", sent[0].Template)
	require.Equal(t, "de", sent[0].TemplateLang)
	require.Contains(t, string(sent[0].Components), `"Ana"`)
	require.Contains(t, string(sent[0].Components), `"Montag"`)
	require.Equal(t, map[int32]string{1000: "sent"}, r.parts(t, own.id), "the template is part 1000 of the send log")
	require.Equal(t, sent[0].WAMID, *m.ProviderMessageID)

	// The channel's default template, without parameters, on a second number of the creator.
	ch2 := uuid.New()
	sealed, err := r.keys.SealChannel(ch2, secrets.ChannelCredentials{AccessToken: whatsapptest.DefaultAccessToken, AppSecret: "a", VerifyToken: "v"})
	require.NoError(t, err)
	cfg, _ := json.Marshal(channels.Config{PhoneNumberID: "100000000000002", Template: &channels.Template{Name: "coach_reengage", Language: "en_US"}})
	require.NoError(t, r.store.InTenant(context.Background(), r.creator, func(q *db.Queries) error {
		_, err := q.InsertChannel(context.Background(), db.InsertChannelParams{ID: ch2, CreatorID: r.creator, Type: "whatsapp", Name: "wa2",
			ExternalID: "100000000000002", Config: cfg, Secrets: sealed})
		return err
	}))
	def := r.put(t, msgSpec{typ: "whatsapp", channel: wa(ch2), to: to[3], body: "Checking in!", inboundAt: &old})
	r.outbound(t, "whatsapp", def, "out:"+def.id.String())
	r.waitStatus(t, def.id, "sent")
	sent = r.wa.SentTo(to[3])
	require.Len(t, sent, 1)
	require.Equal(t, "template", sent[0].Type)
	require.Equal(t, "coach_reengage", sent[0].Template)
	require.Equal(t, "100000000000002", sent[0].PhoneNumberID)
	require.Empty(t, sent[0].Components)

	// Our clock says the window is open, the provider says it is not (131047): the message's
	// template goes instead of the text; without one it is window_closed.
	r.wa.EnforceWindow(true)
	r.wa.OpenWindow(to[0]) // the others' windows are closed at the provider
	late := r.put(t, msgSpec{typ: "whatsapp", channel: wa(r.channel), to: to[4], body: "Free text", template: tmpl})
	r.outbound(t, "whatsapp", late, "out:"+late.id.String())
	r.waitStatus(t, late.id, "sent")
	sent = r.wa.SentTo(to[4])
	require.Len(t, sent, 1)
	require.Equal(t, "template", sent[0].Type)
	require.Equal(t, map[int32]string{0: "failed", 1000: "sent"}, r.parts(t, late.id))
	bare := r.put(t, msgSpec{typ: "whatsapp", channel: wa(r.channel), to: to[5], body: "Free text"})
	r.outbound(t, "whatsapp", bare, "out:"+bare.id.String())
	require.Equal(t, "131047", r.waitStatus(t, bare.id, "window_closed").ErrorCode)
	require.Empty(t, r.wa.SentTo(to[5]))
}

// TestTelegramSendAndRefusals: a reply is sent to the chat with "chat:message" as its provider
// id; a refusal of the text (400) fails the message with the code and nothing else; a bot the
// person blocked (403) fails it and opts the person out; a chat id that is no number is never
// sent to.
func TestTelegramSendAndRefusals(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.startWorker(t, dispatch.Limits{}, nil)
	base := 7_000_000 + int64(uuid.New().ID()%1_000_000)*10
	chat := func(i int) string { return fmt.Sprint(base + int64(i)) }
	tg := uuid.NullUUID{UUID: r.tgChan, Valid: true}

	ok := r.put(t, msgSpec{typ: "telegram", channel: tg, to: chat(0), body: "Stop caffeine by noon.", reply: true})
	r.outbound(t, "telegram", ok, "out:"+ok.id.String())
	m := r.waitStatus(t, ok.id, "sent")
	sent := r.tg.SentTo(base)
	require.Len(t, sent, 1)
	require.Equal(t, "Stop caffeine by noon.", sent[0].Text)
	require.Equal(t, fmt.Sprintf("%d:%d", base, sent[0].MessageID), *m.ProviderMessageID)

	// A parse error: failed with Telegram's code, the part failed, the person still subscribed.
	r.tg.FailNext(1, 400, "Bad Request: can't parse entities: unsupported start tag", 0)
	bad := r.put(t, msgSpec{typ: "telegram", channel: tg, to: chat(1), body: "<b>bold", reply: true})
	r.outbound(t, "telegram", bad, "out:"+bad.id.String())
	m = r.waitStatus(t, bad.id, "failed")
	require.Equal(t, "400", m.ErrorCode)
	require.Contains(t, m.Error, "parse entities")
	require.Equal(t, map[int32]string{0: "failed"}, r.parts(t, bad.id))
	require.Nil(t, r.endUser(t, bad.endUser).OptedOutAt)
	require.Empty(t, r.tg.SentTo(base+1))

	// Blocked: 403, failed, opted out of proactive messages.
	r.tg.Block(base + 2)
	blocked := r.put(t, msgSpec{typ: "telegram", channel: tg, to: chat(2), body: "Still there?", reply: true})
	r.outbound(t, "telegram", blocked, "out:"+blocked.id.String())
	m = r.waitStatus(t, blocked.id, "failed")
	require.Equal(t, "403", m.ErrorCode)
	require.NotNil(t, r.endUser(t, blocked.endUser).OptedOutAt, "a blocked bot opts the person out")
	require.Contains(t, r.logs.String(), "recipient gone: end user opted out")

	// Not a chat id.
	nan := r.put(t, msgSpec{typ: "telegram", channel: tg, to: "@someone", body: "Hello", reply: true})
	r.outbound(t, "telegram", nan, "out:"+nan.id.String())
	require.Contains(t, r.waitStatus(t, nan.id, "failed").Error, "not a number")
	require.Len(t, r.tg.Sent(), 1, "only the first reply was accepted")
}

// TestProactiveStopsAtTheLastMoment: a proactive message (no reply to anything) to a person who
// opted out after it was decided is failed as opted_out, never sent, while a reply to that
// person still goes; a conversation whose channel is gone fails as channel_removed.
func TestProactiveStopsAtTheLastMoment(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.startWorker(t, dispatch.Limits{}, nil)
	to := r.recipients(3)
	nudge := r.put(t, msgSpec{typ: "whatsapp", channel: wa(r.channel), to: to[0], body: "How is your week?", optedOut: true})
	reply := r.put(t, msgSpec{typ: "whatsapp", channel: wa(r.channel), to: to[1], body: "Here is the answer.", optedOut: true, reply: true})
	gone := r.put(t, msgSpec{typ: "whatsapp", to: to[2], body: "Anyone?", reply: true})
	for _, s := range []stored{nudge, reply, gone} {
		r.outbound(t, "whatsapp", s, "out:"+s.id.String())
	}
	require.Equal(t, "opted_out", r.waitStatus(t, nudge.id, "failed").ErrorCode)
	r.waitStatus(t, reply.id, "sent")
	require.Equal(t, "channel_removed", r.waitStatus(t, gone.id, "failed").ErrorCode)
	require.Empty(t, r.wa.SentTo(to[0]))
	require.Len(t, r.wa.SentTo(to[1]), 1)
	require.Empty(t, r.wa.SentTo(to[2]))
	require.Empty(t, r.parts(t, nudge.id), "no provider call was started")
}

// TestProviderErrorsRetriedWithoutDoubleSends: 5xx answers and a number's 429 are retried in
// place; the person gets the message once, the send log counts every call of the part.
func TestProviderErrorsRetriedWithoutDoubleSends(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.startWorker(t, dispatch.Limits{}, nil)
	to := r.recipients(2)

	r.wa.FailNext(2, 503, 2, 0)
	a := r.put(t, msgSpec{typ: "whatsapp", channel: wa(r.channel), to: to[0], body: "After two 503s.", reply: true})
	r.outbound(t, "whatsapp", a, "out:"+a.id.String())
	r.waitStatus(t, a.id, "sent")
	require.Len(t, r.wa.SentTo(to[0]), 1)
	require.Equal(t, map[int32]int32{0: 3}, r.attempts(t, a.id))
	require.Equal(t, map[int32]string{0: "sent"}, r.parts(t, a.id))

	r.wa.FailNext(1, 429, 130429, 1)
	b := r.put(t, msgSpec{typ: "whatsapp", channel: wa(r.channel), to: to[1], body: "After the number's limit.", reply: true})
	r.outbound(t, "whatsapp", b, "out:"+b.id.String())
	r.waitStatus(t, b.id, "sent")
	require.Len(t, r.wa.SentTo(to[1]), 1)
	require.Equal(t, map[int32]int32{0: 2}, r.attempts(t, b.id))
	require.Contains(t, r.logs.String(), "provider rate limit: sends paused")

	chat := 9_000_000 + int64(uuid.New().ID()%1_000_000)
	r.tg.FailNext(1, 502, "Bad Gateway", 0)
	r.tg.FailNext(1, 429, "Too Many Requests: retry after 1", 1)
	c := r.put(t, msgSpec{typ: "telegram", channel: uuid.NullUUID{UUID: r.tgChan, Valid: true}, to: fmt.Sprint(chat), body: "Third time lucky.", reply: true})
	r.outbound(t, "telegram", c, "out:"+c.id.String())
	r.waitStatus(t, c.id, "sent")
	require.Len(t, r.tg.SentTo(chat), 1)
	require.Equal(t, map[int32]int32{0: 3}, r.attempts(t, c.id))
}

// TestDuplicateOutboundSendsOnce: the same outbound event published twice under different
// JetStream ids (a producer's retry past the duplicate window) sends once, on every channel.
func TestDuplicateOutboundSendsOnce(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.startWorker(t, dispatch.Limits{}, nil)
	to := r.recipients(1)
	chat := 8_000_000 + int64(uuid.New().ID()%1_000_000)
	w := r.put(t, msgSpec{typ: "whatsapp", channel: wa(r.channel), to: to[0], body: "Once on WhatsApp.", reply: true})
	g := r.put(t, msgSpec{typ: "telegram", channel: uuid.NullUUID{UUID: r.tgChan, Valid: true}, to: fmt.Sprint(chat), body: "Once on Telegram.", reply: true})
	live := r.b.Conn()
	wd := r.put(t, msgSpec{typ: "widget", body: "Once on the widget.", reply: true})
	sub, err := live.SubscribeSync(events.LiveSubject(r.creator, wd.conv))
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	require.NoError(t, live.Flush())
	for i := range 3 {
		r.outbound(t, "whatsapp", w, fmt.Sprintf("out:%s:%d", w.id, i))
		r.outbound(t, "telegram", g, fmt.Sprintf("out:%s:%d", g.id, i))
	}
	// The widget's send log is at-least-once while a push is in flight (the socket and the
	// replay on reconnect dedupe by seq): its duplicate comes after the push.
	r.outbound(t, "widget", wd, "out:"+wd.id.String())
	r.waitStatus(t, wd.id, "sent")
	r.drained(t, "CW_OUTBOUND", "dispatch", events.OutboundSubject(r.creator, "widget"))
	r.outbound(t, "widget", wd, "out:"+wd.id.String()+":again")
	r.waitStatus(t, w.id, "sent")
	r.waitStatus(t, g.id, "sent")
	r.drained(t, "CW_OUTBOUND", "dispatch-whatsapp", events.OutboundSubject(r.creator, "whatsapp"))
	r.drained(t, "CW_OUTBOUND", "dispatch-telegram", events.OutboundSubject(r.creator, "telegram"))
	r.drained(t, "CW_OUTBOUND", "dispatch", events.OutboundSubject(r.creator, "widget"))
	require.Len(t, r.wa.SentTo(to[0]), 1)
	require.Len(t, r.tg.SentTo(chat), 1)
	require.Equal(t, map[int32]int32{0: 1}, r.attempts(t, w.id))
	require.Equal(t, map[int32]int32{0: 1}, r.attempts(t, g.id))
	pushed := 0
	for {
		m, err := sub.NextMsg(0)
		if err != nil {
			break
		}
		var l events.Live
		require.NoError(t, json.Unmarshal(m.Data, &l))
		require.Equal(t, "message", l.Kind)
		require.Equal(t, wd.id, l.MessageID)
		require.Equal(t, "Once on the widget.", l.Text)
		pushed++
	}
	require.Equal(t, 1, pushed, "one push to the widget's live subject")
}

// TestInFlightPartAfterCrash: the send log decides what a new attempt does with parts an
// earlier (dead) attempt left behind. A part left sending within CallTimeout+2s is not called
// again until that time has passed, then once, logged as a re-send; a part left unknown (the
// answer never came) is re-sent at once, logged; a part left sent is never sent again.
func TestInFlightPartAfterCrash(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	const callTimeout = time.Second
	to := r.recipients(3)
	ctx := context.Background()
	para := func(tag string) string { return tag + " " + strings.Repeat("Sleep is a skill you can practise. ", 110) }

	inflight := r.put(t, msgSpec{typ: "whatsapp", channel: wa(r.channel), to: to[0], body: "Left sending.", reply: true})
	unknown := r.put(t, msgSpec{typ: "whatsapp", channel: wa(r.channel), to: to[1], body: "Left unknown.", reply: true})
	half := r.put(t, msgSpec{typ: "whatsapp", channel: wa(r.channel), to: to[2], body: para("ONE") + "\n\n" + para("TWO"), reply: true})
	began := time.Now()
	require.NoError(t, r.store.InTenant(ctx, r.creator, func(q *db.Queries) error {
		for _, s := range []stored{inflight, unknown, half} {
			if _, err := q.BeginDeliveryPart(ctx, db.BeginDeliveryPartParams{MessageID: s.id, Part: 0, CreatorID: r.creator,
				ChannelID: wa(r.channel), LiveSecs: 1}); err != nil {
				return err
			}
		}
		if err := q.FinishDeliveryPart(ctx, db.FinishDeliveryPartParams{MessageID: unknown.id, Part: 0, Status: "unknown", Error: "timeout"}); err != nil {
			return err
		}
		return q.FinishDeliveryPart(ctx, db.FinishDeliveryPartParams{MessageID: half.id, Part: 0, Status: "sent", ProviderID: "wamid.earlier"})
	}))

	r.startWorker(t, dispatch.Limits{CallTimeout: callTimeout}, nil)
	for _, s := range []stored{inflight, unknown, half} {
		r.outbound(t, "whatsapp", s, "out:"+s.id.String())
	}
	r.waitSent(t, []uuid.UUID{inflight.id, unknown.id, half.id}, 60*time.Second)

	sent := r.wa.SentTo(to[0])
	require.Len(t, sent, 1)
	require.False(t, sent[0].At.Before(began.Add(callTimeout+2*time.Second)),
		"the part was called again %s after the other attempt's call began, inside its time", sent[0].At.Sub(began))
	require.Equal(t, map[int32]int32{0: 2}, r.attempts(t, inflight.id))
	require.Len(t, r.wa.SentTo(to[1]), 1)
	require.Equal(t, map[int32]int32{0: 2}, r.attempts(t, unknown.id))
	sent = r.wa.SentTo(to[2])
	require.Len(t, sent, 1, "the part sent before is not sent again")
	require.True(t, strings.HasPrefix(sent[0].Text, "TWO "))
	require.Equal(t, map[int32]int32{0: 1, 1: 1}, r.attempts(t, half.id))
	require.Equal(t, 2, strings.Count(r.logs.String(), "re-sending after an interrupted provider call"), r.logs.String())
}

// TestDeliveryStatuses: provider statuses (by wamid) move a message and its part forward only,
// whatever order they arrive in and however often; failed is final and carries its code; a
// status for a message this platform never sent is retried a few times, then ignored.
func TestDeliveryStatuses(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.startWorker(t, dispatch.Limits{}, nil)
	to := r.recipients(2)
	a := r.put(t, msgSpec{typ: "whatsapp", channel: wa(r.channel), to: to[0], body: "Status A.", reply: true})
	b := r.put(t, msgSpec{typ: "whatsapp", channel: wa(r.channel), to: to[1], body: "Status B.", reply: true})
	r.outbound(t, "whatsapp", a, "out:"+a.id.String())
	r.outbound(t, "whatsapp", b, "out:"+b.id.String())
	r.waitSent(t, []uuid.UUID{a.id, b.id}, 60*time.Second)
	wamidA, wamidB := r.wa.SentTo(to[0])[0].WAMID, r.wa.SentTo(to[1])[0].WAMID
	status := func(wamid, s, code string) {
		r.deliveryStatus(t, events.DeliveryStatus{Channel: "whatsapp", ChannelID: r.channel, ProviderMessageID: wamid, Status: s, ErrorCode: code})
		r.drained(t, "CW_DELIVERY", "dispatch-delivery", events.DeliverySubject(r.creator))
	}

	status(wamidA, "delivered", "")
	require.Equal(t, "delivered", r.message(t, a.id).Status)
	require.Equal(t, map[int32]string{0: "delivered"}, r.parts(t, a.id))
	status(wamidA, "read", "")
	status(wamidA, "delivered", "") // late
	status(wamidA, "sent", "")      // later still
	status(wamidA, "read", "")      // again
	require.Equal(t, "read", r.message(t, a.id).Status)
	require.Equal(t, map[int32]string{0: "read"}, r.parts(t, a.id))
	status(wamidA, "failed", "131026") // a failure is final, even after read
	m := r.message(t, a.id)
	require.Equal(t, "failed", m.Status)
	require.Equal(t, "131026", m.ErrorCode)
	status(wamidA, "read", "")
	require.Equal(t, "failed", r.message(t, a.id).Status)

	// Read before delivered (the provider's order is not guaranteed).
	status(wamidB, "read", "")
	status(wamidB, "delivered", "")
	require.Equal(t, "read", r.message(t, b.id).Status)

	// Another creator's wamid is nothing of this creator's.
	status("wamid.not-ours-"+uuid.NewString(), "read", "")
	require.Contains(t, r.logs.String(), "status for a message not sent by coachwire ignored")
	require.Equal(t, "read", r.message(t, b.id).Status)
}

// TestWidgetPushAndReceipts: a widget reply is pushed to the conversation's live subject and
// marked sent; the gateway's delivered receipt (a message written to the socket) and read
// receipt (the conversation seen up to a seq) move it forward, only in the session's own
// conversation, only forward, and repeated receipts change nothing.
func TestWidgetPushAndReceipts(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.startWorker(t, dispatch.Limits{}, nil)
	a1 := r.put(t, msgSpec{typ: "widget", body: "Reply one for A.", reply: true})
	a2 := r.put(t, msgSpec{typ: "widget", endUser: a1.endUser, body: "Reply two for A.", reply: true})
	b1 := r.put(t, msgSpec{typ: "widget", body: "Reply one for B.", reply: true})
	require.Equal(t, a1.conv, a2.conv)
	require.Equal(t, a1.seq, b1.seq, "each conversation numbers its own messages")

	sub, err := r.b.Conn().SubscribeSync(events.LiveSubject(r.creator, a1.conv))
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	require.NoError(t, r.b.Conn().Flush())
	for _, s := range []stored{a1, a2, b1} {
		r.outbound(t, "widget", s, "out:"+s.id.String())
	}
	r.waitSent(t, []uuid.UUID{a1.id, a2.id, b1.id}, 60*time.Second)
	got := map[uuid.UUID]events.Live{}
	for len(got) < 2 {
		m, err := sub.NextMsg(30 * time.Second)
		require.NoError(t, err)
		var l events.Live
		require.NoError(t, json.Unmarshal(m.Data, &l))
		got[l.MessageID] = l
	}
	require.Equal(t, "Reply one for A.", got[a1.id].Text)
	require.Equal(t, a1.seq, got[a1.id].Seq)
	require.Equal(t, "assistant", got[a2.id].Role)
	require.NotEqual(t, uuid.Nil, got[a2.id].ReplyTo)

	receipt := func(st events.DeliveryStatus) {
		st.Channel = events.ChannelWidget
		r.deliveryStatus(t, st)
		r.drained(t, "CW_DELIVERY", "dispatch-delivery", events.DeliverySubject(r.creator))
	}
	// Delivered names the session's conversation: B's message under A's conversation is not B's.
	receipt(events.DeliveryStatus{ConversationID: a1.conv, MessageID: b1.id, Status: "delivered"})
	require.Equal(t, "sent", r.message(t, b1.id).Status)
	receipt(events.DeliveryStatus{ConversationID: b1.conv, MessageID: b1.id, Status: "delivered"})
	require.Equal(t, "delivered", r.message(t, b1.id).Status)
	receipt(events.DeliveryStatus{ConversationID: a1.conv, MessageID: a1.id, Status: "delivered"})
	receipt(events.DeliveryStatus{ConversationID: a1.conv, MessageID: a2.id, Status: "delivered"})

	// A has seen up to its first reply: read; its second stays delivered; B's (same seq) too.
	receipt(events.DeliveryStatus{ConversationID: a1.conv, UpToSeq: a1.seq, Status: "read"})
	require.Equal(t, "read", r.message(t, a1.id).Status)
	require.Equal(t, "delivered", r.message(t, a2.id).Status)
	require.Equal(t, "delivered", r.message(t, b1.id).Status)
	// A reconnect replays the read reply: its delivered receipt changes nothing.
	receipt(events.DeliveryStatus{ConversationID: a1.conv, MessageID: a1.id, Status: "delivered"})
	receipt(events.DeliveryStatus{ConversationID: a1.conv, UpToSeq: a1.seq, Status: "read"})
	require.Equal(t, "read", r.message(t, a1.id).Status)
	// An unknown receipt is ignored.
	receipt(events.DeliveryStatus{ConversationID: a1.conv, MessageID: a2.id, Status: "seen"})
	require.Equal(t, "delivered", r.message(t, a2.id).Status)
	require.Contains(t, r.logs.String(), "widget receipt with unknown status ignored")
	// Read up to the second reply covers both.
	receipt(events.DeliveryStatus{ConversationID: a1.conv, UpToSeq: a2.seq, Status: "read"})
	require.Equal(t, "read", r.message(t, a2.id).Status)
	require.Equal(t, "delivered", r.message(t, b1.id).Status)

	// A message the widget got from Postgres on reconnect before dispatch pushed it.
	c1 := r.put(t, msgSpec{typ: "widget", body: "A campaign message.", reply: false})
	receipt(events.DeliveryStatus{ConversationID: c1.conv, MessageID: c1.id, Status: "delivered"})
	require.Equal(t, "delivered", r.message(t, c1.id).Status)
}

// TestTypingIndicators: a typing request shows the provider's indicator: Telegram's typing
// action in the chat, WhatsApp's on the inbound wamid being answered.
func TestTypingIndicators(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.startWorker(t, dispatch.Limits{}, nil)
	chat := 6_000_000 + int64(uuid.New().ID()%1_000_000)
	tg := r.put(t, msgSpec{typ: "telegram", channel: uuid.NullUUID{UUID: r.tgChan, Valid: true}, to: fmt.Sprint(chat), body: "x", reply: true})
	w := r.put(t, msgSpec{typ: "whatsapp", channel: wa(r.channel), to: r.recipients(1)[0], body: "x", reply: true})
	r.typing(t, "telegram", tg, r.tgChan, "")
	wamid := "wamid.inbound-" + uuid.NewString()
	r.typing(t, "whatsapp", w, r.channel, wamid)
	testenv.Eventually(t, 20*time.Second, func() bool {
		for _, a := range r.tg.Actions() {
			if a.ChatID == chat && a.Action == "typing" {
				return true
			}
		}
		return false
	}, "telegram typing action")
	testenv.Eventually(t, 20*time.Second, func() bool {
		for _, c := range r.wa.Typing() {
			if c.MessageID == wamid && c.Indicator == "text" {
				return true
			}
		}
		return false
	}, "whatsapp typing indicator")
}

// typing publishes a typing request the way generate does before a turn.
func (r *rig) typing(t *testing.T, channel string, s stored, ch uuid.UUID, wamid string) {
	t.Helper()
	b, err := json.Marshal(events.Typing{ConversationID: s.conv, EndUserID: s.endUser, Channel: channel, ChannelID: ch, ProviderMessageID: wamid})
	require.NoError(t, err)
	require.NoError(t, r.b.Notify(events.TypingSubject(r.creator, channel), b))
}

// delta publishes a streamed piece of the reply s (its turn is the reply's message id).
func (r *rig) delta(t *testing.T, s stored, text string, reset bool) {
	t.Helper()
	b, err := json.Marshal(events.Live{Kind: "delta", Turn: s.id, Text: text, Reset: reset})
	require.NoError(t, err)
	require.NoError(t, r.b.Notify(events.LiveSubject(r.creator, s.conv), b))
}

// startTurn sends the turn's typing request and waits for the chat's typing action: the worker
// handled it, so it owns the turn's drafts. Typing is best effort (skipped when the bot's
// bucket has no token at that instant, e.g. right after a draft): then it is sent again.
func (r *rig) startTurn(t *testing.T, s stored, chat int64) {
	t.Helper()
	count := func() int {
		k := 0
		for _, a := range r.tg.Actions() {
			if a.ChatID == chat && a.Action == "typing" {
				k++
			}
		}
		return k
	}
	n := count()
	// A request is sent again only when the one before had long been handled (and skipped):
	// the typing subscription handles requests in order, so the last request's ownership is
	// registered before its action shows, and no earlier request can reset the turn later.
	for range 10 {
		r.typing(t, "telegram", s, r.tgChan, "")
		for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if count() > n {
				return
			}
		}
	}
	t.Fatalf("no typing action in chat %d", chat)
}

func (r *rig) draftsTo(chat int64) []telegramtest.Draft {
	var out []telegramtest.Draft
	for _, d := range r.tg.Drafts() {
		if d.ChatID == chat {
			out = append(out, d)
		}
	}
	return out
}

// TestTelegramDrafts: the replica that got a Telegram turn's typing request streams the
// reply's deltas as drafts (sendMessageDraft, one draft id per turn, at most one a second per
// chat, each a prefix of the reply) until the final message, which comes once after every
// draft; the next turn has another draft id. A chat that refuses drafts gets the final message
// alone, and a group chat (the chat is not the person) is never sent a draft.
func TestTelegramDrafts(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.startWorker(t, dispatch.Limits{}, nil)
	base := 5_000_000 + int64(uuid.New().ID()%1_000_000)*10
	private, refusing, group := base, base+1, -(base + 2)
	tg := uuid.NullUUID{UUID: r.tgChan, Valid: true}
	const reply = "Keep a regular bedtime. And stop caffeine by noon."

	turn := r.put(t, msgSpec{typ: "telegram", channel: tg, to: fmt.Sprint(private), body: reply, reply: true})
	r.startTurn(t, turn, private)
	r.delta(t, turn, "Keep ", true)
	testenv.Eventually(t, 20*time.Second, func() bool { return len(r.draftsTo(private)) == 1 }, "first draft")
	r.delta(t, turn, "a regular", false)
	r.delta(t, turn, " bedtime.", false)
	testenv.Eventually(t, 20*time.Second, func() bool {
		d := r.draftsTo(private)
		return d[len(d)-1].Text == "Keep a regular bedtime."
	}, "the draft grows with the deltas")
	r.outbound(t, "telegram", turn, "out:"+turn.id.String())
	r.waitStatus(t, turn.id, "sent")
	final := r.tg.SentTo(private)
	require.Len(t, final, 1)
	require.Equal(t, reply, final[0].Text)
	drafts := r.draftsTo(private)
	require.GreaterOrEqual(t, len(drafts), 2)
	for i, d := range drafts {
		require.Positive(t, d.DraftID)
		require.Equal(t, drafts[0].DraftID, d.DraftID, "one draft id per turn")
		require.True(t, strings.HasPrefix(reply, d.Text), "a draft is a prefix of the reply: %q", d.Text)
		require.True(t, d.At.Before(final[0].At), "every draft precedes the final message")
		if i > 0 {
			require.GreaterOrEqual(t, d.At.Sub(drafts[i-1].At), 900*time.Millisecond, "at most one draft a second per chat")
		}
	}

	// The next turn: another draft id.
	next := r.put(t, msgSpec{typ: "telegram", channel: tg, to: fmt.Sprint(private), body: "Screens off an hour before bed.", reply: true})
	r.startTurn(t, next, private)
	r.delta(t, next, "Screens off", true)
	testenv.Eventually(t, 20*time.Second, func() bool { return len(r.draftsTo(private)) > len(drafts) }, "a draft of the next turn")
	d := r.draftsTo(private)
	require.NotEqual(t, drafts[0].DraftID, d[len(d)-1].DraftID)
	require.Equal(t, "Screens off", d[len(d)-1].Text)

	// A chat that refuses drafts: the final message alone, once.
	r.tg.DisableDrafts(refusing)
	ref := r.put(t, msgSpec{typ: "telegram", channel: tg, to: fmt.Sprint(refusing), body: reply, reply: true})
	r.startTurn(t, ref, refusing)
	r.delta(t, ref, "Keep ", true)
	testenv.Eventually(t, 20*time.Second, func() bool {
		return strings.Contains(r.logs.String(), "telegram drafts unavailable for chat, final message only")
	}, "the refusal turns drafts off for the chat")
	r.outbound(t, "telegram", ref, "out:"+ref.id.String())
	r.waitStatus(t, ref.id, "sent")
	require.Len(t, r.tg.SentTo(refusing), 1)
	require.Empty(t, r.draftsTo(refusing))

	// A group chat: no draft is tried. Its delta goes first; a later turn's draft in the private
	// chat shows the drafts ticked after it, and the provider refused nothing meanwhile.
	_, rejected := r.tg.Requests()
	grp := r.put(t, msgSpec{typ: "telegram", channel: tg, to: fmt.Sprint(group), user: fmt.Sprint(base + 3), body: reply, reply: true})
	r.startTurn(t, grp, group)
	r.delta(t, grp, "Keep ", true)
	third := r.put(t, msgSpec{typ: "telegram", channel: tg, to: fmt.Sprint(private), body: "Third turn.", reply: true})
	r.startTurn(t, third, private)
	r.delta(t, third, "Third", true)
	testenv.Eventually(t, 20*time.Second, func() bool {
		d := r.draftsTo(private)
		return d[len(d)-1].Text == "Third"
	}, "a draft of the third turn")
	_, after := r.tg.Requests()
	require.Equal(t, rejected, after, "no draft was tried in the group")
	r.outbound(t, "telegram", grp, "out:"+grp.id.String())
	r.waitStatus(t, grp.id, "sent")
	require.Len(t, r.tg.SentTo(group), 1)
}

// deadLetters are the dead-lettered messages of subject (their reasons).
func (r *rig) deadLetters(t *testing.T, subject string) []string {
	t.Helper()
	ctx := context.Background()
	s, err := r.b.JetStream().Stream(ctx, "CW_DLQ")
	require.NoError(t, err)
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{events.DLQSubject("CW_OUTBOUND")}})
	require.NoError(t, err)
	var out []string
	for {
		batch, err := c.Fetch(100, jetstream.FetchMaxWait(300*time.Millisecond))
		require.NoError(t, err)
		n := 0
		for m := range batch.Messages() {
			n++
			if m.Headers().Get(bus.SourceHeader) == subject {
				out = append(out, m.Headers().Get(bus.ReasonHeader))
			}
		}
		if n == 0 {
			return out
		}
	}
}

// TestUndeliverableOutbound: an outbound event naming a message that does not exist is
// dead-lettered at once, on the widget and the channel consumers alike; a message on a channel
// whose settings cannot be read fails as channel_unusable without a provider call.
func TestUndeliverableOutbound(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.startWorker(t, dispatch.Limits{}, nil)
	ghost := stored{id: uuid.New(), conv: uuid.New(), endUser: uuid.New()}
	r.outbound(t, "widget", ghost, "out:"+ghost.id.String())
	r.outbound(t, "whatsapp", ghost, "out:wa:"+ghost.id.String())
	for _, ch := range []string{"widget", "whatsapp"} {
		subject := events.OutboundSubject(r.creator, ch)
		var reasons []string
		testenv.Eventually(t, 30*time.Second, func() bool { reasons = r.deadLetters(t, subject); return len(reasons) == 1 }, "%s event dead-lettered", ch)
		require.Contains(t, reasons[0], ghost.id.String())
	}

	broken := uuid.New()
	sealed, err := r.keys.SealChannel(broken, secrets.ChannelCredentials{AccessToken: whatsapptest.DefaultAccessToken})
	require.NoError(t, err)
	require.NoError(t, r.store.InTenant(context.Background(), r.creator, func(q *db.Queries) error {
		_, err := q.InsertChannel(context.Background(), db.InsertChannelParams{ID: broken, CreatorID: r.creator, Type: "whatsapp", Name: "broken",
			ExternalID: "100000000000009", Config: []byte(`{"phone_number_id": 17}`), Secrets: sealed})
		return err
	}))
	to := r.recipients(1)[0]
	m := r.put(t, msgSpec{typ: "whatsapp", channel: wa(broken), to: to, body: "Hello", reply: true})
	r.outbound(t, "whatsapp", m, "out:"+m.id.String())
	require.Equal(t, "channel_unusable", r.waitStatus(t, m.id, "failed").ErrorCode)
	require.Empty(t, r.wa.SentTo(to))
	require.Empty(t, r.parts(t, m.id))
	require.Contains(t, r.logs.String(), "channel unusable")
}
