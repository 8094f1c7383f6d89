package dispatch_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
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

func TestMain(m *testing.M) { testenv.Main(m) }

const testKeys = "test1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

// rig is one creator with a WhatsApp channel on the loopback Graph API, on a real Postgres
// database and NATS server of the test's own (its workers' durable consumer sees only this
// test's messages, so tests run in parallel); dispatch workers are started (and killed) by the
// tests.
type rig struct {
	db      testenv.DB
	nats    string
	store   *db.Store
	b       *bus.Bus
	keys    *secrets.Keyring
	creator uuid.UUID
	channel uuid.UUID
	tgChan  uuid.UUID
	wa      *whatsapptest.Server
	tg      *telegramtest.Server
	prefix  string // of this test's recipients' numbers
	logs    *logBuf
}

// logBuf keeps every log line of the test's workers (and passes them to the test log).
type logBuf struct {
	t  testing.TB
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.b.Write(p)
	l.mu.Unlock()
	func() {
		defer func() { _ = recover() }()
		l.t.Logf("%s", bytes.TrimRight(p, "\n"))
	}()
	return len(p), nil
}

func (l *logBuf) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func newRig(t *testing.T) *rig {
	t.Helper()
	ctx := context.Background()
	r := &rig{db: testenv.OwnDatabase(t), nats: testenv.OwnNATS(t), creator: uuid.New(), channel: uuid.New(), tgChan: uuid.New(),
		wa: whatsapptest.New(t), tg: telegramtest.New(t),
		prefix: fmt.Sprintf("49%05d", uuid.New().ID()%100000), logs: &logBuf{t: t}}
	r.store, r.b = testenv.StoreAt(t, r.db.AppURL), testenv.BusAt(t, r.nats)
	var err error
	r.keys, err = secrets.Load(testKeys, t.TempDir())
	require.NoError(t, err)
	sealed, err := r.keys.SealChannel(r.channel, secrets.ChannelCredentials{AccessToken: whatsapptest.DefaultAccessToken,
		AppSecret: "app-secret", VerifyToken: "verify"})
	require.NoError(t, err)
	cfg, _ := json.Marshal(channels.Config{PhoneNumberID: whatsapptest.DefaultPhoneNumberID})
	tgSealed, err := r.keys.SealChannel(r.tgChan, secrets.ChannelCredentials{BotToken: telegramtest.DefaultToken, WebhookSecret: "s"})
	require.NoError(t, err)
	require.NoError(t, r.store.InTenant(ctx, r.creator, func(q *db.Queries) error {
		if _, err := q.InsertCreator(ctx, db.InsertCreatorParams{ID: r.creator, Name: "Coach", Email: r.creator.String() + "@example.com",
			WidgetKey: "wk-" + r.creator.String(), WidgetSecret: "ws", AllowedOrigins: []string{}}); err != nil {
			return err
		}
		if _, err := q.InsertChannel(ctx, db.InsertChannelParams{ID: r.channel, CreatorID: r.creator, Type: "whatsapp", Name: "wa",
			ExternalID: whatsapptest.DefaultPhoneNumberID, Config: cfg, Secrets: sealed}); err != nil {
			return err
		}
		_, err := q.InsertChannel(ctx, db.InsertChannelParams{ID: r.tgChan, CreatorID: r.creator, Type: "telegram", Name: "tg",
			Config: []byte("{}"), Secrets: tgSealed})
		return err
	}))
	return r
}

// startWorker runs a dispatch worker on its own NATS connection and database pool; kill closes
// both without settling anything (the process is gone as far as JetStream and Postgres can
// tell; its provider calls are stopped by the transport the test gives it).
func (r *rig) startWorker(t *testing.T, limits dispatch.Limits, hc *http.Client) (kill func()) {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	b, err := bus.Connect(ctx, r.nats, t.Name(), log, bus.Options{})
	require.NoError(t, err)
	router, err := bus.NewRouter(b, log)
	require.NoError(t, err)
	store := testenv.StoreAt(t, r.db.AppURL) // its own pool: a dead process writes nothing more
	w := &dispatch.Worker{Store: store, Bus: b, Parallel: 2, Log: log, Now: time.Now, Keys: r.keys,
		WhatsAppURL: r.wa.URL, TelegramURL: r.tg.URL, Limits: limits, HTTP: hc}
	require.NoError(t, w.Register(ctx, router))
	go func() { _ = router.Run(context.Background()) }()
	<-router.Running()
	var once sync.Once
	kill = func() { once.Do(func() { b.Conn().Close(); store.Close() }) }
	t.Cleanup(kill)
	return kill
}

// send stores one assistant message per body to recipient number i (window open) and hands
// each to dispatch; it returns the message ids.
func (r *rig) send(t *testing.T, to []string, bodies []string) []uuid.UUID {
	t.Helper()
	return r.sendOn(t, "whatsapp", r.channel, to, bodies)
}

// sendOn is send on a channel of either type.
func (r *rig) sendOn(t *testing.T, typ string, channel uuid.UUID, to []string, bodies []string) []uuid.UUID {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	var ids []uuid.UUID
	var outs []*nats.Msg
	require.NoError(t, r.store.InTenant(ctx, r.creator, func(q *db.Queries) error {
		for i, wa := range to {
			eu, err := q.UpsertChannelEndUser(ctx, db.UpsertChannelEndUserParams{ID: uuid.New(), CreatorID: r.creator, Channel: typ,
				ExternalID: channel.String() + ":" + wa, ChannelID: uuid.NullUUID{UUID: channel, Valid: true},
				ProviderUserID: wa, ChatID: wa, InboundAt: &now})
			if err != nil {
				return err
			}
			conv, err := q.UpsertChannelConversation(ctx, db.UpsertChannelConversationParams{ID: uuid.New(), CreatorID: r.creator, EndUserID: eu.ID,
				Channel: typ, ChannelID: uuid.NullUUID{UUID: channel, Valid: true}})
			if err != nil {
				return err
			}
			m, err := q.InsertMessage(ctx, db.InsertMessageParams{ID: uuid.New(), CreatorID: r.creator, ConversationID: conv.ID, Role: "assistant",
				Body: bodies[i], Sources: []byte("[]"), Channel: typ, Status: "generated"})
			if err != nil {
				return err
			}
			ids = append(ids, m.ID)
			ev := events.New(r.creator, events.MessageOutbound{MessageID: m.ID, ConversationID: conv.ID, EndUserID: eu.ID, Channel: typ}, nil, now)
			b, _ := json.Marshal(ev)
			nm := &nats.Msg{Subject: events.OutboundSubject(r.creator, typ), Data: b, Header: nats.Header{}}
			nm.Header.Set(nats.MsgIdHdr, "out:"+m.ID.String())
			outs = append(outs, nm)
		}
		return nil
	}))
	for _, m := range outs {
		_, err := r.b.JetStream().PublishMsg(ctx, m)
		require.NoError(t, err)
	}
	return ids
}

func (r *rig) recipients(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%04d", r.prefix, i)
	}
	return out
}

// status is the message's delivery status.
func (r *rig) status(t *testing.T, id uuid.UUID) string {
	t.Helper()
	var s string
	require.NoError(t, r.store.InTenant(context.Background(), r.creator, func(q *db.Queries) error {
		m, err := q.GetMessage(context.Background(), id)
		s = m.Status
		return err
	}))
	return s
}

func (r *rig) waitSent(t *testing.T, ids []uuid.UUID, timeout time.Duration) {
	t.Helper()
	testenv.Eventually(t, timeout, func() bool {
		for _, id := range ids {
			if r.status(t, id) != "sent" {
				return false
			}
		}
		return true
	}, "messages sent")
}

// attempts are delivery_parts.attempts of a message by part.
func (r *rig) attempts(t *testing.T, id uuid.UUID) map[int32]int32 {
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
	rows, err := tx.Query(ctx, "SELECT part, attempts FROM delivery_parts WHERE message_id = $1", id)
	require.NoError(t, err)
	out := map[int32]int32{}
	for rows.Next() {
		var p, a int32
		require.NoError(t, rows.Scan(&p, &a))
		out[p] = a
	}
	require.NoError(t, rows.Err())
	return out
}

// TestProviderThrottleScopes (issue 9, defect 10): a WhatsApp 429 with code 4 (the app's
// limit) on one send pauses every recipient of the number until its Retry-After has passed —
// no call at all reaches the provider meanwhile, checked at the double's recorded call times —
// while a 131056 pair limit pauses only that recipient.
func TestProviderThrottleScopes(t *testing.T) {
	// Not parallel: it reads pauses off the double's call times, and the first 429 must be
	// handled before the next send leaves; other tests' load on 2 cores breaks that.
	r := newRig(t)
	r.startWorker(t, dispatch.Limits{WhatsAppPerNumber: 4}, nil) // a send every ~260 ms: the throttle lands between two

	// App limit: the first send is refused with 429 code 4, Retry-After 2 s; the double refuses
	// every send of the app for those 2 s, as Meta does.
	const retry = 2 * time.Second
	r.wa.LimitOnNext(nil, whatsapptest.ScopeApp, whatsapptest.Failure{Status: 429, Code: 4, RetryAfter: int(retry / time.Second)})
	to := r.recipients(10)
	// The first send alone, and the rest once its 429 is recorded as a pause: a send already on
	// its way when the 429 came back would be the provider's call, not a broken pause (a loaded
	// machine delivered one 69 ms after the 429 when all five were queued at once).
	ids := r.send(t, to[:1], []string{"one"})
	require.Eventually(t, func() bool { return strings.Contains(r.logs.String(), "provider rate limit: sends paused") },
		30*time.Second, 10*time.Millisecond, "the 429 never paused sends")
	ids = append(ids, r.send(t, to[1:5], []string{"two", "three", "four", "five"})...)
	r.waitSent(t, ids, 60*time.Second)
	calls := r.wa.Calls()
	require.Equal(t, 429, calls[0].Status, "%+v", calls)
	t0 := calls[0].At
	for _, c := range calls[1:] {
		require.False(t, c.At.Before(t0.Add(retry)), "a send %s after the app's 429 (Retry-After %s): %+v",
			c.At.Sub(t0), retry, calls)
		require.Equal(t, 200, c.Status)
	}
	for _, n := range to[:5] {
		require.Len(t, r.wa.SentTo(n), 1, n)
	}

	// Pair limit: 131056 for the first recipient pauses that pair (6 s); the others go on.
	r.wa.Reset()
	r.wa.LimitOnNext(nil, whatsapptest.ScopePair, whatsapptest.Failure{Status: 400, Code: 131056})
	ids = r.send(t, to[5:], []string{"six", "seven", "eight", "nine", "ten"})
	r.waitSent(t, ids, 60*time.Second)
	calls = r.wa.Calls()
	require.Equal(t, 131056, calls[0].Code, "%+v", calls)
	t0, pair := calls[0].At, calls[0].To
	for _, c := range calls[1:] {
		require.Equal(t, 200, c.Status, "%+v", calls)
		if c.To == pair {
			require.False(t, c.At.Before(t0.Add(6*time.Second)), "the pair was sent to %s after its 131056", c.At.Sub(t0))
		} else {
			require.True(t, c.At.Before(t0.Add(6*time.Second)), "another recipient waited for the pair's limit: %+v", calls)
		}
	}
	for _, n := range to[5:] {
		require.Len(t, r.wa.SentTo(n), 1, n)
	}
}

// TestLongThrottleDefersOnce: a provider pause longer than MaxWait hands each waiting reply back
// to JetStream until the pause ends — one delivery per pause — instead of a backoff that spends
// a delivery every few seconds (a 10-minute app-level 429 used to dead-letter every reply of
// every number on the token after MaxDeliver).
func TestLongThrottleDefersOnce(t *testing.T) {
	// Not parallel: it reads pauses off the double's call times, and the first 429 must be
	// handled before the next send leaves; other tests' load on 2 cores breaks that.
	r := newRig(t)
	r.startWorker(t, dispatch.Limits{MaxWait: 300 * time.Millisecond}, nil)
	const retry = 6 * time.Second
	r.wa.LimitOnNext(nil, whatsapptest.ScopeApp, whatsapptest.Failure{Status: 429, Code: 4, RetryAfter: int(retry / time.Second)})
	to := r.recipients(3)
	ids := r.send(t, to, []string{"one", "two", "three"})
	r.waitSent(t, ids, 60*time.Second)
	calls := r.wa.Calls()
	t0 := calls[0].At
	// Sends already in flight when the first 429 came back are refused by the same pause (the
	// handlers run in parallel); once it is known, nothing leaves until it ends.
	refused := 0
	for _, c := range calls[1:] {
		if c.Status == 429 {
			refused++
			continue
		}
		require.False(t, c.At.Before(t0.Add(retry)), "a send %s after the app's 429: %+v", c.At.Sub(t0), calls)
	}
	require.Less(t, refused, len(ids), "only the sends in flight with the first one meet the pause: %+v", calls)
	logs := r.logs.String()
	deferrals := strings.Count(logs, "provider limit: reply deferred")
	require.GreaterOrEqual(t, deferrals, len(ids), "every reply waited out the pause in JetStream:\n%s", logs)
	require.LessOrEqual(t, deferrals, 2*len(ids), "at most a delivery or two per reply for one pause:\n%s", logs)
}

// freezingTransport passes requests to the provider; a request whose body contains marker is
// delivered and its answer then never returned: the process died mid-call. Once killed, no
// request leaves at all.
type freezingTransport struct {
	base   http.RoundTripper
	marker string
	frozen chan struct{} // closed when a call froze
	dead   chan struct{} // closed at the end of the test
	once   sync.Once
	killed atomic.Bool
}

func (f *freezingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if f.killed.Load() {
		<-f.dead
		return nil, fmt.Errorf("process gone")
	}
	body, _ := io.ReadAll(req.Body)
	req.Body = io.NopCloser(bytes.NewReader(body))
	resp, err := f.base.RoundTrip(req)
	if err == nil && strings.Contains(string(body), f.marker) {
		resp.Body.Close()
		f.once.Do(func() { close(f.frozen) })
		<-f.dead
		return nil, fmt.Errorf("process gone")
	}
	return resp, err
}

// TestDispatchKilledMidProviderCall (issue 9, defect 15): the dispatch worker dies while the
// second part of a three-part reply is at the provider (delivered there, answer never read),
// with two other replies sent just before. After another worker takes over: exactly one more
// send of that part only (attempts 2 and a WARN line saying so), the third part once, and
// nothing else twice.
func TestDispatchKilledMidProviderCall(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	limits := dispatch.Limits{CallTimeout: time.Second}
	dead := make(chan struct{})
	t.Cleanup(func() { close(dead) })
	ft := &freezingTransport{base: http.DefaultTransport, marker: "PART-TWO", frozen: make(chan struct{}), dead: dead}
	kill := r.startWorker(t, limits, &http.Client{Transport: ft})

	para := func(tag string) string { return tag + " " + strings.Repeat("Sleep is a skill you can practise. ", 110) }
	long := para("PART-ONE") + "\n\n" + para("PART-TWO") + "\n\n" + para("PART-THREE")
	to := r.recipients(4)
	shortIDs := r.send(t, to[1:3], []string{"Short reply one.", "Short reply two."})
	r.waitSent(t, shortIDs, 30*time.Second)
	longID := r.send(t, to[:1], []string{long})[0]
	select {
	case <-ft.frozen:
	case <-time.After(30 * time.Second):
		t.Fatal("the second part never reached the provider")
	}
	// Four short replies to one more person: three go at once, the fourth waits for the
	// recipient's pair limit (3 at once, then one per 6 s) when the worker dies. It was never
	// called, so it is no re-send.
	waiting := r.send(t, []string{to[3], to[3], to[3], to[3]}, []string{"Reply A.", "Reply B.", "Reply C.", "Reply D."})
	testenv.Eventually(t, 30*time.Second, func() bool {
		n := 0
		for _, id := range waiting {
			if r.status(t, id) == "sent" {
				n++
			}
		}
		return n == 3
	}, "three replies to the fourth person sent and recorded")
	ft.killed.Store(true)
	kill()
	require.Len(t, r.wa.SentTo(to[0]), 2, "parts one and two are at the provider")
	require.Len(t, r.wa.SentTo(to[3]), 3, "the fourth reply waits for the pair limit")

	r.startWorker(t, limits, nil)
	r.waitSent(t, append([]uuid.UUID{longID}, waiting...), 60*time.Second)
	var texts []string
	for _, s := range r.wa.SentTo(to[0]) {
		texts = append(texts, s.Text[:strings.Index(s.Text, " ")])
	}
	require.Equal(t, []string{"PART-ONE", "PART-TWO", "PART-TWO", "PART-THREE"}, texts)
	require.Len(t, r.wa.SentTo(to[1]), 1)
	require.Len(t, r.wa.SentTo(to[2]), 1)
	require.Equal(t, map[int32]int32{0: 1, 1: 2, 2: 1}, r.attempts(t, longID), "provider calls started per part")
	require.Len(t, r.wa.SentTo(to[3]), 4)
	for _, id := range append(shortIDs, waiting...) {
		require.Equal(t, map[int32]int32{0: 1}, r.attempts(t, id), "a part that waited for its limit when the worker died counts one call")
	}
	require.Contains(t, r.logs.String(), "re-sending after an interrupted provider call")
	require.Equal(t, 1, strings.Count(r.logs.String(), "re-sending after an interrupted provider call"))
}

// TestTelegramFloodWaitPausesBot (issue 9, defect 10): Telegram's 429 with retry_after on a
// private chat is the bot's limit: no chat of the bot is sent to until it has passed.
func TestTelegramFloodWaitPausesBot(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.startWorker(t, dispatch.Limits{TelegramPerBot: 4}, nil) // a send every ~260 ms
	r.tg.FloodWait(0, 2)
	var chats []string
	for i := range 5 {
		chats = append(chats, fmt.Sprintf("%d", 7000+int(uuid.New().ID()%100000)*10+i))
	}
	ids := r.sendOn(t, "telegram", r.tgChan, chats, []string{"one", "two", "three", "four", "five"})
	r.waitSent(t, ids, 60*time.Second)
	calls := r.tg.Calls()
	require.Equal(t, 429, calls[0].Status, "%+v", calls)
	// A call already on its way when the first 429 came back (its limit was taken before the
	// pause was recorded: a slow machine makes that window wide) meets the same 429; at most one
	// such call, and nothing is sent before retry_after has passed.
	inWindow := 0
	for _, c := range calls[1:] {
		if c.At.Before(calls[0].At.Add(2 * time.Second)) {
			inWindow++
			require.Equal(t, 429, c.Status, "a send %s after the bot's 429 (retry_after 2) went through: %+v", c.At.Sub(calls[0].At), calls)
		}
	}
	require.LessOrEqual(t, inWindow, 1, "calls within the bot's flood wait: %+v", calls)
	require.Len(t, r.tg.Sent(), 5)
}
