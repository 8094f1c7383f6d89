package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/app"
	"github.com/coachwire/coachwire/internal/config"
	"github.com/coachwire/coachwire/internal/llm/ollamatest"
	"github.com/coachwire/coachwire/internal/testenv"
)

// Issue 9, defects 4 and 5: the limits hold per session, per end user, per client address and
// per email across sockets and across gateway replicas. Each test runs two gateways on the same
// NATS and PostgreSQL and speaks to both; clients have loopback addresses of their own
// (127.0.0.0/8 is all local), so "another IP" is a real other peer address.

// limitsConfig is h.config with the per-address limits back at their defaults (h.env turns
// them off for every other test) and extra COACHWIRE_* settings.
func limitsConfig(h *harness, extra ...string) *config.Config {
	env := map[string]string{}
	all := h.env(h.t.TempDir(), "COACHWIRE_HTTP_ADDR=127.0.0.1:0", "COACHWIRE_MIGRATE_DATABASE_URL="+h.db.OwnerURL)
	all = append(all, "COACHWIRE_LIMIT_REGISTER_IP=", "COACHWIRE_LIMIT_WIDGET_SESSIONS_IP=", "COACHWIRE_LIMIT_LOGIN_IP=",
		"COACHWIRE_LIMIT_LOGIN_EMAIL_IP=")
	for _, kv := range append(all, extra...) {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	c, err := config.Parse([]string{"-target", config.TargetGateway}, func(k string) string { return env[k] }, io.Discard)
	require.NoError(h.t, err)
	return c
}

// twoGateways starts two gateway replicas with the same settings.
func twoGateways(t *testing.T, extra ...string) (*harness, [2]*app.App) {
	h := newHarness(t, ollamatest.Options{})
	return h, [2]*app.App{h.start(limitsConfig(h, extra...)), h.start(limitsConfig(h, extra...))}
}

// clientFrom is a client of base whose connections come from the loopback address ip.
func clientFrom(base, ip string) *testenv.Client {
	c := testenv.NewClient(base)
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	c.HTTP = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
	return c
}

func errorCode(t *testing.T, raw []byte) string {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	require.NoError(t, json.Unmarshal(raw, &e), "%s", raw)
	require.NotEmpty(t, e.Error.Message, "%s", raw)
	return e.Error.Code
}

// TestWidgetLimitsAcrossReplicas: five sockets of one session, spread over two gateways, get
// the session's five messages per 10 s between them, not five each; the session's sockets are
// capped (10 by default) on both gateways together.
func TestWidgetLimitsAcrossReplicas(t *testing.T) {
	t.Parallel()
	_, gw := twoGateways(t)
	ctx := context.Background()
	c := [2]*testenv.Client{testenv.NewClient(gw[0].URL), testenv.NewClient(gw[1].URL)}
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

// TestSessionAndRegistrationLimitsPerIP: widget sessions are limited per client address and per
// widget key, registrations per client address, on both gateways together; other addresses
// keep their budget.
func TestSessionAndRegistrationLimitsPerIP(t *testing.T) {
	t.Parallel()
	_, gw := twoGateways(t, "COACHWIRE_LIMIT_WIDGET_SESSIONS_KEY=30/1m")
	ctx := context.Background()
	from := func(ip string) [2]*testenv.Client {
		return [2]*testenv.Client{clientFrom(gw[0].URL, ip), clientFrom(gw[1].URL, ip)}
	}

	t.Run("registration per address", func(t *testing.T) {
		a, b := from("127.0.0.21"), from("127.0.0.22")
		for i := range 5 { // default 5 per hour
			a[i%2].Register(t)
		}
		for i := range 2 {
			st, raw, err := a[i].Do(ctx, "POST", "/api/v1/auth/register", "", map[string]string{
				"email": "c-" + uuid.NewString()[:12] + "@example.com", "password": "correct horse battery", "name": "Coach"}, nil)
			require.NoError(t, err)
			require.Equal(t, http.StatusTooManyRequests, st, "6th registration from one address on gateway %d: %s", i+1, raw)
			require.Equal(t, "rate_limited", errorCode(t, raw))
		}
		b[1].Register(t)
	})

	cr := from("127.0.0.23")[0].Register(t)
	mint := func(c *testenv.Client) (int, []byte) {
		st, raw, err := c.Do(ctx, "POST", "/api/v1/widget/session", "", map[string]string{"widget_key": cr.WidgetKey, "anon_id": "anon-" + uuid.NewString()}, nil)
		require.NoError(t, err)
		return st, raw
	}
	t.Run("widget sessions per address", func(t *testing.T) {
		a := from("127.0.0.24")
		for i := range 20 { // default 20 per minute
			st, raw := mint(a[i%2])
			require.Equal(t, http.StatusOK, st, "session %d: %s", i+1, raw)
		}
		for i := range 2 {
			req, _ := http.NewRequest("POST", gw[i].URL+"/api/v1/widget/session",
				strings.NewReader(`{"widget_key":"`+cr.WidgetKey+`","anon_id":"anon-`+uuid.NewString()+`"}`))
			req.Header.Set("Content-Type", "application/json")
			resp, err := a[i].HTTP.Do(req)
			require.NoError(t, err)
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "21st session from one address: %s", raw)
			require.NotEmpty(t, resp.Header.Get("Retry-After"))
			require.Equal(t, "rate_limited", errorCode(t, raw))
		}
	})
	t.Run("widget sessions per key", func(t *testing.T) {
		// 20 minted above; the key allows 30 a minute from all addresses together.
		ok := 0
		for i := range 12 {
			st, _ := mint(from(fmt.Sprintf("127.0.0.%d", 30+i))[i%2])
			if st == http.StatusOK {
				ok++
			} else {
				require.Equal(t, http.StatusTooManyRequests, st)
			}
		}
		require.Equal(t, 10, ok, "sessions of one widget key past its limit")
	})
}

// TestLoginOwnerNotLockedOut: an attacker hammering the owner's email from other addresses,
// through both gateways, does not lock the owner out at their own address; the per-email limit
// still slows the attacker when it moves between addresses.
func TestLoginOwnerNotLockedOut(t *testing.T) {
	t.Parallel()
	_, gw := twoGateways(t, "COACHWIRE_LIMIT_LOGIN_EMAIL=10/1h")
	ctx := context.Background()
	owner := [2]*testenv.Client{clientFrom(gw[0].URL, "127.0.0.41"), clientFrom(gw[1].URL, "127.0.0.41")}
	cr := owner[0].Register(t)
	login := func(c *testenv.Client, password string) (int, []byte) {
		st, raw, err := c.Do(ctx, "POST", "/api/v1/auth/login", "", map[string]string{"email": cr.Email, "password": password}, nil)
		require.NoError(t, err)
		return st, raw
	}

	attacker := [2]*testenv.Client{clientFrom(gw[0].URL, "127.0.0.42"), clientFrom(gw[1].URL, "127.0.0.42")}
	codes := map[int]int{}
	for i := range 20 {
		st, _ := login(attacker[i%2], "wrong password")
		codes[st]++
	}
	require.Equal(t, map[int]int{http.StatusUnauthorized: 5, http.StatusTooManyRequests: 15}, codes, "one attacker address")
	for i := range 2 {
		st, raw := login(owner[i], "correct horse battery")
		require.Equal(t, http.StatusOK, st, "the owner is locked out by an attacker at another address (gateway %d): %s", i+1, raw)
	}

	// Twenty more addresses, each with a fresh per-address budget: the email's own limit (10 per
	// hour, 5 used) lets 5 more guesses through in all.
	guesses := 0
	for i := range 20 {
		st, raw := login(clientFrom(gw[i%2].URL, fmt.Sprintf("127.0.0.%d", 50+i)), "wrong password")
		switch st {
		case http.StatusUnauthorized:
			guesses++
		case http.StatusTooManyRequests:
			require.Equal(t, "rate_limited", errorCode(t, raw))
		default:
			t.Fatalf("distributed attempt: %d %s", st, raw)
		}
	}
	require.Equal(t, 5, guesses, "guesses checked for one email from 20 addresses")
	st, raw := login(owner[1], "correct horse battery")
	require.Equal(t, http.StatusOK, st, "the owner during a distributed attack: %s", raw)
}
