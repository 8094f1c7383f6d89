package app_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/llm/ollamatest"
	"github.com/coachwire/coachwire/internal/testenv"
)

// TestCreatorAPIIsolation: every creator endpoint with another creator's ids answers 404 and
// returns nothing.
func TestCreatorAPIIsolation(t *testing.T) {
	h := newHarness(t, ollamatest.Options{})
	a := h.start(h.config())
	c := testenv.NewClient(a.URL)
	alice, bob := c.Register(t), c.Register(t)
	doc := c.AddDocument(t, alice, "Alice's secrets", "text", "Alice keeps her secret recipe here: saffron and cardamom.")
	ctx := context.Background()
	sess := c.StartWidget(t, alice.WidgetKey, "anon-"+uuid.NewString())
	ws, _, err := c.DialWidget(ctx, sess, 0, nil)
	require.NoError(t, err)
	_, err = ws.Say(ctx, "what is the secret recipe?")
	require.NoError(t, err)
	ws.Next(t, 30*time.Second, testenv.IsReply)
	ws.CloseNow()

	for _, path := range []string{"/api/v1/documents/" + doc.String(), "/api/v1/conversations/" + sess.ConversationID.String() + "/messages"} {
		st, raw, err := c.Do(ctx, "GET", path, bob.AccessToken, nil, nil)
		require.NoError(t, err)
		require.Equal(t, http.StatusNotFound, st, "%s: %s", path, raw)
		require.NotContains(t, string(raw), "saffron")
	}
	for _, path := range []string{"/api/v1/documents", "/api/v1/conversations"} {
		_, raw, err := c.Do(ctx, "GET", path, bob.AccessToken, nil, nil)
		require.NoError(t, err)
		require.NotContains(t, string(raw), doc.String())
		require.NotContains(t, string(raw), sess.ConversationID.String())
	}
	// Bob's widget users asking about Alice's material find nothing of it.
	bs := c.StartWidget(t, bob.WidgetKey, "anon-"+uuid.NewString())
	bws, _, err := c.DialWidget(ctx, bs, 0, nil)
	require.NoError(t, err)
	defer bws.CloseNow()
	_, err = bws.Say(ctx, "saffron and cardamom secret recipe")
	require.NoError(t, err)
	reply := bws.Next(t, 30*time.Second, testenv.IsReply)
	require.Empty(t, reply.Sources)
	require.NotContains(t, strings.ToLower(reply.Text), "from the sources")
}
