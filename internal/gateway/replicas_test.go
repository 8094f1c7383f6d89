package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/config"
	"github.com/coachwire/coachwire/internal/testenv"
)

// Issue 9, defects 4 and 5: the creator API's limits hold per client address and per email
// across gateway replicas. Each test runs two gateways on the same PostgreSQL and NATS (the
// limits' shared store) and speaks to both; clients have loopback addresses of their own
// (127.0.0.0/8 is all local), so "another IP" is a real other peer address, in a network of the
// test's own (loopbackNet).

// twoGateways starts two gateway replicas with limits (zero fields: the defaults).
func twoGateways(t *testing.T, limits config.Limits) [2]*fullEnv {
	t.Helper()
	return [2]*fullEnv{newFullEnvWith(t, fullOpts{limits: limits}), newFullEnvWith(t, fullOpts{limits: limits})}
}

// lastNet numbers the loopback networks handed out by loopbackNet.
var lastNet atomic.Int32

// loopbackNet returns a /24 of 127.0.0.0/8 (all local) that no other test of this binary uses,
// as "127.a.b." to append the host to: the limit counts live in the database the whole binary
// shares, also across -count repetitions.
func loopbackNet() string {
	n := 256 + lastNet.Add(1) // 127.1.0.* onwards
	return fmt.Sprintf("127.%d.%d.", n/256, n%256)
}

// clientFrom is a client of base whose connections come from the loopback address ip.
func clientFrom(base, ip string) *testenv.Client {
	c := testenv.NewClient(base)
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	c.HTTP = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
	return c
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

// TestSessionAndRegistrationLimitsPerIP: widget sessions are limited per client address and per
// widget key, registrations per client address, on both gateways together; other addresses
// keep their budget.
func TestSessionAndRegistrationLimitsPerIP(t *testing.T) {
	t.Parallel()
	// Per hour, not the default per minute: the limits refill continuously (20 a minute is one
	// more every 3 s), and a slow machine could take that long to mint the first 20.
	gw := twoGateways(t, config.Limits{WidgetSessionsPerIP: config.Rate{N: 20, Per: time.Hour},
		WidgetSessionsPerKey: config.Rate{N: 30, Per: time.Hour}})
	ctx := context.Background()
	net := loopbackNet()
	from := func(host int) [2]*testenv.Client {
		ip := net + strconv.Itoa(host)
		return [2]*testenv.Client{clientFrom(gw[0].ts.URL, ip), clientFrom(gw[1].ts.URL, ip)}
	}

	t.Run("registration per address", func(t *testing.T) {
		a, b := from(21), from(22)
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

	cr := from(23)[0].Register(t)
	mint := func(c *testenv.Client) (int, []byte) {
		st, raw, err := c.Do(ctx, "POST", "/api/v1/widget/session", "", map[string]string{"widget_key": cr.WidgetKey, "anon_id": "anon-" + uuid.NewString()}, nil)
		require.NoError(t, err)
		return st, raw
	}
	t.Run("widget sessions per address", func(t *testing.T) {
		a := from(24)
		for i := range 20 { // 20 per hour
			st, raw := mint(a[i%2])
			require.Equal(t, http.StatusOK, st, "session %d: %s", i+1, raw)
		}
		for i := range 2 {
			req, _ := http.NewRequest("POST", gw[i].ts.URL+"/api/v1/widget/session",
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
		// 20 minted above; the key allows 30 an hour from all addresses together.
		ok := 0
		for i := range 12 {
			st, _ := mint(from(30 + i)[i%2])
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
	gw := twoGateways(t, config.Limits{LoginsPerEmail: config.Rate{N: 10, Per: time.Hour}})
	ctx := context.Background()
	net := loopbackNet()
	owner := [2]*testenv.Client{clientFrom(gw[0].ts.URL, net+"41"), clientFrom(gw[1].ts.URL, net+"41")}
	cr := owner[0].Register(t)
	login := func(c *testenv.Client, password string) (int, []byte) {
		st, raw, err := c.Do(ctx, "POST", "/api/v1/auth/login", "", map[string]string{"email": cr.Email, "password": password}, nil)
		require.NoError(t, err)
		return st, raw
	}

	attacker := [2]*testenv.Client{clientFrom(gw[0].ts.URL, net+"42"), clientFrom(gw[1].ts.URL, net+"42")}
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
		st, raw := login(clientFrom(gw[i%2].ts.URL, net+strconv.Itoa(50+i)), "wrong password")
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
