package gateway_test

import (
	"context"
	"encoding/json"
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
