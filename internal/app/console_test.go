package app_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/testenv"
)

// axeScript is axe-core's browser build; web/console/build.mjs copies it from the console's
// locked npm dependencies and `make check-console` keeps the copy current.
const axeScript = "testdata/axe.min.js"

// consoleScreenshotEnv, set to 1, makes TestConsoleInBrowser save its screenshots of the
// Knowledge page as docs/console.png (the README shows it) and docs/console-phone.png.
const consoleScreenshotEnv = "COACHWIRE_SCREENSHOTS"

// cspWatch runs before the page's own scripts (so it is not subject to the page's CSP) and
// records every Content-Security-Policy violation.
const cspWatch = `window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));`

// TestConsoleInBrowser drives the creator console in a real headless Chromium against the whole
// stack: sign up (submitted from the keyboard), upload two files at once through the file picker
// and watch them go from the upload's progress to "indexed" live, delete one through the
// confirmation dialog, reload (the session survives), use the navigation at phone size and
// sign out (the refresh token is revoked). axe-core checks every page once in its most complete
// state (sign-up with an error, Knowledge with documents, a refused upload and an import error,
// the delete dialog, the phone menu, signed out) and the test fails on any serious or critical
// violation; the CSP must not block anything.
func TestConsoleInBrowser(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("the console browser test needs Chromium at %s (%v): run `make deps-test` "+
			"(or `apt-get install chromium`)", chromiumPath, err)
	}
	axe, err := os.ReadFile(axeScript)
	require.NoError(t, err, "axe-core copy (make console)")
	// The shared app allows imports from loopback (the imported page is served there).
	a, _ := sharedConsoleApp(t)
	// The start banner links the console; the test opens that link.
	var consoleURL string
	for _, line := range strings.Split(consoleApp.banner, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "Console:"); ok {
			consoleURL = strings.TrimSpace(rest)
		}
	}
	require.Equal(t, a.URL+"/console", consoleURL, "the banner's console line:\n%s", consoleApp.banner)
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/breathing.html" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, `<!doctype html><html><head><title>Breathing</title></head><body><h1>Box breathing</h1>`+
			`<p>Breathe in for four counts, hold for four, breathe out for four and hold for four. Repeat five times when stress rises.</p></body></html>`)
	}))
	t.Cleanup(site.Close)

	b := newBrowser(t)
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		defer cancel()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({path: location.pathname, text: document.body.innerText,
		  rows: Array.from(document.querySelectorAll('tr[data-doc-id]')).map((tr) => tr.dataset.docId + ' ' + tr.dataset.status), states: window.__states})`))
		t.Logf("console at failure: %s (err %v)", s, err)
	})
	b.do(t, "watch CSP violations", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspWatch})
		return err
	}))

	// Signed out, /console lands on the sign-in page.
	b.do(t, "open the console", chromedp.Navigate(consoleURL))
	b.poll(t, "the sign-in page", `location.pathname === '/console/sign-in' && document.querySelector('h1')?.textContent === 'Sign in'`)

	b.do(t, "follow the sign-up link", chromedp.Click(chromedp.CSS(`a[href="/console/sign-up"]`)))
	b.poll(t, "the sign-up page", `location.pathname === '/console/sign-up' && document.querySelector('h1')?.textContent === 'Create your account'`)

	// A too-short password is refused in the form, next to the field.
	email := "console-" + uuid.NewString()[:8] + "@example.com"
	b.typeInto(t, "type the name", `#signup-name`, "Ana's Coaching")
	b.typeInto(t, "type the email", `#signup-email`, email)
	b.typeInto(t, "type a short password", `#signup-password`, "short")
	b.do(t, "press Enter", pressEnter())
	b.poll(t, "the password error", `document.querySelector('#signup-password-error')?.textContent.includes('at least 8')`)
	require.Equal(t, "true", b.eval(t, `document.querySelector('#signup-password').getAttribute('aria-invalid')`))
	b.axe(t, axe, "sign up with an error")

	b.typeInto(t, "type a good password", `#signup-password`, "-long-enough-now")
	b.do(t, "press Enter", pressEnter())
	b.poll(t, "the Knowledge page", `location.pathname === '/console/knowledge' && document.querySelector('h1')?.textContent === 'Knowledge'`)
	b.poll(t, "the empty state and the live stream", `document.querySelector('.empty-title')?.textContent === 'No knowledge yet' && document.querySelector('.live')?.textContent === 'Live'`)
	require.Contains(t, b.eval(t, `document.querySelector('.account-email').textContent`), "Ana's Coaching")
	require.Equal(t, "Knowledge", b.eval(t, `document.activeElement.tagName === 'H1' ? document.activeElement.textContent : document.activeElement.outerHTML`),
		"the new page's heading has the focus")

	// Record every state each document row shows, to see them change in place.
	b.do(t, "watch the rows", chromedp.Evaluate[chromedp.Void](`(() => {
	  window.__page = 'same page';
	  window.__states = {};
	  const record = () => document.querySelectorAll('tr[data-doc-id]').forEach((tr) => {
	    const s = (window.__states[tr.dataset.docId] ||= []);
	    if (s[s.length - 1] !== tr.dataset.status) s.push(tr.dataset.status);
	  });
	  new MutationObserver(record).observe(document.body, {subtree: true, childList: true, attributes: true, attributeFilter: ['data-status']});
	})()`))

	rowOf := func(title string) string {
		return fmt.Sprintf(`document.evaluate('//tr[.//span[@class="title-text" and text()="%s"]]', document, null, 9, null).singleNodeValue`, title)
	}

	// Two files at once through the file picker.
	dir := t.TempDir()
	files := map[string]string{
		"morning-routine.md": "# Morning routine\n\nStart the day with a glass of water, five minutes of stretching and one " +
			"written intention. Keep the routine small enough to do on a bad day.\n",
		"sleep-basics.txt": "Sleep basics\n\nGo to bed and get up at the same time every day, keep the bedroom dark and " +
			"cool, and stop screens an hour before sleep. Caffeine after noon makes deep sleep shorter.\n",
	}
	var paths []string
	for name, body := range files {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
		paths = append(paths, p)
	}
	// Keyboard only: from the heading, Tab reaches the file picker (the Reindex button is
	// disabled while there is nothing to reindex) and Space opens it; the test answers the
	// browser's file chooser with the two files.
	b.do(t, "press Tab", chromedp.KeyEvent("\t"))
	require.Equal(t, "upload-input", b.eval(t, `document.activeElement.id`))
	b.chooseFiles(t, chromedp.KeyEvent(" "), page.FileChooserOpenedModeSelectMultiple, paths...)
	b.poll(t, "both uploads to finish", `document.querySelectorAll('li.upload[data-upload-state="done"]').length === 2`)
	require.Equal(t, "100,100", b.eval(t, `Array.from(document.querySelectorAll('li.upload progress')).map((p) => p.value).join(',')`),
		"each file's progress bar reached 100%")
	b.poll(t, "both documents to be indexed", `document.querySelectorAll('tr[data-doc-id][data-status="indexed"]').length === 2`)
	require.Equal(t, "0", b.eval(t, `String(document.querySelectorAll('.empty').length)`), "no empty state with documents")
	titles := b.eval(t, `Array.from(document.querySelectorAll('tr[data-doc-id] .title-text')).map((e) => e.textContent).sort().join('|')`)
	require.Equal(t, "morning routine|sleep basics", titles)
	states := run(t, b, "read the states", chromedp.Evaluate[map[string][]string](`window.__states`))
	require.Len(t, states, 2)
	for id, seq := range states {
		t.Logf("document %s showed %v", id, seq)
		require.Equal(t, "indexed", seq[len(seq)-1])
	}
	require.Equal(t, "same page", b.eval(t, `window.__page`), "the states arrived live, without a page load")
	require.Contains(t, b.eval(t, `document.querySelector('li.upload').textContent`), "Uploaded · Indexed")

	if os.Getenv(consoleScreenshotEnv) == "1" {
		shot := run(t, b, "screenshot", chromedp.FullScreenshot(100))
		require.NoError(t, os.WriteFile(filepath.Join("..", "..", "docs", "console.png"), shot, 0o644))
		t.Logf("screenshot saved to docs/console.png (%d bytes)", len(shot))
	}

	// Drag and drop: a file dropped on the drop zone is uploaded like a chosen one.
	dropped := filepath.Join(dir, "evening-wind-down.txt")
	require.NoError(t, os.WriteFile(dropped, []byte("Evening wind-down\n\nDim the lights, write down tomorrow's first task and read ten pages of a paper book.\n"), 0o644))
	// With it, an image: refused by the API, and the upload says why and what is accepted.
	photo := filepath.Join(dir, "photo.png")
	require.NoError(t, os.WriteFile(photo, append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), make([]byte, 64)...), 0o644))
	b.dropFiles(t, ".dropzone", dropped, photo)
	b.poll(t, "the dropped file indexed", rowOf("evening wind down")+`?.dataset.status === 'indexed'`)
	require.Equal(t, "3", b.eval(t, `String(document.querySelectorAll('li.upload[data-upload-state="done"]').length)`))
	b.poll(t, "the refused image", `document.querySelector('li.upload[data-upload-state="failed"]')?.textContent.includes('photo.png')`)
	refused := b.eval(t, `document.querySelector('li.upload[data-upload-state="failed"] .upload-status').textContent`)
	require.Contains(t, refused, "Not uploaded:")
	require.Contains(t, refused, "supported: PDF", "the error names what is accepted")
	require.Equal(t, "0", b.eval(t, `String(`+rowOf("photo")+` ? 1 : 0)`), "nothing was added for the image")

	// Filter: a search that matches one title, then none.
	b.typeInto(t, "search", `#doc-search`, "sleep")
	b.poll(t, "one match", `document.querySelectorAll('tr[data-doc-id]').length === 1 && document.querySelector('tr[data-doc-id] .title-text').textContent === 'sleep basics'`)
	b.typeInto(t, "search more", `#doc-search`, "zzz")
	// The list filters after a pause in typing, so a slow keyboard shows "no match" for
	// "sleepz" and draws it again for each later key: wait for the whole query's answer.
	b.poll(t, "no match", `document.querySelector('.empty-title')?.textContent === 'No documents match these filters.' &&
	  performance.getEntriesByType('resource').filter((e) => e.name.includes('/api/v1/documents?')).pop()?.name.includes('q=sleepzzz')`)
	b.do(t, "clear the filters", chromedp.Click(chromedp.CSS(`.empty button`)))
	b.poll(t, "every document again", `document.querySelectorAll('tr[data-doc-id]').length === 3`)
	require.Empty(t, b.eval(t, `document.querySelector('#doc-search').value`))

	// URL import: an address that answers 404 is explained in the form; a real page is imported
	// and indexed like an upload.
	b.typeInto(t, "type a missing page's URL", `#import-url`, site.URL+"/missing.html")
	b.do(t, "press Enter", pressEnter())
	b.poll(t, "the import error", `document.querySelector('#import-error')?.textContent.includes('404')`)
	require.Equal(t, "true", b.eval(t, `document.querySelector('#import-url').getAttribute('aria-invalid')`))
	b.axe(t, axe, "knowledge, import error")
	b.do(t, "select the URL", chromedp.Evaluate[chromedp.Void](`(() => { const e = document.querySelector('#import-url'); e.focus(); e.select(); })()`))
	b.do(t, "type over it", chromedp.KeyEvent(site.URL+"/breathing.html"))
	require.Equal(t, site.URL+"/breathing.html", b.eval(t, `document.querySelector('#import-url').value`))
	b.typeInto(t, "type a title", `#import-title`, "Box breathing")
	b.do(t, "click Import", chromedp.Click(chromedp.Search(`//button[text()="Import"]`)))
	b.poll(t, "the imported page to be indexed", `(() => { const tr = document.evaluate('//tr[.//span[@class="title-text" and text()="Box breathing"]]', document, null, 9, null).singleNodeValue;
	  return tr && tr.dataset.status === 'indexed' && tr.querySelector('.doc-sub').textContent.endsWith('/breathing.html'); })()`)
	require.Empty(t, b.eval(t, `document.querySelector('#import-url').value`), "the form is cleared after an import")

	// Replace a document with a new file: it goes through the states again, with the new size.
	morningID := b.eval(t, rowOf("morning routine")+`.dataset.docId`)
	newer := filepath.Join(dir, "morning-routine-v2.md")
	require.NoError(t, os.WriteFile(newer, []byte("# Morning routine, second edition\n\nWater, stretching, one intention and ten minutes outside in daylight.\n"), 0o644))
	b.chooseFiles(t, chromedp.Click(chromedp.Search(`//tr[.//span[@class="title-text" and text()="morning routine"]]//button[contains(., "Replace")]`)),
		page.FileChooserOpenedModeSelectSingle, newer)
	b.poll(t, "the replacement upload", `Array.from(document.querySelectorAll('li.upload[data-upload-state="done"] .upload-name')).some((e) => e.textContent.includes('replaces “morning routine”'))`)
	b.poll(t, "the new version indexed", fmt.Sprintf(`(() => { const tr = %s; return tr.dataset.docId === %q && tr.dataset.status === 'indexed' && tr.querySelector('td[data-label="Size"]').textContent === '105 B'; })()`, rowOf("morning routine"), morningID))
	t.Logf("morning routine showed %s", b.eval(t, fmt.Sprintf(`window.__states[%q].join(' → ')`, morningID)))

	// Reindex one document.
	b.do(t, "click Reindex", chromedp.Click(chromedp.Search(`//tr[.//span[@class="title-text" and text()="sleep basics"]]//button[contains(., "Reindex")]`)))
	b.poll(t, "the reindex notice", `document.querySelector('.notice')?.textContent === 'sleep basics is queued for reindexing.'`)
	b.poll(t, "sleep basics indexed again", rowOf("sleep basics")+`.dataset.status === 'indexed'`)

	// Delete one through the confirmation dialog; the row leaves when ingest has finished.
	b.do(t, "click Delete", chromedp.Click(chromedp.Search(`//tr[.//span[@class="title-text" and text()="sleep basics"]]//button[contains(., "Delete")]`)))
	b.poll(t, "the dialog", `document.querySelector('dialog.dialog')?.open && document.activeElement.textContent === 'Cancel'`)
	b.axe(t, axe, "knowledge, delete dialog")
	b.do(t, "confirm", chromedp.Click(chromedp.CSS(`dialog.dialog button[type="submit"]`)))
	b.poll(t, "the row to go", `document.querySelectorAll('tr[data-doc-id]').length === 3 && !`+rowOf("sleep basics"))

	// A reload keeps the session (refresh token in the HttpOnly cookie, access token in memory).
	b.do(t, "reload", chromedp.Reload())
	b.poll(t, "the Knowledge page after the reload", `document.querySelector('h1')?.textContent === 'Knowledge' && document.querySelectorAll('tr[data-doc-id][data-status="indexed"]').length === 3`)

	// Keyboard: on a fresh load the first Tab reaches the skip link, which moves the focus to
	// the content.
	b.do(t, "press Tab", chromedp.KeyEvent("\t"))
	require.Equal(t, "Skip to content", b.eval(t, `document.activeElement.textContent`))
	b.do(t, "press Enter", pressEnter())
	require.Equal(t, "main", b.eval(t, `document.activeElement.id`))

	// Phone size: the navigation folds into a menu button that works from the keyboard.
	b.do(t, "phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	b.poll(t, "the menu button", `getComputedStyle(document.querySelector('.menu-button')).display !== 'none' && getComputedStyle(document.querySelector('#console-nav')).display === 'none'`)
	require.Equal(t, "0", b.eval(t, `String(document.documentElement.scrollWidth - window.innerWidth)`), "no horizontal scrolling at phone width")
	b.do(t, "focus the menu button", chromedp.Focus(chromedp.CSS(`.menu-button`)))
	b.do(t, "press Enter", pressEnter())
	b.poll(t, "the open menu", `document.querySelector('.menu-button').getAttribute('aria-expanded') === 'true' && getComputedStyle(document.querySelector('#console-nav')).display !== 'none'`)
	b.axe(t, axe, "menu open at phone size")
	b.do(t, "press Escape", chromedp.KeyEvent("\u001b"))
	b.poll(t, "the closed menu, focus back on its button", `document.querySelector('.menu-button').getAttribute('aria-expanded') === 'false' && document.activeElement === document.querySelector('.menu-button')`)
	if os.Getenv(consoleScreenshotEnv) == "1" {
		shot := run(t, b, "phone screenshot", chromedp.FullScreenshot(100))
		require.NoError(t, os.WriteFile(filepath.Join("..", "..", "docs", "console-phone.png"), shot, 0o644))
	}
	b.do(t, "desktop viewport", chromedp.EmulateViewport(1280, 900))

	// Sign out: back to the sign-in page, and the refresh token no longer works.
	rc := b.cookie(t, a.URL, "cw_refresh")
	require.NotNil(t, rc, "the refresh cookie")
	refresh := rc.Value
	b.do(t, "click Sign out", chromedp.Click(chromedp.Search(`//button[text()="Sign out"]`)))
	b.poll(t, "the signed-out page", `location.pathname === '/console/sign-in' && document.querySelector('.notice')?.textContent === 'You are signed out.'`)
	require.Nil(t, b.cookie(t, a.URL, "cw_refresh"), "signing out clears the refresh cookie")
	st, raw, err := testenv.NewClient(a.URL).Do(context.Background(), "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": refresh}, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusUnauthorized, st, "the signed-out refresh token is revoked: %s", raw)
	b.axe(t, axe, "signed out")
	b.do(t, "reload", chromedp.Reload())
	b.poll(t, "still signed out", `location.pathname === '/console/sign-in' && document.querySelector('h1')?.textContent === 'Sign in'`)

	require.Empty(t, b.exceptions(), "uncaught exceptions on the page")
}

// dropFiles drags files from outside the page and drops them on the centre of the element css
// selects, with the browser's own drag events (dragenter, dragover, drop).
func (b *browser) dropFiles(t *testing.T, css string, files ...string) {
	t.Helper()
	type point struct {
		X float64 `json:"x"`
		Y float64 `json:"y"`
	}
	p := run(t, b, "locate "+css, chromedp.Evaluate[point](fmt.Sprintf(`(() => { const e = document.querySelector(%q);
	  e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect(); return {x: r.x + r.width / 2, y: r.y + r.height / 2}; })()`, css)))
	data := &input.DragData{Items: []*input.DragDataItem{}, Files: files, DragOperationsMask: 1}
	for _, typ := range []input.DispatchDragEventType{input.DispatchDragEventTypeDragEnter, input.DispatchDragEventTypeDragOver, input.DispatchDragEventTypeDrop} {
		b.do(t, "drag: "+string(typ), chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, input.DispatchDragEvent, input.DispatchDragEventParams{Type: typ, X: p.X, Y: p.Y, Data: data})
			return err
		}))
	}
}

// chooseFiles runs open, which must open a file chooser, and answers the chooser with files,
// as a person picking them in the browser's dialog.
func (b *browser) chooseFiles(t *testing.T, open chromedp.Action[chromedp.Void], mode page.FileChooserOpenedMode, files ...string) {
	t.Helper()
	b.do(t, "intercept file choosers", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.SetInterceptFileChooserDialog, page.SetInterceptFileChooserDialogParams{Enabled: true})
		return err
	}))
	ctx, cancel := context.WithTimeout(b.ctx, browserWait)
	defer cancel()
	opened := chromedp.Events(ctx, page.FileChooserOpened)
	b.do(t, "open the file chooser", open)
	var node cdp.BackendNodeID
	for ev, err := range opened {
		require.NoError(t, err, "no file chooser opened")
		require.Equal(t, mode, ev.Mode, "the chooser's mode")
		node = ev.BackendNodeID
		break
	}
	require.NotZero(t, node, "no file chooser opened")
	b.do(t, "choose the files", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, dom.SetFileInputFiles, dom.SetFileInputFilesParams{Files: files, BackendNodeID: node})
		return err
	}))
}

// typeInto focuses the element css selects and types text into it with real key events.
// (chromedp.SendKeys reads the node's attributes without its lock, a data race while the page
// changes attributes.)
func (b *browser) typeInto(t *testing.T, what, css, text string) {
	t.Helper()
	b.do(t, "focus for: "+what, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%q).focus()`, css)))
	b.do(t, what, chromedp.KeyEvent(text))
}

type axeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// axe runs axe-core on the page as it is (injecting it first if this document has not got it)
// and fails the test on a serious or critical violation; minor and moderate ones are logged. It
// also fails on any CSP violation recorded so far.
func (b *browser) axe(t *testing.T, script []byte, state string) {
	t.Helper()
	start := time.Now()
	if b.eval(t, `typeof window.axe`) == "undefined" {
		run(t, b, "inject axe-core", chromedp.Evaluate[bool](string(script)+"\n;true"))
	}
	vs := run(t, b, "run axe-core on "+state, chromedp.Evaluate[[]axeViolation](`axe.run(document, {resultTypes: ['violations']}).then((r) =>
	  r.violations.map((v) => ({id: v.id, impact: v.impact || '', help: v.help, nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' '))})))`,
		chromedp.EvalAwaitPromise))
	var bad []string
	for _, v := range vs {
		line := fmt.Sprintf("%s (%s): %s at %s", v.ID, v.Impact, v.Help, strings.Join(v.Nodes, ", "))
		if v.Impact == "serious" || v.Impact == "critical" {
			bad = append(bad, line)
		} else {
			t.Logf("axe on %s: %s", state, line)
		}
	}
	if len(bad) > 0 {
		t.Fatalf("axe-core on %s: %d serious or critical violations:\n  %s", state, len(bad), strings.Join(bad, "\n  "))
	}
	csp := run(t, b, "read CSP violations", chromedp.Evaluate[[]string](`window.__cspViolations || []`))
	require.Empty(t, csp, "Content-Security-Policy violations on %s", state)
	t.Logf("axe on %s: %d violations, none serious or critical (%s)", state, len(vs), time.Since(start).Round(time.Millisecond))
}
