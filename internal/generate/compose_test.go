package generate_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/bus"
	"github.com/coachwire/coachwire/internal/generate"
	"github.com/coachwire/coachwire/internal/knowledge"
	"github.com/coachwire/coachwire/internal/llm/ollamatest"
	"github.com/coachwire/coachwire/internal/testenv"
)

var (
	kOnce  sync.Once
	kStore *knowledge.Store
	kErr   error
)

// index is the package's knowledge store on the real Weaviate.
func index(t *testing.T) *knowledge.Store {
	t.Helper()
	url := testenv.Weaviate(t)
	kOnce.Do(func() { kStore, kErr = knowledge.New(context.Background(), url) })
	require.NoError(t, kErr)
	return kStore
}

// compose asks the composer for an AI nudge under the bus message id key.
func (r *rig) compose(t *testing.T, key string, in events.NudgeCompose) {
	t.Helper()
	ev := events.New(r.creator, in, nil, time.Now())
	require.NoError(t, bus.PublishEvent(context.Background(), r.b, events.ComposeSubject(r.creator), key, ev))
}

// TestComposer: an AI nudge is written by the model from the creator's brief, the person's
// profile and recent conversation and the creator's knowledge (searched on the real Weaviate;
// the double's reply repeats what reached it), stored under the decided id with the passages as
// sources and handed to dispatch; a redelivery writes nothing again. With the model down the
// campaign's fallback text is sent on the last attempt, or, without one, the message is recorded
// as failed and not sent. A conversation that is not the person's is dead-lettered.
// Replaces the generate half of internal/app TestNudgeAIPersonalized.
func TestComposer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ks := index(t)
	srv, chat := ollama(t, ollamatest.Options{})
	r := newRig(t, "You are Robin, a sleep coach.")
	w := &generate.Composer{Store: r.store, Bus: r.b, LLM: chat, Model: model, Search: ks, MaxDeliver: 2, Log: testenv.Logger(t)}
	require.NoError(t, w.Register(ctx, r.router))
	r.run(t)
	doc := uuid.New()
	require.NoError(t, ks.EnsureTenant(ctx, r.creator))
	require.NoError(t, ks.UpsertChunks(ctx, r.creator, []knowledge.Chunk{{DocumentID: doc, Title: "Sleep hygiene", Heading: "Routine",
		Text: "Keep a fixed wake-up time and dim the lights an hour before bed."}}))
	// The first search of a new tenant (Weaviate's first query for it, the query analysers'
	// word lists) took longer than the composer's 5 s search bound on a loaded machine with
	// -race, and the nudge was written without passages: searched once first.
	_, err := ks.Search(ctx, r.creator, "sleep routine", nil, 5)
	require.NoError(t, err)

	runner, runnerConv := r.person(t, events.ChannelWidget)
	r.putMemory(t, runner, map[string][]string{"goals": {"run a 10k in spring"}})
	other, otherConv := r.person(t, events.ChannelWidget)
	r.say(t, otherConv, "user", "I slept badly after a late coffee")
	nudge := func(eu, conv uuid.UUID, brief, fallback string) events.NudgeCompose {
		return events.NudgeCompose{MessageID: uuid.New(), ConversationID: conv, EndUserID: eu, Channel: "widget", OccurrenceID: uuid.New(),
			Brief: brief, Fallback: fallback}
	}

	// 1. Written by the model, each for its person.
	brief := "Encourage them to keep a steady sleep routine: dim lights before bed."
	a, b := nudge(runner, runnerConv, brief, ""), nudge(other, otherConv, brief, "")
	r.compose(t, "a", a)
	r.compose(t, "b", b)
	r.settled(t, "CW_COMPOSE", "compose")
	for _, tc := range []struct {
		in   events.NudgeCompose
		mine string
		not  string
	}{{a, "run a 10k in spring", "late coffee"}, {b, "late coffee", "run a 10k in spring"}} {
		m := r.message(t, tc.in.MessageID)
		require.Equal(t, "queued", m.Status)
		require.Equal(t, "assistant", m.Role)
		require.Contains(t, m.Body, "Encourage them to keep a steady sleep routine", "the brief reached the model")
		require.Contains(t, m.Body, "dim the lights an hour before bed", "the creator's knowledge reached the model")
		require.Contains(t, m.Body, tc.mine)
		require.NotContains(t, m.Body, tc.not, "only this person's memory and conversation")
		src := sources(t, m)
		require.Len(t, src, 1)
		require.Equal(t, doc, src[0].DocumentID)
	}
	require.Len(t, srv.ChatRequests(), 2, "one model call per recipient")
	for _, req := range srv.ChatRequests() {
		require.Contains(t, req.Messages[0].Content, "proactive message")
		require.Contains(t, req.Messages[0].Content, "You are Robin, a sleep coach.")
	}
	require.Len(t, r.outbound(t, "widget"), 2)

	// Redelivered: nothing written again, nothing new sent.
	r.compose(t, "a-again", a)
	r.settled(t, "CW_COMPOSE", "compose")
	require.Len(t, srv.ChatRequests(), 2)
	require.Len(t, r.outbound(t, "widget"), 2)

	// 2. The model is down: the fallback text goes out; without one the message fails.
	srv.SetOptions(ollamatest.Options{ChatModels: []string{model}, Status: http.StatusInternalServerError})
	fb := nudge(runner, runnerConv, "Ask about their week.", "Hi Ana, how was your week?")
	none := nudge(other, otherConv, "Ask about their weekend.", "")
	r.compose(t, "fb", fb)
	r.compose(t, "none", none)
	r.settled(t, "CW_COMPOSE", "compose")
	m := r.message(t, fb.MessageID)
	require.Equal(t, "Hi Ana, how was your week?", m.Body)
	require.Equal(t, "queued", m.Status)
	require.Empty(t, sources(t, m))
	m = r.message(t, none.MessageID)
	require.Equal(t, "failed", m.Status)
	require.Empty(t, m.Body)
	require.True(t, strings.Contains(m.Error, "chat"), m.Error)
	out := r.outbound(t, "widget")
	require.Len(t, out, 3, "the failed message is not sent")
	require.Equal(t, fb.MessageID, out[2].MessageID)

	// Another person's conversation.
	r.compose(t, "bad", nudge(runner, otherConv, brief, ""))
	r.settled(t, "CW_COMPOSE", "compose")
	require.Len(t, r.stream(t, "CW_DLQ", "dlq.CW_COMPOSE"), 1)
}

// TestComposerWithoutModel: in passages mode an AI nudge is not retried: the fallback text is
// sent at once, or the message is recorded as failed.
func TestComposerWithoutModel(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRig(t, "")
	w := &generate.Composer{Store: r.store, Bus: r.b, Log: testenv.Logger(t)}
	require.NoError(t, w.Register(ctx, r.router))
	r.run(t)
	eu, conv := r.person(t, events.ChannelWidget)
	fb := events.NudgeCompose{MessageID: uuid.New(), ConversationID: conv, EndUserID: eu, Channel: "widget", Brief: "b", Fallback: "Hello!"}
	none := events.NudgeCompose{MessageID: uuid.New(), ConversationID: conv, EndUserID: eu, Channel: "widget", Brief: "b"}
	r.compose(t, "fb", fb)
	r.compose(t, "none", none)
	r.settled(t, "CW_COMPOSE", "compose")
	require.Equal(t, "Hello!", r.message(t, fb.MessageID).Body)
	require.Equal(t, "failed", r.message(t, none.MessageID).Status)
	require.Len(t, r.outbound(t, "widget"), 1)
}
