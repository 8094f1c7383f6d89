package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/channels/telegramtest"
	"github.com/coachwire/coachwire/internal/llm/ollamatest"
	"github.com/coachwire/coachwire/internal/testenv"
)

// analyticsSections are the Analytics page's sections (their element ids), in page order.
var analyticsSections = []string{"activity", "responsiveness", "knowledge-gaps", "retention", "campaigns", "programs", "channels", "team"}

// TestConsoleAnalyticsInBrowser seeds a creator's data through the public paths only (Telegram
// updates through the webhook, a widget turn over the socket, a takeover and a creator reply,
// STOP, a program keyword, a campaign sent by the nudge scheduler), then opens the console's
// Analytics page in Chromium and checks that all eight sections show those figures: in their
// headline numbers, tables and charts, a chart as a table, the CSV download, a knowledge gap's
// conversation, the week view, a custom range and its validation, and phone width. axe-core
// finds no serious or critical violation on the page, a chart as a table, the conversation
// dialog and at phone width; COACHWIRE_SCREENSHOTS=1 saves
// docs/analytics.png and docs/analytics-phone.png.
func TestConsoleAnalyticsInBrowser(t *testing.T) {
	t.Parallel()
	axe := consoleAxe(t)

	// Passages mode (the model server has no chat model): a question the knowledge does not
	// cover gets the honest no-match answer without sources, a knowledge gap. (With the test
	// double's embeddings every question finds some passage.)
	h := newHarness(t, ollamatest.Options{ChatModels: []string{}})
	tg := telegramtest.New(t)
	cfg := h.config()
	cfg.TelegramAPIURL = tg.URL
	cfg.SecretKeys = testSecretKeys
	cfg.Nudge.Tick, cfg.Nudge.Page, cfg.Nudge.Lease = 100*time.Millisecond, 50, 5*time.Second
	// The campaign goes to people who have just written and just got the program's welcome.
	cfg.Nudge.LiveWindow, cfg.Nudge.MinInterval = time.Millisecond, time.Millisecond
	a := h.start(cfg)
	r := &channelRig{a: a, c: testenv.NewClient(a.URL), tg: tg, ollama: h.ollama}
	r.cr = r.c.Register(t)
	r.c.AddDocument(t, r.cr, "Sleep basics", "markdown", sleepDoc)
	// The creator's time zone, and no quiet hours (the campaign goes out whenever the test runs).
	const zone = "Europe/Berlin"
	r.do(t, "PATCH", "/api/v1/nudge-policy", map[string]any{"timezone": zone, "quiet_start": "00:00", "quiet_end": "00:00"})

	// A program people join with a keyword.
	r.do(t, "POST", "/api/v1/programs", map[string]any{
		"name": "Sleep reset", "keyword": "SLEEP7",
		"steps": []map[string]any{
			{"day": 0, "content": map[string]any{"kind": "text", "text": "Welcome to the sleep reset!"}},
			{"day": 1, "at": "09:00", "content": map[string]any{"kind": "text", "text": "Day one: same bedtime tonight."}},
		},
	})

	// Three people on Telegram: an answered question, the same question the knowledge cannot
	// answer asked twice (two spellings), the program keyword, STOP.
	ch := r.addChannel(t, map[string]any{"type": "telegram", "bot_token": telegramtest.DefaultToken})
	const ana, ben, cai = int64(9101), int64(9102), int64(9103)
	update := int64(500)
	say := func(chat int64, text string, replies int) {
		t.Helper()
		update++
		st, body := r.postTG(t, ch, telegramtest.UpdatePayload(update, chat, chat, text))
		require.Equal(t, http.StatusOK, st, body)
		testenv.Eventually(t, 60*time.Second, func() bool { return len(tg.SentTo(chat)) >= replies }, "%d messages to chat %d after %q", replies, chat, text)
	}
	say(ana, "When should I stop drinking caffeine?", 1)
	say(ben, "How do I renew my passport?", 1)
	say(cai, "how do I renew my passport", 1)
	say(ana, "And how dark should the bedroom be?", 2)
	say(ben, "sleep7", 2) // enrolled: the confirmation and the day-0 welcome (at least)
	testenv.Eventually(t, 30*time.Second, func() bool {
		for _, s := range tg.SentTo(ben) {
			if strings.Contains(s.Text, "Welcome to the sleep reset") {
				return true
			}
		}
		return false
	}, "the program's welcome")
	say(cai, "STOP", 2)

	// The creator takes Ana's conversation over and answers in person.
	var anaConv uuid.UUID
	for _, c := range r.conversations(t, "?channel=telegram") {
		msgs := r.messages(t, c.ID)
		if len(msgs) > 0 && strings.Contains(msgs[0].Text, "caffeine") {
			anaConv = c.ID
		}
	}
	require.NotEqual(t, uuid.Nil, anaConv)
	r.do(t, "POST", "/api/v1/conversations/"+anaConv.String()+"/takeover", nil)
	r.do(t, "POST", "/api/v1/conversations/"+anaConv.String()+"/messages", map[string]string{"text": "Hi Ana, your coach in person: keep it pitch dark."})
	testenv.Eventually(t, 30*time.Second, func() bool { return len(tg.SentTo(ana)) >= 3 }, "the creator's reply on Telegram")

	// A campaign to everyone on Telegram, now.
	camp := createCampaign(t, r.c, r.cr, map[string]any{
		"name":     "Evening check-in",
		"audience": map[string]any{"channel": "telegram"},
		"content":  map[string]any{"kind": "text", "text": "How did you sleep this week?"},
		"schedule": map[string]any{"kind": "once", "at": time.Now().Add(time.Second).UTC().Format(time.RFC3339Nano)},
	})
	testenv.Eventually(t, 60*time.Second, func() bool {
		var s struct {
			Sent, Held, Skipped int
		}
		st, _, err := r.c.Do(context.Background(), "GET", "/api/v1/campaigns/"+camp.String()+"/stats", r.cr.AccessToken, nil, &s)
		return err == nil && st == http.StatusOK && s.Sent+s.Held+s.Skipped >= 3
	}, "the campaign decided for its three recipients")

	// A turn on the web widget.
	sess := r.c.StartWidget(t, r.cr.WidgetKey, "anon-"+uuid.NewString())
	ws, _, err := r.c.DialWidget(context.Background(), sess, 0, nil)
	require.NoError(t, err)
	defer ws.CloseNow()
	ws.Next(t, 10*time.Second, func(f testenv.Frame) bool { return f.Type == "ready" })
	_, err = ws.Say(context.Background(), "Is a late espresso a problem?")
	require.NoError(t, err)
	ws.Next(t, 60*time.Second, testenv.IsReply)

	// The API has it all (rollups may trail the writes): wait for every section's figures before
	// opening the page, so the page is checked once, on complete data.
	api := func(section string, out any) {
		t.Helper()
		st, raw, err := r.c.Do(context.Background(), "GET", "/api/v1/analytics/"+section+"?tz="+zone, r.cr.AccessToken, nil, out)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, st, "%s: %s", section, raw)
	}
	type figures struct {
		Totals struct {
			MessagesIn int `json:"messages_in"`
			Turns      int `json:"turns"`
		} `json:"totals"`
		Gaps []struct {
			Count int `json:"count"`
		} `json:"gaps"`
		Cohorts []struct {
			Users int `json:"users"`
		} `json:"cohorts"`
		Campaigns []struct {
			Sent int `json:"sent"`
		} `json:"campaigns"`
		Steps []struct {
			Sent int `json:"sent"`
		} `json:"steps"`
		Series []struct {
			OptOuts   int `json:"opt_outs"`
			Takeovers int `json:"takeovers"`
		} `json:"series"`
	}
	ready := map[string]func(f figures) bool{
		"activity":       func(f figures) bool { return f.Totals.MessagesIn >= 7 },
		"responsiveness": func(f figures) bool { return f.Totals.Turns >= 4 },
		"knowledge-gaps": func(f figures) bool { return len(f.Gaps) > 0 && f.Gaps[0].Count >= 2 },
		"retention":      func(f figures) bool { return len(f.Cohorts) > 0 && f.Cohorts[len(f.Cohorts)-1].Users >= 4 },
		"campaigns":      func(f figures) bool { return len(f.Campaigns) == 1 && f.Campaigns[0].Sent >= 1 },
		"programs":       func(f figures) bool { return len(f.Steps) > 0 && f.Steps[0].Sent >= 1 },
		"channels": func(f figures) bool {
			n := 0
			for _, s := range f.Series {
				n += s.OptOuts
			}
			return n >= 1
		},
		"team": func(f figures) bool {
			n := 0
			for _, s := range f.Series {
				n += s.Takeovers
			}
			return n >= 1
		},
	}
	for _, s := range analyticsSections {
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			var last json.RawMessage
			var f figures
			api(s, &last)
			require.NoError(t, json.Unmarshal(last, &f))
			if ready[s](f) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the %s figures did not arrive; the last answer: %s", s, last)
			}
		}
	}

	// Sign in through the console and open Analytics from the navigation.
	b := newConsoleBrowser(t, "console", `{path: location.pathname,
		  sections: Array.from(document.querySelectorAll('section.analytics-section')).map((s) => s.id + ' ' + s.dataset.state), text: document.body.innerText.slice(0, 4000)}`)
	downloads := b.allowDownloads(t)
	b.do(t, "open the console", chromedp.Navigate(a.URL+"/console/analytics"))
	b.poll(t, "the sign-in page", `document.querySelector('h1')?.textContent === 'Sign in'`)
	b.typeInto(t, "type the email", `#signin-email`, r.cr.Email)
	b.typeInto(t, "type the password", `#signin-password`, "correct horse battery")
	b.do(t, "press Enter", pressEnter())
	// Signing in goes to the page asked for.
	b.poll(t, "the Analytics page", `location.pathname === '/console/analytics' && document.querySelector('h1')?.textContent === 'Analytics'`)
	require.Equal(t, "page", b.eval(t, `document.querySelector('#console-nav a[href="/console/analytics"]').getAttribute('aria-current')`))
	allReady := `Array.from(document.querySelectorAll('section.analytics-section')).map((s) => s.dataset.state).join(',') === '` +
		strings.TrimSuffix(strings.Repeat("ready,", len(analyticsSections)), ",") + `'`
	b.poll(t, "all eight sections with data", allReady)
	require.Equal(t, strings.Join(analyticsSections, ","), b.eval(t, `Array.from(document.querySelectorAll('section.analytics-section')).map((s) => s.id).join(',')`))
	require.Contains(t, b.eval(t, `document.querySelector('.range-summary').textContent`), zone, "the days are the creator's")
	b.poll(t, "the charts drawn", `document.querySelectorAll('.chart-box canvas').length >= 8 &&
	  Array.from(document.querySelectorAll('.chart-box canvas')).every((c) => c.width > 0 && c.height > 0)`)
	b.axe(t, axe, "analytics")

	// The figures the seeding made, as the page shows them.
	stat := func(section, label string) string {
		return b.eval(t, fmt.Sprintf(`(() => { for (const s of document.querySelectorAll('#%s .stat'))
		  if (s.querySelector('dt').textContent === %q) return s.querySelector('.stat-value').textContent; return 'missing'; })()`, section, label))
	}
	cell := func(section, rowText, col string) string { // a table cell by a row's first cell and a column's header
		return b.eval(t, fmt.Sprintf(`(() => { for (const t of document.querySelectorAll('#%s table')) {
		  const cols = Array.from(t.querySelectorAll('thead th')).map((th) => th.textContent); const i = cols.indexOf(%q);
		  if (i < 0) continue;
		  for (const tr of t.querySelectorAll('tbody tr')) if (tr.cells[0].textContent.includes(%q)) return tr.cells[i].textContent; }
		  return 'missing'; })()`, section, col, rowText))
	}
	atLeast := func(what, got string, n int) {
		t.Helper()
		var v int
		_, err := fmt.Sscan(strings.ReplaceAll(got, ",", ""), &v)
		require.NoError(t, err, "%s: %q", what, got)
		require.GreaterOrEqual(t, v, n, "%s: %q", what, got)
	}
	atLeast("messages in", stat("activity", "Messages in"), 7)
	atLeast("active people", stat("activity", "Active people"), 4)
	atLeast("new people", stat("activity", "New people"), 4)
	atLeast("answers", stat("responsiveness", "Answers"), 4)
	atLeast("answered from passages", stat("responsiveness", "Answered from passages"), 4)
	require.Regexp(t, `^[0-9.,]+ (ms|s)$`, stat("responsiveness", "First words"))
	require.Regexp(t, `^[0-9.,]+ (ms|s)$`, stat("responsiveness", "Full reply"))
	gap := b.eval(t, `document.querySelector('#knowledge-gaps table.gaps tbody tr').textContent`)
	require.Contains(t, strings.ToLower(gap), "passport", "the most asked gap first")
	atLeast("times asked", cell("knowledge-gaps", "passport", "Times asked"), 2)
	require.Contains(t, b.eval(t, `document.querySelector('#knowledge-gaps').textContent`), "Sleep basics")
	atLeast("cohort", b.eval(t, `Array.from(document.querySelectorAll('#retention table.cohorts tbody tr')).pop().cells[1].textContent`), 4)
	atLeast("campaign sent", cell("campaigns", "Evening check-in", "Sent"), 1)
	atLeast("campaign audience", cell("campaigns", "Evening check-in", "Audience"), 3)
	require.Contains(t, b.eval(t, `document.querySelector('#programs .figure-title').textContent`), "Sleep reset")
	atLeast("program step 1 sent", cell("programs", "Step 1", "Sent"), 1)
	atLeast("opt-outs", stat("channels", "Opt-outs"), 1)
	atLeast("takeovers", stat("team", "Takeovers"), 1)
	atLeast("team replies", stat("team", "Replies by the team"), 1)

	// A chart as a table: the figure's table becomes visible, the chart goes.
	first := `document.querySelector('#activity figure')`
	require.Equal(t, "1", b.eval(t, `String(`+first+`.querySelectorAll('canvas').length)`))
	b.do(t, "show the table", chromedp.Click(chromedp.CSS(`#activity figure .figure-actions button[aria-pressed]`)))
	b.poll(t, "the activity table", first+`.dataset.view === 'table' && !`+first+`.querySelector('canvas') && `+first+`.querySelector('table').getBoundingClientRect().width > 100`)
	atLeast("the table's total of messages in", b.eval(t, `String(Array.from(`+first+`.querySelectorAll('tbody tr')).reduce((n, tr) => n + Number(tr.cells[2].textContent.replace(/\D/g, '')), 0))`), 7)
	b.axe(t, axe, "analytics, a chart as a table")

	// CSV: the API's file, downloaded.
	b.do(t, "download the activity CSV", chromedp.Click(chromedp.CSS(`#activity button[data-csv="series"]`)))
	var csv string
	testenv.Eventually(t, 30*time.Second, func() bool {
		files, _ := filepath.Glob(filepath.Join(downloads, "coachwire-activity-series-*.csv"))
		if len(files) != 1 {
			return false
		}
		raw, err := os.ReadFile(files[0])
		csv = string(raw)
		return err == nil && strings.Count(csv, "\n") >= 2
	}, "the downloaded CSV")
	require.True(t, strings.HasPrefix(csv, "period,"), "a header row first: %q", csv[:min(len(csv), 200)])

	// A knowledge gap's conversation opens in a dialog.
	b.do(t, "open a gap's conversation", chromedp.Click(chromedp.CSS(`#knowledge-gaps table.gaps tbody tr button[data-conversation]`)))
	b.poll(t, "the conversation", `document.querySelector('dialog.conversation-dialog')?.open && document.querySelector('.messages li[data-role="user"]')?.textContent.toLowerCase().includes('passport')`)
	b.axe(t, axe, "analytics, a gap's conversation")
	b.do(t, "press Escape", chromedp.KeyEvent("\u001b"))
	b.poll(t, "the dialog closed", `!document.querySelector('dialog.conversation-dialog').open`)

	// By week: one row per week; everything happened this week.
	b.do(t, "by week", chromedp.Click(chromedp.CSS(`input[name="granularity"][value="week"]`)))
	b.poll(t, "the weekly activity", allReady+` && `+first+`.querySelector('thead th').textContent === 'Week of' && `+first+`.querySelectorAll('tbody tr').length <= 6`)
	atLeast("messages in by week", stat("activity", "Messages in"), 7)

	// A custom range: an impossible one is refused in the form; one before anything happened is empty.
	b.do(t, "choose a custom range", chromedp.Evaluate[chromedp.Void](`(() => { const e = document.querySelector('#range-preset');
	  Object.getOwnPropertyDescriptor(HTMLSelectElement.prototype, 'value').set.call(e, 'custom'); e.dispatchEvent(new Event('change', {bubbles: true})); })()`))
	b.poll(t, "the date fields", `document.querySelector('#range-from') && document.querySelector('#range-to').value !== ''`)
	setDate := func(id, v string) {
		b.do(t, "set "+id, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => { const e = document.querySelector('#%s');
		  Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set.call(e, %q); e.dispatchEvent(new Event('input', {bubbles: true})); })()`, id, v)))
	}
	setDate("range-from", "2024-01-10")
	setDate("range-to", "2024-01-01")
	b.do(t, "apply", chromedp.Click(chromedp.Search(`//button[text()="Apply"]`)))
	b.poll(t, "the range error", `document.querySelector('#range-error')?.textContent.includes('must not be after')`)
	setDate("range-to", "2024-01-31")
	b.do(t, "apply", chromedp.Click(chromedp.Search(`//button[text()="Apply"]`)))
	b.poll(t, "an empty range", `!document.querySelector('#range-error') && document.querySelector('#activity').dataset.state === 'empty' && document.querySelector('#team').dataset.state === 'empty'`)

	// Back to the last 30 days, by day, for the screenshots.
	b.do(t, "reload", chromedp.Reload())
	b.poll(t, "all eight sections again", allReady)
	b.poll(t, "the charts drawn", `document.querySelectorAll('.chart-box canvas').length >= 8`)
	if os.Getenv(consoleScreenshotEnv) == "1" {
		shot := run(t, b, "screenshot", chromedp.FullScreenshot(100))
		require.NoError(t, os.WriteFile(filepath.Join("..", "..", "docs", "analytics.png"), shot, 0o644))
		t.Logf("screenshot saved to docs/analytics.png (%d bytes)", len(shot))
	}

	// Phone width: no sideways scrolling of the page (wide tables scroll in their own box).
	b.do(t, "phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	b.poll(t, "the menu button", `getComputedStyle(document.querySelector('.menu-button')).display !== 'none'`)
	b.poll(t, "the charts at phone width", `Array.from(document.querySelectorAll('.chart-box canvas')).every((c) => c.getBoundingClientRect().width <= window.innerWidth)`)
	// (With mobile emulation a too-wide page widens the layout viewport: innerWidth too.)
	require.Equal(t, "390 390", b.eval(t, `document.documentElement.scrollWidth + ' ' + window.innerWidth`), "no horizontal scrolling at phone width")
	b.axe(t, axe, "analytics at phone size")
	if os.Getenv(consoleScreenshotEnv) == "1" {
		shot := run(t, b, "phone screenshot", chromedp.FullScreenshot(100))
		require.NoError(t, os.WriteFile(filepath.Join("..", "..", "docs", "analytics-phone.png"), shot, 0o644))
	}
	b.do(t, "desktop viewport", chromedp.EmulateViewport(1280, 900))

	require.Empty(t, b.exceptions(), "uncaught exceptions on the page")
}
