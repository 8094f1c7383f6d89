package widget_test

// The widget's routes served by a whole gateway (package gateway builds the widget server) on
// real PostgreSQL and NATS: the session, the socket and their limits, one creator per test.

import (
	"net/http/httptest"
	"testing"

	"github.com/coachwire/coachwire/internal/auth"
	"github.com/coachwire/coachwire/internal/config"
	"github.com/coachwire/coachwire/internal/gateway"
	"github.com/coachwire/coachwire/internal/secrets"
	"github.com/coachwire/coachwire/internal/storage"
	"github.com/coachwire/coachwire/internal/testenv"
)

// TestMain starts (once) and stops the real dependencies of the test binary.
func TestMain(m *testing.M) { testenv.Main(m) }

// newGateway starts one gateway replica with limits (zero fields: the defaults) on the test
// binary's PostgreSQL and NATS, with its own bus connection, data directory and signing key as
// a separate process would have, and returns its URL.
func newGateway(t *testing.T, limits config.Limits) string {
	t.Helper()
	return newGatewayWith(t, gateway.Settings{PublicURL: "http://gateway.test", Limits: limits})
}

// newGatewayWith is newGateway with these settings.
func newGatewayWith(t *testing.T, settings gateway.Settings) string {
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
	srv := gateway.New(gateway.Deps{
		Config: &settings,
		Files:  files,
		Store:  testenv.Store(t),
		Bus:    testenv.Bus(t),
		Auth:   svc,
		Keys:   keys,
		Log:    testenv.Logger(t),
	})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	t.Cleanup(srv.Shutdown)
	return ts.URL
}

// offPerIP are the default limits without the per-address ones (every client of a test that
// does not choose its address is 127.0.0.1, and the counts are shared by the test binary).
var offPerIP = config.Limits{RegistrationsPerIP: config.Rate{N: -1}, LoginsPerIP: config.Rate{N: -1}, WidgetSessionsPerIP: config.Rate{N: -1}}
