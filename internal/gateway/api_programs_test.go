package gateway_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

type programIssue struct {
	Step     int    `json:"step"`
	StepID   string `json:"step_id"`
	Code     string `json:"code"`
	Severity string `json:"severity"`
	Message  string `json:"message"`
}

type programBody struct {
	ID     uuid.UUID `json:"id"`
	Status string    `json:"status"`
	Steps  []struct {
		ID      string  `json:"id"`
		Next    *string `json:"next"`
		Day     int     `json:"day"`
		OnReply string  `json:"on_reply"`
	} `json:"steps"`
	Layout map[string]struct{ X, Y float64 } `json:"layout"`
}

// TestProgramBuilderAPI: the builder's graph is refused with every issue on its step (422, on
// save and on validate without saving), a fixed graph is stored in run order with its layout,
// an edit without a layout keeps it, and a WhatsApp channel without a default template makes a
// late step's missing template a warning (not a refusal).
func TestProgramBuilderAPI(t *testing.T) {
	t.Parallel()
	e := newFullEnv(t)
	cr := e.c.Register(t)
	step := func(id, next string, day int, onReply string) map[string]any {
		return map[string]any{"id": id, "next": next, "day": day, "on_reply": onReply, "content": map[string]any{"kind": "text", "text": "Step " + id}}
	}
	layout := map[string]any{"welcome": map[string]any{"x": 10, "y": 20}, "check": map[string]any{"x": 10, "y": 180.5},
		"done": map[string]any{"x": 300, "y": 340}, "ghost": map[string]any{"x": 1, "y": 1}}
	broken := map[string]any{"name": "Kickoff", "keyword": "KICK", "layout": layout, "steps": []any{
		step("welcome", "check", 0, ""), step("check", "", 1, "goto:welcome"), step("done", "", 2, ""),
	}}
	issuesOf := func(raw []byte) []programIssue {
		var body struct {
			Error struct {
				Code    string         `json:"code"`
				Message string         `json:"message"`
				Issues  []programIssue `json:"issues"`
			} `json:"error"`
		}
		require.NoError(t, json.Unmarshal(raw, &body), string(raw))
		require.Equal(t, "invalid_program", body.Error.Code)
		require.NotEmpty(t, body.Error.Message)
		return body.Error.Issues
	}
	got := func(issues []programIssue) map[string]string {
		m := map[string]string{}
		for _, is := range issues {
			m[is.StepID] = is.Code
		}
		return m
	}
	for _, path := range []string{"/api/v1/programs/validate", "/api/v1/programs"} {
		st, _, raw := e.call(t, "POST", path, cr.AccessToken, broken)
		require.Equal(t, http.StatusUnprocessableEntity, st, "%s: %s", path, raw)
		require.Equal(t, map[string]string{"check": "branch_loop", "done": "unreachable"}, got(issuesOf(raw)), path)
	}
	st, _, raw := e.call(t, "GET", "/api/v1/programs", cr.AccessToken, nil)
	require.Equal(t, http.StatusOK, st)
	require.JSONEq(t, `{"programs": []}`, string(raw), "nothing was stored")

	// Fixed: check → done, the branch goes forward. Validate answers 200 with the run order.
	fixed := map[string]any{"name": "Kickoff", "keyword": "KICK", "layout": layout, "steps": []any{
		step("welcome", "check", 0, ""), step("done", "", 2, ""), step("check", "done", 1, "goto:done"),
	}}
	st, _, raw = e.call(t, "POST", "/api/v1/programs/validate", cr.AccessToken, fixed)
	require.Equal(t, http.StatusOK, st, string(raw))
	require.JSONEq(t, `{"valid": true, "issues": [], "steps": [
	  {"id": "welcome", "next": "check", "day": 0, "content": {"kind": "text", "text": "Step welcome"}},
	  {"id": "check", "next": "done", "day": 1, "on_reply": "goto:2", "content": {"kind": "text", "text": "Step check"}},
	  {"id": "done", "next": "", "day": 2, "content": {"kind": "text", "text": "Step done"}}]}`, string(raw))

	var p programBody
	st, _, raw = e.call(t, "POST", "/api/v1/programs", cr.AccessToken, fixed)
	require.Equal(t, http.StatusCreated, st, string(raw))
	require.NoError(t, json.Unmarshal(raw, &p))
	var get struct {
		Program programBody `json:"program"`
	}
	st, _, raw = e.call(t, "GET", "/api/v1/programs/"+p.ID.String(), cr.AccessToken, nil)
	require.Equal(t, http.StatusOK, st)
	require.NoError(t, json.Unmarshal(raw, &get))
	require.Len(t, get.Program.Steps, 3)
	require.Equal(t, "check", get.Program.Steps[1].ID)
	require.Equal(t, "goto:2", get.Program.Steps[1].OnReply)
	require.Equal(t, map[string]struct{ X, Y float64 }{"welcome": {10, 20}, "check": {10, 180.5}, "done": {300, 340}}, get.Program.Layout,
		"the layout is stored, without positions of steps that do not exist")

	// An edit without a layout keeps it; with one, replaces it. A bad coordinate is a 400.
	fixed["name"] = "Kickoff 2"
	delete(fixed, "layout")
	st, _, raw = e.call(t, "PATCH", "/api/v1/programs/"+p.ID.String(), cr.AccessToken, fixed)
	require.Equal(t, http.StatusOK, st, string(raw))
	require.NoError(t, json.Unmarshal(raw, &p))
	require.Len(t, p.Layout, 3)
	fixed["layout"] = map[string]any{"welcome": map[string]any{"x": 5, "y": 5}}
	st, _, raw = e.call(t, "PATCH", "/api/v1/programs/"+p.ID.String(), cr.AccessToken, fixed)
	require.Equal(t, http.StatusOK, st, string(raw))
	p = programBody{}
	require.NoError(t, json.Unmarshal(raw, &p))
	require.Equal(t, map[string]struct{ X, Y float64 }{"welcome": {5, 5}}, p.Layout)
	fixed["layout"] = map[string]any{"welcome": map[string]any{"x": 5e7, "y": 5}}
	st, code, _ := e.call(t, "PATCH", "/api/v1/programs/"+p.ID.String(), cr.AccessToken, fixed)
	require.Equal(t, http.StatusBadRequest, st)
	require.Equal(t, "invalid_program", code)

	// A plain list (no ids) still works as before, and gets ids.
	st, _, raw = e.call(t, "POST", "/api/v1/programs", cr.AccessToken, map[string]any{"name": "Plain", "steps": []any{
		map[string]any{"day": 0, "content": map[string]any{"kind": "text", "text": "a"}},
		map[string]any{"day": 1, "content": map[string]any{"kind": "text", "text": "b"}}}})
	require.Equal(t, http.StatusCreated, st, string(raw))
	var plain programBody
	require.NoError(t, json.Unmarshal(raw, &plain))
	require.Equal(t, "s1", plain.Steps[0].ID)
	require.Equal(t, "s2", *plain.Steps[0].Next)
	require.Empty(t, plain.Layout)

	// A WhatsApp channel without a default template: day 2 after day 0 may be outside the window.
	st, _, raw = e.call(t, "POST", "/api/v1/channels", cr.AccessToken, map[string]any{"type": "whatsapp", "phone_number_id": "PN-" + uuid.NewString()[:8],
		"access_token": "tok", "app_secret": fixtureAppSecret, "verify_token": "vt"})
	require.Equal(t, http.StatusCreated, st, string(raw))
	late := map[string]any{"name": "Late", "steps": []any{step("a", "b", 0, ""), step("b", "", 2, "")}}
	st, _, raw = e.call(t, "POST", "/api/v1/programs/validate", cr.AccessToken, late)
	require.Equal(t, http.StatusOK, st, string(raw))
	var v struct {
		Issues []programIssue `json:"issues"`
	}
	require.NoError(t, json.Unmarshal(raw, &v))
	require.Len(t, v.Issues, 1)
	require.Equal(t, programIssue{Step: 1, StepID: "b", Code: "missing_template", Severity: "warning", Message: v.Issues[0].Message}, v.Issues[0])
	late["steps"].([]any)[1].(map[string]any)["content"].(map[string]any)["template"] = map[string]any{"name": "checkin", "language": "en"}
	st, _, raw = e.call(t, "POST", "/api/v1/programs/validate", cr.AccessToken, late)
	require.Equal(t, http.StatusOK, st, string(raw))
	require.NoError(t, json.Unmarshal(raw, &v))
	require.Empty(t, v.Issues, "a step with its own template")
}
