package gateway_test

// Teams (issue 11): the role × route table, invitations, removal, ownership, API keys, and
// workspace isolation under roles.

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/internal/auth/perm"
	"github.com/coachwire/coachwire/internal/gateway"
	"github.com/coachwire/coachwire/internal/testenv"
)

// teamSession is the part of a session answer the team tests read.
type teamSession struct {
	Creator struct {
		ID uuid.UUID `json:"id"`
	} `json:"creator"`
	User struct {
		ID    uuid.UUID `json:"id"`
		Email string    `json:"email"`
	} `json:"user"`
	Role         string `json:"role"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

// call sends a JSON request (body nil: none) with a bearer credential and returns the status,
// the error code (if any) and the body.
func (e *fullEnv) call(t *testing.T, method, path, token string, body any) (int, string, []byte) {
	t.Helper()
	var b []byte
	ct := ""
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			t.Fatal(err)
		}
		ct = "application/json"
	}
	st, raw := e.raw(t, method, path, token, ct, b)
	return st, errCode(raw), raw
}

func decode[T any](t *testing.T, raw []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return v
}

// invite invites email with role into owner's workspace and returns the invitation token.
func (e *fullEnv) invite(t *testing.T, token, email, role string, content bool) (string, uuid.UUID) {
	t.Helper()
	st, _, raw := e.call(t, "POST", "/api/v1/invitations", token, map[string]any{"email": email, "role": role, "can_read_messages": content})
	if st != http.StatusCreated {
		t.Fatalf("invite %s as %s: %d %s", email, role, st, raw)
	}
	out := decode[struct {
		Invitation struct {
			ID    uuid.UUID `json:"id"`
			Email string    `json:"email"`
			Role  string    `json:"role"`
		} `json:"invitation"`
		Token string `json:"token"`
		Link  string `json:"link"`
	}](t, raw)
	if out.Invitation.Role != role || !strings.HasPrefix(out.Token, "cwi_") || !strings.HasSuffix(out.Link, "#token="+out.Token) {
		t.Fatalf("invitation answer %s", raw)
	}
	return out.Token, out.Invitation.ID
}

// accept accepts an invitation as a new (or existing) account with a password.
func (e *fullEnv) accept(t *testing.T, token, password string) teamSession {
	t.Helper()
	st, _, raw := e.call(t, "POST", "/api/v1/invitations/accept", "", map[string]any{"token": token, "password": password, "name": "Member"})
	if st != http.StatusOK {
		t.Fatalf("accept: %d %s", st, raw)
	}
	return decode[teamSession](t, raw)
}

// join adds a new person with role to the workspace of ownerToken and returns their session.
func (e *fullEnv) join(t *testing.T, ownerToken, role string, content bool) teamSession {
	t.Helper()
	tok, _ := e.invite(t, ownerToken, "m-"+uuid.NewString()[:10]+"@example.com", role, content)
	s := e.accept(t, tok, goodPassword)
	if s.Role != role {
		t.Fatalf("joined as %q, want %q", s.Role, role)
	}
	return s
}

// apiKey creates an API key with role and returns its secret.
func (e *fullEnv) apiKey(t *testing.T, token, role string) string {
	t.Helper()
	st, _, raw := e.call(t, "POST", "/api/v1/api-keys", token, map[string]any{"name": "key " + role, "role": role})
	if st != http.StatusCreated {
		t.Fatalf("create key: %d %s", st, raw)
	}
	return decode[struct {
		Key string `json:"key"`
	}](t, raw).Key
}

// principal is one caller of the role × route walk.
type principal struct {
	name    string
	token   string
	role    string
	content bool
	key     bool
}

// expectAllowed states the roles of issue 11 independently of package perm's table: owner
// everything; admin everything but transferring ownership; editor reads (not message content
// unless granted, not API keys) and writes knowledge, coach settings, campaigns and programs;
// agent works the inbox (conversations, end users' tags, memory) and nothing else; viewer reads
// as the editor does.
func expectAllowed(role string, content bool, method, pattern string) bool {
	path := strings.TrimPrefix(pattern, method+" ")
	self := strings.HasPrefix(path, "/api/v1/auth/")
	isContent := pattern == "GET /api/v1/conversations/events" || pattern == "GET /api/v1/conversations/{id}/messages" ||
		pattern == "GET /api/v1/end-users/{id}/memory"
	read := method == http.MethodGet || pattern == "POST /api/v1/campaigns/{id}/preview" || pattern == "POST /api/v1/knowledge/search" ||
		pattern == "POST /api/v1/campaigns/audience-count"
	if pattern == "GET /api/v1/export" { // the whole workspace's data: owners and admins
		return role == "owner" || role == "admin"
	}
	// Exporting or deleting an end user's data: owner and admin only.
	endUserData := pattern == "GET /api/v1/end-users/{id}/export" || pattern == "DELETE /api/v1/end-users/{id}"
	if path == "/api/v1/audit" { // the audit log: owners and admins only
		return role == "owner" || role == "admin"
	}
	switch role {
	case "owner":
		return true
	case "admin":
		return !strings.HasSuffix(path, "/transfer-ownership")
	case "agent":
		return self || strings.HasPrefix(path, "/api/v1/conversations") || strings.HasPrefix(path, "/api/v1/end-users/{id}/memory") ||
			pattern == "GET /api/v1/end-users" || pattern == "GET /api/v1/end-users/{id}" || pattern == "PUT /api/v1/end-users/{id}/tags" ||
			pattern == "DELETE /api/v1/end-users/{id}/link"
	case "editor", "viewer":
		switch {
		case self:
			return true
		case strings.HasPrefix(path, "/api/v1/api-keys"), endUserData:
			return false
		case isContent:
			return content
		case read:
			return true
		case role == "viewer":
			return false
		}
		for _, p := range []string{"/api/v1/documents", "/api/v1/widget/settings", "/api/v1/campaigns", "/api/v1/programs"} {
			if strings.HasPrefix(path, p) {
				return true
			}
		}
	}
	return false
}

// keyDenied: routes no API key may use whatever its role (managing the team, the keys and
// ownership), so a leaked key cannot mint keys or let anyone in.
func keyDenied(method, pattern string) bool {
	path := strings.TrimPrefix(pattern, method+" ")
	return strings.HasPrefix(path, "/api/v1/api-keys") || strings.HasSuffix(path, "/transfer-ownership") ||
		(method != http.MethodGet && (strings.HasPrefix(path, "/api/v1/members") || strings.HasPrefix(path, "/api/v1/invitations")))
}

// walk sends one request to a route and returns status, error code and content type. An
// event stream is closed as soon as its headers arrive.
func (e *fullEnv) walk(t *testing.T, method, path, token string) (int, string, string) {
	t.Helper()
	var body io.Reader
	if method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch {
		body = bytes.NewReader([]byte(`{}`))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, e.ts.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	ct := res.Header.Get("Content-Type")
	if strings.HasPrefix(ct, "text/event-stream") {
		cancel()
		return res.StatusCode, "", ct
	}
	raw, _ := io.ReadAll(res.Body)
	return res.StatusCode, errCode(raw), ct
}

var pathParam = regexp.MustCompile(`\{([a-z_]+)\}`)

const signOutEverywhere = "POST /api/v1/auth/sessions/revoke-all"

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestRoleRouteTable walks the whole route table (Server.Routes) for every role, as a person and
// as an API key: allowed routes pass the permission layer (any answer but 403 forbidden:
// validation 4xx and 404 for an unknown id are fine), denied ones answer 403 forbidden as JSON.
// Then every member of workspace A tries every route with workspace B's ids: never 2xx.
func TestRoleRouteTable(t *testing.T) {
	t.Parallel()
	e := newFullEnv(t)
	ownerA, ownerB := e.c.Register(t), e.c.Register(t)
	e.fixtures(t, ownerA, false)
	foreign := e.fixtures(t, ownerB, false)

	ps := []principal{{name: "owner", token: ownerA.AccessToken, role: "owner"}}
	for _, r := range []string{"admin", "editor", "agent", "viewer"} {
		ps = append(ps, principal{name: r, token: e.join(t, ownerA.AccessToken, r, false).AccessToken, role: r})
	}
	for _, r := range []string{"editor", "viewer"} {
		ps = append(ps, principal{name: r + "+content", token: e.join(t, ownerA.AccessToken, r, true).AccessToken, role: r, content: true})
	}
	for _, r := range []string{"admin", "editor", "agent", "viewer"} {
		ps = append(ps, principal{name: "key " + r, token: e.apiKey(t, ownerA.AccessToken, r), role: r, key: true})
	}

	routes := e.srv.Routes()
	// Signing out everywhere ends the walker's session: walked last.
	slices.SortStableFunc(routes, func(a, b gateway.Route) int {
		return cmp.Compare(boolInt(a.Pattern == signOutEverywhere), boolInt(b.Pattern == signOutEverywhere))
	})
	creatorRoutes := 0
	for _, rt := range routes {
		method, path, _ := strings.Cut(rt.Pattern, " ")
		if strings.HasPrefix(path, "/api/v1/") && rt.Perm == "" {
			// The public API routes: sign-up and sign-in, invitations' acceptance, the widget and
			// the app (end users: their own session token).
			if !strings.HasPrefix(path, "/api/v1/auth/") && path != "/api/v1/invitations/accept" && !strings.HasPrefix(path, "/api/v1/widget/") &&
				!strings.HasPrefix(path, "/api/v1/app/") {
				t.Errorf("route %s has no permission", rt.Pattern)
			}
			continue
		}
		if rt.Perm == "" {
			continue
		}
		creatorRoutes++
		// The role table and the spec above agree.
		for _, r := range perm.Roles {
			for _, content := range []bool{false, true} {
				if got, want := (perm.Grant{Role: r, ReadContent: content}).Allows(rt.Perm), expectAllowed(string(r), content, method, rt.Pattern); got != want {
					t.Errorf("%s: role %s (content %v): package perm allows=%v, the roles of issue 11 say %v", rt.Pattern, r, content, got, want)
				}
				key := perm.Grant{Role: r, ReadContent: content, Key: true}
				if got, want := key.Allows(rt.Perm), expectAllowed(string(r), content, method, rt.Pattern) && !keyDenied(method, rt.Pattern); got != want {
					t.Errorf("%s: API key with role %s: package perm allows=%v, want %v", rt.Pattern, r, got, want)
				}
			}
		}
		unknown := pathParam.ReplaceAllStringFunc(path, func(string) string { return uuid.NewString() })
		foreignPath := pathParam.ReplaceAllStringFunc(path, func(m string) string { return foreign[kindOf(path, m[1:len(m)-1])] })
		for _, p := range ps {
			t.Run(p.name+" "+rt.Pattern, func(t *testing.T) {
				allowed := expectAllowed(p.role, p.content, method, rt.Pattern) && !(p.key && keyDenied(method, rt.Pattern))
				personOnly := p.key && (path == "/api/v1/auth/workspaces" || path == "/api/v1/auth/switch" ||
					strings.HasPrefix(path, "/api/v1/auth/sessions") || path == "/api/v1/auth/password")
				st, code, ct := e.walk(t, method, unknown, p.token)
				switch {
				case st >= 500 || st == http.StatusUnauthorized:
					t.Fatalf("%s %s: %d %s", method, unknown, st, code)
				case personOnly:
					if st != http.StatusForbidden || code != "person_required" {
						t.Fatalf("API key on a person's route: %d %s", st, code)
					}
				case allowed && (st == http.StatusForbidden || code == "forbidden"):
					t.Fatalf("allowed, but %d %s", st, code)
				case !allowed && (st != http.StatusForbidden || code != "forbidden" || !strings.HasPrefix(ct, "application/json")):
					t.Fatalf("denied, but %d %q (%s)", st, code, ct)
				}
				if !allowed || p.key || !strings.Contains(path, "{") {
					return
				}
				// A member of A with B's ids: as unknown as a random id.
				st, code, _ = e.walk(t, method, foreignPath, p.token)
				if st < 400 || st == http.StatusForbidden || st >= 500 {
					t.Fatalf("B's resource %s %s: %d %s", method, foreignPath, st, code)
				}
				if (method == http.MethodGet || method == http.MethodDelete) && st != http.StatusNotFound {
					t.Fatalf("B's resource %s %s: %d %s, want 404", method, foreignPath, st, code)
				}
			})
		}
	}
	if creatorRoutes < 60 {
		t.Fatalf("only %d creator routes in the table", creatorRoutes)
	}
	// B's workspace is intact: its document, member and key are where they were.
	for _, path := range []string{"/api/v1/documents/" + foreign["document"], "/api/v1/members", "/api/v1/api-keys"} {
		if st, code, raw := e.call(t, "GET", path, ownerB.AccessToken, nil); st != http.StatusOK {
			t.Fatalf("B's %s after the walk: %d %s %s", path, st, code, raw)
		}
	}
	if st, _, raw := e.call(t, "GET", "/api/v1/api-keys", ownerB.AccessToken, nil); st != http.StatusOK ||
		strings.Contains(string(raw), `"revoked_at":"`) {
		t.Fatalf("B's keys: %d %s", st, raw)
	}
}

// TestInvitationLifecycle: invitations are single use, expire, can be revoked, are bound to
// their email, and let a new or an existing person join; a person in several workspaces lists
// them, switches between them, and signs in to the last one used.
func TestInvitationLifecycle(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Now()}
	e := newFullEnvWith(t, fullOpts{limits: offPerIP, now: clk.Now})
	owner := e.c.Register(t)
	other := e.c.Register(t) // a person with a workspace of their own

	t.Run("new account, single use", func(t *testing.T) {
		email := "new-" + uuid.NewString()[:8] + "@example.com"
		tok, _ := e.invite(t, owner.AccessToken, email, "agent", false)
		if st, code, _ := e.call(t, "POST", "/api/v1/invitations/accept", "", map[string]any{"token": "cwi_garbage"}); st != http.StatusNotFound || code != "invitation_not_found" {
			t.Fatalf("malformed token: %d %s", st, code)
		}
		if st, code, _ := e.call(t, "POST", "/api/v1/invitations/accept", "", map[string]any{"token": tok}); st != http.StatusBadRequest || code != "missing_password" {
			t.Fatalf("no password: %d %s", st, code)
		}
		if st, code, _ := e.call(t, "POST", "/api/v1/invitations/accept", "", map[string]any{"token": tok, "password": "short"}); st != http.StatusBadRequest || code != "password_too_short" {
			t.Fatalf("short password: %d %s", st, code)
		}
		// Another person, signed in, cannot take an invitation meant for someone else.
		if st, code, _ := e.call(t, "POST", "/api/v1/invitations/accept", other.AccessToken, map[string]any{"token": tok}); st != http.StatusForbidden || code != "invitation_email_mismatch" {
			t.Fatalf("wrong email: %d %s", st, code)
		}
		s := e.accept(t, tok, goodPassword)
		if s.Creator.ID != owner.ID || s.Role != "agent" || !strings.EqualFold(s.User.Email, email) {
			t.Fatalf("session %+v", s)
		}
		if st, code, _ := e.call(t, "GET", "/api/v1/conversations", s.AccessToken, nil); st != http.StatusOK {
			t.Fatalf("agent lists conversations: %d %s", st, code)
		}
		if st, code, _ := e.call(t, "POST", "/api/v1/invitations/accept", "", map[string]any{"token": tok, "password": goodPassword}); st != http.StatusGone || code != "invitation_used" {
			t.Fatalf("reused: %d %s", st, code)
		}
		// Signing in with the new account lands in the workspace.
		st, _, raw := e.call(t, "POST", "/api/v1/auth/login", "", map[string]any{"email": email, "password": goodPassword})
		if l := decode[teamSession](t, raw); st != http.StatusOK || l.Creator.ID != owner.ID || l.Role != "agent" {
			t.Fatalf("login: %d %s", st, raw)
		}
		// Inviting a member again is refused.
		if st, code, _ := e.call(t, "POST", "/api/v1/invitations", owner.AccessToken, map[string]any{"email": strings.ToUpper(email), "role": "viewer"}); st != http.StatusConflict || code != "already_member" {
			t.Fatalf("invite a member: %d %s", st, code)
		}
	})

	t.Run("expired", func(t *testing.T) {
		tok, _ := e.invite(t, owner.AccessToken, "late-"+uuid.NewString()[:8]+"@example.com", "viewer", false)
		clk.Set(clk.Now().Add(7*24*time.Hour + time.Second))
		if st, code, _ := e.call(t, "POST", "/api/v1/invitations/accept", "", map[string]any{"token": tok, "password": goodPassword}); st != http.StatusGone || code != "invitation_expired" {
			t.Fatalf("expired: %d %s", st, code)
		}
	})

	t.Run("revoked", func(t *testing.T) {
		tok, id := e.invite(t, owner.AccessToken, "rev-"+uuid.NewString()[:8]+"@example.com", "viewer", false)
		st, _, raw := e.call(t, "GET", "/api/v1/invitations", owner.AccessToken, nil)
		if st != http.StatusOK || !strings.Contains(string(raw), id.String()) || strings.Contains(string(raw), "cwi_") {
			t.Fatalf("pending list: %d %s", st, raw)
		}
		if st, _, _ := e.call(t, "DELETE", "/api/v1/invitations/"+id.String(), owner.AccessToken, nil); st != http.StatusNoContent {
			t.Fatalf("revoke: %d", st)
		}
		if st, _, _ := e.call(t, "DELETE", "/api/v1/invitations/"+id.String(), owner.AccessToken, nil); st != http.StatusNotFound {
			t.Fatalf("revoke twice: %d", st)
		}
		if st, code, _ := e.call(t, "POST", "/api/v1/invitations/accept", "", map[string]any{"token": tok, "password": goodPassword}); st != http.StatusNotFound || code != "invitation_not_found" {
			t.Fatalf("revoked: %d %s", st, code)
		}
	})

	t.Run("existing account, several workspaces", func(t *testing.T) {
		tok, _ := e.invite(t, owner.AccessToken, other.Email, "viewer", false)
		if st, code, _ := e.call(t, "POST", "/api/v1/invitations/accept", "", map[string]any{"token": tok, "password": "wrong password"}); st != http.StatusUnauthorized || code != "invalid_credentials" {
			t.Fatalf("wrong password: %d %s", st, code)
		}
		s := e.accept(t, tok, "correct horse battery")
		if s.Creator.ID != owner.ID || s.Role != "viewer" {
			t.Fatalf("session %+v", s)
		}
		type ws struct {
			Workspaces []struct {
				CreatorID uuid.UUID `json:"creator_id"`
				Role      string    `json:"role"`
				Current   bool      `json:"current"`
			} `json:"workspaces"`
		}
		st, _, raw := e.call(t, "GET", "/api/v1/auth/workspaces", s.AccessToken, nil)
		got := map[uuid.UUID]string{}
		for _, w := range decode[ws](t, raw).Workspaces {
			got[w.CreatorID] = w.Role
			if w.Current != (w.CreatorID == owner.ID) {
				t.Errorf("current %+v", w)
			}
		}
		if st != http.StatusOK || len(got) != 2 || got[owner.ID] != "viewer" || got[other.ID] != "owner" {
			t.Fatalf("workspaces: %d %s", st, raw)
		}
		login := func() teamSession {
			st, _, raw := e.call(t, "POST", "/api/v1/auth/login", "", map[string]any{"email": other.Email, "password": "correct horse battery"})
			if st != http.StatusOK {
				t.Fatalf("login: %d %s", st, raw)
			}
			return decode[teamSession](t, raw)
		}
		if l := login(); l.Creator.ID != owner.ID || l.Role != "viewer" {
			t.Fatalf("login after accepting: %+v, want the last workspace used", l)
		}
		st, _, raw = e.call(t, "POST", "/api/v1/auth/switch", s.AccessToken, map[string]any{"creator_id": other.ID})
		sw := decode[teamSession](t, raw)
		if st != http.StatusOK || sw.Creator.ID != other.ID || sw.Role != "owner" {
			t.Fatalf("switch: %d %s", st, raw)
		}
		if st, _, _ := e.call(t, "GET", "/api/v1/api-keys", sw.AccessToken, nil); st != http.StatusOK {
			t.Fatalf("owner of own workspace after switch: %d", st)
		}
		if l := login(); l.Creator.ID != other.ID {
			t.Fatalf("login after switch: %+v", l)
		}
		// A workspace they do not belong to is not found; so is garbage.
		stranger := e.c.Register(t)
		if st, code, _ := e.call(t, "POST", "/api/v1/auth/switch", s.AccessToken, map[string]any{"creator_id": stranger.ID}); st != http.StatusNotFound {
			t.Fatalf("switch to a stranger's workspace: %d %s", st, code)
		}
		if st, code, _ := e.call(t, "POST", "/api/v1/auth/switch", s.AccessToken, map[string]any{"creator_id": "x"}); st != http.StatusBadRequest {
			t.Fatalf("switch to garbage: %d %s", st, code)
		}
		// Signed in, with the invited email: no password needed.
		third := e.c.Register(t)
		tok, _ = e.invite(t, third.AccessToken, other.Email, "editor", false)
		st, _, raw = e.call(t, "POST", "/api/v1/invitations/accept", sw.AccessToken, map[string]any{"token": tok})
		if s := decode[teamSession](t, raw); st != http.StatusOK || s.Creator.ID != third.ID || s.Role != "editor" {
			t.Fatalf("accept signed in: %d %s", st, raw)
		}
	})
}

// TestRemovedMemberLosesAccessAtOnce: removing a member revokes their refresh tokens and stops
// their access tokens on the very next request; a role change applies on the next request too.
func TestRemovedMemberLosesAccessAtOnce(t *testing.T) {
	t.Parallel()
	e := newFullEnv(t)
	owner := e.c.Register(t)
	agent := e.join(t, owner.AccessToken, "agent", false)
	if st, _, _ := e.call(t, "GET", "/api/v1/conversations", agent.AccessToken, nil); st != http.StatusOK {
		t.Fatalf("agent before: %d", st)
	}
	// Demoted to viewer: the takeover route is refused at once, with the same token.
	if st, _, raw := e.call(t, "PATCH", "/api/v1/members/"+agent.User.ID.String(), owner.AccessToken, map[string]any{"role": "viewer"}); st != http.StatusOK {
		t.Fatalf("demote: %d %s", st, raw)
	}
	if st, code, _ := e.call(t, "POST", "/api/v1/conversations/"+uuid.NewString()+"/takeover", agent.AccessToken, nil); st != http.StatusForbidden || code != "forbidden" {
		t.Fatalf("takeover after demotion: %d %s", st, code)
	}
	if st, code, _ := e.call(t, "DELETE", "/api/v1/members/"+agent.User.ID.String(), owner.AccessToken, nil); st != http.StatusNoContent {
		t.Fatalf("remove: %d %s", st, code)
	}
	if st, code, _ := e.call(t, "GET", "/api/v1/conversations", agent.AccessToken, nil); st != http.StatusUnauthorized || code != "invalid_token" {
		t.Fatalf("access token after removal: %d %s", st, code)
	}
	if st, code, _ := e.call(t, "POST", "/api/v1/auth/refresh", "", map[string]any{"refresh_token": agent.RefreshToken}); st != http.StatusUnauthorized {
		t.Fatalf("refresh after removal: %d %s", st, code)
	}
	if st, code, _ := e.call(t, "POST", "/api/v1/auth/login", "", map[string]any{"email": agent.User.Email, "password": goodPassword}); st != http.StatusForbidden || code != "no_workspace" {
		t.Fatalf("login after removal: %d %s", st, code)
	}
	if st, _, _ := e.call(t, "DELETE", "/api/v1/members/"+agent.User.ID.String(), owner.AccessToken, nil); st != http.StatusNotFound {
		t.Fatalf("remove twice: %d", st)
	}
	// Invited again: the new membership works, the old token still does not.
	tok, _ := e.invite(t, owner.AccessToken, agent.User.Email, "agent", false)
	again := e.accept(t, tok, goodPassword)
	if st, _, _ := e.call(t, "GET", "/api/v1/conversations", again.AccessToken, nil); st != http.StatusOK {
		t.Fatalf("after rejoining: %d", st)
	}
	if st, _, _ := e.call(t, "GET", "/api/v1/conversations", agent.AccessToken, nil); st != http.StatusUnauthorized {
		t.Fatalf("old token after rejoining: %d", st)
	}

	// The owner cannot be removed or demoted, and only the owner transfers ownership.
	ownerID := decode[struct {
		User struct{ ID uuid.UUID } `json:"user"`
	}](t, func() []byte { _, _, raw := e.call(t, "GET", "/api/v1/auth/me", owner.AccessToken, nil); return raw }()).User.ID
	admin := e.join(t, owner.AccessToken, "admin", false)
	if st, code, _ := e.call(t, "DELETE", "/api/v1/members/"+ownerID.String(), admin.AccessToken, nil); st != http.StatusConflict || code != "owner_cannot_be_removed" {
		t.Fatalf("remove owner: %d %s", st, code)
	}
	if st, code, _ := e.call(t, "PATCH", "/api/v1/members/"+ownerID.String(), admin.AccessToken, map[string]any{"role": "viewer"}); st != http.StatusConflict || code != "owner_role" {
		t.Fatalf("demote owner: %d %s", st, code)
	}
	if st, code, _ := e.call(t, "PATCH", "/api/v1/members/"+admin.User.ID.String(), owner.AccessToken, map[string]any{"role": "owner"}); st != http.StatusBadRequest || code != "invalid_role" {
		t.Fatalf("assign owner: %d %s", st, code)
	}
	if st, code, _ := e.call(t, "POST", "/api/v1/members/"+admin.User.ID.String()+"/transfer-ownership", admin.AccessToken, nil); st != http.StatusForbidden || code != "forbidden" {
		t.Fatalf("admin transfers: %d %s", st, code)
	}
	st, _, raw := e.call(t, "POST", "/api/v1/members/"+admin.User.ID.String()+"/transfer-ownership", owner.AccessToken, nil)
	if st != http.StatusOK || decode[struct{ Role string }](t, raw).Role != "owner" {
		t.Fatalf("transfer: %d %s", st, raw)
	}
	// The former owner is an admin now (at once, same token); the new owner can hand it back.
	if st, code, _ := e.call(t, "POST", "/api/v1/members/"+admin.User.ID.String()+"/transfer-ownership", owner.AccessToken, nil); st != http.StatusForbidden || code != "forbidden" {
		t.Fatalf("former owner transfers: %d %s", st, code)
	}
	st, _, raw = e.call(t, "GET", "/api/v1/members", owner.AccessToken, nil)
	roles := map[uuid.UUID]string{}
	for _, m := range decode[struct {
		Members []struct {
			UserID uuid.UUID `json:"user_id"`
			Role   string
		}
	}](t, raw).Members {
		roles[m.UserID] = m.Role
	}
	if st != http.StatusOK || roles[ownerID] != "admin" || roles[admin.User.ID] != "owner" || roles[again.User.ID] != "agent" {
		t.Fatalf("members: %d %s", st, raw)
	}
	if st, _, _ := e.call(t, "POST", "/api/v1/members/"+ownerID.String()+"/transfer-ownership", admin.AccessToken, nil); st != http.StatusOK {
		t.Fatalf("transfer back: %d", st)
	}
}

// TestViewerMessageContentGrant: a viewer reads no message content until granted.
func TestViewerMessageContentGrant(t *testing.T) {
	t.Parallel()
	e := newFullEnv(t)
	owner := e.c.Register(t)
	fx := e.fixtures(t, owner, false)
	viewer := e.join(t, owner.AccessToken, "viewer", false)
	messages := "/api/v1/conversations/" + fx["conversation"] + "/messages"
	if st, code, _ := e.call(t, "GET", messages, viewer.AccessToken, nil); st != http.StatusForbidden || code != "forbidden" {
		t.Fatalf("viewer reads messages: %d %s", st, code)
	}
	if st, _, _ := e.call(t, "GET", "/api/v1/conversations", viewer.AccessToken, nil); st != http.StatusOK {
		t.Fatalf("viewer lists conversations: %d", st)
	}
	if st, _, raw := e.call(t, "PATCH", "/api/v1/members/"+viewer.User.ID.String(), owner.AccessToken, map[string]any{"can_read_messages": true}); st != http.StatusOK ||
		!strings.Contains(string(raw), `"can_read_messages":true`) || !strings.Contains(string(raw), `"role":"viewer"`) {
		t.Fatalf("grant: %d %s", st, raw)
	}
	if st, _, raw := e.call(t, "GET", messages, viewer.AccessToken, nil); st != http.StatusOK {
		t.Fatalf("granted viewer reads messages: %d %s", st, raw)
	}
	if st, code, _ := e.call(t, "POST", messages, viewer.AccessToken, map[string]any{"text": "hi"}); st != http.StatusForbidden || code != "forbidden" {
		t.Fatalf("granted viewer replies: %d %s", st, code)
	}
}

// TestAPIKeys: a key is shown once, listed by prefix, works as a bearer credential with its
// role's permissions, records its last use, and stops working when revoked.
func TestAPIKeys(t *testing.T) {
	t.Parallel()
	e := newFullEnv(t)
	owner := e.c.Register(t)
	stranger := e.c.Register(t)
	fx := e.fixtures(t, owner, false)
	foreign := e.fixtures(t, stranger, false)

	st, _, raw := e.call(t, "POST", "/api/v1/api-keys", owner.AccessToken, map[string]any{"name": "CI", "role": "editor"})
	created := decode[struct {
		ID         uuid.UUID  `json:"id"`
		Key        string     `json:"key"`
		Prefix     string     `json:"prefix"`
		Role       string     `json:"role"`
		LastUsedAt *time.Time `json:"last_used_at"`
	}](t, raw)
	if st != http.StatusCreated || !strings.HasPrefix(created.Key, created.Prefix) || !strings.HasPrefix(created.Prefix, "cwk_") ||
		created.Role != "editor" || created.LastUsedAt != nil {
		t.Fatalf("create: %d %s", st, raw)
	}
	for _, body := range []map[string]any{{"name": "x", "role": "owner"}, {"name": "x", "role": "boss"}, {"name": " ", "role": "viewer"}} {
		if st, _, raw := e.call(t, "POST", "/api/v1/api-keys", owner.AccessToken, body); st != http.StatusBadRequest {
			t.Errorf("create %v: %d %s", body, st, raw)
		}
	}
	key := created.Key
	// The editor's permissions: knowledge yes, keys and settings no.
	if st, _, raw := e.call(t, "GET", "/api/v1/documents/"+fx["document"], key, nil); st != http.StatusOK {
		t.Fatalf("key reads a document: %d %s", st, raw)
	}
	if st, code, _ := e.call(t, "GET", "/api/v1/api-keys", key, nil); st != http.StatusForbidden || code != "forbidden" {
		t.Fatalf("editor key lists keys: %d %s", st, code)
	}
	if st, code, _ := e.call(t, "PUT", "/api/v1/nudge-policy", key, map[string]any{}); st != http.StatusForbidden || code != "forbidden" {
		t.Fatalf("editor key writes settings: %d %s", st, code)
	}
	st, _, raw = e.call(t, "GET", "/api/v1/auth/me", key, nil)
	me := decode[struct {
		ID       uuid.UUID  `json:"id"`
		Role     string     `json:"role"`
		APIKeyID *uuid.UUID `json:"api_key_id"`
		User     *struct{}  `json:"user"`
	}](t, raw)
	if st != http.StatusOK || me.ID != owner.ID || me.Role != "editor" || me.APIKeyID == nil || *me.APIKeyID != created.ID || me.User != nil {
		t.Fatalf("me with a key: %d %s", st, raw)
	}
	// Another workspace's resources are not found with this key.
	if st, _, _ := e.call(t, "GET", "/api/v1/documents/"+foreign["document"], key, nil); st != http.StatusNotFound {
		t.Fatalf("key reads a foreign document: %d", st)
	}
	// Listed by prefix, never the secret, with its last use.
	st, _, raw = e.call(t, "GET", "/api/v1/api-keys", owner.AccessToken, nil)
	if st != http.StatusOK || strings.Contains(string(raw), key) || !strings.Contains(string(raw), created.Prefix) ||
		!regexp.MustCompile(`"id":"`+created.ID.String()+`"[^}]*"last_used_at":"20`).Match(raw) {
		t.Fatalf("list: %d %s", st, raw)
	}
	// Revoked: refused at once.
	if st, _, _ := e.call(t, "DELETE", "/api/v1/api-keys/"+created.ID.String(), owner.AccessToken, nil); st != http.StatusNoContent {
		t.Fatalf("revoke: %d", st)
	}
	if st, code, _ := e.call(t, "GET", "/api/v1/documents", key, nil); st != http.StatusUnauthorized || code != "invalid_token" {
		t.Fatalf("revoked key: %d %s", st, code)
	}
	if st, _, _ := e.call(t, "DELETE", "/api/v1/api-keys/"+created.ID.String(), owner.AccessToken, nil); st != http.StatusNotFound {
		t.Fatalf("revoke twice: %d", st)
	}
	// Another workspace cannot revoke it (nor see it), and made-up keys are refused.
	other := e.apiKey(t, owner.AccessToken, "viewer")
	st, _, raw = e.call(t, "GET", "/api/v1/api-keys", owner.AccessToken, nil)
	otherID := regexp.MustCompile(`"id":"([0-9a-f-]{36})","name":"key viewer"`).FindSubmatch(raw)
	if st != http.StatusOK || otherID == nil {
		t.Fatalf("list: %d %s", st, raw)
	}
	if st, _, _ := e.call(t, "DELETE", "/api/v1/api-keys/"+string(otherID[1]), stranger.AccessToken, nil); st != http.StatusNotFound {
		t.Fatalf("stranger revokes: %d", st)
	}
	if st, _, _ := e.call(t, "GET", "/api/v1/documents", other, nil); st != http.StatusOK {
		t.Fatalf("viewer key after the stranger's attempt: %d", st)
	}
	if st, code, _ := e.call(t, "GET", "/api/v1/conversations/"+fx["conversation"]+"/messages", other, nil); st != http.StatusForbidden || code != "forbidden" {
		t.Fatalf("viewer key reads messages: %d %s", st, code)
	}
	for _, bad := range []string{"cwk_", "cwk_" + strings.Repeat("A", 43), other + "x", other[:len(other)-1]} {
		if st, code, _ := e.call(t, "GET", "/api/v1/documents", bad, nil); st != http.StatusUnauthorized || code != "invalid_token" {
			t.Errorf("key %q: %d %s", bad, st, code)
		}
	}
}

// TestSingleOwnerUnchanged: a registered creator alone is the owner of their workspace, with
// every permission, exactly as before teams.
func TestSingleOwnerUnchanged(t *testing.T) {
	t.Parallel()
	e := newFullEnv(t)
	c := e.c.Register(t)
	st, _, raw := e.call(t, "GET", "/api/v1/auth/me", c.AccessToken, nil)
	me := decode[struct {
		ID          uuid.UUID `json:"id"`
		Role        string    `json:"role"`
		Permissions []string  `json:"permissions"`
		User        struct {
			Email string `json:"email"`
		} `json:"user"`
	}](t, raw)
	if st != http.StatusOK || me.ID != c.ID || me.Role != "owner" || len(me.Permissions) != len(perm.All) || me.User.Email != c.Email {
		t.Fatalf("me: %d %s", st, raw)
	}
	st, _, raw = e.call(t, "GET", "/api/v1/members", c.AccessToken, nil)
	if st != http.StatusOK || strings.Count(string(raw), `"user_id"`) != 1 || !strings.Contains(string(raw), `"role":"owner"`) {
		t.Fatalf("members: %d %s", st, raw)
	}
}

// TestIdentitySecretOnlyWithContent: the widget's identity secret lets its holder open the widget
// as any end user (and read their conversation), so the widget settings show it only to a grant
// that may change the coach and read message content.
func TestIdentitySecretOnlyWithContent(t *testing.T) {
	t.Parallel()
	e := newFullEnv(t)
	owner := e.c.Register(t)
	type settings struct {
		IdentitySecret string `json:"identity_secret"`
	}
	for _, c := range []struct {
		name, token string
		want        bool
	}{
		{"owner", owner.AccessToken, true},
		{"admin", e.join(t, owner.AccessToken, "admin", false).AccessToken, true},
		{"editor with content", e.join(t, owner.AccessToken, "editor", true).AccessToken, true},
		{"editor", e.join(t, owner.AccessToken, "editor", false).AccessToken, false},
		{"viewer with content", e.join(t, owner.AccessToken, "viewer", true).AccessToken, false},
		{"viewer key", e.apiKey(t, owner.AccessToken, "viewer"), false},
	} {
		st, _, raw := e.call(t, "GET", "/api/v1/widget/settings", c.token, nil)
		if st != http.StatusOK {
			t.Fatalf("%s: %d %s", c.name, st, raw)
		}
		if got := decode[settings](t, raw).IdentitySecret != ""; got != c.want {
			t.Errorf("%s sees the identity secret: %v, want %v", c.name, got, c.want)
		}
	}
}

// TestRemovedMemberKeysRevoked: removing a member revokes the API keys they created (at once:
// the next request with one is refused) and no one else's.
func TestRemovedMemberKeysRevoked(t *testing.T) {
	t.Parallel()
	e := newFullEnv(t)
	owner := e.c.Register(t)
	admin := e.join(t, owner.AccessToken, "admin", false)
	theirs := e.apiKey(t, admin.AccessToken, "editor")
	ours := e.apiKey(t, owner.AccessToken, "editor")
	for _, k := range []string{theirs, ours} {
		if st, code, _ := e.call(t, "GET", "/api/v1/documents", k, nil); st != http.StatusOK {
			t.Fatalf("key before: %d %s", st, code)
		}
	}
	if st, code, _ := e.call(t, "DELETE", "/api/v1/members/"+admin.User.ID.String(), owner.AccessToken, nil); st != http.StatusNoContent {
		t.Fatalf("remove: %d %s", st, code)
	}
	if st, code, _ := e.call(t, "GET", "/api/v1/documents", theirs, nil); st != http.StatusUnauthorized || code != "invalid_token" {
		t.Fatalf("the removed member's key: %d %s", st, code)
	}
	if st, code, _ := e.call(t, "GET", "/api/v1/documents", ours, nil); st != http.StatusOK {
		t.Fatalf("the owner's key after the removal: %d %s", st, code)
	}
	_, _, raw := e.call(t, "GET", "/api/v1/api-keys", owner.AccessToken, nil)
	keys := decode[struct {
		APIKeys []struct {
			CreatedBy string  `json:"created_by"`
			RevokedAt *string `json:"revoked_at"`
		} `json:"api_keys"`
	}](t, raw).APIKeys
	revoked := 0
	for _, k := range keys {
		if (k.RevokedAt != nil) != (k.CreatedBy == admin.User.ID.String()) {
			t.Errorf("key by %s revoked %v", k.CreatedBy, k.RevokedAt)
		}
		if k.RevokedAt != nil {
			revoked++
		}
	}
	if len(keys) != 2 || revoked != 1 {
		t.Fatalf("keys: %s", raw)
	}
}

// TestDemotedMemberKeysRevoked: an admin demoted to a role that cannot manage keys loses the
// keys they made (an admin key must not outlive its maker's right to it); others' keys stay.
func TestDemotedMemberKeysRevoked(t *testing.T) {
	t.Parallel()
	e := newFullEnv(t)
	owner := e.c.Register(t)
	admin := e.join(t, owner.AccessToken, "admin", false)
	theirs := e.apiKey(t, admin.AccessToken, "admin")
	ours := e.apiKey(t, owner.AccessToken, "editor")
	if st, code, _ := e.call(t, "PATCH", "/api/v1/members/"+admin.User.ID.String(), owner.AccessToken, map[string]any{"role": "admin", "can_read_messages": true}); st != http.StatusOK {
		t.Fatalf("a change that keeps the role: %d %s", st, code)
	}
	if st, code, _ := e.call(t, "GET", "/api/v1/members", theirs, nil); st != http.StatusOK {
		t.Fatalf("the admin's key while they are admin: %d %s", st, code)
	}
	if st, code, _ := e.call(t, "PATCH", "/api/v1/members/"+admin.User.ID.String(), owner.AccessToken, map[string]any{"role": "editor"}); st != http.StatusOK {
		t.Fatalf("demote: %d %s", st, code)
	}
	if st, code, _ := e.call(t, "GET", "/api/v1/members", theirs, nil); st != http.StatusUnauthorized || code != "invalid_token" {
		t.Fatalf("the demoted member's admin key: %d %s", st, code)
	}
	if st, code, _ := e.call(t, "GET", "/api/v1/documents", ours, nil); st != http.StatusOK {
		t.Fatalf("the owner's key after the demotion: %d %s", st, code)
	}
}

// TestRemovalRevokesKeyCreatedMeanwhile: an admin creates an API key while their removal is in
// progress (after the request was authenticated, before the removal commits). The key must
// not outlive the membership: either the removal revokes it or the creation is refused.
func TestRemovalRevokesKeyCreatedMeanwhile(t *testing.T) {
	t.Parallel()
	e := newFullEnv(t)
	owner := e.c.Register(t)
	admin := e.join(t, owner.AccessToken, "admin", false)
	ctx := context.Background()
	tx, err := testenv.Store(t).Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	// The removal, as handleRemoveMember runs it, up to its commit.
	for _, stmt := range []string{
		"SELECT set_config('app.creator_id', $1::text, true)",
		"SELECT pg_advisory_xact_lock(hashtextextended('members:' || $1::text, 0))",
		"DELETE FROM members WHERE creator_id = $1::uuid AND user_id = $2::uuid",
		"UPDATE api_keys SET revoked_at = now() WHERE creator_id = $1::uuid AND created_by = $2::uuid AND revoked_at IS NULL",
		"UPDATE refresh_tokens SET revoked_at = now() WHERE creator_id = $1::uuid AND user_id = $2::uuid AND revoked_at IS NULL",
	} {
		args := []any{owner.ID.String()}
		if strings.Count(stmt, "$2") > 0 {
			args = append(args, admin.User.ID.String())
		}
		if _, err := tx.Exec(ctx, stmt, args...); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	type result struct {
		st  int
		raw []byte
	}
	done := make(chan result, 1)
	go func() {
		st, _, raw := e.call(t, "POST", "/api/v1/api-keys", admin.AccessToken, map[string]any{"name": "meanwhile", "role": "admin"})
		done <- result{st, raw}
	}()
	// Commit the removal once the creation has finished or waits for the member lock.
	var res *result
	for res == nil {
		select {
		case r := <-done:
			res = &r
		default:
			var waiting bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_locks g ON g.locktype = 'advisory' AND g.pid = pg_backend_pid()
				AND g.classid = l.classid AND g.objid = l.objid AND g.objsubid = l.objsubid
				WHERE l.locktype = 'advisory' AND NOT l.granted)`).Scan(&waiting); err != nil {
				t.Fatal(err)
			}
			if waiting {
				res = &result{}
			} else {
				time.Sleep(10 * time.Millisecond)
			}
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if res.raw == nil {
		r := <-done
		res = &r
	}
	if res.st == http.StatusCreated {
		// Created: it must be revoked with the membership.
		st, _, raw := e.call(t, "GET", "/api/v1/api-keys", owner.AccessToken, nil)
		if st != http.StatusOK {
			t.Fatalf("list keys: %d %s", st, raw)
		}
		var out struct {
			Keys []struct {
				Name      string  `json:"name"`
				RevokedAt *string `json:"revoked_at"`
			} `json:"api_keys"`
		}
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatal(err)
		}
		for _, k := range out.Keys {
			if k.Name == "meanwhile" && k.RevokedAt == nil {
				t.Fatalf("the key a removed member created during their removal still works: %s", raw)
			}
		}
		return
	}
	if res.st != http.StatusUnauthorized {
		t.Fatalf("creation during the removal: %d %s", res.st, res.raw)
	}
}
