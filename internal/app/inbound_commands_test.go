package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/app"
	"github.com/coachwire/coachwire/internal/channels/telegramtest"
	"github.com/coachwire/coachwire/internal/channels/whatsapptest"
	"github.com/coachwire/coachwire/internal/dispatch"
	"github.com/coachwire/coachwire/internal/llm/ollamatest"
	"github.com/coachwire/coachwire/internal/testenv"
)

// The in-chat commands: memory (see, erase) and program keywords, answered without the model.

type profileJSON struct {
	Goals       []string `json:"goals"`
	Preferences []string `json:"preferences"`
	Commitments []string `json:"commitments"`
	Facts       []string `json:"facts"`
}

// norm makes missing lists empty, as the API returns them.
func (p profileJSON) norm() profileJSON {
	for _, l := range []*[]string{&p.Goals, &p.Preferences, &p.Commitments, &p.Facts} {
		if *l == nil {
			*l = []string{}
		}
	}
	return p
}

func (p profileJSON) empty() bool {
	return len(p.Goals)+len(p.Preferences)+len(p.Commitments)+len(p.Facts) == 0
}

// creatorAPI is what these tests need of the creator's REST API.
type creatorAPI struct {
	c  *testenv.Client
	cr *testenv.Creator
}

func (api creatorAPI) do(t *testing.T, method, path string, body, out any) {
	t.Helper()
	st, raw, err := api.c.Do(context.Background(), method, path, api.cr.AccessToken, body, out)
	require.NoError(t, err)
	require.Less(t, st, 300, "%s %s: %s", method, path, raw)
}

func (api creatorAPI) putMemory(t *testing.T, endUser uuid.UUID, p profileJSON) {
	t.Helper()
	api.do(t, "PUT", "/api/v1/end-users/"+endUser.String()+"/memory", map[string]any{"profile": p}, nil)
}

func (api creatorAPI) memory(t *testing.T, endUser uuid.UUID) profileJSON {
	t.Helper()
	var out struct {
		Profile profileJSON `json:"profile"`
	}
	api.do(t, "GET", "/api/v1/end-users/"+endUser.String()+"/memory", nil, &out)
	return out.Profile
}

// optWordProgram shows the API refuses an opt word as a program keyword, then stores such a
// program anyway (as an old row, or one clashing with opt words a channel adds later would be)
// so the tests can check that opt words still win at run time.
func (api creatorAPI) optWordProgram(t *testing.T, conn *pgx.Conn, name, keyword string) uuid.UUID {
	t.Helper()
	st, raw, err := api.c.Do(context.Background(), "POST", "/api/v1/programs", api.cr.AccessToken, map[string]any{"name": name, "keyword": keyword,
		"steps": []map[string]any{{"day": 1, "content": map[string]any{"kind": "text", "text": "Welcome to " + name}}}}, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusBadRequest, st, "an opt word as keyword: %s", raw)
	id := uuid.New()
	tenantExec(t, conn, api.cr.ID, `INSERT INTO programs (id, creator_id, name, keyword, steps)
		VALUES ($1, $2, $3, $4, '[{"day":1,"content":{"kind":"text","text":"hi"}}]')`, id, api.cr.ID, name, keyword)
	return id
}

// program creates a one-step program with keyword and returns its id. The step is due a day
// after enrollment, so the scheduler leaves enrollments alone during the test.
func (api creatorAPI) program(t *testing.T, name, keyword string) uuid.UUID {
	t.Helper()
	var p struct {
		ID uuid.UUID `json:"id"`
	}
	api.do(t, "POST", "/api/v1/programs", map[string]any{"name": name, "keyword": keyword,
		"steps": []map[string]any{{"day": 1, "content": map[string]any{"kind": "text", "text": "Welcome to " + name}}}}, &p)
	return p.ID
}

type enrollmentJSON struct {
	EndUserID uuid.UUID  `json:"end_user_id"`
	Status    string     `json:"status"`
	NextStep  int        `json:"next_step"`
	NextAt    *time.Time `json:"next_at"`
}

func (api creatorAPI) enrollments(t *testing.T, program uuid.UUID) []enrollmentJSON {
	t.Helper()
	var out struct {
		Enrollments []enrollmentJSON `json:"enrollments"`
	}
	api.do(t, "GET", "/api/v1/programs/"+program.String(), nil, &out)
	return out.Enrollments
}

func (api creatorAPI) messages(t *testing.T, conv uuid.UUID) []msgRow {
	t.Helper()
	var out struct {
		Messages []msgRow `json:"messages"`
	}
	api.do(t, "GET", "/api/v1/conversations/"+conv.String()+"/messages", nil, &out)
	return out.Messages
}

// redeliver publishes an inbound event again under a new deduplication id, as JetStream does
// when a handler's ack was lost: retrieve sees the same message a second time.
func redeliver(t *testing.T, a *app.App, creator uuid.UUID, in events.MessageReceived) {
	t.Helper()
	b, err := json.Marshal(events.New(creator, in, nil, time.Now()))
	require.NoError(t, err)
	require.NoError(t, a.Bus.Publish(context.Background(), events.InboundSubject(creator, in.Channel), "redelivery:"+uuid.NewString(), b, nil))
}

// coachTurns gives the creator a persona no other test uses (set by setPersona) and returns a
// counter of the chat model calls made for that creator's turns: the package's tests share
// NATS, so a turn another test left behind may reach this process's model double.
func coachTurns(t *testing.T, ollama *ollamatest.Server, setPersona func(string)) func() int {
	t.Helper()
	marker := "You are coach " + uuid.NewString() + "."
	setPersona(marker)
	return func() int {
		n := 0
		for _, r := range ollama.ChatRequests() {
			if len(r.Messages) > 0 && strings.Contains(r.Messages[0].Content, marker) {
				n++
			}
		}
		return n
	}
}

// noFurtherReply fails when another assistant message arrives on ws within d.
func noFurtherReply(t *testing.T, ws *testenv.WidgetConn, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case f := <-ws.Frames:
			if testenv.IsReply(f) {
				t.Fatalf("unexpected reply %q", f.Text)
			}
		case <-deadline:
			return
		}
	}
}

// TestInboundCommandsWidget: over the widget socket, "what do you remember about me" lists the
// profile the creator saved and "/forget" erases it, without the model; a redelivered /forget
// acts and answers once; commands work during a takeover; a program keyword enrolls once and
// opt words are never program keywords; ordinary questions still reach the coach.
func TestInboundCommandsWidget(t *testing.T) {
	t.Parallel()
	h := newHarness(t, ollamatest.Options{DeltaDelay: time.Millisecond})
	a := h.start(h.config())
	c := testenv.NewClient(a.URL)
	cr := c.Register(t)
	api := creatorAPI{c: c, cr: &cr}
	ctx := context.Background()
	chats := coachTurns(t, h.ollama, func(persona string) { c.SetWidget(t, cr, persona) })

	sess := c.StartWidget(t, cr.WidgetKey, "anon-"+uuid.NewString())
	ws, _, err := c.DialWidget(ctx, sess, 0, nil)
	require.NoError(t, err)
	defer ws.CloseNow()
	ws.Next(t, 10*time.Second, func(f testenv.Frame) bool { return f.Type == "ready" })

	profile := profileJSON{Goals: []string{"Sleep eight hours"}, Commitments: []string{"No coffee after 2 pm"}, Facts: []string{"Works night shifts"}}
	api.putMemory(t, sess.EndUserID, profile)

	// Show.
	_, err = ws.Say(ctx, "What do you remember about me?")
	require.NoError(t, err)
	reply := ws.Next(t, 20*time.Second, testenv.IsReply)
	for _, item := range []string{"Sleep eight hours", "No coffee after 2 pm", "Works night shifts"} {
		require.Contains(t, reply.Text, item)
	}
	require.Equal(t, 0, chats(), "a memory command never reaches the model")

	// Forget: confirmed, the profile is gone.
	forgetID, err := ws.Say(ctx, "/forget")
	require.NoError(t, err)
	reply = ws.Next(t, 20*time.Second, testenv.IsReply)
	require.Contains(t, reply.Text, "erased")
	require.True(t, api.memory(t, sess.EndUserID).empty(), "the profile is erased")

	// The same /forget delivered again: nothing is erased a second time (the creator's new
	// profile stays) and nothing new is stored or sent.
	later := profileJSON{Goals: []string{"Run a 10k"}}
	api.putMemory(t, sess.EndUserID, later)
	before := len(api.messages(t, sess.ConversationID))
	redeliver(t, a, cr.ID, events.MessageReceived{Channel: events.ChannelWidget, ProviderMessageID: forgetID,
		EndUserID: sess.EndUserID, ConversationID: sess.ConversationID, Text: "/forget"})
	noFurtherReply(t, ws, 2*time.Second)
	require.Len(t, api.messages(t, sess.ConversationID), before)
	require.Equal(t, later.norm(), api.memory(t, sess.EndUserID).norm())

	// During a takeover the person can still see their data.
	api.do(t, "POST", "/api/v1/conversations/"+sess.ConversationID.String()+"/takeover", nil, nil)
	_, err = ws.Say(ctx, "/memory")
	require.NoError(t, err)
	reply = ws.Next(t, 20*time.Second, testenv.IsReply)
	require.Contains(t, reply.Text, "Run a 10k")
	api.do(t, "POST", "/api/v1/conversations/"+sess.ConversationID.String()+"/release", nil, nil)
	require.Equal(t, 0, chats())

	// Program keyword, any case: enrolled, confirmed, step 0 scheduled.
	prog := api.program(t, "30-day reset", "START30")
	sentAt := time.Now()
	_, err = ws.Say(ctx, "start30")
	require.NoError(t, err)
	reply = ws.Next(t, 20*time.Second, testenv.IsReply)
	require.Equal(t, "You're enrolled in 30-day reset.", reply.Text)
	ens := api.enrollments(t, prog)
	require.Len(t, ens, 1)
	require.Equal(t, sess.EndUserID, ens[0].EndUserID)
	require.Equal(t, "active", ens[0].Status)
	require.Equal(t, 0, ens[0].NextStep)
	require.NotNil(t, ens[0].NextAt)
	require.WithinDuration(t, sentAt.Add(24*time.Hour), *ens[0].NextAt, time.Minute, "step 0 (day 1) due a day after enrollment")
	require.Equal(t, 0, chats())

	// An ordinary question mentioning memory goes to the coach.
	_, err = ws.Say(ctx, "How can I improve my memory?")
	require.NoError(t, err)
	reply = ws.Next(t, 30*time.Second, testenv.IsReply)
	require.Contains(t, reply.Text, "improve my memory")
	require.Equal(t, 1, chats())

	// A second person (the widget allows 5 messages per 10 s per session): the keyword sent
	// twice as one message (the widget re-sends the same id) and then again as a new message
	// enrolls once; "START" is an opt word, never a program keyword, and goes to the coach.
	shadow := api.optWordProgram(t, ownerConn(t, h), "Shadow", "START")
	sess2 := c.StartWidget(t, cr.WidgetKey, "anon-"+uuid.NewString())
	ws2, _, err := c.DialWidget(ctx, sess2, 0, nil)
	require.NoError(t, err)
	defer ws2.CloseNow()
	ws2.Next(t, 10*time.Second, func(f testenv.Frame) bool { return f.Type == "ready" })
	id := uuid.NewString()
	for range 2 {
		require.NoError(t, ws2.SendJSON(ctx, map[string]string{"type": "message", "id": id, "text": " START30 "}))
	}
	reply = ws2.Next(t, 20*time.Second, testenv.IsReply)
	require.Equal(t, "You're enrolled in 30-day reset.", reply.Text)
	noFurtherReply(t, ws2, 1500*time.Millisecond)
	n := chats()
	_, err = ws2.Say(ctx, "Start30!")
	require.NoError(t, err)
	ws2.Next(t, 30*time.Second, testenv.IsReply)
	require.Equal(t, n+1, chats(), "not the keyword (punctuation): went to the coach")
	_, err = ws2.Say(ctx, "start30")
	require.NoError(t, err)
	reply = ws2.Next(t, 20*time.Second, testenv.IsReply)
	require.Equal(t, "You're already enrolled in 30-day reset.", reply.Text)
	require.Len(t, api.enrollments(t, prog), 2)

	n = chats()
	_, err = ws2.Say(ctx, "START")
	require.NoError(t, err)
	ws2.Next(t, 30*time.Second, testenv.IsReply)
	require.Equal(t, n+1, chats(), "START went to the coach")
	require.Empty(t, api.enrollments(t, shadow), "an opt word never enrolls")
}

// TestInboundCommandsChannels: on Telegram the memory commands and a program keyword are
// answered once even when the webhook is delivered twice, and a redelivered event neither acts
// nor answers again; opt words win over a program keyword; WhatsApp answers the same commands.
// None of it reaches the model.
func TestInboundCommandsChannels(t *testing.T) {
	t.Parallel()
	r := newChannelRig(t, ollamatest.Options{DeltaDelay: time.Millisecond}, dispatch.Limits{})
	api := creatorAPI{c: r.c, cr: &r.cr}
	tg := r.addChannel(t, map[string]any{"type": "telegram", "bot_token": telegramtest.DefaultToken})
	chats := coachTurns(t, r.ollama, func(persona string) { r.c.SetWidget(t, r.cr, persona) })
	sentWith := func(sub string) int {
		n := 0
		for _, s := range r.tg.SentTo(7731) {
			if strings.Contains(s.Text, sub) {
				n++
			}
		}
		return n
	}
	twice := func(payload []byte) {
		t.Helper()
		for range 2 {
			st, body := r.postTG(t, tg, payload)
			require.Equal(t, http.StatusOK, st, body)
		}
	}
	// waitOnce waits for a message containing sub and checks it stays the only one.
	waitOnce := func(sub string) {
		t.Helper()
		testenv.Eventually(t, 30*time.Second, func() bool { return sentWith(sub) > 0 }, "an answer with %q", sub)
		quiet(t, 1500*time.Millisecond, 1, func() int { return sentWith(sub) }, "exactly one answer with "+sub)
	}

	twice(telegramtest.UpdatePayload(2001, 7731, 7731, "/memory"))
	waitOnce("I don't remember anything about you yet.")

	var list struct {
		Conversations []struct {
			ID        uuid.UUID `json:"id"`
			EndUserID uuid.UUID `json:"end_user_id"`
		} `json:"conversations"`
	}
	api.do(t, "GET", "/api/v1/conversations?channel=telegram", nil, &list)
	require.Len(t, list.Conversations, 1)
	eu, conv := list.Conversations[0].EndUserID, list.Conversations[0].ID

	api.putMemory(t, eu, profileJSON{Goals: []string{"Fall asleep before midnight"}, Preferences: []string{"Short answers"}})
	twice(telegramtest.UpdatePayload(2002, 7731, 7731, "What do you remember about me?"))
	waitOnce("Fall asleep before midnight")
	require.Equal(t, 1, sentWith("Short answers"))

	twice(telegramtest.UpdatePayload(2003, 7731, 7731, "Forget me!"))
	waitOnce("erased everything")
	require.True(t, api.memory(t, eu).empty())

	// Redelivered to retrieve: not erased again, not answered again.
	kept := profileJSON{Facts: []string{"Has a dog"}}
	api.putMemory(t, eu, kept)
	stored := len(api.messages(t, conv))
	redeliver(t, r.a, r.cr.ID, events.MessageReceived{Channel: events.ChannelTelegram, ChannelID: tg.ID, ProviderMessageID: "7731:2003",
		ExternalUserID: "7731", ChatID: "7731", Text: "Forget me!"})
	quiet(t, 2*time.Second, 1, func() int { return sentWith("erased everything") }, "the redelivery answers nothing")
	require.Equal(t, kept.norm(), api.memory(t, eu).norm())
	require.Len(t, api.messages(t, conv), stored)

	// Program keyword.
	prog := api.program(t, "30-day reset", "START30")
	twice(telegramtest.UpdatePayload(2004, 7731, 7731, "start30"))
	waitOnce("You're enrolled in 30-day reset.")
	ens := api.enrollments(t, prog)
	require.Len(t, ens, 1)
	require.Equal(t, eu, ens[0].EndUserID)
	require.Equal(t, "active", ens[0].Status)
	redeliver(t, r.a, r.cr.ID, events.MessageReceived{Channel: events.ChannelTelegram, ChannelID: tg.ID, ProviderMessageID: "7731:2004",
		ExternalUserID: "7731", ChatID: "7731", Text: "start30"})
	quiet(t, 2*time.Second, 1, func() int { return sentWith("enrolled in 30-day reset") }, "the redelivery answers nothing")
	require.Len(t, api.enrollments(t, prog), 1)

	// Opt words win: a program whose keyword is START never enrolls; START opts in as always.
	shadow := api.optWordProgram(t, ownerConn(t, r.h), "Shadow", "START")
	twice(telegramtest.UpdatePayload(2005, 7731, 7731, "start"))
	waitOnce("subscribed again")
	require.Empty(t, api.enrollments(t, shadow))
	require.Equal(t, 0, chats(), "commands, keywords and opt words never reach the model")

	// In a group chat (groups enabled for the channel, the command addressed to the bot) the
	// profile is not shown.
	r.do(t, "PATCH", "/api/v1/channels/"+tg.ID.String(), map[string]any{"groups_enabled": true})
	r.postTG(t, tg, telegramtest.UpdatePayload(2006, -7731, 7731, "/memory@test_coach_bot"))
	testenv.Eventually(t, 30*time.Second, func() bool { return len(r.tg.SentTo(-7731)) == 1 }, "an answer in the group")
	require.Contains(t, r.tg.SentTo(-7731)[0].Text, "only show what I remember about you in a private chat")

	// WhatsApp: the same commands.
	wa := r.whatsapp(t, false)
	waSent := func(text string) int {
		n := 0
		for _, s := range r.wa.SentTo("491700000009") {
			if s.Text == text {
				n++
			}
		}
		return n
	}
	for _, tc := range []struct{ text, answer string }{
		{"/forget", "There was nothing to erase: I don't remember anything about you yet."},
		{"show my memory", "I don't remember anything about you yet."},
	} {
		payload := whatsapptest.TextMessagePayload(whatsapptest.DefaultPhoneNumberID, whatsapptest.Msg{From: "491700000009", Name: "Ana", Text: tc.text})
		for range 2 {
			st, body := r.postWA(t, wa, payload)
			require.Equal(t, http.StatusOK, st, body)
		}
		testenv.Eventually(t, 30*time.Second, func() bool { return waSent(tc.answer) > 0 }, "whatsapp answer to %q", tc.text)
		quiet(t, 1500*time.Millisecond, 1, func() int { return waSent(tc.answer) }, "exactly one whatsapp answer")
	}
	require.Equal(t, 0, chats())
}
