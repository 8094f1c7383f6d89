package webhooks_test

// The providers' webhooks served by a whole gateway (package gateway builds the webhook server
// and the channel API that configures it) on real PostgreSQL and NATS, with a Telegram double;
// tests read what the gateway publishes on their creator's inbound subjects.

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/auth"
	"github.com/coachwire/coachwire/internal/channels/telegramtest"
	"github.com/coachwire/coachwire/internal/config"
	"github.com/coachwire/coachwire/internal/gateway"
	"github.com/coachwire/coachwire/internal/secrets"
	"github.com/coachwire/coachwire/internal/storage"
	"github.com/coachwire/coachwire/internal/testenv"
)

// TestMain starts (once) and stops the real dependencies of the test binary.
func TestMain(m *testing.M) { testenv.Main(m) }

type gw struct {
	url string
	c   *testenv.Client
	bus *nats.Conn
	tg  *telegramtest.Server
}

// newGateway starts a gateway on the test binary's PostgreSQL and NATS whose Telegram API is a
// double of its own.
func newGateway(t *testing.T) *gw {
	t.Helper()
	dir := t.TempDir()
	svc, err := auth.New(auth.Options{KeyFile: dir + "/keys/jwt.json", Issuer: "http://gateway.test", BcryptCost: 4})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := secrets.Load("", dir)
	if err != nil {
		t.Fatal(err)
	}
	files, err := storage.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tg := telegramtest.New(t)
	b := testenv.Bus(t)
	off := config.Rate{N: -1} // every client is 127.0.0.1
	srv := gateway.New(gateway.Deps{
		Config: &gateway.Settings{PublicURL: "http://gateway.test", TelegramAPIURL: tg.URL,
			Limits: config.Limits{RegistrationsPerIP: off, LoginsPerIP: off, WidgetSessionsPerIP: off}},
		Files: files,
		Store: testenv.Store(t),
		Bus:   b,
		Auth:  svc,
		Keys:  keys,
		Log:   testenv.Logger(t),
	})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	t.Cleanup(srv.Shutdown)
	return &gw{url: ts.URL, c: testenv.NewClient(ts.URL), bus: b.Conn(), tg: tg}
}

// post sends a webhook body to path with the given headers and returns status and body.
func (g *gw) post(t *testing.T, path string, body []byte, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("POST", g.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(out)
}

// inbound subscribes to what the gateway publishes on creator's channel subject.
func (g *gw) inbound(t *testing.T, creator uuid.UUID, channel string) *nats.Subscription {
	t.Helper()
	sub, err := g.bus.SubscribeSync(events.InboundSubject(creator, channel))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return sub
}

// next is the next inbound event on sub with its deduplication id. A webhook's events are
// published before it is answered, so after a sequence of webhooks the events come in order.
func next(t *testing.T, sub *nats.Subscription) (events.MessageReceived, string) {
	t.Helper()
	m, err := sub.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatalf("no inbound event: %v", err)
	}
	ev, err := events.Decode[events.MessageReceived](m.Data)
	if err != nil {
		t.Fatalf("inbound event %s: %v", m.Data, err)
	}
	return ev.Data, m.Header.Get(nats.MsgIdHdr)
}
