package app_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/llm/ollamatest"
	"github.com/coachwire/coachwire/internal/testenv"
)

// TestAnswersStayInTheirTenant: creator B's widget users asking about creator A's material
// get an answer without any of it (ingest, the knowledge index and retrieve keep each creator
// in its tenant). The creator API's side (B reading A's documents and conversations: 404) is
// internal/gateway's TestCreatorAPIIsolation.
func TestAnswersStayInTheirTenant(t *testing.T) {
	t.Parallel()
	h := newHarness(t, ollamatest.Options{})
	a := h.start(h.config())
	c := testenv.NewClient(a.URL)
	alice, bob := c.Register(t), c.Register(t)
	c.AddDocument(t, alice, "Alice's secrets", "text", "Alice keeps her secret recipe here: saffron and cardamom.")
	ctx := context.Background()
	sess := c.StartWidget(t, alice.WidgetKey, "anon-"+uuid.NewString())
	ws, _, err := c.DialWidget(ctx, sess, 0, nil)
	require.NoError(t, err)
	// Alice's own users find it with the very question Bob's will ask.
	_, err = ws.Say(ctx, "saffron and cardamom secret recipe")
	require.NoError(t, err)
	require.NotEmpty(t, ws.Next(t, 30*time.Second, testenv.IsReply).Sources, "Alice's document is found for Alice")
	ws.CloseNow()

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
