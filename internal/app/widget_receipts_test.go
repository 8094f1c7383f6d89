package app_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/llm/ollamatest"
	"github.com/coachwire/coachwire/internal/testenv"
)

// widgetMessageStatus reads a message's status through the creator's API ("" when missing).
func widgetMessageStatus(t testing.TB, c *testenv.Client, cr testenv.Creator, conv uuid.UUID, id string) string {
	t.Helper()
	var out struct {
		Messages []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"messages"`
	}
	st, raw, err := c.Do(context.Background(), "GET", "/api/v1/conversations/"+conv.String()+"/messages", cr.AccessToken, nil, &out)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, st, string(raw))
	for _, m := range out.Messages {
		if m.ID == id {
			return m.Status
		}
	}
	return ""
}

// widgetTurn sends text on ws and returns the reply.
func widgetTurn(t *testing.T, ws *testenv.WidgetConn, text string) testenv.Frame {
	t.Helper()
	_, err := ws.Say(context.Background(), text)
	require.NoError(t, err)
	return ws.Next(t, 30*time.Second, testenv.IsReply)
}

// TestWidgetReceipts: a reply written to the widget's socket becomes delivered; the widget's
// seen frame makes it read. A seen frame only ever reaches the session's own conversation: a
// seq of another person's message marks nothing of theirs, and one past the conversation's
// messages is refused.
func TestWidgetReceipts(t *testing.T) {
	t.Parallel()
	h := newHarness(t, ollamatest.Options{DeltaDelay: time.Millisecond})
	a := h.start(h.config())
	c := testenv.NewClient(a.URL)
	cr := c.Register(t)
	ctx := context.Background()
	dial := func(s testenv.WidgetSession) *testenv.WidgetConn {
		ws, _, err := c.DialWidget(ctx, s, 0, nil)
		require.NoError(t, err)
		t.Cleanup(func() { ws.CloseNow() })
		ws.Next(t, 10*time.Second, func(f testenv.Frame) bool { return f.Type == "ready" })
		return ws
	}
	status := func(s testenv.WidgetSession, id string) func() string {
		return func() string { return widgetMessageStatus(t, c, cr, s.ConversationID, id) }
	}
	waitStatus := func(get func() string, want string) {
		t.Helper()
		testenv.Eventually(t, 20*time.Second, func() bool { return get() == want }, "message %s", want)
	}

	// B is answered first, and never says what it has seen.
	sb := c.StartWidget(t, cr.WidgetKey, "anon-"+uuid.NewString())
	wb := dial(sb)
	rb := widgetTurn(t, wb, "Hello, I am B")
	waitStatus(status(sb, rb.ID), "delivered")

	sa := c.StartWidget(t, cr.WidgetKey, "anon-"+uuid.NewString())
	wa := dial(sa)
	ra := widgetTurn(t, wa, "Hello, I am A")
	require.Equal(t, rb.Seq, ra.Seq, "each conversation numbers its own messages")
	waitStatus(status(sa, ra.ID), "delivered")

	// Invalid seen frames get an error frame and change nothing.
	require.NoError(t, wa.SendJSON(ctx, map[string]any{"type": "seen", "seq": 0}))
	require.Equal(t, "bad_seq", wa.Next(t, 5*time.Second, func(f testenv.Frame) bool { return f.Type == "error" }).Code)
	require.NoError(t, wa.SendJSON(ctx, map[string]any{"type": "seen", "seq": "x"}))
	require.Equal(t, "bad_frame", wa.Next(t, 5*time.Second, func(f testenv.Frame) bool { return f.Type == "error" }).Code)
	require.NoError(t, wa.SendJSON(ctx, map[string]any{"type": "seen", "seq": ra.Seq + 1000}))
	require.Equal(t, "bad_seq", wa.Next(t, 5*time.Second, func(f testenv.Frame) bool { return f.Type == "error" }).Code)

	// A has seen its reply: read. B's reply (the same seq, in B's conversation) stays delivered.
	require.NoError(t, wa.SendJSON(ctx, map[string]any{"type": "seen", "seq": ra.Seq}))
	waitStatus(status(sa, ra.ID), "read")
	require.Equal(t, "delivered", status(sb, rb.ID)())

	// B's next reply is past A's conversation: A cannot mark it.
	rb2 := widgetTurn(t, wb, "Still B here")
	require.Greater(t, rb2.Seq, ra.Seq)
	waitStatus(status(sb, rb2.ID), "delivered")
	require.NoError(t, wa.SendJSON(ctx, map[string]any{"type": "seen", "seq": rb2.Seq}))
	require.Equal(t, "bad_seq", wa.Next(t, 5*time.Second, func(f testenv.Frame) bool { return f.Type == "error" }).Code)

	// B sees its first reply: read. (A read receipt leaves later messages delivered, and a
	// replayed read message stays read: internal/dispatch TestWidgetPushAndReceipts.)
	require.NoError(t, wb.SendJSON(ctx, map[string]any{"type": "seen", "seq": rb.Seq}))
	waitStatus(status(sb, rb.ID), "read")
	require.Equal(t, "read", status(sa, ra.ID)())
}

// TestWidgetCampaignReceipts: a campaign message to a widget user who is not connected is sent
// but not delivered; it counts as delivered in the campaign's stats once the person connects
// (the message is replayed to the socket) and as read once the widget reports it seen.
func TestWidgetCampaignReceipts(t *testing.T) {
	t.Parallel()
	h := newHarness(t, ollamatest.Options{})
	cfg := h.config()
	cfg.Nudge.Tick, cfg.Nudge.Page, cfg.Nudge.Lease = 100*time.Millisecond, 50, 5*time.Second
	a := h.start(cfg)
	c := testenv.NewClient(a.URL)
	cr := c.Register(t)
	conn := ownerConn(t, h)
	tenantExec(t, conn, cr.ID, `UPDATE creators SET quiet_start = 0, quiet_end = 0 WHERE id = $1`, cr.ID)
	ctx := context.Background()

	sess := c.StartWidget(t, cr.WidgetKey, "anon-"+uuid.NewString())
	st, raw, err := c.Do(ctx, "PUT", "/api/v1/end-users/"+sess.EndUserID.String()+"/tags", cr.AccessToken, map[string]any{"tags": []string{"web"}}, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, st, string(raw))
	camp := createCampaign(t, c, cr, onceCampaign("web check-in", "web", "How is your week going?", time.Now().Add(time.Second)))

	stats := func() map[string]any {
		var s map[string]any
		st, raw, err := c.Do(ctx, "GET", fmt.Sprintf("/api/v1/campaigns/%s/stats", camp), cr.AccessToken, nil, &s)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, st, string(raw))
		return s
	}
	var msgID string
	testenv.Eventually(t, 60*time.Second, func() bool {
		tenantDo(t, conn, cr.ID, func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, `SELECT COALESCE((SELECT m.id::text FROM messages m JOIN nudge_deliveries d ON d.message_id = m.id
				WHERE d.campaign_id = $1 AND m.status = 'sent'), '')`, camp).Scan(&msgID)
		})
		return msgID != ""
	}, "the campaign message sent (nobody connected)")
	s := stats()
	require.EqualValues(t, 1, s["sent"])
	require.EqualValues(t, 0, s["delivered"], "nobody has received it yet")
	require.EqualValues(t, 0, s["read"])

	// The person opens the widget: the message is replayed to the socket, hence delivered.
	ws, _, err := c.DialWidget(ctx, sess, 0, nil)
	require.NoError(t, err)
	defer ws.CloseNow()
	f := ws.Next(t, 10*time.Second, testenv.IsReply)
	require.Equal(t, msgID, f.ID)
	require.Equal(t, "How is your week going?", f.Text)
	testenv.Eventually(t, 20*time.Second, func() bool { return stats()["delivered"] == float64(1) }, "the campaign message counted delivered")
	require.EqualValues(t, 0, stats()["read"])

	// The widget shows it with the chat open: read.
	require.NoError(t, ws.SendJSON(ctx, map[string]any{"type": "seen", "seq": f.Seq}))
	testenv.Eventually(t, 20*time.Second, func() bool { return stats()["read"] == float64(1) }, "the campaign message counted read")
	s = stats()
	require.EqualValues(t, 1, s["delivered"], "read counts as delivered too")
	require.EqualValues(t, 0, s["failed"])
}
