package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/testenv"
)

type endUserJSON struct {
	ID          uuid.UUID `json:"id"`
	Channel     string    `json:"channel"`
	ExternalID  string    `json:"external_id"`
	DisplayName string    `json:"display_name"`
	Tags        []string  `json:"tags"`
	OptedOut    bool      `json:"opted_out"`
	CreatedAt   time.Time `json:"created_at"`
}

// seedEndUsers creates n widget end users of creator c directly in the database.
func seedEndUsers(t *testing.T, c uuid.UUID, n int, channel string) []uuid.UUID {
	t.Helper()
	st := testenv.Store(t)
	ctx := context.Background()
	var out []uuid.UUID
	err := st.InTenant(ctx, c, func(q *db.Queries) error {
		for i := range n {
			eu, err := q.UpsertEndUser(ctx, db.UpsertEndUserParams{ID: uuid.New(), CreatorID: c, Channel: channel,
				ExternalID: fmt.Sprintf("anon-%d-%s", i, uuid.NewString()), DisplayName: fmt.Sprintf("Person %d", i)})
			if err != nil {
				return err
			}
			out = append(out, eu.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestEndUserRoutes: listing in keyset pages with filters, one end user, tags replaced with
// validation, and another creator's end user answered 404 on every route.
func TestEndUserRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	s := e.register(t, uniqueEmail())
	other := e.register(t, uniqueEmail())
	mine := seedEndUsers(t, s.Creator.ID, 5, "widget")
	mine = append(mine, seedEndUsers(t, s.Creator.ID, 1, "telegram")...)
	theirs := seedEndUsers(t, other.Creator.ID, 2, "widget")

	type page struct {
		EndUsers  []endUserJSON `json:"end_users"`
		NextAfter *uuid.UUID    `json:"next_after"`
	}
	// All pages of 2: every end user once, none of the other creator's.
	seen := map[uuid.UUID]bool{}
	after := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		var pg page
		r := e.do(t, "GET", "/api/v1/end-users?limit=2"+after, nil, bearer(s)...)
		if r.status != http.StatusOK {
			t.Fatalf("list: %d %s", r.status, r.body)
		}
		r.json(t, &pg)
		for _, u := range pg.EndUsers {
			if seen[u.ID] {
				t.Fatalf("%s listed twice", u.ID)
			}
			seen[u.ID] = true
			if u.Tags == nil {
				t.Errorf("tags of %s: null, want []", u.ID)
			}
		}
		if pg.NextAfter == nil {
			break
		}
		after = "&after=" + pg.NextAfter.String()
	}
	if len(seen) != len(mine) {
		t.Fatalf("listed %d end users, want %d", len(seen), len(mine))
	}
	for _, id := range mine {
		if !seen[id] {
			t.Errorf("%s not listed", id)
		}
	}
	var pg page
	e.do(t, "GET", "/api/v1/end-users?channel=telegram", nil, bearer(s)...).json(t, &pg)
	if len(pg.EndUsers) != 1 || pg.EndUsers[0].ID != mine[5] || pg.NextAfter != nil {
		t.Fatalf("channel filter: %+v", pg)
	}
	for _, q := range []string{"?limit=0", "?limit=501", "?limit=x", "?after=nope", "?channel=sms"} {
		if r := e.do(t, "GET", "/api/v1/end-users"+q, nil, bearer(s)...); r.status != http.StatusBadRequest {
			t.Errorf("list%s: %d, want 400", q, r.status)
		}
	}

	// One end user; tags.
	var u endUserJSON
	r := e.do(t, "GET", "/api/v1/end-users/"+mine[0].String(), nil, bearer(s)...)
	if r.status != http.StatusOK {
		t.Fatalf("get: %d %s", r.status, r.body)
	}
	r.json(t, &u)
	if u.ID != mine[0] || u.Channel != "widget" || u.DisplayName != "Person 0" || len(u.Tags) != 0 {
		t.Fatalf("get: %+v", u)
	}
	r = e.do(t, "PUT", "/api/v1/end-users/"+mine[0].String()+"/tags", map[string]any{"tags": []string{" vip ", "Cohort-3", "vip"}}, bearer(s)...)
	if r.status != http.StatusOK {
		t.Fatalf("put tags: %d %s", r.status, r.body)
	}
	r.json(t, &u)
	if strings.Join(u.Tags, ",") != "vip,Cohort-3" {
		t.Fatalf("tags %q: want trimmed, deduplicated, case kept", u.Tags)
	}
	e.do(t, "GET", "/api/v1/end-users?tag=vip", nil, bearer(s)...).json(t, &pg)
	if len(pg.EndUsers) != 1 || pg.EndUsers[0].ID != mine[0] {
		t.Fatalf("tag filter: %+v", pg)
	}
	for _, body := range []any{
		map[string]any{"tags": make([]string, 51)},
		map[string]any{"tags": []string{"ok", " "}},
		map[string]any{"tags": []string{strings.Repeat("t", 65)}},
		map[string]any{"tags": []string{"line\nbreak"}},
		map[string]any{},
		map[string]any{"tags": nil},
	} {
		r := e.do(t, "PUT", "/api/v1/end-users/"+mine[0].String()+"/tags", body, bearer(s)...)
		if r.status != http.StatusBadRequest || r.code(t) != "invalid_tags" {
			t.Errorf("put tags %v: %d %s, want 400 invalid_tags", body, r.status, r.body)
		}
	}
	if r := e.do(t, "PUT", "/api/v1/end-users/"+mine[0].String()+"/tags", map[string]any{"tags": []string{}}, bearer(s)...); r.status != http.StatusOK {
		t.Fatalf("clearing tags: %d %s", r.status, r.body)
	}
	e.do(t, "GET", "/api/v1/end-users/"+mine[0].String(), nil, bearer(s)...).json(t, &u)
	if len(u.Tags) != 0 {
		t.Fatalf("tags after clearing: %q", u.Tags)
	}

	// Another creator's end user, an unknown id and a malformed id: 404, and nothing changed.
	for _, id := range []string{theirs[0].String(), uuid.NewString(), "not-a-uuid"} {
		for _, req := range []struct {
			method, path string
			body         any
		}{
			{"GET", "/api/v1/end-users/" + id, nil},
			{"PUT", "/api/v1/end-users/" + id + "/tags", map[string]any{"tags": []string{"stolen"}}},
		} {
			r := e.do(t, req.method, req.path, req.body, bearer(s)...)
			if r.status != http.StatusNotFound || r.code(t) != "not_found" {
				t.Errorf("%s %s: %d %s, want 404", req.method, req.path, r.status, r.body)
			}
		}
	}
	e.do(t, "GET", "/api/v1/end-users/"+theirs[0].String(), nil, bearer(other)...).json(t, &u)
	if len(u.Tags) != 0 {
		t.Fatalf("another creator tagged this creator's end user: %q", u.Tags)
	}
}
