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
