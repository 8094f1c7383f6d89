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

type policyJSON struct {
	Timezone   string `json:"timezone"`
	QuietStart string `json:"quiet_start"`
	QuietEnd   string `json:"quiet_end"`
	CapDay     int    `json:"cap_day"`
	CapWeek    int    `json:"cap_week"`
}

type endUserJSON struct {
	ID          uuid.UUID `json:"id"`
	Channel     string    `json:"channel"`
	ExternalID  string    `json:"external_id"`
	DisplayName string    `json:"display_name"`
	Tags        []string  `json:"tags"`
	OptedOut    bool      `json:"opted_out"`
	CreatedAt   time.Time `json:"created_at"`
}

func bearer(s session) []string { return []string{"Authorization", "Bearer " + s.AccessToken} }

// TestNudgePolicyRoutes: the defaults, a full and a partial update, and a 400 naming the field
// for every kind of invalid value, after which nothing changed.
func TestNudgePolicyRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	s := e.register(t, uniqueEmail())

	r := e.do(t, "GET", "/api/v1/nudge-policy", nil)
	if r.status != http.StatusUnauthorized {
		t.Fatalf("without a token: %d", r.status)
	}
	var p policyJSON
	r = e.do(t, "GET", "/api/v1/nudge-policy", nil, bearer(s)...)
	if r.status != http.StatusOK {
		t.Fatalf("GET: %d %s", r.status, r.body)
	}
	r.json(t, &p)
	if want := (policyJSON{"UTC", "22:00", "08:00", 2, 7}); p != want {
		t.Fatalf("defaults %+v, want %+v", p, want)
	}

	r = e.do(t, "PUT", "/api/v1/nudge-policy", map[string]any{"timezone": "Europe/Paris", "quiet_start": "21:30",
		"quiet_end": "07:05", "cap_day": 1, "cap_week": 5}, bearer(s)...)
	if r.status != http.StatusOK {
		t.Fatalf("PUT: %d %s", r.status, r.body)
	}
	r.json(t, &p)
	if want := (policyJSON{"Europe/Paris", "21:30", "07:05", 1, 5}); p != want {
		t.Fatalf("after PUT %+v, want %+v", p, want)
	}
	// PUT replaces: every field is required.
	r = e.do(t, "PUT", "/api/v1/nudge-policy", map[string]any{"cap_day": 0}, bearer(s)...)
	if r.status != http.StatusBadRequest || r.code(t) != "missing_field" {
		t.Fatalf("partial PUT: %d %s, want 400 missing_field", r.status, r.body)
	}
	// PATCH: only what is sent changes; zero caps and no quiet hours (equal) are valid.
	r = e.do(t, "PATCH", "/api/v1/nudge-policy", map[string]any{"cap_day": 0, "quiet_start": "00:00", "quiet_end": "00:00"}, bearer(s)...)
	if r.status != http.StatusOK {
		t.Fatalf("PATCH: %d %s", r.status, r.body)
	}
	want := policyJSON{"Europe/Paris", "00:00", "00:00", 0, 5}
	r = e.do(t, "GET", "/api/v1/nudge-policy", nil, bearer(s)...)
	r.json(t, &p)
	if p != want {
		t.Fatalf("after PATCH %+v, want %+v", p, want)
	}

	for _, tc := range []struct {
		body  any
		field string
	}{
		{map[string]any{"timezone": "Mars/Olympus_Mons"}, "timezone"},
		{map[string]any{"timezone": ""}, "timezone"},
		{map[string]any{"timezone": "Local"}, "timezone"},
		{map[string]any{"quiet_start": "24:00"}, "quiet_start"},
		{map[string]any{"quiet_start": "9:00"}, "quiet_start"},
		{map[string]any{"quiet_end": "08:60"}, "quiet_end"},
		{map[string]any{"quiet_end": "8h"}, "quiet_end"},
		{map[string]any{"quiet_end": "+8:00"}, "quiet_end"},
		{map[string]any{"cap_day": -1}, "cap_day"},
		{map[string]any{"cap_day": 101}, "cap_day"},
		{map[string]any{"cap_week": 701}, "cap_week"},
		{map[string]any{"cap_week": -3, "timezone": "Europe/Berlin"}, "cap_week"},
	} {
		r := e.do(t, "PATCH", "/api/v1/nudge-policy", tc.body, bearer(s)...)
		if r.status != http.StatusBadRequest || r.code(t) != "invalid_policy" {
			t.Errorf("PATCH %v: %d %s, want 400 invalid_policy", tc.body, r.status, r.body)
			continue
		}
		var body struct {
			Error struct{ Message string } `json:"error"`
		}
		r.json(t, &body)
		if !strings.HasPrefix(body.Error.Message, tc.field+":") {
			t.Errorf("PATCH %v: message %q does not name %s", tc.body, body.Error.Message, tc.field)
		}
	}
	// Minutes instead of HH:MM, a wrong type and unknown fields are malformed.
	for _, body := range []any{map[string]any{"quiet_start": 1320}, map[string]any{"cap_day": "2"}, map[string]any{"quiet": "22:00"}} {
		if r := e.do(t, "PATCH", "/api/v1/nudge-policy", body, bearer(s)...); r.status != http.StatusBadRequest {
			t.Errorf("PATCH %v: %d %s", body, r.status, r.body)
		}
	}
	r = e.do(t, "GET", "/api/v1/nudge-policy", nil, bearer(s)...)
	r.json(t, &p)
	if p != want {
		t.Fatalf("rejected PATCHes changed the policy: %+v", p)
	}

	// Another creator has their own policy.
	other := e.register(t, uniqueEmail())
	e.do(t, "GET", "/api/v1/nudge-policy", nil, bearer(other)...).json(t, &p)
	if p.Timezone != "UTC" || p.CapDay != 2 {
		t.Fatalf("another creator's policy %+v", p)
	}
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
