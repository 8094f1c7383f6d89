package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/auth"
	"github.com/coachwire/coachwire/internal/auth/perm"
	"github.com/coachwire/coachwire/internal/channels/telegramtest"
	"github.com/coachwire/coachwire/internal/channels/whatsapptest"
	"github.com/coachwire/coachwire/internal/gateway"
	"github.com/coachwire/coachwire/internal/secrets"
	"github.com/coachwire/coachwire/internal/testenv"
)

// providerEnv is a gateway whose channel API reaches loopback Telegram and WhatsApp APIs.
type providerEnv struct {
	ts  *httptest.Server
	c   *testenv.Client
	tg  *telegramtest.Server
	wa  *whatsapptest.Server
	srv *gateway.Server
}

func newProviderEnv(t *testing.T) *providerEnv {
	t.Helper()
	dir := t.TempDir()
	svc, err := auth.New(auth.Options{KeyFile: dir + "/keys/jwt.json", Issuer: testIssuer, BcryptCost: 4})
	require.NoError(t, err)
	keys, err := secrets.Load("", dir)
	require.NoError(t, err)
	e := &providerEnv{tg: telegramtest.New(t), wa: whatsapptest.New(t)}
	e.srv = gateway.New(gateway.Deps{
		Config: &gateway.Settings{PublicURL: testIssuer, TelegramAPIURL: e.tg.URL, WhatsAppAPIURL: e.wa.URL, Limits: offPerIP},
		Files:  testFiles(t), Store: testenv.Store(t), Bus: testenv.Bus(t), Auth: svc, Keys: keys,
		Log: slog.New(slog.DiscardHandler),
	})
	e.ts = httptest.NewServer(e.srv.Handler())
	t.Cleanup(e.ts.Close)
	t.Cleanup(e.srv.Shutdown)
	e.c = testenv.NewClient(e.ts.URL)
	return e
}

// TestChannelProviderChecks: POST /api/v1/channels with verify looks a WhatsApp number up with
// its token before saving and answers WhatsApp's refusal (naming the field by its code) with
// nothing saved; a Telegram refusal carries Telegram's words; no answer ever carries a secret.
// POST /api/v1/channels/{id}/test asks the provider again with the stored credentials.
func TestChannelProviderChecks(t *testing.T) {
	t.Parallel()
	e := newProviderEnv(t)
	cr := e.c.Register(t)
	ctx := context.Background()
	type apiErr struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	wa := func(pnid, token string, verify bool) map[string]any {
		return map[string]any{"type": "whatsapp", "name": "WA", "phone_number_id": pnid, "access_token": token,
			"app_secret": "app-secret", "verify_token": "verify-123", "verify": verify}
	}
	for _, c := range []struct {
		name   string
		body   map[string]any
		status int
		code   string
		msg    string
	}{
		{"a wrong WhatsApp token", wa(whatsapptest.DefaultPhoneNumberID, "EAAG-wrong", true), 400, "whatsapp_token_rejected",
			"WhatsApp refused the access token: Invalid OAuth access token - Cannot parse access token"},
		{"a phone number id WhatsApp does not know", wa("PN-1", whatsapptest.DefaultAccessToken, true), 400, "whatsapp_number_rejected",
			"WhatsApp refused the phone number id: Unsupported get request. Object with ID 'PN-1' does not exist"},
		{"a wrong Telegram token", map[string]any{"type": "telegram", "bot_token": "123456789:wrong"}, 400, "telegram_rejected",
			"Telegram refused getMe (check the bot token): Unauthorized"},
	} {
		var out apiErr
		st, raw, err := e.c.Do(ctx, "POST", "/api/v1/channels", cr.AccessToken, c.body, nil)
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(raw, &out), string(raw))
		require.Equal(t, c.status, st, "%s: %s", c.name, raw)
		require.Equal(t, c.code, out.Error.Code, c.name)
		require.True(t, strings.HasPrefix(out.Error.Message, c.msg), "%s: %q", c.name, out.Error.Message)
		require.NotContains(t, string(raw), "EAAG-wrong")
		require.NotContains(t, string(raw), "123456789:wrong")
	}
	_, raw, err := e.c.Do(ctx, "GET", "/api/v1/channels", cr.AccessToken, nil, nil)
	require.NoError(t, err)
	require.JSONEq(t, `{"channels": []}`, string(raw), "nothing refused was saved")

	// Without verify the WhatsApp credentials are stored unchecked (API compatibility).
	st, raw, err := e.c.Do(ctx, "POST", "/api/v1/channels", cr.AccessToken, wa("PN-2", "unchecked", false), nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, st, string(raw))

	var ch struct {
		ID         string `json:"id"`
		WebhookURL string `json:"webhook_url"`
	}
	st, raw, err = e.c.Do(ctx, "POST", "/api/v1/channels", cr.AccessToken, wa(whatsapptest.DefaultPhoneNumberID, whatsapptest.DefaultAccessToken, true), &ch)
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, st, string(raw))
	for _, secret := range []string{whatsapptest.DefaultAccessToken, "app-secret", "verify-123"} {
		require.NotContains(t, string(raw), secret)
	}
	require.Equal(t, testIssuer+"/webhooks/whatsapp/"+ch.ID, ch.WebhookURL)

	test := func(id string) (int, map[string]any) {
		t.Helper()
		var out map[string]any
		st, raw, err := e.c.Do(ctx, "POST", "/api/v1/channels/"+id+"/test", cr.AccessToken, nil, &out)
		require.NoError(t, err)
		require.NotContains(t, string(raw), whatsapptest.DefaultAccessToken)
		require.NotContains(t, string(raw), telegramtest.DefaultToken)
		return st, out
	}
	st, out := test(ch.ID)
	require.Equal(t, http.StatusOK, st)
	require.Equal(t, map[string]any{"ok": true, "display_phone_number": whatsapptest.DisplayPhoneNumber, "verified_name": whatsapptest.VerifiedName,
		"message": "WhatsApp knows " + whatsapptest.DisplayPhoneNumber + " (" + whatsapptest.VerifiedName + ") and accepts the access token"}, out)
	e.wa.SetAccessToken("rotated-at-meta")
	st, out = test(ch.ID)
	require.Equal(t, http.StatusOK, st)
	require.Equal(t, false, out["ok"])
	require.Equal(t, "WhatsApp refused the access token: Invalid OAuth access token - Cannot parse access token", out["message"])

	var bot struct {
		ID string `json:"id"`
	}
	st, raw, err = e.c.Do(ctx, "POST", "/api/v1/channels", cr.AccessToken, map[string]any{"type": "telegram", "bot_token": telegramtest.DefaultToken}, &bot)
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, st, string(raw))
	st, out = test(bot.ID)
	require.Equal(t, http.StatusOK, st)
	require.Equal(t, true, out["ok"])
	require.Equal(t, "test_coach_bot", out["bot_username"])
	require.Equal(t, testIssuer+"/webhooks/telegram/"+bot.ID, out["webhook_url"])

	// Another creator's channel does not exist for this one.
	other := e.c.Register(t)
	st, _, err = e.c.Do(ctx, "POST", "/api/v1/channels/"+bot.ID+"/test", other.AccessToken, nil, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusNotFound, st)

	// The route is in the table with the permission that changes channels.
	var found bool
	for _, r := range e.srv.Routes() {
		if r.Pattern == "POST /api/v1/channels/{id}/test" {
			found = true
			require.Equal(t, perm.SettingsWrite, r.Perm)
		}
	}
	require.True(t, found)
}

// TestWidgetPreviewPage: the console's live preview page and its script are served with a
// policy that allows no inline script and framing by the gateway's own origin only.
func TestWidgetPreviewPage(t *testing.T) {
	t.Parallel()
	e := newProviderEnv(t)
	resp, err := http.Get(e.ts.URL + "/widget/preview")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
	csp := resp.Header.Get("Content-Security-Policy")
	require.Contains(t, csp, "script-src 'self';")
	require.Contains(t, csp, "frame-ancestors 'self'")
	require.NotContains(t, csp, "unsafe")
	require.Equal(t, "SAMEORIGIN", resp.Header.Get("X-Frame-Options"))
	require.Contains(t, string(body), `<script src="/widget/preview.js"></script>`)
	require.NotContains(t, string(body), "<style")
	require.Equal(t, 1, strings.Count(string(body), "<script"), "no inline script")

	resp, err = http.Get(e.ts.URL + "/widget/preview.js")
	require.NoError(t, err)
	js, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/javascript; charset=utf-8", resp.Header.Get("Content-Type"))
	require.Contains(t, string(js), "e.origin !== window.location.origin", "only the console's own messages are read")
	require.Contains(t, string(js), "data-preview")

	// The console may frame it (and nothing else).
	resp, err = http.Get(e.ts.URL + "/console")
	require.NoError(t, err)
	resp.Body.Close()
	require.Contains(t, resp.Header.Get("Content-Security-Policy"), "frame-src 'self'")
}

// TestChannelStopWords: PATCH /api/v1/channels/{id} replaces a channel's complete STOP and START
// word lists (defaults included, as GET lists them): each rule refuses with its code and the
// field named first, leaving the words as they were; the accepted lists come back normalised and
// are in the audit entry; another workspace cannot see or change them. (The next inbound message
// using them: internal/app TestEditedStopWordsOptOut.)
func TestChannelStopWords(t *testing.T) {
	t.Parallel()
	e := newProviderEnv(t)
	ctx := context.Background()
	a, b := e.c.Register(t), e.c.Register(t)
	type chanWords struct {
		ID          string   `json:"id"`
		OptOutWords []string `json:"opt_out_words"`
		OptInWords  []string `json:"opt_in_words"`
	}
	var ch chanWords
	st, raw, err := e.c.Do(ctx, "POST", "/api/v1/channels", a.AccessToken, map[string]any{"type": "whatsapp", "name": "WA",
		"phone_number_id": "PN-9", "access_token": "unchecked", "app_secret": "app-secret", "verify_token": "verify-123",
		"opt_out_words": []string{"basta", "stop"}}, &ch)
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, st, string(raw))
	defaultsOut := []string{"STOP", "UNSUBSCRIBE", "STOPALL", "CANCEL", "END", "QUIT"}
	require.Equal(t, append(defaultsOut, "BASTA"), ch.OptOutWords, "the defaults and the extra word, once each")
	require.Equal(t, []string{"START", "UNSTOP", "SUBSCRIBE"}, ch.OptInWords)
	path := "/api/v1/channels/" + ch.ID

	get := func(token string) []chanWords {
		t.Helper()
		var out struct {
			Channels []chanWords `json:"channels"`
		}
		st, raw, err := e.c.Do(ctx, "GET", "/api/v1/channels", token, nil, &out)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, st, string(raw))
		return out.Channels
	}
	words := func(n int) []string {
		out := []string{"STOP"}
		for i := 1; i < n; i++ {
			out = append(out, fmt.Sprintf("W%d", i))
		}
		return out
	}
	for _, c := range []struct {
		name      string
		body      map[string]any
		code, msg string
	}{
		{"an empty word", map[string]any{"opt_out_words": []string{"STOP", "  "}}, "bad_word", "opt_out_words: a word is empty"},
		{"two words in one", map[string]any{"opt_out_words": []string{"STOP", "no more"}}, "bad_word", `opt_out_words: "no more" is not a single word`},
		{"a 33-character word", map[string]any{"opt_in_words": []string{strings.Repeat("é", 33)}}, "bad_word", "opt_in_words: "},
		{"a word on two lines", map[string]any{"opt_in_words": []string{"a\nb"}}, "bad_word", "opt_in_words: "},
		{"a word twice, in other case", map[string]any{"opt_out_words": []string{"stop", "Halt", "HALT"}}, "duplicate_word", "opt_out_words: HALT is in the list twice"},
		{"the same word with a slash", map[string]any{"opt_out_words": []string{"STOP", "/stop"}}, "duplicate_word", "opt_out_words: STOP"},
		{"21 words", map[string]any{"opt_out_words": words(21)}, "too_many_words", "opt_out_words: at most 20 words (got 21)"},
		{"STOP removed", map[string]any{"opt_out_words": []string{"HALT", "BASTA"}}, "stop_required", "opt_out_words: STOP must stay in the list"},
		{"an empty STOP list", map[string]any{"opt_out_words": []string{}}, "stop_required", "opt_out_words: "},
		{"an empty START list", map[string]any{"opt_in_words": []string{}}, "missing_opt_in_words", "opt_in_words: at least one word is needed"},
		{"a start word that stops", map[string]any{"opt_in_words": []string{"START", "basta"}}, "word_in_both", "opt_in_words: BASTA is both a stop and a start word"},
		{"a stop word that starts", map[string]any{"opt_out_words": []string{"STOP", "unstop"}}, "word_in_both", "opt_out_words: UNSTOP is both"},
	} {
		var out struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		st, raw, err := e.c.Do(ctx, "PATCH", path, a.AccessToken, c.body, nil)
		require.NoError(t, err)
		require.Equal(t, http.StatusBadRequest, st, "%s: %s", c.name, raw)
		require.NoError(t, json.Unmarshal(raw, &out))
		require.Equal(t, c.code, out.Error.Code, "%s: %s", c.name, raw)
		require.True(t, strings.HasPrefix(out.Error.Message, c.msg), "%s: %q", c.name, out.Error.Message)
	}
	require.Equal(t, []chanWords{ch}, get(a.AccessToken), "nothing refused was saved")

	// Accepted: trimmed, upper case, "/" and "!" dropped; the START list keeps its value.
	var got chanWords
	st, raw, err = e.c.Do(ctx, "PATCH", path, a.AccessToken, map[string]any{"opt_out_words": []string{" stop ", "/Halt", "basta!", "Ärgerlich"}}, &got)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, st, string(raw))
	require.Equal(t, []string{"STOP", "HALT", "BASTA", "ÄRGERLICH"}, got.OptOutWords, "CANCEL, END, … removed")
	require.Equal(t, []string{"START", "UNSTOP", "SUBSCRIBE"}, got.OptInWords)
	require.Equal(t, []chanWords{got}, get(a.AccessToken))
	st, raw, err = e.c.Do(ctx, "PATCH", path, a.AccessToken, map[string]any{"opt_in_words": []string{"start", "weiter"}}, &got)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, st, string(raw))
	require.Equal(t, []string{"STOP", "HALT", "BASTA", "ÄRGERLICH"}, got.OptOutWords, "the STOP list keeps its value")
	require.Equal(t, []string{"START", "WEITER"}, got.OptInWords)

	// Another workspace: not found, and its list does not show the channel.
	for _, body := range []map[string]any{{"opt_out_words": []string{"STOP", "X"}}, {"opt_out_words": []string{}}} {
		st, raw, err = e.c.Do(ctx, "PATCH", path, b.AccessToken, body, nil)
		require.NoError(t, err)
		require.Equal(t, http.StatusNotFound, st, "another workspace's channel: %s", raw)
	}
	require.Empty(t, get(b.AccessToken))
	require.Equal(t, []chanWords{got}, get(a.AccessToken), "unchanged by the other workspace")

	// The audit log has both changes, with the words as sent.
	var audit struct {
		Entries []struct {
			TargetID string         `json:"target_id"`
			Details  map[string]any `json:"details"`
		} `json:"entries"`
	}
	st, raw, err = e.c.Do(ctx, "GET", "/api/v1/audit?action=channel.updated&target_id="+ch.ID, a.AccessToken, nil, &audit)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, st, string(raw))
	require.Len(t, audit.Entries, 2, "one entry per accepted change, none for the refusals: %s", raw)
	require.Equal(t, "[start weiter]", fmt.Sprint(audit.Entries[0].Details["opt_in_words"]), "newest first")
	require.Equal(t, "WA", audit.Entries[0].Details["name"])
	require.Equal(t, "[ stop  /Halt basta! Ärgerlich]", fmt.Sprint(audit.Entries[1].Details["opt_out_words"]))
}

// TestChannelSameNumberTwice: adding a WhatsApp number the workspace already has is a clear
// 409 channel_exists, with nothing saved.
func TestChannelSameNumberTwice(t *testing.T) {
	t.Parallel()
	e := newProviderEnv(t)
	cr := e.c.Register(t)
	ctx := context.Background()
	body := map[string]any{"type": "whatsapp", "name": "WA", "phone_number_id": whatsapptest.DefaultPhoneNumberID,
		"access_token": whatsapptest.DefaultAccessToken, "app_secret": "app-secret", "verify_token": "verify-123", "verify": true}
	st, raw, err := e.c.Do(ctx, "POST", "/api/v1/channels", cr.AccessToken, body, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, st, string(raw))
	var out struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	st, raw, err = e.c.Do(ctx, "POST", "/api/v1/channels", cr.AccessToken, body, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusConflict, st, string(raw))
	require.NoError(t, json.Unmarshal(raw, &out))
	require.Equal(t, "channel_exists", out.Error.Code)
	require.NotContains(t, string(raw), whatsapptest.DefaultAccessToken)
	var list struct {
		Channels []any `json:"channels"`
	}
	_, _, err = e.c.Do(ctx, "GET", "/api/v1/channels", cr.AccessToken, nil, &list)
	require.NoError(t, err)
	require.Len(t, list.Channels, 1)
}
