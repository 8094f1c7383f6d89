package dispatch_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// TestAppPushRefusesInternalAddress: an end user chooses their subscription's endpoint, so
// dispatch never posts to an address inside the deployment: an endpoint whose name resolves to
// the loopback address (here "localhost", not among the allowed test origins) is refused for
// good, and nothing reaches it.
func TestAppPushRefusesInternalAddress(t *testing.T) {
	t.Parallel()
	r := newAppRig(t)
	u := r.appUser(t, r.creator, 1)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, r.db.AppURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "SELECT set_config('app.creator_id', $1, true)", r.creator.String())
	require.NoError(t, err)
	ep := strings.Replace(u.devices[0].Endpoint, "127.0.0.1", "localhost", 1)
	require.NotEqual(t, u.devices[0].Endpoint, ep)
	_, err = tx.Exec(ctx, "UPDATE push_subscriptions SET endpoint = $1 WHERE end_user_id = $2", ep, u.endUser)
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))

	s := r.say(t, u, "hello", false)
	m := r.waitIn(t, r.creator, s.id, "failed")
	require.Equal(t, "push_refused", m.ErrorCode)
	require.Empty(t, r.push.Messages(u.devices[0]))
}
