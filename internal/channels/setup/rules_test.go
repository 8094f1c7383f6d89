package setup

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/channels"
	"github.com/coachwire/coachwire/internal/channels/telegram"
	"github.com/coachwire/coachwire/internal/channels/whatsapp"
	"github.com/coachwire/coachwire/internal/secrets"
)

// requireRule asserts err is a refusal of the channel rules of kind and code.
func requireRule(t *testing.T, err error, kind Kind, code string) *Error {
	t.Helper()
	var e *Error
	require.True(t, errors.As(err, &e), "want a setup.Error, got %v", err)
	require.Equal(t, kind, e.Kind, e.Message)
	require.Equal(t, code, e.Code, e.Message)
	return e
}

func whatsApp() Input {
	return Input{Type: "whatsapp", Name: "WA", PhoneNumberID: "1001", AccessToken: "tok", AppSecret: "app", VerifyToken: "verify"}
}

func telegramIn() Input { return Input{Type: "telegram", Name: "TG", BotToken: "42:abc"} }

// TestValidateRefuses: each rule of each channel type refuses with its code and message, in the
// order the API reports them (opt words before the type's settings).
func TestValidateRefuses(t *testing.T) {
	t.Parallel()
	with := func(in Input, f func(*Input)) Input { f(&in); return in }
	words := func(n int) []string { return strings.Fields(strings.Repeat("w ", n)) }
	for _, c := range []struct {
		name, code, msg string
		in              Input
	}{
		{"too many opt-out words", "too_many_words", "at most 20 opt-out or opt-in words", with(whatsApp(), func(i *Input) { i.OptOutWords = words(21) })},
		{"too many opt-in words", "too_many_words", "", with(telegramIn(), func(i *Input) { i.OptInWords = words(21) })},
		{"word with a space", "bad_word", "opt-out and opt-in words are single words of at most 32 characters", with(whatsApp(), func(i *Input) { i.OptOutWords = []string{"no more"} })},
		{"blank word", "bad_word", "", with(whatsApp(), func(i *Input) { i.OptInWords = []string{"  "} })},
		{"33-character word", "bad_word", "", with(whatsApp(), func(i *Input) { i.OptOutWords = []string{strings.Repeat("é", 33)} })},
		{"word with a tab", "bad_word", "", with(whatsApp(), func(i *Input) { i.OptOutWords = []string{"a\tb"} })},
		{"words checked before the type", "bad_word", "", Input{Type: "sms", OptOutWords: []string{"a b"}}},
		{"unknown type", "bad_type", "type must be whatsapp or telegram", Input{Type: "sms"}},
		{"no type", "bad_type", "", Input{}},
		{"the app needs no setup", "bad_type", "the app channel needs no setup: every coach has it; type must be whatsapp or telegram", Input{Type: "app"}},
		{"the widget needs no setup", "bad_type", "the widget channel needs no setup", Input{Type: "widget"}},
		{"whatsapp without phone number id", "missing_phone_number_id", "phone_number_id is required", with(whatsApp(), func(i *Input) { i.PhoneNumberID = " " })},
		{"whatsapp without access token", "missing_access_token", "access_token is required", with(whatsApp(), func(i *Input) { i.AccessToken = "" })},
		{"whatsapp without app secret", "missing_app_secret", "", with(whatsApp(), func(i *Input) { i.AppSecret = "" })},
		{"whatsapp without verify token", "missing_verify_token", "", with(whatsApp(), func(i *Input) { i.VerifyToken = "" })},
		{"whatsapp access token too long", "bad_access_token", "access_token: at most 512 bytes (got 513)", with(whatsApp(), func(i *Input) { i.AccessToken = strings.Repeat("a", 513) })},
		{"whatsapp api version on two lines", "bad_api_version", "api_version: one line: ", with(whatsApp(), func(i *Input) { i.APIVersion = "v1\nv2" })},
		{"whatsapp with a nul", "bad_verify_token", "verify_token: ", with(whatsApp(), func(i *Input) { i.VerifyToken = "a\x00b" })},
		{"whatsapp with a bot token", "bad_field", "bot_token and groups_enabled are Telegram settings", with(whatsApp(), func(i *Input) { i.BotToken = "1:x" })},
		{"whatsapp with groups", "bad_field", "", with(whatsApp(), func(i *Input) { i.GroupsEnabled = true })},
		{"whatsapp template without name", "missing_template.name", "template.name is required", with(whatsApp(), func(i *Input) { i.Template = &channels.Template{Language: "en"} })},
		{"whatsapp template without language", "missing_template.language", "", with(whatsApp(), func(i *Input) { i.Template = &channels.Template{Name: "t"} })},
		{"telegram without bot token", "missing_bot_token", "bot_token is required", with(telegramIn(), func(i *Input) { i.BotToken = "" })},
		{"telegram bot token too long", "bad_bot_token", "bot_token: at most 512 bytes", with(telegramIn(), func(i *Input) { i.BotToken = strings.Repeat("1", 600) })},
		{"telegram with a phone number id", "bad_field", "WhatsApp settings given for a Telegram channel", with(telegramIn(), func(i *Input) { i.PhoneNumberID = "1" })},
		{"telegram with a template", "bad_field", "", with(telegramIn(), func(i *Input) { i.Template = &channels.Template{Name: "t", Language: "en"} })},
		{"telegram with an app secret", "bad_field", "", with(telegramIn(), func(i *Input) { i.AppSecret = "s" })},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := validate(c.in)
			e := requireRule(t, err, Invalid, c.code)
			require.True(t, strings.HasPrefix(e.Message, c.msg), "message %q, want it to start with %q", e.Message, c.msg)
			require.NoError(t, e.Err)
		})
	}
}

// TestValidateAccepts: what a valid request becomes: the WhatsApp defaults, the opt words in
// upper case, the credentials to seal (a fresh webhook secret for Telegram) and the external id.
func TestValidateAccepts(t *testing.T) {
	t.Parallel()
	in := whatsApp()
	in.OptOutWords, in.OptInWords = []string{" basta ", strings.Repeat("x", 32)}, []string{"ancora"}
	p, err := validate(in)
	require.NoError(t, err)
	require.Equal(t, channels.Config{PhoneNumberID: "1001", APIVersion: whatsapp.DefaultAPIVersion,
		OptOutWords: []string{"BASTA", strings.Repeat("X", 32)}, OptInWords: []string{"ANCORA"}}, p.cfg)
	require.Equal(t, secrets.ChannelCredentials{AccessToken: "tok", AppSecret: "app", VerifyToken: "verify"}, p.cred)
	require.Equal(t, "1001", p.external)

	in.APIVersion, in.Template = "v20.0", &channels.Template{Name: "coach_reengage", Language: "en_US"}
	in.OptOutWords, in.OptInWords = nil, nil
	p, err = validate(in)
	require.NoError(t, err)
	require.Equal(t, channels.Config{PhoneNumberID: "1001", APIVersion: "v20.0", Template: in.Template,
		OptOutWords: []string{}, OptInWords: []string{}}, p.cfg)
	require.NotSame(t, in.Template, p.cfg.Template, "the config keeps its own template")

	tg := telegramIn()
	tg.GroupsEnabled = true
	p, err = validate(tg)
	require.NoError(t, err)
	require.True(t, p.cfg.GroupsEnabled)
	require.Zero(t, p.cfg.BotID, "the bot's identity comes from getMe, not from the token")
	require.Equal(t, "42", p.external, "the bot id is the token's public prefix")
	require.Equal(t, "42:abc", p.cred.BotToken)
	require.True(t, telegram.ValidSecret(p.cred.WebhookSecret), p.cred.WebhookSecret)
	q, err := validate(tg)
	require.NoError(t, err)
	require.NotEqual(t, p.cred.WebhookSecret, q.cred.WebhookSecret, "each connection gets its own webhook secret")

	tg.BotToken = "no-colon"
	p, err = validate(tg)
	require.NoError(t, err)
	require.Empty(t, p.external)
}

func TestWebhookURL(t *testing.T) {
	t.Parallel()
	id := uuid.MustParse("0190a0b0-0000-7000-8000-000000000001")
	require.Equal(t, "https://coach.example/webhooks/telegram/"+id.String(), WebhookURL("https://coach.example/", "telegram", id))
	require.Equal(t, "http://h:8080/webhooks/whatsapp/"+id.String(), WebhookURL("http://h:8080", "whatsapp", id))
}

// TestCheckWordList: the rules of a channel's complete STOP / START lists (PATCH).
func TestCheckWordList(t *testing.T) {
	t.Parallel()
	many := strings.Fields("STOP " + strings.Repeat("w ", 20))
	for _, c := range []struct {
		name  string
		words []string
		stop  bool
		code  string
		want  string
	}{
		{"normalised", []string{" stop ", "/Halt", "basta!"}, true, "", "[STOP HALT BASTA]"},
		{"start list", []string{"weiter"}, false, "", "[WEITER]"},
		{"empty word", []string{"STOP", ""}, true, "bad_word", ""},
		{"only a slash", []string{"STOP", "/"}, true, "bad_word", ""},
		{"two words", []string{"STOP", "no more"}, true, "bad_word", ""},
		{"33 characters", []string{"STOP", strings.Repeat("x", 33)}, true, "bad_word", ""},
		{"32 characters", []string{"STOP", strings.Repeat("é", 32)}, true, "", "[STOP " + strings.ToUpper(strings.Repeat("é", 32)) + "]"},
		{"duplicate ignoring case", []string{"STOP", "halt", "HALT"}, true, "duplicate_word", ""},
		{"21 words", many, true, "too_many_words", ""},
		{"no STOP", []string{"HALT"}, true, "stop_required", ""},
		{"empty STOP list", nil, true, "stop_required", ""},
		{"empty START list", []string{}, false, "missing_opt_in_words", ""},
	} {
		got, err := checkWordList("opt_out_words", c.words, c.stop)
		if c.code == "" {
			require.NoError(t, err, c.name)
			require.Equal(t, c.want, fmt.Sprint(got), c.name)
			continue
		}
		e := requireRule(t, err, Invalid, c.code)
		require.True(t, strings.HasPrefix(e.Message, "opt_out_words: "), "%s: %s", c.name, e.Message)
	}
}
