package app_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/app"
	"github.com/coachwire/coachwire/internal/auth"
	"github.com/coachwire/coachwire/internal/bus"
	"github.com/coachwire/coachwire/internal/channels/telegramtest"
	"github.com/coachwire/coachwire/internal/channels/webpushtest"
	"github.com/coachwire/coachwire/internal/channels/whatsapptest"
	"github.com/coachwire/coachwire/internal/ids"
	"github.com/coachwire/coachwire/internal/llm/ollamatest"
	"github.com/coachwire/coachwire/internal/testenv"
)

// End-to-end tests of the app channel's Web Push (issue 16): one coachwire process with the
// loopback push service, the app's end users (their session tokens issued as
// POST /api/v1/app/session issues them), their devices registered through the API.

type pushRig struct {
	*nudgeRig
	push *webpushtest.Server
	b    *bus.Bus
}

func newPushRig(t *testing.T) *pushRig {
	t.Helper()
	h := newHarness(t, ollamatest.Options{DeltaDelay: time.Millisecond})
	r := &pushRig{nudgeRig: &nudgeRig{channelRig: &channelRig{h: h, wa: whatsapptest.New(t), tg: telegramtest.New(t), ollama: h.ollama},
		day0: time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, 1)}, push: webpushtest.New(t, "")}
	cfg := h.config()
	cfg.PushAllowOrigins = []string{r.push.URL}
	cfg.VAPIDSubject = "mailto:ops@coach.example"
	cfg.Nudge.Tick, cfg.Nudge.Page, cfg.Nudge.Lease = 100*time.Millisecond, 50, 5*time.Second
	r.offset.Store(int64(time.Until(r.at(0, 10*time.Hour))))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a, err := app.Start(ctx, cfg, app.Options{Log: testenv.Logger(t), Now: r.now})
	require.NoError(t, err)
	t.Cleanup(a.Stop)
	r.a, r.c = a, testenv.NewClient(a.URL)
	r.cr = r.c.Register(t)
	r.conn = ownerConn(t, h)
	r.b = testenv.BusAt(t, h.natsURL)
	return r
}

// appPerson is an end user of the app with their session.
type appPerson struct {
	creator uuid.UUID
	name    string
	session testenv.WidgetSession
	device  *webpushtest.Sub
}

// person creates an app end user of creator (in zone) and their conversation, as the app's
// session route does, and a session token for them.
func (r *pushRig) person(t *testing.T, creator uuid.UUID, name, zone string) appPerson {
	t.Helper()
	ext := "anon:" + uuid.NewString()
	eu := ids.EndUser(creator, events.ChannelApp, ext)
	conv := ids.Conversation(creator, eu, events.ChannelApp)
	tenantExec(t, r.conn, creator, `INSERT INTO end_users (id, creator_id, channel, external_id, display_name, timezone) VALUES ($1, $2, 'app', $3, $4, $5)`,
		eu, creator, ext, name, zone)
	tenantExec(t, r.conn, creator, `INSERT INTO conversations (id, creator_id, end_user_id, channel) VALUES ($1, $2, $3, 'app')`, conv, creator, eu)
	return appPerson{creator: creator, name: name, session: r.token(t, creator, eu, conv)}
}

func (r *pushRig) token(t *testing.T, creator, eu, conv uuid.UUID) testenv.WidgetSession {
	t.Helper()
	tok, _, err := r.a.Auth.IssueWidget(auth.WidgetClaims{CreatorID: creator, EndUserID: eu, ConversationID: conv})
	require.NoError(t, err)
	return testenv.WidgetSession{Token: tok, ConversationID: conv, EndUserID: eu}
}

// subscribe registers a new device of p through the API.
func (r *pushRig) subscribe(t *testing.T, p *appPerson) {
	t.Helper()
	p.device = r.push.Subscribe()
	st, raw, err := r.c.Do(context.Background(), "POST", "/api/v1/app/push/subscriptions", p.session.Token, p.device.JSON(p.name+"'s phone"), nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, st, string(raw))
}

// write publishes a message of p as the app's socket does (inbound on the app channel).
func (r *pushRig) write(t *testing.T, p appPerson, text string) {
	t.Helper()
	id := uuid.NewString()
	ev := events.New(p.creator, events.MessageReceived{Channel: events.ChannelApp, ProviderMessageID: id, EndUserID: p.session.EndUserID,
		ConversationID: p.session.ConversationID, Text: text}, nil, r.now())
	require.NoError(t, bus.PublishEvent(context.Background(), r.b, events.InboundSubject(p.creator, events.ChannelApp), "app:"+id, ev))
}

// replies counts the coach's stored replies in p's conversation that dispatch is done with
// (final in the send log).
func (r *pushRig) replies(t *testing.T, p appPerson) int {
	t.Helper()
	return countRows(t, r.conn, p.creator, `SELECT count(*) FROM messages m JOIN deliveries d ON d.message_id = m.id
		WHERE m.conversation_id = $1 AND m.role = 'assistant' AND d.status = 'sent'`, p.session.ConversationID)
}

// TestAppPushReplyAndSocket: the push routes (the key, a subscription registered, refreshed,
// refused when malformed or for a widget session, removed); a reply to a person whose app is
// closed is pushed to their device and decrypted there; with the app open (its socket, which
// holds the conversation's socket lease) the reply arrives on the socket and nothing is pushed;
// closed again, the next reply is pushed. Creator B's token registers in B's tenant only, and
// B's people never get A's messages.
func TestAppPushReplyAndSocket(t *testing.T) {
	t.Parallel()
	r := newPushRig(t)
	ctx := context.Background()
	ana := r.person(t, r.cr.ID, "Ana", "UTC")

	// The key: app session required; the service checks every push against it.
	var key struct {
		PublicKey string `json:"public_key"`
	}
	st, _, err := r.c.Do(ctx, "GET", "/api/v1/app/push/key", "", nil, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusUnauthorized, st)
	st, raw, err := r.c.Do(ctx, "GET", "/api/v1/app/push/key", ana.session.Token, nil, &key)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, st, string(raw))
	require.Len(t, key.PublicKey, 87, "65 bytes, base64url")
	r.push.SetVAPID(key.PublicKey)

	r.subscribe(t, &ana)
	again := ana.device.JSON("renamed")
	st, raw, err = r.c.Do(ctx, "POST", "/api/v1/app/push/subscriptions", ana.session.Token, again, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, st, "the same endpoint again: %s", raw)
	require.Equal(t, 1, countRows(t, r.conn, r.cr.ID, `SELECT count(*) FROM push_subscriptions WHERE device = 'renamed'`))
	bad := []map[string]any{
		{"endpoint": "http://push.example.com/x", "keys": map[string]string{"p256dh": ana.device.P256dh, "auth": ana.device.Auth}},
		{"endpoint": ana.device.Endpoint, "keys": map[string]string{"p256dh": ana.device.Auth, "auth": ana.device.Auth}},
		{"endpoint": ana.device.Endpoint, "keys": map[string]string{"p256dh": ana.device.P256dh, "auth": "c2hvcnQ"}},
		// Inside the deployment: dispatch would post there.
		{"endpoint": "https://169.254.169.254/latest/meta-data", "keys": map[string]string{"p256dh": ana.device.P256dh, "auth": ana.device.Auth}},
	}
	for _, b := range bad {
		st, raw, err = r.c.Do(ctx, "POST", "/api/v1/app/push/subscriptions", ana.session.Token, b, nil)
		require.NoError(t, err)
		require.Equal(t, http.StatusBadRequest, st, string(raw))
		require.Contains(t, string(raw), "bad_subscription")
	}
	// A widget session is not the app's.
	ws := r.c.StartWidget(t, r.cr.WidgetKey, "anon-"+uuid.NewString())
	st, raw, err = r.c.Do(ctx, "POST", "/api/v1/app/push/subscriptions", ws.Token, r.push.Subscribe().JSON("w"), nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusForbidden, st, string(raw))
	// Removing is idempotent.
	extra := r.push.Subscribe()
	st, _, err = r.c.Do(ctx, "POST", "/api/v1/app/push/subscriptions", ana.session.Token, extra.JSON("tablet"), nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, st)
	for range 2 {
		st, _, err = r.c.Do(ctx, "DELETE", "/api/v1/app/push/subscriptions", ana.session.Token, map[string]string{"endpoint": extra.Endpoint}, nil)
		require.NoError(t, err)
		require.Equal(t, http.StatusNoContent, st)
	}
	require.Equal(t, 1, countRows(t, r.conn, r.cr.ID, `SELECT count(*) FROM push_subscriptions`))
	// At most 10 devices a person: the eleventh replaces the oldest.
	cy := r.person(t, r.cr.ID, "Cy", "UTC")
	var first *webpushtest.Sub
	for i := range 11 {
		r.subscribe(t, &cy)
		if i == 0 {
			first = cy.device
		}
	}
	require.Equal(t, 10, countRows(t, r.conn, r.cr.ID, `SELECT count(*) FROM push_subscriptions WHERE end_user_id = $1`, cy.session.EndUserID))
	require.Zero(t, countRows(t, r.conn, r.cr.ID, `SELECT count(*) FROM push_subscriptions WHERE endpoint = $1`, first.Endpoint))

	// The app is closed: the reply is pushed.
	r.write(t, ana, "How do I sleep better?")
	testenv.Eventually(t, 60*time.Second, func() bool { return len(r.push.Messages(ana.device)) == 1 }, "the reply pushed")
	m := r.push.Messages(ana.device)[0]
	require.NotEmpty(t, m.Payload.Body)
	require.Equal(t, ana.session.ConversationID.String(), m.Payload.ConversationID)
	require.Positive(t, m.Payload.Seq)
	require.Empty(t, r.push.Problems())

	// The app is open: the reply comes on the socket, no push.
	wc, _, err := r.c.DialWidget(ctx, ana.session, m.Payload.Seq, nil)
	require.NoError(t, err)
	wc.Next(t, 30*time.Second, func(f testenv.Frame) bool { return f.Type == "ready" })
	r.write(t, ana, "And what about naps?")
	f := wc.Next(t, 60*time.Second, testenv.IsReply)
	require.Greater(t, f.Seq, m.Payload.Seq)
	testenv.Eventually(t, 30*time.Second, func() bool { return r.replies(t, ana) == 2 }, "the second reply dispatched")
	require.Len(t, r.push.Messages(ana.device), 1, "no push while the app is open")

	// Closed again: pushed.
	require.NoError(t, wc.CloseNow())
	testenv.Eventually(t, 30*time.Second, func() bool { return !r.socketLive(t, ana) }, "the socket's lease released")
	r.write(t, ana, "Thanks!")
	testenv.Eventually(t, 60*time.Second, func() bool { return len(r.push.Messages(ana.device)) == 2 }, "the third reply pushed")
	require.Greater(t, r.push.Messages(ana.device)[1].Payload.Seq, f.Seq)

	// Creator B: B's token registers in B's tenant; A's message never reaches B's device.
	cb := r.c.Register(t)
	bo := r.person(t, cb.ID, "Bo", "UTC")
	r.subscribe(t, &bo)
	require.Equal(t, 1, countRows(t, r.conn, cb.ID, `SELECT count(*) FROM push_subscriptions`))
	require.Zero(t, countRows(t, r.conn, r.cr.ID, `SELECT count(*) FROM push_subscriptions WHERE endpoint = $1`, bo.device.Endpoint), "nothing of B's in A's tenant")
	// A's person's token cannot put a device into B's tenant: the token names A.
	st, _, err = r.c.Do(ctx, "POST", "/api/v1/app/push/subscriptions", ana.session.Token, r.push.Subscribe().JSON("x"), nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, st)
	require.Equal(t, 1, countRows(t, r.conn, cb.ID, `SELECT count(*) FROM push_subscriptions`))
	r.write(t, ana, "One more question about sleep")
	testenv.Eventually(t, 60*time.Second, func() bool { return len(r.push.Messages(ana.device)) == 3 }, "A's reply pushed")
	require.Empty(t, r.push.Messages(bo.device), "B's device never gets A's messages")
}

// socketLive reports whether p's conversation holds a socket lease of a live gateway.
func (r *pushRig) socketLive(t *testing.T, p appPerson) bool {
	t.Helper()
	var n int
	require.NoError(t, r.conn.QueryRow(context.Background(), `SELECT count(*) FROM socket_leases l JOIN socket_holders h ON h.holder = l.holder
		WHERE l.session = sha256(convert_to('widget:conversation:' || $1::text, 'UTF8'))`, p.session.ConversationID).Scan(&n))
	return n > 0
}

// TestAppPushCampaignQuietHours: a campaign to the app channel at 22:30 in Tokyo and 13:30 in
// London (UTC): the Londoner's device gets it at once; the Tokyo person's waits (held,
// quiet hours) until 08:00 their time, then it is pushed and stored in the conversation, and
// the campaign's stats count both. A program step due "day 1 at 09:00" reaches the Tokyo
// person's device at 09:00 Tokyo time.
func TestAppPushCampaignQuietHours(t *testing.T) {
	t.Parallel()
	r := newPushRig(t)
	aki := r.person(t, r.cr.ID, "Aki", "Asia/Tokyo")
	lea := r.person(t, r.cr.ID, "Lea", "Europe/London")
	r.subscribe(t, &aki)
	r.subscribe(t, &lea)
	// Someone on another channel is not in the audience.
	seedEndUsers(t, r.conn, r.cr.ID, 1, "widget-person")

	// Day 0, 13:30 UTC: 22:30 in Tokyo (quiet), 13:30 in London (winter: UTC).
	r.setClock(t, r.at(0, 13*time.Hour+30*time.Minute))
	// Aki joins a program whose step comes the next day at 09:00 (their time).
	var prog struct {
		ID uuid.UUID `json:"id"`
	}
	st, raw, err := r.c.Do(context.Background(), "POST", "/api/v1/programs", r.cr.AccessToken, map[string]any{
		"name": "Morning routine", "steps": []map[string]any{
			{"day": 1, "at": "09:00", "content": map[string]any{"kind": "text", "text": "Day one: a glass of water first thing."}}},
	}, &prog)
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, st, string(raw))
	st, raw, err = r.c.Do(context.Background(), "POST", "/api/v1/programs/"+prog.ID.String()+"/enrollments", r.cr.AccessToken,
		map[string]any{"end_user_id": aki.session.EndUserID}, nil)
	require.NoError(t, err)
	require.Less(t, st, 300, string(raw))
	occ := r.now().Add(time.Second).UTC().Truncate(time.Microsecond)
	marker := "[push-" + uuid.NewString()[:8] + "]"
	camp := createCampaign(t, r.c, r.cr, map[string]any{
		"name":     "evening check-in",
		"audience": map[string]any{"channel": "app"},
		"content":  map[string]any{"kind": "text", "text": "How was your day, {{first_name}}? " + marker},
		"schedule": map[string]any{"kind": "once", "at": occ.Format(time.RFC3339Nano)},
	})
	testenv.Eventually(t, 60*time.Second, func() bool { return len(r.push.Messages(lea.device)) == 1 }, "Lea's push")
	require.Equal(t, "How was your day, Lea? "+marker, r.push.Messages(lea.device)[0].Payload.Body)
	testenv.Eventually(t, 30*time.Second, func() bool {
		ds := r.decisions(t, camp)
		return len(ds) == 2 && fmt.Sprint(ds[0].Status, ds[1].Status) != "sentsent"
	}, "both decided")
	var held int
	for _, d := range r.decisions(t, camp) {
		if d.Status == "held" {
			held++
			require.Equal(t, "quiet_hours", d.Reason, "%s", d)
		}
	}
	require.Equal(t, 1, held, "Aki's is held: 22:30 in Tokyo")
	require.Empty(t, r.push.Messages(aki.device))
	s := r.stats(t, camp)
	require.Equal(t, 2, s.Targeted)
	require.Equal(t, 1, s.Sent)
	require.Equal(t, 1, s.Held)

	// 07:59 in Tokyo: still quiet.
	r.setClock(t, r.at(0, 22*time.Hour+59*time.Minute))
	time.Sleep(time.Second) // some scheduler ticks; nothing may happen (checked below)
	require.Empty(t, r.push.Messages(aki.device), "not before 08:00 in Tokyo")
	// 08:00 in Tokyo (23:00 UTC): pushed, and in the conversation.
	r.setClock(t, r.at(0, 23*time.Hour+5*time.Second))
	testenv.Eventually(t, 60*time.Second, func() bool { return len(r.push.Messages(aki.device)) == 1 }, "Aki's push in the morning")
	got := r.push.Messages(aki.device)[0]
	require.Equal(t, "How was your day, Aki? "+marker, got.Payload.Body)
	require.Equal(t, aki.session.ConversationID.String(), got.Payload.ConversationID)
	require.Equal(t, 1, countRows(t, r.conn, r.cr.ID, `SELECT count(*) FROM messages WHERE conversation_id = $1 AND seq = $2 AND strpos(body, $3) > 0`,
		aki.session.ConversationID, got.Payload.Seq, marker), "stored in the conversation at the pushed seq")
	require.Len(t, r.push.Messages(lea.device), 1, "Lea got it once")
	testenv.Eventually(t, 30*time.Second, func() bool { s = r.stats(t, camp); return s.Sent == 2 }, "stats: both sent")
	require.Equal(t, 2, s.Targeted)
	require.Equal(t, 0, s.Held)
	require.Equal(t, 0, s.Failed)
	require.True(t, strings.Contains(fmt.Sprint(r.decisions(t, camp)), "sent"))
	require.Len(t, r.push.Messages(aki.device), 1, "no program step before 09:00 in Tokyo")

	// 09:00 in Tokyo (00:00 UTC of day 1): the program step.
	r.setClock(t, r.at(1, 5*time.Second))
	testenv.Eventually(t, 60*time.Second, func() bool { return len(r.push.Messages(aki.device)) == 2 }, "the program step at 09:00 in Tokyo")
	step := r.push.Messages(aki.device)[1]
	require.Equal(t, "Day one: a glass of water first thing.", step.Payload.Body)
	require.Greater(t, step.Payload.Seq, got.Payload.Seq)
	require.Len(t, r.push.Messages(lea.device), 1, "Lea is not enrolled")
	require.Empty(t, r.push.Problems())
}
