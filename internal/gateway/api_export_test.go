package gateway_test

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/internal/gateway"
	"github.com/coachwire/coachwire/internal/testenv"
)

// TestWorkspaceExport: an owner (or an admin, or an admin API key) downloads the workspace as a
// ZIP holding its settings, documents' metadata, end users, conversations with their messages,
// campaigns and programs; nothing of another workspace and no secret is in it; the other roles
// are refused.
func TestWorkspaceExport(t *testing.T) {
	t.Parallel()
	// Pages of one row: every table and every conversation's messages cross page boundaries.
	t.Cleanup(gateway.SetExportPage(1))
	e := newFullEnv(t)
	ownerA, ownerB := e.c.Register(t), e.c.Register(t)
	fa, fb := e.fixtures(t, ownerA, false), e.fixtures(t, ownerB, false)
	// A second document and end user in A, so the pages have a next page to find.
	if st, _, raw := e.call(t, "POST", "/api/v1/documents", ownerA.AccessToken, map[string]any{"title": "Second", "content": "More knowledge."}); st >= 300 {
		t.Fatalf("second document: %d %s", st, raw)
	}
	e.c.StartWidget(t, ownerA.WidgetKey, "anon-"+uuid.NewString()[:8])
	reply := func(cr testenv.Creator, fx fixtures, text string) {
		t.Helper()
		if st, _, raw := e.call(t, "POST", "/api/v1/conversations/"+fx["conversation"]+"/messages", cr.AccessToken, map[string]any{"text": text}); st >= 300 {
			t.Fatalf("reply: %d %s", st, raw)
		}
	}
	reply(ownerA, fa, "A's coach writes: drink water")
	reply(ownerA, fa, "A's coach again")
	reply(ownerB, fb, "B's private words")

	export := func(token string) (int, string, http.Header, []byte) {
		t.Helper()
		req, err := http.NewRequest("GET", e.ts.URL+"/api/v1/export", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := e.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		raw, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		return res.StatusCode, errCode(raw), res.Header, raw
	}
	st, code, h, raw := export(ownerA.AccessToken)
	if st != http.StatusOK || h.Get("Content-Type") != "application/zip" || !strings.HasPrefix(h.Get("Content-Disposition"), `attachment; filename="coachwire-export-`) {
		t.Fatalf("export: %d %s %v", st, code, h)
	}
	zr, err := zip.NewReader(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatalf("not a ZIP: %v", err)
	}
	files := map[string]string{}
	var names []string
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		files[f.Name] = string(b)
		names = append(names, f.Name)
	}
	want := "workspace.json,documents.ndjson,end_users.ndjson,conversations.ndjson,campaigns.ndjson,programs.ndjson,messages.ndjson,manifest.json"
	if strings.Join(names, ",") != want {
		t.Fatalf("files %v, want %s", names, want)
	}
	lines := func(name string) []map[string]any {
		t.Helper()
		var out []map[string]any
		sc := bufio.NewScanner(strings.NewReader(files[name]))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var v map[string]any
			if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
				t.Fatalf("%s: a line is not JSON: %v: %s", name, err, sc.Text())
			}
			out = append(out, v)
		}
		return out
	}
	ids := func(name string) []string {
		var out []string
		for _, v := range lines(name) {
			out = append(out, v["id"].(string))
		}
		return out
	}
	for name, id := range map[string]string{"campaigns.ndjson": fa["campaign"], "programs.ndjson": fa["program"]} {
		if got := ids(name); len(got) != 1 || got[0] != id {
			t.Errorf("%s: ids %v, want [%s]", name, got, id)
		}
	}
	// Two of each, in id order, the fixture's among them.
	for name, id := range map[string]string{"documents.ndjson": fa["document"], "end_users.ndjson": fa["end_user"], "conversations.ndjson": fa["conversation"]} {
		if got := ids(name); len(got) != 2 || got[0] >= got[1] || (got[0] != id && got[1] != id) {
			t.Errorf("%s: ids %v, want two with %s", name, got, id)
		}
	}
	msgs := lines("messages.ndjson")
	var texts []string
	for _, m := range msgs {
		if m["conversation_id"] != fa["conversation"] {
			t.Errorf("message of another conversation: %v", m)
		}
		texts = append(texts, m["text"].(string))
	}
	if strings.Join(texts, "|") != "A's coach writes: drink water|A's coach again" {
		t.Errorf("messages %q", texts)
	}
	var ws struct {
		Workspace  struct{ ID string }
		SendPolicy struct {
			Timezone string `json:"timezone"`
		} `json:"send_policy"`
		Channels []struct{ ID string }
		Members  []struct {
			Role string
		}
		APIKeys []struct{ Prefix string } `json:"api_keys"`
	}
	if err := json.Unmarshal([]byte(files["workspace.json"]), &ws); err != nil {
		t.Fatal(err)
	}
	if ws.Workspace.ID != ownerA.ID.String() || ws.SendPolicy.Timezone == "" || len(ws.Channels) != 1 ||
		ws.Channels[0].ID != fa["channel"] || len(ws.Members) != 1 || ws.Members[0].Role != "owner" || len(ws.APIKeys) != 1 || ws.APIKeys[0].Prefix == "" {
		t.Errorf("workspace.json: %s", files["workspace.json"])
	}
	var manifest struct {
		Format      string `json:"format"`
		WorkspaceID string `json:"workspace_id"`
		Files       []struct {
			Name string
			Rows int
		}
	}
	if err := json.Unmarshal([]byte(files["manifest.json"]), &manifest); err != nil {
		t.Fatal(err)
	}
	if manifest.Format != "coachwire-workspace-export/1" || manifest.WorkspaceID != ws.Workspace.ID || len(manifest.Files) != 7 {
		t.Errorf("manifest: %s", files["manifest.json"])
	}
	for _, f := range manifest.Files {
		if f.Name == "messages.ndjson" && f.Rows != 2 {
			t.Errorf("manifest counts %d messages", f.Rows)
		}
	}
	// Nothing of B, and no secret.
	all := strings.Join(func() []string {
		var v []string
		for _, s := range files {
			v = append(v, s)
		}
		return v
	}(), "\n")
	for k, v := range fb {
		if k != "token" && strings.Contains(all, v) {
			t.Errorf("B's %s %s is in A's export", k, v)
		}
	}
	for _, secret := range []string{"B's private words", fixtureAppSecret, "password", "token_hash", "widget_secret", "identity_secret", ownerB.Email, ownerB.ID.String(), ownerB.WidgetKey} {
		if strings.Contains(all, secret) {
			i := strings.Index(all, secret)
			t.Errorf("the export holds %q: …%s…", secret, all[max(0, i-200):min(len(all), i+100)])
		}
	}

	// Admins (people and keys) may export; the other roles may not.
	admin := e.join(t, ownerA.AccessToken, "admin", false)
	if st, code, _, _ := export(admin.AccessToken); st != http.StatusOK {
		t.Fatalf("admin export: %d %s", st, code)
	}
	if st, code, _, _ := export(e.apiKey(t, ownerA.AccessToken, "admin")); st != http.StatusOK {
		t.Fatalf("admin key export: %d %s", st, code)
	}
	for _, role := range []string{"editor", "agent", "viewer"} {
		m := e.join(t, ownerA.AccessToken, role, true)
		if st, code, _, _ := export(m.AccessToken); st != http.StatusForbidden || code != "forbidden" {
			t.Errorf("%s export: %d %s", role, st, code)
		}
	}
	if st, code, _, _ := export(e.apiKey(t, ownerA.AccessToken, "editor")); st != http.StatusForbidden || code != "forbidden" {
		t.Errorf("editor key export: %d %s", st, code)
	}
}
