package memory_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/bus"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/llm/ollamatest"
	"github.com/coachwire/coachwire/internal/memory"
	"github.com/coachwire/coachwire/internal/testenv"
)

// runWorker starts w on a bus of its own and returns the bus.
func runWorker(t *testing.T, w *memory.Worker) *bus.Bus {
	t.Helper()
	b := testenv.OwnBus(t)
	w.Log = testenv.Logger(t)
	router, err := bus.NewRouter(b, w.Log)
	require.NoError(t, err)
	require.NoError(t, w.Register(context.Background(), router))
	go func() { _ = router.Run(context.Background()) }()
	<-router.Running()
	t.Cleanup(func() { _ = router.Close() })
	return b
}

// write stores a message of the person and returns its id.
func (p person) write(t *testing.T, s *db.Store, role, body string) uuid.UUID {
	t.Helper()
	ctx := context.Background()
	id := uuid.New()
	require.NoError(t, s.InTenant(ctx, p.creator, func(q *db.Queries) error {
		_, err := q.InsertMessage(ctx, db.InsertMessageParams{ID: id, CreatorID: p.creator, ConversationID: p.conv,
			Role: role, Body: body, Sources: json.RawMessage("[]"), Channel: "widget", Status: "received"})
		return err
	}))
	return id
}

// request tells the memory worker the person wrote msg, as retrieve does on a redelivery of
// the message (without its gseq; key is the bus message id: "memory:<msg>" like retrieve's,
// anything else a redelivery).
func (p person) request(t *testing.T, b *bus.Bus, key string, msg uuid.UUID) {
	t.Helper()
	p.requestSeq(t, b, key, msg, 0)
}

// requestSeq is request with the message's gseq, as retrieve sends it when it stored the
// message.
func (p person) requestSeq(t *testing.T, b *bus.Bus, key string, msg uuid.UUID, gseq int64) {
	t.Helper()
	ev := events.New(p.creator, events.MemoryRequested{EndUserID: p.endUser, ConversationID: p.conv, MessageID: msg, Gseq: gseq}, nil, time.Now())
	require.NoError(t, bus.PublishEvent(context.Background(), b, events.MemorySubject(p.creator), key, ev))
}

// gseq reads message id's gseq.
func (p person) gseq(t *testing.T, s *db.Store, id uuid.UUID) int64 {
	t.Helper()
	ctx := context.Background()
	var m db.Message
	require.NoError(t, s.InTenant(ctx, p.creator, func(q *db.Queries) (err error) {
		m, err = q.GetMessage(ctx, id)
		return err
	}))
	return m.Gseq
}

// settled waits until the memory consumer has acknowledged every request (deferred ones
// included, once their quiet time is over).
func settled(t *testing.T, b *bus.Bus) {
	t.Helper()
	ctx := context.Background()
	testenv.Eventually(t, 60*time.Second, func() bool {
		s, err := b.JetStream().Stream(ctx, "CW_MEMORY")
		require.NoError(t, err)
		si, err := s.Info(ctx)
		require.NoError(t, err)
		c, err := s.Consumer(ctx, "memory")
		require.NoError(t, err)
		ci, err := c.Info(ctx)
		require.NoError(t, err)
		return ci.AckFloor.Stream >= si.State.LastSeq && ci.NumAckPending == 0 && ci.NumPending == 0
	}, "the memory worker to settle every request")
}

// TestWorkerExtractsWhenQuiet: a burst of messages is extracted once, after the person went
// quiet; a later message is extracted again from the profile so far; after an erase a
// redelivered request for an old message extracts nothing and new messages start a new profile
// without the erased items; a request for a message that is gone is dropped.
// Replaces internal/app TestMemoryFromConversation (with retrieve TestWidgetCommands for the
// command, generate TestTurnStreamedAndStored for the profile in the reply's prompt).
func TestWorkerExtractsWhenQuiet(t *testing.T) {
	t.Parallel()
	s := testenv.Store(t)
	ctx := context.Background()
	p := newPerson(t, s)
	x, srv := extractor(t, s, ollamatest.Options{})
	b := runWorker(t, &memory.Worker{Extractor: x, Every: 40, Idle: time.Second})

	m1 := p.write(t, s, "user", "Hi coach. My goal is to run a 10k in spring.")
	p.write(t, s, "assistant", "Great goal.")
	m2 := p.write(t, s, "user", "I prefer short workouts before work.")
	p.requestSeq(t, b, "memory:"+m1.String(), m1, p.gseq(t, s, m1))
	p.requestSeq(t, b, "memory:"+m2.String(), m2, p.gseq(t, s, m2))
	settled(t, b)
	got := p.profile(t, s)
	require.Equal(t, []string{"run a 10k in spring"}, got.Goals)
	require.Equal(t, []string{"short workouts before work"}, got.Preferences)
	require.EqualValues(t, 1, srv.Counts().Chat, "two messages, one extraction once the person went quiet")

	m3 := p.write(t, s, "user", "What should I do today?")
	p.request(t, b, "memory:"+m3.String(), m3)
	settled(t, b)
	require.EqualValues(t, 2, srv.Counts().Chat)
	require.Contains(t, lastPrompt(t, srv), "What should I do today?")
	require.NotContains(t, lastPrompt(t, srv), "person: I prefer short workouts", "only the new message is read")
	require.Equal(t, []string{"run a 10k in spring"}, p.profile(t, s).Goals, "kept")

	// The person erases their memory (retrieve's /forget); the old messages never bring it back.
	require.NoError(t, s.InTenant(ctx, p.creator, func(q *db.Queries) error {
		_, err := memory.Erase(ctx, q, p.creator, p.endUser)
		return err
	}))
	p.request(t, b, "redelivery", m2)
	p.request(t, b, "gone", uuid.New())
	// A message retrieve stored (it names its gseq) that is gone by now: dropped, not deferred
	// until its deliveries run out and dead-lettered.
	p.requestSeq(t, b, "gone-stored", uuid.New(), p.gseq(t, s, m3)+1000)
	settled(t, b)
	require.EqualValues(t, 2, srv.Counts().Chat, "nothing to extract")
	require.True(t, p.profile(t, s).Empty())
	dlq, err := b.JetStream().Stream(ctx, events.StreamDLQ)
	require.NoError(t, err)
	info, err := dlq.Info(ctx)
	require.NoError(t, err)
	require.Zero(t, info.State.Msgs, "nothing dead-lettered")

	m4 := p.write(t, s, "user", "My goal is to sleep eight hours.")
	p.request(t, b, "memory:"+m4.String(), m4)
	settled(t, b)
	got = p.profile(t, s)
	require.Equal(t, []string{"sleep eight hours"}, got.Goals, "only what was said after the erase")
	require.Empty(t, got.Preferences)
	require.NotContains(t, lastPrompt(t, srv), "10k", "the erased profile and old messages are not in it")
}

// TestWorkerEveryNMessages: a person who keeps writing is extracted at the N-th message without
// waiting for them to go quiet; fewer than N wait (here an hour).
// Replaces internal/app TestMemoryEveryNMessages.
func TestWorkerEveryNMessages(t *testing.T) {
	t.Parallel()
	s := testenv.Store(t)
	p := newPerson(t, s)
	x, srv := extractor(t, s, ollamatest.Options{})
	b := runWorker(t, &memory.Worker{Extractor: x, Every: 3, Idle: time.Hour})

	for _, text := range []string{"My goal is to cook at home.", "I am vegetarian.", "I commit to cooking twice a week."} {
		id := p.write(t, s, "user", text)
		p.request(t, b, "memory:"+id.String(), id)
	}
	testenv.Eventually(t, 30*time.Second, func() bool { return len(p.profile(t, s).Commitments) > 0 }, "extracted at the third message")
	got := p.profile(t, s)
	require.Equal(t, []string{"cook at home"}, got.Goals)
	require.Equal(t, []string{"I am vegetarian"}, got.Facts)
	require.Equal(t, []string{"cooking twice a week"}, got.Commitments)
	// Requests are handled one at a time in order: had the first two not waited, the model would
	// have been called before the third.
	require.EqualValues(t, 1, srv.Counts().Chat, "one extraction, at the third message")
}

// TestWorkerOff: with extraction off (Every 0) or no model, requests are acknowledged and
// nothing is extracted.
func TestWorkerOff(t *testing.T) {
	t.Parallel()
	s := testenv.Store(t)
	for _, tc := range []struct {
		name  string
		every int
		model bool
	}{{"every 0", 0, true}, {"no model", 3, false}} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPerson(t, s)
			x, srv := extractor(t, s, ollamatest.Options{})
			if !tc.model {
				x.LLM = nil
			}
			b := runWorker(t, &memory.Worker{Extractor: x, Every: tc.every})
			id := p.write(t, s, "user", "My goal is to cook at home.")
			p.request(t, b, "memory:"+id.String(), id)
			settled(t, b)
			require.Zero(t, srv.Counts().Chat)
			require.True(t, p.profile(t, s).Empty())
		})
	}
}

// TestWorkerModelDown: an extraction the model fails is retried later, and the profile is
// extracted once the model answers again.
func TestWorkerModelDown(t *testing.T) {
	t.Parallel()
	s := testenv.Store(t)
	p := newPerson(t, s)
	x, srv := extractor(t, s, ollamatest.Options{Status: http.StatusServiceUnavailable, StatusTimes: 1})
	b := runWorker(t, &memory.Worker{Extractor: x, Every: 1})
	id := p.write(t, s, "user", "My goal is to swim a mile.")
	p.request(t, b, "memory:"+id.String(), id)
	settled(t, b)
	require.Equal(t, []string{"swim a mile"}, p.profile(t, s).Goals)
	require.EqualValues(t, 2, srv.Counts().Chat, "the failed call, then the one that worked")
}

func TestValidate(t *testing.T) {
	require.NoError(t, memory.Profile{Goals: []string{"Run a 10k"}}.Validate())
	many := make([]string, memory.MaxItems+1)
	require.ErrorContains(t, memory.Profile{Facts: many}.Validate(), "facts: at most 20 items")
	require.ErrorContains(t, memory.Profile{Goals: []string{strings.Repeat("é", memory.MaxItemLen+1)}}.Validate(), "goals: items of at most 300 characters")
	require.NoError(t, memory.Profile{Goals: []string{strings.Repeat("é", memory.MaxItemLen)}}.Validate())
}
