package widget_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/gateway/widget"
	"github.com/coachwire/coachwire/internal/testenv"
)

// TestWidgetAttacks tries to misuse the widget endpoints: wrong origins, missing, forged and
// foreign tokens, tokens in the URL, malformed and oversize frames, floods. Each gets a clear
// refusal and the socket (or server) keeps working for the legitimate user.
func TestWidgetAttacks(t *testing.T) {
	t.Parallel()
	base := newGateway(t, offPerIP)
	c := testenv.NewClient(base)
	cr := c.Register(t)
	c.SetWidget(t, cr, "", "https://coach.example")
	other := c.Register(t)
	ctx := context.Background()
	wsURL := "ws" + strings.TrimPrefix(base, "http") + "/api/v1/widget/ws"

	t.Run("session from a foreign origin is refused, readably", func(t *testing.T) {
		req, _ := http.NewRequest("POST", base+"/api/v1/widget/session", strings.NewReader(`{"widget_key":"`+cr.WidgetKey+`","anon_id":"anon-12345678"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", "https://evil.example")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusForbidden, resp.StatusCode)
		// CORS on the refusal: the widget reads why and tells the creator in the console.
		require.Equal(t, "https://evil.example", resp.Header.Get("Access-Control-Allow-Origin"))
		var body struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
		require.Equal(t, "origin_not_allowed", body.Error.Code)
		require.Contains(t, body.Error.Message, "https://evil.example")
		require.Contains(t, body.Error.Message, "allowed_origins")
	})
	t.Run("session from an allowed origin gets CORS", func(t *testing.T) {
		req, _ := http.NewRequest("POST", base+"/api/v1/widget/session", strings.NewReader(`{"widget_key":"`+cr.WidgetKey+`","anon_id":"anon-12345678"}`))
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
		st, raw, err := c.Do(ctx, "POST", "/api/v1/widget/session", "", map[string]string{"widget_key": cr.WidgetKey, "user_id": "u-1", "user_hash": widget.UserHash(settings.IdentitySecret, "u-1")}, nil)
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

// TestWidgetLimitsAcrossReplicas: five sockets of one session, spread over two gateways, get
// the session's five messages per 10 s between them, not five each; the session's sockets are
// capped (10 by default) on both gateways together.
func TestWidgetLimitsAcrossReplicas(t *testing.T) {
	t.Parallel()
	c := [2]*testenv.Client{testenv.NewClient(newGateway(t, offPerIP)), testenv.NewClient(newGateway(t, offPerIP))}
	ctx := context.Background()
	cr := c[0].Register(t)
	// The same person's session on each gateway (each replica verifies the tokens it issued; the
	// conversation is the same).
	anon := "anon-" + uuid.NewString()
	sessions := [2]testenv.WidgetSession{c[0].StartWidget(t, cr.WidgetKey, anon), c[1].StartWidget(t, cr.WidgetKey, anon)}
	require.Equal(t, sessions[0].ConversationID, sessions[1].ConversationID)

	var socks []*testenv.WidgetConn
	dial := func(t *testing.T, i int) *testenv.WidgetConn {
		ws, resp, err := c[i%2].DialWidget(ctx, sessions[i%2], 0, nil)
		require.NoError(t, err, "socket %d: %v", i+1, resp)
		t.Cleanup(func() { ws.CloseNow() })
		ws.Next(t, 10*time.Second, func(f testenv.Frame) bool { return f.Type == "ready" })
		return ws
	}
	for i := range 5 {
		socks = append(socks, dial(t, i))
	}

	t.Run("messages per session", func(t *testing.T) {
		// Every socket sends five messages at once: 25 offered.
		var wg sync.WaitGroup
		for _, ws := range socks {
			wg.Go(func() {
				for range 5 {
					if _, err := ws.Say(ctx, "how do I start?"); err != nil {
						t.Error(err)
					}
				}
			})
		}
		wg.Wait()
		acked, limited := 0, 0
		for _, ws := range socks {
			for n := 0; n < 5; n++ {
				f := ws.Next(t, 15*time.Second, func(f testenv.Frame) bool { return f.Type == "ack" || f.Type == "error" })
				switch {
				case f.Type == "ack":
					acked++
				case f.Code == "rate_limited":
					limited++
				default:
					t.Fatalf("unexpected frame %+v", f)
				}
			}
		}
		t.Logf("25 messages over 5 sockets on 2 gateways: %d acked, %d rate_limited", acked, limited)
		require.Equal(t, 25, acked+limited)
		require.LessOrEqual(t, acked, 5, "the session's limit is per socket, not per session")
	})

	t.Run("sockets per session", func(t *testing.T) {
		// 5 open, 5 more are accepted (on either gateway), the 11th is refused by both.
		for i := 5; i < 10; i++ {
			socks = append(socks, dial(t, i))
		}
		for i := range 2 {
			_, resp, err := c[i].DialWidget(ctx, sessions[i], 0, nil)
			require.Error(t, err, "an 11th socket was accepted by gateway %d", i+1)
			require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
			require.NotEmpty(t, resp.Header.Get("Retry-After"))
			raw, _ := io.ReadAll(resp.Body)
			require.Equal(t, "too_many_sockets", errorCode(t, raw))
		}
		// Another session of the same creator is not affected.
		other := c[0].StartWidget(t, cr.WidgetKey, "anon-"+uuid.NewString())
		ws, _, err := c[0].DialWidget(ctx, other, 0, nil)
		require.NoError(t, err)
		ws.CloseNow()
		// A closed socket frees its place.
		require.NoError(t, socks[0].Close(1000, "bye"))
		testenv.Eventually(t, 10*time.Second, func() bool {
			ws, _, err := c[1].DialWidget(ctx, sessions[1], 0, nil)
			if err != nil {
				return false
			}
			ws.CloseNow()
			return true
		}, "a closed socket's place was not freed")
	})
}

// errorCode is the code of an error answer, which must carry a message.
func errorCode(t *testing.T, raw []byte) string {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	require.NoError(t, json.Unmarshal(raw, &e), "%s", raw)
	require.NotEmpty(t, e.Error.Message, "%s", raw)
	return e.Error.Code
}

// TestWidgetCoachProfile: the coach's avatar, welcome, suggested questions and "powered by"
// setting are kept by the settings API (checked) and handed to the widget with its session.
func TestWidgetCoachProfile(t *testing.T) {
	t.Parallel()
	base := newGateway(t, offPerIP)
	c := testenv.NewClient(base)
	cr := c.Register(t)
	ctx := context.Background()
	patch := func(body map[string]any) (int, string) {
		st, raw, err := c.Do(ctx, "PATCH", "/api/v1/widget/settings", cr.AccessToken, body, nil)
		require.NoError(t, err)
		var e struct {
			Error struct{ Code string } `json:"error"`
		}
		_ = json.Unmarshal(raw, &e)
		return st, e.Error.Code
	}
	for _, bad := range []struct {
		body map[string]any
		code string
	}{
		{map[string]any{"avatar_url": "javascript:alert(1)"}, "bad_avatar_url"},
		{map[string]any{"avatar_url": "/relative.png"}, "bad_avatar_url"},
		{map[string]any{"suggestions": []string{"a", "b", "c", "d", "e"}}, "too_many_suggestions"},
		{map[string]any{"suggestions": []string{"two\nlines"}}, "bad_suggestion"},
		{map[string]any{"welcome": strings.Repeat("w", 1001)}, "welcome_too_long"},
	} {
		st, code := patch(bad.body)
		require.Equal(t, http.StatusBadRequest, st, "%v", bad.body)
		require.Equal(t, bad.code, code, "%v", bad.body)
	}
	st, _ := patch(map[string]any{"name": "Maya Chen", "avatar_url": "https://cdn.example/maya.png", "welcome": "Hi, I'm Maya.",
		"suggestions": []string{" How do I start? ", ""}, "branding": false, "link_sources": true})
	require.Equal(t, http.StatusOK, st)
	// A PUT written before these fields keeps them.
	st, raw, err := c.Do(ctx, "PUT", "/api/v1/widget/settings", cr.AccessToken, map[string]any{"name": "Maya Chen", "persona": "",
		"allowed_origins": []string{}, "identity_required": false}, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, st, string(raw))
	var out struct {
		Coach struct {
			Name, AvatarURL, Welcome string
			Suggestions              []string
			Branding                 *bool
			SourceURLs               map[string]string `json:"source_urls"`
		} `json:"coach"`
	}
	st, raw, err = c.Do(ctx, "POST", "/api/v1/widget/session", "", map[string]string{"widget_key": cr.WidgetKey, "anon_id": "anon-12345678"}, &out)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, st, string(raw))
	require.Contains(t, string(raw), `"avatar_url":"https://cdn.example/maya.png"`)
	require.Equal(t, "Maya Chen", out.Coach.Name)
	require.Equal(t, "Hi, I'm Maya.", out.Coach.Welcome)
	require.Equal(t, []string{"How do I start?"}, out.Coach.Suggestions, "trimmed, empty ones dropped")
	require.NotNil(t, out.Coach.Branding)
	require.False(t, *out.Coach.Branding)
	require.NotNil(t, out.Coach.SourceURLs, "link_sources on: a (here empty) map of imported documents' pages")
	var settings struct {
		LinkSources bool `json:"link_sources"`
	}
	_, _, err = c.Do(ctx, "GET", "/api/v1/widget/settings", cr.AccessToken, nil, &settings)
	require.NoError(t, err)
	require.True(t, settings.LinkSources)
}
