package app_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/llm/ollamatest"
	"github.com/coachwire/coachwire/internal/testenv"
)

// chromiumPath is Debian's chromium; `make deps-test` installs it.
const chromiumPath = "/usr/bin/chromium"

// browserWait bounds every wait on the page; the loopback model streams a reply of a
// couple of thousand characters in pieces tens of milliseconds apart, so replies take seconds.
const browserWait = 60 * time.Second

// widgetRoot is the JS expression for the widget's open shadow root.
const widgetRoot = `document.getElementById('coachwire-widget').shadowRoot`

// TestWidgetInBrowser loads the dev-mode demo page in a real headless Chromium and uses the
// embedded widget the way a visitor does: open the bubble, type a question, send it, watch the
// reply stream in as a draft, get the final reply with its sources (read: the open panel
// reports it seen), reload the page (history is restored, the socket reconnects and resumes,
// nothing is reported seen while the panel is closed) and ask a second question over the new
// socket.
func TestWidgetInBrowser(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("the widget browser test needs Chromium at %s (%v): run `make deps-test` "+
			"(or `apt-get install chromium`)", chromiumPath, err)
	}
	h := newHarness(t, ollamatest.Options{DeltaDelay: 80 * time.Millisecond, ChunkSize: 12})
	cfg := h.config()
	cfg.Dev = true
	// The demo reply quotes every passage (about 1.5k characters, ~125 deltas 80 ms apart, so
	// 10+ s): longer than the harness's 10 s turn lease and AckWait, which a turn must survive
	// (the lease is renewed while deltas flow). Twelve characters a delta rather than three:
	// the same 10 s with a quarter of the deltas, each of which the page lays out and paints
	// (Chromium's CPU), and still a draft that grows many times before the reply is final.
	a := h.start(cfg)
	token := waitDemoDocumentIndexed(t, a.URL, cfg.DataDir)

	b := newBrowser(t)
	t.Cleanup(func() {
		if t.Failed() {
			reqs := h.ollama.ChatRequests()
			for i, r := range reqs {
				t.Logf("chat request %d: reply of %d chars", i, len([]rune(ollamatest.DefaultReply(r))))
			}
		}
	})
	b.do(t, "load the demo page", chromedp.Navigate(a.URL+"/demo"))
	b.waitWidget(t)
	require.Equal(t, "offline", b.eval(t, widgetRoot+`.querySelector('.cw-status').getAttribute('data-state')`),
		"a closed widget without history does not connect")

	// Open the widget with a real click on the bubble inside the shadow root.
	b.do(t, "click the bubble", chromedp.Click(chromedp.JSPath(widgetRoot+`.querySelector('.cw-bubble')`)))
	b.poll(t, "the panel to open and the socket to come up",
		`!`+widgetRoot+`.querySelector('.cw-panel').hidden && `+
			widgetRoot+`.querySelector('.cw-status').getAttribute('data-state') === 'online' && window.coachwire.state().open`)

	// Ask with real key events into the textarea and a real click on the send button.
	const q1 = "How do I start a tiny habit that sticks?"
	first := b.ask(t, q1, func() {
		b.do(t, "click send", chromedp.Click(chromedp.JSPath(widgetRoot+`.querySelector('.cw-send')`)))
	})
	require.Len(t, first.Assistants, 1)
	reply1 := first.Assistants[0]
	require.Contains(t, reply1.Text, "tiny habit", "the loopback model quotes the question")
	require.Contains(t, reply1.Sources, "Building habits that stick")
	b.waitRead(t, a.URL, token, first.State.LastSeq)

	// Reload: the conversation comes back from sessionStorage, and because there is history the
	// widget reconnects on its own (closed panel) and resumes after the last seq it saw.
	b.do(t, "reload the page", chromedp.Reload())
	b.waitWidget(t)
	restored := b.snapshot(t)
	require.Len(t, restored.Assistants, 1, "the reply is still shown after a reload")
	require.Equal(t, reply1, restored.Assistants[0])
	require.Equal(t, []string{q1}, restored.Users)
	require.Equal(t, first.State.LastSeq, restored.State.LastSeq, "the last seen seq survives the reload")
	b.poll(t, "the widget to reconnect after the reload", widgetRoot+`.querySelector('.cw-status').getAttribute('data-state') === 'online'`)
	require.Zero(t, b.snapshot(t).State.SeenSeq, "nothing reported seen while the panel is closed")

	// Second question over the new socket, submitted with the Enter key this time.
	b.do(t, "click the bubble", chromedp.Click(chromedp.JSPath(widgetRoot+`.querySelector('.cw-bubble')`)))
	b.poll(t, "the panel to open", `!`+widgetRoot+`.querySelector('.cw-panel').hidden`)
	const q2 = "What should I do after I miss a day?"
	second := b.ask(t, q2, func() { b.do(t, "press Enter", pressEnter()) })
	require.Len(t, second.Assistants, 2, "two replies, the first one not replayed twice")
	require.Equal(t, reply1, second.Assistants[0])
	require.Contains(t, second.Assistants[1].Text, "miss a day")
	require.Contains(t, second.Assistants[1].Sources, "Building habits that stick")
	require.Equal(t, []string{q1, q2}, second.Users)
	require.Greater(t, second.State.LastSeq, first.State.LastSeq)
	b.waitRead(t, a.URL, token, second.State.LastSeq)

	require.Empty(t, b.exceptions(), "uncaught exceptions on the page")
}

// waitDemoDocumentIndexed logs in as the seeded demo creator and waits until its sample
// document is indexed, so the first question already finds it. It returns the creator's access
// token.
func waitDemoDocumentIndexed(t *testing.T, baseURL, dataDir string) string {
	t.Helper()
	pw, err := os.ReadFile(filepath.Join(dataDir, "demo-password"))
	require.NoError(t, err, "dev mode writes the demo password")
	c := testenv.NewClient(baseURL)
	ctx := context.Background()
	var login struct {
		AccessToken string `json:"access_token"`
	}
	st, raw, err := c.Do(ctx, "POST", "/api/v1/auth/login", "", map[string]string{
		"email": "demo@coachwire.local", "password": strings.TrimSpace(string(pw))}, &login)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, st, string(raw))
	var status, errText string
	testenv.Eventually(t, browserWait, func() bool {
		var list struct {
			Documents []struct {
				Title  string `json:"title"`
				Status string `json:"status"`
				Error  string `json:"error"`
			} `json:"documents"`
		}
		if st, _, err := c.Do(ctx, "GET", "/api/v1/documents", login.AccessToken, nil, &list); err != nil || st != http.StatusOK {
			return false
		}
		for _, d := range list.Documents {
			if d.Title == "Building habits that stick" {
				status, errText = d.Status, d.Error
			}
		}
		return status == "indexed" || status == "failed"
	}, "the demo document to be indexed")
	require.Equal(t, "indexed", status, errText)
	return login.AccessToken
}

// waitRead waits until the widget has reported the reply with seq seen and the creator's API
// shows that reply as read.
func (b *browser) waitRead(t *testing.T, baseURL, token string, seq int64) {
	t.Helper()
	b.poll(t, "the reply to be reported seen", fmt.Sprintf(`window.coachwire.state().seen_seq >= %d`, seq))
	s := b.snapshot(t)
	conv, err := uuid.Parse(s.State.ConversationID)
	require.NoError(t, err, "the widget knows its conversation")
	c := testenv.NewClient(baseURL)
	var id string
	testenv.Eventually(t, browserWait, func() bool {
		var out struct {
			Messages []struct {
				ID     string `json:"id"`
				Seq    int64  `json:"seq"`
				Status string `json:"status"`
			} `json:"messages"`
		}
		if st, _, err := c.Do(context.Background(), "GET", "/api/v1/conversations/"+conv.String()+"/messages", token, nil, &out); err != nil || st != http.StatusOK {
			return false
		}
		for _, m := range out.Messages {
			if m.Seq == seq {
				id = m.ID
				return m.Status == "read"
			}
		}
		return false
	}, "the reply with seq %d to be read", seq)
	t.Logf("reply %s (seq %d) read", id, seq)
}

// browser is one headless Chromium tab.
type browser struct {
	ctx context.Context

	mu   sync.Mutex
	done bool
	excs []string
	t    testing.TB
}

func (b *browser) logf(format string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.done {
		b.t.Logf(format, args...)
	}
}

func (b *browser) exceptions() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.excs...)
}

// chromium is the package's one Chromium, started by the first test that opens a browser and
// stopped after the last test (TestMain): starting a browser per test cost seconds of CPU each
// and ran a dozen browsers at once. Each test's browser is a tab of it in a browser context of
// its own (its own cookies, storage and cache, as a fresh profile was), in a window of its own
// (never hidden behind another tab), so the tests still run in parallel.
var chromium struct {
	once sync.Once
	ctx  context.Context // the browser's first tab; every test's tab is made off it
	err  error
	out  testenv.SyncBuffer // Chromium's own output and the browser connection's errors
}

// sharedChromium returns the first tab of the package's Chromium, starting it on first use.
func sharedChromium(t testing.TB) context.Context {
	t.Helper()
	chromium.once.Do(func() {
		profile, err := os.MkdirTemp("", "coachwire-chromium-")
		if err != nil {
			chromium.err = err
			return
		}
		allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
			chromedp.ExecPath(chromiumPath),
			chromedp.Headless,
			chromedp.NoSandbox,
			chromedp.DisableGPU,
			chromedp.NoFirstRun,
			chromedp.Flag("disable-background-networking", true),
			chromedp.Flag("disable-component-update", true),
			chromedp.Flag("disable-sync", true),
			chromedp.Flag("disable-quic", true),
			// Many tabs at once: none of them is throttled as a background page.
			chromedp.Flag("disable-background-timer-throttling", true),
			chromedp.Flag("disable-backgrounding-occluded-windows", true),
			chromedp.Flag("disable-renderer-backgrounding", true),
			chromedp.UserDataDir(profile),
			chromedp.WindowSize(1280, 900),
			chromedp.CombinedOutput(&chromium.out),
		)
		ctx, cancelCtx := chromedp.NewContext(allocCtx, chromedp.WithErrorf(func(format string, args ...any) {
			fmt.Fprintf(&chromium.out, "chromedp: "+format+"\n", args...)
		}))
		testenv.OnStop(func() {
			cancelCtx()
			cancelAlloc() // waits for the browser process to exit
			_ = os.RemoveAll(profile)
		})
		if err := chromedp.Do(ctx); err != nil {
			chromium.err = err
			return
		}
		chromium.ctx = ctx
	})
	if chromium.err != nil {
		t.Fatalf("start chromium: %v", chromium.err)
	}
	return chromium.ctx
}

// newBrowser opens a tab of the package's Chromium in a fresh browser context (a fresh
// profile: no cookies, storage or cache of another test); the tab and its context are closed
// when the test ends, before the app and the temp dirs go away.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	needChromium(t)
	b := &browser{t: t}
	ctx, cancel := chromedp.NewContext(sharedChromium(t), chromedp.WithNewBrowserContext())
	outFrom := len(chromium.out.String())
	t.Cleanup(func() {
		cancel()
		b.mu.Lock()
		defer b.mu.Unlock()
		if out := chromium.out.String(); t.Failed() && len(out) > outFrom {
			t.Logf("chromium output while the test ran (all tabs):\n%s", out[outFrom:])
		}
		b.done = true
	})
	b.ctx = ctx
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open a chromium tab: %v", err)
	}
	b.startTab(t)
	return b
}

// startTab makes b's tab behave as the focused window of its own (focus and blur events, the
// :focus-visible state and document.hasFocus() as for the one window on screen: the browser
// has many windows but only one has the system's focus) and sends the page's console messages
// and uncaught exceptions to the test log.
func (b *browser) startTab(t *testing.T) {
	t.Helper()
	b.do(t, "emulate a focused page", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetFocusEmulationEnabled, emulation.SetFocusEmulationEnabledParams{Enabled: true})
		return err
	}))
	messages := chromedp.Console(b.ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			b.logf("page console.%s: %s (%s)", m.Type, m, m.URL)
			if m.IsException() {
				b.mu.Lock()
				b.excs = append(b.excs, m.String())
				b.mu.Unlock()
			}
		}
	}()
}

// browserContext is the id of the browser context b's tab is in (for the Browser domain's
// per-context settings: downloads, permissions).
func (b *browser) browserContext() cdp.BrowserContextID {
	return chromedp.FromContext(b.ctx).BrowserContextID
}

// run runs one action with the standard time limit.
func run[T any](t *testing.T, b *browser, what string, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserWait)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.dump(t)
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// dump logs what the widget shows, for a failure's diagnosis.
func (b *browser) dump(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	js := `(() => { try { const r = document.getElementById('coachwire-widget').shadowRoot;
	  return JSON.stringify({state: window.coachwire.state(), html: r.querySelector('.cw-log').innerHTML}); }
	  catch (e) { return 'no widget: ' + e + ' page: ' + document.documentElement.outerHTML.slice(0, 2000); } })()`
	if s, err := chromedp.Run(ctx, chromedp.Evaluate[string](js)); err == nil {
		t.Logf("widget at failure: %s", s)
	} else {
		t.Logf("widget at failure: unreadable: %v", err)
	}
}

func (b *browser) do(t *testing.T, what string, a chromedp.Action[chromedp.Void]) {
	t.Helper()
	run(t, b, what, a)
}

func (b *browser) eval(t *testing.T, expr string) string {
	t.Helper()
	return run(t, b, expr, chromedp.Evaluate[string](expr))
}

// poll waits, polling in the page every 20 ms, until the JS expression is truthy.
func (b *browser) poll(t *testing.T, what, expr string) {
	t.Helper()
	run(t, b, "wait for "+what, chromedp.Poll[bool](`!!(`+expr+`)`,
		chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(browserWait)))
}

// pressEnter presses Enter in the focused element the way Chromium's own keyboard does: a
// keyDown that carries the text, so a handler that prevents the keydown also prevents the
// newline. (chromedp's SendKeys sends a separate char event, which still inserts "\n" after the
// widget has sent the message and cleared the input.)
func pressEnter() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		key := input.DispatchKeyEventParams{Key: "Enter", Code: "Enter", WindowsVirtualKeyCode: 13, NativeVirtualKeyCode: 13}
		down, up := key, key
		down.Type, down.Text, down.UnmodifiedText = input.DispatchKeyEventTypeKeyDown, "\r", "\r"
		up.Type = input.DispatchKeyEventTypeKeyUp
		if _, err := cdp.Call(ctx, t, input.DispatchKeyEvent, down); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, t, input.DispatchKeyEvent, up)
		return err
	})
}

func (b *browser) waitWidget(t *testing.T) {
	t.Helper()
	b.poll(t, "the widget to load", `window.coachwire && window.coachwire.__coachwire && document.getElementById('coachwire-widget') && `+widgetRoot)
}

// widgetSnapshot is what the widget shows, read from its shadow DOM, plus window.coachwire.state().
type widgetSnapshot struct {
	Assistants []widgetReply `json:"assistants"`
	Users      []string      `json:"users"`
	Drafts     int           `json:"drafts"`
	Pending    int           `json:"pending"`
	Failed     int           `json:"failed"`
	Error      string        `json:"error"`
	Status     string        `json:"status"`
	State      struct {
		Status         string `json:"status"`
		ConversationID string `json:"conversation_id"`
		LastSeq        int64  `json:"last_seq"`
		SeenSeq        int64  `json:"seen_seq"`
		Drafts         []any  `json:"drafts"`
		Pending        []any  `json:"pending"`
	} `json:"state"`
}

type widgetReply struct {
	Text    string   `json:"text"`
	Sources []string `json:"sources"`
}

const snapshotJS = `(() => {
  const root = ` + widgetRoot + `;
  const err = root.querySelector('.cw-error');
  return {
    assistants: Array.from(root.querySelectorAll('.cw-msg.cw-assistant')).map((el) => ({
      text: el.querySelector('.cw-text').textContent,
      sources: Array.from(el.querySelectorAll('.cw-sources li.cw-source .cw-source-title')).map((s) => s.textContent),
    })),
    users: Array.from(root.querySelectorAll('.cw-msg.cw-user .cw-text')).map((el) => el.textContent),
    drafts: root.querySelectorAll('.cw-msg.cw-draft').length,
    pending: root.querySelectorAll('.cw-msg.cw-pending').length,
    failed: root.querySelectorAll('.cw-msg.cw-failed').length,
    error: err && !err.hidden ? err.textContent : '',
    status: root.querySelector('.cw-status').getAttribute('data-state'),
    state: window.coachwire.state(),
  };
})()`

func (b *browser) snapshot(t *testing.T) widgetSnapshot {
	t.Helper()
	return run(t, b, "read the widget", chromedp.Evaluate[widgetSnapshot](snapshotJS))
}

// streamWatch records, every 20 ms in the page, what the visitor would have seen of the
// streaming draft before the final reply replaced it.
type streamWatch struct {
	Samples          int    `json:"samples"`
	DraftLengths     int    `json:"draftLengths"`     // distinct non-empty draft lengths seen
	DraftBeforeFinal bool   `json:"draftBeforeFinal"` // a non-empty draft while no new final reply existed
	StateDraft       bool   `json:"stateDraft"`       // window.coachwire.state().drafts showed it too
	ShortestDraft    string `json:"shortestDraft"`    // the first (shortest) non-empty draft
	LongestDraft     string `json:"longestDraft"`
	NotGrowing       int    `json:"notGrowing"`   // samples whose draft did not extend the previous one
	FinalAfterMs     int    `json:"finalAfterMs"` // ms from the first draft to the final reply
}

const watchJS = `(() => {
  const root = ` + widgetRoot + `;
  if (window.__cwWatch) clearInterval(window.__cwWatch.timer);
  const base = root.querySelectorAll('.cw-msg.cw-assistant').length;
  const w = window.__cwWatch = { samples: 0, lengths: new Set(), draftBeforeFinal: false, stateDraft: false,
    shortest: '', longest: '', notGrowing: 0, firstDraftAt: 0, finalAt: 0 };
  w.timer = setInterval(() => {
    w.samples++;
    const finals = root.querySelectorAll('.cw-msg.cw-assistant').length;
    const d = root.querySelector('.cw-msg.cw-draft .cw-text');
    const text = d ? d.textContent : '';
    if (text && finals === base) {
      w.draftBeforeFinal = true;
      if (!w.firstDraftAt) {
        w.firstDraftAt = performance.now();
        w.shortest = text;
      }
      if (!text.startsWith(w.longest)) w.notGrowing++;
      w.lengths.add(text.length);
      if (text.length >= w.longest.length) w.longest = text;
      const s = window.coachwire.state();
      if (s.drafts.some((x) => x.text && x.text.length > 0)) w.stateDraft = true;
    }
    if (finals > base && !w.finalAt) {
      w.finalAt = performance.now();
      clearInterval(w.timer);
    }
  }, 20);
  return true;
})()`

const watchResultJS = `(() => {
  const w = window.__cwWatch;
  return { samples: w.samples, draftLengths: w.lengths.size, draftBeforeFinal: w.draftBeforeFinal,
    stateDraft: w.stateDraft, shortestDraft: w.shortest, longestDraft: w.longest, notGrowing: w.notGrowing,
    finalAfterMs: w.firstDraftAt ? Math.round((w.finalAt || performance.now()) - w.firstDraftAt) : -1 };
})()`

// ask types question into the widget with real key events, submits it with submit, and waits
// for the final reply. It checks the reply streamed in as a draft first and returns the widget
// once the reply is final.
func (b *browser) ask(t *testing.T, question string, submit func()) widgetSnapshot {
	t.Helper()
	before := b.snapshot(t)
	input := chromedp.JSPath(widgetRoot + `.querySelector('.cw-input')`)
	b.do(t, "type the question", chromedp.SendKeys(input, question))
	require.Equal(t, question, b.eval(t, widgetRoot+`.querySelector('.cw-input').value`), "typed text lands in the input")
	run(t, b, "start watching the stream", chromedp.Evaluate[bool](watchJS))
	start := time.Now()
	submit()

	b.poll(t, "the question to show up", fmt.Sprintf(
		`Array.from(%s.querySelectorAll('.cw-msg.cw-user .cw-text')).some((el) => el.textContent === %q)`, widgetRoot, question))
	require.Empty(t, b.eval(t, widgetRoot+`.querySelector('.cw-input').value`), "the input is cleared after sending")
	b.poll(t, "the final reply", fmt.Sprintf(
		`%s.querySelectorAll('.cw-msg.cw-assistant').length > %d`, widgetRoot, len(before.Assistants)))
	t.Logf("question %q answered after %s", question, time.Since(start).Round(time.Millisecond))

	w := run(t, b, "read the stream watch", chromedp.Evaluate[streamWatch](watchResultJS))
	after := b.snapshot(t)
	final := after.Assistants[len(after.Assistants)-1]
	t.Logf("stream watch: %d samples, %d distinct draft lengths (%d..%d runes), final reply %d runes, %d ms after the first draft",
		w.Samples, w.DraftLengths, utf8.RuneCountInString(w.ShortestDraft), utf8.RuneCountInString(w.LongestDraft),
		utf8.RuneCountInString(final.Text), w.FinalAfterMs)
	require.Len(t, after.Assistants, len(before.Assistants)+1, "exactly one new reply")
	require.NotEmpty(t, strings.TrimSpace(final.Text), "the final reply has text")
	require.True(t, w.DraftBeforeFinal, "a non-empty .cw-msg.cw-draft showed before the final reply")
	require.True(t, w.StateDraft, "window.coachwire.state().drafts reported the streaming draft")
	require.GreaterOrEqual(t, w.DraftLengths, 3, "the draft grew piece by piece")
	require.Less(t, len(w.ShortestDraft), len(final.Text)/2, "the draft showed partial text well before the reply was complete")
	require.True(t, strings.HasPrefix(final.Text, w.ShortestDraft), "the first draft is a prefix of the final reply")
	require.Zero(t, w.NotGrowing, "the draft only ever grew at its end")
	require.True(t, strings.HasPrefix(final.Text, w.LongestDraft), "the draft is a prefix of the final reply")
	require.NotEmpty(t, final.Sources, "the final reply lists its sources")
	require.Zero(t, after.Drafts, "the final reply replaced the draft")
	require.Zero(t, after.Pending, "the question was acknowledged")
	require.Zero(t, after.Failed)
	require.Empty(t, after.Error, "the widget shows no error")
	require.Equal(t, "online", after.Status)
	require.Equal(t, "online", after.State.Status)
	require.Empty(t, after.State.Drafts)
	require.Empty(t, after.State.Pending)
	return after
}
