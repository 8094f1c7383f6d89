package dispatch_test

import (
	"context"
	"crypto/sha256"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/bus"
	"github.com/coachwire/coachwire/internal/channels/webpush"
	"github.com/coachwire/coachwire/internal/channels/webpushtest"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/dispatch"
	"github.com/coachwire/coachwire/internal/secrets"
	"github.com/coachwire/coachwire/internal/testenv"
)

// appRig is a rig whose dispatch worker pushes the app channel to a loopback push service that
// checks the VAPID JWT and decrypts every payload.
type appRig struct {
	*rig
	push  *webpushtest.Server
	vapid secrets.VAPID
}

func newAppRig(t *testing.T) *appRig {
	t.Helper()
	v, err := secrets.GenerateVAPID()
	require.NoError(t, err)
	r := &appRig{rig: newRig(t), push: webpushtest.New(t, v.PublicKey), vapid: v}
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	b, err := bus.Connect(ctx, r.nats, t.Name(), log, bus.Options{})
	require.NoError(t, err)
	router, err := bus.NewRouter(b, log)
	require.NoError(t, err)
	w := &dispatch.Worker{Store: testenv.StoreAt(t, r.db.AppURL), Bus: b, Parallel: 2, Log: log, Now: time.Now, Keys: r.keys,
		WhatsAppURL: r.wa.URL, TelegramURL: r.tg.URL, Limits: dispatch.Limits{MaxWait: 5 * time.Second},
		Push: &webpush.Sender{VAPID: v, Subject: "mailto:ops@example.com"}, PushAllowOrigins: []string{r.push.URL}}
	require.NoError(t, w.Register(ctx, router))
	go func() { _ = router.Run(context.Background()) }()
	<-router.Running()
	t.Cleanup(func() { b.Conn().Close() })
	return r
}

// appUser is an app end user of creator c with their conversation and subscribed devices.
type appUser struct {
	creator, endUser, conv uuid.UUID
	devices                []*webpushtest.Sub
}

func (r *appRig) appUser(t *testing.T, c uuid.UUID, devices int) appUser {
	t.Helper()
	ctx := context.Background()
	u := appUser{creator: c}
	for range devices {
		u.devices = append(u.devices, r.push.Subscribe())
	}
	require.NoError(t, r.store.InTenant(ctx, c, func(q *db.Queries) error {
		eu, err := q.UpsertEndUser(ctx, db.UpsertEndUserParams{ID: uuid.New(), CreatorID: c, Channel: events.ChannelApp, ExternalID: "anon:" + uuid.NewString()})
		if err != nil {
			return err
		}
		conv, err := q.UpsertConversation(ctx, db.UpsertConversationParams{ID: uuid.New(), CreatorID: c, EndUserID: eu.ID, Channel: events.ChannelApp})
		if err != nil {
			return err
		}
		u.endUser, u.conv = eu.ID, conv.ID
		for i, d := range u.devices {
			if _, err := q.UpsertPushSubscription(ctx, db.UpsertPushSubscriptionParams{ID: uuid.New(), CreatorID: c, EndUserID: eu.ID,
				Endpoint: d.Endpoint, P256dh: d.P256dh, Auth: d.Auth, Device: "phone " + string(rune('A'+i))}); err != nil {
				return err
			}
		}
		return nil
	}))
	return u
}

// say stores a coach message in u's conversation (a reply to a question of theirs unless
// proactive) and hands it to dispatch.
func (r *appRig) say(t *testing.T, u appUser, body string, proactive bool) stored {
	t.Helper()
	ctx := context.Background()
	var s stored
	require.NoError(t, r.store.InTenant(ctx, u.creator, func(q *db.Queries) error {
		var replyTo uuid.NullUUID
		if !proactive {
			m, err := q.InsertMessage(ctx, db.InsertMessageParams{ID: uuid.New(), CreatorID: u.creator, ConversationID: u.conv, Role: "user",
				Body: "a question", Sources: []byte("[]"), Channel: events.ChannelApp, Status: "received"})
			if err != nil {
				return err
			}
			replyTo = uuid.NullUUID{UUID: m.ID, Valid: true}
		}
		m, err := q.InsertMessage(ctx, db.InsertMessageParams{ID: uuid.New(), CreatorID: u.creator, ConversationID: u.conv, Role: "assistant",
			Body: body, Sources: []byte("[]"), ReplyTo: replyTo, Channel: events.ChannelApp, Status: "generated"})
		s = stored{id: m.ID, conv: u.conv, endUser: u.endUser, seq: m.Seq}
		return err
	}))
	ev := events.New(u.creator, events.MessageOutbound{MessageID: s.id, ConversationID: s.conv, EndUserID: s.endUser, Channel: events.ChannelApp}, nil, time.Now())
	require.NoError(t, bus.PublishEvent(ctx, r.b, events.OutboundSubject(u.creator, events.ChannelApp), "out:"+s.id.String(), ev))
	return s
}

// waitIn waits until dispatch is done with message id of creator c (its send log entry is
// final) and its status is want.
func (r *appRig) waitIn(t *testing.T, c, id uuid.UUID, want string) db.Message {
	t.Helper()
	var m db.Message
	testenv.Eventually(t, 60*time.Second, func() bool {
		st := r.sendLog(t, c, id) // first: the message read after it is at least as new
		require.NoError(t, r.store.InTenant(context.Background(), c, func(q *db.Queries) error {
			var err error
			m, err = q.GetMessage(context.Background(), id)
			return err
		}))
		return m.Status == want && (st == "sent" || st == "failed")
	}, "message %s %s", id, want)
	return m
}

// sendLog is the status of message id in the send log (deliveries), "" when not claimed.
func (r *appRig) sendLog(t *testing.T, c, id uuid.UUID) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, r.db.AppURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	_, err = tx.Exec(ctx, "SELECT set_config('app.creator_id', $1, true)", c.String())
	require.NoError(t, err)
	var st string
	if err := tx.QueryRow(ctx, "SELECT status FROM deliveries WHERE message_id = $1", id).Scan(&st); err != nil {
		require.ErrorIs(t, err, pgx.ErrNoRows)
	}
	return st
}

// openSocket records an open socket of the conversation as the widget socket does (a lease of
// its session, held by a live gateway process).
func (r *appRig) openSocket(t *testing.T, conv uuid.UUID) {
	t.Helper()
	ctx := context.Background()
	key := sha256.Sum256([]byte("widget:conversation:" + conv.String()))
	holder := uuid.New()
	require.NoError(t, r.store.Global(ctx, func(q *db.Queries) error {
		if err := q.BeatSocketHolder(ctx, db.BeatSocketHolderParams{Holder: holder, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
			return err
		}
		return q.InsertSocketLease(ctx, db.InsertSocketLeaseParams{ID: uuid.New(), Session: key[:], Holder: holder})
	}))
}

func (r *appRig) subscriptions(t *testing.T, c, endUser uuid.UUID) []db.PushSubscription {
	t.Helper()
	return testenv.Read(t, r.store, c, func(ctx context.Context, q *db.Queries) ([]db.PushSubscription, error) {
		return q.ListPushSubscriptions(ctx, endUser)
	})
}

// TestAppPushReplyWhenNoSocket: a reply to a person with no open socket is pushed to each of
// their devices, decrypted by the push service with the device's keys, with the payload the
// app's service worker reads; a redelivered event pushes nothing again. With a socket open the
// reply only goes on the live subject; a proactive message is pushed anyway.
func TestAppPushReplyWhenNoSocket(t *testing.T) {
	t.Parallel()
	r := newAppRig(t)
	u := r.appUser(t, r.creator, 2)

	live := make(chan *nats.Msg, 16)
	sub, err := r.b.Conn().ChanSubscribe(events.LiveSubject(r.creator, u.conv), live)
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Unsubscribe() })

	body := "Try a 10-minute walk after lunch.\n> quoted line"
	s := r.say(t, u, body, false)
	m := r.waitIn(t, r.creator, s.id, "sent")
	for _, d := range u.devices {
		got := r.push.Messages(d)
		require.Len(t, got, 1, "one push per device")
		p := got[0].Payload
		require.Equal(t, "Coach", p.Title)
		require.Equal(t, "Try a 10-minute walk after lunch. quoted line", p.Body)
		require.Equal(t, u.conv.String(), p.ConversationID)
		require.Equal(t, s.seq, p.Seq)
		require.Equal(t, "./", p.URL)
		require.Equal(t, webpush.RecordSize, got[0].RecordSize)
		require.Positive(t, got[0].TTL)
	}
	require.NotNil(t, m.ProviderMessageID, "the first push's message id")
	require.Len(t, r.parts(t, s.id), 2, "one part of the send log per device")
	select {
	case <-live:
	case <-time.After(30 * time.Second):
		t.Fatal("the message never went on the live subject")
	}

	// Redelivered under another id: the send log says it is done.
	ev := events.New(r.creator, events.MessageOutbound{MessageID: s.id, ConversationID: u.conv, EndUserID: u.endUser, Channel: events.ChannelApp}, nil, time.Now())
	require.NoError(t, bus.PublishEvent(context.Background(), r.b, events.OutboundSubject(r.creator, events.ChannelApp), "again:"+s.id.String(), ev))
	r.drained(t, events.StreamOutbound, events.ConsumerDispatch(events.ChannelApp), events.OutboundSubject(r.creator, events.ChannelApp))
	for _, d := range u.devices {
		require.Len(t, r.push.Messages(d), 1, "no second push on redelivery")
	}

	// A reply a socket already showed (its "delivered" receipt came before an earlier attempt
	// of the handler failed, and the socket has closed since): no notification for it.
	var seenID uuid.UUID
	require.NoError(t, r.store.InTenant(context.Background(), r.creator, func(q *db.Queries) error {
		u1, err := q.InsertMessage(context.Background(), db.InsertMessageParams{ID: uuid.New(), CreatorID: r.creator, ConversationID: u.conv, Role: "user",
			Body: "q", Sources: []byte("[]"), Channel: events.ChannelApp, Status: "received"})
		if err != nil {
			return err
		}
		m, err := q.InsertMessage(context.Background(), db.InsertMessageParams{ID: uuid.New(), CreatorID: r.creator, ConversationID: u.conv, Role: "assistant",
			Body: "seen on the socket", Sources: []byte("[]"), ReplyTo: uuid.NullUUID{UUID: u1.ID, Valid: true}, Channel: events.ChannelApp, Status: "generated"})
		if err != nil {
			return err
		}
		seenID = m.ID
		_, err = q.MarkWidgetDelivered(context.Background(), db.MarkWidgetDeliveredParams{ID: m.ID, ConversationID: u.conv})
		return err
	}))
	ev = events.New(r.creator, events.MessageOutbound{MessageID: seenID, ConversationID: u.conv, EndUserID: u.endUser, Channel: events.ChannelApp}, nil, time.Now())
	require.NoError(t, bus.PublishEvent(context.Background(), r.b, events.OutboundSubject(r.creator, events.ChannelApp), "out:"+seenID.String(), ev))
	r.waitIn(t, r.creator, seenID, "delivered")
	for _, d := range u.devices {
		require.Len(t, r.push.Messages(d), 1, "no push of a message a socket showed")
	}

	// A socket is open: the reply is on the live subject, no device is woken.
	r.openSocket(t, u.conv)
	s2 := r.say(t, u, "Second answer", false)
	r.waitIn(t, r.creator, s2.id, "sent")
	for _, d := range u.devices {
		require.Len(t, r.push.Messages(d), 1, "no push while a socket is open")
	}
	require.Empty(t, r.parts(t, s2.id))
	// A proactive message (a program step) is pushed even so.
	s3 := r.say(t, u, "Day 2: drink a glass of water first thing.", true)
	r.waitIn(t, r.creator, s3.id, "sent")
	for _, d := range u.devices {
		got := r.push.Messages(d)
		require.Len(t, got, 2)
		require.Equal(t, "Day 2: drink a glass of water first thing.", got[1].Payload.Body)
		require.Equal(t, s3.seq, got[1].Payload.Seq)
	}
}

// TestAppPushServiceAnswers: 404 and 410 remove the device; 413 is retried once with a
// shortened payload in a smaller record; 429 waits for Retry-After (the push service's pause)
// before the push is made again; a 5xx is retried.
func TestAppPushServiceAnswers(t *testing.T) {
	t.Parallel()
	r := newAppRig(t)

	gone := r.appUser(t, r.creator, 3)
	r.push.Gone(gone.devices[0], 404)
	r.push.Gone(gone.devices[1], 410)
	s := r.say(t, gone, "Hello", false)
	r.waitIn(t, r.creator, s.id, "sent")
	subs := r.subscriptions(t, r.creator, gone.endUser)
	require.Len(t, subs, 1, "404 and 410 removed their devices")
	require.Equal(t, gone.devices[2].Endpoint, subs[0].Endpoint)
	require.Len(t, r.push.Messages(gone.devices[2]), 1)
	require.NotNil(t, subs[0].LastPushAt)

	// 413: the same message again, shortened.
	big := r.appUser(t, r.creator, 1)
	r.push.MaxBody(2048)
	long := strings.Repeat("Sleep is a skill you can practise. ", 60)
	s = r.say(t, big, long, false)
	r.waitIn(t, r.creator, s.id, "sent")
	reqs := r.push.Requests(big.devices[0])
	require.Len(t, reqs, 2)
	require.Equal(t, 413, reqs[0].Status)
	require.Equal(t, webpush.RecordSize, reqs[0].BodyLen)
	got := r.push.Messages(big.devices[0])
	require.Len(t, got, 1)
	require.Equal(t, webpush.ShortRecordSize, got[0].RecordSize)
	require.True(t, strings.HasSuffix(got[0].Payload.Body, "…"))
	require.LessOrEqual(t, len([]rune(got[0].Payload.Body)), webpush.ShortBodyRunes+1)
	require.True(t, strings.HasPrefix(long, strings.TrimSuffix(got[0].Payload.Body, "…")))
	r.push.MaxBody(0)

	// 429 with Retry-After: 2 seconds, then a 503: pushed after both.
	slow := r.appUser(t, r.creator, 1)
	r.push.Then(slow.devices[0], webpushtest.Answer{Status: 429, RetryAfter: "2"}, webpushtest.Answer{Status: 503})
	s = r.say(t, slow, "Later", false)
	r.waitIn(t, r.creator, s.id, "sent")
	reqs = r.push.Requests(slow.devices[0])
	require.Len(t, reqs, 3)
	require.Equal(t, []int{429, 503, 201}, []int{reqs[0].Status, reqs[1].Status, reqs[2].Status})
	require.GreaterOrEqual(t, reqs[1].At.Sub(reqs[0].At), 2*time.Second, "the push waited for Retry-After")
	require.Len(t, r.push.Messages(slow.devices[0]), 1)
	var attempts int
	for p := range r.parts(t, s.id) {
		attempts = r.partAttempts(t, s.id, p)
	}
	require.Equal(t, 3, attempts, "three calls of the one part")
	require.Empty(t, r.push.Problems())

	// Opted out since the decision: a proactive message is not pushed (failed, opted_out); a
	// reply to the person still is.
	out := r.appUser(t, r.creator, 1)
	require.NoError(t, r.store.InTenant(context.Background(), r.creator, func(q *db.Queries) error {
		_, err := q.SetEndUserOptOut(context.Background(), db.SetEndUserOptOutParams{ID: out.endUser, OptedOut: true})
		return err
	}))
	s = r.say(t, out, "A nudge", true)
	require.Equal(t, "opted_out", r.waitIn(t, r.creator, s.id, "failed").ErrorCode)
	s = r.say(t, out, "An answer", false)
	r.waitIn(t, r.creator, s.id, "sent")
	got = r.push.Messages(out.devices[0])
	require.Len(t, got, 1)
	require.Equal(t, "An answer", got[0].Payload.Body)
}

// partAttempts is the provider calls made for part p of message id.
func (r *appRig) partAttempts(t *testing.T, id uuid.UUID, p int32) int {
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
	var n int
	require.NoError(t, tx.QueryRow(ctx, "SELECT attempts FROM delivery_parts WHERE message_id = $1 AND part = $2", id, p).Scan(&n))
	return n
}

// TestAppPushTenantIsolation: creator B's messages reach only B's people's devices, never a
// device of creator A, even one registered with the same endpoint (the same browser using both
// creators' apps: two rows, one in each tenant).
func TestAppPushTenantIsolation(t *testing.T) {
	t.Parallel()
	r := newAppRig(t)
	ctx := context.Background()
	b := uuid.New()
	require.NoError(t, r.store.InTenant(ctx, b, func(q *db.Queries) error {
		_, err := q.InsertCreator(ctx, db.InsertCreatorParams{ID: b, Name: "Coach B", Email: b.String() + "@example.com",
			WidgetKey: "wk-" + b.String(), WidgetSecret: "ws", AllowedOrigins: []string{}})
		return err
	}))
	ua := r.appUser(t, r.creator, 1)
	ub := r.appUser(t, b, 1)
	// B's person also registers A's person's browser (same endpoint) in B's tenant.
	require.NoError(t, r.store.InTenant(ctx, b, func(q *db.Queries) error {
		d := ua.devices[0]
		_, err := q.UpsertPushSubscription(ctx, db.UpsertPushSubscriptionParams{ID: uuid.New(), CreatorID: b, EndUserID: ub.endUser,
			Endpoint: d.Endpoint, P256dh: d.P256dh, Auth: d.Auth, Device: "shared"})
		return err
	}))
	require.Len(t, r.subscriptions(t, r.creator, ua.endUser), 1, "A's row is untouched by B's")
	// B's tenant sees nothing of A's person's subscriptions.
	require.Empty(t, r.subscriptions(t, b, ua.endUser))

	sb := r.say(t, ub, "Message of B", false)
	r.waitIn(t, b, sb.id, "sent")
	require.Len(t, r.push.Messages(ub.devices[0]), 1)
	gotA := r.push.Messages(ua.devices[0])
	require.Len(t, gotA, 1, "the browser B's person registered gets B's message once, through B's row")
	require.Equal(t, "Coach B", gotA[0].Payload.Title)
	require.Equal(t, ub.conv.String(), gotA[0].Payload.ConversationID)

	sa := r.say(t, ua, "Message of A", false)
	r.waitIn(t, r.creator, sa.id, "sent")
	require.Len(t, r.push.Messages(ub.devices[0]), 1, "B's device never gets A's message")
	gotA = r.push.Messages(ua.devices[0])
	require.Len(t, gotA, 2)
	require.Equal(t, "Coach", gotA[1].Payload.Title)
}
