package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/testenv"
)

// TestCreatorAPIIsolation: creator B reading, listing, answering or deleting creator A's
// document and conversation (with a question and an answer quoting the document, as the
// pipeline stores them) gets 404 and nothing of A's text or ids; A still sees both. A's widget
// message is published on A's subject only. (That B's widget users get no answer from A's
// material is internal/app's TestAnswersStayInTheirTenant.)
func TestCreatorAPIIsolation(t *testing.T) {
	t.Parallel()
	e := newFullEnv(t)
	ctx := context.Background()
	alice, bob := e.c.Register(t), e.c.Register(t)
	var doc struct {
		ID uuid.UUID `json:"id"`
	}
	st, raw, err := e.c.Do(ctx, "POST", "/api/v1/documents", alice.AccessToken, map[string]string{"title": "Alice's secrets", "format": "text",
		"content": "Alice keeps her secret recipe here: saffron and cardamom."}, &doc)
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, st, string(raw))

	// Alice's end user asks over the widget: the message goes to Alice's inbound subject.
	aliceIn, err := e.bus.SubscribeSync(events.InboundSubject(alice.ID, events.ChannelWidget))
	require.NoError(t, err)
	bobIn, err := e.bus.SubscribeSync(events.InboundSubject(bob.ID, events.ChannelWidget))
	require.NoError(t, err)
	sess := e.c.StartWidget(t, alice.WidgetKey, "anon-"+uuid.NewString())
	ws, _, err := e.c.DialWidget(ctx, sess, 0, nil)
	require.NoError(t, err)
	defer ws.CloseNow()
	ws.Next(t, 10*time.Second, func(f testenv.Frame) bool { return f.Type == "ready" })
	id, err := ws.Say(ctx, "what is the secret recipe?")
	require.NoError(t, err)
	ws.Next(t, 10*time.Second, func(f testenv.Frame) bool { return f.Type == "ack" })
	m, err := aliceIn.NextMsg(10 * time.Second)
	require.NoError(t, err)
	in, err := events.Decode[events.MessageReceived](m.Data)
	require.NoError(t, err)
	require.Equal(t, id, in.Data.ProviderMessageID)
	require.Equal(t, sess.ConversationID, in.Data.ConversationID)
	pending, _, err := bobIn.Pending()
	require.NoError(t, err)
	require.Zero(t, pending, "Alice's message on Bob's subject")

	// The question and an answer quoting the document, as retrieve and generate store them.
	sources, _ := json.Marshal([]events.Passage{{DocumentID: doc.ID, Title: "Alice's secrets", Text: "saffron and cardamom", Score: 1}})
	require.NoError(t, testenv.Store(t).InTenant(ctx, alice.ID, func(q *db.Queries) error {
		qid := uuid.MustParse(id)
		if _, err := q.InsertMessage(ctx, db.InsertMessageParams{ID: qid, CreatorID: alice.ID, ConversationID: sess.ConversationID,
			Role: "user", Body: "what is the secret recipe?", Sources: json.RawMessage("[]"), Channel: events.ChannelWidget, Status: "received"}); err != nil {
			return err
		}
		_, err := q.InsertMessage(ctx, db.InsertMessageParams{ID: uuid.New(), CreatorID: alice.ID, ConversationID: sess.ConversationID,
			Role: "assistant", Body: "The secret recipe uses saffron and cardamom.", Sources: sources, ReplyTo: uuid.NullUUID{UUID: qid, Valid: true},
			Channel: events.ChannelWidget, Status: "queued"})
		return err
	}))

	docPath, msgPath := "/api/v1/documents/"+doc.ID.String(), "/api/v1/conversations/"+sess.ConversationID.String()+"/messages"
	for _, path := range []string{docPath, msgPath} {
		st, raw, err := e.c.Do(ctx, "GET", path, alice.AccessToken, nil, nil)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, st, "%s: %s", path, raw)
		st, raw, err = e.c.Do(ctx, "GET", path, bob.AccessToken, nil, nil)
		require.NoError(t, err)
		require.Equal(t, http.StatusNotFound, st, "%s: %s", path, raw)
		require.NotContains(t, string(raw), "saffron")
	}
	st, raw, err = e.c.Do(ctx, "GET", msgPath, alice.AccessToken, nil, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, st, string(raw))
	require.Contains(t, string(raw), "saffron", "Alice reads her conversation")
	for _, path := range []string{"/api/v1/documents", "/api/v1/conversations"} {
		st, raw, err := e.c.Do(ctx, "GET", path, bob.AccessToken, nil, nil)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, st, "%s: %s", path, raw)
		require.NotContains(t, string(raw), doc.ID.String())
		require.NotContains(t, string(raw), sess.ConversationID.String())
		require.NotContains(t, string(raw), "saffron")
	}
	st, raw, err = e.c.Do(ctx, "GET", "/api/v1/conversations", alice.AccessToken, nil, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, st, string(raw))
	require.Contains(t, string(raw), sess.ConversationID.String(), "Alice lists her conversation")

	// Bob can neither answer in nor delete what is Alice's.
	st, raw, err = e.c.Do(ctx, "POST", "/api/v1/conversations/"+sess.ConversationID.String()+"/messages", bob.AccessToken, map[string]string{"text": "hi"}, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusNotFound, st, string(raw))
	st, raw, err = e.c.Do(ctx, "DELETE", docPath, bob.AccessToken, nil, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusNotFound, st, string(raw))
	st, _, err = e.c.Do(ctx, "GET", docPath, alice.AccessToken, nil, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, st, "Alice's document survives Bob's delete")
}
