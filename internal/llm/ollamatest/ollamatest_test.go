package ollamatest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ollama/ollama/api"
)

func post(t *testing.T, url, body string) *http.Response {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

func TestChatStreamsNDJSONLikeOllama(t *testing.T) {
	s := New(t, Options{ChatModels: []string{"llama3.2"}, ChunkSize: 3})
	resp := post(t, s.URL+"/api/chat", `{"model":"llama3.2:latest","messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(resp.Body)
	var text strings.Builder
	var lines []map[string]any
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		lines = append(lines, m)
		msg := m["message"].(map[string]any)
		if msg["role"] != "assistant" {
			t.Fatalf("role %v", msg["role"])
		}
		text.WriteString(msg["content"].(string))
	}
	last := lines[len(lines)-1]
	if last["done"] != true || last["done_reason"] != "stop" || last["eval_count"] == nil {
		t.Fatalf("final line %v", last)
	}
	for _, l := range lines[:len(lines)-1] {
		if l["done"] != false {
			t.Fatalf("intermediate line %v", l)
		}
		if len([]rune(l["message"].(map[string]any)["content"].(string))) > 3 {
			t.Fatalf("chunk too big: %v", l)
		}
	}
	if want := `You asked: "hi".`; text.String() != want {
		t.Fatalf("text %q, want %q", text.String(), want)
	}
	if got := s.Counts().Chat; got != 1 {
		t.Fatalf("chat count %d", got)
	}
}

func TestChatNonStream(t *testing.T) {
	s := New(t, Options{ChatModels: []string{"m"}, Reply: func(ChatRequest) string { return "fixed" }})
	resp := post(t, s.URL+"/api/chat", `{"model":"m","stream":false,"messages":[{"role":"user","content":"x"}]}`)
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	if m["done"] != true || m["message"].(map[string]any)["content"] != "fixed" {
		t.Fatalf("%v", m)
	}
}

func TestUnknownModel404(t *testing.T) {
	s := New(t, Options{ChatModels: []string{"a"}, EmbedModels: []string{"e"}})
	for path, body := range map[string]string{"/api/chat": `{"model":"x","messages":[]}`, "/api/embed": `{"model":"x","input":"a"}`} {
		resp := post(t, s.URL+path, body)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 404 || strings.TrimSpace(string(body)) != `{"error":"model \"x\" not found, try pulling it first"}` {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
		}
	}
}

func TestEmbedStringAndList(t *testing.T) {
	s := New(t, Options{EmbedModels: []string{"nomic-embed-text"}})
	for _, tc := range []struct {
		body string
		n    int
	}{
		{`{"model":"nomic-embed-text","input":"hello world"}`, 1},
		{`{"model":"nomic-embed-text","input":["a b","c"]}`, 2},
	} {
		resp := post(t, s.URL+"/api/embed", tc.body)
		var out struct {
			Model      string      `json:"model"`
			Embeddings [][]float32 `json:"embeddings"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		if out.Model != "nomic-embed-text" || len(out.Embeddings) != tc.n || len(out.Embeddings[0]) != Dims {
			t.Fatalf("%s: model %q, %d embeddings", tc.body, out.Model, len(out.Embeddings))
		}
	}
}

func cos(a, b []float32) float64 {
	var d float64
	for i := range a {
		d += float64(a[i]) * float64(b[i])
	}
	return d
}

func TestEmbedDeterministicNormalisedAndSimilar(t *testing.T) {
	a := Embed("search_document: The quick brown fox jumps over the lazy dog")
	b := Embed("search_query: quick brown fox")
	c := Embed("Quarterly revenue grew in the enterprise segment")
	if cos(a, Embed("search_document: The quick brown fox jumps over the lazy dog")) < 0.9999 {
		t.Fatal("not deterministic")
	}
	var n float64
	for _, x := range a {
		n += float64(x) * float64(x)
	}
	if math.Abs(n-1) > 1e-5 {
		t.Fatalf("norm² %v", n)
	}
	if cos(a, b) <= cos(a, c)+0.2 {
		t.Fatalf("similar texts not closer: sim(a,b)=%v sim(a,c)=%v", cos(a, b), cos(a, c))
	}
	if z := Embed("  ...  "); len(z) != Dims || z[0] != 1 {
		t.Fatal("empty text must embed to a unit vector")
	}
}

func TestTagsAndVersion(t *testing.T) {
	s := New(t, Options{ChatModels: []string{"llama3.2", "qwen:7b"}, EmbedModels: []string{"nomic-embed-text"}})
	resp, err := http.Get(s.URL + "/api/tags")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tags struct {
		Models []struct{ Name, Model string } `json:"models"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tags); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range tags.Models {
		names = append(names, m.Name)
	}
	if strings.Join(names, ",") != "llama3.2:latest,qwen:7b,nomic-embed-text:latest" {
		t.Fatalf("names %v", names)
	}
	vr, err := http.Get(s.URL + "/api/version")
	if err != nil {
		t.Fatal(err)
	}
	defer vr.Body.Close()
	var v struct{ Version string }
	_ = json.NewDecoder(vr.Body).Decode(&v)
	if v.Version != Version {
		t.Fatalf("version %q", v.Version)
	}
}

func TestForcedStatusTimes(t *testing.T) {
	s := New(t, Options{Status: 503, StatusTimes: 2})
	for i, want := range []int{503, 503, 200} {
		resp, err := http.Get(s.URL + "/api/version")
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("request %d: %d, want %d", i, resp.StatusCode, want)
		}
	}
}

func TestDefaultReplyMentionsFencedPassages(t *testing.T) {
	got := DefaultReply(ChatRequest{Messages: []Message{
		{Role: "system", Content: "Sources:\n```source 1\nDrink water daily.\n```\n```\nSleep eight hours.\n```"},
		{Role: "user", Content: "old"},
		{Role: "assistant", Content: "ok"},
		{Role: "user", Content: "How do I feel better?"},
	}})
	for _, want := range []string{`"How do I feel better?"`, "Drink water daily.", "Sleep eight hours."} {
		if !strings.Contains(got, want) {
			t.Errorf("reply %q lacks %q", got, want)
		}
	}
	if strings.Contains(got, "old") {
		t.Errorf("reply quotes an earlier message: %q", got)
	}
}

// tape is an http.RoundTripper that keeps every response body, so a test can
// read what the server sent while the official client reads it too.
type tape struct {
	mu     sync.Mutex
	bodies map[string][][]byte // by request path
}

func (tp *tape) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	tp.mu.Lock()
	if tp.bodies == nil {
		tp.bodies = map[string][][]byte{}
	}
	tp.bodies[req.URL.Path] = append(tp.bodies[req.URL.Path], b)
	tp.mu.Unlock()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp, nil
}

func (tp *tape) take(path string) [][]byte {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	b := tp.bodies[path]
	delete(tp.bodies, path)
	return b
}

// strictDecode decodes one JSON value from data into v, failing on a field v
// does not have and on anything after the value.
func strictDecode(t *testing.T, data []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s does not decode into %T: %v", data, v, err)
	}
	if err := dec.Decode(&json.RawMessage{}); err != io.EOF {
		t.Fatalf("%s: trailing data after %T (%v)", data, v, err)
	}
}

// strictMessage is api.Message without its UnmarshalJSON, so unknown fields
// inside a message fail strictDecode too.
type strictMessage api.Message

// strictChatLines decodes an /api/chat body line by line into
// api.ChatResponse (and each message into api.Message) and returns the lines.
func strictChatLines(t *testing.T, body []byte) []api.ChatResponse {
	t.Helper()
	var out []api.ChatResponse
	for _, line := range bytes.Split(bytes.TrimSpace(body), []byte("\n")) {
		var r api.ChatResponse
		strictDecode(t, line, &r)
		var m struct {
			Message json.RawMessage `json:"message"`
		}
		_ = json.Unmarshal(line, &m)
		var msg strictMessage
		strictDecode(t, m.Message, &msg)
		out = append(out, r)
	}
	if len(out) == 0 {
		t.Fatal("empty chat body")
	}
	return out
}

func officialClient(t *testing.T, s *Server) (*api.Client, *tape) {
	t.Helper()
	u, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	tp := &tape{}
	return api.NewClient(u, &http.Client{Transport: tp}), tp
}

// TestContractWithOfficialClient drives every endpoint coachwire uses through
// the official client and decodes every raw answer strictly into the official
// types: a field the real API does not have fails.
func TestContractWithOfficialClient(t *testing.T) {
	t.Parallel()
	s := New(t, Options{ChatModels: []string{"llama3.2", "qwen3"}, ThinkingModels: []string{"qwen3"},
		EmbedModels: []string{"nomic-embed-text"}, ChunkSize: 5})
	c, tp := officialClient(t, s)
	ctx := t.Context()
	msgs := []api.Message{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "How do I sleep better?"}}
	no := false
	schema := json.RawMessage(`{"type":"object","properties":{"answer":{"type":"string"}},"required":["answer"]}`)

	for _, tc := range []struct {
		name string
		req  api.ChatRequest
	}{
		{"streamed", api.ChatRequest{Model: "llama3.2", Messages: msgs}},
		{"streamed json", api.ChatRequest{Model: "llama3.2", Messages: msgs, Format: json.RawMessage(`"json"`)}},
		{"not streamed schema", api.ChatRequest{Model: "llama3.2:latest", Messages: msgs, Stream: &no, Format: schema}},
		{"settings", api.ChatRequest{Model: "llama3.2", Messages: msgs, Options: map[string]any{"num_ctx": 8192, "num_predict": 3},
			KeepAlive: &api.Duration{Duration: 10 * time.Minute}, Think: &api.ThinkValue{Value: false}}},
		{"thinking", api.ChatRequest{Model: "qwen3", Messages: msgs}},
		{"thinking not streamed", api.ChatRequest{Model: "qwen3", Messages: msgs, Stream: &no, Think: &api.ThinkValue{Value: "low"}}},
	} {
		var got []api.ChatResponse
		if err := c.Chat(ctx, &tc.req, func(r api.ChatResponse) error { got = append(got, r); return nil }); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		bodies := tp.take("/api/chat")
		if len(bodies) != 1 {
			t.Fatalf("%s: %d bodies", tc.name, len(bodies))
		}
		lines := strictChatLines(t, bodies[0])
		if len(lines) != len(got) {
			t.Fatalf("%s: %d lines on the wire, %d seen by the client", tc.name, len(lines), len(got))
		}
		last := lines[len(lines)-1]
		if !last.Done || last.Model != tc.req.Model || last.CreatedAt.IsZero() || last.Message.Role != "assistant" ||
			last.EvalCount == 0 || last.PromptEvalCount == 0 || last.TotalDuration <= 0 || last.EvalDuration <= 0 || last.PromptEvalDuration <= 0 {
			t.Fatalf("%s: final line %+v", tc.name, last)
		}
		for _, l := range lines[:len(lines)-1] {
			if l.Done || l.DoneReason != "" || l.EvalCount != 0 {
				t.Fatalf("%s: intermediate line %+v", tc.name, l)
			}
		}
		var text, thinking strings.Builder
		for _, l := range lines {
			text.WriteString(l.Message.Content)
			thinking.WriteString(l.Message.Thinking)
		}
		switch tc.name {
		case "streamed json":
			if text.String() != "{}" {
				t.Fatalf("json reply %q", text.String())
			}
		case "not streamed schema":
			if len(lines) != 1 || text.String() != `{"answer":""}` {
				t.Fatalf("schema reply %q in %d lines", text.String(), len(lines))
			}
		case "settings":
			if last.DoneReason != "length" || last.EvalCount != 3 || len(lines) != 4 {
				t.Fatalf("num_predict 3: %d lines, final %+v", len(lines), last)
			}
		case "thinking", "thinking not streamed":
			if thinking.String() == "" || text.String() == "" {
				t.Fatalf("%s: thinking %q, reply %q", tc.name, thinking.String(), text.String())
			}
		}
		if tc.name != "settings" && last.DoneReason != "stop" {
			t.Fatalf("%s: done_reason %q", tc.name, last.DoneReason)
		}
		if tc.name != "not streamed schema" && tc.name != "thinking not streamed" && last.EvalCount != len(lines)-1 {
			t.Fatalf("%s: eval_count %d for %d deltas", tc.name, last.EvalCount, len(lines)-1)
		}
	}

	for _, input := range []any{"search_query: sleep", []string{"a b", "c d e"}} {
		resp, err := c.Embed(ctx, &api.EmbedRequest{Model: "nomic-embed-text", Input: input, KeepAlive: &api.Duration{Duration: time.Minute}})
		if err != nil {
			t.Fatal(err)
		}
		var raw api.EmbedResponse
		strictDecode(t, tp.take("/api/embed")[0], &raw)
		if raw.Model != "nomic-embed-text" || len(raw.Embeddings) != len(resp.Embeddings) || len(raw.Embeddings[0]) != Dims ||
			raw.PromptEvalCount == 0 || raw.TotalDuration <= 0 {
			t.Fatalf("embed %v: %d embeddings, prompt_eval_count %d", input, len(raw.Embeddings), raw.PromptEvalCount)
		}
	}
	if resp, err := c.Embed(ctx, &api.EmbedRequest{Model: "nomic-embed-text", Input: []string{"a b", "c d e"}}); err != nil || resp.PromptEvalCount != 5 {
		t.Fatalf("prompt_eval_count %v, %v; want 5 words", resp, err)
	}
	tp.take("/api/embed")

	list, err := c.List(ctx)
	if err != nil || len(list.Models) != 3 {
		t.Fatalf("list %v %v", list, err)
	}
	var tags api.ListResponse
	strictDecode(t, tp.take("/api/tags")[0], &tags)
	for _, m := range tags.Models {
		if m.Name == "" || m.Model != m.Name || m.ModifiedAt.IsZero() || m.Size == 0 || m.Digest == "" || m.Details.Family == "" {
			t.Fatalf("model %+v", m)
		}
	}

	v, err := c.Version(ctx)
	if err != nil || v != Version {
		t.Fatalf("version %q %v", v, err)
	}
	var version struct {
		Version string `json:"version"`
	}
	strictDecode(t, tp.take("/api/version")[0], &version)
}

// TestRequestsOfficialShapeOnly: a body that does not decode into
// api.ChatRequest or api.EmbedRequest (unknown field, wrong type) gets a 400
// with an {"error": ...} body, as in Ollama.
func TestRequestsOfficialShapeOnly(t *testing.T) {
	t.Parallel()
	s := New(t, Options{ChatModels: []string{"m"}, EmbedModels: []string{"e"}})
	for _, tc := range []struct{ path, body string }{
		{"/api/chat", ``},
		{"/api/chat", `{"model":"m","messages":[],"temperature":0.2}`},
		{"/api/chat", `{"model":"m","messages":"hi"}`},
		{"/api/chat", `{"model":"m","messages":[],"think":"banana"}`},
		{"/api/chat", `{"model":"m","messages":[],"keep_alive":true}`},
		{"/api/chat", `{"model":"m","messages":[],"options":[1]}`},
		{"/api/chat", `{"model":"m","messages":[],"stream":"yes"}`},
		{"/api/chat", `{"messages":[]}`},
		{"/api/embed", ``},
		{"/api/embed", `{"model":"e","input":"x","prompt":"x"}`},
		{"/api/embed", `{"model":"e","input":[1,2]}`},
		{"/api/embed", `{"model":"e","input":{"a":1}}`},
		{"/api/embed", `{"model":"e","input":"x","keep_alive":"soon"}`},
		{"/api/embed", `{"input":"x"}`},
	} {
		resp := post(t, s.URL+tc.path, tc.body)
		var e struct{ Error string }
		err := json.NewDecoder(resp.Body).Decode(&e)
		if resp.StatusCode != 400 || err != nil || e.Error == "" {
			t.Errorf("%s %s: %d, error %q (%v)", tc.path, tc.body, resp.StatusCode, e.Error, err)
		}
	}
	if s.InFlight() != 0 || s.MaxInFlight() != 0 || len(s.ChatRequests()) != 0 {
		t.Fatalf("a refused request took a slot or was recorded: max %d, %d recorded", s.MaxInFlight(), len(s.ChatRequests()))
	}
}

// TestChatRequestsRecordSettings: options, keep_alive and think reach the
// history as the official client sent them.
func TestChatRequestsRecordSettings(t *testing.T) {
	t.Parallel()
	s := New(t, Options{ChatModels: []string{"m"}})
	c, _ := officialClient(t, s)
	req := &api.ChatRequest{Model: "m", Messages: []api.Message{{Role: "user", Content: "hi"}},
		Options:   map[string]any{"num_ctx": 6144, "num_predict": 512, "temperature": 0.3},
		KeepAlive: &api.Duration{Duration: 30 * time.Minute}, Think: &api.ThinkValue{Value: false}}
	if err := c.Chat(t.Context(), req, func(api.ChatResponse) error { return nil }); err != nil {
		t.Fatal(err)
	}
	plain := &api.ChatRequest{Model: "m", Messages: []api.Message{{Role: "user", Content: "hi"}}}
	if err := c.Chat(t.Context(), plain, func(api.ChatResponse) error { return nil }); err != nil {
		t.Fatal(err)
	}
	reqs := s.ChatRequests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests", len(reqs))
	}
	r := reqs[0]
	if r.NumCtx() != 6144 || r.NumPredict() != 512 || r.Options["temperature"] != 0.3 ||
		string(r.KeepAlive) != `"30m0s"` || string(r.Think) != `false` {
		t.Fatalf("recorded %+v, keep_alive %s, think %s", r.Options, r.KeepAlive, r.Think)
	}
	if p := reqs[1]; p.Options != nil || p.KeepAlive != nil || p.Think != nil || p.NumCtx() != 0 {
		t.Fatalf("unset settings recorded as %+v %s %s", p.Options, p.KeepAlive, p.Think)
	}
}

func TestNumPredictEndsWithLength(t *testing.T) {
	t.Parallel()
	s := New(t, Options{ChatModels: []string{"m"}, ChunkSize: 2, Reply: func(ChatRequest) string { return "abcdefgh" }})
	for _, tc := range []struct {
		body   string
		text   string
		reason string
		evals  float64
	}{
		{`{"model":"m","messages":[],"options":{"num_predict":3}}`, "abcdef", "length", 3},
		{`{"model":"m","messages":[],"options":{"num_predict":4}}`, "abcdefgh", "length", 4},
		{`{"model":"m","messages":[],"options":{"num_predict":5}}`, "abcdefgh", "stop", 4},
		{`{"model":"m","messages":[],"options":{"num_predict":-1}}`, "abcdefgh", "stop", 4},
		{`{"model":"m","messages":[],"stream":false,"options":{"num_predict":1}}`, "ab", "length", 1},
		{`{"model":"m","messages":[],"stream":false}`, "abcdefgh", "stop", 4},
	} {
		resp := post(t, s.URL+"/api/chat", tc.body)
		var text strings.Builder
		var last map[string]any
		dec := json.NewDecoder(resp.Body)
		for {
			var m map[string]any
			if err := dec.Decode(&m); err == io.EOF {
				break
			} else if err != nil {
				t.Fatal(err)
			}
			text.WriteString(m["message"].(map[string]any)["content"].(string))
			last = m
		}
		if text.String() != tc.text || last["done_reason"] != tc.reason || last["eval_count"] != tc.evals {
			t.Errorf("%s: text %q, final %v", tc.body, text.String(), last)
		}
	}
}

func TestThinkingSupport(t *testing.T) {
	t.Parallel()
	s := New(t, Options{ChatModels: []string{"llama3.2", "qwen3"}, ThinkingModels: []string{"qwen3:latest"}})
	for _, tc := range []struct {
		body     string
		status   int
		thinking bool
	}{
		{`{"model":"llama3.2","messages":[],"think":true}`, 400, false},
		{`{"model":"llama3.2","messages":[],"think":"high"}`, 400, false},
		{`{"model":"llama3.2","messages":[],"think":false}`, 200, false},
		{`{"model":"llama3.2","messages":[]}`, 200, false},
		{`{"model":"qwen3","messages":[],"think":true}`, 200, true},
		{`{"model":"qwen3","messages":[]}`, 200, true},
		{`{"model":"qwen3","messages":[],"think":false}`, 200, false},
	} {
		resp := post(t, s.URL+"/api/chat", tc.body)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != tc.status {
			t.Errorf("%s: %d %s", tc.body, resp.StatusCode, body)
			continue
		}
		if tc.status == 400 {
			if want := `{"error":"\"llama3.2\" does not support thinking"}`; strings.TrimSpace(string(body)) != want {
				t.Errorf("%s: %s, want %s", tc.body, body, want)
			}
			continue
		}
		if got := strings.Contains(string(body), `"thinking":`); got != tc.thinking {
			t.Errorf("%s: thinking deltas %v, want %v: %s", tc.body, got, tc.thinking, body)
		}
	}
	if n := len(s.ChatRequests()); n != 7 {
		t.Fatalf("%d requests recorded, want all 7", n)
	}
}

// waitFor polls cond until it holds (a state the test waits for, not a time).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never reached: %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestSlotsFIFOAndLeaving(t *testing.T) {
	t.Parallel()
	var q slots
	q.setLimit(1)
	if !q.acquire(t.Context()) {
		t.Fatal("free slot not taken")
	}
	got := make(chan string, 3)
	cancels := map[string]context.CancelFunc{}
	for _, name := range []string{"a", "b", "c"} {
		ctx, cancel := context.WithCancel(t.Context())
		cancels[name] = cancel
		before := len(cancels) - 1
		go func() {
			if q.acquire(ctx) {
				got <- name
			} else {
				got <- "left:" + name
			}
		}()
		waitFor(t, name+" queued", func() bool { _, _, n := q.counts(); return n == before+1 })
	}
	cancels["b"]()
	if g := <-got; g != "left:b" {
		t.Fatalf("got %s, want b to leave", g)
	}
	if in, _, n := q.counts(); in != 1 || n != 2 {
		t.Fatalf("inflight %d queued %d", in, n)
	}
	q.release()
	if g := <-got; g != "a" {
		t.Fatalf("%s served first, want a", g)
	}
	q.release()
	if g := <-got; g != "c" {
		t.Fatalf("%s served, want c", g)
	}
	q.setLimit(3)
	for range 2 {
		if !q.acquire(t.Context()) {
			t.Fatal("raised limit not applied")
		}
	}
	if in, most, n := q.counts(); in != 3 || most != 3 || n != 0 {
		t.Fatalf("inflight %d max %d queued %d", in, most, n)
	}
	cancels["a"]()
	cancels["c"]()
}

// TestServerQueuesBeyondSlots: with 2 slots, 5 requests put 2 in flight and
// 3 in the queue; a queued client leaving leaves the queue, an in-flight one
// leaving frees its slot for the next in line.
func TestServerQueuesBeyondSlots(t *testing.T) {
	t.Parallel()
	s := New(t, Options{ChatModels: []string{"m"}, EmbedModels: []string{"e"}, Slots: 2, FirstToken: time.Hour, EmbedPerInput: time.Hour})
	var cancels []context.CancelFunc
	var wg sync.WaitGroup
	start := func(path, body string) {
		ctx, cancel := context.WithCancel(t.Context())
		cancels = append(cancels, cancel)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+path, strings.NewReader(body))
		wg.Go(func() {
			if resp, err := http.DefaultClient.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
			}
		})
	}
	chat := `{"model":"m","messages":[{"role":"user","content":"hi"}]}`
	start("/api/chat", chat)
	waitFor(t, "first in flight", func() bool { return s.InFlight() == 1 })
	start("/api/chat", chat)
	waitFor(t, "second in flight", func() bool { return s.InFlight() == 2 })
	// Slots are per model, as OLLAMA_NUM_PARALLEL is: the embedding model has its own.
	start("/api/embed", `{"model":"e","input":["x"]}`)
	waitFor(t, "embed in flight beside two chats", func() bool { return s.InFlight() == 3 && s.Queued() == 0 })
	for i := range 3 {
		start("/api/chat", chat)
		waitFor(t, "queued", func() bool { return s.Queued() == i+1 })
	}
	cancels[4]() // queued
	waitFor(t, "a queued request leaves", func() bool { return s.Queued() == 2 })
	cancels[0]() // in flight
	waitFor(t, "the next in line takes the free slot", func() bool { return s.Queued() == 1 && s.InFlight() == 3 })
	for _, c := range cancels {
		c()
	}
	wg.Wait()
	waitFor(t, "all slots free", func() bool { return s.InFlight() == 0 && s.Queued() == 0 })
	if m := s.MaxInFlight(); m != 2 {
		t.Fatalf("max in flight of one model %d, want 2", m)
	}
}

// TestPacing: the first delta comes no sooner than FirstToken after the slot,
// the others no faster than TokensPerSecond (lower bounds only: timers never
// fire early).
func TestPacing(t *testing.T) {
	t.Parallel()
	s := New(t, Options{ChatModels: []string{"m"}, ChunkSize: 1, FirstToken: 30 * time.Millisecond, TokensPerSecond: 100,
		Reply: func(ChatRequest) string { return "abcde" }})
	sent := time.Now()
	resp := post(t, s.URL+"/api/chat", `{"model":"m","messages":[{"role":"user","content":"one two three"}]}`)
	dec := json.NewDecoder(resp.Body)
	var times []time.Duration
	var last chatLine
	for {
		var l chatLine
		if err := dec.Decode(&l); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		times = append(times, time.Since(sent))
		last = l
	}
	if len(times) != 6 || times[0] < 30*time.Millisecond || times[4] < 70*time.Millisecond {
		t.Fatalf("arrivals %v", times)
	}
	if last.PromptEvalDuration < int64(30*time.Millisecond) || last.EvalDuration < int64(40*time.Millisecond) ||
		last.TotalDuration < int64(70*time.Millisecond) || last.PromptEvalCount != 3 || last.EvalCount != 5 {
		t.Fatalf("final %+v", last)
	}
}

// TestHundredsOfConcurrentRequests: 300 chats and embeddings through 8 slots
// all complete, never more than 8 at once.
func TestHundredsOfConcurrentRequests(t *testing.T) {
	t.Parallel()
	s := New(t, Options{ChatModels: []string{"m"}, EmbedModels: []string{"e"}, Slots: 8, FirstToken: time.Millisecond,
		TokensPerSecond: 5000, EmbedPerInput: time.Millisecond, DiscardRequests: true})
	u, _ := url.Parse(s.URL)
	c := api.NewClient(u, &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 300}})
	errs := make(chan error, 300)
	var wg sync.WaitGroup
	for i := range 300 {
		wg.Go(func() {
			if i%3 == 0 {
				_, err := c.Embed(t.Context(), &api.EmbedRequest{Model: "e", Input: []string{"a", "b"}})
				errs <- err
				return
			}
			var done bool
			err := c.Chat(t.Context(), &api.ChatRequest{Model: "m", Messages: []api.Message{{Role: "user", Content: fmt.Sprint(i)}}},
				func(r api.ChatResponse) error { done = done || r.Done; return nil })
			if err == nil && !done {
				err = fmt.Errorf("chat %d without its done line", i)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := len(s.ChatRequests()); n != 0 {
		t.Fatalf("%d requests kept with DiscardRequests", n)
	}
	if m := s.MaxInFlight(); m < 1 || m > 8 || s.InFlight() != 0 || s.Queued() != 0 {
		t.Fatalf("max in flight %d, in flight %d, queued %d", m, s.InFlight(), s.Queued())
	}
	if c := s.Counts(); c.Chat != 200 || c.Embed != 100 {
		t.Fatalf("counts %+v", c)
	}
}

func TestCluster(t *testing.T) {
	t.Parallel()
	servers := NewCluster(t, 3, Options{ChatModels: []string{"m"}, Slots: 1})
	urls := URLs(servers)
	if len(urls) != 3 || urls[0] == urls[1] || urls[1] == urls[2] || urls[0] == urls[2] {
		t.Fatalf("urls %v", urls)
	}
	for _, s := range servers {
		post(t, s.URL+"/api/chat", `{"model":"m","messages":[]}`)
		if s.Counts().Chat != 1 || s.MaxInFlight() != 1 {
			t.Fatalf("%s: counts %+v, max in flight %d", s.URL, s.Counts(), s.MaxInFlight())
		}
	}
}
