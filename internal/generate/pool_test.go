package generate_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/generate"
	"github.com/coachwire/coachwire/internal/ids"
	"github.com/coachwire/coachwire/internal/llm"
	"github.com/coachwire/coachwire/internal/llm/llmtest"
	"github.com/coachwire/coachwire/internal/llm/ollamatest"
	"github.com/coachwire/coachwire/internal/testenv"
)

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
// num_predict, keep_alive and think as the official client writes them (checked in the double's
// record of the request body); a reply that ends at the reply budget (done_reason "length") is
// still stored and sent, with status truncated.
func TestTurnThroughPoolSettingsAndTruncation(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("Green tea has less caffeine than coffee. ", 80) // 3,280 characters: over 512 deltas of 4
	srv := ollamatest.New(t, ollamatest.Options{ChatModels: []string{model}, Reply: func(req ollamatest.ChatRequest) string {
		last := req.Messages[len(req.Messages)-1].Content
		if strings.Contains(last, "green tea") {
			return long
		}
		return ollamatest.DefaultReply(req)
	}})
	p := pool(t, llm.Settings{NumCtx: 4512, NumPredict: 512, KeepAlive: 10 * time.Minute,
		ModelOptions: map[string]map[string]any{model: {"temperature": 0.2}}}, srv.URL)
	r := newRig(t, "You are Robin, a sleep coach.")
	r.worker(t, p)
	r.run(t)
	_, conv := r.person(t, events.ChannelWidget)

	q := r.say(t, conv, "user", "When should I stop drinking caffeine?")
	r.turn(t, "turn:"+q.ID.String(), q, caffeine, "bm25")
	r.settled(t, "CW_GENERATE", "generate")
	reply := r.message(t, ids.Reply(q.ID))
	require.Equal(t, "generated", reply.Status)

	rec := srv.ChatRequests()
	require.Len(t, rec, 1)
	require.Equal(t, map[string]any{"num_ctx": float64(4512), "num_predict": float64(512), "temperature": 0.2}, rec[0].Options)
	require.Equal(t, `"10m0s"`, string(rec[0].KeepAlive))
	require.Equal(t, "false", string(rec[0].Think))
	require.True(t, *rec[0].Stream)

	live := r.listen(t, events.LiveSubject(r.creator, conv))
	q2 := r.say(t, conv, "user", "And green tea?")
	r.turn(t, "turn:"+q2.ID.String(), q2, nil, "bm25")
	r.settled(t, "CW_GENERATE", "generate")
	cut := r.message(t, ids.Reply(q2.ID))
	require.Equal(t, generate.StatusTruncated, cut.Status)
	require.Equal(t, long[:512*4], cut.Body, "the text up to the reply budget is kept")
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

// TestWorkClasses: a live turn is scheduled as Live work of its creator (with a Usage to read
// the done reason from), an AI nudge as Nudge work of its creator (with a Usage for its budget).
func TestWorkClasses(t *testing.T) {
	t.Parallel()
	_, chat := ollama(t, ollamatest.Options{})
	live, nudges := &llmtest.Recorder{Next: chat}, &llmtest.Recorder{Next: chat}
	r := newRig(t, "")
	r.worker(t, live)
	cw := &generate.Composer{Store: r.store, Bus: r.b, LLM: nudges, Model: model, Log: testenv.Logger(t)}
	require.NoError(t, cw.Register(context.Background(), r.router))
	r.run(t)
	eu, conv := r.person(t, events.ChannelWidget)

	q := r.say(t, conv, "user", "How long should I nap?")
	r.turn(t, "turn:"+q.ID.String(), q, nil, "bm25")
	r.settled(t, "CW_GENERATE", "generate")
	got := live.Works()
	require.Len(t, got, 1)
	require.Equal(t, llm.Live, got[0].Class)
	require.Equal(t, r.creator, got[0].Creator)
	require.NotNil(t, got[0].Usage)

	r.compose(t, "n", events.NudgeCompose{MessageID: uuid.New(), ConversationID: conv, EndUserID: eu, Channel: "widget", Brief: "Ask about their week."})
	r.settled(t, "CW_COMPOSE", "compose")
	got = nudges.Works()
	require.Len(t, got, 1)
	require.Equal(t, llm.Nudge, got[0].Class)
	require.Equal(t, r.creator, got[0].Creator)
	require.NotNil(t, got[0].Usage, "the composer reads the tokens to record against the budget")
}
