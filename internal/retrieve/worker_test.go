package retrieve_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/channels"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/ids"
	"github.com/coachwire/coachwire/internal/knowledge"
	"github.com/coachwire/coachwire/internal/llm"
	"github.com/coachwire/coachwire/internal/llm/llmtest"
	"github.com/coachwire/coachwire/internal/llm/ollamatest"
	"github.com/coachwire/coachwire/internal/memory"
	"github.com/coachwire/coachwire/internal/retrieve"
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

// widgetMsg is a widget message as the gateway publishes it.
func widgetMsg(endUser, conv uuid.UUID, id, text string) events.MessageReceived {
	return events.MessageReceived{Channel: events.ChannelWidget, ProviderMessageID: id, EndUserID: endUser, ConversationID: conv, Text: text}
}

func inboundID(r *rig, channel, providerID string) uuid.UUID {
	return ids.InboundMessage(r.creator, channel, providerID)
}

// TestWidgetCommands: over the widget, "what do you remember about me" lists the profile and
// "/forget" erases it, answered without a turn and handed to dispatch; a redelivered /forget
// neither erases nor answers again; commands work while the creator holds the conversation; a
// program keyword (any case) enrolls once with step 0 due a day later; an ordinary question, a
// keyword with punctuation and an opt word (even one stored as a program keyword) go to the
// coach.
// Replaces internal/app TestInboundCommandsWidget.
func TestWidgetCommands(t *testing.T) {
	t.Parallel()
	r := newRig(t, &retrieve.Worker{Search: index(t), Memory: true})
	ctx := context.Background()
	eu, conv := r.widgetUser(t)
	r.putMemory(t, eu, map[string][]string{"goals": {"Sleep eight hours"}, "commitments": {"No coffee after 2 pm"}, "facts": {"Works night shifts"}})

	// Show.
	r.publish(t, "w1", widgetMsg(eu, conv, "w1", "What do you remember about me?"))
	r.handled(t)
	show := r.answerTo(t, conv, inboundID(r, "widget", "w1"))
	require.NotNil(t, show)
	for _, item := range []string{"Sleep eight hours", "No coffee after 2 pm", "Works night shifts", "Send /forget"} {
		require.Contains(t, show.Body, item)
	}
	require.Equal(t, "assistant", show.Role)
	require.Equal(t, "queued", show.Status)
	require.Equal(t, []events.MessageOutbound{{MessageID: show.ID, ConversationID: conv, EndUserID: eu, Channel: "widget"}}, r.outbound(t, "widget"))
	require.Empty(t, r.turns(t), "a memory command never reaches the model")
	require.Empty(t, r.memoryRequests(t), "nor the memory extractor")

	// Forget: confirmed, the profile is gone.
	r.publish(t, "w2", widgetMsg(eu, conv, "w2", "/forget"))
	r.handled(t)
	forget := r.answerTo(t, conv, inboundID(r, "widget", "w2"))
	require.NotNil(t, forget)
	require.Contains(t, forget.Body, "erased everything")
	require.True(t, memory.Parse(json.RawMessage(r.memory(t, eu))).Empty())

	// The same /forget delivered again: nothing erased a second time, nothing new stored or sent.
	r.putMemory(t, eu, map[string][]string{"goals": {"Run a 10k"}})
	stored, sent := len(r.messages(t, conv)), len(r.outbound(t, "widget"))
	r.publish(t, "redelivery-w2", widgetMsg(eu, conv, "w2", "/forget"))
	r.handled(t)
	require.Len(t, r.messages(t, conv), stored)
	require.Len(t, r.outbound(t, "widget"), sent, "the answer's handover is deduplicated by its id")
	require.Equal(t, []string{"Run a 10k"}, memory.Parse(json.RawMessage(r.memory(t, eu))).Goals)

	// While the creator holds the conversation the person can still see their data.
	r.tx(t, func(q *db.Queries) error {
		_, err := q.SetConversationStatus(ctx, db.SetConversationStatusParams{ID: conv, Status: "human"})
		return err
	})
	r.publish(t, "w3", widgetMsg(eu, conv, "w3", "/memory"))
	r.handled(t)
	require.Contains(t, r.answerTo(t, conv, inboundID(r, "widget", "w3")).Body, "Run a 10k")
	// An ordinary message during the takeover gets no turn, but is announced to memory.
	r.publish(t, "w3b", widgetMsg(eu, conv, "w3b", "Are you there?"))
	r.handled(t)
	require.Empty(t, r.turns(t))
	require.Len(t, r.memoryRequests(t), 1)
	r.tx(t, func(q *db.Queries) error {
		_, err := q.SetConversationStatus(ctx, db.SetConversationStatusParams{ID: conv, Status: "bot"})
		return err
	})

	// Program keyword, any case: enrolled, confirmed, step 0 scheduled a day later.
	prog := r.program(t, "30-day reset", "START30")
	sentAt := time.Now()
	r.publish(t, "w4", widgetMsg(eu, conv, "w4", "start30"))
	r.handled(t)
	require.Equal(t, "You're enrolled in 30-day reset.", r.answerTo(t, conv, inboundID(r, "widget", "w4")).Body)
	ens := r.enrollments(t, prog)
	require.Len(t, ens, 1)
	require.Equal(t, eu, ens[0].EndUserID)
	require.Equal(t, "active", ens[0].Status)
	require.EqualValues(t, 0, ens[0].NextStep)
	require.NotNil(t, ens[0].NextAt)
	require.WithinDuration(t, sentAt.Add(24*time.Hour), *ens[0].NextAt, time.Minute, "step 0 (day 1) due a day after enrollment")
	require.Empty(t, r.turns(t))

	// An ordinary question mentioning memory goes to the coach, and to the memory extractor.
	r.publish(t, "w5", widgetMsg(eu, conv, "w5", "How can I improve my memory?"))
	r.handled(t)
	q5 := inboundID(r, "widget", "w5")
	require.Nil(t, r.answerTo(t, conv, q5))
	turns := r.turns(t)
	require.Len(t, turns, 1)
	require.Equal(t, events.TurnRequested{ConversationID: conv, MessageID: q5, Channel: "widget", Query: "How can I improve my memory?",
		SearchMode: "bm25"}, turns[0], "no knowledge yet: no passages")
	mem := r.memoryRequests(t)
	require.Len(t, mem, 2)
	var q5Gseq int64 // the request names the stored message's gseq (the extractor need not read it)
	for _, m := range r.messages(t, conv) {
		if m.ID == q5 {
			q5Gseq = m.Gseq
		}
	}
	require.NotZero(t, q5Gseq)
	require.Equal(t, events.MemoryRequested{EndUserID: eu, ConversationID: conv, MessageID: q5, Gseq: q5Gseq}, mem[1])

	// A second person: the keyword published twice under one id, then redelivered, enrolls
	// once; with punctuation it is not the keyword; again it is "already enrolled"; "START" is
	// an opt word, never a program keyword, even when a program has it.
	shadow := r.program(t, "Shadow", "START")
	eu2, conv2 := r.widgetUser(t)
	for _, id := range []string{"k1", "k1", "redelivery-k1"} {
		r.publish(t, id, widgetMsg(eu2, conv2, "k1", " START30 "))
	}
	r.handled(t)
	require.Equal(t, "You're enrolled in 30-day reset.", r.answerTo(t, conv2, inboundID(r, "widget", "k1")).Body)
	require.Len(t, r.messages(t, conv2), 2, "one message, one answer")
	r.publish(t, "k2", widgetMsg(eu2, conv2, "k2", "Start30!"))
	r.publish(t, "k3", widgetMsg(eu2, conv2, "k3", "start30"))
	r.publish(t, "k4", widgetMsg(eu2, conv2, "k4", "START"))
	r.handled(t)
	require.Nil(t, r.answerTo(t, conv2, inboundID(r, "widget", "k2")), "not the keyword (punctuation): goes to the coach")
	require.Equal(t, "You're already enrolled in 30-day reset.", r.answerTo(t, conv2, inboundID(r, "widget", "k3")).Body)
	require.Nil(t, r.answerTo(t, conv2, inboundID(r, "widget", "k4")), "START goes to the coach")
	require.Len(t, r.enrollments(t, prog), 2)
	require.Empty(t, r.enrollments(t, shadow), "an opt word never enrolls")
	var toCoach []string
	for _, tr := range r.turns(t) {
		toCoach = append(toCoach, tr.Query)
	}
	require.Equal(t, []string{"How can I improve my memory?", "Start30!", "START"}, toCoach)
}

// whatsapp is a WhatsApp message from a number.
func whatsapp(ch uuid.UUID, from, id, text string) events.MessageReceived {
	return events.MessageReceived{Channel: events.ChannelWhatsApp, ChannelID: ch, ProviderMessageID: id, ExternalUserID: from, DisplayName: "Ana", Text: text}
}

// telegram is a Telegram message from user in chat (a group when chat differs from user).
func telegram(ch uuid.UUID, user, chat, id, text string) events.MessageReceived {
	return events.MessageReceived{Channel: events.ChannelTelegram, ChannelID: ch, ProviderMessageID: id, ExternalUserID: user, ChatID: chat, Text: text}
}

// channelConv is the end user and conversation retrieve keeps for a channel identity.
func channelConv(r *rig, typ string, ch uuid.UUID, user, chat string) (endUser, conv uuid.UUID) {
	external := ch.String() + ":" + user
	if typ == events.ChannelTelegram {
		external += ":" + chat
	}
	endUser = ids.EndUser(r.creator, typ, external)
	return endUser, ids.Conversation(r.creator, endUser, typ)
}

func channelMsgID(r *rig, typ string, ch uuid.UUID, providerID string) uuid.UUID {
	return ids.InboundMessage(r.creator, typ, ch.String()+":"+providerID)
}

// TestChannelOptWords: on WhatsApp and Telegram STOP and START (any case, /stop, and the
// channel's own words) opt the person out and back in with a fixed answer and no turn; the
// opt words win over a program with such a keyword; a photo gets the text-only answer; none of
// these answers, nor a memory command's or a program keyword's, closes the question sent
// before it, which still gets its turn. The provider's
// own opt signals change the consent silently, and a signal for someone who never wrote is
// ignored.
// Replaces the retrieve half of internal/app TestFixedAnswersNeverCloseQuestions.
func TestChannelOptWords(t *testing.T) {
	t.Parallel()
	r := newRig(t, &retrieve.Worker{Search: index(t), Memory: true})
	wa := r.channel(t, "whatsapp", channels.Config{PhoneNumberID: "1"})
	tg := r.channel(t, "telegram", channels.Config{OptOutWords: []string{"basta"}, OptInWords: []string{"ancora"}})
	shadow := r.program(t, "Shadow", "STOP")
	r.program(t, "Sleep week", "SLEEPWEEK")

	type step struct {
		msg      events.MessageReceived
		answer   string // "" means a turn
		optedOut bool
	}
	for _, tc := range []struct {
		name  string
		typ   string
		ch    uuid.UUID
		user  string
		steps []step
	}{
		{"whatsapp", "whatsapp", wa, "491700000001", []step{
			{whatsapp(wa, "491700000001", "q1", "How can I fall asleep faster?"), "", false},
			{whatsapp(wa, "491700000001", "s1", "STOP"), "You're unsubscribed", true},
			{whatsapp(wa, "491700000001", "s2", "start."), "You're subscribed again", false},
			{whatsapp(wa, "491700000001", "s3", "Stop!"), "You're unsubscribed", true},
			{events.MessageReceived{Channel: "whatsapp", ChannelID: wa, ProviderMessageID: "p1", ExternalUserID: "491700000001", Type: "image"},
				"Sorry, I can only read text messages.", true},
			{whatsapp(wa, "491700000001", "s4", "basta"), "", true}, // another channel's word
			{whatsapp(wa, "491700000001", "c1", "/memory"), "I don't remember anything about you yet.", true},
			{whatsapp(wa, "491700000001", "c2", "sleepweek"), "You're enrolled in Sleep week.", true},
		}},
		{"telegram", "telegram", tg, "7731", []step{
			{telegram(tg, "7731", "7731", "q1", "When should I stop caffeine?"), "", false},
			{telegram(tg, "7731", "7731", "s1", "/stop"), "You're unsubscribed", true},
			{telegram(tg, "7731", "7731", "s2", "ANCORA"), "You're subscribed again", false},
			{telegram(tg, "7731", "7731", "s3", "Basta"), "You're unsubscribed", true},
			{telegram(tg, "7731", "7731", "s4", "/start"), "You're subscribed again", false},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eu, conv := channelConv(r, tc.typ, tc.ch, tc.user, tc.user)
			var questions []uuid.UUID
			for i, s := range tc.steps {
				r.publish(t, tc.name+s.msg.ProviderMessageID, s.msg)
				r.handled(t)
				id := channelMsgID(r, tc.typ, tc.ch, s.msg.ProviderMessageID)
				a := r.answerTo(t, conv, id)
				if s.answer == "" {
					require.Nil(t, a, "step %d", i)
					questions = append(questions, id)
				} else {
					require.NotNil(t, a, "step %d", i)
					require.True(t, strings.HasPrefix(a.Body, s.answer), "step %d: %q", i, a.Body)
				}
				require.Equal(t, s.optedOut, r.endUser(t, eu).OptedOutAt != nil, "step %d: opted out", i)
			}
			// Each fixed answer covers its own message only: the questions are still open and
			// each got its turn.
			for _, m := range r.messages(t, conv) {
				if m.Role != "user" {
					continue
				}
				isQuestion := false
				for _, q := range questions {
					isQuestion = isQuestion || q == m.ID
				}
				require.Equal(t, !isQuestion, m.AnsweredBy.Valid, "%q answered", m.Body)
				if m.AnsweredBy.Valid {
					require.Equal(t, ids.Reply(m.ID), m.AnsweredBy.UUID)
				}
			}
			var got []uuid.UUID
			for _, tr := range r.turns(t) {
				if tr.Channel == tc.typ {
					got = append(got, tr.MessageID)
				}
			}
			require.Equal(t, questions, got)
			var sent int
			for _, o := range r.outbound(t, tc.typ) {
				require.Equal(t, conv, o.ConversationID)
				sent++
			}
			require.Equal(t, len(tc.steps)-len(questions), sent, "every fixed answer handed to dispatch once")
		})
	}
	require.Empty(t, r.enrollments(t, shadow), "an opt word never enrolls")

	// Provider signals: silent, and only for identities that wrote.
	eu, conv := channelConv(r, "telegram", tg, "7731", "7731")
	stored := len(r.messages(t, conv))
	r.publish(t, "sig1", events.MessageReceived{Channel: "telegram", ChannelID: tg, ProviderMessageID: "sig1", ExternalUserID: "7731", Type: events.SignalOptOut})
	r.handled(t)
	require.NotNil(t, r.endUser(t, eu).OptedOutAt)
	r.publish(t, "sig2", events.MessageReceived{Channel: "telegram", ChannelID: tg, ProviderMessageID: "sig2", ExternalUserID: "7731", Type: events.SignalOptIn})
	r.handled(t)
	require.Nil(t, r.endUser(t, eu).OptedOutAt)
	require.Len(t, r.messages(t, conv), stored, "a signal stores nothing")
	r.publish(t, "sig3", events.MessageReceived{Channel: "whatsapp", ChannelID: wa, ProviderMessageID: "sig3", ExternalUserID: "499999", Type: events.SignalOptOut})
	r.handled(t)
	never, _ := channelConv(r, "whatsapp", wa, "499999", "")
	r.tx(t, func(q *db.Queries) error {
		_, err := q.GetEndUser(context.Background(), never)
		require.True(t, db.IsNotFound(err), "no end user made up for a signal: %v", err)
		return nil
	})
}

// TestChannelCommands: on Telegram the memory commands and a program keyword are answered once
// even when delivered twice, and a redelivery neither acts nor answers again; in a group chat
// the profile is not shown and the person there is another identity than in the private chat;
// WhatsApp answers the same commands, and a person who opted out is told how to receive the
// program. None of it reaches the model.
// Replaces the retrieve half of internal/app TestInboundCommandsChannels.
func TestChannelCommands(t *testing.T) {
	t.Parallel()
	r := newRig(t, &retrieve.Worker{Search: index(t), Memory: true})
	tg := r.channel(t, "telegram", channels.Config{BotUsername: "test_coach_bot", GroupsEnabled: true})
	wa := r.channel(t, "whatsapp", channels.Config{PhoneNumberID: "1"})
	eu, conv := channelConv(r, "telegram", tg, "7731", "7731")
	say := func(id, text string) string {
		t.Helper()
		for _, key := range []string{id, id, "redelivery-" + id} {
			r.publish(t, key, telegram(tg, "7731", "7731", id, text))
		}
		r.handled(t)
		a := r.answerTo(t, conv, channelMsgID(r, "telegram", tg, id))
		require.NotNil(t, a, "answer to %q", text)
		return a.Body
	}
	require.Equal(t, "I don't remember anything about you yet.", say("2001", "/memory"))

	r.putMemory(t, eu, map[string][]string{"goals": {"Fall asleep before midnight"}, "preferences": {"Short answers"}})
	shown := say("2002", "What do you remember about me?")
	require.Contains(t, shown, "Fall asleep before midnight")
	require.Contains(t, shown, "Short answers")

	require.Contains(t, say("2003", "Forget me!"), "erased everything")
	require.True(t, memory.Parse(json.RawMessage(r.memory(t, eu))).Empty())
	r.putMemory(t, eu, map[string][]string{"facts": {"Has a dog"}})
	r.publish(t, "again-2003", telegram(tg, "7731", "7731", "2003", "Forget me!"))
	r.handled(t)
	require.Equal(t, []string{"Has a dog"}, memory.Parse(json.RawMessage(r.memory(t, eu))).Facts, "the redelivery erases nothing")

	prog := r.program(t, "30-day reset", "START30")
	require.Equal(t, "You're enrolled in 30-day reset.", say("2004", "start30"))
	ens := r.enrollments(t, prog)
	require.Len(t, ens, 1)
	require.Equal(t, eu, ens[0].EndUserID)
	require.Equal(t, "active", ens[0].Status)

	require.Len(t, r.messages(t, conv), 8, "four commands, four answers")
	require.Len(t, r.outbound(t, "telegram"), 4, "each answer handed to dispatch once")

	// In a group: the profile is not shown, and the same user is another end user there.
	geu, gconv := channelConv(r, "telegram", tg, "7731", "-7731")
	require.NotEqual(t, eu, geu)
	r.publish(t, "g1", telegram(tg, "7731", "-7731", "2006", "/memory@test_coach_bot"))
	r.handled(t)
	require.Contains(t, r.answerTo(t, gconv, channelMsgID(r, "telegram", tg, "2006")).Body, "only show what I remember about you in a private chat")
	require.Equal(t, "-7731", r.endUser(t, geu).ChatID)

	// WhatsApp: the same commands; enrolling while opted out says how to get the messages.
	weu, wconv := channelConv(r, "whatsapp", wa, "491700000009", "")
	for _, tc := range []struct{ id, text, answer string }{
		{"w1", "/forget", "There was nothing to erase: I don't remember anything about you yet."},
		{"w2", "show my memory", "I don't remember anything about you yet."},
		{"w3", "STOP", "You're unsubscribed: you won't get any more messages from us unless you write first. Send START to subscribe again."},
		{"w4", "START30", "You're enrolled in 30-day reset. You're unsubscribed from our messages at the moment: send START to receive the program's messages."},
	} {
		for range 2 {
			r.publish(t, tc.id, whatsapp(wa, "491700000009", tc.id, tc.text))
		}
		r.handled(t)
		require.Equal(t, tc.answer, r.answerTo(t, wconv, channelMsgID(r, "whatsapp", wa, tc.id)).Body)
	}
	require.Equal(t, "Ana", r.endUser(t, weu).DisplayName)
	require.NotNil(t, r.endUser(t, weu).LastInboundAt, "the message opened the 24-hour window")
	require.Len(t, r.outbound(t, "whatsapp"), 4)
	require.Empty(t, r.turns(t), "commands, keywords and opt words never reach the model")
	require.Empty(t, r.memoryRequests(t))
}

// TestSearch: a question is searched in the creator's knowledge on the real Weaviate and the
// turn carries the passages; with Weaviate frozen the turn still goes to generate within the
// search timeout, without passages and marked unavailable, and nothing is dead-lettered. The
// passages are cleaned (passages.Clean): the same text uploaded twice is passed on once.
// Replaces the retrieve half of internal/app TestSearchUnavailableStillAnswered.
func TestSearch(t *testing.T) {
	t.Parallel()
	ks := index(t)
	r := newRig(t, &retrieve.Worker{Search: ks})
	ctx := context.Background()
	doc := uuid.New()
	require.NoError(t, ks.EnsureTenant(ctx, r.creator))
	require.NoError(t, ks.UpsertChunks(ctx, r.creator, []knowledge.Chunk{
		{DocumentID: doc, Index: 0, Title: "Sleep basics", Heading: "Evening routine", Text: "Go to bed at the same time every night and dim the lights after nine."},
		{DocumentID: doc, Index: 1, Title: "Sleep basics", Heading: "Caffeine", Text: "Stop caffeine eight hours before bedtime; a late espresso keeps adenosine blocked for hours."},
	}))
	copied := uuid.New()
	require.NoError(t, ks.UpsertChunks(ctx, r.creator, []knowledge.Chunk{
		{DocumentID: copied, Index: 0, Title: "Sleep basics", Heading: "Caffeine", Text: "Stop caffeine eight hours before bedtime; a late espresso keeps adenosine blocked for hours."},
	}))
	eu, conv := r.widgetUser(t)
	r.publish(t, "q1", widgetMsg(eu, conv, "q1", "caffeine before bedtime"))
	r.handled(t)
	turns := r.turns(t)
	require.Len(t, turns, 1)
	require.Equal(t, "bm25", turns[0].SearchMode)
	require.NotEmpty(t, turns[0].Passages)
	// The turn carries what the search made of the question's words (for the passages-mode
	// reply): "before" was read as a function word.
	require.NotNil(t, turns[0].Expansions)
	require.Contains(t, turns[0].Expansions.Stop, "before")
	require.Contains(t, []uuid.UUID{doc, copied}, turns[0].Passages[0].DocumentID, "either copy, whichever ranks first")
	require.Equal(t, "Caffeine", turns[0].Passages[0].Heading)
	require.Contains(t, turns[0].Passages[0].Text, "espresso")
	n := 0
	for _, p := range turns[0].Passages {
		if strings.Contains(p.Text, "espresso") {
			n++
		}
	}
	require.Equal(t, 1, n, "the copy is a near-duplicate: %+v", turns[0].Passages)
	require.Empty(t, r.memoryRequests(t), "memory extraction off")

	// Another creator's worker searches through a Weaviate that stops answering.
	rest := newFreezeProxy(t, strings.TrimPrefix(testenv.Weaviate(t), "http://"))
	rpc := newFreezeProxy(t, testenv.WeaviateGRPC(t))
	frozen, err := knowledge.New(ctx, "http://"+rest.addr(), knowledge.WithGRPC(rpc.addr()))
	require.NoError(t, err)
	require.True(t, frozen.UsesGRPC(), "searching over gRPC, as coachwire does")
	rest.freeze()
	rpc.freeze()
	r2 := newRig(t, &retrieve.Worker{Search: frozen, SearchTimeout: time.Second})
	eu2, conv2 := r2.widgetUser(t)
	r2.publish(t, "q2", widgetMsg(eu2, conv2, "q2", "how much caffeine is too much"))
	r2.handled(t)
	turns = r2.turns(t)
	require.Len(t, turns, 1)
	require.Equal(t, events.SearchUnavailable, turns[0].SearchMode)
	require.Empty(t, turns[0].Passages)
	require.Len(t, r2.messages(t, conv2), 1, "the question is stored")
	require.Empty(t, r2.stream(t, "CW_DLQ", "dlq.CW_INBOUND"), "nothing dead-lettered")
}

// TestMalformedInbound: a message retrieve cannot place is dead-lettered at once, stores
// nothing and asks for no turn.
func TestMalformedInbound(t *testing.T) {
	t.Parallel()
	r := newRig(t, &retrieve.Worker{Search: index(t)})
	eu, conv := r.widgetUser(t)
	other, _ := r.widgetUser(t)
	ch := r.channel(t, "telegram", channels.Config{})
	for i, in := range []events.MessageReceived{
		widgetMsg(eu, conv, "", "no provider id"),
		widgetMsg(other, conv, "m2", "someone else's conversation"),
		{Channel: "widget", ProviderMessageID: "m3", Text: "neither conversation nor user"},
		whatsapp(ch, "4917", "m4", "a WhatsApp message on a Telegram channel"),
		telegram(ch, "", "", "m5", "no user"),
		{Channel: "telegram", ChannelID: ch, ProviderMessageID: "m6", Type: events.SignalOptOut},
	} {
		r.publish(t, "bad-"+strconv.Itoa(i), in)
	}
	r.handled(t)
	require.Len(t, r.stream(t, "CW_DLQ", "dlq.CW_INBOUND"), 6)
	require.Empty(t, r.messages(t, conv))
	require.Empty(t, r.turns(t))
}

// TestProgramKeywordStates: the keyword again after the person paused resumes the program, after
// they completed or left it says so, and a widget message that names the person by their
// external id (no conversation yet) gets an end user and conversation first.
func TestProgramKeywordStates(t *testing.T) {
	t.Parallel()
	r := newRig(t, &retrieve.Worker{Search: index(t)})
	ctx := context.Background()
	prog := r.program(t, "Sleep week", "SLEEPWEEK")
	for i, tc := range []struct {
		status string
		answer string
		after  string
	}{
		{"paused", "Welcome back: Sleep week continues where you left it.", "active"},
		{"completed", "You've already completed Sleep week.", "completed"},
		{"cancelled", "You left Sleep week. Ask us if you'd like to join again.", "cancelled"},
	} {
		external := "visitor-" + tc.status
		in := events.MessageReceived{Channel: "widget", ProviderMessageID: tc.status + "-first", ExternalUserID: external, DisplayName: "Ana", Text: "sleepweek"}
		r.publish(t, tc.status+"-1", in)
		r.handled(t)
		eu := ids.EndUser(r.creator, "widget", external)
		conv := ids.Conversation(r.creator, eu, "widget")
		require.Equal(t, "You're enrolled in Sleep week.", r.answerTo(t, conv, inboundID(r, "widget", tc.status+"-first")).Body, "case %d", i)
		require.Equal(t, "Ana", r.endUser(t, eu).DisplayName)
		var enrollment uuid.UUID
		for _, e := range r.enrollments(t, prog) {
			if e.EndUserID == eu {
				enrollment = e.ID
			}
		}
		r.tx(t, func(q *db.Queries) error {
			if tc.status == "paused" {
				_, err := q.PauseEnrollment(ctx, db.PauseEnrollmentParams{ID: enrollment, Now: time.Now(), Entry: json.RawMessage(`[]`)})
				return err
			}
			_, err := q.SetEnrollmentStatus(ctx, db.SetEnrollmentStatusParams{ID: enrollment, Status: tc.status})
			return err
		})
		in.ProviderMessageID = tc.status + "-again"
		r.publish(t, tc.status+"-2", in)
		r.handled(t)
		require.Equal(t, tc.answer, r.answerTo(t, conv, inboundID(r, "widget", tc.status+"-again")).Body)
		for _, e := range r.enrollments(t, prog) {
			if e.ID == enrollment {
				require.Equal(t, tc.after, e.Status)
			}
		}
	}
	require.Len(t, r.enrollments(t, prog), 3, "never enrolled twice")
}

// TestSearchHybrid: with an embedding model the question is embedded and searched hybrid; when
// the embedding fails the search goes on with BM25 alone.
func TestSearchHybrid(t *testing.T) {
	t.Parallel()
	ks := index(t)
	ctx := context.Background()
	srv := ollamatest.New(t, ollamatest.Options{EmbedModels: []string{"nomic-embed-text"}})
	emb, err := llm.New(srv.URL, llm.Options{MaxAttempts: 1})
	require.NoError(t, err)
	text := "Stop caffeine eight hours before bedtime; a late espresso keeps adenosine blocked for hours."
	vecs, err := emb.Embed(ctx, "nomic-embed-text", []string{llm.DocumentPrefix + text})
	require.NoError(t, err)
	for _, tc := range []struct {
		model string
		mode  string
	}{{"nomic-embed-text", "hybrid"}, {"missing-model", "bm25"}} {
		rec := &llmtest.Recorder{Next: emb}
		r := newRig(t, &retrieve.Worker{Search: ks, Embedder: rec, EmbedModel: tc.model})
		doc := uuid.New()
		require.NoError(t, ks.EnsureTenant(ctx, r.creator))
		require.NoError(t, ks.UpsertChunks(ctx, r.creator, []knowledge.Chunk{{DocumentID: doc, Title: "Sleep basics", Heading: "Caffeine", Text: text, Vector: vecs[0]}}))
		eu, conv := r.widgetUser(t)
		r.publish(t, "q", widgetMsg(eu, conv, "q", "caffeine before bedtime"))
		r.handled(t)
		turns := r.turns(t)
		require.Len(t, turns, 1)
		require.Equal(t, tc.mode, turns[0].SearchMode)
		require.NotEmpty(t, turns[0].Passages)
		require.Equal(t, doc, turns[0].Passages[0].DocumentID)
		require.Equal(t, []llm.Work{{Class: llm.LiveEmbed, Creator: r.creator}}, rec.Works(), "the query embedding is scheduled as a live query's")
	}
	require.EqualValues(t, 3, srv.Counts().Embed, "the document, then each question")
}
