package webpush_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/channels"
	"github.com/coachwire/coachwire/internal/channels/webpush"
	"github.com/coachwire/coachwire/internal/channels/webpushtest"
)

// An end user chooses the endpoint dispatch posts to: an address inside the deployment (a
// literal private, loopback or link-local IP, localhost) is refused at registration.
func TestValidateRefusesInternalEndpoints(t *testing.T) {
	t.Parallel()
	a := webpushtest.New(t, "").Subscribe()
	for _, ep := range []string{
		"https://127.0.0.1/push/x", "https://127.0.0.1:8443/push/x", "https://10.1.2.3/x", "https://192.168.0.10/x",
		"https://169.254.169.254/latest/meta-data", "https://[::1]/x", "https://[fd00::1]/x", "https://0.0.0.0/x",
		"https://localhost/x", "https://api.localhost/x", "https://[::ffff:127.0.0.1]/x",
	} {
		err := webpush.Validate(webpush.Subscription{Endpoint: ep, P256dh: a.P256dh, Auth: a.Auth}, nil)
		require.ErrorIs(t, err, webpush.ErrInvalid, ep)
	}
	require.NoError(t, webpush.Validate(webpush.Subscription{Endpoint: "https://fcm.googleapis.com/fcm/send/abc", P256dh: a.P256dh, Auth: a.Auth}, nil))
}

// The sending client checks the address a name resolves to (a public name may point inside):
// a push to a loopback address is refused unless its origin is allowed (loopback test services).
func TestClientRefusesInternalAddresses(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusCreated) }))
	t.Cleanup(srv.Close)
	// "localhost" resolves to the loopback address: refused when dialled.
	byName := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	post := func(c *http.Client, u string) error {
		req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, u, nil)
		require.NoError(t, err)
		res, err := c.Do(req)
		if err == nil {
			res.Body.Close()
		}
		return err
	}
	err := post(webpush.Client(5*time.Second, nil), byName+"/push/x")
	require.Error(t, err)
	require.True(t, errors.Is(err, webpush.ErrBlockedAddress), "%v", err)
	require.NoError(t, post(webpush.Client(5*time.Second, []string{srv.URL}), srv.URL+"/push/x"))
}

// A push to an endpoint that leads inside is refused for good, not retried.
func TestSendToBlockedAddressIsPermanent(t *testing.T) {
	t.Parallel()
	s, srv := sender(t)
	s.HTTP = webpush.Client(5*time.Second, nil)
	a := srv.Subscribe()
	ep := strings.Replace(a.Endpoint, "127.0.0.1", "localhost", 1)
	_, err := s.Send(context.Background(), webpush.Subscription{Endpoint: ep, P256dh: a.P256dh, Auth: a.Auth}, []byte("hi"), webpush.RecordSize)
	require.Equal(t, channels.Permanent, channels.ClassOf(err), "%v", err)
	require.Empty(t, srv.Messages(nil))
}
