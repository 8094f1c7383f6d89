package gateway_test

// Tests of the edges' text rule (issue 9, defect 2) and of PUT/PATCH and the field limits
// (defect 8), on a gateway with every dependency it publishes to.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/auth"
	"github.com/coachwire/coachwire/internal/channels/telegramtest"
	"github.com/coachwire/coachwire/internal/channels/whatsapptest"
	"github.com/coachwire/coachwire/internal/config"
	"github.com/coachwire/coachwire/internal/gateway"
	"github.com/coachwire/coachwire/internal/secrets"
	"github.com/coachwire/coachwire/internal/testenv"
)

// errorLog records every log record at ERROR or above (a bad request must never produce one)
// and drops the rest.
type errorLog struct {
	mu    *sync.Mutex
	lines *[]string
	attrs []slog.Attr
}

func newErrorLog() errorLog { return errorLog{mu: &sync.Mutex{}, lines: new([]string)} }

func (h errorLog) Enabled(context.Context, slog.Level) bool { return true }
func (h errorLog) Handle(_ context.Context, r slog.Record) error {
	if r.Level < slog.LevelError {
		return nil
	}
	var b strings.Builder
	b.WriteString(r.Message)
	for _, a := range h.attrs {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
	}
	r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
	h.mu.Lock()
	*h.lines = append(*h.lines, b.String())
	h.mu.Unlock()
	return nil
}
func (h errorLog) WithAttrs(as []slog.Attr) slog.Handler {
	return errorLog{mu: h.mu, lines: h.lines, attrs: append(append([]slog.Attr{}, h.attrs...), as...)}
}
func (h errorLog) WithGroup(string) slog.Handler { return h }

func (h errorLog) take() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := *h.lines
	*h.lines = nil
	return out
}

// fullEnv is a gateway with a bus, a data dir and a Telegram double: every route can run.
type fullEnv struct {
	ts   *httptest.Server
	c    *testenv.Client
	bus  *nats.Conn
	errs errorLog
	tg   *telegramtest.Server
	srv  *gateway.Server
}

func newFullEnv(t *testing.T) *fullEnv {
	t.Helper()
	return newFullEnvWith(t, fullOpts{limits: offPerIP})
}

// offPerIP are the default limits with the per-address ones off: every client of a test that
// does not choose its address is 127.0.0.1 (as in newEnv).
var offPerIP = config.Limits{RegistrationsPerIP: config.Rate{N: -1}, LoginsPerIP: config.Rate{N: -1}, WidgetSessionsPerIP: config.Rate{N: -1}}

// fullOpts are what a test may choose of a full gateway.
type fullOpts struct {
	// limits are the request limits (zero fields: the defaults).
	limits config.Limits
	// now is the gateway's and the token service's clock (nil: time.Now); tokens then live a
	// year, since a test's clock may jump weeks.
	now func() time.Time
	// importPrivate lets URL import reach loopback (a test's page server).
	importPrivate bool
}

// newFullEnvWith is newFullEnv with o. Each call is one more gateway replica on the same
// PostgreSQL and NATS, with its own bus connection, data directory and signing key, as a
// separate process would have.
func newFullEnvWith(t *testing.T, o fullOpts) *fullEnv {
	t.Helper()
	dir := t.TempDir()
	ao := auth.Options{KeyFile: dir + "/keys/jwt.json", Issuer: testIssuer, BcryptCost: 4}
	if o.now != nil {
		ao.Now, ao.AccessTTL = o.now, 365*24*time.Hour
	}
	svc, err := auth.New(ao)
	if err != nil {
		t.Fatal(err)
	}
	b := testenv.Bus(t)
	tg := telegramtest.New(t)
	errs := newErrorLog()
	keys, err := secrets.Load("", dir)
	if err != nil {
		t.Fatal(err)
	}
	srv := gateway.New(gateway.Deps{
		Config: &gateway.Settings{PublicURL: testIssuer, TelegramAPIURL: tg.URL,
			Limits: o.limits, ImportAllowPrivate: o.importPrivate},
		Files: testFiles(t),
		Store: testenv.Store(t),
		Bus:   b,
		Auth:  svc,
		Keys:  keys,
		Log:   slog.New(errs),
		Now:   o.now,
	})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	t.Cleanup(srv.Shutdown)
	return &fullEnv{ts: ts, c: testenv.NewClient(ts.URL), bus: b.Conn(), errs: errs, tg: tg, srv: srv}
}

// raw sends body bytes verbatim with a content type ("" for none) and returns status and body.
func (e *fullEnv) raw(t *testing.T, method, path, token, contentType string, body []byte) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, e.ts.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return res.StatusCode, out
}

func errCode(body []byte) string {
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	_ = json.Unmarshal(body, &e)
	return e.Error.Code
}

// TestTextRuleAtRESTEdges: U+0000 in a JSON field, in a query parameter, or a body that is not
// UTF-8, is refused with 400 by every route (it used to reach Postgres: 500, or be stored as
// U+FFFD).
func TestTextRuleAtRESTEdges(t *testing.T) {
	t.Parallel()
	e := newFullEnv(t)
	cr := e.c.Register(t)
	ws := e.c.StartWidget(t, cr.WidgetKey, "anon-"+uuid.NewString()[:8])
	nul := "a\x00b"
	for _, tc := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/api/v1/documents", map[string]any{"title": "t" + nul, "content": "hello"}},
		{"POST", "/api/v1/documents", map[string]any{"title": "t", "content": "hello " + nul}},
		{"PUT", "/api/v1/widget/settings", map[string]any{"name": "n", "persona": "p" + nul, "allowed_origins": []string{}, "identity_required": false}},
		{"PATCH", "/api/v1/widget/settings", map[string]any{"persona": "p" + nul}},
		{"PUT", "/api/v1/end-users/" + ws.EndUserID.String() + "/memory", map[string]any{"profile": map[string]any{"goals": []string{"run " + nul}}}},
		{"POST", "/api/v1/campaigns", map[string]any{"name": "c" + nul, "audience": map[string]any{"all": true},
			"content": map[string]any{"kind": "text", "text": "hi"}, "schedule": map[string]any{"kind": "once", "at": time.Now().Add(time.Hour).Format(time.RFC3339)}}},
		{"POST", "/api/v1/campaigns", map[string]any{"name": "c", "audience": map[string]any{"all": true},
			"content": map[string]any{"kind": "text", "text": "hi\x1b[31m"}, "schedule": map[string]any{"kind": "once", "at": time.Now().Add(time.Hour).Format(time.RFC3339)}}},
		{"POST", "/api/v1/conversations/" + ws.ConversationID.String() + "/messages", map[string]any{"text": "hello " + nul}},
	} {
		b, _ := json.Marshal(tc.body)
		st, body := e.raw(t, tc.method, tc.path, cr.AccessToken, "application/json", b)
		if st != http.StatusBadRequest || errCode(body) != "bad_text" {
			t.Errorf("%s %s with %s: %d %s, want 400 bad_text", tc.method, tc.path, b, st, body)
		}
	}
	for _, q := range []string{"q=a%00b", "q=%1b", "q=%ff", "status=%00"} {
		if st, body := e.raw(t, "GET", "/api/v1/documents?"+q, cr.AccessToken, "", nil); st != http.StatusBadRequest {
			t.Errorf("GET /api/v1/documents?%s: %d %s, want 400", q, st, body)
		}
	}
	// A body that is not UTF-8 is refused, not stored with U+FFFD in place of the bytes.
	st, body := e.raw(t, "POST", "/api/v1/documents", cr.AccessToken, "application/json", []byte("{\"title\":\"t\",\"content\":\"caf\xe9\"}"))
	if st != http.StatusBadRequest || errCode(body) != "invalid_utf8" {
		t.Errorf("invalid UTF-8 body: %d %s, want 400 invalid_utf8", st, body)
	}
	if lines := e.errs.take(); len(lines) > 0 {
		t.Errorf("ERROR log lines: %q", lines)
	}
}

// TestWidgetSocketTextRule: a message with U+0000 gets a bad_message error frame and no ack
// (it used to be acked, then fail in retrieve); a text frame that is not UTF-8 closes the
// socket with 1007 (it used to be stored as U+FFFD).
func TestWidgetSocketTextRule(t *testing.T) {
	t.Parallel()
	e := newFullEnv(t)
	cr := e.c.Register(t)
	ws := e.c.StartWidget(t, cr.WidgetKey, "anon-"+uuid.NewString()[:8])
	inbound, err := e.bus.SubscribeSync(events.InboundSubject(cr.ID, events.ChannelWidget))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, _, err := e.c.DialWidget(ctx, ws, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	conn.Next(t, 10*time.Second, func(f testenv.Frame) bool { return f.Type == "ready" })
	for _, bad := range []string{"hello\x00world", "\x00", "colour \x1b[31mred"} {
		id, err := conn.Say(ctx, bad)
		if err != nil {
			t.Fatal(err)
		}
		f := conn.Next(t, 10*time.Second, func(f testenv.Frame) bool { return f.ID == id })
		if f.Type != "error" || f.Code != "bad_message" {
			t.Errorf("message %q: frame %+v, want a bad_message error", bad, f)
		}
	}
	// A good message after them is accepted, and it is the only one published.
	id, _ := conn.Say(ctx, "hello")
	if f := conn.Next(t, 10*time.Second, func(f testenv.Frame) bool { return f.ID == id }); f.Type != "ack" {
		t.Fatalf("good message: %+v", f)
	}
	m, err := inbound.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := events.Decode[events.MessageReceived](m.Data)
	if err != nil || ev.Data.Text != "hello" {
		t.Fatalf("published %s (%v), want only the good message", m.Data, err)
	}
	if m, err := inbound.NextMsg(200 * time.Millisecond); err == nil {
		t.Fatalf("a refused message was published: %s", m.Data)
	}

	if err := conn.Write(ctx, websocket.MessageText, []byte("{\"type\":\"message\",\"id\":\""+uuid.NewString()+"\",\"text\":\"caf\xe9\"}")); err != nil {
		t.Fatal(err)
	}
	for range conn.Frames {
	}
	if st := websocket.CloseStatus(conn.ReadErr); st != websocket.StatusInvalidFramePayloadData {
		t.Fatalf("after a frame that is not UTF-8: %v (status %d), want close 1007", conn.ReadErr, st)
	}
	if lines := e.errs.take(); len(lines) > 0 {
		t.Errorf("ERROR log lines: %q", lines)
	}
}

// TestWebhookStripsBadTextPerMessage: a WhatsApp batch where one message carries U+0000, a
// control character and a lone surrogate is answered 200 and every message is queued, with
// the refused characters removed (they used to travel on and fail in retrieve).
func TestWebhookStripsBadTextPerMessage(t *testing.T) {
	t.Parallel()
	e := newFullEnv(t)
	cr := e.c.Register(t)
	const appSecret = "app-secret-edges"
	var ch struct {
		ID uuid.UUID `json:"id"`
	}
	st, raw, err := e.c.Do(context.Background(), "POST", "/api/v1/channels", cr.AccessToken, map[string]any{"type": "whatsapp",
		"phone_number_id": "PN1", "access_token": "tok", "app_secret": appSecret, "verify_token": "vt"}, &ch)
	if err != nil || st != http.StatusCreated {
		t.Fatalf("channel: %d %v %s", st, err, raw)
	}
	sub, err := e.bus.SubscribeSync(events.InboundSubject(cr.ID, events.ChannelWhatsApp))
	if err != nil {
		t.Fatal(err)
	}
	payload := whatsapptest.TextMessagePayload("PN1",
		whatsapptest.Msg{From: "4915100000001", Name: "Ana\x00", Text: "first"},
		whatsapptest.Msg{From: "4915100000002", Name: "Bo", Text: "null\x00 and \x1b escape"},
		whatsapptest.Msg{From: "4915100000003", Name: "Cy", Text: "third"})
	payload = bytes.Replace(payload, []byte("third"), []byte(`th\ud800ird`), 1) // a lone surrogate, as JSON allows
	body, sig := whatsapptest.SignedRequest(appSecret, payload)
	req, _ := http.NewRequest("POST", e.ts.URL+"/webhooks/whatsapp/"+ch.ID.String(), bytes.NewReader(body))
	req.Header.Set("X-Hub-Signature-256", sig)
	req.Header.Set("Content-Type", "application/json")
	res, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(out), `"accepted":3`) {
		t.Fatalf("webhook: %d %s, want 200 with 3 accepted", res.StatusCode, out)
	}
	got := map[string]string{}
	for range 3 {
		m, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("queued messages: %v (got %v)", err, got)
		}
		ev, err := events.Decode[events.MessageReceived](m.Data)
		if err != nil {
			t.Fatal(err)
		}
		got[ev.Data.ExternalUserID] = ev.Data.Text + "|" + ev.Data.DisplayName
	}
	want := map[string]string{"4915100000001": "first|Ana", "4915100000002": "null and  escape|Bo", "4915100000003": "th\uFFFDird|Cy"}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("message from %s: %q, want %q", k, got[k], w)
		}
	}
}

// TestWidgetSettingsPutAndPatch (defect 8): PUT replaces and needs every field (a PUT without
// the name used to blank it); PATCH changes what it is given; the name has the API's one name
// limit (10,000 characters used to be stored).
func TestWidgetSettingsPutAndPatch(t *testing.T) {
	t.Parallel()
	e := newFullEnv(t)
	cr := e.c.Register(t)
	type settings struct {
		Name             string   `json:"name"`
		Persona          string   `json:"persona"`
		AllowedOrigins   []string `json:"allowed_origins"`
		IdentityRequired bool     `json:"identity_required"`
	}
	get := func() settings {
		var s settings
		if st, raw, err := e.c.Do(context.Background(), "GET", "/api/v1/widget/settings", cr.AccessToken, nil, &s); err != nil || st != 200 {
			t.Fatalf("GET: %d %v %s", st, err, raw)
		}
		return s
	}
	send := func(method string, body any) (int, []byte) {
		b, _ := json.Marshal(body)
		return e.raw(t, method, "/api/v1/widget/settings", cr.AccessToken, "application/json", b)
	}
	if st, raw := send("PUT", map[string]any{"name": "Coach Ana", "persona": "warm", "allowed_origins": []string{"https://Ana.example"}, "identity_required": true}); st != 200 {
		t.Fatalf("full PUT: %d %s", st, raw)
	}
	want := settings{"Coach Ana", "warm", []string{"https://ana.example"}, true}
	if s := get(); fmt.Sprint(s) != fmt.Sprint(want) {
		t.Fatalf("after PUT %+v, want %+v", s, want)
	}
	// A PUT that leaves fields out is refused and changes nothing.
	if st, raw := send("PUT", map[string]any{"persona": "short"}); st != http.StatusBadRequest || errCode(raw) != "missing_field" ||
		!strings.Contains(string(raw), "name") || !strings.Contains(string(raw), "allowed_origins") {
		t.Errorf("partial PUT: %d %s, want 400 missing_field naming name and allowed_origins", st, raw)
	}
	if s := get(); fmt.Sprint(s) != fmt.Sprint(want) {
		t.Fatalf("a refused PUT changed the settings: %+v", s)
	}
	// PATCH changes only what it is given.
	if st, raw := send("PATCH", map[string]any{"persona": "calm"}); st != 200 {
		t.Fatalf("PATCH: %d %s", st, raw)
	}
	want.Persona = "calm"
	if s := get(); fmt.Sprint(s) != fmt.Sprint(want) {
		t.Fatalf("after PATCH %+v, want %+v", s, want)
	}
	if st, raw := e.raw(t, "PATCH", "/api/v1/widget/settings", cr.AccessToken, "application/merge-patch+json", []byte(`{"allowed_origins":[]}`)); st != 200 {
		t.Fatalf("merge-patch: %d %s", st, raw)
	}
	want.AllowedOrigins = []string{}
	if s := get(); fmt.Sprint(s) != fmt.Sprint(want) {
		t.Fatalf("after clearing origins %+v, want %+v", s, want)
	}
	// The limits: the same name limit as register, one line.
	for _, body := range []map[string]any{
		{"name": strings.Repeat("n", 10_000)},
		{"name": strings.Repeat("é", 201)},
		{"name": "two\nlines"},
		{"persona": strings.Repeat("p", 4001)},
		{"allowed_origins": []string{"https://" + strings.Repeat("a", 2100) + ".example"}},
	} {
		if st, raw := send("PATCH", body); st != http.StatusBadRequest {
			t.Errorf("PATCH %.80v: %d %s, want 400", body, st, raw)
		}
	}
	if st, raw := send("PATCH", map[string]any{"name": strings.Repeat("é", 200)}); st != 200 {
		t.Errorf("200-character name: %d %s", st, raw)
	}
	if st, raw := e.raw(t, "POST", "/api/v1/auth/register", "", "application/json",
		[]byte(`{"email":"`+uuid.NewString()[:8]+`@example.com","password":"correct horse","name":"`+strings.Repeat("n", 201)+`"}`)); st != http.StatusBadRequest {
		t.Errorf("register with a 201-character name: %d %s", st, raw)
	}
}
