package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/serviceworker"
	"github.com/chromedp/chromedp"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/events"
	cwbus "github.com/coachwire/coachwire/internal/bus"
	"github.com/coachwire/coachwire/internal/channels/webpushtest"
	"github.com/coachwire/coachwire/internal/llm/ollamatest"
	"github.com/coachwire/coachwire/internal/testenv"
)

// appScreenshot is where TestAppInBrowser saves the phone screenshot the README shows
// (COACHWIRE_SCREENSHOTS=1).
const appScreenshot = "../../docs/app-phone.png"

// TestAppInBrowser is the installable app (/a/<slug>/, docs/app.md) in a real Chromium at phone
// size: the manifest and icons are checked, the service worker installs and controls the page,
// the person goes offline (network emulation), writes two messages (shown as waiting, kept
// across a reload), comes back online and sees exactly two replies in order, the database
// holding each message once. Then the STOP button opts out through the same path as typing STOP,
// "forget me" erases the memory, the tabs work from the keyboard, axe-core finds nothing serious,
// a push while the person looks at the conversation shows no notification, and with the app
// closed a reply is pushed by the server to the person's device (the loopback push service,
// which checks VAPID and decrypts) and that payload, delivered to the service worker with
// ServiceWorker.deliverPushMessage, shows a notification.
func TestAppInBrowser(t *testing.T) {
	t.Parallel()
	needChromium(t)
	axe, err := os.ReadFile(axeScript)
	require.NoError(t, err, "axe-core copy (make console)")
	h := newHarness(t, ollamatest.Options{DeltaDelay: 5 * time.Millisecond, ChunkSize: 6, Reply: appReply})
	wp := webpushtest.New(t, "")
	cfg := h.config()
	cfg.PushAllowOrigins = []string{wp.URL}
	cfg.VAPIDSubject = "mailto:ops@coach.example"
	a := h.start(cfg)
	c := testenv.NewClient(a.URL)
	cr := c.Register(t)
	c.AddDocument(t, cr, "Building habits", "markdown", uxHabitDoc)
	patchWidget(t, c, cr, map[string]any{"name": "Maya Chen", "color": "#0f766e", "welcome": "Hi, I'm Maya. Ask me about sleep and habits."})

	// The slug: generated from the name on first read, editable, unique.
	var ws struct {
		AppSlug string `json:"app_slug"`
		AppURL  string `json:"app_url"`
	}
	st, raw, err := c.Do(context.Background(), "GET", "/api/v1/widget/settings", cr.AccessToken, nil, &ws)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, st, string(raw))
	require.Equal(t, "maya-chen", ws.AppSlug)
	other := c.Register(t)
	st, raw, err = c.Do(context.Background(), "PATCH", "/api/v1/widget/settings", other.AccessToken, map[string]any{"app_slug": "maya-chen"}, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusConflict, st, "another creator's slug: %s", raw)
	st, _, err = c.Do(context.Background(), "PATCH", "/api/v1/widget/settings", cr.AccessToken, map[string]any{"app_slug": "maya"}, &ws)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, st)
	require.Equal(t, "maya", ws.AppSlug)
	require.Equal(t, a.URL+"/a/maya/", ws.AppURL)

	checkManifest(t, a.URL, "maya")

	b := newConsoleBrowser(t, "app", `{url: location.href, state: window.coachwireApp && window.coachwireApp.state(), html: document.body.innerText.slice(0, 1500)}`)
	var (
		regMu sync.Mutex
		regID serviceworker.RegistrationID
	)
	require.NoError(t, chromedp.Listen(b.ctx, func(ev any) {
		if e, ok := ev.(*serviceworker.EventWorkerRegistrationUpdated); ok {
			for _, r := range e.Registrations {
				if strings.HasSuffix(r.ScopeURL, "/a/maya/") && !r.IsDeleted {
					regMu.Lock()
					regID = r.RegistrationID
					regMu.Unlock()
				}
			}
		}
	}))
	b.do(t, "grant notifications", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
			Permission: &cdpbrowser.PermissionDescriptor{Name: "notifications"}, Setting: cdpbrowser.PermissionSettingGranted, Origin: a.URL})
		if err != nil {
			return err
		}
		_, err = cdp.Call(ctx, tg, serviceworker.Enable, cdp.Empty{})
		return err
	}))
	b.resize(t, phone)
	b.do(t, "open the app", chromedp.Navigate(a.URL+"/a/maya"))
	b.poll(t, "the app online with its service worker in control",
		`window.coachwireApp && coachwireApp.state().ready && coachwireApp.state().worker && coachwireApp.state().controlled`)
	require.Equal(t, a.URL+"/a/maya/", b.eval(t, `location.href`), "/a/<slug> redirects into the app's scope")
	require.Equal(t, "Maya Chen", b.eval(t, `document.getElementById('name').textContent`))

	// Offline: two messages wait in the outbox, labelled, and survive a reload of the cached shell.
	b.do(t, "go offline", setOffline(true))
	b.poll(t, "offline", `coachwireApp.state().status === 'offline'`)
	questions := []string{"How do I start a tiny habit?", "What if I miss a day?"}
	for _, q := range questions {
		b.do(t, "focus the input", chromedp.Focus(chromedp.CSS(`#input`)))
		b.do(t, "type", chromedp.SendKeys(chromedp.CSS(`#input`), q))
		b.do(t, "press Enter", pressEnter())
	}
	b.poll(t, "two waiting messages", `coachwireApp.state().outbox.length === 2 && document.querySelectorAll('.msg.user.waiting').length === 2 && !document.getElementById('banner').hidden`)
	require.Contains(t, b.eval(t, `document.getElementById('banner').textContent`), "2 messages are waiting")
	require.Equal(t, "Waiting to send", b.eval(t, `document.querySelector('.msg.user.waiting .meta').textContent`))
	b.do(t, "reload while offline", chromedp.Reload())
	b.poll(t, "the outbox restored", `window.coachwireApp && coachwireApp.state().outbox.length === 2 && document.querySelectorAll('.msg.user.waiting').length === 2`)
	require.Equal(t, `["How do I start a tiny habit?","What if I miss a day?"]`, b.eval(t, `JSON.stringify(coachwireApp.state().outbox)`))

	// Online again: sent once each, in order, each answered.
	b.do(t, "go online", setOffline(false))
	b.poll(t, "two replies", `coachwireApp.state().outbox.length === 0 && document.querySelectorAll('.msg.assistant').length === 2 && !document.querySelector('.msg.draft')`)
	texts := run(t, b, "the conversation", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('#log .msg')).map((e) => e.className.split(' ')[1] + ': ' + e.querySelector('.text').textContent)`))
	require.Len(t, texts, 4, "%q", texts)
	require.Equal(t, "user: "+questions[0], texts[0])
	require.True(t, strings.HasPrefix(texts[1], "assistant: ") && strings.Contains(texts[1], "tiny habit"), "first reply answers the first message: %q", texts[1])
	require.Equal(t, "user: "+questions[1], texts[2])
	require.True(t, strings.HasPrefix(texts[3], "assistant: ") && strings.Contains(texts[3], "miss a day"), "second reply answers the second message: %q", texts[3])
	conv := b.eval(t, `coachwireApp.state().conversation`)
	var msgs struct {
		Messages []struct {
			Role   string `json:"role"`
			Body   string `json:"body"`
			Status string `json:"status"`
		} `json:"messages"`
	}
	st, raw, err = c.Do(context.Background(), "GET", "/api/v1/conversations/"+conv+"/messages", cr.AccessToken, nil, &msgs)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, st, string(raw))
	var roles []string
	for _, m := range msgs.Messages {
		roles = append(roles, m.Role)
	}
	require.Equal(t, []string{"user", "assistant", "user", "assistant"}, roles, "each message stored once, each answered once: %s", raw)
	// The app reports what it shows, as the widget does: both replies become read.
	testenv.Eventually(t, browserWait, func() bool {
		_, _, err := c.Do(context.Background(), "GET", "/api/v1/conversations/"+conv+"/messages", cr.AccessToken, nil, &msgs)
		return err == nil && len(msgs.Messages) == 4 && msgs.Messages[1].Status == "read" && msgs.Messages[3].Status == "read"
	}, "the replies to be read")

	// axe at phone size, and the screenshot for the README.
	b.shootApp(t, axe, "chat")

	// The coach's replies are the widget's safe Markdown subset, built node by node: the [1]
	// citation is a marker, **bold** and a list are elements, and HTML in a reply stays text.
	require.Equal(t, "[1]", b.eval(t, `document.querySelector('#log .msg.assistant .text .ref').textContent`), "the citation marker")
	require.Equal(t, "true", b.eval(t, `String(!!coachwireApp.send('Format a plan for me'))`), "a message sent")
	b.poll(t, "the formatted reply", `Array.from(document.querySelectorAll('#log .msg.assistant .text')).some((e) => e.querySelector('strong'))`)
	require.Equal(t, `{"strong":"Start small","items":["one push-up","one line in a journal"],"img":0,"xss":false,"text":true}`, b.eval(t, `(() => {
	  const r = Array.from(document.querySelectorAll('#log .msg.assistant .text')).find((e) => e.querySelector('strong'));
	  return JSON.stringify({strong: r.querySelector('strong').textContent, items: Array.from(r.querySelectorAll('ul > li')).map((l) => l.textContent),
	    img: document.querySelectorAll('#log img').length, xss: !!window.__xss, text: r.textContent.includes('<img src=x onerror=window.__xss=1>')});
	})()`), "the Markdown reply")

	// Keyboard: the tabs are buttons; Enter on "You" shows the person's page.
	b.do(t, "focus the You tab", chromedp.Focus(chromedp.CSS(`#tab-you`)))
	b.do(t, "press Enter", pressEnter())
	b.poll(t, "the You view", `!document.getElementById('view-you').hidden && document.getElementById('tab-you').getAttribute('aria-current') === 'page' && document.getElementById('opt-state').textContent !== ''`)
	b.axe(t, axe, "the app's You view at phone size")
	// The notification switch's result is announced: a polite live region.
	require.Equal(t, "status polite", b.eval(t, `(() => { const e = document.getElementById('notif-state'); return e.getAttribute('role') + ' ' + e.getAttribute('aria-live'); })()`))

	// STOP: the button sends the word, the same path as typing it; the person is opted out.
	b.do(t, "click STOP", chromedp.Click(chromedp.CSS(`#stop`)))
	b.poll(t, "the opt-out answer", `Array.from(document.querySelectorAll('.msg.assistant')).some((e) => e.textContent.includes("You're unsubscribed"))`)
	// The button's view is hidden by the click: focus moves to the chat tab, not to the page.
	require.Equal(t, "tab-chat", b.eval(t, `document.activeElement ? document.activeElement.id : ''`), "focus after STOP")
	var me struct {
		EndUserID string `json:"end_user_id"`
		OptedOut  bool   `json:"opted_out"`
		Timezone  string `json:"timezone"`
	}
	tok := run(t, b, "the session token", chromedp.Evaluate[string](`fetch('/api/v1/app/session', {method: 'POST', headers: {'Content-Type': 'application/json'},
	  body: JSON.stringify({slug: 'maya', anon_id: JSON.parse(localStorage.getItem('coachwire-app:maya')).anon_id})}).then((r) => r.json()).then((s) => s.token)`, chromedp.EvalAwaitPromise))
	st, raw, err = c.Do(context.Background(), "GET", "/api/v1/app/me", tok, nil, &me)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, st, string(raw))
	require.True(t, me.OptedOut, "STOP opted the person out: %s", raw)

	// Forget me.
	run(t, b, "confirm dialogs", chromedp.Evaluate[bool](`window.confirm = () => true; true`))
	b.do(t, "back to You", chromedp.Click(chromedp.CSS(`#tab-you`)))
	b.do(t, "click Forget me", chromedp.Click(chromedp.CSS(`#forget`)))
	b.poll(t, "the empty memory", `document.getElementById('memory').textContent.includes('Nothing yet')`)
	// A notification tapped while the app is open: the worker focuses it and posts open-chat,
	// which shows the Chat tab (the worker's message, as the page receives it).
	run(t, b, "the worker's open-chat", chromedp.Evaluate[bool](`navigator.serviceWorker.dispatchEvent(new MessageEvent('message', {data: {type: 'open-chat'}})); true`))
	b.poll(t, "the chat shown", `!document.getElementById('view-chat').hidden && document.getElementById('view-you').hidden && document.getElementById('tab-chat').getAttribute('aria-current') === 'page'`)

	// In the background (another app in front, the page still alive) the socket closes, so the
	// server pushes the next reply as a notification instead of writing it to a hidden page;
	// back in front, the app reconnects and resumes.
	conn := ownerConn(t, h)
	sockets := func() int {
		var n int
		require.NoError(t, conn.QueryRow(context.Background(), `SELECT count(*) FROM socket_leases l JOIN socket_holders h ON h.holder = l.holder
			WHERE l.session = sha256(convert_to('widget:conversation:' || $1::text, 'UTF8'))`, conv).Scan(&n))
		return n
	}
	require.Equal(t, 1, sockets(), "the app's socket is open")
	run(t, b, "the app goes to the background", chromedp.Evaluate[bool](`Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => 'hidden'});
	  document.dispatchEvent(new Event('visibilitychange')); true`))
	b.poll(t, "the socket closed in the background", `coachwireApp.state().status === 'offline'`)
	testenv.Eventually(t, browserWait, func() bool { return sockets() == 0 }, "the app's socket closed in the background")
	// It comes back with its session expired (an hour later) and the network returning at the
	// same moment: two reasons to connect, one session request and one socket.
	run(t, b, "the app comes back", chromedp.Evaluate[bool](`window.__sockets = 0; window.__sessions = 0;
	  window.__WebSocket = WebSocket; window.WebSocket = function (u, p) { window.__sockets++; return new window.__WebSocket(u, p); };
	  window.__fetch = fetch; window.fetch = function (u, o) { if (String(u).includes('/app/session')) window.__sessions++; return window.__fetch(u, o); };
	  window.__now = Date.now; Date.now = () => window.__now.call(Date) + 3600e3;
	  delete document.visibilityState; document.dispatchEvent(new Event('visibilitychange')); window.dispatchEvent(new Event('online')); true`))
	b.poll(t, "the app online again", `coachwireApp.state().ready`)
	require.Equal(t, "1 1", b.eval(t, `window.__sessions + ' ' + window.__sockets`), "session requests and sockets on coming back")
	run(t, b, "the real clock", chromedp.Evaluate[bool](`Date.now = window.__now; window.WebSocket = window.__WebSocket; window.fetch = window.__fetch; true`))

	regMu.Lock()
	id := regID
	regMu.Unlock()
	require.NotEmpty(t, id, "the service worker's registration was reported")
	push := func(body string) {
		payload, _ := json.Marshal(map[string]any{"title": "Maya Chen", "body": body, "conversation_id": conv, "seq": 9, "url": "/a/maya/"})
		b.do(t, "deliver a push", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, serviceworker.DeliverPushMessage, serviceworker.DeliverPushMessageParams{Origin: a.URL, RegistrationID: id, Data: string(payload)})
			return err
		}))
	}
	// A push while the person looks at the conversation: no notification, the app is told.
	b.do(t, "back to the chat", chromedp.Click(chromedp.CSS(`#tab-chat`)))
	b.do(t, "focus the page", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetFocusEmulationEnabled, emulation.SetFocusEmulationEnabledParams{Enabled: true})
		return err
	}))
	push("You are reading this already")
	b.poll(t, "the app told of the push", `coachwireApp.state().pushesShownHere === 1`)
	require.Equal(t, "0", run(t, b, "notifications", chromedp.Evaluate[string](`navigator.serviceWorker.ready.then((r) => r.getNotifications()).then((ns) => String(ns.length))`, chromedp.EvalAwaitPromise)),
		"no notification over the open conversation")

	// A reply while no app page is open: the server pushes it to the person's device (the
	// loopback push service decrypts it), and that push, delivered to the service worker, shows
	// a notification.
	var key struct {
		PublicKey string `json:"public_key"`
	}
	st, raw, err = c.Do(context.Background(), "GET", "/api/v1/app/push/key", tok, nil, &key)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, st, string(raw))
	wp.SetVAPID(key.PublicKey)
	device := wp.Subscribe()
	st, raw, err = c.Do(context.Background(), "POST", "/api/v1/app/push/subscriptions", tok, device.JSON("phone"), nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, st, string(raw))
	b.do(t, "leave the app", chromedp.Navigate(a.URL+"/healthz"))
	testenv.Eventually(t, browserWait, func() bool { return sockets() == 0 }, "the app's socket closed")
	bus := testenv.BusAt(t, h.natsURL)
	msgID := uuid.NewString()
	ev := events.New(cr.ID, events.MessageReceived{Channel: events.ChannelApp, ProviderMessageID: msgID, EndUserID: uuid.MustParse(me.EndUserID),
		ConversationID: uuid.MustParse(conv), Text: "How do I keep a tiny habit going?"}, nil, time.Now())
	require.NoError(t, cwbus.PublishEvent(context.Background(), bus, events.InboundSubject(cr.ID, events.ChannelApp), "app:"+msgID, ev))
	testenv.Eventually(t, browserWait, func() bool { return len(wp.Messages(device)) == 1 }, "the reply pushed")
	require.Empty(t, wp.Problems())
	pm := wp.Messages(device)[0].Payload
	require.Equal(t, conv, pm.ConversationID)
	require.Contains(t, pm.Body, "tiny habit")
	payload, err := json.Marshal(pm)
	require.NoError(t, err)
	b.do(t, "deliver the push", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, serviceworker.DeliverPushMessage, serviceworker.DeliverPushMessageParams{Origin: a.URL, RegistrationID: id, Data: string(payload)})
		return err
	}))
	b.poll(t, "the notification", fmt.Sprintf(`navigator.serviceWorker.getRegistration('/a/maya/').then((r) => r.getNotifications()).then((ns) => ns.length === 1 && ns[0].title === %q && ns[0].body === %q)`, pm.Title, pm.Body))
	require.Empty(t, b.exceptions(), "uncaught exceptions on the page")
}

// appReply is the loopback model's answer in the app test: a short coaching reply citing the
// habits guide, naming the question it answers.
func appReply(req ollamatest.ChatRequest) string {
	q := ""
	for _, m := range req.Messages {
		if m.Role == "user" {
			q = m.Content
		}
	}
	switch {
	case strings.Contains(q, "Format a plan"):
		return "**Start small** this week:\n\n- one push-up\n- one line in a journal\n\nNot a picture: <img src=x onerror=window.__xss=1>"
	case strings.Contains(q, "miss a day"):
		return "Missing a day is normal; the rule is never to miss twice. If you miss a day, pick the habit up at its usual moment " +
			"the next day, without making up for it [1]. Missing often means the step is still too big: make it smaller."
	case strings.Contains(q, "tiny habit"):
		return "Make it so small you can't say no: one push-up, one line in a journal. Attach the tiny habit to something you " +
			"already do every day, like brushing your teeth, and let that routine carry it [1]. Grow it once it feels easy for a week."
	}
	return ollamatest.DefaultReply(req)
}

// checkManifest validates the app's manifest and icons over HTTP.
func checkManifest(t *testing.T, base, slug string) {
	t.Helper()
	get := func(path string, hdr ...string) *http.Response {
		req, err := http.NewRequest("GET", base+path, nil)
		require.NoError(t, err)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		t.Cleanup(func() { res.Body.Close() })
		return res
	}
	res := get("/a/" + slug + "/manifest.webmanifest")
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, "application/manifest+json", res.Header.Get("Content-Type"))
	var m struct {
		Name, ShortName, StartURL, Scope, Display, ThemeColor, BackgroundColor string
		Icons                                                                  []struct{ Src, Sizes, Type, Purpose string }
	}
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	var generic map[string]any
	require.NoError(t, json.Unmarshal(raw, &generic))
	for _, k := range []string{"name", "short_name", "start_url", "scope", "display", "theme_color", "background_color", "icons"} {
		require.Contains(t, generic, k, "manifest field %s", k)
	}
	m.Name, m.ShortName, m.StartURL, m.Scope = generic["name"].(string), generic["short_name"].(string), generic["start_url"].(string), generic["scope"].(string)
	m.Display, m.ThemeColor = generic["display"].(string), generic["theme_color"].(string)
	require.Equal(t, "Maya Chen", m.Name)
	require.Equal(t, "Maya Chen", m.ShortName)
	require.Equal(t, "/a/"+slug+"/", m.StartURL)
	require.Equal(t, "/a/"+slug+"/", m.Scope)
	require.Equal(t, "standalone", m.Display)
	require.Equal(t, "#0f766e", m.ThemeColor)
	icons, _ := json.Marshal(generic["icons"])
	require.NoError(t, json.Unmarshal(icons, &m.Icons))
	require.Len(t, m.Icons, 3)
	want := map[string]int{"192x192 any": 192, "512x512 any": 512, "512x512 maskable": 512}
	srcs := []string{"/a/" + slug + "/icons/apple-touch-icon.png"}
	sizes := []int{180}
	for _, ic := range m.Icons {
		n, ok := want[ic.Sizes+" "+ic.Purpose]
		require.True(t, ok, "icon %+v", ic)
		require.Equal(t, "image/png", ic.Type)
		srcs, sizes = append(srcs, ic.Src), append(sizes, n)
	}
	for i, src := range srcs {
		res := get(src)
		require.Equal(t, http.StatusOK, res.StatusCode, src)
		require.Equal(t, "image/png", res.Header.Get("Content-Type"), src)
		b, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		img, err := png.Decode(bytes.NewReader(b))
		require.NoError(t, err, "%s decodes as PNG", src)
		require.Equal(t, sizes[i], img.Bounds().Dx(), src)
		require.Equal(t, sizes[i], img.Bounds().Dy(), src)
		etag := res.Header.Get("ETag")
		require.NotEmpty(t, etag, src)
		require.Equal(t, http.StatusNotModified, get(src, "If-None-Match", etag).StatusCode, "%s revalidates with its ETag", src)
	}
	// The shell: the widget's kind of CSP, the manifest and the service worker under the scope.
	res = get("/a/" + slug + "/")
	require.Equal(t, http.StatusOK, res.StatusCode)
	csp := res.Header.Get("Content-Security-Policy")
	require.Contains(t, csp, "script-src 'self'")
	require.Contains(t, csp, "frame-ancestors 'none'")
	page, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.Contains(t, string(page), fmt.Sprintf(`<link rel="manifest" href="/a/%s/manifest.webmanifest">`, slug))
	require.Equal(t, http.StatusNotFound, get("/a/no-such-coach/").StatusCode)
}

// shootApp runs axe-core on the app and, with COACHWIRE_SCREENSHOTS=1, saves the phone
// screenshot the README shows.
func (b *browser) shootApp(t *testing.T, axe []byte, state string) {
	t.Helper()
	run(t, b, "settle", chromedp.Evaluate[bool](`new Promise((r) => requestAnimationFrame(() => setTimeout(() => r(true), 250)))`, chromedp.EvalAwaitPromise))
	if os.Getenv(consoleScreenshotEnv) == "1" {
		png := run(t, b, "screenshot "+state, chromedp.CaptureScreenshot())
		require.NoError(t, os.MkdirAll(filepath.Dir(appScreenshot), 0o755))
		require.NoError(t, os.WriteFile(appScreenshot, png, 0o644))
	}
	b.axe(t, axe, "the app's "+state+" at phone size")
}
