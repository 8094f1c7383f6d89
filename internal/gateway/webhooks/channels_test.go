package webhooks_test

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/channels/telegramtest"
	"github.com/coachwire/coachwire/internal/channels/whatsapptest"
	"github.com/coachwire/coachwire/internal/testenv"
)

type channelResp struct {
	ID            uuid.UUID `json:"id"`
	BotUsername   string    `json:"bot_username"`
	GroupsEnabled *bool     `json:"groups_enabled"`
}

// addChannel connects a channel through the creator API.
func (g *gw) addChannel(t *testing.T, cr testenv.Creator, body map[string]any) channelResp {
	t.Helper()
	var ch channelResp
	st, raw, err := g.c.Do(context.Background(), "POST", "/api/v1/channels", cr.AccessToken, body, &ch)
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, st, string(raw))
	return ch
}

const waAppSecret = "wa-app-secret-ü"

// whatsApp connects a WhatsApp number of its own.
func (g *gw) whatsApp(t *testing.T, cr testenv.Creator) (channelResp, string) {
	t.Helper()
	pn := "PN-" + uuid.NewString()[:8]
	return g.addChannel(t, cr, map[string]any{"type": "whatsapp", "phone_number_id": pn,
		"access_token": whatsapptest.DefaultAccessToken, "app_secret": waAppSecret, "verify_token": "verify-me-123"}), pn
}

// postTG posts a Telegram update to ch's webhook with the secret the gateway registered.
func (g *gw) postTG(t *testing.T, ch channelResp, payload []byte) {
	t.Helper()
	_, secret := g.tg.LastWebhook()
	st, body := g.post(t, "/webhooks/telegram/"+ch.ID.String(), payload, "X-Telegram-Bot-Api-Secret-Token", secret)
	require.Equal(t, http.StatusOK, st, body)
}

// postWA posts a signed WhatsApp webhook to ch.
func (g *gw) postWA(t *testing.T, ch channelResp, payload []byte) {
	t.Helper()
	body, sig := whatsapptest.SignedRequest(waAppSecret, payload)
	st, out := g.post(t, "/webhooks/whatsapp/"+ch.ID.String(), body, "X-Hub-Signature-256", sig)
	require.Equal(t, http.StatusOK, st, out)
}

// TestTelegramGroups (issue 9, defect 11): by default group and supergroup messages (even
// mentions) and channel posts are answered 200 and not queued; once the creator enables groups
// for the channel a group message is queued only when it mentions the bot (@username learnt with
// getMe; the mention removed) or replies to it. Private chats are queued throughout. A WhatsApp
// channel has no groups setting.
func TestTelegramGroups(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	cr := g.c.Register(t)
	ch := g.addChannel(t, cr, map[string]any{"type": "telegram", "bot_token": telegramtest.DefaultToken})
	st, raw, err := g.c.Do(context.Background(), "GET", "/api/v1/channels", cr.AccessToken, nil, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, st)
	require.Contains(t, string(raw), `"bot_username":"test_coach_bot"`)
	require.Contains(t, string(raw), `"groups_enabled":false`)
	const bot = "test_coach_bot"
	botID, err := strconv.ParseInt(strings.SplitN(telegramtest.DefaultToken, ":", 2)[0], 10, 64)
	require.NoError(t, err)
	const group = -100500
	sub := g.inbound(t, cr.ID, events.ChannelTelegram)
	private := func(update int64) {
		t.Helper()
		g.postTG(t, ch, telegramtest.UpdatePayload(update, 555, 555, "When should I stop caffeine?"))
		m, _ := next(t, sub)
		require.Equal(t, "555", m.ChatID, "%+v", m)
		require.Equal(t, "When should I stop caffeine?", m.Text)
		require.Equal(t, ch.ID, m.ChannelID)
	}

	// Groups off: a mention in a group, a plain group message and a channel post are not
	// queued; the private message after them is the next event.
	g.postTG(t, ch, telegramtest.GroupUpdatePayload(2001, group, "supergroup", 42, "When should I stop caffeine?", bot, 0))
	g.postTG(t, ch, telegramtest.GroupUpdatePayload(2002, group, "group", 43, "Hello everyone", "", 0))
	g.postTG(t, ch, telegramtest.ChannelPostPayload(2003, -100900, "Channel news"))
	private(2004)

	// Groups on: only a mention or a reply to the bot is queued, to be answered in the group.
	var got channelResp
	st, raw, err = g.c.Do(context.Background(), "PATCH", "/api/v1/channels/"+ch.ID.String(), cr.AccessToken,
		map[string]any{"groups_enabled": true}, &got)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, st, string(raw))
	require.True(t, *got.GroupsEnabled)
	require.Equal(t, bot, got.BotUsername)
	g.postTG(t, ch, telegramtest.GroupUpdatePayload(2005, group, "supergroup", 43, "Anyone up for a run?", "", 0))
	g.postTG(t, ch, telegramtest.GroupUpdatePayload(2006, group, "supergroup", 42, "When should I stop caffeine?", bot, 0))
	g.postTG(t, ch, telegramtest.GroupUpdatePayload(2007, group, "supergroup", 42, "And what about tea?", "", botID))
	g.postTG(t, ch, telegramtest.ChannelPostPayload(2008, -100900, "More channel news"))
	for _, want := range []string{"When should I stop caffeine?", "And what about tea?"} {
		m, _ := next(t, sub)
		require.Equal(t, strconv.Itoa(group), m.ChatID, "%+v", m)
		require.Equal(t, "42", m.ExternalUserID)
		require.Equal(t, want, strings.TrimSpace(m.Text), "the mention is removed")
	}
	private(2009)

	// A WhatsApp channel has no groups setting.
	wa, _ := g.whatsApp(t, cr)
	st, _, err = g.c.Do(context.Background(), "PATCH", "/api/v1/channels/"+wa.ID.String(), cr.AccessToken, map[string]any{"groups_enabled": true}, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusBadRequest, st)
}

// TestChannelOptOutWebhooks: the provider's own signals arrive by webhook and are queued as
// signal events of the person, under their own deduplication ids: Telegram my_chat_member
// (kicked: opt-out, member: opt-in) and WhatsApp user_preferences (marketing stop / resume).
// What retrieve does with them is internal/retrieve's TestChannelOptWords.
func TestChannelOptOutWebhooks(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	cr := g.c.Register(t)
	tg := g.addChannel(t, cr, map[string]any{"type": "telegram", "bot_token": telegramtest.DefaultToken})
	wa, pn := g.whatsApp(t, cr)
	tgSub := g.inbound(t, cr.ID, events.ChannelTelegram)
	waSub := g.inbound(t, cr.ID, events.ChannelWhatsApp)

	g.postTG(t, tg, telegramtest.UpdatePayload(1, 555, 555, "When should I stop drinking caffeine?"))
	m, _ := next(t, tgSub)
	require.Equal(t, "text", m.Type)
	g.postTG(t, tg, telegramtest.BlockedUpdatePayload(2, 555, 555))
	back := bytes.Replace(telegramtest.BlockedUpdatePayload(3, 555, 555), []byte(`"status":"kicked"`), []byte(`"status":"member"`), 1)
	g.postTG(t, tg, back)
	for _, want := range []string{events.SignalOptOut, events.SignalOptIn} {
		m, id := next(t, tgSub)
		require.Equal(t, want, m.Type, "%+v", m)
		require.Equal(t, "555", m.ExternalUserID)
		require.Equal(t, "555", m.ChatID)
		require.Equal(t, tg.ID, m.ChannelID)
		require.True(t, strings.HasPrefix(id, tg.ID.String()+":"), "dedup id %q", id)
	}

	g.postWA(t, wa, whatsapptest.TextMessagePayload(pn, whatsapptest.Msg{From: "491700000001", Text: "When should I stop drinking caffeine?"}))
	m, _ = next(t, waSub)
	require.Equal(t, "When should I stop drinking caffeine?", m.Text)
	pref := func(value string, at int64) []byte {
		return whatsapptest.Payload(whatsapptest.Entry{Changes: []whatsapptest.Change{{"field": "user_preferences", "value": map[string]any{
			"messaging_product": "whatsapp", "metadata": map[string]any{"display_phone_number": "15550000000", "phone_number_id": pn},
			"contacts":         []map[string]any{{"wa_id": "491700000001", "profile": map[string]any{"name": "x"}}},
			"user_preferences": []map[string]any{{"wa_id": "491700000001", "detail": "d", "category": "marketing_messages", "value": value, "timestamp": at}},
		}}}})
	}
	g.postWA(t, wa, pref("stop", 1700000000))
	g.postWA(t, wa, pref("resume", 1700000100))
	for _, want := range []struct{ typ, id string }{{events.SignalOptOut, "pref:491700000001:1700000000:stop"}, {events.SignalOptIn, "pref:491700000001:1700000100:resume"}} {
		m, id := next(t, waSub)
		require.Equal(t, want.typ, m.Type, "%+v", m)
		require.Equal(t, "491700000001", m.ExternalUserID)
		require.Equal(t, wa.ID, m.ChannelID)
		require.Equal(t, wa.ID.String()+":"+want.id, id)
	}
}
