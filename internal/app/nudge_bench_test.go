package app_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/config"
	"github.com/coachwire/coachwire/internal/llm/ollamatest"
	"github.com/coachwire/coachwire/internal/testenv"
)

// outboundPublished counts the messages of creator c in the outbound stream (what was handed
// to dispatch).
func outboundPublished(tb testing.TB, natsURL string, c uuid.UUID) int {
	tb.Helper()
	nc, err := nats.Connect(natsURL)
	require.NoError(tb, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(tb, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, "CW_OUTBOUND")
	require.NoError(tb, err)
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(fmt.Sprintf("cw.%s.outbound.*", c)))
	require.NoError(tb, err)
	n := 0
	for _, k := range info.State.Subjects {
		n += int(k)
	}
	return n
}

// procKB reads a /proc/<pid>/status field in kB (VmHWM: peak resident memory).
func procKB(pid int, field string) int {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	return 0
}

// BenchmarkCampaign100k runs one 100,000-recipient campaign (COACHWIRE_BENCH_RECIPIENTS
// overrides the size) through one nudge OS process: seconds from the due time until every
// recipient is decided and its message is in the outbound stream, and the process's peak
// resident memory (VmHWM). Run with -benchtime=1x: each iteration is a whole campaign.
func BenchmarkCampaign100k(b *testing.B) {
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("COACHWIRE_BENCH_RECIPIENTS")); err == nil && v > 0 {
		n = v
	}
	h := newHarness(b, ollamatest.Options{})
	gw := h.start(h.config(config.TargetGateway))
	extra := []string{"COACHWIRE_TARGET=nudge", "COACHWIRE_NUDGE_TICK=200ms"}
	for _, k := range []string{"COACHWIRE_NUDGE_PAGE", "COACHWIRE_NUDGE_BATCH", "COACHWIRE_NUDGE_PARALLEL"} {
		if v := os.Getenv(k); v != "" {
			extra = append(extra, k+"="+v)
		}
	}
	var p *proc
	if os.Getenv("COACHWIRE_BENCH_INPROC") != "" { // in this process, for go test -cpuprofile
		cfg := h.config(config.TargetNudge)
		cfg.Nudge.Tick = 200 * time.Millisecond
		if v, err := strconv.Atoi(os.Getenv("COACHWIRE_NUDGE_PAGE")); err == nil {
			cfg.Nudge.Page = v
		}
		if v, err := strconv.Atoi(os.Getenv("COACHWIRE_NUDGE_PARALLEL")); err == nil {
			cfg.Nudge.Parallel = v
		}
		h.start(cfg)
	} else {
		p = startProc(b, "nudge", h.env(b.TempDir(), extra...))
	}
	c := testenv.NewClient(gw.URL)
	conn := ownerConn(b, h)

	for i := 0; i < b.N; i++ {
		b.StopTimer()
		cr := c.Register(b)
		seedEndUsers(b, conn, cr.ID, n, "bench")
		tenantExec(b, conn, cr.ID, `UPDATE creators SET quiet_start = 0, quiet_end = 0 WHERE id = $1`, cr.ID)
		tenantExec(b, conn, cr.ID, `ANALYZE end_users`)
		at := time.Now().Add(2 * time.Second).UTC()
		var camp struct {
			ID uuid.UUID `json:"id"`
		}
		st, body, err := c.Do(context.Background(), "POST", "/api/v1/campaigns", cr.AccessToken, map[string]any{
			"name":     "bench",
			"audience": map[string]any{"tag": "bench"},
			"content":  map[string]any{"kind": "text", "text": "Hi {{first_name}}, a quick check-in."},
			"schedule": map[string]any{"kind": "once", "at": at.Format(time.RFC3339Nano)},
		}, &camp)
		require.NoError(b, err)
		require.Equal(b, http.StatusCreated, st, string(body))
		time.Sleep(time.Until(at))
		b.StartTimer()

		// Poll every 500ms: counting 100k decision rows is itself work for the database.
		var decided, published int
		deadline := time.Now().Add(15 * time.Minute)
		for {
			decided = countRows(b, conn, cr.ID, `SELECT count(*) FROM nudge_deliveries WHERE campaign_id = $1`, camp.ID)
			if decided >= n {
				if published = outboundPublished(b, h.natsURL, cr.ID); published >= n {
					break
				}
			}
			if time.Now().After(deadline) {
				b.Fatalf("after 15m: %d of %d decided, %d published", decided, n, published)
			}
			time.Sleep(500 * time.Millisecond)
		}
		elapsed := time.Since(at)
		b.StopTimer()
		require.Equal(b, n, countRows(b, conn, cr.ID, `SELECT count(*) FROM nudge_deliveries WHERE campaign_id = $1 AND status = 'sent'`, camp.ID))
		require.Equal(b, n, published)
		b.ReportMetric(elapsed.Seconds(), "s/campaign")
		b.ReportMetric(float64(n)/elapsed.Seconds(), "recipients/s")
		b.Logf("%d recipients decided and published in %s", n, elapsed.Round(time.Millisecond))
	}
	if p == nil {
		return
	}
	hwm := procKB(p.cmd.Process.Pid, "VmHWM")
	b.ReportMetric(float64(hwm)/1024, "peak-RSS-MB")
	b.Logf("nudge process peak RSS (VmHWM) %.1f MB", float64(hwm)/1024)
}
