package llm_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/coachwire/coachwire/internal/llm"
	"github.com/coachwire/coachwire/internal/llm/ollamatest"
)

const (
	chatModel  = "llama3.2"
	embedModel = "nomic-embed-text"
)

func newClient(t *testing.T, url string) *llm.Client {
	t.Helper()
	c, err := llm.New(url, llm.Options{
		MaxAttempts:    4,
		InitialBackoff: 5 * time.Millisecond,
		MaxBackoff:     20 * time.Millisecond,
		Logger:         slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func defaultServer(t *testing.T) *ollamatest.Server {
	return ollamatest.New(t, ollamatest.Options{ChatModels: []string{chatModel}, EmbedModels: []string{embedModel}})
}

func TestChatStreamsDeltasInOrder(t *testing.T) {
	srv := defaultServer(t)
	srv.SetOptions(ollamatest.Options{
		ChatModels: []string{chatModel}, ChunkSize: 2, DeltaDelay: time.Millisecond,
		Reply: func(ollamatest.ChatRequest) string { return "abcdefghij" },
	})
	c := newClient(t, srv.URL)
	var deltas []string
	full, err := c.Chat(context.Background(), chatModel, []llm.Message{{Role: "user", Content: "hi"}}, func(d string) error {
		deltas = append(deltas, d)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if full != "abcdefghij" || strings.Join(deltas, "|") != "ab|cd|ef|gh|ij" {
		t.Fatalf("full %q deltas %q", full, deltas)
	}
	reqs := srv.ChatRequests()
	if len(reqs) != 1 || reqs[0].Messages[0].Content != "hi" || reqs[0].Messages[0].Role != "user" {
		t.Fatalf("server saw %+v", reqs)
	}
}

func TestChatDefaultReplyQuotesQuestionAndPassages(t *testing.T) {
	c := newClient(t, defaultServer(t).URL)
	full, err := c.Chat(context.Background(), chatModel+":latest", []llm.Message{
		{Role: "system", Content: "Use these sources.\n```\nHydrate before training.\n```"},
		{Role: "user", Content: "What should I do before training?"},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(full, "What should I do before training?") || !strings.Contains(full, "Hydrate before training.") {
		t.Fatalf("reply %q", full)
	}
}

func TestChatMidStreamFailureSurfaces(t *testing.T) {
	for _, withLine := range []bool{false, true} {
		name := "connection cut"
		if withLine {
			name = "error line"
		}
		t.Run(name, func(t *testing.T) {
			srv := ollamatest.New(t, ollamatest.Options{
				ChatModels: []string{chatModel}, ChunkSize: 1, FailAfterDeltas: 3, FailWithErrorLine: withLine,
				Reply: func(ollamatest.ChatRequest) string { return "abcdefgh" },
			})
			c := newClient(t, srv.URL)
			var got strings.Builder
			full, err := c.Chat(context.Background(), chatModel, []llm.Message{{Role: "user", Content: "x"}}, func(d string) error {
				got.WriteString(d)
				return nil
			})
			if err == nil {
				t.Fatal("want error")
			}
			if !errors.Is(err, llm.ErrInterrupted) || !errors.Is(err, llm.ErrUnavailable) {
				t.Fatalf("error %v does not match ErrInterrupted and ErrUnavailable", err)
			}
			if full != "abc" || got.String() != "abc" {
				t.Fatalf("partial %q, delivered %q", full, got.String())
			}
			if n := srv.Counts().Chat; n != 1 {
				t.Fatalf("chat retried after deltas were delivered: %d requests", n)
			}
		})
	}
}

func TestChatOnDeltaErrorStops(t *testing.T) {
	srv := defaultServer(t)
	c := newClient(t, srv.URL)
	stop := errors.New("client went away")
	_, err := c.Chat(context.Background(), chatModel, []llm.Message{{Role: "user", Content: "a long enough question"}}, func(string) error { return stop })
	if !errors.Is(err, stop) {
		t.Fatalf("got %v", err)
	}
	if n := srv.Counts().Chat; n != 1 {
		t.Fatalf("%d chat requests", n)
	}
}

func TestChatRetriesTransientThenSucceeds(t *testing.T) {
	for _, status := range []int{503, 429, 500} {
		srv := ollamatest.New(t, ollamatest.Options{ChatModels: []string{chatModel}, Status: status, StatusTimes: 2})
		c := newClient(t, srv.URL)
		var deltas int
		full, err := c.Chat(context.Background(), chatModel, []llm.Message{{Role: "user", Content: "hello"}}, func(string) error { deltas++; return nil })
		if err != nil {
			t.Fatalf("status %d: %v", status, err)
		}
		if full != `You asked: "hello".` || deltas == 0 {
			t.Fatalf("status %d: reply %q, %d deltas", status, full, deltas)
		}
		if n := srv.Counts().Chat; n != 3 {
			t.Fatalf("status %d: %d requests, want 3", status, n)
		}
	}
}

func TestEmbedRetriesTransientThenSucceeds(t *testing.T) {
	srv := ollamatest.New(t, ollamatest.Options{EmbedModels: []string{embedModel}, Status: 503, StatusTimes: 1})
	c := newClient(t, srv.URL)
	v, err := c.Embed(context.Background(), embedModel, []string{"a"})
	if err != nil || len(v) != 1 {
		t.Fatalf("%v %d", err, len(v))
	}
	if n := srv.Counts().Embed; n != 2 {
		t.Fatalf("%d embed requests", n)
	}
}

func TestPersistent503IsUnavailable(t *testing.T) {
	srv := ollamatest.New(t, ollamatest.Options{ChatModels: []string{chatModel}, Status: 503})
	c := newClient(t, srv.URL)
	_, err := c.Chat(context.Background(), chatModel, []llm.Message{{Role: "user", Content: "x"}}, nil)
	var e *llm.Error
	if !errors.Is(err, llm.ErrUnavailable) || !errors.As(err, &e) || e.Status != 503 || e.Attempts != 4 {
		t.Fatalf("got %#v", err)
	}
	if errors.Is(err, llm.ErrInterrupted) {
		t.Fatal("nothing was delivered, so not interrupted")
	}
	if n := srv.Counts().Chat; n != 4 {
		t.Fatalf("%d requests, want 4", n)
	}
}

func TestConnectionRefusedIsUnavailable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	c := newClient(t, "http://"+addr)
	if err := c.Ping(context.Background()); !errors.Is(err, llm.ErrUnavailable) {
		t.Fatalf("ping: %v", err)
	}
	_, err = c.Chat(context.Background(), chatModel, []llm.Message{{Role: "user", Content: "x"}}, nil)
	var e *llm.Error
	if !errors.Is(err, llm.ErrUnavailable) || !errors.As(err, &e) || e.Attempts != 4 {
		t.Fatalf("chat: %v", err)
	}
	if _, err := c.Embed(context.Background(), embedModel, []string{"x"}); !errors.Is(err, llm.ErrUnavailable) {
		t.Fatalf("embed: %v", err)
	}
}

func TestRetryHonoursContext(t *testing.T) {
	srv := ollamatest.New(t, ollamatest.Options{ChatModels: []string{chatModel}, Status: 503})
	c, err := llm.New(srv.URL, llm.Options{MaxAttempts: 100, InitialBackoff: time.Second, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = c.Chat(ctx, chatModel, []llm.Message{{Role: "user", Content: "x"}}, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatalf("took %v", time.Since(start))
	}
}

func TestModelNotFound(t *testing.T) {
	srv := defaultServer(t)
	c := newClient(t, srv.URL)
	_, err := c.Chat(context.Background(), "nope", []llm.Message{{Role: "user", Content: "x"}}, nil)
	if !errors.Is(err, llm.ErrModelNotFound) || errors.Is(err, llm.ErrUnavailable) {
		t.Fatalf("chat: %v", err)
	}
	if !strings.Contains(err.Error(), `model "nope" not found, try pulling it first`) {
		t.Fatalf("message lost: %v", err)
	}
	if n := srv.Counts().Chat; n != 1 {
		t.Fatalf("404 retried: %d requests", n)
	}
	if _, err := c.Embed(context.Background(), "nope", []string{"x"}); !errors.Is(err, llm.ErrModelNotFound) {
		t.Fatalf("embed: %v", err)
	}
}

func TestEmbedShapes(t *testing.T) {
	c := newClient(t, defaultServer(t).URL)
	inputs := []string{llm.DocumentPrefix + "Sleep is recovery.", llm.DocumentPrefix + "Protein after training.", llm.QueryPrefix + "how to recover with sleep"}
	vs, err := c.Embed(context.Background(), embedModel, inputs)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 3 {
		t.Fatalf("%d vectors", len(vs))
	}
	for i, v := range vs {
		if len(v) != ollamatest.Dims {
			t.Fatalf("vector %d has %d dims", i, len(v))
		}
	}
	dot := func(a, b []float32) (s float32) {
		for i := range a {
			s += a[i] * b[i]
		}
		return
	}
	if dot(vs[2], vs[0]) <= dot(vs[2], vs[1]) {
		t.Fatal("query not closer to the related document")
	}
	if vs, err := c.Embed(context.Background(), embedModel, nil); err != nil || vs != nil {
		t.Fatalf("empty input: %v %v", vs, err)
	}
}

func TestHasModelAndPing(t *testing.T) {
	c := newClient(t, defaultServer(t).URL)
	ctx := context.Background()
	for name, want := range map[string]bool{
		chatModel: true, chatModel + ":latest": true, embedModel: true, "llama3.2:70b": false, "other": false,
	} {
		got, err := c.HasModel(ctx, name)
		if err != nil || got != want {
			t.Errorf("HasModel(%q) = %v, %v; want %v", name, got, err, want)
		}
	}
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if v, err := c.Version(ctx); err != nil || v != ollamatest.Version {
		t.Fatalf("version %q %v", v, err)
	}
}

func TestNewRejectsBadURL(t *testing.T) {
	for _, u := range []string{"", "localhost:11434", "ftp://x", "http://"} {
		if _, err := llm.New(u, llm.Options{}); err == nil {
			t.Errorf("New(%q) accepted", u)
		}
	}
}

// ChatJSON sends the schema as the request's format, not streamed, and decodes the reply; a
// model with nothing to say still answers in the schema's shape.
func TestChatJSONStructuredOutput(t *testing.T) {
	schema := []byte(`{"type":"object","properties":{"goals":{"type":"array","items":{"type":"string"}},"mood":{"type":"string"}},"required":["goals","mood"]}`)
	type out struct {
		Goals []string `json:"goals"`
		Mood  *string  `json:"mood"`
	}
	srv := defaultServer(t)
	c := newClient(t, srv.URL)

	var got out
	if err := c.ChatJSON(context.Background(), chatModel, []llm.Message{{Role: "user", Content: "hi"}}, schema, &got); err != nil {
		t.Fatal(err)
	}
	if got.Goals == nil || len(got.Goals) != 0 || got.Mood == nil || *got.Mood != "" {
		t.Fatalf("minimal reply %+v", got)
	}
	reqs := srv.ChatRequests()
	if len(reqs) != 1 || string(reqs[0].Format) != string(schema) || reqs[0].Stream == nil || *reqs[0].Stream {
		t.Fatalf("request format %s stream %v", reqs[0].Format, reqs[0].Stream)
	}

	srv.SetOptions(ollamatest.Options{ChatModels: []string{chatModel},
		JSONReply: func(r ollamatest.ChatRequest) any {
			return map[string]any{"goals": []string{r.Messages[0].Content}, "mood": "ok"}
		}})
	if err := c.ChatJSON(context.Background(), chatModel, []llm.Message{{Role: "user", Content: "run 10k"}}, schema, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Goals) != 1 || got.Goals[0] != "run 10k" || *got.Mood != "ok" {
		t.Fatalf("reply %+v", got)
	}

	// A reply that is not JSON (a model ignoring the constraint) is an error, not a zero value.
	srv.SetOptions(ollamatest.Options{ChatModels: []string{chatModel}, JSONReply: func(ollamatest.ChatRequest) any { return "not an object" }})
	if err := c.ChatJSON(context.Background(), chatModel, []llm.Message{{Role: "user", Content: "x"}}, schema, &got); err == nil {
		t.Fatal("a string for an object decoded without error")
	}
}
