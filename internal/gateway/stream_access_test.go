package gateway

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/coachwire/coachwire/internal/auth"
	"github.com/coachwire/coachwire/internal/auth/perm"
	"github.com/coachwire/coachwire/internal/config"
	"github.com/coachwire/coachwire/internal/testenv"
)

// TestStreamsEndWhenAccessEnds: the check the event streams make on every heartbeat
// (stillAllowed) fails once the member is demoted below the stream's permission or removed, or
// the key is revoked.
func TestStreamsEndWhenAccessEnds(t *testing.T) {
	t.Parallel()
	svc, err := auth.New(auth.Options{KeyFile: filepath.Join(t.TempDir(), "jwt.json"), Issuer: "http://gateway.test", BcryptCost: 4})
	if err != nil {
		t.Fatal(err)
	}
	off := config.Rate{N: -1}
	s := New(Deps{Store: testenv.Store(t), Auth: svc, Log: testenv.Logger(t),
		Config: &Settings{Limits: config.Limits{RegistrationsPerIP: off, LoginsPerIP: off, WidgetSessionsPerIP: off}}})
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	c := testenv.NewClient(ts.URL)
	ctx := context.Background()
	owner := c.Register(t)
	do := func(method, path, token string, body, out any) {
		t.Helper()
		if st, raw, err := c.Do(ctx, method, path, token, body, out); err != nil || st >= 300 {
			t.Fatalf("%s %s: %d %v %s", method, path, st, err, raw)
		}
	}
	var inv struct{ Token string }
	do("POST", "/api/v1/invitations", owner.AccessToken, map[string]any{"email": "agent-" + owner.ID.String()[:8] + "@example.com", "role": "agent"}, &inv)
	var agent struct {
		AccessToken string `json:"access_token"`
		User        struct{ ID string }
	}
	do("POST", "/api/v1/invitations/accept", "", map[string]any{"token": inv.Token, "password": "correct horse battery"}, &agent)
	var key struct{ ID, Key string }
	do("POST", "/api/v1/api-keys", owner.AccessToken, map[string]any{"name": "k", "role": "agent"}, &key)

	authOf := func(tok string) creatorAuth {
		t.Helper()
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		a, err := s.authenticate(httptest.NewRecorder(), r)
		if err != nil {
			t.Fatal(err)
		}
		a.perm = perm.ContentRead
		return a
	}
	a, k := authOf(agent.AccessToken), authOf(key.Key)
	if !s.stillAllowed(ctx, a) || !s.stillAllowed(ctx, k) {
		t.Fatal("not allowed at first")
	}
	do("PATCH", "/api/v1/members/"+agent.User.ID, owner.AccessToken, map[string]any{"role": "viewer"}, nil)
	if s.stillAllowed(ctx, a) {
		t.Fatal("a viewer without the grant keeps the content stream")
	}
	do("PATCH", "/api/v1/members/"+agent.User.ID, owner.AccessToken, map[string]any{"role": "agent"}, nil)
	if !s.stillAllowed(ctx, a) {
		t.Fatal("agent again, refused")
	}
	do("DELETE", "/api/v1/members/"+agent.User.ID, owner.AccessToken, nil, nil)
	if s.stillAllowed(ctx, a) {
		t.Fatal("a removed member keeps the stream")
	}
	do("DELETE", "/api/v1/api-keys/"+key.ID, owner.AccessToken, nil, nil)
	if s.stillAllowed(ctx, k) {
		t.Fatal("a revoked key keeps the stream")
	}
	if st, _, _ := c.Do(ctx, "GET", "/api/v1/auth/me", key.Key, nil, nil); st != http.StatusUnauthorized {
		t.Fatalf("revoked key: %d", st)
	}
}
