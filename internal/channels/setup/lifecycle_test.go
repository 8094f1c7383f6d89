package setup

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/channels"
	"github.com/coachwire/coachwire/internal/channels/telegramtest"
	"github.com/coachwire/coachwire/internal/channels/whatsapptest"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/secrets"
	"github.com/coachwire/coachwire/internal/testenv"
)

const publicURL = "https://coach.example"

func keyring(t *testing.T) *secrets.Keyring {
	t.Helper()
	spec, err := secrets.GenerateSpec("k1")
	require.NoError(t, err)
	k, err := secrets.Parse(spec)
	require.NoError(t, err)
	return k
}

// newCreator makes a creator: its own tenant.
func newCreator(t *testing.T, s *db.Store) uuid.UUID {
	t.Helper()
	ctx := context.Background()
	creator := uuid.New()
	require.NoError(t, s.InTenant(ctx, creator, func(q *db.Queries) error {
		_, err := q.InsertCreator(ctx, db.InsertCreatorParams{ID: creator, Name: "Coach", Email: creator.String() + "@example.com",
			WidgetKey: "wk_" + creator.String(), WidgetSecret: "s", AllowedOrigins: []string{}})
		return err
	}))
	return creator
}

func listChannels(t *testing.T, s *db.Store, creator uuid.UUID) []db.Channel {
	t.Helper()
	ctx := context.Background()
	var chs []db.Channel
	require.NoError(t, s.InTenant(ctx, creator, func(q *db.Queries) (err error) {
		chs, err = q.ListChannels(ctx)
		return err
	}))
	return chs
}

// failing is a transport that fails every call to a Bot API method ending in method (a
// network error: no answer at all) and passes the others to the loopback Bot API.
type failing struct{ method string }

func (f failing) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/"+f.method) {
		return nil, errors.New("connection reset by peer")
	}
	return http.DefaultTransport.RoundTrip(r)
}

// TestConnectTelegramRefusals: a Bot API call Telegram refuses for good (bad token, bad webhook
// URL) is Invalid telegram_rejected; one it did not answer is Unavailable telegram_unavailable.
// Either way no channel is left behind: a failed getMe stores nothing, a failed setWebhook
// removes the row it was for.
func TestConnectTelegramRefusals(t *testing.T) {
	t.Parallel()
	store := testenv.Store(t)
	tg := telegramtest.New(t)
	creator := newCreator(t, store)
	deps := func() Deps {
		return Deps{Store: store, Keys: keyring(t), TelegramAPIURL: tg.URL, HTTP: tg.Server.Client(), PublicURL: publicURL}
	}
	in := Input{Type: "telegram", Name: "Bot", BotToken: telegramtest.DefaultToken}
	ctx := context.Background()

	for _, c := range []struct {
		name    string
		deps    func(Deps) Deps
		in      func(Input) Input
		kind    Kind
		code    string
		msg     string
		class   channels.Class
		webhook bool // setWebhook was called
	}{
		{name: "getMe with a wrong token", in: func(i Input) Input { i.BotToken = "123456789:wrong"; return i },
			kind: Invalid, code: "telegram_rejected", msg: "Telegram refused getMe (check the bot token)", class: channels.Permanent},
		{name: "getMe unanswered", deps: func(d Deps) Deps { d.HTTP = &http.Client{Transport: failing{"getMe"}}; return d },
			kind: Unavailable, code: "telegram_unavailable", msg: "Telegram did not answer getMe; try again", class: channels.Retryable},
		{name: "setWebhook refused", deps: func(d Deps) Deps { d.PublicURL = "ftp://coach.example"; return d },
			kind: Invalid, code: "telegram_rejected", msg: "Telegram refused setWebhook (check the bot token)", class: channels.Permanent, webhook: true},
		{name: "setWebhook unanswered", deps: func(d Deps) Deps { d.HTTP = &http.Client{Transport: failing{"setWebhook"}}; return d },
			kind: Unavailable, code: "telegram_unavailable", msg: "Telegram did not accept the webhook; try again", class: channels.Retryable, webhook: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, i := deps(), in
			if c.deps != nil {
				d = c.deps(d)
			}
			if c.in != nil {
				i = c.in(i)
			}
			before, _ := tg.Requests()
			_, err := Connect(ctx, d, creator, i)
			e := requireRule(t, err, c.kind, c.code)
			if c.kind == Invalid {
				// A refusal ends with the provider's own words.
				require.Truef(t, strings.HasPrefix(e.Message, c.msg+": "), "%q", e.Message)
			} else {
				require.Equal(t, c.msg, e.Message)
			}
			require.Equal(t, c.class, channels.ClassOf(e.Err), "the provider's error is kept for the logs")
			require.NotContains(t, err.Error(), i.BotToken, "the bot token never reaches an error")
			require.Empty(t, listChannels(t, store, creator))
			url, _ := tg.LastWebhook()
			require.Empty(t, url)
			after, _ := tg.Requests()
			if !c.webhook && c.kind == Unavailable {
				require.Equal(t, before, after, "getMe never reached the Bot API")
			}
		})
	}
}

// TestTelegramLifecycle: Connect records the bot's identity, seals the token with a fresh
// webhook secret and registers the webhook; Change turns groups on and off; Remove deletes the
// row and the webhook.
func TestTelegramLifecycle(t *testing.T) {
	t.Parallel()
	store := testenv.Store(t)
	tg := telegramtest.New(t)
	creator := newCreator(t, store)
	d := Deps{Store: store, Keys: keyring(t), TelegramAPIURL: tg.URL, HTTP: tg.Server.Client(), PublicURL: publicURL + "/", Log: testenv.Logger(t)}
	ctx := context.Background()

	ch, err := Connect(ctx, d, creator, Input{Type: "telegram", Name: "Bot", BotToken: telegramtest.DefaultToken, OptOutWords: []string{"basta"}})
	require.NoError(t, err)
	require.Equal(t, "telegram", ch.Type)
	require.Equal(t, "Bot", ch.Name)
	require.Equal(t, "123456789", ch.ExternalID)
	cfg, err := channels.ParseConfig(ch.Config)
	require.NoError(t, err)
	require.Equal(t, channels.Config{BotID: 123456789, BotUsername: "test_coach_bot", OptOutWords: []string{"BASTA"}}, cfg)
	require.NotContains(t, ch.Secrets, telegramtest.DefaultToken)
	cred, err := d.Keys.OpenChannel(ch.ID, ch.Secrets)
	require.NoError(t, err)
	require.Equal(t, telegramtest.DefaultToken, cred.BotToken)
	url, secret := tg.LastWebhook()
	require.Equal(t, publicURL+"/webhooks/telegram/"+ch.ID.String(), url)
	require.Equal(t, cred.WebhookSecret, secret)
	allowed, maxConns := tg.WebhookOptions()
	require.Equal(t, []string{"message", "my_chat_member"}, allowed)
	require.Equal(t, 40, maxConns)

	on, off := true, false
	ch, err = Change(ctx, d, creator, ch.ID, Patch{GroupsEnabled: &on})
	require.NoError(t, err)
	cfg, err = channels.ParseConfig(ch.Config)
	require.NoError(t, err)
	require.True(t, cfg.GroupsEnabled)
	require.Equal(t, "test_coach_bot", cfg.BotUsername, "a change keeps the other settings")
	ch, err = Change(ctx, d, creator, ch.ID, Patch{})
	require.NoError(t, err)
	cfg, _ = channels.ParseConfig(ch.Config)
	require.True(t, cfg.GroupsEnabled, "an omitted field keeps its value")
	ch, err = Change(ctx, d, creator, ch.ID, Patch{GroupsEnabled: &off})
	require.NoError(t, err)
	cfg, _ = channels.ParseConfig(ch.Config)
	require.False(t, cfg.GroupsEnabled)

	// Another creator does not see the channel.
	other := newCreator(t, store)
	_, err = Change(ctx, d, other, ch.ID, Patch{GroupsEnabled: &on})
	requireRule(t, err, NotFound, "not_found")
	_, err = Remove(ctx, d, other, ch.ID)
	requireRule(t, err, NotFound, "not_found")

	removed, err := Remove(ctx, d, creator, ch.ID)
	require.NoError(t, err)
	require.Equal(t, ch.ID, removed.ID)
	url, _ = tg.LastWebhook()
	require.Empty(t, url, "the webhook is deleted")
	require.Empty(t, listChannels(t, store, creator))
	_, err = Remove(ctx, d, creator, ch.ID)
	e := requireRule(t, err, NotFound, "not_found")
	require.Equal(t, "channel not found", e.Message)
}

// TestChangeRules: groups_enabled is a Telegram setting, and needs the bot's identity.
func TestChangeRules(t *testing.T) {
	t.Parallel()
	store := testenv.Store(t)
	creator := newCreator(t, store)
	d := Deps{Store: store, Keys: keyring(t), PublicURL: publicURL}
	ctx := context.Background()
	on, off := true, false

	wa, err := Connect(ctx, d, creator, Input{Type: "whatsapp", Name: "WA", PhoneNumberID: "1001", AccessToken: "tok", AppSecret: "app", VerifyToken: "v"})
	require.NoError(t, err)
	_, err = Change(ctx, d, creator, wa.ID, Patch{GroupsEnabled: &off})
	e := requireRule(t, err, Invalid, "bad_field")
	require.Equal(t, "groups_enabled is a Telegram setting", e.Message)
	same, err := Change(ctx, d, creator, wa.ID, Patch{})
	require.NoError(t, err)
	require.JSONEq(t, string(wa.Config), string(same.Config))

	// A Telegram channel connected before the bot's identity was recorded.
	old := uuid.Must(uuid.NewV7())
	sealed, err := d.Keys.SealChannel(old, secrets.ChannelCredentials{BotToken: "7:old", WebhookSecret: "s"})
	require.NoError(t, err)
	require.NoError(t, store.InTenant(ctx, creator, func(q *db.Queries) error {
		_, err := q.InsertChannel(ctx, db.InsertChannelParams{ID: old, CreatorID: creator, Type: "telegram", Name: "Old",
			ExternalID: "7", Config: []byte(`{}`), Secrets: sealed})
		return err
	}))
	_, err = Change(ctx, d, creator, old, Patch{GroupsEnabled: &on})
	requireRule(t, err, Conflict, "bot_identity_unknown")
	_, err = Change(ctx, d, creator, old, Patch{GroupsEnabled: &off})
	require.NoError(t, err, "turning groups off needs no identity")
	_, err = Change(ctx, d, creator, uuid.New(), Patch{GroupsEnabled: &on})
	requireRule(t, err, NotFound, "not_found")
}

// TestConnectWhatsApp: the WhatsApp defaults and sealed credentials; no provider is called.
func TestConnectWhatsApp(t *testing.T) {
	t.Parallel()
	store := testenv.Store(t)
	creator := newCreator(t, store)
	d := Deps{Store: store, Keys: keyring(t), PublicURL: publicURL}
	ctx := context.Background()
	ch, err := Connect(ctx, d, creator, Input{Type: "whatsapp", Name: "WA", PhoneNumberID: "1001", AccessToken: "EAAG-secret", AppSecret: "app", VerifyToken: "v",
		Template: &channels.Template{Name: "coach_reengage", Language: "en_US"}})
	require.NoError(t, err)
	require.Equal(t, "1001", ch.ExternalID)
	cfg, err := channels.ParseConfig(ch.Config)
	require.NoError(t, err)
	require.Equal(t, "1001", cfg.PhoneNumberID)
	require.NotEmpty(t, cfg.APIVersion)
	require.Equal(t, &channels.Template{Name: "coach_reengage", Language: "en_US"}, cfg.Template)
	require.NotContains(t, ch.Secrets, "EAAG-secret")
	cred, err := d.Keys.OpenChannel(ch.ID, ch.Secrets)
	require.NoError(t, err)
	require.Equal(t, secrets.ChannelCredentials{AccessToken: "EAAG-secret", AppSecret: "app", VerifyToken: "v"}, cred)

	// Without a keyring nothing is stored.
	_, err = Connect(ctx, Deps{Store: store, PublicURL: publicURL}, creator, Input{Type: "whatsapp", Name: "WA2", PhoneNumberID: "1002", AccessToken: "t", AppSecret: "a", VerifyToken: "v"})
	require.ErrorIs(t, err, errNoKeyring)
	require.Len(t, listChannels(t, store, creator), 1)
	// A refused request stores nothing either.
	_, err = Connect(ctx, d, creator, Input{Type: "whatsapp", Name: "WA3"})
	requireRule(t, err, Invalid, "missing_phone_number_id")
	require.Len(t, listChannels(t, store, creator), 1)
}

// TestConnectWhatsAppVerify: with Verify the phone number id is looked up with the access
// token before anything is saved; WhatsApp's refusal names the field it is about and carries
// its words, and nothing is stored. Test reads the stored credentials back the same way.
func TestConnectWhatsAppVerify(t *testing.T) {
	t.Parallel()
	store := testenv.Store(t)
	wa := whatsapptest.New(t)
	creator := newCreator(t, store)
	d := Deps{Store: store, Keys: keyring(t), WhatsAppAPIURL: wa.URL, HTTP: wa.Server.Client(), PublicURL: publicURL}
	ctx := context.Background()
	in := Input{Type: "whatsapp", Name: "WA", PhoneNumberID: whatsapptest.DefaultPhoneNumberID, AccessToken: whatsapptest.DefaultAccessToken,
		AppSecret: "app", VerifyToken: "v", Verify: true}

	bad := in
	bad.AccessToken = "EAAG-wrong"
	_, err := Connect(ctx, d, creator, bad)
	e := requireRule(t, err, Invalid, "whatsapp_token_rejected")
	require.Equal(t, "WhatsApp refused the access token: Invalid OAuth access token - Cannot parse access token", e.Message)
	require.NotContains(t, err.Error(), "EAAG-wrong")
	bad = in
	bad.PhoneNumberID = "not-a-number"
	_, err = Connect(ctx, d, creator, bad)
	e = requireRule(t, err, Invalid, "whatsapp_number_rejected")
	require.Contains(t, e.Message, "WhatsApp refused the phone number id: Unsupported get request. Object with ID 'not-a-number' does not exist")
	down := d
	down.HTTP = &http.Client{Transport: failing{whatsapptest.DefaultPhoneNumberID}}
	_, err = Connect(ctx, down, creator, in)
	requireRule(t, err, Unavailable, "whatsapp_unavailable")
	require.Empty(t, listChannels(t, store, creator), "a refused channel is not saved")

	ch, err := Connect(ctx, d, creator, in)
	require.NoError(t, err)
	res, err := Test(ctx, d, creator, ch.ID)
	require.NoError(t, err)
	require.Equal(t, TestResult{OK: true, DisplayPhoneNumber: whatsapptest.DisplayPhoneNumber, VerifiedName: whatsapptest.VerifiedName,
		Message: "WhatsApp knows " + whatsapptest.DisplayPhoneNumber + " (" + whatsapptest.VerifiedName + ") and accepts the access token"}, res)
	// The token is revoked at Meta: the test says so, it is not an error of the API.
	wa.SetAccessToken("rotated")
	res, err = Test(ctx, d, creator, ch.ID)
	require.NoError(t, err)
	require.False(t, res.OK)
	require.Equal(t, "WhatsApp refused the access token: Invalid OAuth access token - Cannot parse access token", res.Message)
	_, err = Test(ctx, down, creator, ch.ID)
	requireRule(t, err, Unavailable, "whatsapp_unavailable")
	_, err = Test(ctx, d, newCreator(t, store), ch.ID)
	requireRule(t, err, NotFound, "not_found")
}

// TestTestTelegram: Test asks getMe and getWebhookInfo; a webhook that is not the channel's
// (another tool took the bot over) and a revoked token are reported, not errors.
func TestTestTelegram(t *testing.T) {
	t.Parallel()
	store := testenv.Store(t)
	tg := telegramtest.New(t)
	creator := newCreator(t, store)
	d := Deps{Store: store, Keys: keyring(t), TelegramAPIURL: tg.URL, HTTP: tg.Server.Client(), PublicURL: publicURL}
	ctx := context.Background()
	ch, err := Connect(ctx, d, creator, Input{Type: "telegram", Name: "Bot", BotToken: telegramtest.DefaultToken})
	require.NoError(t, err)
	res, err := Test(ctx, d, creator, ch.ID)
	require.NoError(t, err)
	want := WebhookURL(publicURL, "telegram", ch.ID)
	require.Equal(t, TestResult{OK: true, BotUsername: "test_coach_bot", WebhookURL: want, Message: "@test_coach_bot answers and its webhook is set"}, res)

	require.NoError(t, d.telegram(telegramtest.DefaultToken).SetWebhook(ctx, "https://elsewhere.example/hook", "s", nil, 0))
	res, err = Test(ctx, d, creator, ch.ID)
	require.NoError(t, err)
	require.False(t, res.OK)
	require.Contains(t, res.Message, `its webhook is "https://elsewhere.example/hook", not this channel's `+want)

	tg.SetToken("999:other")
	res, err = Test(ctx, d, creator, ch.ID)
	require.NoError(t, err)
	require.False(t, res.OK)
	require.Equal(t, "Telegram refused getMe (the bot token no longer works): Unauthorized", res.Message)
}

// TestConnectSameAccountTwice: a WhatsApp phone number id or a Telegram bot already connected
// in the workspace is refused (Conflict channel_exists, nothing saved, the first bot's webhook
// left alone); another workspace may connect it, and once removed it can be added again.
func TestConnectSameAccountTwice(t *testing.T) {
	t.Parallel()
	store := testenv.Store(t)
	tg := telegramtest.New(t)
	creator := newCreator(t, store)
	d := Deps{Store: store, Keys: keyring(t), TelegramAPIURL: tg.URL, HTTP: tg.Server.Client(), PublicURL: publicURL}
	ctx := context.Background()
	wa := Input{Type: "whatsapp", Name: "WA", PhoneNumberID: "100200300", AccessToken: "EAAG-a", AppSecret: "app", VerifyToken: "v"}
	first, err := Connect(ctx, d, creator, wa)
	require.NoError(t, err)
	again := wa
	again.Name, again.AccessToken = "WA again", "EAAG-b"
	_, err = Connect(ctx, d, creator, again)
	e := requireRule(t, err, Conflict, "channel_exists")
	require.Contains(t, e.Message, first.ID.String())
	require.Len(t, listChannels(t, store, creator), 1)

	bot, err := Connect(ctx, d, creator, Input{Type: "telegram", Name: "Bot", BotToken: telegramtest.DefaultToken})
	require.NoError(t, err)
	_, err = Connect(ctx, d, creator, Input{Type: "telegram", Name: "Bot 2", BotToken: telegramtest.DefaultToken})
	requireRule(t, err, Conflict, "channel_exists")
	require.Len(t, listChannels(t, store, creator), 2)
	res, err := Test(ctx, d, creator, bot.ID)
	require.NoError(t, err)
	require.True(t, res.OK, "the first bot keeps its webhook: %s", res.Message)

	_, err = Connect(ctx, d, newCreator(t, store), wa)
	require.NoError(t, err, "another workspace connects the same number")
	_, err = Remove(ctx, d, creator, first.ID)
	require.NoError(t, err)
	_, err = Connect(ctx, d, creator, again)
	require.NoError(t, err, "added again once removed")
}
