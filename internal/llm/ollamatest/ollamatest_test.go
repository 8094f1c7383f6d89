package ollamatest

import (
	"bufio"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
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
	for _, path := range []string{"/api/chat", "/api/embed"} {
		resp := post(t, s.URL+path, `{"model":"x","messages":[],"input":"a"}`)
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
