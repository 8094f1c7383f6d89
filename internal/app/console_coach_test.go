package app_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/channels/telegramtest"
	"github.com/coachwire/coachwire/internal/channels/whatsapptest"
	"github.com/coachwire/coachwire/internal/llm/ollamatest"
	"github.com/coachwire/coachwire/internal/testenv"
)

// previewRoot is the widget's shadow root inside the console's preview frame.
const previewRoot = `document.querySelector('.preview-frame iframe')?.contentDocument?.getElementById('coachwire-widget')?.shadowRoot`

// TestConsoleCoachInBrowser drives the Coach & widget and Channels pages in Chromium against the
// whole stack and the loopback Telegram and WhatsApp APIs. Coach & widget: the live preview (the
// real widget.js in a frame) shows a new name, greeting and colour as they are typed, before
// saving; a refused avatar URL is explained next to its field; Save persists; a question asked
// in the preview is answered from an uploaded document; the embed snippet is copied. Channels: a
// bad Telegram token shows Telegram's refusal next to the field and saves nothing; a good one
// saves, and the token is never displayed again; test; remove through the confirmation; a
// WhatsApp number checked with the Graph lookup, with its webhook URL and verify token where
// Meta needs them. Keyboard only, axe-core (0 serious or critical) on each page in its
// most complete states (errors, dialog) at desktop and phone width, and no CSP violation.
func TestConsoleCoachInBrowser(t *testing.T) {
	t.Parallel()
	axe := consoleAxe(t)
	h := newHarness(t, ollamatest.Options{})
	tg := telegramtest.New(t)
	wa := whatsapptest.New(t)
	cfg := h.config()
	cfg.TelegramAPIURL, cfg.WhatsAppAPIURL, cfg.SecretKeys = tg.URL, wa.URL, testSecretKeys
	a := h.start(cfg)
	c := testenv.NewClient(a.URL)
	cr := c.Register(t)
	c.AddDocument(t, cr, "Box breathing", "markdown", "# Box breathing\n\nBreathe in for four counts, hold for four, "+
		"breathe out for four and hold for four. Repeat five times when stress rises.\n")
	settings := func() map[string]any {
		var s map[string]any
		st, raw, err := c.Do(context.Background(), "GET", "/api/v1/widget/settings", cr.AccessToken, nil, &s)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, st, string(raw))
		return s
	}
	channelsJSON := func() string {
		st, raw, err := c.Do(context.Background(), "GET", "/api/v1/channels", cr.AccessToken, nil, nil)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, st, string(raw))
		return string(raw)
	}

	b := newConsoleBrowser(t, "console", `{path: location.pathname, text: document.body.innerText.slice(0, 3000),
		  preview: (() => { try { return document.querySelector('.preview-frame iframe').contentWindow.coachwire.state(); } catch (e) { return String(e); } })()}`)
	b.do(t, "allow the clipboard", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		for _, name := range []string{"clipboard-read", "clipboard-write"} {
			if _, err := cdp.Call(ctx, tg, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
				Permission: &cdpbrowser.PermissionDescriptor{Name: name}, Setting: cdpbrowser.PermissionSettingGranted, Origin: a.URL,
				BrowserContextID: b.browserContext()}); err != nil {
				return err
			}
		}
		_, err := cdp.Call(ctx, tg, emulation.SetFocusEmulationEnabled, emulation.SetFocusEmulationEnabledParams{Enabled: true})
		return err
	}))
	// noCSPInPreview: the preview page's own policy blocked nothing either.
	noCSPInPreview := func(state string) {
		t.Helper()
		require.Equal(t, "[]", b.eval(t, `JSON.stringify(document.querySelector('.preview-frame iframe')?.contentWindow.__cspViolations || [])`),
			"CSP violations in the preview frame on %s", state)
	}

	b.do(t, "open the console", chromedp.Navigate(a.URL+"/console/coach"))
	b.poll(t, "the sign-in page", `document.querySelector('h1')?.textContent === 'Sign in'`)
	b.typeInto(t, "type the email", `#signin-email`, cr.Email)
	b.typeInto(t, "type the password", `#signin-password`, "correct horse battery")
	b.do(t, "press Enter", pressEnter())
	b.poll(t, "the Coach & widget page", `location.pathname === '/console/coach' && document.querySelector('h1')?.textContent === 'Coach & widget'`)
	require.Equal(t, "page", b.eval(t, `document.querySelector('#console-nav a[href="/console/coach"]').getAttribute('aria-current')`))

	// The preview: the real widget, opened, connected, with the saved coach.
	b.poll(t, "the preview's widget online", previewRoot+`?.querySelector('.cw-status')?.getAttribute('data-state') === 'online' && `+
		previewRoot+`?.querySelector('.cw-title')?.textContent === 'Coach'`)
	require.Equal(t, "Coach", b.eval(t, `document.querySelector('#coach-name').value`))
	noCSPInPreview("coach & widget")

	// Typing changes the preview at once, before anything is saved.
	b.do(t, "select the name", chromedp.Evaluate[chromedp.Void](`(() => { const e = document.querySelector('#coach-name'); e.focus(); e.select(); })()`))
	b.do(t, "type a new name", chromedp.KeyEvent("Maya"))
	b.poll(t, "the preview's new title", previewRoot+`?.querySelector('.cw-title').textContent === 'Maya'`)
	b.typeInto(t, "type a greeting", `#coach-welcome`, "Hi, I am **Maya**. Ask me about breathing.")
	b.poll(t, "the preview's new greeting", previewRoot+`?.querySelector('#cw-welcome-text').textContent === 'Hi, I am Maya. Ask me about breathing.' && `+
		previewRoot+`?.querySelector('#cw-welcome-text strong')?.textContent === 'Maya'`)
	b.do(t, "select the colour", chromedp.Evaluate[chromedp.Void](`(() => { const e = document.querySelector('#look-color'); e.focus(); e.select(); })()`))
	b.do(t, "type a colour", chromedp.KeyEvent("#0f766e"))
	previewHost := `document.querySelector('.preview-frame iframe').contentDocument.getElementById('coachwire-widget')`
	b.poll(t, "the preview's new accent", previewHost+`.style.getPropertyValue('--cw-accent') === '#0f766e' && `+
		`getComputedStyle(`+previewRoot+`?.querySelector('.cw-header')).backgroundColor === 'rgb(15, 118, 110)'`)
	b.typeInto(t, "type a suggestion", `#coach-sg-0`, "How do I calm down fast?")
	b.poll(t, "the preview's suggestion", previewRoot+`?.querySelector('.cw-chip')?.textContent === 'How do I calm down fast?'`)
	require.Equal(t, "Unsaved changes (shown in the preview)", b.eval(t, `document.querySelector('.save-state').textContent`))
	require.Equal(t, "Coach", settings()["name"], "nothing is saved while typing")

	// A refused value is explained next to its field, with the API's own words, and focused.
	b.typeInto(t, "type a bad avatar URL", `#coach-avatar`, "ftp://pics.example/maya.png")
	b.do(t, "focus Save", chromedp.Focus(chromedp.Search(`//button[text()="Save"]`)))
	b.do(t, "press Enter", pressEnter())
	b.poll(t, "the avatar error", `document.querySelector('#coach-avatar-error')?.textContent === 'avatar_url must be an http(s) URL' && document.activeElement.id === 'coach-avatar'`)
	require.Equal(t, "true", b.eval(t, `document.querySelector('#coach-avatar').getAttribute('aria-invalid')`))
	require.Contains(t, b.eval(t, `document.querySelector('#coach-avatar').getAttribute('aria-describedby')`), "coach-avatar-error")
	b.axe(t, axe, "coach & widget, a refused field")
	require.Equal(t, "Coach", settings()["name"], "a refused save changes nothing")
	b.do(t, "clear the avatar", chromedp.Evaluate[chromedp.Void](`document.querySelector('#coach-avatar').select()`))
	b.do(t, "delete it", chromedp.KeyEvent("\b"))
	b.poll(t, "the error gone", `!document.querySelector('#coach-avatar-error')`)

	// Save, from the keyboard: the settings are stored.
	b.do(t, "focus Save", chromedp.Focus(chromedp.Search(`//button[text()="Save"]`)))
	b.do(t, "press Enter", pressEnter())
	b.poll(t, "saved", `document.querySelector('.save-state').textContent.startsWith('Saved.')`)
	s := settings()
	require.Equal(t, "Maya", s["name"])
	require.Equal(t, "Hi, I am **Maya**. Ask me about breathing.", s["welcome"])
	require.Equal(t, []any{"How do I calm down fast?"}, s["suggestions"])
	require.Equal(t, "#0f766e", s["color"], "the look is saved with the settings")

	// A question in the preview is answered from the uploaded document. From the keyboard, Tab
	// goes from the last control before the preview into the frame's widget; the test then
	// focuses the widget's input and types with real key events.
	b.do(t, "focus Phone size", chromedp.Focus(chromedp.Search(`//button[text()="Phone size"]`)))
	b.do(t, "press Tab", chromedp.KeyEvent("\t"))
	require.Equal(t, "IFRAME coachwire-widget", b.eval(t, `document.activeElement.tagName + ' ' + document.activeElement.contentDocument?.activeElement?.id`),
		"Tab enters the preview's widget")
	b.do(t, "focus the preview's input", chromedp.Evaluate[chromedp.Void](previewRoot+`?.querySelector('.cw-input').focus()`))
	b.do(t, "type a question", chromedp.KeyEvent("How does box breathing work?"))
	b.do(t, "press Enter", pressEnter())
	frameState := `document.querySelector('.preview-frame iframe').contentWindow.coachwire.state()`
	b.poll(t, "the answer in the preview", `(() => { const m = `+frameState+`.messages.filter((m) => m.role === 'assistant' && !m.pending);
	  return m.length === 1 && m[0].sources.some((s) => s.title === 'Box breathing') && `+frameState+`.drafts.length === 0; })()`)
	answer := b.eval(t, frameState+`.messages.find((m) => m.role === 'assistant').text`)
	require.Contains(t, answer, "box breathing", "the loopback model quotes the question")
	require.Contains(t, answer, "four counts", "the answer quotes the document")
	noCSPInPreview("coach & widget, answered")

	// The embed snippet, copied with the keyboard.
	snippet := b.eval(t, `document.querySelector('#embed-snippet').textContent`)
	require.Equal(t, `<script src="`+a.URL+`/widget.js" data-widget-key="`+cr.WidgetKey+`" async></script>`, snippet)
	b.do(t, "focus Copy snippet", chromedp.Focus(chromedp.Search(`//button[text()="Copy snippet"]`)))
	b.do(t, "press Enter", pressEnter())
	b.poll(t, "copied", `document.querySelector('.copy-status')?.textContent === 'Copied'`)
	require.Equal(t, snippet, run(t, b, "read the clipboard", chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise)))
	b.axe(t, axe, "coach & widget, saved and copied")

	// Channels, through the navigation.
	b.do(t, "focus the Channels link", chromedp.Focus(chromedp.CSS(`#console-nav a[href="/console/channels"]`)))
	b.do(t, "press Enter", pressEnter())
	b.poll(t, "the Channels page", `location.pathname === '/console/channels' && document.querySelector('h1')?.textContent === 'Channels' && document.querySelector('.empty-title')?.textContent === 'No channels yet'`)

	// A bad bot token: Telegram's refusal beside the field, nothing saved.
	const badToken = "123456789:not-the-right-token"
	b.typeInto(t, "type a name", `#ch-name`, "Maya on Telegram")
	b.typeInto(t, "type a bad token", `#ch-bot-token`, badToken)
	b.do(t, "press Enter", pressEnter())
	b.poll(t, "the token error", `document.querySelector('#ch-bot-token-error')?.textContent === 'Telegram refused getMe (check the bot token): Unauthorized' && document.activeElement.id === 'ch-bot-token'`)
	require.Equal(t, "true", b.eval(t, `document.querySelector('#ch-bot-token').getAttribute('aria-invalid')`))
	require.JSONEq(t, `{"channels": []}`, channelsJSON(), "a refused token saves nothing")
	b.axe(t, axe, "channels, refused token")

	// The right token: saved, the bot's webhook set, and the token gone from the page for good.
	b.do(t, "select the token", chromedp.Evaluate[chromedp.Void](`document.querySelector('#ch-bot-token').select()`))
	b.do(t, "type the right token", chromedp.KeyEvent(telegramtest.DefaultToken))
	b.do(t, "press Enter", pressEnter())
	b.poll(t, "the connected notice", `document.querySelector('#added-h')?.textContent === 'Maya on Telegram is connected' && document.activeElement.classList.contains('added')`)
	b.poll(t, "the channel listed", `document.querySelectorAll('li.channel').length === 1 && document.querySelector('li.channel .doc-sub').textContent.includes('@test_coach_bot')`)
	hook, _ := tg.LastWebhook()
	require.Contains(t, hook, "/webhooks/telegram/")
	require.Equal(t, hook, b.eval(t, `document.querySelector('li.channel .webhook-url').textContent`))
	require.Empty(t, b.eval(t, `document.querySelector('#ch-bot-token').value`), "the form forgets the token")
	pageHasToken := `document.documentElement.outerHTML.includes(%q) || document.body.innerText.includes(%q) || Array.from(document.querySelectorAll('input')).some((i) => i.value.includes(%q))`
	secret := strings.SplitN(telegramtest.DefaultToken, ":", 2)[1]
	require.Equal(t, "false", b.eval(t, `String(`+strings.ReplaceAll(pageHasToken, "%q", `'`+secret+`'`)+`)`))
	require.NotContains(t, channelsJSON(), secret, "the API never returns the token")
	b.axe(t, axe, "channels, connected")
	b.do(t, "reload", chromedp.Reload())
	b.poll(t, "the channel after a reload", `document.querySelectorAll('li.channel').length === 1`)
	require.Equal(t, "false", b.eval(t, `String(`+strings.ReplaceAll(pageHasToken, "%q", `'`+secret+`'`)+`)`), "not shown again after a reload")

	// Test: Telegram is asked again with the stored token.
	b.do(t, "focus Test", chromedp.Focus(chromedp.Search(`//li[contains(@class,"channel")]//button[starts-with(., "Test")]`)))
	b.do(t, "press Enter", pressEnter())
	b.poll(t, "the test result", `document.querySelector('li.channel .test-result')?.textContent === 'Test passed: @test_coach_bot answers and its webhook is set'`)

	// Remove, through the confirmation dialog.
	b.do(t, "focus Remove", chromedp.Focus(chromedp.Search(`//li[contains(@class,"channel")]//button[starts-with(., "Remove")]`)))
	b.do(t, "press Enter", pressEnter())
	b.poll(t, "the dialog", `document.querySelector('dialog.dialog')?.open && document.activeElement.textContent === 'Cancel'`)
	b.axe(t, axe, "channels, remove dialog")
	b.do(t, "press Tab", chromedp.KeyEvent("\t"))
	require.Equal(t, "Remove channel", b.eval(t, `document.activeElement.textContent`))
	b.do(t, "press Enter", pressEnter())
	b.poll(t, "the channel gone", `document.querySelectorAll('li.channel').length === 0 && document.querySelector('.empty-title')?.textContent === 'No channels yet'`)
	require.JSONEq(t, `{"channels": []}`, channelsJSON())
	hook, _ = tg.LastWebhook()
	require.Empty(t, hook, "the bot's webhook is removed")

	// WhatsApp at phone width: a phone number id WhatsApp does not know is refused beside its
	// field; the right one is saved, with the callback URL to paste at Meta.
	b.do(t, "phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	b.do(t, "focus the WhatsApp type", chromedp.Focus(chromedp.CSS(`input[name="channel-type"][value="telegram"]`)))
	b.do(t, "arrow to WhatsApp", chromedp.KeyEvent(kb.ArrowRight))
	b.poll(t, "the WhatsApp form", `document.querySelector('#ch-pnid') && document.querySelector('#ch-verify').value.length >= 20`)
	verify := b.eval(t, `document.querySelector('#ch-verify').value`)
	b.typeInto(t, "type a phone number id", `#ch-pnid`, "not-a-number")
	b.typeInto(t, "type the access token", `#ch-access`, whatsapptest.DefaultAccessToken)
	b.typeInto(t, "type the app secret", `#ch-app-secret`, "app-secret-for-tests")
	b.do(t, "focus the add button", chromedp.Focus(chromedp.Search(`//button[starts-with(., "Check and add")]`)))
	b.do(t, "press Enter", pressEnter())
	b.poll(t, "the phone number id error", `document.querySelector('#ch-pnid-error')?.textContent.startsWith("WhatsApp refused the phone number id: Unsupported get request. Object with ID 'not-a-number' does not exist")`)
	require.Equal(t, "0", b.eval(t, `String(document.documentElement.scrollWidth - window.innerWidth)`), "no horizontal scrolling at phone width")
	b.do(t, "select the id", chromedp.Evaluate[chromedp.Void](`document.querySelector('#ch-pnid').select()`))
	b.do(t, "type the right id", chromedp.KeyEvent(whatsapptest.DefaultPhoneNumberID))
	b.do(t, "focus the add button", chromedp.Focus(chromedp.Search(`//button[starts-with(., "Check and add")]`)))
	b.do(t, "press Enter", pressEnter())
	b.poll(t, "the WhatsApp channel", `document.querySelector('#added-h')?.textContent === 'WhatsApp is connected' && document.querySelectorAll('li.channel').length === 1`)
	callback := b.eval(t, `document.querySelector('.notice.added .webhook-url').textContent`)
	require.Contains(t, callback, "/webhooks/whatsapp/")
	require.NotContains(t, channelsJSON(), verify, "the API never returns the verify token")
	require.Equal(t, "false", b.eval(t, `String(`+strings.ReplaceAll(pageHasToken, "%q", `'`+whatsapptest.DefaultAccessToken+`'`)+`)`))
	// Meta's webhook handshake succeeds with the callback URL and the verify token.
	resp, err := http.Get(a.URL + callback[strings.Index(callback, "/webhooks/"):] + "?hub.mode=subscribe&hub.verify_token=" + verify + "&hub.challenge=42")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "the verify token from the form is the channel's")
	b.axe(t, axe, "channels at phone width, WhatsApp connected")

	// The Coach & widget page at phone width: one column, the preview works.
	b.do(t, "open Coach & widget", chromedp.Navigate(a.URL+"/console/coach"))
	b.poll(t, "the preview at phone width", previewRoot+`?.querySelector('.cw-title')?.textContent === 'Maya'`)
	require.Equal(t, "0", b.eval(t, `String(document.documentElement.scrollWidth - window.innerWidth)`), "no horizontal scrolling at phone width")
	b.axe(t, axe, "coach & widget at phone width")
	noCSPInPreview("coach & widget at phone width")

	require.Empty(t, b.exceptions(), "uncaught exceptions on the page")
}
