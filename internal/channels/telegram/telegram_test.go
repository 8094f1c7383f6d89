package telegram_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/coachwire/coachwire/internal/channels"
	"github.com/coachwire/coachwire/internal/channels/telegram"
	"github.com/coachwire/coachwire/internal/channels/telegramtest"
)

func TestSecret(t *testing.T) {
	s := telegram.GenerateSecret()
	if !telegram.ValidSecret(s) || s == telegram.GenerateSecret() {
		t.Fatalf("secret %q", s)
	}
	if !telegram.VerifySecret(s, s) || telegram.VerifySecret(s[:10], s) || telegram.VerifySecret("", s) || telegram.VerifySecret("", "") {
		t.Fatal("VerifySecret")
	}
	for _, bad := range []string{"", "a b", "ü", strings.Repeat("a", 257)} {
		if telegram.ValidSecret(bad) {
			t.Errorf("%q valid", bad)
		}
	}
}

func TestParseUpdate(t *testing.T) {
	u, err := telegram.ParseUpdate(telegramtest.UpdatePayload(42, 1001, 2002, "Hallo 😀"))
	if err != nil {
		t.Fatal(err)
	}
	in, ok := u.Inbound()
	if !ok || u.UpdateID != 42 || in.ProviderMessageID != "1001:42" || in.ExternalUserID != "2002" || in.ChatID != "1001" ||
		in.Text != "Hallo 😀" || in.Type != channels.TypeText || in.DisplayName != "Test User" || in.Language != "en" || in.Timestamp.IsZero() {
		t.Fatalf("inbound %+v ok=%v", in, ok)
	}
	u, _ = telegram.ParseUpdate(telegramtest.EditedUpdatePayload(43, 1001, 2002, "edit"))
	if _, ok := u.Inbound(); ok || !u.Edited || u.Message == nil || u.Kind != telegram.KindEditedMessage {
		t.Fatalf("edited: %+v", u)
	}
	u, _ = telegram.ParseUpdate(telegramtest.MediaUpdatePayload(44, 1001, 2002, "photo", "see"))
	if in, ok := u.Inbound(); !ok || in.Type != channels.TypeImage || in.Text != "see" || !u.Message.HasMedia {
		t.Fatalf("photo: %+v", in)
	}
	u, _ = telegram.ParseUpdate(telegramtest.MediaUpdatePayload(45, 1001, 2002, "voice", ""))
	if in, _ := u.Inbound(); in.Type != channels.TypeAudio {
		t.Fatalf("voice: %+v", in)
	}
	u, _ = telegram.ParseUpdate(telegramtest.BlockedUpdatePayload(46, 1001, 2002))
	if _, ok := u.Inbound(); ok || u.Kind != telegram.KindMyChatMember || u.ChatMember.NewStatus != "kicked" || u.ChatMember.ChatID != 1001 {
		t.Fatalf("blocked: %+v", u)
	}
	u, err = telegram.ParseUpdate([]byte(`{"update_id":47,"callback_query":{"id":"1"}}`))
	if _, ok := u.Inbound(); err != nil || ok || u.Kind != telegram.KindCallbackQuery {
		t.Fatalf("callback: %+v %v", u, err)
	}
	for _, bad := range []string{``, `{`, `{}`, `{"update_id":"x"}`, `{"update_id":1,"message":[]}`} {
		if _, err := telegram.ParseUpdate([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestClientCalls(t *testing.T) {
	srv := telegramtest.New(t)
	c := srv.Client()
	ctx := context.Background()
	id, err := c.SendMessage(ctx, 1001, "hello 😀")
	if err != nil || id != 1 {
		t.Fatalf("SendMessage %d %v", id, err)
	}
	if err := c.SendChatAction(ctx, 1001, "typing"); err != nil {
		t.Fatal(err)
	}
	if err := c.SendMessageDraft(ctx, 1001, 7, "hel"); err != nil {
		t.Fatal(err)
	}
	secret := telegram.GenerateSecret()
	if err := c.SetWebhook(ctx, "https://coach.example/tg/abc", secret, []string{"message", "my_chat_member"}, 40); err != nil {
		t.Fatal(err)
	}
	if u, s := srv.LastWebhook(); u != "https://coach.example/tg/abc" || s != secret {
		t.Fatalf("webhook %q %q", u, s)
	}
	if a, n := srv.WebhookOptions(); len(a) != 2 || n != 40 {
		t.Fatalf("options %v %d", a, n)
	}
	if me, err := c.GetMe(ctx); err != nil || me.ID != 123456789 {
		t.Fatalf("getMe %+v %v", me, err)
	}
	if err := c.DeleteWebhook(ctx); err != nil {
		t.Fatal(err)
	}
	if u, _ := srv.LastWebhook(); u != "" {
		t.Fatal("webhook not deleted")
	}
	if s := srv.Sent(); len(s) != 1 || s[0].Text != "hello 😀" || s[0].ChatID != 1001 {
		t.Fatalf("sent %+v", s)
	}
	if a := srv.Actions(); len(a) != 1 || a[0].Action != "typing" {
		t.Fatalf("actions %+v", a)
	}
	if d := srv.Drafts(); len(d) != 1 || d[0].DraftID != 7 {
		t.Fatalf("drafts %+v", d)
	}
}

func wantClass(t *testing.T, err error, class channels.Class, code int, retry time.Duration) {
	t.Helper()
	var e *channels.Error
	if !errors.As(err, &e) || e.Class != class || e.Code != code || e.RetryAfter != retry || e.Provider != "telegram" {
		t.Fatalf("got %+v (%v), want %v %d %v", e, err, class, code, retry)
	}
}

func TestClientErrorClasses(t *testing.T) {
	srv := telegramtest.New(t)
	c := srv.Client()
	ctx := context.Background()

	srv.FailNext(1, 429, "", 5)
	_, err := c.SendMessage(ctx, 1, "x")
	wantClass(t, err, channels.RateLimited, 429, 5*time.Second)

	srv.FailNext(1, 502, "", 0)
	_, err = c.SendMessage(ctx, 1, "x")
	wantClass(t, err, channels.Retryable, 502, 0)

	srv.FailNext(1, 400, "Bad Request: chat not found", 0)
	_, err = c.SendMessage(ctx, 1, "x")
	wantClass(t, err, channels.Permanent, 400, 0)

	srv.FailNext(1, 403, "Forbidden: user is deactivated", 0)
	_, err = c.SendMessage(ctx, 1, "x")
	wantClass(t, err, channels.RecipientGone, 403, 0)

	srv.Block(9)
	_, err = c.SendMessage(ctx, 9, "x")
	wantClass(t, err, channels.RecipientGone, 403, 0)
	wantClass(t, c.SendChatAction(ctx, 9, "typing"), channels.RecipientGone, 403, 0)
	if _, err := c.SendMessage(ctx, 10, "other chat fine"); err != nil {
		t.Fatal(err)
	}

	srv.FailNext(1, 403, "Forbidden: bot is not a member of the channel chat", 0)
	_, err = c.SendMessage(ctx, 1, "x")
	wantClass(t, err, channels.Permanent, 403, 0)

	_, err = c.SendMessage(ctx, 1, strings.Repeat("a", 4097))
	wantClass(t, err, channels.Permanent, 400, 0)
	_, err = c.SendMessage(ctx, 1, "  ")
	wantClass(t, err, channels.Permanent, 400, 0)
	wantClass(t, c.SendChatAction(ctx, 1, "dancing"), channels.Permanent, 400, 0)
	wantClass(t, c.SendMessageDraft(ctx, -100, 1, "group"), channels.Permanent, 400, 0)
	wantClass(t, c.SetWebhook(ctx, "https://x.example/h", "bad secret!", nil, 0), channels.Permanent, 400, 0)
	wantClass(t, c.SetWebhook(ctx, "https://x.example/h", "ok", nil, 101), channels.Permanent, 400, 0)

	bad := telegram.NewClient("999:wrong", srv.URL, nil)
	_, err = bad.SendMessage(ctx, 1, "x")
	wantClass(t, err, channels.Permanent, 401, 0)
	if strings.Contains(err.Error(), "999:wrong") {
		t.Fatal("token in error")
	}
}

func TestClientTransportErrorHidesToken(t *testing.T) {
	srv := telegramtest.New(t)
	c := srv.Client()
	srv.Close()
	_, err := c.SendMessage(context.Background(), 1, "x")
	if channels.ClassOf(err) != channels.Retryable || strings.Contains(err.Error(), srv.Token()) {
		t.Fatalf("transport: %v", err)
	}
	var e *channels.Error
	if errors.As(err, &e) && e.Err != nil && strings.Contains(e.Err.Error(), srv.Token()) {
		t.Fatalf("token in wrapped error: %v", e.Err)
	}
}

func TestRateMeasurementAndLimits(t *testing.T) {
	srv := telegramtest.New(t)
	c := srv.Client()
	ctx := context.Background()
	for i := range 4 {
		if _, err := c.SendMessage(ctx, int64(100+i%2), "x"); err != nil {
			t.Fatal(err)
		}
	}
	if srv.MaxPerChatPerSecond() != 2 || srv.MaxPerSecond() != 4 {
		t.Fatalf("per chat %d overall %d", srv.MaxPerChatPerSecond(), srv.MaxPerSecond())
	}
	srv.Reset()
	srv.EnforceLimits(1, 30)
	if _, err := c.SendMessage(ctx, 5, "a"); err != nil {
		t.Fatal(err)
	}
	_, err := c.SendMessage(ctx, 5, "b")
	wantClass(t, err, channels.RateLimited, 429, time.Second)
	if srv.MaxPerChatPerSecond() != 1 {
		t.Fatal(srv.MaxPerChatPerSecond())
	}
}

func TestFormBodies(t *testing.T) {
	srv := telegramtest.New(t)
	resp, err := srv.Client().GetMe(context.Background())
	_ = resp
	if err != nil {
		t.Fatal(err)
	}
	r, err := srv.Server.Client().PostForm(srv.URL+"/bot"+srv.Token()+"/sendMessage", map[string][]string{"chat_id": {"77"}, "text": {"form body"}})
	if err != nil || r.StatusCode != 200 {
		t.Fatalf("form: %v %v", r, err)
	}
	r.Body.Close()
	if s := srv.SentTo(77); len(s) != 1 || s[0].Text != "form body" {
		t.Fatalf("sent %+v", s)
	}
}

func FuzzParseUpdate(f *testing.F) {
	f.Add(telegramtest.UpdatePayload(1, 2, 3, "hi"))
	f.Add(telegramtest.EditedUpdatePayload(1, 2, 3, "hi"))
	f.Add(telegramtest.MediaUpdatePayload(1, 2, 3, "photo", "c"))
	f.Add(telegramtest.BlockedUpdatePayload(1, 2, 3))
	f.Add([]byte(`{"update_id":1,"channel_post":{"message_id":1,"chat":{"id":-100,"type":"channel"},"date":0,"text":"x"}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		u, err := telegram.ParseUpdate(raw)
		if err != nil {
			return
		}
		if in, ok := u.Inbound(); ok && (in.ProviderMessageID == "" || in.Type == "" || u.Message == nil) {
			t.Fatalf("inbound %+v", in)
		}
	})
}

// TestRateLimitScopes: a 429 in a private chat is the bot's limit; in a group (negative chat
// id) it is that group's own (about 20 messages a minute).
func TestRateLimitScopes(t *testing.T) {
	srv := telegramtest.New(t)
	c := srv.Client()
	srv.FailNext(1, 429, "", 3)
	_, err := c.SendMessage(context.Background(), 42, "x")
	if s := channels.ScopeOf(err); s != channels.ScopeNumber {
		t.Fatalf("private chat 429: scope %v (%v)", s, err)
	}
	srv.FailNext(1, 429, "", 3)
	_, err = c.SendMessage(context.Background(), -100123, "x")
	if s := channels.ScopeOf(err); s != channels.ScopePair {
		t.Fatalf("group 429: scope %v (%v)", s, err)
	}
}

// TestGroupAddressing: a group message is for the bot only when it mentions the bot (entity
// offsets in UTF-16 units, after an emoji) or replies to the bot; channel posts are no inbound
// messages at all.
func TestGroupAddressing(t *testing.T) {
	const botID = 777
	parse := func(raw []byte) *telegram.Message {
		t.Helper()
		u, err := telegram.ParseUpdate(raw)
		if err != nil || u.Message == nil {
			t.Fatalf("parse: %v", err)
		}
		return u.Message
	}
	m := parse(telegramtest.GroupUpdatePayload(10, -100, "supergroup", 5, "how do I sleep?", "Test_Coach_Bot", 0))
	if !m.Group() || !m.Addressed(botID, "test_coach_bot") {
		t.Fatalf("mention not seen: %+v", m)
	}
	if got := telegram.WithoutMention("@Test_Coach_Bot how do I sleep? @test_coach_bot2", "@test_coach_bot"); got != "how do I sleep? @test_coach_bot2" {
		t.Fatalf("WithoutMention = %q", got)
	}
	if m := parse(telegramtest.GroupUpdatePayload(11, -100, "group", 5, "hello all", "", 0)); m.Addressed(botID, "test_coach_bot") {
		t.Fatal("a plain group message counted as addressed")
	}
	if m := parse(telegramtest.GroupUpdatePayload(12, -100, "group", 5, "hi", "other_bot", 0)); m.Addressed(botID, "test_coach_bot") {
		t.Fatal("another bot's mention counted")
	}
	if m := parse(telegramtest.GroupUpdatePayload(13, -100, "group", 5, "and then?", "", botID)); !m.Addressed(botID, "test_coach_bot") {
		t.Fatal("a reply to the bot not seen")
	}
	if m := parse(telegramtest.GroupUpdatePayload(16, -100, "group", 5, "/memory@Test_Coach_Bot", "", 0)); !m.Addressed(botID, "test_coach_bot") {
		t.Fatal("a command for the bot not seen")
	}
	if m := parse(telegramtest.GroupUpdatePayload(17, -100, "group", 5, "/memory@other_bot", "", 0)); m.Addressed(botID, "test_coach_bot") {
		t.Fatal("another bot's command counted")
	}
	// An emoji before the mention: offsets count UTF-16 units.
	raw := []byte(`{"update_id":14,"message":{"message_id":14,"from":{"id":5,"is_bot":false,"first_name":"A"},"chat":{"id":-100,"type":"group"},"date":1,"text":"😀 @test_coach_bot hi","entities":[{"type":"mention","offset":3,"length":15}]}}`)
	if m := parse(raw); !m.Addressed(botID, "test_coach_bot") {
		t.Fatalf("mention after an emoji not seen: %+v", m.Mentions)
	}
	u, err := telegram.ParseUpdate(telegramtest.ChannelPostPayload(15, -1001, "news"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := u.Inbound(); ok || u.Kind != telegram.KindChannelPost {
		t.Fatal("a channel post is an inbound message")
	}
}
