package gateway_test

// The audit log (issue 11): every listed change through the HTTP API leaves exactly one entry
// naming who, what, the target and the address; failed changes leave none; workspaces never see
// each other's log; the CSV export; the route table declares an action for every change.

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/internal/testenv"
)

type auditEntry struct {
	ID         uuid.UUID      `json:"id"`
	At         time.Time      `json:"at"`
	ActorType  string         `json:"actor_type"`
	ActorID    *uuid.UUID     `json:"actor_id"`
	ActorLabel string         `json:"actor_label"`
	Action     string         `json:"action"`
	TargetType string         `json:"target_type"`
	TargetID   string         `json:"target_id"`
	IP         string         `json:"ip"`
	Details    map[string]any `json:"details"`
}

type auditPage struct {
	Entries    []auditEntry `json:"entries"`
	NextCursor *string      `json:"next_cursor"`
}

// auditList reads one page of the log with query q.
func (e *fullEnv) auditList(t *testing.T, token string, q url.Values) auditPage {
	t.Helper()
	st, _, raw := e.call(t, "GET", "/api/v1/audit?"+q.Encode(), token, nil)
	if st != http.StatusOK {
		t.Fatalf("GET /api/v1/audit?%s: %d %s", q.Encode(), st, raw)
	}
	return decode[auditPage](t, raw)
}

// auditOf lists the entries of action on target (id "" any).
func (e *fullEnv) auditOf(t *testing.T, token, action, targetID string) []auditEntry {
	t.Helper()
	q := url.Values{"action": {action}, "limit": {"200"}}
	if targetID != "" {
		q.Set("target_id", targetID)
	}
	return e.auditList(t, token, q).Entries
}

// TestAuditEveryChange performs each audited change through the HTTP API and finds exactly one
// new entry for it, with the actor, its label, the target and the client address.
func TestAuditEveryChange(t *testing.T) {
	t.Parallel()
	e := newFullEnvWith(t, fullOpts{limits: offPerIP, importPrivate: true})
	owner := e.c.Register(t)
	fx := e.fixtures(t, owner, true)
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, `<!doctype html><html><head><title>Breathing</title></head><body><p>Breathe in for four counts.</p></body></html>`)
	}))
	t.Cleanup(site.Close)
	tok := owner.AccessToken
	ownerID := uuid.MustParse(fx["member"])

	// People to change: one per member change.
	roleOf := e.join(t, tok, "agent", false)
	removed := e.join(t, tok, "viewer", false)
	heir := e.join(t, tok, "admin", false)
	keyTok := e.apiKey(t, tok, "editor")
	keyName := "key editor"

	post := func(path string, body any) string { // creates, answers the new id
		t.Helper()
		st, _, raw := e.call(t, "POST", path, tok, body)
		if st >= 300 {
			t.Fatalf("POST %s: %d %s", path, st, raw)
		}
		return decode[struct {
			ID string `json:"id"`
		}](t, raw).ID
	}
	campaign := func(name string) map[string]any {
		return map[string]any{"name": name, "audience": map[string]any{"all": true},
			"content": map[string]any{"kind": "text", "text": "Hi"}, "schedule": map[string]any{"kind": "once", "at": time.Now().Add(72 * time.Hour).Format(time.RFC3339)}}
	}
	program := func(name string) map[string]any {
		return map[string]any{"name": name, "steps": []any{map[string]any{"day": 2, "content": map[string]any{"kind": "text", "text": "Hello"}}}}
	}
	newEndUser := func() string {
		ws := e.c.StartWidget(t, owner.WidgetKey, "anon-"+uuid.NewString()[:8])
		return ws.EndUserID.String()
	}
	camp := post("/api/v1/campaigns", campaign("Audited"))
	prog := post("/api/v1/programs", program("Audited"))
	eu := newEndUser()
	enr := post("/api/v1/programs/"+prog+"/enrollments", map[string]any{"end_user_id": eu})
	conv := e.c.StartWidget(t, owner.WidgetKey, "anon-"+uuid.NewString()[:8]).ConversationID.String()
	doc := post("/api/v1/documents", map[string]any{"title": "To change", "content": "Some text to change."})
	inviteID := ""

	type step struct {
		action, method, path string
		body                 any
		token                string // "" the owner
		// target is the expected target id; "id" takes the id of the answer.
		target, targetType string
		status             int
	}
	steps := []step{
		{action: "auth.sign_in", method: "POST", path: "/api/v1/auth/login", body: map[string]any{"email": owner.Email, "password": "correct horse battery"},
			token: "-", target: ownerID.String(), targetType: "user", status: 200},
		{action: "auth.sign_in_failed", method: "POST", path: "/api/v1/auth/login", body: map[string]any{"email": owner.Email, "password": "wrong password!"},
			token: "-", target: ownerID.String(), targetType: "user", status: 401},
		{action: "member.role_changed", method: "PATCH", path: "/api/v1/members/" + roleOf.User.ID.String(), body: map[string]any{"role": "editor"},
			target: roleOf.User.ID.String(), targetType: "member", status: 200},
		{action: "member.removed", method: "DELETE", path: "/api/v1/members/" + removed.User.ID.String(),
			target: removed.User.ID.String(), targetType: "member", status: 204},
		{action: "invitation.created", method: "POST", path: "/api/v1/invitations", body: map[string]any{"email": "later@example.com", "role": "viewer"},
			target: "invitation", targetType: "invitation", status: 201},
		{action: "invitation.revoked", method: "DELETE", path: "/api/v1/invitations/{invitation}", target: "{invitation}", targetType: "invitation", status: 204},
		{action: "api_key.created", method: "POST", path: "/api/v1/api-keys", body: map[string]any{"name": "ci", "role": "viewer"}, target: "id", targetType: "api_key", status: 201},
		{action: "api_key.revoked", method: "DELETE", path: "/api/v1/api-keys/" + fx["api_key"], target: fx["api_key"], targetType: "api_key", status: 204},
		{action: "channel.added", method: "POST", path: "/api/v1/channels", body: map[string]any{"type": "whatsapp", "name": "Audited line",
			"phone_number_id": "PN-" + uuid.NewString()[:8], "access_token": "tok", "app_secret": "s", "verify_token": "vt"}, target: "id", targetType: "channel", status: 201},
		{action: "channel.updated", method: "PATCH", path: "/api/v1/channels/" + fx["telegram_channel"], body: map[string]any{"groups_enabled": true},
			target: fx["telegram_channel"], targetType: "channel", status: 200},
		{action: "channel.removed", method: "DELETE", path: "/api/v1/channels/" + fx["whatsapp_channel"], target: fx["whatsapp_channel"], targetType: "channel", status: 204},
		{action: "document.uploaded", method: "POST", path: "/api/v1/documents", body: map[string]any{"title": "By key", "content": "Uploaded with a key."},
			token: keyTok, target: "id", targetType: "document", status: 202},
		{action: "document.imported", method: "POST", path: "/api/v1/documents/import", body: map[string]any{"url": site.URL + "/breathing.html"},
			target: "id", targetType: "document", status: 202},
		{action: "document.replaced", method: "PUT", path: "/api/v1/documents/" + doc, body: map[string]any{"content": "New text."}, target: doc, targetType: "document", status: 202},
		{action: "document.reindexed", method: "POST", path: "/api/v1/documents/" + fx["document"] + "/reindex", target: fx["document"], targetType: "document", status: 202},
		{action: "document.reindexed_all", method: "POST", path: "/api/v1/documents/reindex", target: owner.ID.String(), targetType: "workspace", status: 202},
		{action: "document.deleted", method: "DELETE", path: "/api/v1/documents/" + doc, target: doc, targetType: "document", status: 202},
		{action: "campaign.created", method: "POST", path: "/api/v1/campaigns", body: campaign("New"), target: "id", targetType: "campaign", status: 201},
		{action: "campaign.updated", method: "PATCH", path: "/api/v1/campaigns/" + camp, body: campaign("Renamed"), target: camp, targetType: "campaign", status: 200},
		{action: "campaign.paused", method: "POST", path: "/api/v1/campaigns/" + camp + "/pause", target: camp, targetType: "campaign", status: 200},
		{action: "campaign.resumed", method: "POST", path: "/api/v1/campaigns/" + camp + "/resume", target: camp, targetType: "campaign", status: 200},
		{action: "campaign.cancelled", method: "POST", path: "/api/v1/campaigns/" + camp + "/cancel", target: camp, targetType: "campaign", status: 200},
		{action: "program.created", method: "POST", path: "/api/v1/programs", body: program("New"), target: "id", targetType: "program", status: 201},
		{action: "program.updated", method: "PATCH", path: "/api/v1/programs/" + prog, body: program("Renamed"), target: prog, targetType: "program", status: 200},
		{action: "enrollment.paused", method: "POST", path: "/api/v1/programs/" + prog + "/enrollments/" + enr + "/pause", target: enr, targetType: "enrollment", status: 200},
		{action: "enrollment.resumed", method: "POST", path: "/api/v1/programs/" + prog + "/enrollments/" + enr + "/resume", target: enr, targetType: "enrollment", status: 200},
		{action: "enrollment.cancelled", method: "POST", path: "/api/v1/programs/" + prog + "/enrollments/" + enr + "/cancel", target: enr, targetType: "enrollment", status: 200},
		{action: "program.enrolled", method: "POST", path: "/api/v1/programs/" + prog + "/enrollments", body: map[string]any{"end_user_id": newEndUser()},
			target: prog, targetType: "program", status: 201},
		{action: "program.paused", method: "POST", path: "/api/v1/programs/" + prog + "/pause", target: prog, targetType: "program", status: 200},
		{action: "program.resumed", method: "POST", path: "/api/v1/programs/" + prog + "/resume", target: prog, targetType: "program", status: 200},
		{action: "program.archived", method: "POST", path: "/api/v1/programs/" + prog + "/archive", target: prog, targetType: "program", status: 200},
		{action: "conversation.taken_over", method: "POST", path: "/api/v1/conversations/" + conv + "/takeover", target: conv, targetType: "conversation", status: 200},
		{action: "conversation.replied", method: "POST", path: "/api/v1/conversations/" + conv + "/messages", body: map[string]any{"text": "A human here."},
			target: conv, targetType: "conversation", status: 202},
		{action: "conversation.released", method: "POST", path: "/api/v1/conversations/" + conv + "/release", target: conv, targetType: "conversation", status: 200},
		{action: "memory.edited", method: "PUT", path: "/api/v1/end-users/" + eu + "/memory", body: map[string]any{"profile": map[string]any{"goals": []string{"run 5k"}}},
			target: eu, targetType: "end_user", status: 200},
		{action: "memory.erased", method: "DELETE", path: "/api/v1/end-users/" + eu + "/memory", target: eu, targetType: "end_user", status: 204},
		{action: "end_user.tags_changed", method: "PUT", path: "/api/v1/end-users/" + eu + "/tags", body: map[string]any{"tags": []string{"vip"}},
			target: eu, targetType: "end_user", status: 200},
		{action: "widget_settings.updated", method: "PATCH", path: "/api/v1/widget/settings", body: map[string]any{"name": "Renamed coach"},
			target: owner.ID.String(), targetType: "workspace", status: 200},
		{action: "nudge_policy.updated", method: "PATCH", path: "/api/v1/nudge-policy", body: map[string]any{"cap_day": 2},
			target: owner.ID.String(), targetType: "workspace", status: 200},
		{action: "end_user.exported", method: "GET", path: "/api/v1/end-users/" + eu + "/export", target: eu, targetType: "end_user", status: 200},
		{action: "workspace.exported", method: "GET", path: "/api/v1/export", target: owner.ID.String(), targetType: "workspace", status: 200},
		{action: "end_user.deleted", method: "DELETE", path: "/api/v1/end-users/" + eu, target: eu, targetType: "end_user", status: 204},
		{action: "auth.password_changed", method: "POST", path: "/api/v1/auth/password",
			body:   map[string]any{"current_password": "correct horse battery", "new_password": "correct horse battery 2"},
			target: ownerID.String(), targetType: "user", status: 204},
		{action: "ownership.transferred", method: "POST", path: "/api/v1/members/" + heir.User.ID.String() + "/transfer-ownership",
			target: heir.User.ID.String(), targetType: "member", status: 200},
	}
	for _, s := range steps {
		path := strings.ReplaceAll(s.path, "{invitation}", inviteID)
		target := strings.ReplaceAll(s.target, "{invitation}", inviteID)
		token := tok
		switch s.token {
		case "-":
			token = ""
		case "":
		default:
			token = s.token
		}
		before := 0
		if target != "id" && target != "invitation" {
			before = len(e.auditOf(t, tok, s.action, target))
		}
		st, code, raw := e.call(t, s.method, path, token, s.body)
		if st != s.status {
			t.Fatalf("%s %s: %d %s %s", s.method, path, st, code, raw)
		}
		switch target {
		case "id":
			target = decode[struct {
				ID string `json:"id"`
			}](t, raw).ID
		case "invitation":
			inviteID = decode[struct {
				Invitation struct {
					ID string `json:"id"`
				} `json:"invitation"`
			}](t, raw).Invitation.ID
			target = inviteID
		}
		got := e.auditOf(t, tok, s.action, target)
		if s.action == "auth.sign_in_failed" { // recorded after the answer
			testenv.Eventually(t, 10*time.Second, func() bool {
				got = e.auditOf(t, tok, s.action, target)
				return len(got) > before
			}, "the failed sign-in's entry")
		}
		if len(got) != before+1 {
			t.Fatalf("%s: %d entries on %s after the change, want %d: %+v", s.action, len(got), target, before+1, got)
		}
		x := got[0] // newest first
		wantActor, wantLabel, wantType := ownerID.String(), owner.Email, "user"
		if token == keyTok {
			wantType, wantLabel = "api_key", keyName
			wantActor = "" // the key's id: not known to the test, checked non-nil
		}
		if s.action == "auth.sign_in_failed" {
			wantType = "anonymous"
		}
		if x.ActorType != wantType || x.ActorID == nil || (wantActor != "" && x.ActorID.String() != wantActor) ||
			!strings.EqualFold(x.ActorLabel, wantLabel) || x.TargetType != s.targetType || x.TargetID != target || x.IP != "127.0.0.1" {
			t.Errorf("%s: entry %+v, want actor %s %s (%s), target %s %s, ip 127.0.0.1", s.action, x, wantType, wantActor, wantLabel, s.targetType, target)
		}
		if time.Since(x.At) > time.Hour || x.At.After(time.Now().Add(time.Minute)) {
			t.Errorf("%s: at %v", s.action, x.At)
		}
	}
	// Details say what changed, never a secret.
	rc := e.auditOf(t, tok, "member.role_changed", roleOf.User.ID.String())[0]
	if fmt.Sprint(rc.Details["from"]) != "map[can_read_messages:false role:agent]" || fmt.Sprint(rc.Details["to"]) != "map[can_read_messages:false role:editor]" {
		t.Errorf("role change details %v", rc.Details)
	}
	// Removals still name what they removed.
	if rm := e.auditOf(t, tok, "member.removed", removed.User.ID.String()); len(rm) != 1 || rm[0].Details["email"] != removed.User.Email {
		t.Errorf("member.removed details: %+v", rm)
	}
	if del := e.auditOf(t, tok, "document.deleted", doc); len(del) != 1 || del[0].Details["title"] != "To change" {
		t.Errorf("document.deleted details: %+v", del)
	}
	if ch := e.auditOf(t, tok, "channel.removed", fx["whatsapp_channel"]); len(ch) != 1 || ch[0].Details["name"] == nil {
		t.Errorf("channel.removed details: %+v", ch)
	}
	// Sign-up and joining by invitation are on record too (the fixtures did both).
	if ws := e.auditOf(t, tok, "workspace.created", owner.ID.String()); len(ws) != 1 || ws[0].ActorLabel != owner.Email {
		t.Errorf("workspace.created: %+v", ws)
	}
	if j := e.auditOf(t, tok, "invitation.accepted", ""); len(j) != 3 || j[0].ActorID == nil || *j[0].ActorID != heir.User.ID {
		t.Errorf("invitation.accepted: %+v", j)
	}

	// Changes that fail leave no entry: a refused role change of the owner (a conflict), an
	// unknown document, a key's refused team change, an invalid campaign.
	for _, f := range []struct {
		method, path, token string
		body                any
		action              string
	}{
		{"PATCH", "/api/v1/members/" + heir.User.ID.String(), heir.AccessToken, map[string]any{"role": "viewer"}, "member.role_changed"},
		{"DELETE", "/api/v1/documents/" + uuid.NewString(), heir.AccessToken, nil, "document.deleted"},
		{"POST", "/api/v1/campaigns", heir.AccessToken, map[string]any{"name": "x"}, "campaign.created"},
		{"POST", "/api/v1/invitations", keyTok, map[string]any{"email": "k@example.com", "role": "viewer"}, "invitation.created"},
	} {
		before := len(e.auditOf(t, heir.AccessToken, f.action, ""))
		if st, _, raw := e.call(t, f.method, f.path, f.token, f.body); st < 400 {
			t.Fatalf("%s %s should fail: %d %s", f.method, f.path, st, raw)
		}
		if after := len(e.auditOf(t, heir.AccessToken, f.action, "")); after != before {
			t.Errorf("a failed %s left an entry (%d → %d)", f.action, before, after)
		}
	}
}

// TestAuditFiltersPagingCSVAndIsolation: the filters, keyset paging, the CSV export, and that
// workspace B never sees A's log, whatever it sends.
func TestAuditFiltersPagingCSVAndIsolation(t *testing.T) {
	t.Parallel()
	e := newFullEnv(t)
	a, b := e.c.Register(t), e.c.Register(t)
	var docs []string
	for i := range 7 {
		docs = append(docs, e.upload(t, a.AccessToken, fmt.Sprintf("Doc %d", i)))
	}
	// A key whose name a spreadsheet would take for a formula.
	st, _, raw := e.call(t, "POST", "/api/v1/api-keys", a.AccessToken, map[string]any{"name": "=2+3", "role": "editor"})
	if st != http.StatusCreated {
		t.Fatalf("key: %d %s", st, raw)
	}
	agentKey := decode[struct {
		Key string `json:"key"`
	}](t, raw).Key
	keyDoc := e.upload(t, agentKey, "By key")
	bDoc := e.upload(t, b.AccessToken, "B's")

	// Prefix filter and paging: 8 uploads, pages of 3, newest first, no repeats.
	var seen []string
	q := url.Values{"action": {"document."}, "limit": {"3"}}
	for pages := 0; ; pages++ {
		p := e.auditList(t, a.AccessToken, q)
		for _, x := range p.Entries {
			seen = append(seen, x.TargetID)
		}
		if p.NextCursor == nil {
			break
		}
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		q.Set("cursor", *p.NextCursor)
	}
	want := append([]string{keyDoc}, reversed(docs)...)
	if strings.Join(seen, ",") != strings.Join(want, ",") {
		t.Fatalf("paged uploads %v, want %v", seen, want)
	}
	// Exact action, actor (id or label), target, time range.
	if n := len(e.auditList(t, a.AccessToken, url.Values{"action": {"document.uploaded"}, "target_type": {"document"}, "target_id": {docs[2]}}).Entries); n != 1 {
		t.Errorf("target filter: %d", n)
	}
	if p := e.auditList(t, a.AccessToken, url.Values{"actor": {a.Email}, "action": {"document.*"}}); len(p.Entries) != 7 {
		t.Errorf("actor by email: %d entries", len(p.Entries))
	}
	byKey := e.auditList(t, a.AccessToken, url.Values{"actor": {"=2+3"}})
	if len(byKey.Entries) != 1 || byKey.Entries[0].TargetID != keyDoc {
		t.Fatalf("actor by key name: %+v", byKey.Entries)
	}
	if p := e.auditList(t, a.AccessToken, url.Values{"actor": {byKey.Entries[0].ActorID.String()}}); len(p.Entries) != 1 {
		t.Errorf("actor by key id: %d", len(p.Entries))
	}
	if p := e.auditList(t, a.AccessToken, url.Values{"from": {time.Now().Add(time.Hour).Format(time.RFC3339)}}); len(p.Entries) != 0 {
		t.Errorf("from the future: %d", len(p.Entries))
	}
	if p := e.auditList(t, a.AccessToken, url.Values{"to": {"2000-01-01"}}); len(p.Entries) != 0 {
		t.Errorf("to 2000: %d", len(p.Entries))
	}
	for _, bad := range []string{"from=yesterday", "limit=0", "limit=201", "cursor=zz", "format=xml"} {
		if st, code, _ := e.call(t, "GET", "/api/v1/audit?"+bad, a.AccessToken, nil); st != http.StatusBadRequest {
			t.Errorf("?%s: %d %s", bad, st, code)
		}
	}

	// CSV: the whole filtered log, a header, formula-looking cells neutralised.
	st, raw = e.raw(t, "GET", "/api/v1/audit?format=csv&action=document.uploaded", a.AccessToken, "", nil)
	if st != http.StatusOK {
		t.Fatalf("csv: %d %s", st, raw)
	}
	rows, err := csv.NewReader(strings.NewReader(string(raw))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 9 || strings.Join(rows[0], ",") != "at,actor_type,actor_id,actor_label,action,target_type,target_id,ip,details,id" {
		t.Fatalf("csv rows %d: %v", len(rows), rows[:1])
	}
	if rows[1][6] != keyDoc || rows[1][3] != "'=2+3" || rows[1][1] != "api_key" || rows[1][4] != "document.uploaded" {
		t.Errorf("csv first row %v", rows[1])
	}
	for _, r := range rows[1:] {
		for _, cell := range r {
			if cell != "" && strings.ContainsRune("=+-@", rune(cell[0])) {
				t.Errorf("formula-looking cell %q", cell)
			}
		}
	}

	// Isolation: B sees its own entries only, with any filter, with A's ids, through any header.
	all := e.auditList(t, b.AccessToken, url.Values{"limit": {"200"}})
	if len(all.Entries) != 2 { // workspace.created, document.uploaded
		t.Fatalf("B's log: %+v", all.Entries)
	}
	for _, x := range all.Entries {
		if x.TargetID != bDoc && x.TargetID != b.ID.String() {
			t.Errorf("B sees %+v", x)
		}
	}
	for _, q := range []url.Values{{"target_id": {docs[0]}}, {"actor": {a.Email}}, {"actor": {a.ID.String()}}} {
		if p := e.auditList(t, b.AccessToken, q); len(p.Entries) != 0 {
			t.Errorf("B with %v sees %+v", q, p.Entries)
		}
	}
	// A forged workspace id in the query or a header changes nothing.
	st, raw = e.raw(t, "GET", "/api/v1/audit?creator_id="+a.ID.String(), b.AccessToken, "", nil)
	if st == http.StatusOK && len(decode[auditPage](t, raw).Entries) != 2 {
		t.Errorf("forged creator_id: %s", raw)
	}
	if st != http.StatusOK && st != http.StatusBadRequest {
		t.Errorf("forged creator_id: %d", st)
	}
	req, _ := http.NewRequestWithContext(context.Background(), "GET", e.ts.URL+"/api/v1/audit?target_id="+docs[0], nil)
	req.Header.Set("Authorization", "Bearer "+b.AccessToken)
	req.Header.Set("X-Creator-ID", a.ID.String())
	res, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	p := auditPage{}
	if err := json.NewDecoder(res.Body).Decode(&p); err != nil || len(p.Entries) != 0 {
		t.Errorf("forged header: %v %+v", err, p.Entries)
	}
}

// upload adds a text document (not indexed: this gateway has no ingest worker) and returns its id.
func (e *fullEnv) upload(t *testing.T, token, title string) string {
	t.Helper()
	st, _, raw := e.call(t, "POST", "/api/v1/documents", token, map[string]any{"title": title, "content": "Text of " + title + "."})
	if st != http.StatusAccepted {
		t.Fatalf("upload %s: %d %s", title, st, raw)
	}
	return decode[struct {
		ID string `json:"id"`
	}](t, raw).ID
}

func reversed(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[len(s)-1-i] = v
	}
	return out
}

// TestAuditFailedSignInEachWorkspace: a wrong password for a person's email is recorded in every
// workspace they belong to, an unknown email nowhere.
func TestAuditFailedSignInEachWorkspace(t *testing.T) {
	t.Parallel()
	e := newFullEnv(t)
	a, b, other := e.c.Register(t), e.c.Register(t), e.c.Register(t)
	tok, _ := e.invite(t, b.AccessToken, a.Email, "viewer", false)
	e.accept(t, tok, "correct horse battery") // a's person joins B too
	if st, _, raw := e.call(t, "POST", "/api/v1/auth/login", "", map[string]any{"email": strings.ToUpper(a.Email), "password": "wrong password!"}); st != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d %s", st, raw)
	}
	if st, _, raw := e.call(t, "POST", "/api/v1/auth/login", "", map[string]any{"email": "nobody-" + uuid.NewString()[:8] + "@example.com", "password": "wrong password!"}); st != http.StatusUnauthorized {
		t.Fatalf("unknown email: %d %s", st, raw)
	}
	for _, w := range []testenv.Creator{a, b} {
		var got []auditEntry
		testenv.Eventually(t, 10*time.Second, func() bool {
			got = e.auditOf(t, w.AccessToken, "auth.sign_in_failed", "")
			return len(got) > 0
		}, "the failed sign-in in %s", w.Email)
		if len(got) != 1 || got[0].ActorType != "anonymous" || !strings.EqualFold(got[0].ActorLabel, a.Email) || got[0].IP != "127.0.0.1" {
			t.Errorf("workspace of %s: %+v", w.Email, got)
		}
	}
	// The unknown email was recorded nowhere: not in a workspace the person has nothing to do with.
	if got := e.auditOf(t, other.AccessToken, "auth.", ""); len(got) != 0 {
		t.Errorf("another workspace: %+v", got)
	}
}

// TestAuditRefusedPasswordChange: a password change refused for a wrong current password
// changes nothing and leaves no auth.password_changed entry; the change that succeeds leaves one.
func TestAuditRefusedPasswordChange(t *testing.T) {
	t.Parallel()
	e := newFullEnv(t)
	a := e.c.Register(t)
	st, _, raw := e.call(t, "POST", "/api/v1/auth/password", a.AccessToken,
		map[string]any{"current_password": "wrong password!", "new_password": "a new long password"})
	if st != http.StatusForbidden {
		t.Fatalf("wrong current password: %d %s", st, raw)
	}
	if got := e.auditOf(t, a.AccessToken, "auth.password_changed", ""); len(got) != 0 {
		t.Fatalf("a refused password change is on record as a change: %+v", got)
	}
	st, _, raw = e.call(t, "POST", "/api/v1/auth/password", a.AccessToken,
		map[string]any{"current_password": "correct horse battery", "new_password": "a new long password"})
	if st != http.StatusNoContent {
		t.Fatalf("password change: %d %s", st, raw)
	}
	if got := e.auditOf(t, a.AccessToken, "auth.password_changed", ""); len(got) != 1 || got[0].TargetType != "user" || got[0].TargetID == "" {
		t.Fatalf("the password change: %+v", got)
	}
}
