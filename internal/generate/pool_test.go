package generate_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/generate"
	"github.com/coachwire/coachwire/internal/ids"
	"github.com/coachwire/coachwire/internal/llm"
	"github.com/coachwire/coachwire/internal/llm/ollamatest"
	"github.com/coachwire/coachwire/internal/testenv"
)

// wire is a loopback proxy in front of an Ollama double: it keeps every /api/chat request body
// as the client sent it and, while truncate is set, ends replies with done_reason "length" (what
// Ollama answers when a reply reaches options.num_predict).
type wire struct {
	*httptest.Server
	truncate atomic.Bool
	mu       sync.Mutex
	bodies   []map[string]any
}

func newWire(t *testing.T, target string) *wire {
	t.Helper()
	w := &wire{}
	w.Server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(rw, err.Error(), http.StatusBadRequest)
			return
		}
		chat := r.URL.Path == "/api/chat"
		if chat {
			var m map[string]any
			require.NoError(t, json.Unmarshal(body, &m))
			w.mu.Lock()
			w.bodies = append(w.bodies, m)
			w.mu.Unlock()
		}
		req, err := http.NewRequestWithContext(r.Context(), r.Method, target+r.URL.Path, bytes.NewReader(body))
		if err != nil {
			http.Error(rw, err.Error(), http.StatusBadGateway)
			return
		}
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(rw, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			rw.Header()[k] = v
		}
		rw.Header().Del("Content-Length")
		rw.WriteHeader(resp.StatusCode)
		flusher, _ := rw.(http.Flusher)
		lines := bufio.NewReader(resp.Body)
		for {
			line, err := lines.ReadBytes('\n')
			if chat && w.truncate.Load() {
				line = bytes.Replace(line, []byte(`"done_reason":"stop"`), []byte(`"done_reason":"length"`), 1)
			}
			if _, werr := rw.Write(line); werr != nil {
				return
			}
			if flusher != nil {
				flusher.Flush()
			}
			if err != nil {
				return
			}
		}
	}))
	t.Cleanup(w.Close)
	return w
}

func (w *wire) chats() []map[string]any {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]map[string]any(nil), w.bodies...)
}

// pool is an llm.Pool over the given servers with settings.
func pool(t *testing.T, st llm.Settings, urls ...string) *llm.Pool {
	t.Helper()
	var servers []llm.Server
	for _, u := range urls {
		servers = append(servers, llm.Server{URL: u, Slots: 2})
	}
	p, err := llm.NewPool(context.Background(), llm.PoolOptions{Servers: servers, Settings: st,
		Client: llm.Options{Logger: slog.New(slog.DiscardHandler), InitialBackoff: 10 * time.Millisecond}})
	require.NoError(t, err)
	t.Cleanup(p.Close)
	return p
}

// TestTurnThroughPoolSettingsAndTruncation: a turn through the LLM pool sends num_ctx,
// num_predict, keep_alive and think as the official client writes them (checked on the wire and
// in the double's record); a reply that ends at the reply budget (done_reason "length") is still
// stored and sent, with status truncated.
func TestTurnThroughPoolSettingsAndTruncation(t *testing.T) {
	t.Parallel()
	srv := ollamatest.New(t, ollamatest.Options{ChatModels: []string{model}})
	wr := newWire(t, srv.URL)
	p := pool(t, llm.Settings{NumCtx: 4512, NumPredict: 512, KeepAlive: 10 * time.Minute,
		ModelOptions: map[string]map[string]any{model: {"temperature": 0.2}}}, wr.URL)
	r := newRig(t, "You are Robin, a sleep coach.")
	r.worker(t, p)
	r.run(t)
	_, conv := r.person(t, events.ChannelWidget)

	q := r.say(t, conv, "user", "When should I stop drinking caffeine?")
	r.turn(t, "turn:"+q.ID.String(), q, caffeine, "bm25")
	r.settled(t, "CW_GENERATE", "generate")
	reply := r.message(t, ids.Reply(q.ID))
	require.Equal(t, "generated", reply.Status)

	chats := wr.chats()
	require.Len(t, chats, 1)
	require.Equal(t, map[string]any{"num_ctx": float64(4512), "num_predict": float64(512), "temperature": 0.2}, chats[0]["options"])
	require.Equal(t, "10m0s", chats[0]["keep_alive"])
	require.Equal(t, false, chats[0]["think"])
	require.Equal(t, true, chats[0]["stream"])
	rec := srv.ChatRequests()
	require.Len(t, rec, 1)
	require.Equal(t, float64(512), rec[0].Options["num_predict"])
	require.Equal(t, float64(4512), rec[0].Options["num_ctx"])

	wr.truncate.Store(true)
	live := r.listen(t, events.LiveSubject(r.creator, conv))
	q2 := r.say(t, conv, "user", "And green tea?")
	r.turn(t, "turn:"+q2.ID.String(), q2, nil, "bm25")
	r.settled(t, "CW_GENERATE", "generate")
	cut := r.message(t, ids.Reply(q2.ID))
	require.Equal(t, generate.StatusTruncated, cut.Status)
	require.Contains(t, cut.Body, `You asked: "And green tea?"`, "the truncated text is kept")
	live.until(t, func(fs []events.Live) bool { return text(fs) == cut.Body })
	out := r.outbound(t, events.ChannelWidget)
	require.Len(t, out, 2, "the truncated reply is sent too")
	require.Equal(t, cut.ID, out[1].MessageID)
}

// TestTurnAnsweredWithOneServerDown: with two servers in the pool and one of them gone, every
// turn is answered by the other (the dead one is tried, taken out, and the call moves on
// before any delta was streamed).
func TestTurnAnsweredWithOneServerDown(t *testing.T) {
	t.Parallel()
	a := ollamatest.New(t, ollamatest.Options{ChatModels: []string{model}})
	b := ollamatest.New(t, ollamatest.Options{ChatModels: []string{model}})
	p := pool(t, llm.Settings{}, a.URL, b.URL)
	b.Close()
	r := newRig(t, "")
	r.worker(t, p)
	r.run(t)
	_, conv := r.person(t, events.ChannelWidget)
	for i, body := range []string{"First question?", "Second question?", "Third question?"} {
		q := r.say(t, conv, "user", body)
		r.turn(t, "turn:"+q.ID.String(), q, nil, "bm25")
		r.settled(t, "CW_GENERATE", "generate")
		reply := r.message(t, ids.Reply(q.ID))
		require.Equal(t, "generated", reply.Status, "turn %d", i)
		require.Contains(t, reply.Body, body)
	}
	require.EqualValues(t, 3, a.Counts().Chat)
	st := p.Stats()
	require.True(t, st[0].Up)
	require.False(t, st[1].Up, "the dead server was taken out")
	require.Positive(t, st[1].Failed)
}

// workRecorder records the llm.Work each chat carries.
type workRecorder struct {
	generate.Chatter
	mu  sync.Mutex
	got []llm.Work
}

func (w *workRecorder) Chat(ctx context.Context, model string, msgs []llm.Message, onDelta func(string) error) (string, error) {
	w.mu.Lock()
	w.got = append(w.got, llm.WorkOf(ctx))
	w.mu.Unlock()
	return w.Chatter.Chat(ctx, model, msgs, onDelta)
}

func (w *workRecorder) works() []llm.Work {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]llm.Work(nil), w.got...)
}

// TestWorkClasses: a live turn is scheduled as Live work of its creator (with a Usage to read
// the done reason from), an AI nudge as Nudge work of its creator (with a Usage for its budget).
func TestWorkClasses(t *testing.T) {
	t.Parallel()
	_, chat := ollama(t, ollamatest.Options{})
	live, nudges := &workRecorder{Chatter: chat}, &workRecorder{Chatter: chat}
	r := newRig(t, "")
	r.worker(t, live)
	cw := &generate.Composer{Store: r.store, Bus: r.b, LLM: nudges, Model: model, Log: testenv.Logger(t)}
	require.NoError(t, cw.Register(context.Background(), r.router))
	r.run(t)
	eu, conv := r.person(t, events.ChannelWidget)

	q := r.say(t, conv, "user", "How long should I nap?")
	r.turn(t, "turn:"+q.ID.String(), q, nil, "bm25")
	r.settled(t, "CW_GENERATE", "generate")
	got := live.works()
	require.Len(t, got, 1)
	require.Equal(t, llm.Live, got[0].Class)
	require.Equal(t, r.creator, got[0].Creator)
	require.NotNil(t, got[0].Usage)

	r.compose(t, "n", events.NudgeCompose{MessageID: uuid.New(), ConversationID: conv, EndUserID: eu, Channel: "widget", Brief: "Ask about their week."})
	r.settled(t, "CW_COMPOSE", "compose")
	got = nudges.works()
	require.Len(t, got, 1)
	require.Equal(t, llm.Nudge, got[0].Class)
	require.Equal(t, r.creator, got[0].Creator)
	require.NotNil(t, got[0].Usage, "the composer reads the tokens to record against the budget")
}
