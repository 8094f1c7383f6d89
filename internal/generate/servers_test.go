package generate_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/ids"
	"github.com/coachwire/coachwire/internal/llm"
	"github.com/coachwire/coachwire/internal/llm/ollamatest"
	"github.com/coachwire/coachwire/internal/testenv"
)

// TestServerDiesMidStream: with two Ollama servers, a reply whose stream breaks off is the
// honest apology, stored and sent once: the pool does not move a streaming reply to the other
// server. The server that broke is taken out (the next turn goes to the other one) and comes back
// once it answers again.
func TestServerDiesMidStream(t *testing.T) {
	t.Parallel()
	broken := ollamatest.Options{ChatModels: []string{model}, FailAfterDeltas: 3}
	a, b := ollamatest.New(t, broken), ollamatest.New(t, broken)
	pool, err := llm.NewPool(context.Background(), llm.PoolOptions{
		Servers: []llm.Server{{URL: a.URL, Slots: 1}, {URL: b.URL, Slots: 1}},
		Client:  llm.Options{InitialBackoff: 5 * time.Millisecond, Logger: testenv.Logger(t)},
		// Long enough that the server that broke stays out for the second turn.
		Probe: 5 * time.Second, Recheck: time.Hour,
	})
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	r := newRig(t, "")
	r.worker(t, pool)
	r.run(t)
	_, conv := r.person(t, events.ChannelWidget)

	q := r.say(t, conv, "user", "caffeine before bedtime")
	r.turn(t, q.ID.String(), q, caffeine, "bm25")
	r.settled(t, "CW_GENERATE", "generate")
	reply := r.message(t, ids.Reply(q.ID))
	require.Equal(t, "llm_error", reply.Status)
	require.True(t, strings.HasPrefix(reply.Body, "I'm sorry, I couldn't finish my answer"), reply.Body)
	require.EqualValues(t, 1, a.Counts().Chat+b.Counts().Chat, "a reply that broke off mid-stream is not asked of the other server")
	require.Len(t, r.outbound(t, "widget"), 1)

	st := pool.Stats()
	require.EqualValues(t, 1, st[0].Failed+st[1].Failed, "%+v", st)
	outIdx, out, in := 0, a, b
	if st[1].Failed == 1 {
		outIdx, out, in = 1, b, a
	}
	require.False(t, st[outIdx].Up, "the server that broke the stream is out: %+v", st)
	in.SetOptions(ollamatest.Options{ChatModels: []string{model}})
	q2 := r.say(t, conv, "user", "and coffee after lunch?")
	r.turn(t, q2.ID.String(), q2, caffeine, "bm25")
	r.settled(t, "CW_GENERATE", "generate")
	require.Equal(t, "generated", r.message(t, ids.Reply(q2.ID)).Status)
	require.EqualValues(t, 1, out.Counts().Chat, "the server that is out got the next turn")

	out.SetOptions(ollamatest.Options{ChatModels: []string{model}})
	require.Eventually(t, func() bool { s := pool.Stats(); return s[0].Up && s[1].Up }, 20*time.Second, 10*time.Millisecond,
		"the repaired server is probed back in")
}
