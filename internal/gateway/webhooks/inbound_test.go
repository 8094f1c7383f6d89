package webhooks

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/channels"
	"github.com/coachwire/coachwire/internal/channels/telegram"
	"github.com/coachwire/coachwire/internal/channels/whatsapp"
)

// TestWhatsAppEvents: a batch becomes one event per message, status and marketing preference of
// the channel's own number, each under its deduplication id; another number of the same app,
// other preference categories and values are not the channel's events.
func TestWhatsAppEvents(t *testing.T) {
	t.Parallel()
	ch := &hookChannel{ID: uuid.New(), CreatorID: uuid.New(), Type: events.ChannelWhatsApp,
		Config: channels.Config{PhoneNumberID: "111"}}
	at := time.Unix(1_700_000_000, 0)
	hook := &whatsapp.Webhook{
		Messages: []whatsapp.Message{
			{PhoneNumberID: "111", WAMID: "wamid.1", From: "491", Type: "text", Text: "hi", Timestamp: at},
			{PhoneNumberID: "222", WAMID: "wamid.2", From: "491", Type: "text", Text: "other number", Timestamp: at},
		},
		Statuses: []whatsapp.Status{
			{PhoneNumberID: "111", WAMID: "wamid.out", Status: "failed", Timestamp: at, Errors: []whatsapp.StatusError{{Code: 131047, Title: "Re-engagement", Message: "window closed"}}},
			{PhoneNumberID: "111", WAMID: "", Status: "read"},
		},
		Preferences: []whatsapp.Preference{
			{PhoneNumberID: "111", WaID: "491", Category: "marketing_messages", Value: "stop", Timestamp: at},
			{PhoneNumberID: "111", WaID: "491", Category: "marketing_messages", Value: "resume", Timestamp: at.Add(time.Second)},
			{PhoneNumberID: "111", WaID: "491", Category: "something_else", Value: "stop", Timestamp: at},
			{PhoneNumberID: "222", WaID: "491", Category: "marketing_messages", Value: "stop", Timestamp: at},
		},
	}
	msgs, err := whatsAppEvents(ch, hook, at)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range msgs {
		got = append(got, strings.TrimPrefix(m.MsgID, ch.ID.String()+":"))
	}
	want := []string{"wamid.1", "status:wamid.out:failed", "pref:491:1700000000:stop", "pref:491:1700000001:resume"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("events %q, want %q", got, want)
	}
	var types []string
	for _, i := range []int{2, 3} {
		ev, err := events.Decode[events.MessageReceived](msgs[i].Payload)
		if err != nil {
			t.Fatal(err)
		}
		types = append(types, ev.Data.Type)
	}
	if types[0] != events.SignalOptOut || types[1] != events.SignalOptIn {
		t.Fatalf("preference signals %q, want opt_out, opt_in", types)
	}
	st, err := events.Decode[events.DeliveryStatus](msgs[1].Payload)
	if err != nil {
		t.Fatal(err)
	}
	if st.Data.ErrorCode != "131047" || st.Data.Error != "Re-engagement: window closed" || msgs[1].Subject != events.DeliverySubject(ch.CreatorID) {
		t.Fatalf("status event %+v on %s", st.Data, msgs[1].Subject)
	}
}

// TestTelegramInbound: which updates become an inbound message: private messages; group
// messages only with groups on and the bot addressed (mention removed); a private chat's
// blocked / unblocked bot as opt-out / opt-in signals; nothing else.
func TestTelegramInbound(t *testing.T) {
	t.Parallel()
	at := time.Unix(1_700_000_000, 0)
	msg := func(chatType, text string, mentions ...string) *telegram.Update {
		return &telegram.Update{UpdateID: 7, Kind: telegram.KindMessage, Message: &telegram.Message{
			MessageID: 1, ChatID: 42, ChatType: chatType, FromID: 5, Date: at, Text: text, Mentions: mentions}}
	}
	member := func(chatType, status string) *telegram.Update {
		return &telegram.Update{UpdateID: 8, Kind: telegram.KindMyChatMember, ChatMember: &telegram.ChatMemberUpdate{
			ChatID: 42, ChatType: chatType, FromID: 5, NewStatus: status, Date: at}}
	}
	cases := []struct {
		name     string
		groups   bool
		u        *telegram.Update
		ok       bool
		text     string
		typ      string
		provider string
	}{
		{name: "private message", u: msg("private", "hello"), ok: true, text: "hello", typ: "text"},
		{name: "group, groups off", u: msg("group", "@coach_bot hi", "coach_bot"), ok: false},
		{name: "group, not addressed", groups: true, u: msg("group", "hi all"), ok: false},
		{name: "group, mentioned", groups: true, u: msg("supergroup", "@coach_bot hi", "coach_bot"), ok: true, text: "hi", typ: "text"},
		{name: "bot blocked", u: member("private", "kicked"), ok: true, typ: events.SignalOptOut, provider: "member:8"},
		{name: "bot unblocked", u: member("private", "member"), ok: true, typ: events.SignalOptIn, provider: "member:8"},
		{name: "bot left a group", u: member("group", "kicked"), ok: false},
		{name: "channel post", u: &telegram.Update{UpdateID: 9, Kind: telegram.KindChannelPost}, ok: false},
	}
	for _, c := range cases {
		ch := &hookChannel{ID: uuid.New(), Type: events.ChannelTelegram,
			Config: channels.Config{GroupsEnabled: c.groups, BotID: 99, BotUsername: "coach_bot"}}
		in, ok := telegramInbound(ch, c.u, slog.New(slog.DiscardHandler))
		if ok != c.ok {
			t.Errorf("%s: ok %v, want %v", c.name, ok, c.ok)
			continue
		}
		if !ok {
			continue
		}
		if strings.TrimSpace(in.Text) != c.text || in.Type != c.typ || (c.provider != "" && in.ProviderMessageID != c.provider) {
			t.Errorf("%s: %+v, want text %q type %q provider id %q", c.name, in, c.text, c.typ, c.provider)
		}
	}
}
