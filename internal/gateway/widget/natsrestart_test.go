package widget_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/auth"
	"github.com/coachwire/coachwire/internal/bus"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/gateway"
	"github.com/coachwire/coachwire/internal/localdeps"
	"github.com/coachwire/coachwire/internal/secrets"
	"github.com/coachwire/coachwire/internal/storage"
	"github.com/coachwire/coachwire/internal/testenv"
)

// TestReplyDuringNATSRestartReachesOpenSocket: a widget socket stays open while NATS restarts
// (the gateway keeps its HTTP side), and a final reply dispatch pushes while the gateway is cut
// off, or before its subscriptions reach the restarted server, is dropped by core NATS although
// dispatch records it as sent. The chaos suite lost a widget reply so (a message accepted 0.3 s
// before NATS was killed). After the reconnect the gateway writes every socket what it missed,
// from PostgreSQL: the reply arrives without the widget reconnecting.
func TestReplyDuringNATSRestartReachesOpenSocket(t *testing.T) {
	t.Parallel()
	port, err := localdeps.FreePort()
	require.NoError(t, err)
	store := t.TempDir()
	var ns *server.Server
	startNATS := func() {
		var err error
		ns, err = bus.StartEmbedded(bus.EmbeddedOptions{StoreDir: store, Port: port})
		require.NoError(t, err)
	}
	startNATS()
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	b := testenv.BusAt(t, ns.ClientURL())

	dir := t.TempDir()
	svc, err := auth.New(auth.Options{KeyFile: dir + "/keys/jwt.json", Issuer: "http://gateway.test", BcryptCost: 4})
	require.NoError(t, err)
	keys, err := secrets.Load("", dir)
	require.NoError(t, err)
	files, err := storage.New(t.TempDir())
	require.NoError(t, err)
	st := testenv.Store(t)
	srv := gateway.New(gateway.Deps{Config: &gateway.Settings{PublicURL: "http://gateway.test", Limits: offPerIP},
		Files: files, Store: st, Bus: b, Auth: svc, Keys: keys, Log: testenv.Logger(t)})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	t.Cleanup(srv.Shutdown)

	c := testenv.NewClient(ts.URL)
	cr := c.Register(t)
	sess := c.StartWidget(t, cr.WidgetKey, "anon-"+uuid.NewString())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ws, _, err := c.DialWidget(ctx, sess, 0, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = ws.CloseNow() })
	ws.Next(t, 10*time.Second, func(f testenv.Frame) bool { return f.Type == "ready" })

	// NATS dies; meanwhile generate stores the reply and dispatch pushes it on the live subject,
	// which nobody at the server receives: the push is gone (so this test does not make it).
	ns.Shutdown()
	ns.WaitForShutdown()
	reply := uuid.New()
	require.NoError(t, st.InTenant(ctx, cr.ID, func(q *db.Queries) error {
		_, err := q.InsertMessage(ctx, db.InsertMessageParams{ID: reply, CreatorID: cr.ID, ConversationID: sess.ConversationID,
			Role: "assistant", Body: "Dim the lights an hour before bed.", Sources: json.RawMessage("[]"),
			Channel: events.ChannelWidget, Status: "sent"})
		return err
	}))
	startNATS()

	f := ws.Next(t, 30*time.Second, testenv.IsReply)
	require.Equal(t, reply.String(), f.ID)
	require.Equal(t, "Dim the lights an hour before bed.", f.Text)
}
