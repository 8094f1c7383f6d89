package app_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/bus"
	"github.com/coachwire/coachwire/internal/llm/ollamatest"
	"github.com/coachwire/coachwire/internal/localdeps"
	"github.com/coachwire/coachwire/internal/testenv"
)

// natsServer is a dedicated embedded NATS server a test can stop and start again on the same
// port and store.
type natsServer struct {
	t    *testing.T
	dir  string
	port int
	ns   *server.Server
}

func startNATS(t *testing.T) *natsServer {
	t.Helper()
	port, err := localdeps.FreePort()
	require.NoError(t, err)
	n := &natsServer{t: t, dir: t.TempDir(), port: port}
	n.start()
	t.Cleanup(n.stop)
	return n
}

func (n *natsServer) start() {
	n.t.Helper()
	ns, err := bus.StartEmbedded(bus.EmbeddedOptions{StoreDir: n.dir, Port: n.port})
	require.NoError(n.t, err)
	n.ns = ns
}

func (n *natsServer) stop() {
	if n.ns != nil {
		n.ns.Shutdown()
		n.ns.WaitForShutdown()
		n.ns = nil
	}
}

func (n *natsServer) URL() string { return n.ns.ClientURL() }

// TestWidgetResendAfterNATSOutage (issue 9, defect 14): a widget message sent while NATS is down
// is not confirmed; the frame says so truthfully (code "retry": resend with the same id), and
// after NATS is back the message resent with its id is acked and answered exactly once,
// although the first publish, buffered by the client, reached JetStream too.
func TestWidgetResendAfterNATSOutage(t *testing.T) {
	t.Parallel()
	h := newHarness(t, ollamatest.Options{ChatModels: []string{}, EmbedModels: []string{}})
	n := startNATS(t)
	cfg := h.config()
	cfg.NATSURL = n.URL()
	a := h.start(cfg)
	c := testenv.NewClient(a.URL)
	cr := c.Register(t)
	ctx := context.Background()
	sess := c.StartWidget(t, cr.WidgetKey, "anon-"+uuid.NewString())
	ws, _, err := c.DialWidget(ctx, sess, 0, nil)
	require.NoError(t, err)
	defer ws.CloseNow()
	_, err = ws.Say(ctx, "first question")
	require.NoError(t, err)
	ws.Next(t, 60*time.Second, testenv.IsReply)

	n.stop()
	id := uuid.NewString()
	frame := map[string]string{"type": "message", "id": id, "text": "asked while NATS is down"}
	require.NoError(t, ws.SendJSON(ctx, frame))
	f := ws.Next(t, 60*time.Second, func(f testenv.Frame) bool { return f.ID == id })
	require.Equal(t, "error", f.Type, "%+v", f)
	require.Equal(t, "retry", f.Code, "a publish that was not confirmed asks for a resend, not 'not accepted': %+v", f)

	n.start()
	// Resend with the same id until the gateway confirms it (the first resends may still find
	// the connection reconnecting).
	acked := false
	for deadline := time.Now().Add(90 * time.Second); !acked; {
		require.True(t, time.Now().Before(deadline), "the resent message was never acked")
		require.NoError(t, ws.SendJSON(ctx, frame))
		f := ws.Next(t, 60*time.Second, func(f testenv.Frame) bool { return f.ID == id })
		switch {
		case f.Type == "ack":
			acked = true
		case f.Type == "error" && f.Code == "retry":
			time.Sleep(500 * time.Millisecond)
		default:
			t.Fatalf("unexpected frame for the resent message: %+v", f)
		}
	}
	reply := ws.Next(t, 60*time.Second, testenv.IsReply)
	t.Logf("reply to the resent message: %q", reply.Text)

	// One more turn: when it is answered, everything before it has been handled.
	_, err = ws.Say(ctx, "third question")
	require.NoError(t, err)
	last := ws.Next(t, 60*time.Second, testenv.IsReply)
	require.NotEqual(t, reply.ID, last.ID)

	var msgs struct {
		Messages []struct {
			Role string `json:"role"`
			Text string `json:"text"`
		} `json:"messages"`
	}
	st, raw, err := c.Do(ctx, "GET", "/api/v1/conversations/"+sess.ConversationID.String()+"/messages", cr.AccessToken, nil, &msgs)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, st, string(raw))
	users, assistants := 0, 0
	for _, m := range msgs.Messages {
		switch m.Role {
		case "user":
			users++
		case "assistant":
			assistants++
		}
	}
	require.Equal(t, 3, users, "each message stored once: %s", raw)
	require.Equal(t, 3, assistants, "each message answered once: %s", raw)
}
