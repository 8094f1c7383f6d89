package retrieve_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/channels"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/ids"
	"github.com/coachwire/coachwire/internal/memory"
	"github.com/coachwire/coachwire/internal/people"
	"github.com/coachwire/coachwire/internal/retrieve"
)

// appUser creates an end user of the app (channel app, as POST /api/v1/app/session does) with
// its conversation.
func (r *rig) appUser(t *testing.T) (endUser, conv uuid.UUID) {
	t.Helper()
	ctx := context.Background()
	external := "anon:" + uuid.NewString()
	endUser = ids.EndUser(r.creator, events.ChannelApp, external)
	conv = ids.Conversation(r.creator, endUser, events.ChannelApp)
	r.tx(t, func(q *db.Queries) error {
		if _, err := q.UpsertEndUser(ctx, db.UpsertEndUserParams{ID: endUser, CreatorID: r.creator, Channel: events.ChannelApp, ExternalID: external}); err != nil {
			return err
		}
		_, err := q.UpsertConversation(ctx, db.UpsertConversationParams{ID: conv, CreatorID: r.creator, EndUserID: endUser, Channel: events.ChannelApp})
		return err
	})
	return endUser, conv
}

// code issues a link code for endUser at now (as POST /api/v1/app/link does).
func (r *rig) code(t *testing.T, endUser uuid.UUID, now time.Time) string {
	t.Helper()
	var c people.Code
	r.tx(t, func(q *db.Queries) (err error) {
		c, err = people.NewCode(context.Background(), q, r.creator, endUser, now)
		return err
	})
	return c.Code
}

func (r *rig) person(t *testing.T, endUser uuid.UUID) uuid.UUID {
	return r.endUser(t, endUser).PersonID
}

func facts(t *testing.T, r *rig, endUser uuid.UUID) []string {
	t.Helper()
	return memory.Parse(json.RawMessage(r.memory(t, endUser))).Facts
}

// TestLinkByCode: the app's code sent as "LINK <code>" in a WhatsApp chat links the two end
// users into one person, answered in the chat and confirmed in the app's conversation, without
// a turn, once however often the message is redelivered. Their memory is one profile (what was
// learned on WhatsApp is in the app's, and what is learned after), STOP on WhatsApp opts the app
// out too. The code is single-use; a Telegram deep link (/start link_<code>) with a new code
// links Telegram to the same person; an expired, unknown or same-channel code changes nothing.
// A code sent to another creator's bot is unknown there. Unlinking separates again.
func TestLinkByCode(t *testing.T) {
	t.Parallel()
	r := newRig(t, &retrieve.Worker{Search: index(t)})
	wa := r.channel(t, "whatsapp", channels.Config{PhoneNumberID: "1"})
	tg := r.channel(t, "telegram", channels.Config{BotUsername: "test_coach_bot"})
	app, appConv := r.appUser(t)
	weu, wconv := channelConv(r, "whatsapp", wa, "491700000001", "")
	teu, tconv := channelConv(r, "telegram", tg, "8801", "8801")
	say := func(ch uuid.UUID, msg events.MessageReceived, conv uuid.UUID) string {
		t.Helper()
		for _, key := range []string{msg.ProviderMessageID, msg.ProviderMessageID, "redelivery-" + msg.ProviderMessageID} {
			r.publish(t, key, msg)
		}
		r.handled(t)
		a := r.answerTo(t, conv, channelMsgID(r, msg.Channel, ch, msg.ProviderMessageID))
		require.NotNil(t, a, "answer to %q", msg.Text)
		return a.Body
	}
	// The WhatsApp person is known to the coach already.
	require.Contains(t, say(wa, whatsapp(wa, "491700000001", "w1", "show my memory"), wconv), "don't remember")
	r.putMemory(t, weu, map[string][]string{"facts": {"Has a dog"}})
	r.putMemory(t, app, map[string][]string{"goals": {"Run 5 km"}})
	require.NotEqual(t, r.person(t, app), r.person(t, weu))

	code := r.code(t, app, time.Now())
	require.Len(t, code, people.CodeLen)
	require.Contains(t, say(wa, whatsapp(wa, "491700000001", "w2", "link "+code), wconv), "now linked with your app")
	require.Equal(t, r.person(t, weu), r.person(t, app), "one person")
	appMsgs := r.messages(t, appConv)
	require.Len(t, appMsgs, 1, "the app's conversation gets the confirmation, once")
	require.Equal(t, "assistant", appMsgs[0].Role)
	require.Contains(t, appMsgs[0].Body, "WhatsApp chat is now linked")
	// A reply to the person's LINK (dispatch: socket when open, never held by an opt-out), not
	// a proactive send.
	require.Equal(t, uuid.NullUUID{UUID: channelMsgID(r, "whatsapp", wa, "w2"), Valid: true}, appMsgs[0].ReplyTo)
	out := r.outbound(t, events.ChannelApp)
	require.Len(t, out, 1, "the confirmation is handed to the app's channel once")
	require.Equal(t, app, out[0].EndUserID)
	require.Equal(t, appMsgs[0].ID, out[0].MessageID)

	// One profile: both facts, read through either end user; a fact learned on WhatsApp after
	// linking (the extractor's write) is in the app's profile.
	require.Equal(t, []string{"Has a dog"}, facts(t, r, app))
	require.Equal(t, []string{"Run 5 km"}, memory.Parse(json.RawMessage(r.memory(t, app))).Goals)
	r.tx(t, func(q *db.Queries) error {
		st, err := q.MemoryState(context.Background(), weu)
		if err != nil {
			return err
		}
		_, err = q.SaveExtractedMemory(context.Background(), db.SaveExtractedMemoryParams{EndUserID: weu, CreatorID: r.creator,
			Profile: json.RawMessage(`{"goals":["Run 5 km"],"facts":["Has a dog","Lives in Porto"]}`), ExtractedSeq: st.LatestGseq + 1, ReadVersion: st.Version})
		return err
	})
	require.Equal(t, []string{"Has a dog", "Lives in Porto"}, facts(t, r, app))

	// STOP on WhatsApp: the app is opted out too.
	say(wa, whatsapp(wa, "491700000001", "w3", "STOP"), wconv)
	require.NotNil(t, r.endUser(t, app).OptedOutAt, "STOP on a linked channel opts the person out everywhere")
	say(wa, whatsapp(wa, "491700000001", "w4", "START"), wconv)
	require.Nil(t, r.endUser(t, app).OptedOutAt)

	// Single use: the same code from Telegram is refused and links nothing.
	require.Contains(t, say(tg, telegram(tg, "8801", "8801", "t1", "LINK "+code), tconv), "already used")
	require.NotEqual(t, r.person(t, app), r.person(t, teu))
	// A new code through the Telegram deep link: the third identity joins the person.
	require.Contains(t, say(tg, telegram(tg, "8801", "8801", "t2", "/start link_"+r.code(t, app, time.Now())), tconv), "now linked")
	require.Equal(t, r.person(t, app), r.person(t, teu))
	require.Equal(t, []string{"Has a dog", "Lives in Porto"}, facts(t, r, teu))

	// One enrollment per person: the program keyword in the chat, then in the other chat.
	prog := r.program(t, "30-day reset", "START30")
	require.Equal(t, "You're enrolled in 30-day reset.", say(wa, whatsapp(wa, "491700000001", "w6", "START30"), wconv))
	require.Equal(t, "You're already enrolled in 30-day reset.", say(tg, telegram(tg, "8801", "8801", "t3", "start30"), tconv))
	require.Len(t, r.enrollments(t, prog), 1)

	// Expired, unknown, and sent from the app's own channel kind: refused, nothing changes.
	other, otherConv := channelConv(r, "whatsapp", wa, "491700000002", "")
	require.Contains(t, say(wa, whatsapp(wa, "491700000002", "x1", "LINK "+r.code(t, app, time.Now().Add(-time.Hour))), otherConv), "expired")
	require.Contains(t, say(wa, whatsapp(wa, "491700000002", "x2", "LINK ZZZZ2222"), otherConv), "don't know this link code")
	require.Equal(t, other, r.person(t, other))
	app2, _ := r.appUser(t)
	code2 := r.code(t, app2, time.Now())
	r.tx(t, func(q *db.Queries) error {
		eu, err := q.GetEndUser(context.Background(), app)
		if err != nil {
			return err
		}
		_, err = people.Redeem(context.Background(), q, code2, eu, time.Now())
		require.ErrorIs(t, err, people.ErrSameChannel)
		return nil
	})

	// Creator B's bot gets A's code: unknown there, and nothing of A's changes.
	rb := newRig(t, &retrieve.Worker{Search: index(t)})
	waB := rb.channel(t, "whatsapp", channels.Config{PhoneNumberID: "2"})
	crossCode := r.code(t, app2, time.Now())
	_, convB := channelConv(rb, "whatsapp", waB, "491700000003", "")
	rb.publish(t, "b1", whatsapp(waB, "491700000003", "b1", "LINK "+crossCode))
	rb.handled(t)
	require.Contains(t, rb.answerTo(t, convB, channelMsgID(rb, "whatsapp", waB, "b1")).Body, "don't know this link code")
	require.Equal(t, app2, r.person(t, app2))
	require.Contains(t, say(wa, whatsapp(wa, "491700000002", "x3", "LINK "+crossCode), otherConv), "now linked", "the code still works with its own creator")

	require.Empty(t, r.turns(t), "no LINK message reaches the model")

	// Unlink WhatsApp: it leaves with an empty profile and its own consent; the app and
	// Telegram keep the shared profile.
	r.tx(t, func(q *db.Queries) error { _, err := people.Unlink(context.Background(), q, weu); return err })
	require.Equal(t, weu, r.person(t, weu))
	require.Equal(t, r.person(t, app), r.person(t, teu))
	require.Empty(t, r.memory(t, weu))
	require.Equal(t, []string{"Has a dog", "Lives in Porto"}, facts(t, r, app))
	say(wa, whatsapp(wa, "491700000001", "w5", "STOP"), wconv)
	require.Nil(t, r.endUser(t, app).OptedOutAt, "no longer linked: STOP is the chat's alone")
}

// TestMatchLink: what counts as a link command (anything else goes to the coach).
func TestMatchLink(t *testing.T) {
	for text, want := range map[string]string{
		"LINK ABCD2345": "ABCD2345", "link abcd2345": "ABCD2345", " Link: ABCD-2345 ": "ABCD2345", "LINK ABCD 2345": "", "/link ABCD2345": "ABCD2345",
		"/start link_ABCD2345": "ABCD2345", "/start@test_coach_bot link_ABCD2345": "ABCD2345", "LINK zz": "", "link me to you": "",
		"link": "", "link me to your website please": "", "LINKABCD2345": "", "what is the link ABCD2345": "",
	} {
		got, ok := people.MatchLink(text)
		require.Equal(t, want != "", ok, text)
		require.Equal(t, want, got, text)
	}
}
