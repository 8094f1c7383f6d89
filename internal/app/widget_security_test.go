package app_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/gateway"
	"github.com/coachwire/coachwire/internal/llm/ollamatest"
	"github.com/coachwire/coachwire/internal/testenv"
)

// TestWidgetAttacks tries to misuse the widget endpoints: wrong origins, missing, forged and
// foreign tokens, tokens in the URL, malformed and oversize frames, floods. Each gets a clear
// refusal and the socket (or server) keeps working for the legitimate user.
func TestWidgetAttacks(t *testing.T) {
	t.Parallel()
	h := newHarness(t, ollamatest.Options{})
	a := h.start(h.config())
	c := testenv.NewClient(a.URL)
	cr := c.Register(t)
	c.SetWidget(t, cr, "", "https://coach.example")
	other := c.Register(t)
	ctx := context.Background()
	wsURL := "ws" + strings.TrimPrefix(a.URL, "http") + "/api/v1/widget/ws"

	t.Run("session from a foreign origin is refused", func(t *testing.T) {
		st, _, err := c.Do(ctx, "POST", "/api/v1/widget/session", "", map[string]string{"widget_key": cr.WidgetKey, "anon_id": "anon-12345678"}, nil, "Origin", "https://evil.example")
		require.NoError(t, err)
		require.Equal(t, http.StatusForbidden, st)
	})
	t.Run("session from an allowed origin gets CORS", func(t *testing.T) {
		req, _ := http.NewRequest("POST", a.URL+"/api/v1/widget/session", strings.NewReader(`{"widget_key":"`+cr.WidgetKey+`","anon_id":"anon-12345678"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", "https://coach.example")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Equal(t, "https://coach.example", resp.Header.Get("Access-Control-Allow-Origin"))
	})
	t.Run("unknown widget key", func(t *testing.T) {
		st, _, err := c.Do(ctx, "POST", "/api/v1/widget/session", "", map[string]string{"widget_key": "wk_nope", "anon_id": "anon-12345678"}, nil)
		require.NoError(t, err)
		require.Equal(t, http.StatusNotFound, st)
	})
	t.Run("malformed session body", func(t *testing.T) {
		st, _, err := c.Do(ctx, "POST", "/api/v1/widget/session", "", map[string]any{"widget_key": 5}, nil)
		require.NoError(t, err)
		require.Equal(t, http.StatusBadRequest, st)
	})
	t.Run("verified identity: wrong hash refused, right hash accepted", func(t *testing.T) {
		st, _, err := c.Do(ctx, "POST", "/api/v1/widget/session", "", map[string]string{"widget_key": cr.WidgetKey, "user_id": "u-1", "user_hash": strings.Repeat("0", 64)}, nil)
		require.NoError(t, err)
		require.Equal(t, http.StatusUnauthorized, st)
		var settings struct {
			IdentitySecret string `json:"identity_secret"`
		}
		_, _, err = c.Do(ctx, "GET", "/api/v1/widget/settings", cr.AccessToken, nil, &settings)
		require.NoError(t, err)
		st, raw, err := c.Do(ctx, "POST", "/api/v1/widget/session", "", map[string]string{"widget_key": cr.WidgetKey, "user_id": "u-1", "user_hash": gateway.UserHash(settings.IdentitySecret, "u-1")}, nil)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, st, string(raw))
	})

	sess := c.StartWidget(t, cr.WidgetKey, "anon-"+uuid.NewString())
	t.Run("tokenless handshake", func(t *testing.T) {
		_, resp, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{Subprotocols: []string{"coachwire.v1"}})
		require.Error(t, err)
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	})
	t.Run("token in the URL is ignored", func(t *testing.T) {
		_, resp, err := websocket.Dial(ctx, wsURL+"?token="+sess.Token, &websocket.DialOptions{Subprotocols: []string{"coachwire.v1"}})
		require.Error(t, err)
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	})
	t.Run("forged token", func(t *testing.T) {
		forged := sess
		forged.Token = sess.Token[:len(sess.Token)-4] + "AAAA"
		_, resp, err := c.DialWidget(ctx, forged, 0, nil)
		require.Error(t, err)
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	})
	t.Run("creator access token is not a widget token", func(t *testing.T) {
		_, resp, err := c.DialWidget(ctx, testenv.WidgetSession{Token: cr.AccessToken}, 0, nil)
		require.Error(t, err)
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	})
	t.Run("cross-origin handshake", func(t *testing.T) {
		_, resp, err := c.DialWidget(ctx, sess, 0, http.Header{"Origin": {"https://evil.example"}})
		require.Error(t, err)
		require.Equal(t, http.StatusForbidden, resp.StatusCode)
	})
	t.Run("another creator's widget key does not reach this conversation", func(t *testing.T) {
		s2 := c.StartWidget(t, other.WidgetKey, strings.TrimPrefix("anon-"+sess.EndUserID.String(), ""))
		require.NotEqual(t, sess.ConversationID, s2.ConversationID)
	})

	ws, _, err := c.DialWidget(ctx, sess, 0, http.Header{"Origin": {"https://coach.example"}})
	require.NoError(t, err)
	defer ws.CloseNow()
	ws.Next(t, 10*time.Second, func(f testenv.Frame) bool { return f.Type == "ready" })
	t.Run("bad frames get error frames, not a crash", func(t *testing.T) {
		for _, raw := range []string{`{nope`, `{"type":"launch"}`, `{"type":"message","id":"not-a-uuid","text":"hi"}`,
			`{"type":"message","id":"` + uuid.NewString() + `","text":""}`,
			`{"type":"message","id":"` + uuid.NewString() + `","text":"` + strings.Repeat("x", 5000) + `"}`} {
			require.NoError(t, ws.Write(ctx, websocket.MessageText, []byte(raw)))
			f := ws.Next(t, 5*time.Second, func(f testenv.Frame) bool { return f.Type == "error" })
			require.NotEmpty(t, f.Code)
		}
		require.NoError(t, ws.Write(ctx, websocket.MessageBinary, []byte{0, 1, 2}))
		ws.Next(t, 5*time.Second, func(f testenv.Frame) bool { return f.Type == "error" && f.Code == "bad_frame" })
	})
	t.Run("flood is rate limited", func(t *testing.T) {
		limited := 0
		for i := 0; i < 8; i++ {
			_, err := ws.Say(ctx, "flood")
			require.NoError(t, err)
		}
		deadline := time.After(5 * time.Second)
		for acks := 0; acks+limited < 8; {
			select {
			case f := <-ws.Frames:
				switch {
				case f.Type == "ack":
					acks++
				case f.Type == "error" && f.Code == "rate_limited":
					limited++
				}
			case <-deadline:
				t.Fatalf("acks+limited < 8")
			}
		}
		require.Positive(t, limited)
	})
	t.Run("oversize frame closes the socket with 1009", func(t *testing.T) {
		err := ws.Write(ctx, websocket.MessageText, []byte(`{"type":"message","text":"`+strings.Repeat("y", 20000)+`"}`))
		require.NoError(t, err)
		for range ws.Frames {
		}
		require.Equal(t, websocket.StatusMessageTooBig, websocket.CloseStatus(ws.ReadErr), "%v", ws.ReadErr)
	})
	t.Run("the server still serves the user afterwards", func(t *testing.T) {
		ws2, _, err := c.DialWidget(ctx, sess, 0, nil)
		require.NoError(t, err)
		defer ws2.CloseNow()
		ws2.Next(t, 10*time.Second, func(f testenv.Frame) bool { return f.Type == "ready" })
	})
}

// TestCreatorAPIIsolation: every creator endpoint with another creator's ids answers 404 and
// returns nothing.
func TestCreatorAPIIsolation(t *testing.T) {
	t.Parallel()
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
