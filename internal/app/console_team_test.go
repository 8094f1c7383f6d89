package app_test

import (
	"archive/zip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/testenv"
)

// TestConsoleTeamInBrowser drives the Team, API keys and Settings pages in two Chromium
// browsers (two people): the owner invites an agent from the keyboard and copies the single-use
// link; the agent joins with it (through the API: the invitation-accept page is another branch's)
// and signs in in the second browser, where the navigation offers none of the owner's pages and
// a forbidden URL says why; the owner makes the agent a viewer (the agent's Team page is then
// read-only, with the reason) and removes them (the agent's session ends at their next click, and
// signing in again is refused); the owner creates an API key (shown once, copied, works), revokes
// it (refused at once), saves the send policy, edits a channel's STOP words (a duplicate refused
// inline first), downloads the workspace export and transfers
// ownership; made a viewer behind the page's back, their next change shows the API's 403 as a
// clear message and the page turns read-only. axe-core finds no serious or critical violation
// on any page (in its most complete state, its dialogs and errors), and the pages fit a phone's width.
func TestConsoleTeamInBrowser(t *testing.T) {
	t.Parallel()
	axe := consoleAxe(t)
	a, _ := sharedConsoleApp(t)
	c := testenv.NewClient(a.URL)
	owner := c.Register(t)
	const password = "correct horse battery"
	apiCall := func(method, path, token string, body, out any) int {
		t.Helper()
		st, raw, err := c.Do(context.Background(), method, path, token, body, out)
		require.NoError(t, err)
		if out != nil && st < 300 {
			return st
		}
		t.Logf("%s %s: %d %s", method, path, st, raw)
		return st
	}

	open := func(who string) *browser {
		b := newConsoleBrowser(t, who+"'s console", `{path: location.pathname, text: document.body.innerText.slice(0, 3000)}`)
		return b
	}
	signIn := func(b *browser, email, path string) {
		t.Helper()
		b.do(t, "open the console", chromedp.Navigate(a.URL+"/console"+path))
		b.poll(t, "the sign-in page", `document.querySelector('h1')?.textContent === 'Sign in'`)
		b.typeInto(t, "type the email", `#signin-email`, email)
		b.typeInto(t, "type the password", `#signin-password`, password)
		b.do(t, "press Enter", pressEnter())
	}
	// press focuses the element css selects and presses Enter on it: keyboard only.
	press := func(b *browser, what, css string) {
		t.Helper()
		b.do(t, "focus "+what, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%q).focus()`, css)))
		require.Equal(t, "true", b.eval(t, fmt.Sprintf(`String(document.activeElement === document.querySelector(%q))`, css)), "%s takes the focus", what)
		b.do(t, "press Enter on "+what, pressEnter())
	}
	// The navigation of each role (web/console/src/ui/Layout.tsx pages, by permission).
	const (
		ownerNav  = "/console/inbox /console/knowledge /console/coach /console/channels /console/campaigns /console/programs /console/analytics /console/team /console/keys /console/audit /console/settings /console/account"
		viewerNav = "/console/inbox /console/knowledge /console/coach /console/channels /console/campaigns /console/programs /console/analytics /console/team /console/settings /console/account"
	)
	navLinks := func(b *browser) string {
		return b.eval(t, `Array.from(document.querySelectorAll('#console-nav a')).map((a) => a.getAttribute('href')).join(' ')`)
	}
	phone := func(b *browser, state string) {
		t.Helper()
		b.do(t, "phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
		b.poll(t, "the menu button", `getComputedStyle(document.querySelector('.menu-button')).display !== 'none'`)
		require.Equal(t, "390 390", b.eval(t, `document.documentElement.scrollWidth + ' ' + window.innerWidth`), "no horizontal scrolling at phone width on %s", state)
		b.axe(t, axe, state+" at phone size")
		b.do(t, "desktop viewport", chromedp.EmulateViewport(1280, 900))
	}

	// The owner opens Team: every owner's page is in the navigation.
	ob := open("the owner")
	signIn(ob, owner.Email, "/team")
	ob.poll(t, "the Team page", `location.pathname === '/console/team' && document.querySelector('h1')?.textContent === 'Team' && document.querySelector('tr[data-role="owner"]')`)
	require.Equal(t, ownerNav, navLinks(ob))
	require.Equal(t, "page", ob.eval(t, `document.querySelector('#console-nav a[href="/console/team"]').getAttribute('aria-current')`))

	// Invite an agent from the keyboard: the email, Tab to the role (agent is preselected), Enter.
	agentEmail := "agent-" + uuid.NewString()[:8] + "@example.com"
	ob.typeInto(t, "type the email", `#invite-email`, agentEmail)
	ob.do(t, "press Tab", chromedp.KeyEvent("\t"))
	require.Equal(t, "invite-role agent", ob.eval(t, `document.activeElement.id + ' ' + document.activeElement.value`))
	ob.do(t, "back to the email", chromedp.Evaluate[chromedp.Void](`document.querySelector('#invite-email').focus()`))
	ob.do(t, "press Enter", pressEnter())
	ob.poll(t, "the invitation link", `document.querySelector('#invite-link')?.value.includes('/console/accept-invitation#token=cwi_')`)
	link := ob.eval(t, `document.querySelector('#invite-link').value`)
	require.Contains(t, ob.eval(t, `document.querySelector('#invite-link-hint').textContent`), "Shown only now")
	press(ob, "the Copy button", `button[data-copy="invite-link"]`)
	ob.poll(t, "copied", `document.querySelector('#invite-link-status').textContent === 'Copied to the clipboard.'`)
	ob.poll(t, "the pending invitation", fmt.Sprintf(`document.querySelector('tr[data-invitation=%q]')?.textContent.includes('Agent')`, agentEmail))
	require.Regexp(t, `^in [67] days$`, ob.eval(t, fmt.Sprintf(`document.querySelector('tr[data-invitation=%q] time').textContent`, agentEmail)))
	ob.axe(t, axe, "team, an invitation link shown")
	phone(ob, "team")

	// The agent accepts through the API (the acceptance page is console-auth's) with the token
	// from the copied link, then signs in in a second browser.
	_, token, ok := strings.Cut(link, "#token=")
	require.True(t, ok)
	var joined struct {
		Role string `json:"role"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	require.Equal(t, http.StatusOK, apiCall("POST", "/api/v1/invitations/accept", "", map[string]string{"token": token, "password": password, "name": "Avery Agent"}, &joined))
	require.Equal(t, "agent", joined.Role)
	ab := open("the agent")
	signIn(ab, agentEmail, "")
	ab.poll(t, "the agent's console", `document.querySelector('#console-nav') && document.querySelector('h1') && document.querySelector('h1').textContent !== 'Sign in'`)
	// The agent's pages: the inbox and their own account, nothing of the owner's.
	ab.poll(t, "the agent's navigation", `document.querySelectorAll('#console-nav a').length > 0`)
	require.Equal(t, "/console/inbox /console/account", navLinks(ab), "the agent's navigation offers only the inbox and the account")
	require.NotContains(t, ab.eval(t, `document.querySelector('h1').textContent`), "No access")
	ab.axe(t, axe, "the agent's home")
	for _, p := range []struct{ path, label, perm string }{{"/team", "Team", "team.read"}, {"/keys", "API keys", "keys.manage"}, {"/settings", "Settings", "settings.read"}} {
		ab.do(t, "open "+p.path, chromedp.Navigate(a.URL+"/console"+p.path))
		ab.poll(t, "the no-access page", fmt.Sprintf(`document.querySelector('h1')?.textContent === 'No access to %s'`, p.label))
		msg := ab.eval(t, `document.querySelector('.forbidden').textContent`)
		require.Contains(t, msg, "Your role in this workspace is agent")
		require.Contains(t, msg, p.perm)
		require.Contains(t, msg, "ask an owner or admin")
		require.Equal(t, "0", ab.eval(t, `String(document.querySelectorAll('#invite-email, #key-name, #policy-timezone').length)`), "no form of the page")
	}
	ab.axe(t, axe, "a forbidden page")

	// The owner makes the agent a viewer, from the keyboard (ArrowDown in the role list).
	ob.do(t, "reload", chromedp.Reload())
	row := fmt.Sprintf(`tr[data-member=%q]`, agentEmail)
	ob.poll(t, "the agent's row", `document.querySelector('`+row+`')?.dataset.role === 'agent'`)
	ob.do(t, "focus the role", chromedp.Evaluate[chromedp.Void](`document.querySelector('`+row+` select').focus()`))
	ob.do(t, "press ArrowDown", chromedp.KeyEvent(kb.ArrowDown))
	ob.poll(t, "the new role", `document.querySelector('`+row+`')?.dataset.role === 'viewer' && document.querySelector('.notice')?.textContent === 'Avery Agent is now Viewer.'`)
	// The agent's next page load shows the viewer's pages; Team is read-only, with the reason.
	ab.do(t, "open Team again", chromedp.Navigate(a.URL+"/console/team"))
	ab.poll(t, "the Team page for a viewer", `document.querySelector('h1')?.textContent === 'Team' && document.querySelector('tr[data-role="owner"]')`)
	require.Equal(t, viewerNav, navLinks(ab))
	require.Equal(t, "true", ab.eval(t, `String(document.querySelector('.invite-form fieldset').disabled)`), "the invitation form is disabled")
	require.Contains(t, ab.eval(t, `document.querySelector('#invite-disabled').textContent`), "Your role (viewer) can see the team but not change it")
	require.Equal(t, "0", ab.eval(t, `String(document.querySelectorAll('tr select, .actions button').length)`), "no role lists or buttons for a viewer")
	ab.axe(t, axe, "team, read-only for a viewer")

	// The owner removes them through the confirmation dialog; the agent's session ends at their
	// next click, and signing in again is refused.
	press(ob, "Remove", row+` .actions button.danger-outline`)
	ob.poll(t, "the dialog", `document.querySelector('dialog.dialog')?.open && document.activeElement.textContent === 'Cancel'`)
	require.Contains(t, ob.eval(t, `document.querySelector('#confirm-message').textContent`), "every session they have here ends")
	ob.axe(t, axe, "team, the removal dialog")
	press(ob, "Remove member", `dialog.dialog button[type="submit"]`)
	ob.poll(t, "the member gone", `!document.querySelector('`+row+`') && document.querySelector('.notice')?.textContent === 'Avery Agent was removed.'`)
	ab.do(t, "click Settings in the navigation", chromedp.Click(chromedp.CSS(`#console-nav a[href="/console/settings"]`)))
	ab.poll(t, "the agent signed out", `document.querySelector('h1')?.textContent === 'Sign in' && document.querySelector('.notice')?.textContent === 'Your session ended. Sign in again to continue.'`)
	require.Equal(t, "null", ab.eval(t, `String(sessionStorage.getItem('coachwire.console.refresh'))`))
	ab.typeInto(t, "type the email", `#signin-email`, agentEmail)
	ab.typeInto(t, "type the password", `#signin-password`, password)
	ab.do(t, "press Enter", pressEnter())
	ab.poll(t, "sign-in refused", `document.querySelector('.form-error')?.textContent.length > 0`)
	t.Logf("the removed agent signing in: %s", ab.eval(t, `document.querySelector('.form-error').textContent`))
	require.Empty(t, ab.exceptions(), "uncaught exceptions on the agent's pages")

	// API keys: create one (shown once, copied), use it, revoke it.
	ob.do(t, "open API keys", chromedp.Click(chromedp.CSS(`#console-nav a[href="/console/keys"]`)))
	ob.poll(t, "the API keys page", `document.querySelector('h1')?.textContent === 'API keys' && document.querySelector('.empty-inline')`)
	ob.typeInto(t, "type the key's name", `#key-name`, "Nightly backup")
	ob.do(t, "press Enter", pressEnter())
	ob.poll(t, "the secret", `document.querySelector('#new-key-secret')?.value.startsWith('cwk_') && document.querySelector('tr[data-key="Nightly backup"]')`)
	secret := ob.eval(t, `document.querySelector('#new-key-secret').value`)
	press(ob, "the Copy button", `button[data-copy="new-key-secret"]`)
	ob.poll(t, "copied", `document.querySelector('#new-key-secret-status').textContent === 'Copied to the clipboard.'`)
	keyRow := `tr[data-key="Nightly backup"]`
	require.True(t, strings.HasPrefix(secret, strings.TrimSuffix(ob.eval(t, `document.querySelector('`+keyRow+` code').textContent`), "…")), "the list shows the key's prefix")
	require.Equal(t, "Viewer", ob.eval(t, `document.querySelector('`+keyRow+` td[data-label="Role"]').textContent`))
	require.Equal(t, "Never", ob.eval(t, `document.querySelector('`+keyRow+` td[data-label="Last used"]').textContent`))
	ob.axe(t, axe, "API keys, a secret shown")
	require.Equal(t, http.StatusOK, apiCall("GET", "/api/v1/documents", secret, nil, &json.RawMessage{}), "the new key works")
	ob.do(t, "reload", chromedp.Reload())
	ob.poll(t, "the key used", `(() => { const e = document.querySelector('`+keyRow+` td[data-label="Last used"]');
	  return e && e.textContent !== 'Never' && !document.querySelector('#new-key-secret'); })()`)
	press(ob, "Revoke", keyRow+` .actions button`)
	ob.poll(t, "the dialog", `document.querySelector('dialog.dialog')?.open`)
	ob.axe(t, axe, "API keys, the revoke dialog")
	press(ob, "Revoke key", `dialog.dialog button[type="submit"]`)
	ob.poll(t, "the key revoked", `document.querySelector('`+keyRow+`')?.dataset.state === 'revoked' && !document.querySelector('`+keyRow+` .actions button')`)
	require.Equal(t, http.StatusUnauthorized, apiCall("GET", "/api/v1/documents", secret, nil, nil), "the revoked key is refused")
	phone(ob, "API keys")

	// Settings: the send policy, saved from the keyboard. A WhatsApp channel (stored unchecked:
	// no provider) gives the STOP words panel a channel to edit.
	var waCh struct {
		ID string `json:"id"`
	}
	require.Equal(t, http.StatusCreated, apiCall("POST", "/api/v1/channels", owner.AccessToken, map[string]any{"type": "whatsapp", "name": "Support line",
		"phone_number_id": "PN-console", "access_token": "unchecked", "app_secret": "app-secret", "verify_token": "verify-123"}, &waCh))
	ob.do(t, "open Settings", chromedp.Click(chromedp.CSS(`#console-nav a[href="/console/settings"]`)))
	ob.poll(t, "the Settings page", `document.querySelector('h1')?.textContent === 'Settings' && document.querySelector('#policy-cap-day') && document.querySelector('.stop-list, .empty-inline')`)
	setValue := func(id, v string) {
		ob.do(t, "set "+id, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => { const e = document.querySelector('#%s');
		  Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set.call(e, %q); e.dispatchEvent(new Event('input', {bubbles: true})); })()`, id, v)))
	}
	setValue("policy-quiet-start", "21:30")
	setValue("policy-quiet-end", "07:15")
	setValue("policy-cap-day", "3")
	press(ob, "Save", `.policy-form button[type="submit"]`)
	ob.poll(t, "saved", `document.querySelector('.policy-form .notice')?.textContent.startsWith('The send policy is saved')`)
	var pol struct {
		QuietStart string `json:"quiet_start"`
		QuietEnd   string `json:"quiet_end"`
		CapDay     int    `json:"cap_day"`
	}
	require.Equal(t, http.StatusOK, apiCall("GET", "/api/v1/nudge-policy", owner.AccessToken, nil, &pol))
	require.Equal(t, "21:30 07:15 3", fmt.Sprintf("%s %s %d", pol.QuietStart, pol.QuietEnd, pol.CapDay))

	// The channel's STOP words, edited from the keyboard: a word typed twice is refused inline
	// (the field says why and takes the focus), then the fixed list is saved and used.
	stopInput := "#words-" + waCh.ID + "-stop"
	saveWords := `li[data-channel="` + waCh.ID + `"] button[type="submit"]`
	require.Equal(t, "STOP, UNSUBSCRIBE, STOPALL, CANCEL, END, QUIT", ob.eval(t, `document.querySelector('`+stopInput+`').value`))
	ob.typeInto(t, "go to the end of the stop words", stopInput, kb.End)
	ob.do(t, "type two words", chromedp.KeyEvent(", halt, HALT"))
	press(ob, "Save words", saveWords)
	ob.poll(t, "the word refused", `document.querySelector('`+stopInput+`-error')?.textContent === 'HALT is in the list twice.' &&
	  document.activeElement === document.querySelector('`+stopInput+`') && document.activeElement.getAttribute('aria-invalid') === 'true'`)
	ob.axe(t, axe, "settings, a STOP word refused")
	ob.do(t, "delete the second HALT", chromedp.KeyEvent(strings.Repeat(kb.Backspace, len(", HALT"))))
	press(ob, "Save words", saveWords)
	ob.poll(t, "the words saved", `document.querySelector('li[data-channel="`+waCh.ID+`"] .notice')?.textContent === 'The words of Support line are saved: the next message uses them.' &&
	  document.querySelector('`+stopInput+`').value === 'STOP, UNSUBSCRIBE, STOPALL, CANCEL, END, QUIT, HALT' && !document.querySelector('`+stopInput+`-error')`)
	var chans struct {
		Channels []struct {
			OptOutWords []string `json:"opt_out_words"`
		} `json:"channels"`
	}
	require.Equal(t, http.StatusOK, apiCall("GET", "/api/v1/channels", owner.AccessToken, nil, &chans))
	require.Len(t, chans.Channels, 1)
	require.Equal(t, []string{"STOP", "UNSUBSCRIBE", "STOPALL", "CANCEL", "END", "QUIT", "HALT"}, chans.Channels[0].OptOutWords)

	// The export, downloaded.
	downloads := ob.allowDownloads(t)
	press(ob, "Download export", `button[data-export]`)
	ob.poll(t, "the export done", `document.querySelector('.export-result')?.textContent.startsWith('Downloaded coachwire-export-')`)
	var zipPath string
	testenv.Eventually(t, 30*time.Second, func() bool {
		files, _ := filepath.Glob(filepath.Join(downloads, "coachwire-export-*.zip"))
		if len(files) != 1 {
			return false
		}
		zipPath = files[0]
		_, err := zip.OpenReader(zipPath)
		return err == nil
	}, "the downloaded export")
	zr, err := zip.OpenReader(zipPath)
	require.NoError(t, err)
	defer zr.Close()
	var workspace string
	for _, f := range zr.File {
		if f.Name == "workspace.json" {
			rc, err := f.Open()
			require.NoError(t, err)
			raw, err := io.ReadAll(rc)
			rc.Close()
			require.NoError(t, err)
			workspace = string(raw)
		}
	}
	require.Contains(t, workspace, owner.Email, "the members are in the export")
	require.NotContains(t, workspace, agentEmail, "the removed member is not")
	require.Contains(t, workspace, `"quiet_start":"21:30"`)
	require.Contains(t, workspace, "Nightly backup")
	ob.axe(t, axe, "settings, export downloaded")
	phone(ob, "settings")

	// Ownership: the owner hands the workspace to an admin (seeded through the API) and becomes
	// an admin, who may no longer transfer it.
	adminEmail := "admin-" + uuid.NewString()[:8] + "@example.com"
	var inv struct {
		Token string `json:"token"`
	}
	require.Equal(t, http.StatusCreated, apiCall("POST", "/api/v1/invitations", owner.AccessToken, map[string]any{"email": adminEmail, "role": "admin"}, &inv))
	require.Equal(t, http.StatusOK, apiCall("POST", "/api/v1/invitations/accept", "", map[string]string{"token": inv.Token, "password": password, "name": "Ada Admin"}, &joined))
	ob.do(t, "open Team", chromedp.Click(chromedp.CSS(`#console-nav a[href="/console/team"]`)))
	adminRow := fmt.Sprintf(`tr[data-member=%q]`, adminEmail)
	ob.poll(t, "the admin's row", `document.querySelector('`+adminRow+`')?.dataset.role === 'admin'`)
	press(ob, "Make owner", adminRow+` .actions button.secondary`)
	ob.poll(t, "the dialog", `document.querySelector('dialog.dialog')?.open && document.querySelector('#confirm-title').textContent === 'Make Ada Admin the owner?'`)
	press(ob, "Transfer ownership", `dialog.dialog button[type="submit"]`)
	ob.poll(t, "the new owner", `document.querySelector('`+adminRow+`')?.dataset.role === 'owner' && document.querySelector('tr[data-member=`+fmt.Sprintf("%q", owner.Email)+`]')?.dataset.role === 'admin'`)
	ob.poll(t, "no more Make owner", `!Array.from(document.querySelectorAll('.actions button')).some((b) => b.textContent.startsWith('Make owner'))`)
	require.Equal(t, "Ada Admin is now the owner; you are an admin.", ob.eval(t, `document.querySelector('.notice').textContent`))
	require.Equal(t, ownerNav, navLinks(ob), "an admin keeps every page")

	// Made a viewer behind the page's back, the former owner's next change is refused: the API's
	// 403 shows as a clear message, and the page turns read-only.
	var ada struct {
		AccessToken string `json:"access_token"`
	}
	require.Equal(t, http.StatusOK, apiCall("POST", "/api/v1/auth/login", "", map[string]string{"email": adminEmail, "password": password}, &ada))
	var me struct {
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	require.Equal(t, http.StatusOK, apiCall("GET", "/api/v1/auth/me", owner.AccessToken, nil, &me))
	require.Equal(t, http.StatusOK, apiCall("PATCH", "/api/v1/members/"+me.User.ID, ada.AccessToken, map[string]string{"role": "viewer"}, &json.RawMessage{}))
	ownRow := fmt.Sprintf(`tr[data-member=%q]`, owner.Email)
	ob.do(t, "focus my role", chromedp.Evaluate[chromedp.Void](`document.querySelector('`+ownRow+` select').focus()`))
	ob.do(t, "press ArrowDown", chromedp.KeyEvent(kb.ArrowDown))
	ob.poll(t, "the refusal", `document.querySelector('.form-error')?.textContent.startsWith('Not allowed: the viewer role may not do this')`)
	refusal := ob.eval(t, `document.querySelector('.form-error').textContent`)
	require.Contains(t, refusal, "team.write")
	require.Contains(t, refusal, "ask an owner or admin")
	ob.poll(t, "the page read-only", `document.querySelector('.invite-form fieldset').disabled && !document.querySelector('tr select')`)
	require.Equal(t, viewerNav, navLinks(ob), "a viewer's navigation")
	ob.axe(t, axe, "team, a refused change")
	require.Empty(t, ob.exceptions(), "uncaught exceptions on the owner's pages")
}
