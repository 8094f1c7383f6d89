package opscli_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/opscli"
)

func TestReadyURL(t *testing.T) {
	for addr, want := range map[string]string{
		"":               "http://127.0.0.1:9090/readyz",
		"127.0.0.1:9191": "http://127.0.0.1:9191/readyz",
		"0.0.0.0:9090":   "http://127.0.0.1:9090/readyz",
		":9090":          "http://127.0.0.1:9090/readyz",
		"[::]:9090":      "http://[::1]:9090/readyz",
		"ops.internal:1": "http://ops.internal:1/readyz",
	} {
		got, err := opscli.ReadyURL(addr)
		require.NoError(t, err, addr)
		require.Equal(t, want, got, addr)
	}
	_, err := opscli.ReadyURL("9090")
	require.ErrorContains(t, err, "COACHWIRE_OPS_ADDR")
}

// TestHealthcheck: 200 from /readyz is healthy; any other status is not, and the error quotes
// the body (which dependency failed); a listener that is not there is not healthy.
func TestHealthcheck(t *testing.T) {
	t.Parallel()
	var ready atomic.Bool
	ready.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		if !ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"status":"unavailable","checks":{"nats":"down"}}`))
			return
		}
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	}))
	defer srv.Close()
	url, err := opscli.ReadyURL(strings.TrimPrefix(srv.URL, "http://"))
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, opscli.Healthcheck(ctx, url, 5*time.Second))
	ready.Store(false)
	err = opscli.Healthcheck(ctx, url, 5*time.Second)
	require.ErrorContains(t, err, "503 Service Unavailable")
	require.ErrorContains(t, err, `"nats":"down"`)
	srv.Close()
	require.Error(t, opscli.Healthcheck(ctx, url, 5*time.Second))
}

func TestWriteVersion(t *testing.T) {
	var out strings.Builder
	opscli.WriteVersion(&out, &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: "github.com/coachwire/coachwire", Version: "v1.2.3"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.time", Value: "2026-12-05T05:00:00Z"},
			{Key: "vcs.modified", Value: "true"}, {Key: "GOOS", Value: "linux"}}}, true)
	require.Equal(t, `coachwire v1.2.3
module:       github.com/coachwire/coachwire
go:           go1.26.0
revision:     abc123 (modified)
commit time:  2026-12-05T05:00:00Z
GOOS:         linux
`, out.String())
	out.Reset()
	opscli.WriteVersion(&out, &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: "m"}}, true)
	require.Contains(t, out.String(), "coachwire (unknown)\n")
	require.Contains(t, out.String(), "revision:     unknown")
	out.Reset()
	opscli.WriteVersion(&out, nil, false)
	require.Equal(t, "coachwire: no build information in this binary\n", out.String())
}
