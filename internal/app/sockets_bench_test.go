package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/llm/ollamatest"
	"github.com/coachwire/coachwire/internal/localdeps"
	"github.com/coachwire/coachwire/internal/testenv"
)

// BenchmarkIdleWidgetSockets opens COACHWIRE_BENCH_SOCKETS (default 19,000) widget sockets, each
// with its own session and conversation, to one gateway OS process, waits until every socket
// has resumed (replayed its history and got "ready"), and reports the gateway's resident memory
// per idle socket: (VmRSS with the sockets open - VmRSS before) / sockets. The clients live in
// this process and are not counted. Run with -benchtime=1x.
func BenchmarkIdleWidgetSockets(b *testing.B) {
	n := 19_000
	if v, err := strconv.Atoi(os.Getenv("COACHWIRE_BENCH_SOCKETS")); err == nil && v > 0 {
		n = v
	}
	h := newHarness(b, ollamatest.Options{})
	port, err := localdeps.FreePort()
	require.NoError(b, err)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	gw := startProc(b, "gateway", h.env(b.TempDir(), "COACHWIRE_TARGET=gateway", "COACHWIRE_HTTP_ADDR=127.0.0.1:"+strconv.Itoa(port),
		"COACHWIRE_MIGRATE_DATABASE_URL="+h.db.OwnerURL, "COACHWIRE_LOG_LEVEL=warn"))
	waitHealthy(b, base)
	c := testenv.NewClient(base)
	c.HTTP.Transport = &http.Transport{MaxIdleConnsPerHost: 64}
	cr := c.Register(b)

	// Sessions first (each one an end user and a conversation), over a few connections.
	sessions := make([]testenv.WidgetSession, n)
	var wg sync.WaitGroup
	work := make(chan int)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				sessions[i] = c.StartWidget(b, cr.WidgetKey, "idle-"+strconv.Itoa(i)+"-"+uuid.NewString()[:8])
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()

	runtime.GC()
	before := procKB(gw.cmd.Process.Pid, "VmRSS")
	b.ResetTimer()
	start := time.Now()
	conns := make([]*websocket.Conn, n)
	errs := make(chan error, n)
	dial := make(chan int)
	url := "ws" + strings.TrimPrefix(base, "http") + "/api/v1/widget/ws"
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range dial {
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				conn, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"coachwire.v1", "bearer." + sessions[i].Token}})
				if err == nil {
					err = resumeUntilReady(ctx, conn)
				}
				cancel()
				if err != nil {
					errs <- fmt.Errorf("socket %d: %w", i, err)
					continue
				}
				conns[i] = conn
			}
		}()
	}
	for i := range n {
		dial <- i
	}
	close(dial)
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	opened := time.Since(start)
	time.Sleep(3 * time.Second) // idle: let the gateway settle (GC, stacks)
	after := procKB(gw.cmd.Process.Pid, "VmRSS")
	b.StopTimer()
	perSocket := float64(after-before) * 1024 / float64(n)
	b.ReportMetric(perSocket/1024, "KB/socket")
	b.ReportMetric(float64(after)/1024, "gateway-RSS-MB")
	b.ReportMetric(float64(n)/opened.Seconds(), "sockets/s")
	b.Logf("%d idle widget sockets: gateway RSS %.1f MB -> %.1f MB, %.1f KB per socket; opened in %s",
		n, float64(before)/1024, float64(after)/1024, perSocket/1024, opened.Round(time.Millisecond))
	for _, conn := range conns {
		conn.CloseNow()
	}
}

// resumeUntilReady sends the widget's resume frame and reads until the server's "ready"; the
// socket is then idle, with nothing left to read.
func resumeUntilReady(ctx context.Context, conn *websocket.Conn) error {
	if err := conn.Write(ctx, websocket.MessageText, []byte(`{"type":"resume","last_seq":0}`)); err != nil {
		return err
	}
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			return err
		}
		var f struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(data, &f) == nil && f.Type == "ready" {
			return nil
		}
	}
}
