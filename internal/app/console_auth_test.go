package app_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/testenv"
)

// authWatch runs before the page's scripts and records the status of every auth call the page
// makes (window.__auth): the console must never meet a CSRF refusal.
const authWatch = `window.__auth = [];
(() => {
  const f = window.fetch;
  window.fetch = async (...args) => {
    const res = await f(...args);
    const url = String(args[0] && args[0].url ? args[0].url : args[0]);
    if (url.includes('/api/v1/auth/') || url.includes('/api/v1/invitations/accept')) window.__auth.push(res.status + ' ' + url);
    return res;
  };
})();`

// cookie returns the browser's cookie name for baseURL's auth routes (nil when it has none).
func (b *browser) cookie(t *testing.T, baseURL, name string) *network.Cookie {
	t.Helper()
	res := run(t, b, "read the cookies", chromedp.Action[network.GetCookiesResult](func(ctx context.Context, tg *chromedp.Target) (network.GetCookiesResult, error) {
		return cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{URLs: []string{baseURL + "/api/v1/auth/refresh"}})
	}))
	for _, c := range res.Cookies {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// keyboardSignIn signs in on the sign-in page from the keyboard.
func (b *browser) keyboardSignIn(t *testing.T, consoleURL, email, password string) {
	t.Helper()
	b.do(t, "open the console", chromedp.Navigate(consoleURL))
	b.poll(t, "the sign-in page", `location.pathname === '/console/sign-in' && document.querySelector('h1')?.textContent === 'Sign in'`)
	b.typeInto(t, "type the email", `#signin-email`, email)
	b.typeInto(t, "type the password", `#signin-password`, password)
	b.do(t, "press Enter", pressEnter())
	b.poll(t, "the Knowledge page", `location.pathname === '/console/knowledge' && document.querySelector('h1')?.textContent === 'Knowledge'`)
}

// TestConsoleAuthInBrowser drives the console's session features in Chromium against the whole
// stack: the refresh token lives in an HttpOnly, Secure, SameSite=Strict cookie (stored on
// http://127.0.0.1) and nothing in sessionStorage or localStorage; a reload resumes the session
// and no auth call the console makes is refused for CSRF; "try a question" on Knowledge shows
// the passages; the Account page changes the password (a wrong current one is refused inline)
// and lists the sessions, and a second browser loses its session on the password change and on
// "sign out everywhere"; an invitation is accepted signed in (then the workspace switcher
// switches) and signed out (creating the account). Keyboard only; axe-core on every new page.
func TestConsoleAuthInBrowser(t *testing.T) {
	t.Parallel()
	axe := consoleAxe(t)
	a, _ := sharedConsoleApp(t)
	consoleURL := a.URL + "/console"

	// Seeded through the API: the person (owner of workspace A, with a document) and the owner of
	// workspace B, who invites them.
	c := testenv.NewClient(a.URL)
	me := c.Register(t)
	const password, newPassword = "correct horse battery", "a brand new passphrase"
	c.AddDocument(t, me, "Stretching guide", "markdown", "# Warm-up\n\nHold each static stretch for thirty seconds before you run, twice per leg.\n")
	other := c.Register(t)
	invite := func(email string) string {
		var inv struct {
			Token string `json:"token"`
		}
		st, raw, err := c.Do(context.Background(), "POST", "/api/v1/invitations", other.AccessToken, map[string]any{"email": email, "role": "editor"}, &inv)
		require.NoError(t, err)
		require.Equal(t, http.StatusCreated, st, "invite: %s", raw)
		return inv.Token
	}

	b := newBrowser(t)
	b.do(t, "watch auth calls", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: authWatch})
		return err
	}))
	noCSRFRefusal := func(b *browser, when string) {
		calls := b.eval(t, `(window.__auth || []).join('\n')`)
		require.NotContains(t, calls, "403 ", "%s: an auth call was refused:\n%s", when, calls)
	}
	b.keyboardSignIn(t, consoleURL, me.Email, password)

	// The cookie: HttpOnly, Secure (stored on http://127.0.0.1), SameSite=Strict, auth routes only;
	// the page's storage holds nothing.
	rc := b.cookie(t, a.URL, "cw_refresh")
	require.NotNil(t, rc, "Chromium stored the Secure refresh cookie on %s", a.URL)
	require.True(t, rc.HTTPOnly && rc.Secure && rc.SameSite == network.CookieSameSiteStrict && rc.Path == "/api/v1/auth", "refresh cookie %+v", rc)
	require.NotContains(t, b.eval(t, `document.cookie`), "cw_refresh", "the page can read the refresh token")
	require.Equal(t, "0 0", b.eval(t, `sessionStorage.length + ' ' + localStorage.length`))
	b.do(t, "reload", chromedp.Reload())
	b.poll(t, "the Knowledge page after the reload", `document.querySelector('h1')?.textContent === 'Knowledge' && document.querySelector('#try-question')`)
	require.Equal(t, "0 0", b.eval(t, `sessionStorage.length + ' ' + localStorage.length`))
	require.Contains(t, b.eval(t, `window.__auth.join('\n')`), "200 /api/v1/auth/refresh", "the reload resumed through the cookie")
	noCSRFRefusal(b, "reload")

	// Try a question: the passages a turn would read, with their scores.
	b.typeInto(t, "type a question", `#try-question`, "How long should I hold a static stretch?")
	b.do(t, "press Enter", pressEnter())
	b.poll(t, "the passages", `document.querySelector('.passage .passage-source')?.textContent.includes('Stretching guide') && document.querySelector('.passage-score')?.textContent.startsWith('Score ')`)
	b.axe(t, axe, "knowledge, try a question")

	// Account, from the keyboard: the navigation link.
	b.do(t, "focus the Account link", chromedp.Focus(chromedp.CSS(`#console-nav a[href="/console/account"]`)))
	b.do(t, "press Enter", pressEnter())
	// Two sessions: the registration's (through the API) and this browser's, marked.
	b.poll(t, "the Account page", `document.querySelector('h1')?.textContent === 'Account' && document.querySelectorAll('.sessions-table tbody tr').length === 2`)
	require.Contains(t, b.eval(t, `document.querySelector('.session-current')?.textContent`), "This session")

	// A second browser signs in: the list shows three sessions.
	b2 := newBrowser(t)
	b2.keyboardSignIn(t, consoleURL, me.Email, password)
	b.do(t, "reload", chromedp.Reload())
	b.poll(t, "three sessions", `document.querySelectorAll('.sessions-table tbody tr').length === 3`)

	// Password change: a wrong current password is refused next to its field; the right one
	// signs the other browser out.
	b.typeInto(t, "type a wrong current password", `#password-current`, "not my password")
	b.typeInto(t, "type the new password", `#password-new`, newPassword)
	b.do(t, "press Enter", pressEnter())
	b.poll(t, "the wrong-password error", `document.querySelector('#password-current-error')?.textContent.includes('not your current password') && document.activeElement.id === 'password-current'`)
	b.axe(t, axe, "account, wrong password")
	b.do(t, "clear the field", chromedp.Evaluate[chromedp.Void](`document.querySelector('#password-current').select()`))
	b.do(t, "type the current password", chromedp.KeyEvent(password))
	b.do(t, "press Enter", pressEnter())
	b.poll(t, "the change and a one-session list", `document.querySelector('.notice')?.textContent.startsWith('Password changed') && document.querySelectorAll('.sessions-table tbody tr').length === 1`)
	b2.do(t, "reload the second browser", chromedp.Reload())
	b2.poll(t, "the second browser is signed out", `location.pathname === '/console/sign-in'`)

	// Sign out everywhere: the second browser, signed in again, loses its session too.
	b2.keyboardSignIn(t, consoleURL, me.Email, newPassword)
	b.do(t, "reload", chromedp.Reload())
	b.poll(t, "two sessions again", `document.querySelectorAll('.sessions-table tbody tr').length === 2`)
	b.do(t, "focus Sign out everywhere", chromedp.Focus(chromedp.Search(`//button[text()="Sign out everywhere"]`)))
	b.do(t, "press Enter", pressEnter())
	b.poll(t, "the dialog", `document.querySelector('dialog.dialog')?.open && document.activeElement.textContent === 'Cancel'`)
	b.axe(t, axe, "account, sign out everywhere dialog")
	b.do(t, "press Tab", chromedp.KeyEvent("\t"))
	b.do(t, "press Enter", pressEnter())
	b.poll(t, "signed out here", `location.pathname === '/console/sign-in' && document.querySelector('.notice')?.textContent === 'You are signed out.'`)
	b2.do(t, "reload the second browser", chromedp.Reload())
	b2.poll(t, "the second browser is signed out", `location.pathname === '/console/sign-in'`)
	require.Nil(t, b.cookie(t, a.URL, "cw_refresh"), "signing out everywhere clears the cookie")

	// An invitation, signed in: accept and join workspace B; the switcher then switches back.
	b.keyboardSignIn(t, consoleURL, me.Email, newPassword)
	tok := invite(me.Email)
	b.do(t, "open the invitation", chromedp.Navigate(consoleURL+"/invite?token="+tok))
	b.poll(t, "the invitation page", `document.querySelector('h1')?.textContent === 'Accept an invitation' && document.querySelector('button[type="submit"]')?.textContent === 'Accept and join'`)
	b.axe(t, axe, "invitation, signed in")
	b.do(t, "focus Accept", chromedp.Focus(chromedp.CSS(`.auth-card button[type="submit"]`)))
	b.do(t, "press Enter", pressEnter())
	b.poll(t, "workspace B", fmt.Sprintf(`location.pathname === '/console/knowledge' && document.querySelector('#workspace-select')?.value === %q`, other.ID.String()))
	b.poll(t, "B's empty knowledge", `document.querySelector('.empty-title')?.textContent === 'No knowledge yet'`)
	b.axe(t, axe, "workspace switcher")
	b.do(t, "focus the switcher", chromedp.Focus(chromedp.CSS(`#workspace-select`)))
	// Workspaces are listed oldest membership first: A, then B; the arrow key moves to A.
	b.do(t, "choose workspace A", chromedp.KeyEvent(kb.ArrowUp))
	b.poll(t, "A chosen", fmt.Sprintf(`document.querySelector('#workspace-select').value === %q`, me.ID.String()))
	b.do(t, "press Tab", chromedp.KeyEvent("\t"))
	require.Equal(t, "Switch", b.eval(t, `document.activeElement.textContent`))
	b.do(t, "press Enter", pressEnter())
	b.poll(t, "workspace A and its document", fmt.Sprintf(`document.querySelector('#workspace-select')?.value === %q && document.querySelectorAll('tr[data-doc-id]').length === 1`, me.ID.String()))
	b.do(t, "reload", chromedp.Reload())
	b.poll(t, "still in workspace A after the reload", fmt.Sprintf(`document.querySelector('#workspace-select')?.value === %q`, me.ID.String()))
	noCSRFRefusal(b, "switch")

	// An invitation, signed out: the invited person creates their account on the page.
	newcomer := "newcomer-" + uuid.NewString()[:8] + "@example.com"
	tok = invite(newcomer)
	b2.do(t, "open the invitation (API link form)", chromedp.Navigate(consoleURL+"/accept-invitation#token="+tok))
	b2.poll(t, "the invitation page, signed out", `document.querySelector('h1')?.textContent === 'Accept an invitation' && document.querySelector('#invite-password')`)
	b2.axe(t, axe, "invitation, signed out")
	b2.typeInto(t, "type a name", `#invite-name`, "Newcomer")
	b2.typeInto(t, "type a password", `#invite-password`, "newcomer password")
	b2.do(t, "press Enter", pressEnter())
	b2.poll(t, "workspace B's Knowledge page", `location.pathname === '/console/knowledge' && document.querySelector('h1')?.textContent === 'Knowledge'`)
	require.Contains(t, b2.eval(t, `document.querySelector('.account-email').textContent`), "Coach")
	b2.do(t, "reload", chromedp.Reload())
	b2.poll(t, "still signed in", `document.querySelector('h1')?.textContent === 'Knowledge'`)
	noCSRFRefusal(b2, "invitation")
	require.Equal(t, "0 0", b2.eval(t, `sessionStorage.length + ' ' + localStorage.length`))

	// Phone width: the Account page fits, and passes axe.
	b.do(t, "phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	b.do(t, "open Account", chromedp.Navigate(consoleURL+"/account"))
	b.poll(t, "the Account page", `document.querySelector('h1')?.textContent === 'Account' && document.querySelector('.sessions-table')`)
	require.Equal(t, "0", b.eval(t, `String(document.documentElement.scrollWidth - window.innerWidth)`), "no horizontal scrolling at phone width")
	b.axe(t, axe, "account at phone size")
	require.Empty(t, b.exceptions(), "uncaught exceptions on the page")
	require.Empty(t, b2.exceptions(), "uncaught exceptions on the second page")
}
