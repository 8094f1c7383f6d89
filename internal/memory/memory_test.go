package memory_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/llm"
	"github.com/coachwire/coachwire/internal/llm/llmtest"
	"github.com/coachwire/coachwire/internal/llm/ollamatest"
	"github.com/coachwire/coachwire/internal/memory"
	"github.com/coachwire/coachwire/internal/memory/memorytest"
	"github.com/coachwire/coachwire/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const model = "llama3.2"

// person is one end user with one widget conversation of a fresh creator.
type person struct {
	creator, endUser, conv uuid.UUID
}

func newPerson(t *testing.T, s *db.Store) person {
	t.Helper()
	ctx := context.Background()
	p := person{creator: uuid.New(), endUser: uuid.New(), conv: uuid.New()}
	require.NoError(t, s.InTenant(ctx, p.creator, func(q *db.Queries) error {
		if _, err := q.InsertCreator(ctx, db.InsertCreatorParams{ID: p.creator, Name: "c", Email: p.creator.String() + "@example.com",
			WidgetKey: "wk_" + p.creator.String(), WidgetSecret: "s", AllowedOrigins: []string{}}); err != nil {
			return err
		}
		if _, err := q.UpsertEndUser(ctx, db.UpsertEndUserParams{ID: p.endUser, CreatorID: p.creator, Channel: "widget", ExternalID: "anon"}); err != nil {
			return err
		}
		_, err := q.UpsertConversation(ctx, db.UpsertConversationParams{ID: p.conv, CreatorID: p.creator, EndUserID: p.endUser, Channel: "widget"})
		return err
	}))
	return p
}

func (p person) say(t *testing.T, s *db.Store, role, body string) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, s.InTenant(ctx, p.creator, func(q *db.Queries) error {
		_, err := q.InsertMessage(ctx, db.InsertMessageParams{ID: uuid.New(), CreatorID: p.creator, ConversationID: p.conv,
			Role: role, Body: body, Sources: json.RawMessage("[]"), Channel: "widget", Status: "received"})
		return err
	}))
}

func (p person) profile(t *testing.T, s *db.Store) memory.Profile {
	t.Helper()
	ctx := context.Background()
	var out memory.Profile
	require.NoError(t, s.InTenant(ctx, p.creator, func(q *db.Queries) error {
		m, err := q.GetMemory(ctx, p.endUser)
		if db.IsNotFound(err) {
			return nil
		}
		out = memory.Parse(m.Profile)
		return err
	}))
	return out
}

func extractor(t *testing.T, s *db.Store, opts ollamatest.Options) (*memory.Extractor, *ollamatest.Server) {
	t.Helper()
	opts.ChatModels = []string{model}
	if opts.JSONReply == nil {
		opts.JSONReply = memorytest.Reply
	}
	srv := ollamatest.New(t, opts)
	c, err := llm.New(srv.URL, llm.Options{MaxAttempts: 1, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	return &memory.Extractor{Store: s, LLM: c, Model: model}, srv
}

// lastPrompt is the conversation part of the newest extraction request.
func lastPrompt(t *testing.T, srv *ollamatest.Server) string {
	t.Helper()
	reqs := srv.ChatRequests()
	require.NotEmpty(t, reqs)
	return reqs[len(reqs)-1].Messages[1].Content
}

// Extraction reads only what was written since the last one and keeps what the profile had;
// erasing empties the profile and old messages never bring the erased facts back.
func TestExtractIncrementalThenErase(t *testing.T) {
	s := testenv.Store(t)
	ctx := context.Background()
	p := newPerson(t, s)
	x, srv := extractor(t, s, ollamatest.Options{})
	rec := &llmtest.Recorder{Next: x.LLM}
	x.LLM = rec

	p.say(t, s, "user", "Hi! My goal is to run a marathon in May. I prefer morning workouts.")
	p.say(t, s, "assistant", "Great goal. I prefer evenings myself.") // the coach's words are not the person's
	got, err := x.Extract(ctx, p.creator, p.endUser)
	require.NoError(t, err)
	require.Equal(t, []llm.Work{{Class: llm.Memory, Creator: p.creator}}, rec.Works(), "scheduled as memory work of the creator")
	require.Equal(t, []string{"run a marathon in May"}, got.Goals)
	require.Equal(t, []string{"morning workouts"}, got.Preferences)
	require.Equal(t, got, p.profile(t, s), "stored")

	// Nothing new: no model call.
	calls := srv.Counts().Chat
	_, err = x.Extract(ctx, p.creator, p.endUser)
	require.NoError(t, err)
	require.Equal(t, calls, srv.Counts().Chat)

	p.say(t, s, "user", "I commit to three runs a week.")
	got, err = x.Extract(ctx, p.creator, p.endUser)
	require.NoError(t, err)
	require.Equal(t, []string{"run a marathon in May"}, got.Goals, "kept from the current profile")
	require.Equal(t, []string{"three runs a week"}, got.Commitments)
	prompt := lastPrompt(t, srv)
	require.Contains(t, prompt, "three runs a week")
	require.NotContains(t, prompt, "person: Hi! My goal", "old messages are not read again")
	require.Contains(t, prompt, "run a marathon in May", "the current profile is the starting point")

	// Erase: empty now, and the old messages stay behind the floor.
	var had bool
	require.NoError(t, s.InTenant(ctx, p.creator, func(q *db.Queries) error {
		had, err = memory.Erase(ctx, q, p.creator, p.endUser)
		return err
	}))
	require.True(t, had)
	require.True(t, p.profile(t, s).Empty())
	calls = srv.Counts().Chat
	got, err = x.Extract(ctx, p.creator, p.endUser)
	require.NoError(t, err)
	require.True(t, got.Empty())
	require.Equal(t, calls, srv.Counts().Chat, "nothing after the erase to read")

	p.say(t, s, "user", "My goal is to sleep eight hours.")
	got, err = x.Extract(ctx, p.creator, p.endUser)
	require.NoError(t, err)
	require.Equal(t, memory.Profile{Goals: []string{"sleep eight hours"}, Preferences: []string{}, Commitments: []string{}, Facts: []string{}}, got,
		"the erased marathon never comes back")
	require.NotContains(t, lastPrompt(t, srv), "marathon")

	// Erasing an empty profile says so.
	q2 := newPerson(t, s)
	require.NoError(t, s.InTenant(ctx, q2.creator, func(q *db.Queries) error {
		had, err = memory.Erase(ctx, q, q2.creator, q2.endUser)
		return err
	}))
	require.False(t, had)
}

// A creator's edit made while the model works wins: the extraction is not stored and reports
// ErrConflict; run again, it starts from the edit.
func TestExtractLosesToConcurrentEdit(t *testing.T) {
	s := testenv.Store(t)
	ctx := context.Background()
	p := newPerson(t, s)
	inModel, release := make(chan struct{}), make(chan struct{})
	x, _ := extractor(t, s, ollamatest.Options{JSONReply: func(r ollamatest.ChatRequest) any {
		select {
		case inModel <- struct{}{}:
			<-release
		default:
		}
		return memorytest.Reply(r)
	}})
	p.say(t, s, "user", "My goal is to drink more water.")

	done := make(chan error, 1)
	go func() { _, err := x.Extract(ctx, p.creator, p.endUser); done <- err }()
	select {
	case <-inModel:
	case <-time.After(30 * time.Second):
		t.Fatal("the extraction never reached the model")
	}
	edit, _ := json.Marshal(memory.Profile{Facts: []string{"Allergic to nuts"}}.Clean())
	require.NoError(t, s.InTenant(ctx, p.creator, func(q *db.Queries) error {
		_, err := q.PutMemory(ctx, db.PutMemoryParams{EndUserID: p.endUser, CreatorID: p.creator, Profile: edit})
		return err
	}))
	close(release)
	require.ErrorIs(t, <-done, memory.ErrConflict)
	require.Equal(t, []string{"Allergic to nuts"}, p.profile(t, s).Facts)
	require.Empty(t, p.profile(t, s).Goals, "the stale extraction was not stored")

	got, err := x.Extract(ctx, p.creator, p.endUser)
	require.NoError(t, err)
	require.Equal(t, []string{"drink more water"}, got.Goals)
	require.Equal(t, []string{"Allergic to nuts"}, got.Facts, "the edit is kept")
}

// Another creator's tenant sees none of the person's messages: nothing reaches the model and
// the person's profile is untouched.
func TestExtractStaysInTenant(t *testing.T) {
	s := testenv.Store(t)
	ctx := context.Background()
	a, b := newPerson(t, s), newPerson(t, s)
	x, srv := extractor(t, s, ollamatest.Options{})
	a.say(t, s, "user", "My goal is to keep this private.")

	got, err := x.Extract(ctx, b.creator, a.endUser) // B's tenant, A's person
	require.NoError(t, err)
	require.True(t, got.Empty())
	require.Zero(t, srv.Counts().Chat, "no message of A was read in B's tenant")
	require.True(t, a.profile(t, s).Empty())

	var had bool
	err = s.InTenant(ctx, b.creator, func(q *db.Queries) error {
		had, err = memory.Erase(ctx, q, b.creator, a.endUser)
		return err
	})
	require.Error(t, err, "B cannot create a profile row for A's person")
	require.False(t, had)

	_, err = x.Extract(ctx, a.creator, a.endUser)
	require.NoError(t, err)
	require.Equal(t, []string{"keep this private"}, a.profile(t, s).Goals)
	require.True(t, strings.Contains(lastPrompt(t, srv), "keep this private"))
}

func TestRenderAndParse(t *testing.T) {
	require.Equal(t, "", memory.Profile{}.Render())
	p := memory.Profile{Goals: []string{" Run  10k ", "run 10k", ""}, Facts: []string{"Works nights"}}.Clean()
	require.Equal(t, []string{"Run 10k"}, p.Goals, "trimmed, deduplicated case-insensitively")
	require.Equal(t, "Goals: Run 10k\nFacts: Works nights", p.Render())
	require.True(t, memory.Parse(json.RawMessage(`{}`)).Empty())
	require.True(t, memory.Parse(json.RawMessage(`not json`)).Empty())
	require.NotNil(t, memory.Parse(nil).Goals)
}
