package app_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/testenv"
)

// TestConsoleAuditInBrowser seeds a workspace's changes through the HTTP API (55 send-policy
// edits, an API key and an edit made with it, a failed sign-in), signs in through the console
// and opens the Audit log page from the navigation: the newest entries, filtering by kind of
// change (Enter in a field submits), paging with the keyboard to older entries, filtering by who, the empty
// state, the CSV download of the filtered log, and phone width. axe-core finds no serious or
// critical violation on the log, the empty state and at phone width; COACHWIRE_SCREENSHOTS=1 saves docs/audit.png and
// docs/audit-phone.png (the visible part of the page).
func TestConsoleAuditInBrowser(t *testing.T) {
	t.Parallel()
	axe := consoleAxe(t)
	a, _ := sharedConsoleApp(t)
	c := testenv.NewClient(a.URL)
	cr := c.Register(t)
	do := func(method, path, token string, body any, out any) {
		t.Helper()
		st, raw, err := c.Do(context.Background(), method, path, token, body, out)
		require.NoError(t, err)
		require.Less(t, st, 300, "%s %s: %s", method, path, raw)
	}
	// 55 send-policy changes: more than one page of 50.
	for i := range 55 {
		do("PATCH", "/api/v1/nudge-policy", cr.AccessToken, map[string]any{"cap_day": 1 + i%5}, nil)
	}
	var key struct {
		Key string `json:"key"`
	}
	do("POST", "/api/v1/api-keys", cr.AccessToken, map[string]any{"name": "Zapier sync", "role": "editor"}, &key)
	do("PATCH", "/api/v1/widget/settings", key.Key, map[string]any{"name": "Coach Ada"}, nil)
	st, _, err := c.Do(context.Background(), "POST", "/api/v1/auth/login", "", map[string]any{"email": cr.Email, "password": "not the password"}, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusUnauthorized, st)
	testenv.Eventually(t, 10*time.Second, func() bool { // recorded after the answer
		var out struct {
			Entries []struct{} `json:"entries"`
		}
		st, _, err := c.Do(context.Background(), "GET", "/api/v1/audit?action=auth.sign_in_failed", cr.AccessToken, nil, &out)
		return err == nil && st == http.StatusOK && len(out.Entries) == 1
	}, "the failed sign-in's entry")

	b := newConsoleBrowser(t, "console", `{path: location.pathname, text: document.body.innerText.slice(0, 4000)}`)
	downloads := b.allowDownloads(t)
	b.do(t, "open the console", chromedp.Navigate(a.URL+"/console/knowledge"))
	b.poll(t, "the sign-in page", `document.querySelector('h1')?.textContent === 'Sign in'`)
	b.typeInto(t, "type the email", `#signin-email`, cr.Email)
	b.typeInto(t, "type the password", `#signin-password`, "correct horse battery")
	b.do(t, "press Enter", pressEnter())
	b.poll(t, "signed in", `location.pathname === '/console/knowledge'`)
	b.do(t, "open the Audit log", chromedp.Click(chromedp.CSS(`#console-nav a[href="/console/audit"]`)))
	ready := `document.querySelector('.panel.audit')?.dataset.state === 'ready'`
	rows := `document.querySelectorAll('.audit-table tbody tr')`
	b.poll(t, "the Audit log page", `location.pathname === '/console/audit' && document.querySelector('h1')?.textContent === 'Audit log' && `+ready+` && `+rows+`.length === 50`)
	// Newest first: this sign-in, the failed one, the key's change.
	actions := func() string {
		return b.eval(t, `Array.from(`+rows+`).map((tr) => tr.dataset.action).slice(0, 4).join(',')`)
	}
	require.Equal(t, "auth.sign_in,auth.sign_in_failed,widget_settings.updated,api_key.created", actions())
	first := b.eval(t, `document.querySelector('.audit-table tbody tr').textContent`)
	require.Contains(t, first, cr.Email)
	require.Contains(t, first, "Signed in")
	require.Contains(t, first, "127.0.0.1")
	require.Contains(t, b.eval(t, `document.querySelectorAll('.audit-table tbody tr')[2].textContent`), "Zapier sync", "the key's change names the key")
	b.axe(t, axe, "audit log")

	// Filter by kind of change; the form submits with Enter in a field.
	setSelect := func(v string) {
		b.do(t, "choose "+v, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => { const e = document.querySelector('#audit-action');
		  Object.getOwnPropertyDescriptor(HTMLSelectElement.prototype, 'value').set.call(e, %q); e.dispatchEvent(new Event('change', {bubbles: true})); })()`, v)))
	}
	setSelect("nudge_policy.")
	b.do(t, "focus the who field", chromedp.Evaluate[chromedp.Void](`document.querySelector('#audit-actor').focus()`))
	b.do(t, "press Enter", pressEnter())
	allPolicy := `Array.from(` + rows + `).every((tr) => tr.dataset.action === 'nudge_policy.updated')`
	b.poll(t, "only send-policy changes, a full page", ready+` && `+rows+`.length === 50 && `+allPolicy)
	b.poll(t, "older entries exist", `!document.querySelector('.pager button:last-child').disabled`)
	// Keyboard: the pager's buttons take Enter.
	b.do(t, "focus Older", chromedp.Evaluate[chromedp.Void](`document.querySelector('.pager button:last-child').focus()`))
	b.do(t, "press Enter on Older", pressEnter())
	b.poll(t, "the second page: the 5 oldest", ready+` && `+rows+`.length === 5 && `+allPolicy+` && document.querySelector('.pager-page').textContent === 'Page 2'`)
	b.poll(t, "no older page", `document.querySelector('.pager button:last-child').disabled`)
	b.do(t, "newer", chromedp.Click(chromedp.CSS(`.pager button:first-child`)))
	b.poll(t, "back on page 1", ready+` && `+rows+`.length === 50 && document.querySelector('.pager-page').textContent === 'Page 1'`)

	// By who: the key's name, all kinds of change.
	setSelect("")
	b.typeInto(t, "type the key's name", `#audit-actor`, "zapier SYNC")
	b.do(t, "press Enter", pressEnter())
	b.poll(t, "the key's one change", ready+` && `+rows+`.length === 1 && `+rows+`[0].dataset.action === 'widget_settings.updated'`)

	// CSV: the filtered log, as the API writes it.
	b.do(t, "download the CSV", chromedp.Click(chromedp.CSS(`button[data-csv="audit"]`)))
	var csv string
	testenv.Eventually(t, 30*time.Second, func() bool {
		files, _ := filepath.Glob(filepath.Join(downloads, "coachwire-audit-*.csv"))
		if len(files) != 1 {
			return false
		}
		raw, err := os.ReadFile(files[0])
		csv = string(raw)
		return err == nil && strings.Count(csv, "\n") >= 2
	}, "the downloaded CSV")
	lines := strings.Split(strings.TrimSpace(csv), "\n")
	require.Equal(t, "at,actor_type,actor_id,actor_label,action,target_type,target_id,ip,details,id", lines[0])
	require.Len(t, lines, 2, "the filter applies to the export: %q", csv)
	require.Contains(t, lines[1], ",api_key,")
	require.Contains(t, lines[1], "Zapier sync,widget_settings.updated,workspace,"+cr.ID.String()+",127.0.0.1,")

	// Nobody: the empty state says what to do, and clearing brings everything back.
	b.do(t, "select the who field", chromedp.Evaluate[chromedp.Void](`document.querySelector('#audit-actor').select()`))
	b.typeInto(t, "type nobody", `#audit-actor`, "nobody@example.com")
	b.do(t, "press Enter", pressEnter())
	b.poll(t, "the empty state", ready+` && document.querySelector('.audit .empty')?.textContent.includes('No entries match these filters')`)
	b.axe(t, axe, "audit log, no match")
	b.do(t, "clear the filters", chromedp.Click(chromedp.CSS(`.audit .empty button`)))
	b.poll(t, "everything again", ready+` && `+rows+`.length === 50 && document.querySelector('#audit-actor').value === ''`)
	shot := func(name string) {
		if os.Getenv(consoleScreenshotEnv) == "1" {
			png := run(t, b, "screenshot", chromedp.CaptureScreenshot())
			require.NoError(t, os.WriteFile(filepath.Join("..", "..", "docs", name), png, 0o644))
		}
	}
	shot("audit.png")

	// Phone width: no sideways scrolling, the rows as cards.
	b.do(t, "phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	b.poll(t, "laid out for the phone", `document.querySelector('.audit-table thead').getBoundingClientRect().width <= 1`)
	require.Equal(t, "0", b.eval(t, `String(document.documentElement.scrollWidth - window.innerWidth)`), "no horizontal scrolling at phone width")
	b.axe(t, axe, "audit log at phone size")
	shot("audit-phone.png")
	require.Empty(t, b.exceptions(), fmt.Sprintf("JavaScript exceptions on %s", "the audit page"))
}
