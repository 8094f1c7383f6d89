package gateway_test

// TestEveryOperationRefusesBadInput (issue 9): every operation of openapi.yaml, driven as an
// authenticated creator with generated bad input, answers a 4xx JSON error that the document
// declares for that operation: never a 5xx, never a panic, never a log line at ERROR.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/google/uuid"

	"github.com/coachwire/coachwire/internal/channels/telegramtest"
	"github.com/coachwire/coachwire/internal/channels/whatsapptest"
	"github.com/coachwire/coachwire/internal/testenv"
)

// loadSpec loads and validates openapi.yaml with a real OpenAPI library.
func loadSpec(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromFile("openapi.yaml")
	if err != nil {
		t.Fatalf("load openapi.yaml: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.yaml is not a valid OpenAPI document: %v", err)
	}
	return doc
}

// fixtures are one creator's resources, by kind.
type fixtures map[string]string

const fixtureAppSecret = "fixture-app-secret"

func (e *fullEnv) fixtures(t *testing.T, cr testenv.Creator, telegram bool) fixtures {
	t.Helper()
	fx := fixtures{"token": cr.AccessToken, "link_channel": "telegram"}
	post := func(path string, body any, key string) {
		t.Helper()
		var out struct {
			ID uuid.UUID `json:"id"`
		}
		st, raw, err := e.c.Do(context.Background(), "POST", path, cr.AccessToken, body, &out)
		if err != nil || st >= 300 || out.ID == uuid.Nil {
			t.Fatalf("fixture %s: %d %v %s", key, st, err, raw)
		}
		fx[key] = out.ID.String()
	}
	ws := e.c.StartWidget(t, cr.WidgetKey, "anon-"+uuid.NewString()[:8])
	fx["conversation"], fx["end_user"] = ws.ConversationID.String(), ws.EndUserID.String()
	post("/api/v1/documents", map[string]any{"title": "Fixture", "content": "Some knowledge."}, "document")
	post("/api/v1/channels", map[string]any{"type": "whatsapp", "phone_number_id": "PN-" + uuid.NewString()[:8], "access_token": "tok",
		"app_secret": fixtureAppSecret, "verify_token": "vt"}, "channel")
	fx["whatsapp_channel"] = fx["channel"]
	if telegram {
		post("/api/v1/channels", map[string]any{"type": "telegram", "bot_token": telegramtest.DefaultToken}, "telegram_channel")
	}
	post("/api/v1/campaigns", map[string]any{"name": "Fixture", "audience": map[string]any{"all": true},
		"content": map[string]any{"kind": "text", "text": "Hi"}, "schedule": map[string]any{"kind": "once", "at": time.Now().Add(48 * time.Hour).Format(time.RFC3339)}}, "campaign")
	post("/api/v1/programs", map[string]any{"name": "Fixture", "steps": []any{map[string]any{"day": 3, "content": map[string]any{"kind": "text", "text": "Hi"}}}}, "program")
	post("/api/v1/programs/"+fx["program"]+"/enrollments", map[string]any{"end_user_id": fx["end_user"]}, "enrollment")
	post("/api/v1/api-keys", map[string]any{"name": "Fixture", "role": "viewer"}, "api_key")
	var inv struct {
		Invitation struct {
			ID uuid.UUID `json:"id"`
		} `json:"invitation"`
	}
	st, raw, err := e.c.Do(context.Background(), "POST", "/api/v1/invitations", cr.AccessToken,
		map[string]any{"email": "invited-" + uuid.NewString()[:8] + "@example.com", "role": "agent"}, &inv)
	if err != nil || st != http.StatusCreated {
		t.Fatalf("fixture invitation: %d %v %s", st, err, raw)
	}
	fx["invitation"] = inv.Invitation.ID.String()
	var me struct {
		User struct {
			ID uuid.UUID `json:"id"`
		} `json:"user"`
	}
	if st, raw, err := e.c.Do(context.Background(), "GET", "/api/v1/auth/me", cr.AccessToken, nil, &me); err != nil || st != http.StatusOK {
		t.Fatalf("fixture member: %d %v %s", st, err, raw)
	}
	fx["member"] = me.User.ID.String()
	var ss struct {
		Sessions []struct {
			ID      uuid.UUID `json:"id"`
			Current bool      `json:"current"`
		} `json:"sessions"`
	}
	if st, raw, err := e.c.Do(context.Background(), "GET", "/api/v1/auth/sessions", cr.AccessToken, nil, &ss); err != nil || st != http.StatusOK || len(ss.Sessions) == 0 {
		t.Fatalf("fixture session: %d %v %s", st, err, raw)
	}
	fx["session"] = ss.Sessions[0].ID.String()
	return fx
}

// kindOf is the fixture a path parameter names.
func kindOf(path, param string) string {
	switch {
	case param == "enrollment":
		return "enrollment"
	case strings.HasPrefix(path, "/webhooks/whatsapp/"):
		return "whatsapp_channel"
	case strings.HasPrefix(path, "/webhooks/telegram/"):
		return "telegram_channel"
	case strings.HasPrefix(path, "/api/v1/app/link/"):
		return "link_channel"
	}
	for prefix, kind := range map[string]string{"/api/v1/documents/": "document", "/api/v1/channels/": "channel",
		"/api/v1/conversations/": "conversation", "/api/v1/campaigns/": "campaign", "/api/v1/programs/": "program",
		"/api/v1/end-users/": "end_user", "/api/v1/members/": "member", "/api/v1/invitations/": "invitation", "/api/v1/api-keys/": "api_key",
		"/api/v1/auth/sessions/": "session"} {
		if strings.HasPrefix(path, prefix) {
			return kind
		}
	}
	return ""
}

// badCase is one request.
type badCase struct {
	name        string
	path        string // with path parameters filled in and the query
	contentType string
	body        []byte
	header      map[string]string
}

// opCases generates the bad requests of one operation.
func opCases(t *testing.T, path, method string, op *openapi3.Operation, own, foreign fixtures) []badCase {
	params := append(openapi3.Parameters{}, op.Parameters...)
	fill := func(override map[string]string) string {
		return regexp.MustCompile(`\{([a-z_]+)\}`).ReplaceAllStringFunc(path, func(m string) string {
			name := m[1 : len(m)-1]
			if v, ok := override[name]; ok {
				return v
			}
			return own[kindOf(path, name)]
		})
	}
	var body []byte
	var jsonSchema *openapi3.Schema
	multipartBody := false
	if op.RequestBody != nil && op.RequestBody.Value != nil {
		if mt := op.RequestBody.Value.Content.Get("application/json"); mt != nil && mt.Schema != nil {
			jsonSchema = mt.Schema.Value
			base := sample(jsonSchema, own, 0, "")
			body, _ = json.Marshal(base)
		}
		multipartBody = op.RequestBody.Value.Content.Get("multipart/form-data") != nil
	}
	withBody := func(c badCase) badCase {
		if c.body == nil && body != nil {
			c.body, c.contentType = body, "application/json"
		}
		return c
	}
	var cases []badCase

	// Path parameters: malformed, unknown, another creator's.
	for _, name := range regexp.MustCompile(`\{([a-z_]+)\}`).FindAllStringSubmatch(path, -1) {
		p := name[1]
		vals := map[string]string{"malformed": "not-a-uuid", "nul": "%00", "huge": strings.Repeat("a", 3000),
			"unknown": uuid.NewString(), "sql": "1%27%20OR%20%271%27%3D%271"}
		if f := foreign[kindOf(path, p)]; f != "" {
			vals["foreign"] = f
		}
		for what, v := range vals {
			cases = append(cases, withBody(badCase{name: "path " + p + " " + what, path: fill(map[string]string{p: v})}))
		}
	}
	// Query parameters: each declared one with bad values, and an undeclared one with a NUL.
	cases = append(cases, withBody(badCase{name: "query undeclared NUL", path: fill(nil) + "?zz_unknown=%00"}))
	cases = append(cases, withBody(badCase{name: "query malformed", path: fill(nil) + "?a=%zz"}))
	for _, pr := range params {
		p := pr.Value
		if p == nil || p.In != "query" {
			continue
		}
		vals := []string{"%00", "%1B", "%FF", strings.Repeat("a", 3000)}
		if s := p.Schema.Value; s != nil {
			switch {
			case s.Type.Is("integer"):
				vals = append(vals, "abc", "1.5", "99999999999999999999", "-99999999999999999999")
				if s.Min != nil && *s.Min >= 0 {
					vals = append(vals, "-1")
				}
				if s.Max != nil && *s.Max < 1e15 {
					vals = append(vals, strconv.FormatInt(int64(*s.Max)+1, 10))
				}
			case s.Format == "uuid":
				vals = append(vals, "not-a-uuid")
			case s.Format == "date-time":
				vals = append(vals, "yesterday")
			case len(s.Enum) > 0:
				vals = append(vals, "zzz")
			case s.MaxLength != nil:
				vals = append(vals, strings.Repeat("a", int(*s.MaxLength)+1))
			}
		}
		for _, v := range vals {
			cases = append(cases, withBody(badCase{name: "query " + p.Name + "=" + trunc(v), path: fill(nil) + "?" + p.Name + "=" + v}))
		}
	}
	// Header parameters (the widget socket's token).
	for _, pr := range params {
		if p := pr.Value; p != nil && p.In == "header" {
			cases = append(cases, badCase{name: "header " + p.Name, path: fill(nil), header: map[string]string{p.Name: "bearer.garbage"}})
		}
	}
	// JSON bodies: framing, content type, then every field with bad values.
	if jsonSchema != nil {
		p := fill(nil)
		raw := func(name, ct string, b []byte) {
			cases = append(cases, badCase{name: name, path: p, contentType: ct, body: b})
		}
		raw("body none", "application/json", nil)
		raw("body empty", "application/json", []byte{})
		raw("body garbage", "application/json", []byte(`{"`))
		raw("body not json", "application/json", []byte("hello"))
		raw("body array", "application/json", []byte("[]"))
		raw("body null", "application/json", []byte("null"))
		raw("body string", "application/json", []byte(`"x"`))
		raw("body two objects", "application/json", append(append([]byte{}, body...), body...))
		raw("body text/plain", "text/plain", body)
		raw("body form", "application/x-www-form-urlencoded", []byte("a=b"))
		raw("body no content type", "", body)
		raw("body NUL byte", "application/json", []byte("{\"a\x00\":1}"))
		if len(jsonSchema.Required) > 0 {
			raw("body missing fields", "application/json", []byte("{}"))
		}
		raw("body extra field", "application/json", setAt(body, []any{"zz_extra"}, json.RawMessage(`1`)))
		raw("body invalid UTF-8", "application/json", invalidUTF8(body))
		walkSchema(jsonSchema, nil, 0, func(at []any, s *openapi3.Schema) {
			for vname, v := range leafVariants(s) {
				raw("field "+pathString(at)+" "+vname, "application/json", setAt(body, at, v))
			}
			if name, ok := at[len(at)-1].(string); ok && s.Format == "uuid" {
				// Another creator's id in a body is as unknown as a random one.
				for what, id := range map[string]string{"foreign": foreign[uuidKind(name)], "unknown": uuid.NewString()} {
					v, _ := json.Marshal(id)
					raw("field "+pathString(at)+" "+what+" id", "application/json", setAt(body, at, v))
				}
			}
		})
	}
	if multipartBody {
		p := fill(nil)
		form := func(name string, parts map[string]string, file []byte) {
			var b bytes.Buffer
			mw := multipart.NewWriter(&b)
			for k, v := range parts {
				_ = mw.WriteField(k, v)
			}
			if file != nil {
				fw, _ := mw.CreateFormFile("file", "notes.txt")
				_, _ = fw.Write(file)
			}
			_ = mw.Close()
			cases = append(cases, badCase{name: "multipart " + name, path: p, contentType: mw.FormDataContentType(), body: b.Bytes()})
		}
		text := []byte("Some plain text notes.\n" + uuid.NewString())
		form("title NUL", map[string]string{"title": "a\x00b"}, text)
		form("title control", map[string]string{"title": "a\x1bb"}, text)
		form("title invalid UTF-8", map[string]string{"title": "caf\xe9"}, text)
		form("title huge", map[string]string{"title": strings.Repeat("t", 301)}, text)
		form("chunk_tokens word", map[string]string{"chunk_tokens": "abc"}, text)
		form("chunk_tokens negative", map[string]string{"chunk_tokens": "-1"}, text)
		form("chunk_tokens huge", map[string]string{"chunk_tokens": "99999999999999999999"}, text)
		form("chunk_overlap negative", map[string]string{"chunk_tokens": "100", "chunk_overlap": "-5"}, text)
		form("no file", map[string]string{"title": "x"}, nil)
		form("empty file", nil, []byte{})
		form("binary file", nil, []byte("\x00\x01\x02\x03binary\x00\xff\xfe"))
		cases = append(cases, badCase{name: "multipart broken", path: p, contentType: "multipart/form-data; boundary=xyz", body: []byte("--abc\r\ngarbage")},
			badCase{name: "multipart no boundary", path: p, contentType: "multipart/form-data", body: []byte("x")})
	}
	// Webhooks: signed with the channel's app secret, but not a webhook payload.
	if strings.HasPrefix(path, "/webhooks/whatsapp/") && method == "POST" {
		for name, b := range map[string][]byte{"garbage": []byte(`{"`), "array": []byte(`[1]`), "not UTF-8": []byte("\xff\xfe")} {
			_, sig := whatsapptest.SignedRequest(fixtureAppSecret, b)
			cases = append(cases, badCase{name: "signed " + name, path: fill(nil), contentType: "application/json", body: b,
				header: map[string]string{"X-Hub-Signature-256": sig}})
		}
		cases = append(cases, badCase{name: "bad signature", path: fill(nil), contentType: "application/json", body: []byte(`{}`),
			header: map[string]string{"X-Hub-Signature-256": "sha256=00"}})
	}
	if strings.HasPrefix(path, "/webhooks/telegram/") {
		cases = append(cases, badCase{name: "wrong secret", path: fill(nil), contentType: "application/json", body: []byte(`{}`),
			header: map[string]string{"X-Telegram-Bot-Api-Secret-Token": "wrong"}})
	}
	return cases
}

func trunc(s string) string {
	if len(s) > 24 {
		return s[:24] + "…"
	}
	return s
}

// sample builds a plausible value for a schema (its first example when it has one).
func sample(s *openapi3.Schema, fx fixtures, depth int, name string) any {
	if s == nil || depth > 10 {
		return nil
	}
	if len(s.Examples) > 0 {
		return roundTrip(s.Examples[0])
	}
	if s.Example != nil {
		return roundTrip(s.Example)
	}
	if s.Const != nil {
		return s.Const
	}
	if len(s.Enum) > 0 {
		return s.Enum[0]
	}
	switch {
	case s.Type.Is("object") || (s.Type == nil && len(s.Properties) > 0):
		m := map[string]any{}
		for name, p := range s.Properties {
			if p.Value != nil && !p.Value.ReadOnly {
				m[name] = sample(p.Value, fx, depth+1, name)
			}
		}
		return m
	case s.Type.Is("array"):
		var item any
		if s.Items != nil {
			item = sample(s.Items.Value, fx, depth+1, name)
		}
		out := []any{}
		for range max(1, int(s.MinItems)) {
			out = append(out, item)
		}
		return out
	case s.Type.Is("string"):
		switch s.Format {
		case "uuid":
			return fx[uuidKind(name)]
		case "date-time":
			return time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)
		case "uri":
			return "http://127.0.0.1:9/page"
		case "email":
			return "s-" + uuid.NewString()[:8] + "@example.com"
		}
		if strings.Contains(s.Pattern, "[0-5][0-9]") {
			return "09:00"
		}
		return strings.Repeat("x", max(1, int(s.MinLength)))
	case s.Type.Is("integer") || s.Type.Is("number"):
		if s.Min != nil {
			return *s.Min
		}
		return 1
	case s.Type.Is("boolean"):
		return false
	}
	return "x"
}

func roundTrip(v any) any {
	b, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

// walkSchema calls fn for every property (at any depth, arrays through their first item).
func walkSchema(s *openapi3.Schema, at []any, depth int, fn func([]any, *openapi3.Schema)) {
	if s == nil || depth > 8 {
		return
	}
	if len(at) > 0 {
		fn(at, s)
	}
	names := make([]string, 0, len(s.Properties))
	for name := range s.Properties {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if p := s.Properties[name].Value; p != nil && !p.ReadOnly {
			walkSchema(p, append(slices.Clone(at), name), depth+1, fn)
		}
	}
	if s.Type.Is("array") && s.Items != nil {
		walkSchema(s.Items.Value, append(slices.Clone(at), 0), depth+1, fn)
	}
}

// leafVariants are bad values for a property of schema s.
func leafVariants(s *openapi3.Schema) map[string]json.RawMessage {
	enc := func(v any) json.RawMessage { b, _ := json.Marshal(v); return b }
	out := map[string]json.RawMessage{}
	switch {
	case s.Type.Is("string"):
		out["NUL"] = enc("a\x00b")
		out["control"] = enc("a\x1b[2Jb")
		out["C1 control"] = enc("a\u0085b")
		out["number"] = enc(12345)
		out["object"] = enc(map[string]any{})
		n := 200_000
		if s.MaxLength != nil {
			n = int(*s.MaxLength) + 1
		}
		out["huge"] = enc(strings.Repeat("a", n))
		if s.Format == "uuid" {
			out["malformed uuid"] = enc("not-a-uuid")
		}
		if s.Format == "date-time" {
			out["bad time"] = enc("yesterday")
		}
		if len(s.Enum) > 0 {
			out["not in enum"] = enc("zzz")
		}
	case s.Type.Is("integer") || s.Type.Is("number"):
		out["string"] = enc("12")
		out["huge"] = json.RawMessage("99999999999999999999")
		out["negative huge"] = json.RawMessage("-99999999999999999999")
		out["overflow"] = json.RawMessage("1e400")
		if s.Type.Is("integer") {
			out["fraction"] = json.RawMessage("1.5")
		}
		if s.Min != nil && *s.Min >= 0 {
			out["negative"] = json.RawMessage(strconv.FormatFloat(*s.Min-1, 'f', -1, 64))
		}
		if s.Max != nil {
			out["over maximum"] = json.RawMessage(strconv.FormatFloat(*s.Max+1, 'f', -1, 64))
		}
	case s.Type.Is("boolean"):
		out["string"] = enc("yes")
		out["number"] = enc(1)
	case s.Type.Is("array"):
		out["object"] = enc(map[string]any{})
		out["string"] = enc("x")
		if s.MaxItems != nil && s.Items != nil && s.Items.Value != nil && s.Items.Value.Type.Is("string") {
			many := make([]string, *s.MaxItems+1)
			for i := range many {
				many[i] = "v" + strconv.Itoa(i)
			}
			out["too many"] = enc(many)
		}
	case s.Type.Is("object"):
		out["array"] = enc([]any{})
		out["string"] = enc("x")
	}
	return out
}

func pathString(at []any) string {
	var b strings.Builder
	for i, p := range at {
		switch v := p.(type) {
		case string:
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(v)
		case int:
			fmt.Fprintf(&b, "[%d]", v)
		}
	}
	return b.String()
}

// setAt returns the JSON document body with the value at path replaced by v.
func setAt(body []byte, at []any, v json.RawMessage) []byte {
	var doc any
	if err := json.Unmarshal(body, &doc); err != nil {
		doc = map[string]any{}
	}
	var set func(cur any, at []any) any
	set = func(cur any, at []any) any {
		if len(at) == 0 {
			return v
		}
		switch k := at[0].(type) {
		case string:
			m, ok := cur.(map[string]any)
			if !ok {
				m = map[string]any{}
			}
			m[k] = set(m[k], at[1:])
			return m
		case int:
			l, ok := cur.([]any)
			if !ok || len(l) <= k {
				l = append(l, make([]any, k+1-len(l))...)
			}
			l[k] = set(l[k], at[1:])
			return l
		}
		return cur
	}
	out, _ := json.Marshal(set(doc, at))
	return out
}

// invalidUTF8 puts bytes that are not UTF-8 into the first string of a JSON body.
func invalidUTF8(body []byte) []byte {
	i := bytes.Index(body, []byte(`":"`))
	if i < 0 {
		return []byte("{\"a\":\"caf\xe9\"}")
	}
	i += 3
	return append(append(append([]byte{}, body[:i]...), "\xff\xfe"...), body[i:]...)
}

// badGroup is how many bad requests one parallel subtest of TestEveryOperationRefusesBadInput sends.
const badGroup = 40

func TestEveryOperationRefusesBadInput(t *testing.T) {
	t.Parallel()
	e := newFullEnv(t)
	doc := loadSpec(t)
	own := e.fixtures(t, e.c.Register(t), true)
	foreign := e.fixtures(t, e.c.Register(t), false)
	if lines := e.errs.take(); len(lines) > 0 {
		t.Fatalf("ERROR log lines while making fixtures: %q", lines)
	}
	total := 0
	t.Run("operations", func(t *testing.T) {
		for path, item := range doc.Paths.Map() {
			for method, op := range item.Operations() {
				if method == http.MethodOptions || path == "/health" {
					continue // no input: the preflight always allows; /health reads none
				}
				op.Parameters = append(slices.Clone(item.Parameters), op.Parameters...)
				cases := opCases(t, path, method, op, own, foreign)
				total += len(cases)
				// In groups of badGroup cases, each group a parallel subtest: an operation
				// with a large body schema has hundreds of cases, and one subtest for all of
				// them was the package's last test to finish.
				for i := 0; i < len(cases); i += badGroup {
					group := cases[i:min(i+badGroup, len(cases))]
					name := op.OperationID
					if len(cases) > badGroup {
						name = fmt.Sprintf("%s/%d", op.OperationID, i/badGroup+1)
					}
					t.Run(name, func(t *testing.T) {
						t.Parallel()
						for _, c := range group {
							e.checkBad(t, method, op, c, own["token"])
						}
					})
				}
			}
		}
	})
	t.Logf("%d bad requests to %d paths", total, len(doc.Paths.Map()))
	if lines := e.errs.take(); len(lines) > 0 {
		t.Errorf("%d log lines at ERROR, e.g. %q", len(lines), lines[:min(5, len(lines))])
	}
}

func (e *fullEnv) checkBad(t *testing.T, method string, op *openapi3.Operation, c badCase, token string) {
	t.Helper()
	var rd io.Reader
	if c.body != nil {
		rd = bytes.NewReader(c.body)
	}
	req, err := http.NewRequest(method, e.ts.URL+c.path, rd)
	if err != nil {
		// A URL Go itself refuses to send is not this server's concern.
		if _, perr := url.Parse(e.ts.URL + c.path); perr != nil {
			return
		}
		t.Fatalf("%s: %v", c.name, err)
	}
	if c.contentType != "" {
		req.Header.Set("Content-Type", c.contentType)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := e.ts.Client().Do(req.WithContext(ctx))
	if err != nil {
		t.Errorf("%s %s: %v (a panic closes the connection)", c.name, trunc(c.path), err)
		return
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<16))
	var eb struct {
		Error *struct{ Code, Message string } `json:"error"`
	}
	switch {
	case res.StatusCode >= 500:
		t.Errorf("%s: %d %s", c.name, res.StatusCode, trunc(string(b)))
	case res.StatusCode < 400:
		t.Errorf("%s: %d %.200s, want a 4xx", c.name, res.StatusCode, b)
	case !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") || json.Unmarshal(b, &eb) != nil ||
		eb.Error == nil || eb.Error.Code == "" || eb.Error.Message == "":
		t.Errorf("%s: %d %q (%s), want a JSON error with code and message", c.name, res.StatusCode, b, res.Header.Get("Content-Type"))
	case op.Responses.Status(res.StatusCode) == nil && op.Responses.Value("4XX") == nil:
		t.Errorf("%s: %d %s is not declared in openapi.yaml for %s", c.name, res.StatusCode, eb.Error.Code, op.OperationID)
	}
}

// uuidKind is the fixture a body's id field names.
func uuidKind(field string) string {
	if field == "program_id" {
		return "program"
	}
	return "end_user"
}
