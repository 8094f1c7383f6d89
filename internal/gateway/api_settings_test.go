package gateway_test

import (
	"net/http"
	"strings"
	"testing"
)

type policyJSON struct {
	Timezone   string `json:"timezone"`
	QuietStart string `json:"quiet_start"`
	QuietEnd   string `json:"quiet_end"`
	CapDay     int    `json:"cap_day"`
	CapWeek    int    `json:"cap_week"`
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
