package ops_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/ops"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// TestReadyzStatus: a failed required check answers 503 not_ready, a failed optional one 200
// degraded (503 with ?strict=1), each naming what failed; /healthz and /metrics answer.
func TestReadyzStatus(t *testing.T) {
	t.Parallel()
	reg := ops.NewRegistry()
	m := ops.NewConsumers(reg)
	s, err := ops.Listen("127.0.0.1:0", reg, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	defer s.Close()
	base := "http://" + s.Addr()

	code, body := get(t, base+"/healthz")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "alive")

	var optionalErr, requiredErr error
	s.AddCheck(ops.Check{Name: "nats", Check: func(context.Context) error { return requiredErr }})
	s.AddCheck(ops.Check{Name: "consumer:retrieve", Optional: true, Check: func(context.Context) error { return optionalErr }})
	readyz := func(q string) (int, ops.Readiness) {
		code, body := get(t, base+"/readyz"+q)
		var r ops.Readiness
		require.NoError(t, json.Unmarshal([]byte(body), &r))
		return code, r
	}
	code, r := readyz("")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "ready", r.Status)
	require.Empty(t, r.Missing)

	optionalErr = errors.New("nobody pulling")
	code, r = readyz("")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "degraded", r.Status)
	require.Equal(t, []string{"consumer:retrieve"}, r.Missing)
	require.Equal(t, "nobody pulling", r.Checks["consumer:retrieve"].Error)
	code, _ = readyz("?strict=1")
	require.Equal(t, http.StatusServiceUnavailable, code)

	requiredErr = errors.New("not connected")
	code, r = readyz("")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Equal(t, "not_ready", r.Status)
	require.Equal(t, []string{"consumer:retrieve", "nats"}, r.Missing)

	done := m.Start("retrieve")
	done(ops.OutcomeDeadLettered)
	code, body = get(t, base+"/metrics")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, `coachwire_consumer_dead_lettered_total{consumer="retrieve"} 1`)
	require.Contains(t, body, `coachwire_consumer_in_flight{consumer="retrieve"} 0`)
	require.True(t, strings.Contains(body, "go_goroutines") && strings.Contains(body, "process_cpu_seconds_total"))
}

// TestNilMetricsRecordNothing: roles built without metrics (most unit tests) call them safely.
func TestNilMetricsRecordNothing(t *testing.T) {
	t.Parallel()
	var c *ops.Consumers
	c.Start("x")(ops.OutcomeHandled)
	c.Retried("x")
	c.DeadLettered("x")
	c.Init("x")
	var tm *ops.Turn
	tm.FirstToken("ollama", 0)
	tm.Reply("ollama", "generated", 0)
	var l *ops.LLM
	l.Call(ops.LLMCall{Class: "live"})
	var i *ops.Ingest
	i.Document(ops.IngestIndexed)
	i.Extracted("markdown", 1, 0)
	i.Chunks("bm25", 1)
	i.EmbedBatch(0, nil)
	var d *ops.Dispatch
	d.Sent("widget", "sent")
	d.ProviderCall("whatsapp", 0, nil)
	d.RateLimited("whatsapp")
	d.RetryWait("whatsapp", 0)
	d.WindowClosed("whatsapp")
	var n *ops.Nudge
	n.Occurrences(ops.OccurrenceDue, 1)
	n.Decision("sent", "")
	n.Batch(0)
	var g *ops.Gateway
	g.Request("GET /x", 200, 0)
	g.Webhook("telegram", 200)
	require.NotNil(t, g.Sockets(func(http.ResponseWriter, *http.Request) error { return nil }))
}
