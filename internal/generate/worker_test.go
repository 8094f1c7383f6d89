package generate_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/generate"
	"github.com/coachwire/coachwire/internal/ids"
	"github.com/coachwire/coachwire/internal/llm/ollamatest"
	"github.com/coachwire/coachwire/internal/testenv"
)

var caffeine = []events.Passage{{DocumentID: uuid.MustParse("6c1b6f43-5d8e-4a4e-9f0e-3a4f7d1c2b10"), Title: "Sleep basics", Heading: "Caffeine",
	Text: "Stop caffeine eight hours before bedtime; a late espresso keeps adenosine blocked for hours.", Score: 1}}

// worker registers a generate worker with llm (nil: passages mode) on the rig.
func (r *rig) worker(t *testing.T, chat generate.Chatter) {
	t.Helper()
	w := &generate.Worker{Store: r.store, Bus: r.b, LLM: chat, Model: model, ContextTokens: 4000, Lease: 30 * time.Second,
		Log: testenv.Logger(t), Now: time.Now}
	require.NoError(t, w.Register(context.Background(), r.router))
}

func sources(t *testing.T, m db.Message) []events.Passage {
	t.Helper()
	var out []events.Passage
	require.NoError(t, json.Unmarshal(m.Sources, &out))
	return out
}

// TestTurnStreamedAndStored: the model's reply streams to the conversation's live subject
// (typing, then deltas that add up to the reply), is stored once with its sources as the answer
// of the question, numbered in its own conversation, and handed to dispatch; the prompt carries
// the persona, the person's profile, the fenced passages and the earlier exchange. A redelivered
// turn calls no model and sends nothing new.
// Replaces the generate half of internal/app TestWidgetTurnEndToEnd, TestMemoryFromConversation
// (the reply is written knowing the person) and TestSeqPerConversation (numbering).
func TestTurnStreamedAndStored(t *testing.T) {
	t.Parallel()
	srv, chat := ollama(t, ollamatest.Options{ChunkSize: 8})
	r := newRig(t, "You are Robin, a sleep coach.")
	r.worker(t, chat)
	r.run(t)
	eu, conv := r.person(t, events.ChannelWidget)
	r.putMemory(t, eu, map[string][]string{"goals": {"run a 10k in spring"}, "preferences": {"short workouts before work"}})
	_, other := r.person(t, events.ChannelWidget)
	live := r.listen(t, events.LiveSubject(r.creator, conv))

	q := r.say(t, conv, "user", "When should I stop drinking caffeine?")
	oq := r.say(t, other, "user", "Another person's question")
	r.turn(t, "turn:"+q.ID.String(), q, caffeine, "bm25")
	r.settled(t, "CW_GENERATE", "generate")

	msgs := r.messages(t, conv)
	require.Len(t, msgs, 2)
	reply := msgs[1]
	require.Equal(t, ids.Reply(q.ID), reply.ID)
	require.Equal(t, "assistant", reply.Role)
	require.Equal(t, "generated", reply.Status)
	require.Equal(t, uuid.NullUUID{UUID: q.ID, Valid: true}, reply.ReplyTo)
	require.Contains(t, reply.Body, `You asked: "When should I stop drinking caffeine?"`)
	require.Contains(t, reply.Body, "espresso", "the passage reached the model")
	src := sources(t, reply)
	require.Len(t, src, 1)
	require.Equal(t, caffeine[0].DocumentID, src[0].DocumentID)
	require.Equal(t, "Caffeine", src[0].Heading)
	require.EqualValues(t, []int64{1, 2}, []int64{msgs[0].Seq, reply.Seq})
	require.Equal(t, uuid.NullUUID{UUID: reply.ID, Valid: true}, r.message(t, q.ID).AnsweredBy)
	require.EqualValues(t, 1, r.conversation(t, conv).AnsweredSeq)
	require.Equal(t, []events.MessageOutbound{{MessageID: reply.ID, ConversationID: conv, EndUserID: eu, Channel: "widget"}}, r.outbound(t, "widget"))
	// The analytics rollup's turn row: message → first token and the mode, beside the reply
	// (queued with it, in the rollup once the queue is applied).
	timing := testenv.Read(t, r.store, r.creator, func(ctx context.Context, q *db.Queries) (db.GetTurnTimingRow, error) {
		if _, err := q.AnalyticsApply(ctx, db.AnalyticsApplyParams{CreatorID: r.creator, MaxRows: 1000}); err != nil {
			return db.GetTurnTimingRow{}, err
		}
		return q.GetTurnTiming(ctx, reply.ID)
	})
	require.NotNil(t, timing.FirstTokenMs)
	require.Equal(t, "ollama", timing.Mode)
	require.Equal(t, "generated", timing.Status)

	frames := live.until(t, func(fs []events.Live) bool { return text(fs) == reply.Body })
	require.Equal(t, "typing", frames[0].Kind)
	require.True(t, frames[1].Reset, "the first delta starts the reply")
	require.Greater(t, len(frames), 3, "streamed in several deltas")
	for _, f := range frames[1:] {
		require.Equal(t, reply.ID, f.Turn)
	}

	reqs := srv.ChatRequests()
	require.Len(t, reqs, 1)
	sys := reqs[0].Messages[0].Content
	require.Contains(t, sys, "You are Robin, a sleep coach.")
	require.Contains(t, sys, "<profile>\nGoals: run a 10k in spring\nPreferences: short workouts before work\n</profile>")
	require.Contains(t, sys, "```text\n"+caffeine[0].Text+"\n```")
	require.Equal(t, q.Body, reqs[0].Messages[len(reqs[0].Messages)-1].Content)

	// Redelivered: no model call, nothing stored or sent again.
	r.turn(t, "redelivery", q, caffeine, "bm25")
	r.settled(t, "CW_GENERATE", "generate")
	require.Equal(t, int64(1), srv.Counts().Chat)
	require.Len(t, r.messages(t, conv), 2)
	require.Len(t, r.outbound(t, "widget"), 1)

	// The other conversation numbers its own messages; the next question here is 3, its reply 4,
	// written with the earlier exchange as history.
	r.turn(t, "turn:"+oq.ID.String(), oq, nil, "bm25")
	q2 := r.say(t, conv, "user", "And green tea?")
	r.turn(t, "turn:"+q2.ID.String(), q2, nil, "bm25")
	r.settled(t, "CW_GENERATE", "generate")
	om := r.messages(t, other)
	require.Len(t, om, 2)
	require.EqualValues(t, 2, om[1].Seq)
	msgs = r.messages(t, conv)
	require.Len(t, msgs, 4)
	require.EqualValues(t, []int64{3, 4}, []int64{msgs[2].Seq, msgs[3].Seq})
	reqs = srv.ChatRequests()
	last := reqs[len(reqs)-1].Messages
	require.Equal(t, "And green tea?", last[len(last)-1].Content)
	require.Equal(t, []string{"user", "assistant"}, []string{last[1].Role, last[2].Role})
	require.Equal(t, q.Body, last[1].Content)
	require.Equal(t, reply.Body, last[2].Content)
}

// TestAnswerFloor: a fixed answer (a command's) between two questions closes neither: the turn
// of the first question answers both questions in one model reply built from exactly those two
// messages, and records exactly them as answered; the second question's own turn then finds
// them answered and calls no model. While the creator holds the conversation no reply is
// written.
// Replaces the generate half of internal/app TestFixedAnswersNeverCloseQuestions and
// TestQuickMessagesAnsweredInOrder.
func TestAnswerFloor(t *testing.T) {
	t.Parallel()
	srv, chat := ollama(t, ollamatest.Options{})
	r := newRig(t, "")
	r.worker(t, chat)
	r.run(t)
	eu, conv := r.person(t, events.ChannelWhatsApp)
	typing := r.listen(t, events.TypingSubject(r.creator, events.ChannelWhatsApp))

	q1 := r.say(t, conv, "user", "How can I fall asleep faster?")
	cmd := r.say(t, conv, "user", "/memory")
	fixed := r.fixedAnswer(t, cmd, "I don't remember anything about you yet.")
	q3 := r.say(t, conv, "user", "And what about naps?")
	r.turn(t, "turn:"+q1.ID.String(), q1, nil, "bm25")
	r.turn(t, "turn:"+q3.ID.String(), q3, nil, "bm25")
	r.settled(t, "CW_GENERATE", "generate")

	reply := ids.Reply(q3.ID)
	require.Equal(t, uuid.NullUUID{UUID: reply, Valid: true}, r.message(t, q1.ID).AnsweredBy)
	require.Equal(t, uuid.NullUUID{UUID: reply, Valid: true}, r.message(t, q3.ID).AnsweredBy)
	require.Equal(t, uuid.NullUUID{UUID: fixed, Valid: true}, r.message(t, cmd.ID).AnsweredBy, "the command keeps its own answer")
	require.EqualValues(t, q3.Seq, r.conversation(t, conv).AnsweredSeq)
	reqs := srv.ChatRequests()
	require.Len(t, reqs, 1, "one model reply for both questions")
	require.Len(t, reqs[0].Messages, 2, "no history: the command and its answer are not part of the prompt")
	require.Equal(t, "How can I fall asleep faster?\n\nAnd what about naps?", reqs[0].Messages[1].Content)
	require.Len(t, r.messages(t, conv), 5)
	out := r.outbound(t, "whatsapp")
	require.Equal(t, []events.MessageOutbound{{MessageID: reply, ConversationID: conv, EndUserID: eu, Channel: "whatsapp"}}, out)

	// Dispatch was asked to show the person a typing indicator on WhatsApp.
	select {
	case m := <-typing.ch:
		var ty events.Typing
		require.NoError(t, json.Unmarshal(m.Data, &ty))
		require.Equal(t, conv, ty.ConversationID)
		require.Equal(t, *q3.ProviderMessageID, ty.ProviderMessageID, "the newest question is marked read")
	case <-time.After(30 * time.Second):
		t.Fatal("no typing request")
	}

	// Held by the creator: no reply, no model call, the question stays open.
	r.tx(t, func(q *db.Queries) error {
		_, err := q.SetConversationStatus(context.Background(), db.SetConversationStatusParams{ID: conv, Status: "human"})
		return err
	})
	q4 := r.say(t, conv, "user", "Are you there?")
	r.turn(t, "turn:"+q4.ID.String(), q4, nil, "bm25")
	r.settled(t, "CW_GENERATE", "generate")
	require.Len(t, srv.ChatRequests(), 1)
	require.False(t, r.message(t, q4.ID).AnsweredBy.Valid)
	require.Len(t, r.messages(t, conv), 6)
}

// TestPassagesMode: without a chat model the reply quotes the passages with their citations, or
// says nothing matched, or, when the search could not run, says it cannot look it up now; each
// is sent to the live subject as one delta.
// Replaces the generate half of internal/app TestPassagesModeWithoutLLM and
// TestSearchUnavailableStillAnswered.
func TestPassagesMode(t *testing.T) {
	t.Parallel()
	r := newRig(t, "")
	r.worker(t, nil)
	r.run(t)
	_, conv := r.person(t, events.ChannelWidget)
	live := r.listen(t, events.LiveSubject(r.creator, conv))
	found, cited := generate.PassagesAnswer("caffeine before bedtime", caffeine)
	for i, tc := range []struct {
		question string
		passages []events.Passage
		mode     string
		body     string
		status   string
		sources  int
	}{
		{"caffeine before bedtime", caffeine, "bm25", found, "generated", 1},
		{"caffeine before bedtime", nil, "bm25", generate.NoMatchAnswer, "generated", 0},
		// Passages that do not answer the question are not quoted.
		{"how do I fix a flat bike tyre", caffeine, "bm25", generate.NoMatchAnswer, "generated", 0},
		{"caffeine before bedtime", nil, events.SearchUnavailable, generate.SearchUnavailableAnswer, "search_unavailable", 0},
	} {
		q := r.say(t, conv, "user", tc.question)
		r.turn(t, q.ID.String(), q, tc.passages, tc.mode)
		r.settled(t, "CW_GENERATE", "generate")
		reply := r.message(t, ids.Reply(q.ID))
		require.Equal(t, tc.body, reply.Body, "case %d", i)
		require.Equal(t, tc.status, reply.Status)
		require.Len(t, sources(t, reply), tc.sources)
		timing := testenv.Read(t, r.store, r.creator, func(ctx context.Context, q *db.Queries) (db.GetTurnTimingRow, error) {
			if _, err := q.AnalyticsApply(ctx, db.AnalyticsApplyParams{CreatorID: r.creator, MaxRows: 1000}); err != nil {
				return db.GetTurnTimingRow{}, err
			}
			return q.GetTurnTiming(ctx, reply.ID)
		})
		require.Equal(t, "passages", timing.Mode)
		require.NotNil(t, timing.FirstTokenMs)
		frames := live.until(t, func(fs []events.Live) bool { return len(fs) == 2 })
		require.Equal(t, "typing", frames[0].Kind)
		require.Equal(t, events.Live{Kind: "delta", Turn: reply.ID, Text: reply.Body, Reset: true}, frames[1])
	}
	require.Contains(t, found, "espresso")
	require.Contains(t, found, "Here is what I found")
	require.Contains(t, found, "\n\n[1] Sleep basics — Caffeine\n> Stop caffeine eight hours before bedtime")
	require.Equal(t, "Stop caffeine eight hours before bedtime; a late espresso keeps adenosine blocked for hours.", cited[0].Text)
	require.Len(t, r.outbound(t, "widget"), 4)
	require.Empty(t, r.stream(t, "CW_DLQ", "dlq.CW_GENERATE"), "nothing dead-lettered")
}

// TestModelFailure: a model that dies mid-reply ends in an honest message with the passages
// (or with the search note when the knowledge could not be searched), streamed as a reset of
// the partial reply; a working model is told when the knowledge could not be searched.
// Replaces the generate half of internal/app TestLLMFailureMidReplyIsHonest.
func TestModelFailure(t *testing.T) {
	t.Parallel()
	srv, chat := ollama(t, ollamatest.Options{})
	r := newRig(t, "")
	r.worker(t, chat)
	r.run(t)
	_, conv := r.person(t, events.ChannelWidget)
	live := r.listen(t, events.LiveSubject(r.creator, conv))

	q := r.say(t, conv, "user", "how much caffeine is too much")
	r.turn(t, "a", q, nil, events.SearchUnavailable)
	r.settled(t, "CW_GENERATE", "generate")
	require.Contains(t, srv.ChatRequests()[0].Messages[0].Content, "could not be searched for this message")
	require.Equal(t, "generated", r.message(t, ids.Reply(q.ID)).Status)
	live.until(t, func(fs []events.Live) bool { return text(fs) == r.message(t, ids.Reply(q.ID)).Body })

	srv.SetOptions(ollamatest.Options{ChatModels: []string{model}, FailAfterDeltas: 3, FailWithErrorLine: true})
	for _, tc := range []struct {
		passages []events.Passage
		mode     string
		want     string
	}{
		{caffeine, "bm25", "espresso"},
		{nil, events.SearchUnavailable, generate.SearchUnavailableAnswer},
	} {
		q := r.say(t, conv, "user", "caffeine before bedtime")
		r.turn(t, q.ID.String(), q, tc.passages, tc.mode)
		r.settled(t, "CW_GENERATE", "generate")
		reply := r.message(t, ids.Reply(q.ID))
		require.Equal(t, "llm_error", reply.Status)
		require.True(t, strings.HasPrefix(reply.Body, "I'm sorry, I couldn't finish my answer"), reply.Body)
		require.Contains(t, reply.Body, tc.want)
		frames := live.until(t, func(fs []events.Live) bool { return text(fs) == reply.Body })
		require.Greater(t, len(frames), 2, "partial deltas, then the reset")
	}
	require.Len(t, r.outbound(t, "widget"), 3)
}

// TestMalformedTurn: a turn for a message that does not exist is dead-lettered at once.
func TestMalformedTurn(t *testing.T) {
	t.Parallel()
	_, chat := ollama(t, ollamatest.Options{})
	r := newRig(t, "")
	r.worker(t, chat)
	r.run(t)
	_, conv := r.person(t, events.ChannelWidget)
	r.turn(t, "x", db.Message{ID: uuid.New(), ConversationID: conv, Channel: "widget"}, nil, "bm25")
	r.settled(t, "CW_GENERATE", "generate")
	require.Len(t, r.stream(t, "CW_DLQ", "dlq.CW_GENERATE"), 1)
	require.Empty(t, r.messages(t, conv))
}
