package llm_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/internal/llm"
	"github.com/coachwire/coachwire/internal/llm/ollamatest"
)

func newPool(t *testing.T, servers ...*ollamatest.Server) *llm.Pool {
	t.Helper()
	var ss []llm.Server
	for _, s := range servers {
		ss = append(ss, llm.Server{URL: s.URL, Slots: 2})
	}
	p, err := llm.NewPool(context.Background(), llm.PoolOptions{
		Servers: ss,
		Client:  llm.Options{MaxAttempts: 4, InitialBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)},
		Probe:   20 * time.Millisecond,
		Recheck: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func up(p *llm.Pool, i int) bool { return p.Stats()[i].Up }

func msgs(text string) []llm.Message { return []llm.Message{{Role: "user", Content: text}} }

func TestPoolServerDyingMidStreamIsAnHonestErrorAndComesBack(t *testing.T) {
	t.Parallel()
	bad := ollamatest.New(t, ollamatest.Options{ChatModels: []string{chatModel}, FailAfterDeltas: 2})
	good := ollamatest.New(t, ollamatest.Options{ChatModels: []string{chatModel}})
	p := newPool(t, bad, good)
	var deltas []string
	var text string
	var err error
	var goodBefore int64
	for range 20 { // the round robin between two idle servers reaches bad within a few calls
		deltas = nil
		goodBefore = good.Counts().Chat
		text, err = p.Chat(context.Background(), chatModel, msgs("hello there friend"), func(d string) error {
			deltas = append(deltas, d)
			return nil
		})
		if err != nil {
			break
		}
	}
	if !errors.Is(err, llm.ErrInterrupted) {
		t.Fatalf("err %v, want ErrInterrupted (a stream that broke after deltas)", err)
	}
	if len(deltas) != 2 || text != strings.Join(deltas, "") {
		t.Fatalf("deltas %q text %q: the caller gets what was streamed, once", deltas, text)
	}
	if good.Counts().Chat != goodBefore {
		t.Fatal("a reply that broke off mid-stream was sent again to another server")
	}
	before := good.Counts().Chat
	if up(p, 0) {
		t.Fatal("the server that broke a stream is still in")
	}
	// While it is out, calls go to the good server.
	for range 3 {
		if _, err := p.Chat(context.Background(), chatModel, msgs("again"), nil); err != nil {
			t.Fatal(err)
		}
	}
	if got := good.Counts().Chat - before; got != 3 {
		t.Fatalf("%d of 3 calls reached the good server while the other was out", got)
	}
	// Repaired: the probe brings it back in.
	bad.SetOptions(ollamatest.Options{ChatModels: []string{chatModel}})
	waitFor(t, "the repaired server back in", func() bool { return up(p, 0) })
}

func TestPoolRetriesOnAnotherServerBeforeTheFirstDelta(t *testing.T) {
	t.Parallel()
	down := ollamatest.New(t, ollamatest.Options{ChatModels: []string{chatModel}, EmbedModels: []string{embedModel}})
	good := ollamatest.New(t, ollamatest.Options{ChatModels: []string{chatModel}, EmbedModels: []string{embedModel}})
	p := newPool(t, down, good)
	down.SetOptions(ollamatest.Options{ChatModels: []string{chatModel}, EmbedModels: []string{embedModel}, Status: 503})
	for range 4 {
		u := &llm.Usage{}
		ctx := llm.WithWork(context.Background(), llm.Work{Class: llm.Live, Creator: uuid.New(), Usage: u})
		text, err := p.Chat(ctx, chatModel, msgs("hi"), nil)
		if err != nil || text == "" {
			t.Fatalf("chat with one server answering 503: %q %v", text, err)
		}
		if u.Backend != good.URL {
			t.Fatalf("answered by %s", u.Backend)
		}
		if _, err := p.Embed(ctx, embedModel, []string{"x"}); err != nil {
			t.Fatal(err)
		}
	}
	if up(p, 0) {
		t.Fatal("a server answering 503 is still in")
	}
	if n := down.Counts().Chat + down.Counts().Embed; n > 1 {
		t.Fatalf("the server that was taken out got %d calls", n)
	}
}

func TestPoolModelMissingOnOneServer(t *testing.T) {
	t.Parallel()
	chatOnly := ollamatest.New(t, ollamatest.Options{ChatModels: []string{chatModel}})
	embedOnly := ollamatest.New(t, ollamatest.Options{EmbedModels: []string{embedModel}})
	p := newPool(t, chatOnly, embedOnly)
	for range 4 {
		if _, err := p.Chat(context.Background(), chatModel, msgs("hi"), nil); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Embed(context.Background(), embedModel, []string{"a", "b"}); err != nil {
			t.Fatal(err)
		}
	}
	if chatOnly.Counts().Embed != 0 || embedOnly.Counts().Chat != 0 {
		t.Fatalf("a call reached a server without its model: %+v %+v", chatOnly.Counts(), embedOnly.Counts())
	}
	if ok, err := p.HasModel(context.Background(), embedModel); !ok || err != nil {
		t.Fatal(ok, err)
	}
	_, err := p.Chat(context.Background(), "no-such-model", msgs("hi"), nil)
	if !errors.Is(err, llm.ErrModelNotFound) {
		t.Fatalf("err %v, want ErrModelNotFound", err)
	}
	// A server that loses a model (404) is not asked for it again; the other one is.
	both := ollamatest.New(t, ollamatest.Options{ChatModels: []string{chatModel}})
	p2 := newPool(t, both, chatOnly)
	both.SetOptions(ollamatest.Options{})
	for range 4 {
		if _, err := p2.Chat(context.Background(), chatModel, msgs("hi"), nil); err != nil {
			t.Fatalf("chat after one server lost the model: %v", err)
		}
	}
	if n := both.Counts().Chat; n > 1 {
		t.Fatalf("the server that lost the model was asked %d times", n)
	}
}

func TestPoolEveryServerDown(t *testing.T) {
	t.Parallel()
	a := ollamatest.New(t, ollamatest.Options{ChatModels: []string{chatModel}})
	b := ollamatest.New(t, ollamatest.Options{ChatModels: []string{chatModel}})
	p := newPool(t, a, b)
	a.Close()
	b.Close()
	_, err := p.Chat(context.Background(), chatModel, msgs("hi"), nil)
	if !errors.Is(err, llm.ErrUnavailable) {
		t.Fatalf("err %v, want ErrUnavailable", err)
	}
	if err := p.Ping(context.Background()); err == nil {
		t.Fatal("ping with every server down")
	}
}

func TestPoolStartsWithAServerDown(t *testing.T) {
	t.Parallel()
	a := ollamatest.New(t, ollamatest.Options{ChatModels: []string{chatModel}})
	url := a.URL
	a.Close()
	good := ollamatest.New(t, ollamatest.Options{ChatModels: []string{chatModel}})
	p, err := llm.NewPool(context.Background(), llm.PoolOptions{Servers: []llm.Server{{URL: url, Slots: 1}, {URL: good.URL, Slots: 1}},
		Client: llm.Options{Logger: slog.New(slog.DiscardHandler)}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if ok, err := p.HasModel(context.Background(), chatModel); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if _, err := p.Chat(context.Background(), chatModel, msgs("hi"), nil); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st[0].Up || !st[1].Up {
		t.Fatalf("stats %+v", st)
	}
}

func TestPoolSendsTheSettings(t *testing.T) {
	t.Parallel()
	srv := ollamatest.New(t, ollamatest.Options{ChatModels: []string{chatModel}})
	p, err := llm.NewPool(context.Background(), llm.PoolOptions{Servers: []llm.Server{{URL: srv.URL, Slots: 1}},
		Client: llm.Options{Logger: slog.New(slog.DiscardHandler)},
		Settings: llm.Settings{NumCtx: 4512, NumPredict: 512, KeepAlive: 10 * time.Minute,
			ModelOptions: map[string]map[string]any{chatModel: {"temperature": 0.2, "num_predict": 256}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.Chat(context.Background(), chatModel, msgs("hi"), nil); err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := p.ChatJSON(context.Background(), chatModel, msgs("hi"), []byte(`{"type":"object"}`), &out); err != nil {
		t.Fatal(err)
	}
	for _, r := range srv.ChatRequests() {
		o := r.Options
		if o["num_ctx"] != 4512.0 || o["num_predict"] != 256.0 || o["temperature"] != 0.2 {
			t.Fatalf("options %v: want num_ctx 4512, the model's num_predict 256 and temperature 0.2", o)
		}
		if string(r.Think) != "false" || string(r.KeepAlive) != `"10m0s"` {
			t.Fatalf("think %s keep_alive %s: want think false and keep_alive set", r.Think, r.KeepAlive)
		}
	}
}

func TestPoolClassStats(t *testing.T) {
	t.Parallel()
	srv := ollamatest.New(t, ollamatest.Options{ChatModels: []string{chatModel}, EmbedModels: []string{embedModel}, DeltaDelay: time.Millisecond})
	p := newPool(t, srv)
	c := uuid.New()
	live := llm.WithWork(context.Background(), llm.Work{Class: llm.Live, Creator: c})
	for range 3 {
		if _, err := p.Chat(live, chatModel, msgs("hi"), func(string) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.Embed(llm.WithWork(context.Background(), llm.Work{Class: llm.IngestEmbed, Creator: c}), embedModel, []string{"x"}); err != nil {
		t.Fatal(err)
	}
	_, _ = p.Chat(llm.WithWork(context.Background(), llm.Work{Class: llm.Nudge, Creator: c}), "missing", msgs("hi"), nil)
	byClass := map[llm.Class]llm.ClassStats{}
	for _, s := range p.ClassStats() {
		byClass[s.Class] = s
	}
	if s := byClass[llm.Live]; s.Calls != 3 || s.Failed != 0 || s.FirstTokenP50 <= 0 || s.FirstTokenP95 < s.FirstTokenP50 {
		t.Fatalf("live %+v", s)
	}
	if s := byClass[llm.IngestEmbed]; s.Calls != 1 || s.FirstTokenP50 != 0 {
		t.Fatalf("ingest %+v", s)
	}
	if s := byClass[llm.Nudge]; s.Calls != 1 || s.Failed != 1 {
		t.Fatalf("nudge %+v", s)
	}
}

// TestPoolRetriesABrokenStreamNobodySaw: a chat without onDelta (an AI nudge, written whole)
// whose stream breaks off is retried, on another server: no one has seen its partial text.
func TestPoolRetriesABrokenStreamNobodySaw(t *testing.T) {
	t.Parallel()
	broken := ollamatest.New(t, ollamatest.Options{ChatModels: []string{chatModel}, FailAfterDeltas: 2})
	good := ollamatest.New(t, ollamatest.Options{ChatModels: []string{chatModel}})
	p := newPool(t, broken, good)
	for range 6 {
		text, err := p.Chat(context.Background(), chatModel, msgs("write a nudge"), nil)
		if err != nil || !strings.Contains(text, "write a nudge") {
			t.Fatalf("%q %v: want the whole reply from the good server", text, err)
		}
	}
	if broken.Counts().Chat == 0 {
		t.Fatal("the broken server was never asked: the test proves nothing")
	}
}
