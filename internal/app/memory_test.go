package app_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/llm/ollamatest"
	"github.com/coachwire/coachwire/internal/memory/memorytest"
	"github.com/coachwire/coachwire/internal/testenv"
)

// extractions counts the structured (memory extraction) requests the model double received
// about this test's person: requests that carry one of marks (what the person said, or their
// profile). The package's tests share one NATS, so a memory request another test left in the
// stream can reach this test's double; it carries other text.
func extractions(s *ollamatest.Server, marks ...string) int {
	n := 0
	for _, r := range s.ChatRequests() {
		if len(r.Format) == 0 {
			continue
		}
	next:
		for _, m := range r.Messages {
			for _, mark := range marks {
				if strings.Contains(m.Content, mark) {
					n++
					break next
				}
			}
		}
	}
	return n
}

// TestMemoryFromConversation: what a person tells the coach over the widget becomes their
// profile once they go quiet (a burst of messages costs one extraction), the creator sees it,
// the next reply is written with it, and after "forget my memory" it is gone for good: old
// messages never bring it back, new ones start a new profile.
func TestMemoryFromConversation(t *testing.T) {
	t.Parallel()
	h := newHarness(t, ollamatest.Options{DeltaDelay: time.Millisecond, JSONReply: memorytest.Reply})
	cfg := h.config()
	cfg.MemoryEvery, cfg.MemoryIdle = 40, 3*time.Second // extract when the person is quiet (longer than a turn takes on a loaded machine, so the burst of two is one extraction)
	a := h.start(cfg)
	c := testenv.NewClient(a.URL)
	cr := c.Register(t)
	api := creatorAPI{c: c, cr: &cr}
	ctx := context.Background()
	chats := coachTurns(t, h.ollama, func(persona string) { c.SetWidget(t, cr, persona) })
	marks := []string{"10k in spring", "short workouts", "What should I do today", "erase my memory", "sleep eight hours"}

	sess := c.StartWidget(t, cr.WidgetKey, "anon-"+uuid.NewString())
	ws, _, err := c.DialWidget(ctx, sess, 0, nil)
	require.NoError(t, err)
	defer ws.CloseNow()
	ws.Next(t, 10*time.Second, func(f testenv.Frame) bool { return f.Type == "ready" })
	say := func(text string) testenv.Frame {
		t.Helper()
		_, err := ws.Say(ctx, text)
		require.NoError(t, err)
		return ws.Next(t, 30*time.Second, testenv.IsReply)
	}

	say("Hi coach. My goal is to run a 10k in spring.")
	say("I prefer short workouts before work.")
	testenv.Eventually(t, 30*time.Second, func() bool { return len(api.memory(t, sess.EndUserID).Goals) > 0 }, "profile extracted")
	p := api.memory(t, sess.EndUserID)
	require.Equal(t, []string{"run a 10k in spring"}, p.Goals)
	require.Equal(t, []string{"short workouts before work"}, p.Preferences)
	require.Equal(t, 1, extractions(h.ollama, marks...), "two messages, one extraction once the person went quiet")
	require.Equal(t, 2, chats())

	// The next reply is written knowing the person.
	say("What should I do today?")
	var turn ollamatest.ChatRequest
	for _, r := range h.ollama.ChatRequests() {
		if len(r.Format) == 0 && strings.Contains(r.Messages[len(r.Messages)-1].Content, "What should I do today?") {
			turn = r
		}
	}
	require.NotEmpty(t, turn.Messages, "the turn reached the model")
	sys := turn.Messages[0].Content
	require.Contains(t, sys, "<profile>\nGoals: run a 10k in spring\nPreferences: short workouts before work\n</profile>")
	testenv.Eventually(t, 30*time.Second, func() bool { return extractions(h.ollama, marks...) == 2 }, "the question extracted (nothing new in it)")
	require.Equal(t, []string{"run a 10k in spring"}, api.memory(t, sess.EndUserID).Goals, "kept")

	// The person erases it; extraction never brings it back from old messages.
	reply := say("Please erase my memory")
	require.Contains(t, reply.Text, "erased")
	require.True(t, api.memory(t, sess.EndUserID).empty())
	noFurtherReply(t, ws, 3*cfg.MemoryIdle)
	require.Equal(t, 2, extractions(h.ollama, marks...), "a command is not extracted")
	require.True(t, api.memory(t, sess.EndUserID).empty(), "nothing came back from before the erase")

	say("My goal is to sleep eight hours.")
	testenv.Eventually(t, 30*time.Second, func() bool { return len(api.memory(t, sess.EndUserID).Goals) > 0 }, "new profile extracted")
	p = api.memory(t, sess.EndUserID)
	require.Equal(t, []string{"sleep eight hours"}, p.Goals, "only what was said after the erase")
	require.Empty(t, p.Preferences)
	reqs := h.ollama.ChatRequests()
	last := reqs[len(reqs)-1]
	require.NotEmpty(t, last.Format, "the newest request is the extraction")
	require.NotContains(t, last.Messages[len(last.Messages)-1].Content, "10k", "the erased profile and old messages are not in it")
}

// TestMemoryEveryNMessages: a person who keeps writing is extracted after every N messages,
// without waiting for them to go quiet; fewer than N wait.
func TestMemoryEveryNMessages(t *testing.T) {
	t.Parallel()
	h := newHarness(t, ollamatest.Options{DeltaDelay: time.Millisecond, JSONReply: memorytest.Reply})
	cfg := h.config()
	cfg.MemoryEvery, cfg.MemoryIdle = 3, time.Hour
	a := h.start(cfg)
	c := testenv.NewClient(a.URL)
	cr := c.Register(t)
	api := creatorAPI{c: c, cr: &cr}
	ctx := context.Background()

	sess := c.StartWidget(t, cr.WidgetKey, "anon-"+uuid.NewString())
	ws, _, err := c.DialWidget(ctx, sess, 0, nil)
	require.NoError(t, err)
	defer ws.CloseNow()
	ws.Next(t, 10*time.Second, func(f testenv.Frame) bool { return f.Type == "ready" })
	marks := []string{"cook", "vegetarian"}
	for _, text := range []string{"My goal is to cook at home.", "I am vegetarian."} {
		_, err := ws.Say(ctx, text)
		require.NoError(t, err)
		ws.Next(t, 30*time.Second, testenv.IsReply)
	}
	noFurtherReply(t, ws, 1500*time.Millisecond)
	require.Zero(t, extractions(h.ollama, marks...), "two messages wait for a third (or an hour of quiet)")
	require.True(t, api.memory(t, sess.EndUserID).empty())

	_, err = ws.Say(ctx, "I commit to cooking twice a week.")
	require.NoError(t, err)
	testenv.Eventually(t, 30*time.Second, func() bool { return len(api.memory(t, sess.EndUserID).Commitments) > 0 }, "extracted at the third message")
	p := api.memory(t, sess.EndUserID)
	require.Equal(t, []string{"cook at home"}, p.Goals)
	require.Equal(t, []string{"I am vegetarian"}, p.Facts)
	require.Equal(t, []string{"cooking twice a week"}, p.Commitments)
	require.LessOrEqual(t, extractions(h.ollama, marks...), 2, "one extraction (two when two requests raced; the second stores nothing)")
}
