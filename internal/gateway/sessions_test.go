package gateway_test

// Sessions (issue 11): the console's cookie mode and its CSRF defence, the session list, revoking
// one session, signing out everywhere, the password change, and "try a question".

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/auth"
	"github.com/coachwire/coachwire/internal/config"
	"github.com/coachwire/coachwire/internal/gateway"
	"github.com/coachwire/coachwire/internal/knowledge"
	"github.com/coachwire/coachwire/internal/testenv"
)

// cookieSession is a session answer in cookie mode.
type cookieSession struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	CSRFToken    string `json:"csrf_token"`
}

// cookieOf returns the cookie name set by r (nil when none).
func cookieOf(r resp, name string) *http.Cookie {
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// cookieHeaders are the headers of a cookie-mode request from the console: the mode, the
// cookies it holds, the CSRF header and what a browser adds to a same-origin fetch.
func cookieHeaders(e *env, refresh, csrfCookie, csrfHeader string, extra ...string) []string {
	h := []string{"X-Coachwire-Session", "cookie", "Origin", e.ts.URL, "Sec-Fetch-Site", "same-origin"}
	var cookies []string
	if refresh != "" {
		cookies = append(cookies, "cw_refresh="+refresh)
	}
	if csrfCookie != "" {
		cookies = append(cookies, "cw_csrf="+csrfCookie)
	}
	if len(cookies) > 0 {
		h = append(h, "Cookie", strings.Join(cookies, "; "))
	}
	if csrfHeader != "" {
		h = append(h, "X-CSRF-Token", csrfHeader)
	}
	return append(h, extra...)
}

// TestCookieModeAndCSRF: in cookie mode the refresh token lives only in an HttpOnly, Secure,
// SameSite=Strict cookie scoped to the auth routes; refresh and logout need the double-submitted
// CSRF token and the gateway's own origin (403 with a clear code otherwise); rotation and reuse
// detection hold with cookies; API clients keep body tokens.
func TestCookieModeAndCSRF(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	email := uniqueEmail()
	e.register(t, email)

	// A body-mode client is unchanged.
	if r := e.do(t, "POST", "/api/v1/auth/login", map[string]string{"email": email, "password": goodPassword}); r.status != http.StatusOK ||
		cookieOf(r, "cw_refresh") != nil || !strings.Contains(string(r.body), `"refresh_token":"`) || strings.Contains(string(r.body), "csrf_token") {
		t.Fatalf("body-mode login: %d %v %s", r.status, r.header["Set-Cookie"], r.body)
	}

	login := e.do(t, "POST", "/api/v1/auth/login", map[string]string{"email": email, "password": goodPassword}, cookieHeaders(e, "", "", "")...)
	if login.status != http.StatusOK {
		t.Fatalf("cookie login: %d %s", login.status, login.body)
	}
	var s cookieSession
	login.json(t, &s)
	rc, cc := cookieOf(login, "cw_refresh"), cookieOf(login, "cw_csrf")
	if rc == nil || cc == nil {
		t.Fatalf("cookies: %v", login.header["Set-Cookie"])
	}
	if !rc.HttpOnly || !rc.Secure || rc.SameSite != http.SameSiteStrictMode || rc.Path != "/api/v1/auth" || rc.MaxAge <= 0 {
		t.Fatalf("refresh cookie %q", login.header["Set-Cookie"])
	}
	if cc.HttpOnly || !cc.Secure || cc.SameSite != http.SameSiteStrictMode || cc.Path != "/" || cc.Value != s.CSRFToken || s.CSRFToken == "" {
		t.Fatalf("csrf cookie %q, body token %q", login.header["Set-Cookie"], s.CSRFToken)
	}
	if s.RefreshToken != "" || strings.Contains(string(login.body), rc.Value) {
		t.Fatalf("the refresh token is in the body: %s", login.body)
	}

	refresh := func(refreshTok, csrfCookie, csrfHeader string, extra ...string) resp {
		return e.do(t, "POST", "/api/v1/auth/refresh", map[string]any{}, cookieHeaders(e, refreshTok, csrfCookie, csrfHeader, extra...)...)
	}
	// The CSRF failures: 403 with a code, and nothing rotated.
	for _, c := range []struct {
		name string
		r    resp
		code string
	}{
		{"no header", refresh(rc.Value, cc.Value, ""), "csrf_token_missing"},
		{"wrong header", refresh(rc.Value, cc.Value, strings.Repeat("A", 43)), "csrf_token_mismatch"},
		{"no csrf cookie", refresh(rc.Value, "", cc.Value), "csrf_token_mismatch"},
		{"cross-origin Origin", e.do(t, "POST", "/api/v1/auth/refresh", map[string]any{},
			"X-Coachwire-Session", "cookie", "Origin", "https://evil.example", "Cookie", "cw_refresh="+rc.Value+"; cw_csrf="+cc.Value, "X-CSRF-Token", cc.Value), "csrf_cross_origin"},
		{"null Origin", e.do(t, "POST", "/api/v1/auth/refresh", map[string]any{},
			"X-Coachwire-Session", "cookie", "Origin", "null", "Cookie", "cw_refresh="+rc.Value+"; cw_csrf="+cc.Value, "X-CSRF-Token", cc.Value), "csrf_cross_origin"},
		{"cross-site fetch", e.do(t, "POST", "/api/v1/auth/refresh", map[string]any{},
			"X-Coachwire-Session", "cookie", "Sec-Fetch-Site", "cross-site", "Cookie", "cw_refresh="+rc.Value+"; cw_csrf="+cc.Value, "X-CSRF-Token", cc.Value), "csrf_cross_origin"},
		{"cross-origin login", e.do(t, "POST", "/api/v1/auth/login", map[string]string{"email": email, "password": goodPassword},
			"X-Coachwire-Session", "cookie", "Origin", "https://evil.example"), "csrf_cross_origin"},
		{"cross-origin logout", e.do(t, "POST", "/api/v1/auth/logout", map[string]any{},
			"X-Coachwire-Session", "cookie", "Origin", "https://evil.example", "Cookie", "cw_refresh="+rc.Value+"; cw_csrf="+cc.Value, "X-CSRF-Token", cc.Value), "csrf_cross_origin"},
		{"logout without token", e.do(t, "POST", "/api/v1/auth/logout", map[string]any{}, cookieHeaders(e, rc.Value, cc.Value, "")...), "csrf_token_missing"},
	} {
		if c.r.status != http.StatusForbidden || c.r.code(t) != c.code {
			t.Errorf("%s: %d %s, want 403 %s", c.name, c.r.status, c.r.body, c.code)
		}
	}
	if r := refresh("", cc.Value, cc.Value); r.status != http.StatusUnauthorized || r.code(t) != "invalid_token" {
		t.Errorf("no refresh cookie: %d %s", r.status, r.body)
	}
	if r := e.do(t, "POST", "/api/v1/auth/refresh", map[string]any{"refresh_token": rc.Value}, cookieHeaders(e, rc.Value, cc.Value, cc.Value)...); r.status != http.StatusBadRequest {
		t.Errorf("body token in cookie mode: %d %s", r.status, r.body)
	}

	// The right token rotates (nothing above used the cookie up).
	r1 := refresh(rc.Value, cc.Value, cc.Value)
	if r1.status != http.StatusOK {
		t.Fatalf("refresh: %d %s", r1.status, r1.body)
	}
	var s1 cookieSession
	r1.json(t, &s1)
	rc1 := cookieOf(r1, "cw_refresh")
	if rc1 == nil || rc1.Value == rc.Value || s1.RefreshToken != "" || s1.CSRFToken != cc.Value {
		t.Fatalf("rotation: %v %s", r1.header["Set-Cookie"], r1.body)
	}
	if r := e.me(t, s1.AccessToken); r.status != http.StatusOK {
		t.Fatalf("rotated access token: %d", r.status)
	}
	// The old cookie again: reuse revokes the family, the newest token and its access tokens.
	reuse := refresh(rc.Value, cc.Value, cc.Value)
	if reuse.status != http.StatusUnauthorized || reuse.code(t) != "token_reused" {
		t.Fatalf("reuse: %d %s", reuse.status, reuse.body)
	}
	if c := cookieOf(reuse, "cw_refresh"); c == nil || c.MaxAge >= 0 {
		t.Errorf("a refused refresh keeps the cookie: %v", reuse.header["Set-Cookie"])
	}
	if r := refresh(rc1.Value, cc.Value, cc.Value); r.status != http.StatusUnauthorized {
		t.Errorf("the newest token after reuse: %d %s", r.status, r.body)
	}
	for _, tok := range []string{s.AccessToken, s1.AccessToken} {
		if r := e.me(t, tok); r.status != http.StatusUnauthorized {
			t.Errorf("access token of a revoked family: %d", r.status)
		}
	}

	// Logout in cookie mode revokes the family and clears both cookies.
	login = e.do(t, "POST", "/api/v1/auth/login", map[string]string{"email": email, "password": goodPassword}, cookieHeaders(e, "", "", "")...)
	login.json(t, &s)
	rc, cc = cookieOf(login, "cw_refresh"), cookieOf(login, "cw_csrf")
	out := e.do(t, "POST", "/api/v1/auth/logout", map[string]any{}, cookieHeaders(e, rc.Value, cc.Value, cc.Value)...)
	if out.status != http.StatusNoContent {
		t.Fatalf("logout: %d %s", out.status, out.body)
	}
	for _, name := range []string{"cw_refresh", "cw_csrf"} {
		if c := cookieOf(out, name); c == nil || c.MaxAge >= 0 {
			t.Errorf("logout left %s: %v", name, out.header["Set-Cookie"])
		}
	}
	if r := refresh(rc.Value, cc.Value, cc.Value); r.status != http.StatusUnauthorized {
		t.Errorf("refresh after logout: %d", r.status)
	}
	if r := e.me(t, s.AccessToken); r.status != http.StatusUnauthorized {
		t.Errorf("access token after logout: %d", r.status)
	}
	if r := e.do(t, "POST", "/api/v1/auth/login", map[string]string{"email": email, "password": goodPassword}, "X-Coachwire-Session", "bearer"); r.status != http.StatusBadRequest {
		t.Errorf("unknown session mode: %d", r.status)
	}
}

type sessionList struct {
	Sessions []struct {
		ID            uuid.UUID `json:"id"`
		WorkspaceID   uuid.UUID `json:"workspace_id"`
		WorkspaceName string    `json:"workspace_name"`
		UserAgent     string    `json:"user_agent"`
		IP            string    `json:"ip"`
		Current       bool      `json:"current"`
	} `json:"sessions"`
}

func (e *env) login(t *testing.T, email, password, ua string) session {
	t.Helper()
	r := e.do(t, "POST", "/api/v1/auth/login", map[string]string{"email": email, "password": password}, "User-Agent", ua)
	if r.status != http.StatusOK {
		t.Fatalf("login: %d %s", r.status, r.body)
	}
	var s session
	r.json(t, &s)
	return s
}

func (e *env) sessions(t *testing.T, access string) sessionList {
	t.Helper()
	r := e.do(t, "GET", "/api/v1/auth/sessions", nil, "Authorization", "Bearer "+access)
	if r.status != http.StatusOK {
		t.Fatalf("sessions: %d %s", r.status, r.body)
	}
	var l sessionList
	r.json(t, &l)
	return l
}

// TestSessionsRevokeAndSignOutEverywhere: the list shows each sign-in with its client, the
// current one marked; revoking one ends it at once (access and refresh), and signing out
// everywhere ends all of them at once; another person's session is 404.
func TestSessionsRevokeAndSignOutEverywhere(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	email := uniqueEmail()
	e.register(t, email)
	a := e.login(t, email, goodPassword, "Browser A")
	b := e.login(t, email, goodPassword, "Browser B")
	c := e.login(t, email, goodPassword, "Browser C")
	l := e.sessions(t, a.AccessToken)
	if len(l.Sessions) != 4 {
		t.Fatalf("%d sessions, want 4: %+v", len(l.Sessions), l)
	}
	var current, bID uuid.UUID
	for _, s := range l.Sessions {
		if s.Current {
			if current != uuid.Nil || s.UserAgent != "Browser A" {
				t.Fatalf("current: %+v", l)
			}
			current = s.ID
		}
		if s.UserAgent == "Browser B" {
			bID = s.ID
		}
		if s.IP == "" || s.WorkspaceID != a.Creator.ID {
			t.Errorf("session %+v", s)
		}
	}
	if current == uuid.Nil || bID == uuid.Nil {
		t.Fatalf("sessions %+v", l)
	}

	other := e.register(t, uniqueEmail())
	if r := e.do(t, "DELETE", "/api/v1/auth/sessions/"+bID.String(), nil, "Authorization", "Bearer "+other.AccessToken); r.status != http.StatusNotFound {
		t.Fatalf("another person revokes my session: %d %s", r.status, r.body)
	}
	if r := e.do(t, "DELETE", "/api/v1/auth/sessions/"+bID.String(), nil, "Authorization", "Bearer "+a.AccessToken); r.status != http.StatusNoContent {
		t.Fatalf("revoke B: %d %s", r.status, r.body)
	}
	if r := e.me(t, b.AccessToken); r.status != http.StatusUnauthorized {
		t.Fatalf("B's access token after revocation: %d", r.status)
	}
	if r := e.refresh(t, b.RefreshToken); r.status != http.StatusUnauthorized {
		t.Fatalf("B's refresh token after revocation: %d", r.status)
	}
	if r := e.me(t, c.AccessToken); r.status != http.StatusOK {
		t.Fatalf("C after B's revocation: %d", r.status)
	}
	if n := len(e.sessions(t, a.AccessToken).Sessions); n != 3 {
		t.Fatalf("%d sessions after revoking one", n)
	}

	if r := e.do(t, "POST", "/api/v1/auth/sessions/revoke-all", nil, "Authorization", "Bearer "+c.AccessToken); r.status != http.StatusNoContent {
		t.Fatalf("sign out everywhere: %d %s", r.status, r.body)
	}
	for _, s := range []session{a, c} {
		if r := e.me(t, s.AccessToken); r.status != http.StatusUnauthorized {
			t.Errorf("access token after signing out everywhere: %d", r.status)
		}
		if r := e.refresh(t, s.RefreshToken); r.status != http.StatusUnauthorized {
			t.Errorf("refresh token after signing out everywhere: %d", r.status)
		}
	}
	if r := e.me(t, other.AccessToken); r.status != http.StatusOK {
		t.Errorf("another person after my sign-out everywhere: %d", r.status)
	}
	d := e.login(t, email, goodPassword, "Browser D")
	if l := e.sessions(t, d.AccessToken); len(l.Sessions) != 1 || !l.Sessions[0].Current {
		t.Fatalf("sessions after signing out everywhere and in again: %+v", l)
	}
}

// TestChangePassword: the current password is required; the change signs every other session
// out and keeps this one; the old password stops working.
func TestChangePassword(t *testing.T) {
	t.Parallel()
	off := config.Rate{N: -1}
	e := newEnv(t, envOpts{limits: &config.Limits{RegistrationsPerIP: off, LoginsPerIP: off, LoginsPerEmailIP: off, LoginsPerEmail: off, WidgetSessionsPerIP: off}})
	email := uniqueEmail()
	e.register(t, email)
	a := e.login(t, email, goodPassword, "A")
	b := e.login(t, email, goodPassword, "B")
	change := func(tok string, body any) resp {
		return e.do(t, "POST", "/api/v1/auth/password", body, "Authorization", "Bearer "+tok)
	}
	if r := change(a.AccessToken, map[string]string{"current_password": "wrong password", "new_password": "a new long password"}); r.status != http.StatusForbidden || r.code(t) != "wrong_password" {
		t.Fatalf("wrong current password: %d %s", r.status, r.body)
	}
	if r := change(a.AccessToken, map[string]string{"current_password": goodPassword, "new_password": "short"}); r.status != http.StatusBadRequest || r.code(t) != "password_too_short" {
		t.Fatalf("short new password: %d %s", r.status, r.body)
	}
	if r := change(a.AccessToken, map[string]string{"new_password": "a new long password"}); r.status != http.StatusBadRequest {
		t.Fatalf("no current password: %d %s", r.status, r.body)
	}
	if r := e.me(t, b.AccessToken); r.status != http.StatusOK {
		t.Fatalf("refused attempts signed B out: %d", r.status)
	}
	if r := change(a.AccessToken, map[string]string{"current_password": goodPassword, "new_password": "a new long password"}); r.status != http.StatusNoContent {
		t.Fatalf("change: %d %s", r.status, r.body)
	}
	if r := e.me(t, a.AccessToken); r.status != http.StatusOK {
		t.Fatalf("this session after the change: %d", r.status)
	}
	if r := e.refresh(t, a.RefreshToken); r.status != http.StatusOK {
		t.Fatalf("this session's refresh after the change: %d %s", r.status, r.body)
	}
	if r := e.me(t, b.AccessToken); r.status != http.StatusUnauthorized {
		t.Fatalf("the other session after the change: %d", r.status)
	}
	if r := e.refresh(t, b.RefreshToken); r.status != http.StatusUnauthorized {
		t.Fatalf("the other session's refresh after the change: %d", r.status)
	}
	if r := e.do(t, "POST", "/api/v1/auth/login", map[string]string{"email": email, "password": goodPassword}); r.status != http.StatusUnauthorized {
		t.Fatalf("old password: %d", r.status)
	}
	e.login(t, email, "a new long password", "C")
}

// TestKnowledgeSearchIsTenantIsolated: "try a question" searches the signed-in workspace's
// knowledge only: another creator's passage on the same question never appears, whoever asks.
func TestKnowledgeSearchIsTenantIsolated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ks, err := knowledge.New(ctx, testenv.Weaviate(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ks.Close() })
	retrieve := func(ctx context.Context, c uuid.UUID, q string) ([]events.Passage, *events.Expansions, string, error) {
		hits, err := ks.Search(ctx, c, q, nil, 10)
		if errors.Is(err, knowledge.ErrTenantNotFound) {
			return nil, nil, "bm25", nil
		}
		var out []events.Passage
		for _, h := range hits {
			out = append(out, events.Passage{DocumentID: h.DocumentID, Title: h.Title, Heading: h.Heading, Page: h.Page, Text: h.Text, Score: h.Score})
		}
		return out, nil, "bm25", err
	}
	svc, err := auth.New(auth.Options{KeyFile: filepath.Join(t.TempDir(), "jwt.json"), Issuer: testIssuer, BcryptCost: 4})
	if err != nil {
		t.Fatal(err)
	}
	srv := gateway.New(gateway.Deps{Config: &gateway.Settings{PublicURL: testIssuer, Limits: offPerIP}, Files: testFiles(t), Store: testenv.Store(t),
		Auth: svc, Log: testenv.Logger(t), Tenants: ks.EnsureTenant, Retrieve: retrieve})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	e := &env{ts: ts, auth: svc}
	a, b := e.register(t, uniqueEmail()), e.register(t, uniqueEmail())
	docA, docB := uuid.New(), uuid.New()
	for _, x := range []struct {
		creator, doc uuid.UUID
		title, text  string
	}{
		{a.Creator.ID, docA, "Stretching guide", "Hold a static stretch for thirty seconds before running, twice per leg."},
		{b.Creator.ID, docB, "Secret plan", "Hold a static stretch for ninety seconds: the rival coach's secret stretching plan."},
	} {
		if err := ks.UpsertChunks(ctx, x.creator, []knowledge.Chunk{{DocumentID: x.doc, Title: x.title, Heading: "Warm-up", Text: x.text}}); err != nil {
			t.Fatal(err)
		}
	}
	type result struct {
		Found    bool `json:"found"`
		Passages []struct {
			DocumentID uuid.UUID `json:"document_id"`
			Title      string    `json:"title"`
			Section    string    `json:"section"`
			Score      float64   `json:"score"`
			Answers    bool      `json:"answers"`
		} `json:"passages"`
	}
	ask := func(s session, q string) result {
		r := e.do(t, "POST", "/api/v1/knowledge/search", map[string]string{"question": q}, "Authorization", "Bearer "+s.AccessToken)
		if r.status != http.StatusOK {
			t.Fatalf("search: %d %s", r.status, r.body)
		}
		var out result
		r.json(t, &out)
		return out
	}
	for _, c := range []struct {
		who         session
		mine, other uuid.UUID
	}{{a, docA, docB}, {b, docB, docA}} {
		res := ask(c.who, "How long should I hold a static stretch?")
		if len(res.Passages) == 0 || res.Passages[0].DocumentID != c.mine || res.Passages[0].Section != "Warm-up" || res.Passages[0].Score <= 0 {
			t.Fatalf("search: %+v", res)
		}
		for _, p := range res.Passages {
			if p.DocumentID == c.other {
				t.Fatalf("another creator's passage: %+v", res)
			}
		}
		if !res.Found || !res.Passages[0].Answers {
			t.Errorf("a passage that answers is not found: %+v", res)
		}
	}
	if res := ask(a, "rival coach secret plan ninety"); func() bool {
		for _, p := range res.Passages {
			if p.DocumentID == docB {
				return true
			}
		}
		return false
	}() {
		t.Fatalf("B's words found B's passage for A: %+v", res)
	}
	if r := e.do(t, "POST", "/api/v1/knowledge/search", map[string]string{"question": " "}, "Authorization", "Bearer "+a.AccessToken); r.status != http.StatusBadRequest {
		t.Fatalf("empty question: %d", r.status)
	}
}
