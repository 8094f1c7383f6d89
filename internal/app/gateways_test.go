package app_test

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/app"
	"github.com/coachwire/coachwire/internal/config"
	"github.com/coachwire/coachwire/internal/llm/ollamatest"
	"github.com/coachwire/coachwire/internal/testenv"
)

// TestGatewayReplicasAcceptEachOthersTokens: two gateway processes on one PostgreSQL and NATS,
// each on its own address with the default public URL (http://<its address>, which once was
// each one's token issuer), behind no balancer: a creator's access token, refresh token and a
// widget token issued by one are accepted by the other. A third gateway with a key file of its
// own refuses to start, naming the setting, instead of answering the others' tokens with 401.
func TestGatewayReplicasAcceptEachOthersTokens(t *testing.T) {
	t.Parallel()
	h := newHarness(t, ollamatest.Options{})
	a := h.start(h.config(config.TargetGateway))
	b := h.start(h.config(config.TargetGateway))
	require.NotEqual(t, a.URL, b.URL)
	ctx := context.Background()
	ca, cb := testenv.NewClient(a.URL), testenv.NewClient(b.URL)

	// Access token from a, used on b.
	cr := ca.Register(t)
	st, raw, err := cb.Do(ctx, "GET", "/api/v1/auth/me", cr.AccessToken, nil, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, st, "a's access token on b: %s", raw)

	// Refresh token from a login on b, rotated on a; the new access token works on b.
	var login struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	st, raw, err = cb.Do(ctx, "POST", "/api/v1/auth/login", "", map[string]string{"email": cr.Email, "password": "correct horse battery"}, &login)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, st, "%s", raw)
	var refreshed struct {
		AccessToken string `json:"access_token"`
	}
	st, raw, err = ca.Do(ctx, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": login.RefreshToken}, &refreshed)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, st, "b's refresh token on a: %s", raw)
	st, raw, err = cb.Do(ctx, "GET", "/api/v1/auth/me", refreshed.AccessToken, nil, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, st, "the access token a refreshed, on b: %s", raw)

	// Widget token from a, its socket on b.
	sess := ca.StartWidget(t, cr.WidgetKey, "anon-"+uuid.NewString())
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ws, resp, err := cb.DialWidget(dctx, sess, 0, nil)
	if resp != nil {
		require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode, "a's widget token on b's socket")
	}
	require.NoError(t, err, "a's widget token on b's socket")
	_, err = ws.Say(dctx, "hello from a session of the other replica")
	require.NoError(t, err)
	ack := ws.Next(t, 30*time.Second, func(f testenv.Frame) bool { return f.Type == "ack" || f.Type == "error" })
	require.Equal(t, "ack", ack.Type, "%+v", ack)
	_ = ws.CloseNow()

	// A gateway with a key file of its own cannot verify a's and b's tokens: it does not start.
	cfg := h.config(config.TargetGateway)
	cfg.JWTKeyFile = filepath.Join(t.TempDir(), "other", "jwt.json")
	sctx, scancel := context.WithTimeout(ctx, time.Minute)
	defer scancel()
	c, err := app.Start(sctx, cfg, app.Options{Log: testenv.Logger(t)})
	if err == nil {
		c.Stop()
	}
	require.ErrorContains(t, err, "COACHWIRE_JWT_KEY_FILE")
	require.ErrorContains(t, err, cfg.JWTKeyFile)
	require.ErrorContains(t, err, a.URL, "names the replica it disagrees with")

	// The refused gateway left no entry behind: a gateway with the shared key file starts.
	h.start(h.config(config.TargetGateway))
}
