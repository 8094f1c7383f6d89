package widget_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/auth"
	"github.com/coachwire/coachwire/internal/gateway"
	"github.com/coachwire/coachwire/internal/gateway/widget"
	"github.com/coachwire/coachwire/internal/secrets"
	"github.com/coachwire/coachwire/internal/storage"
	"github.com/coachwire/coachwire/internal/testenv"
)

// TestShutdownClosesSocketsGoingAway: a gateway shutting down (SIGTERM) closes every widget
// socket with a close frame, 1001 going away and a reason, so the widget tells a replica going
// away from a broken connection (1006) and reconnects at once; Shutdown returns after the close
// handshakes.
func TestShutdownClosesSocketsGoingAway(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	svc, err := auth.New(auth.Options{KeyFile: dir + "/keys/jwt.json", Issuer: auth.Issuer, BcryptCost: 4})
	require.NoError(t, err)
	keys, err := secrets.Load("", dir)
	require.NoError(t, err)
	files, err := storage.New(t.TempDir())
	require.NoError(t, err)
	srv := gateway.New(gateway.Deps{
		Config: &gateway.Settings{PublicURL: "http://gateway.test", Limits: offPerIP},
		Files:  files, Store: testenv.Store(t), Bus: testenv.Bus(t), Auth: svc, Keys: keys, Log: testenv.Logger(t),
	})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)

	c := testenv.NewClient(ts.URL)
	cr := c.Register(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var socks []*testenv.WidgetConn
	for range 3 {
		ws, _, err := c.DialWidget(ctx, c.StartWidget(t, cr.WidgetKey, "anon-"+uuid.NewString()), 0, nil)
		require.NoError(t, err)
		t.Cleanup(func() { _ = ws.CloseNow() })
		ws.Next(t, 10*time.Second, func(f testenv.Frame) bool { return f.Type == "ready" })
		socks = append(socks, ws)
	}

	srv.Shutdown()
	for i, ws := range socks {
		for range ws.Frames { // the read loop ends with the close
		}
		require.Equal(t, websocket.StatusGoingAway, websocket.CloseStatus(ws.ReadErr), "socket %d: %v", i, ws.ReadErr)
		var ce websocket.CloseError
		require.ErrorAs(t, ws.ReadErr, &ce)
		require.Equal(t, widget.ShutdownReason, ce.Reason)
	}
}
