package app_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/app"
	"github.com/coachwire/coachwire/internal/channels/telegramtest"
	"github.com/coachwire/coachwire/internal/channels/whatsapptest"
	"github.com/coachwire/coachwire/internal/config"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/dispatch"
	"github.com/coachwire/coachwire/internal/llm/ollamatest"
	"github.com/coachwire/coachwire/internal/testenv"
)

const waAppSecret = "wa-app-secret-ü"

// testSecretKeys is the keyring of every channel test process (all share NATS and Postgres).
const testSecretKeys = "test1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

// channelRig is one coachwire process with loopback WhatsApp and Telegram providers and a
// clock that tests can move forward (WhatsApp's 24-hour window).
type channelRig struct {
	h      *harness
	a      *app.App
	c      *testenv.Client
	cr     testenv.Creator
	wa     *whatsapptest.Server
	tg     *telegramtest.Server
	ollama *ollamatest.Server
	offset atomic.Int64
}

func newChannelRig(t *testing.T, ollama ollamatest.Options, limits dispatch.Limits) *channelRig {
	t.Helper()
	h := newHarness(t, ollama)
	r := &channelRig{h: h, wa: whatsapptest.New(t), tg: telegramtest.New(t), ollama: h.ollama}
	cfg := h.config()
	cfg.WhatsAppAPIURL, cfg.TelegramAPIURL = r.wa.URL, r.tg.URL
	cfg.SecretKeys = testSecretKeys
	now := func() time.Time { return time.Now().Add(time.Duration(r.offset.Load())) }
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a, err := app.Start(ctx, cfg, app.Options{Log: testenv.Logger(t), Now: now, DispatchLimits: limits})
	require.NoError(t, err)
	t.Cleanup(a.Stop)
	r.a, r.c = a, testenv.NewClient(a.URL)
	r.cr = r.c.Register(t)
	r.c.AddDocument(t, r.cr, "Sleep basics", "markdown", sleepDoc)
	return r
}

type channelResp struct {
	ID         uuid.UUID `json:"id"`
	Type       string    `json:"type"`
	WebhookURL string    `json:"webhook_url"`
}

func (r *channelRig) addChannel(t testing.TB, body map[string]any) channelResp {
	t.Helper()
	var ch channelResp
	st, raw, err := r.c.Do(context.Background(), "POST", "/api/v1/channels", r.cr.AccessToken, body, &ch)
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, st, string(raw))
	for _, k := range []string{"access_token", "app_secret", "verify_token", "bot_token"} {
		if v, ok := body[k].(string); ok {
			require.NotContains(t, string(raw), v, "the API never returns a secret")
		}
	}
	return ch
}

func (r *channelRig) whatsapp(t *testing.T, template bool) channelResp {
	body := map[string]any{"type": "whatsapp", "phone_number_id": whatsapptest.DefaultPhoneNumberID,
		"access_token": whatsapptest.DefaultAccessToken, "app_secret": waAppSecret, "verify_token": "verify-me-123"}
	if template {
		body["template"] = map[string]string{"name": "coach_reengage", "language": "en_US"}
	}
	return r.addChannel(t, body)
}

func post(t *testing.T, url string, body []byte, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("POST", url, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (r *channelRig) postWA(t *testing.T, ch channelResp, payload []byte) (int, string) {
	body, sig := whatsapptest.SignedRequest(waAppSecret, payload)
	return post(t, ch.WebhookURL, body, "X-Hub-Signature-256", sig)
}

func (r *channelRig) postTG(t *testing.T, ch channelResp, payload []byte) (int, string) {
	_, secret := r.tg.LastWebhook()
	return post(t, ch.WebhookURL, payload, "X-Telegram-Bot-Api-Secret-Token", secret)
}

type convRow struct {
	ID       uuid.UUID `json:"id"`
	Channel  string    `json:"channel"`
	Status   string    `json:"status"`
	OptedOut bool      `json:"opted_out"`
}

func (r *channelRig) conversations(t *testing.T, query string) []convRow {
	t.Helper()
	var out struct {
		Conversations []convRow `json:"conversations"`
	}
	st, raw, err := r.c.Do(context.Background(), "GET", "/api/v1/conversations"+query, r.cr.AccessToken, nil, &out)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, st, raw)
	return out.Conversations
}

type msgRow struct {
	ID        uuid.UUID `json:"id"`
	Role      string    `json:"role"`
	Text      string    `json:"text"`
	Status    string    `json:"status"`
	ErrorCode string    `json:"error_code"`
}

func (r *channelRig) messages(t *testing.T, conv uuid.UUID) []msgRow {
	t.Helper()
	var out struct {
		Messages []msgRow `json:"messages"`
	}
	st, raw, err := r.c.Do(context.Background(), "GET", "/api/v1/conversations/"+conv.String()+"/messages", r.cr.AccessToken, nil, &out)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, st, string(raw))
	return out.Messages
}

// shift moves the process clock by d from real time and logs in again (tokens are minted and
// checked with that clock).
func (r *channelRig) shift(t *testing.T, d time.Duration) {
	t.Helper()
	r.offset.Store(int64(d))
	var out struct {
		AccessToken string `json:"access_token"`
	}
	st, raw, err := r.c.Do(context.Background(), "POST", "/api/v1/auth/login", "", map[string]string{"email": r.cr.Email, "password": "correct horse battery"}, &out)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, st, string(raw))
	r.cr.AccessToken = out.AccessToken
}

func (r *channelRig) do(t *testing.T, method, path string, body any) {
	t.Helper()
	st, raw, err := r.c.Do(context.Background(), method, path, r.cr.AccessToken, body, nil)
	require.NoError(t, err)
	require.Less(t, st, 300, string(raw))
}

// quiet asserts that the count stays at want for d.
func quiet(t *testing.T, d time.Duration, want int, count func() int, what string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		require.Equal(t, want, count(), what)
		time.Sleep(50 * time.Millisecond)
	}
}

// TestTelegramChannel: setup with setWebhook, the secret header, one reply per update even when
// Telegram delivers it five times concurrently, typing, STOP/START, media, takeover (also
// mid-generation), creator messages and release. (Provider refusals, 429s and a blocked bot:
// internal/dispatch TestTelegramSendAndRefusals, TestProviderErrorsRetriedWithoutDoubleSends.)
func TestTelegramChannel(t *testing.T) {
	t.Parallel()
	r := newChannelRig(t, ollamatest.Options{DeltaDelay: 2 * time.Millisecond}, dispatch.Limits{})
	r.tg.EnforceLimits(1, 30)
	ch := r.addChannel(t, map[string]any{"type": "telegram", "bot_token": telegramtest.DefaultToken, "opt_out_words": []string{"basta"}})
	url, secret := r.tg.LastWebhook()
	require.Equal(t, r.a.URL+"/webhooks/telegram/"+ch.ID.String(), url)
	require.NotEmpty(t, secret)
	require.Equal(t, ch.WebhookURL, url)

	// Forged and unsigned updates are refused and publish nothing.
	upd := telegramtest.UpdatePayload(1001, 555, 555, "When should I stop drinking caffeine?")
	st, _ := post(t, ch.WebhookURL, upd)
	require.Equal(t, http.StatusUnauthorized, st)
	st, _ = post(t, ch.WebhookURL, upd, "X-Telegram-Bot-Api-Secret-Token", secret+"x")
	require.Equal(t, http.StatusForbidden, st)
	st, _ = post(t, r.a.URL+"/webhooks/telegram/"+uuid.NewString(), upd, "X-Telegram-Bot-Api-Secret-Token", secret)
	require.Equal(t, http.StatusNotFound, st)

	// Delivered five times at once: one inbound record, one reply.
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, body := r.postTG(t, ch, upd)
			require.Equal(t, http.StatusOK, st, body)
		}()
	}
	wg.Wait()
	sent := r.tg.WaitSent(t, 1, 60*time.Second)
	require.Equal(t, int64(555), sent[0].ChatID)
	require.Contains(t, strings.ToLower(sent[0].Text), "caffeine")
	quiet(t, 1500*time.Millisecond, 1, func() int { return len(r.tg.Sent()) }, "exactly one reply")
	require.NotEmpty(t, r.tg.Actions(), "typing shown while the reply was generated")
	convs := r.conversations(t, "?channel=telegram")
	require.Len(t, convs, 1)
	conv := convs[0].ID
	msgs := r.messages(t, conv)
	require.Len(t, msgs, 2)
	require.Equal(t, "user", msgs[0].Role)
	require.Equal(t, "sent", msgs[1].Status)

	// STOP (and the creator's own word) opt out with a confirmation, START opts back in; none
	// of them reaches the model.
	chats := len(r.ollama.ChatRequests())
	r.postTG(t, ch, telegramtest.UpdatePayload(1002, 555, 555, "STOP"))
	r.tg.WaitSent(t, 2, 20*time.Second)
	require.Contains(t, r.tg.Sent()[1].Text, "unsubscribed")
	testenv.Eventually(t, 10*time.Second, func() bool { return r.conversations(t, "")[0].OptedOut }, "opted out")
	r.postTG(t, ch, telegramtest.UpdatePayload(1003, 555, 555, "start"))
	r.tg.WaitSent(t, 3, 20*time.Second)
	require.Contains(t, r.tg.Sent()[2].Text, "subscribed again")
	testenv.Eventually(t, 10*time.Second, func() bool { return !r.conversations(t, "")[0].OptedOut }, "opted in")
	r.postTG(t, ch, telegramtest.UpdatePayload(1004, 555, 555, "Basta"))
	r.tg.WaitSent(t, 4, 20*time.Second)
	require.Contains(t, r.tg.Sent()[3].Text, "unsubscribed")

	// Media: a polite answer, no model call.
	r.postTG(t, ch, telegramtest.MediaUpdatePayload(1005, 555, 555, "photo", ""))
	r.tg.WaitSent(t, 5, 20*time.Second)
	require.Contains(t, r.tg.Sent()[4].Text, "only read text")
	require.Equal(t, chats, len(r.ollama.ChatRequests()), "keywords and media never reach the model")

	// Takeover: the bot stops answering; the creator writes on the channel; release hands back.
	r.do(t, "POST", "/api/v1/conversations/"+conv.String()+"/takeover", nil)
	require.Equal(t, "human", r.conversations(t, "?status=human")[0].Status)
	r.postTG(t, ch, telegramtest.UpdatePayload(1007, 555, 555, "Are you a bot?"))
	quiet(t, 2*time.Second, 5, func() int { return len(r.tg.Sent()) }, "no bot reply after a takeover")
	r.do(t, "POST", "/api/v1/conversations/"+conv.String()+"/messages", map[string]string{"text": "Hi, it's your coach in person."})
	require.Equal(t, "Hi, it's your coach in person.", r.tg.WaitSent(t, 6, 20*time.Second)[5].Text)
	r.do(t, "POST", "/api/v1/conversations/"+conv.String()+"/release", nil)
	r.postTG(t, ch, telegramtest.UpdatePayload(1008, 555, 555, "And caffeine?"))
	r.tg.WaitSent(t, 7, 60*time.Second)

	// A creator message in a bot-owned conversation takes it over.
	r.do(t, "POST", "/api/v1/conversations/"+conv.String()+"/messages", map[string]string{"text": "Stepping in."})
	r.tg.WaitSent(t, 8, 20*time.Second)
	require.Len(t, r.conversations(t, "?status=human"), 1)
	require.Empty(t, r.conversations(t, "?status=bot"))

	require.LessOrEqual(t, r.tg.MaxPerChatPerSecond(), 1)
}

// TestTakeoverMidGeneration: the creator takes over while the model is still writing; the
// bot's reply is dropped, not sent.
func TestTakeoverMidGeneration(t *testing.T) {
	t.Parallel()
	r := newChannelRig(t, ollamatest.Options{DeltaDelay: 40 * time.Millisecond, ChunkSize: 2}, dispatch.Limits{})
	ch := r.addChannel(t, map[string]any{"type": "telegram", "bot_token": telegramtest.DefaultToken})
	r.postTG(t, ch, telegramtest.UpdatePayload(1, 77, 77, "When should I stop drinking caffeine?"))
	testenv.Eventually(t, 30*time.Second, func() bool { return len(r.tg.Actions()) > 0 }, "typing started")
	conv := r.conversations(t, "")[0].ID
	r.do(t, "POST", "/api/v1/conversations/"+conv.String()+"/takeover", nil)
	quiet(t, 4*time.Second, 0, func() int { return len(r.tg.Sent()) }, "the bot's reply was dropped")
	for _, m := range r.messages(t, conv) {
		require.NotEqual(t, "assistant", m.Role)
	}
}

// TestTelegramDrafts: a reply streamed by a slow model shows as drafts (sendMessageDraft, one
// draft id per turn, at most one per second per chat, each a prefix of the stored reply) before
// its one final message. (Turn ids, chats that refuse drafts and group chats: internal/dispatch
// TestTelegramDrafts.)
func TestTelegramDrafts(t *testing.T) {
	t.Parallel()
	r := newChannelRig(t, ollamatest.Options{DeltaDelay: 40 * time.Millisecond, ChunkSize: 4}, dispatch.Limits{})
	ch := r.addChannel(t, map[string]any{"type": "telegram", "bot_token": telegramtest.DefaultToken})

	r.postTG(t, ch, telegramtest.UpdatePayload(1, 555, 555, "When should I stop drinking caffeine?"))
	final := r.tg.WaitSent(t, 1, 60*time.Second)[0]
	require.Equal(t, int64(555), final.ChatID)
	quiet(t, 1500*time.Millisecond, 1, func() int { return len(r.tg.SentTo(555)) }, "exactly one final message")
	drafts := r.tg.Drafts()
	require.NotEmpty(t, drafts, "the reply was streamed as drafts")
	t.Logf("%d drafts before a final message of %d characters", len(drafts), len(final.Text))
	for _, d := range drafts {
		require.Equal(t, int64(555), d.ChatID)
		require.Equal(t, drafts[0].DraftID, d.DraftID, "one draft id per turn")
		require.Positive(t, d.DraftID)
		require.True(t, d.At.Before(final.At), "every draft precedes the final message")
		require.True(t, strings.HasPrefix(final.Text, d.Text), "a draft is a prefix of the reply: %q", d.Text)
	}
	// At most one draft per second per chat, as sent; the double stamps them on arrival, when a
	// loaded machine may have delayed one and not the next, so the rate is checked over the whole
	// stream (one draft of slack) rather than between neighbours.
	span := drafts[len(drafts)-1].At.Sub(drafts[0].At)
	require.LessOrEqual(t, len(drafts)-1, int(span/time.Second)+1, "at most one draft per second per chat: %d drafts in %s", len(drafts), span)
}

type sseEvent struct {
	Name string
	Data events.Activity
}

// openEvents opens the creator's conversations event stream; events arrive on the channel.
func openEvents(t *testing.T, base, token string) <-chan sseEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/api/v1/conversations/events", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	out := make(chan sseEvent, 1024)
	go func() {
		defer resp.Body.Close()
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				ev.Name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				_ = json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev.Data)
			case line == "" && ev.Name != "":
				out <- ev
				ev = sseEvent{}
			}
		}
	}()
	return out
}

// waitEvent returns the first event keep accepts, failing the test after timeout; every event
// seen on the way is passed to seen.
func waitEvent(t *testing.T, ch <-chan sseEvent, timeout time.Duration, seen func(sseEvent), keep func(sseEvent) bool) sseEvent {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case ev, ok := <-ch:
			require.True(t, ok, "event stream closed")
			seen(ev)
			if keep(ev) {
				return ev
			}
		case <-deadline:
			t.Fatalf("no matching event within %s", timeout)
		}
	}
}

// TestConversationEvents: the conversations SSE stream delivers a creator's new messages,
// delivery statuses and takeovers, and never another creator's.
func TestConversationEvents(t *testing.T) {
	t.Parallel()
	r := newChannelRig(t, ollamatest.Options{DeltaDelay: time.Millisecond}, dispatch.Limits{})
	ch := r.addChannel(t, map[string]any{"type": "telegram", "bot_token": telegramtest.DefaultToken})
	other := r.c.Register(t)
	st, raw, err := r.c.Do(context.Background(), "POST", "/api/v1/channels", other.AccessToken, map[string]any{"type": "whatsapp",
		"phone_number_id": whatsapptest.DefaultPhoneNumberID, "access_token": whatsapptest.DefaultAccessToken,
		"app_secret": waAppSecret, "verify_token": "verify-other-1"}, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, st, string(raw))
	var otherCh channelResp
	require.NoError(t, json.Unmarshal(raw, &otherCh))

	st, _, err = r.c.Do(context.Background(), "GET", "/api/v1/conversations/events", "", nil, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusUnauthorized, st)

	mine := openEvents(t, r.a.URL, r.cr.AccessToken)
	theirs := openEvents(t, r.a.URL, other.AccessToken)

	// The other creator's activity first: a WhatsApp message and its reply.
	st, _ = r.postWA(t, otherCh, whatsapptest.TextMessagePayload(whatsapptest.DefaultPhoneNumberID,
		whatsapptest.Msg{From: "491700000009", Text: "When should I stop drinking caffeine?"}))
	require.Equal(t, http.StatusOK, st)
	var otherConv uuid.UUID
	noop := func(sseEvent) {}
	ev := waitEvent(t, theirs, 60*time.Second, noop, func(e sseEvent) bool { return e.Name == "message" && e.Data.Role == "user" })
	otherConv = ev.Data.ConversationID
	require.Equal(t, events.ChannelWhatsApp, ev.Data.Channel)
	r.wa.WaitSent(t, 1, 60*time.Second)

	// Mine: an inbound Telegram message, the bot's reply, its delivery, then a takeover.
	var myConv uuid.UUID
	notOthers := func(e sseEvent) {
		require.NotEqual(t, otherConv, e.Data.ConversationID, "another creator's event on my stream: %+v", e)
	}
	r.postTG(t, ch, telegramtest.UpdatePayload(1, 555, 555, "When should I stop drinking caffeine?"))
	ev = waitEvent(t, mine, 60*time.Second, notOthers, func(e sseEvent) bool { return e.Name == "message" && e.Data.Role == "user" })
	myConv = ev.Data.ConversationID
	require.Equal(t, events.ChannelTelegram, ev.Data.Channel)
	require.Contains(t, ev.Data.Text, "caffeine")
	ev = waitEvent(t, mine, 60*time.Second, notOthers, func(e sseEvent) bool { return e.Name == "message" && e.Data.Role == "assistant" })
	require.Equal(t, myConv, ev.Data.ConversationID)
	reply := ev.Data.MessageID
	waitEvent(t, mine, 60*time.Second, notOthers, func(e sseEvent) bool {
		return e.Name == "message_status" && e.Data.MessageID == reply && e.Data.Status == "sent"
	})
	r.do(t, "POST", "/api/v1/conversations/"+myConv.String()+"/takeover", nil)
	ev = waitEvent(t, mine, 20*time.Second, notOthers, func(e sseEvent) bool { return e.Name == "conversation" })
	require.Equal(t, myConv, ev.Data.ConversationID)
	require.Equal(t, "human", ev.Data.Status)
	r.do(t, "POST", "/api/v1/conversations/"+myConv.String()+"/release", nil)
	ev = waitEvent(t, mine, 20*time.Second, notOthers, func(e sseEvent) bool { return e.Name == "conversation" })
	require.Equal(t, "bot", ev.Data.Status)

	// The other creator's stream saw none of it.
	deadline := time.After(time.Second)
	for done := false; !done; {
		select {
		case e := <-theirs:
			require.NotEqual(t, myConv, e.Data.ConversationID, "my event on another creator's stream: %+v", e)
		case <-deadline:
			done = true
		}
	}
}

// publishSignal publishes a provider's opt-out / opt-in signal the way the webhook does: a
// MessageReceived of type events.SignalOptOut or SignalOptIn on the inbound stream.
func (r *channelRig) publishSignal(t *testing.T, channel string, ch uuid.UUID, typ, user, chat, key string) {
	t.Helper()
	ev := events.New(r.cr.ID, events.MessageReceived{Channel: channel, ChannelID: ch, ProviderMessageID: key,
		ExternalUserID: user, ChatID: chat, Type: typ}, nil, time.Now())
	b, err := json.Marshal(ev)
	require.NoError(t, err)
	require.NoError(t, r.a.Bus.Publish(context.Background(), events.InboundSubject(r.cr.ID, channel), ch.String()+":"+key, b, nil))
}

// TestChannelOptOutSignals: WhatsApp user_preferences (marketing stop / resume) and Telegram
// my_chat_member (kicked: the user blocked the bot; member: back) opt the end user out and in,
// silently; a signal for someone who never wrote creates nothing.
func TestChannelOptOutSignals(t *testing.T) {
	t.Parallel()
	r := newChannelRig(t, ollamatest.Options{DeltaDelay: time.Millisecond}, dispatch.Limits{})
	tg := r.addChannel(t, map[string]any{"type": "telegram", "bot_token": telegramtest.DefaultToken})
	wa := r.whatsapp(t, false)
	r.postTG(t, tg, telegramtest.UpdatePayload(1, 555, 555, "When should I stop drinking caffeine?"))
	r.tg.WaitSent(t, 1, 60*time.Second)
	st, _ := r.postWA(t, wa, whatsapptest.TextMessagePayload(whatsapptest.DefaultPhoneNumberID,
		whatsapptest.Msg{From: "491700000001", Text: "When should I stop drinking caffeine?"}))
	require.Equal(t, http.StatusOK, st)
	r.wa.WaitSent(t, 1, 60*time.Second)
	optedOut := func(channel string) bool {
		cs := r.conversations(t, "?channel="+channel)
		require.Len(t, cs, 1)
		return cs[0].OptedOut
	}

	r.publishSignal(t, events.ChannelTelegram, tg.ID, events.SignalOptOut, "555", "555", "member:2")
	testenv.Eventually(t, 20*time.Second, func() bool { return optedOut(events.ChannelTelegram) }, "telegram: kicked opts out")
	r.publishSignal(t, events.ChannelTelegram, tg.ID, events.SignalOptIn, "555", "555", "member:3")
	testenv.Eventually(t, 20*time.Second, func() bool { return !optedOut(events.ChannelTelegram) }, "telegram: member opts back in")

	r.publishSignal(t, events.ChannelWhatsApp, wa.ID, events.SignalOptOut, "491700000001", "", "pref:491700000001:1:stop")
	testenv.Eventually(t, 20*time.Second, func() bool { return optedOut(events.ChannelWhatsApp) }, "whatsapp: marketing stop opts out")
	r.publishSignal(t, events.ChannelWhatsApp, wa.ID, events.SignalOptIn, "491700000001", "", "pref:491700000001:2:resume")
	testenv.Eventually(t, 20*time.Second, func() bool { return !optedOut(events.ChannelWhatsApp) }, "whatsapp: resume opts back in")

	// Unknown users: nothing is created; no signal is ever answered.
	r.publishSignal(t, events.ChannelTelegram, tg.ID, events.SignalOptOut, "999", "999", "member:4")
	r.publishSignal(t, events.ChannelWhatsApp, wa.ID, events.SignalOptOut, "491799999999", "", "pref:491799999999:1:stop")
	quiet(t, 2*time.Second, 2, func() int { return len(r.conversations(t, "")) }, "no conversation for unknown users")
	require.Len(t, r.tg.Sent(), 1)
	require.Len(t, r.wa.Sent(), 1)
	require.False(t, optedOut(events.ChannelTelegram))
}

// TestWhatsAppChannel: handshake, signatures (missing, tampered, non-ASCII escaped as Meta
// does), one reply per message, statuses, a 250-message batch, and the 24-hour window.
func TestWhatsAppChannel(t *testing.T) {
	t.Parallel()
	r := newChannelRig(t, ollamatest.Options{DeltaDelay: time.Millisecond}, dispatch.Limits{WhatsAppPairEvery: 100 * time.Millisecond, WhatsAppPairBurst: 10})
	ch := r.whatsapp(t, false)
	require.Equal(t, r.a.URL+"/webhooks/whatsapp/"+ch.ID.String(), ch.WebhookURL)

	// Handshake.
	resp, err := http.Get(ch.WebhookURL + "?hub.mode=subscribe&hub.verify_token=verify-me-123&hub.challenge=12345")
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "12345", string(b))
	resp, err = http.Get(ch.WebhookURL + "?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=12345")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusForbidden, resp.StatusCode)

	// Unsigned and tampered bodies: refused, nothing published.
	payload := whatsapptest.EscapeNonASCII(whatsapptest.TextMessagePayload(whatsapptest.DefaultPhoneNumberID,
		whatsapptest.Msg{From: "491700000001", Name: "Jürgen 😴", Text: "Wann sollte ich mit Koffein aufhören? caffeine ☕"}))
	st, _ := post(t, ch.WebhookURL, payload)
	require.Equal(t, http.StatusUnauthorized, st)
	body, sig := whatsapptest.SignedRequest(waAppSecret, payload)
	tampered := bytes.Replace(body, []byte("Koffein"), []byte("Koffeim"), 1)
	st, _ = post(t, ch.WebhookURL, tampered, "X-Hub-Signature-256", sig)
	require.Equal(t, http.StatusForbidden, st)
	st, _ = post(t, ch.WebhookURL, bytes.Repeat([]byte(" "), 4<<20), "X-Hub-Signature-256", sig)
	require.Equal(t, http.StatusRequestEntityTooLarge, st)
	quiet(t, time.Second, 0, func() int { return len(r.conversations(t, "")) }, "nothing recorded for forged bodies")

	// Genuine (non-ASCII, escaped) and delivered five times concurrently: one reply.
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, body := post(t, ch.WebhookURL, body, "X-Hub-Signature-256", sig)
			require.Equal(t, http.StatusOK, st, body)
		}()
	}
	wg.Wait()
	sent := r.wa.WaitSent(t, 1, 60*time.Second)
	require.Equal(t, "491700000001", sent[0].To)
	require.Equal(t, "text", sent[0].Type)
	quiet(t, 1500*time.Millisecond, 1, func() int { return len(r.wa.Sent()) }, "exactly one reply")
	require.NotEmpty(t, r.wa.Typing(), "typing indicator on the inbound wamid")
	convs := r.conversations(t, "?channel=whatsapp")
	require.Len(t, convs, 1)
	conv := convs[0].ID
	msgs := r.messages(t, conv)
	require.Len(t, msgs, 2)
	require.Contains(t, msgs[0].Text, "Koffein aufhören? caffeine ☕")

	// Statuses move the reply forward (sent → delivered → read), never back.
	wamid := sent[0].WAMID
	st, _ = r.postWA(t, ch, whatsapptest.StatusPayload(whatsapptest.DefaultPhoneNumberID,
		whatsapptest.St{WAMID: wamid, Status: "read", RecipientID: "491700000001"},
		whatsapptest.St{WAMID: wamid, Status: "delivered", RecipientID: "491700000001"}))
	require.Equal(t, http.StatusOK, st)
	testenv.Eventually(t, 20*time.Second, func() bool { return r.messages(t, conv)[1].Status == "read" }, "reply read")

	// The window: 25 hours later the creator's message goes out as the configured template;
	// without a template it is recorded as window_closed.
	r.shift(t, 25*time.Hour)
	r.do(t, "POST", "/api/v1/conversations/"+conv.String()+"/messages", map[string]string{"text": "Checking in!"})
	testenv.Eventually(t, 20*time.Second, func() bool {
		ms := r.messages(t, conv)
		return ms[len(ms)-1].Status == "window_closed"
	}, "window_closed recorded")
	require.Len(t, r.wa.Sent(), 1, "nothing free-form sent outside the window")
	// The same number with a template (a second channel of the creator).
	ch2 := r.addChannel(t, map[string]any{"type": "whatsapp", "phone_number_id": "100000000000002",
		"access_token": whatsapptest.DefaultAccessToken, "app_secret": waAppSecret, "verify_token": "verify-two-xyz",
		"template": map[string]string{"name": "coach_reengage", "language": "en_US"}})
	r.shift(t, 0)
	st, _ = r.postWA(t, ch2, whatsapptest.TextMessagePayload("100000000000002", whatsapptest.Msg{From: "491700000002", Text: "caffeine?"}))
	require.Equal(t, http.StatusOK, st)
	r.wa.WaitSent(t, 2, 60*time.Second)
	conv2 := r.conversations(t, "?channel_id="+ch2.ID.String())[0].ID
	r.shift(t, 25*time.Hour)
	r.do(t, "POST", "/api/v1/conversations/"+conv2.String()+"/messages", map[string]string{"text": "Checking in!"})
	got := r.wa.WaitSent(t, 3, 20*time.Second)
	require.Equal(t, "template", got[2].Type)
	require.Equal(t, "coach_reengage", got[2].Template)
	r.shift(t, 0)

	// A 250-message batch in one signed POST (25 from each of 10 people): answered at once, every
	// message recorded once. Intake speed is BenchmarkWebhookIntake's.
	var batch []whatsapptest.Msg
	for i := range 250 {
		batch = append(batch, whatsapptest.Msg{From: fmt.Sprintf("4917100000%02d", i%10), Text: fmt.Sprintf("question %d about sleep", i)})
	}
	start := time.Now()
	st, out := r.postWA(t, ch, whatsapptest.BatchPayload(whatsapptest.DefaultPhoneNumberID, 100, batch...))
	require.Equal(t, http.StatusOK, st, out)
	t.Logf("250-message batch answered in %s", time.Since(start))
	testenv.Eventually(t, 120*time.Second, func() bool {
		n := 0
		for _, c := range r.conversations(t, "?channel_id="+ch.ID.String()) {
			for _, m := range r.messages(t, c.ID) {
				if m.Role == "user" && strings.HasPrefix(m.Text, "question ") {
					n++
				}
			}
		}
		return n == 250
	}, "250 inbound messages recorded")
}

// BenchmarkWebhookIntake measures one gateway (target gateway only: the workers do not compete
// for the CPU) taking signed WhatsApp batches of 100 messages and single Telegram updates from
// 16 concurrent senders: requests/s, messages/s and p99 latency.
func BenchmarkWebhookIntake(b *testing.B) {
	hr := newHarness(b, ollamatest.Options{})
	wa, tg := whatsapptest.New(b), telegramtest.New(b)
	cfg := hr.config(config.TargetGateway)
	cfg.WhatsAppAPIURL, cfg.TelegramAPIURL = wa.URL, tg.URL
	a := hr.start(cfg)
	c := testenv.NewClient(a.URL)
	cr := c.Register(b)
	r := &channelRig{a: a, c: c, cr: cr, wa: wa, tg: tg}
	for _, kind := range []string{"whatsapp-batch100", "telegram-update"} {
		b.Run(kind, func(b *testing.B) {
			var ch channelResp
			if kind == "telegram-update" {
				ch = r.addChannel(b, map[string]any{"type": "telegram", "bot_token": telegramtest.DefaultToken})
			} else {
				ch = r.addChannel(b, map[string]any{"type": "whatsapp", "phone_number_id": whatsapptest.DefaultPhoneNumberID,
					"access_token": whatsapptest.DefaultAccessToken, "app_secret": waAppSecret, "verify_token": "verify-me-123"})
			}
			_, secret := tg.LastWebhook()
			hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			var seq atomic.Int64
			var mu sync.Mutex
			var lat []time.Duration
			perReq := 1
			b.SetParallelism(8) // 16 senders on 2 cores
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				var mine []time.Duration
				for pb.Next() {
					n := seq.Add(1)
					var body []byte
					var hdr [2]string
					if kind == "telegram-update" {
						body = telegramtest.UpdatePayload(n, 1000+n%5000, 1000+n%5000, "how do I sleep better?")
						hdr = [2]string{"X-Telegram-Bot-Api-Secret-Token", secret}
					} else {
						perReq = 100
						msgs := make([]whatsapptest.Msg, 100)
						for i := range msgs {
							msgs[i] = whatsapptest.Msg{From: fmt.Sprintf("49170%07d", (n*100+int64(i))%9999999), Text: "how do I sleep better? ☕"}
						}
						var sig string
						body, sig = whatsapptest.SignedRequest(waAppSecret, whatsapptest.EscapeNonASCII(whatsapptest.BatchPayload(whatsapptest.DefaultPhoneNumberID, 25, msgs...)))
						hdr = [2]string{"X-Hub-Signature-256", sig}
					}
					t0 := time.Now()
					req, _ := http.NewRequest("POST", ch.WebhookURL, bytes.NewReader(body))
					req.Header.Set(hdr[0], hdr[1])
					resp, err := hc.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
					mine = append(mine, time.Since(t0))
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			})
			el := time.Since(start)
			b.StopTimer()
			slices.Sort(lat)
			if len(lat) > 0 {
				b.ReportMetric(float64(len(lat))/el.Seconds(), "req/s")
				b.ReportMetric(float64(len(lat)*perReq)/el.Seconds(), "msgs/s")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			}
		})
	}
}

// BenchmarkDispatchBurst stores 10,000 replies to 10,000 WhatsApp users and publishes them at
// once; dispatch must deliver all of them at, not above, the number's limit (here the upgraded
// tier of 1000/s, so the run takes about 10 s; the default 80/s is the same code path). The
// double enforces the limit and measures the highest rate in any sliding second.
func BenchmarkDispatchBurst(b *testing.B) {
	const n, limit = 10000, 1000
	hr := newHarness(b, ollamatest.Options{})
	wa, tg := whatsapptest.New(b), telegramtest.New(b)
	wa.EnforceRate(limit)
	cfg := hr.config()
	cfg.WhatsAppAPIURL, cfg.TelegramAPIURL = wa.URL, tg.URL
	cfg.WorkerParallel = 16
	ctx := context.Background()
	a, err := app.Start(ctx, cfg, app.Options{Log: testenv.Logger(b), DispatchLimits: dispatch.Limits{WhatsAppPerNumber: limit}})
	require.NoError(b, err)
	b.Cleanup(a.Stop)
	c := testenv.NewClient(a.URL)
	cr := c.Register(b)
	r := &channelRig{a: a, c: c, cr: cr, wa: wa, tg: tg}
	ch := r.addChannel(b, map[string]any{"type": "whatsapp", "phone_number_id": whatsapptest.DefaultPhoneNumberID,
		"access_token": whatsapptest.DefaultAccessToken, "app_secret": waAppSecret, "verify_token": "verify-me-123"})
	for range b.N {
		wa.Reset()
		wa.EnforceRate(limit)
		outs := seedOutbound(b, a, cr.ID, ch.ID, n)
		b.ResetTimer()
		start := time.Now()
		for _, m := range outs {
			if _, err := a.Bus.JetStream().PublishMsgAsync(m); err != nil {
				b.Fatal(err)
			}
		}
		<-a.Bus.JetStream().PublishAsyncComplete()
		wa.WaitSent(b, n, 5*time.Minute)
		el := time.Since(start)
		b.StopTimer()
		total, rejected := wa.Requests()
		b.ReportMetric(float64(n)/el.Seconds(), "sent/s")
		b.ReportMetric(float64(wa.MaxRatePerSecond()), "max-per-s")
		b.ReportMetric(float64(rejected), "rejected")
		b.Logf("%d messages in %s (%d requests, %d rejected); max %d/s in any second at the double (limit %d)", n, el, total, rejected, wa.MaxRatePerSecond(), limit)
		if wa.MaxRatePerSecond() > limit {
			b.Fatalf("dispatch exceeded the provider limit: %d/s > %d/s", wa.MaxRatePerSecond(), limit)
		}
	}
}

// seedOutbound stores n assistant messages to n WhatsApp users of channel (their window open)
// and returns the outbound events that hand them to dispatch.
func seedOutbound(tb testing.TB, a *app.App, creator, channel uuid.UUID, n int) []*nats.Msg {
	tb.Helper()
	ctx := context.Background()
	now := time.Now()
	outs := make([]*nats.Msg, 0, n)
	err := a.Store.InTenant(ctx, creator, func(q *db.Queries) error {
		for i := range n {
			wa := fmt.Sprintf("4915%08d", i)
			eu, err := q.UpsertChannelEndUser(ctx, db.UpsertChannelEndUserParams{ID: uuid.New(), CreatorID: creator, Channel: "whatsapp",
				ExternalID: channel.String() + ":" + wa + ":" + uuid.NewString()[:8], ChannelID: uuid.NullUUID{UUID: channel, Valid: true},
				ProviderUserID: wa, ChatID: wa, InboundAt: &now})
			if err != nil {
				return err
			}
			conv, err := q.UpsertChannelConversation(ctx, db.UpsertChannelConversationParams{ID: uuid.New(), CreatorID: creator, EndUserID: eu.ID,
				Channel: "whatsapp", ChannelID: uuid.NullUUID{UUID: channel, Valid: true}})
			if err != nil {
				return err
			}
			m, err := q.InsertMessage(ctx, db.InsertMessageParams{ID: uuid.New(), CreatorID: creator, ConversationID: conv.ID, Role: "assistant",
				Body: "Keep a regular bedtime, and stop caffeine eight hours before sleep.", Sources: []byte("[]"), Channel: "whatsapp", Status: "generated"})
			if err != nil {
				return err
			}
			ev := events.New(creator, events.MessageOutbound{MessageID: m.ID, ConversationID: conv.ID, EndUserID: eu.ID, Channel: "whatsapp"}, nil, now)
			b, _ := json.Marshal(ev)
			nm := &nats.Msg{Subject: events.OutboundSubject(creator, "whatsapp"), Data: b, Header: nats.Header{}}
			nm.Header.Set(nats.MsgIdHdr, "out:"+m.ID.String())
			outs = append(outs, nm)
		}
		return nil
	})
	require.NoError(tb, err)
	return outs
}
