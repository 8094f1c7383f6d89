package app_test

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/extract/extracttest"
	"github.com/coachwire/coachwire/internal/llm/ollamatest"
	"github.com/coachwire/coachwire/internal/testenv"
)

// BenchmarkUploadToIndexed100PagePDF uploads a 100-page PDF through the API to a cluster of
// separate processes (an instantly answering embedder) and reports the seconds until the
// document is "indexed" and the ingest process's peak resident memory (VmHWM; the extraction
// child is a separate process and reported too when it can be read).
func BenchmarkUploadToIndexed100PagePDF(b *testing.B) {
	h := newHarness(b, ollamatest.Options{})
	base, procs := startCluster(b, h)
	c := testenv.NewClient(base)
	cr := c.Register(b)
	var total time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		// A distinct document each round: an identical upload would be recognised as a duplicate.
		doc := extracttest.ProsePDF(fmt.Sprintf("Training log %d", i), 100)
		st, d, e := upload(b, c, cr, "POST", "/api/v1/documents", "big.pdf", doc)
		require.Equal(b, 202, st, "%+v", e)
		testenv.Eventually(b, 5*time.Minute, func() bool {
			_, got := getDoc(b, c, cr, d.ID)
			require.NotEqual(b, "failed", got.Status, got.Error)
			return got.Status == "indexed"
		}, "document to be indexed")
		total += time.Since(start)
	}
	secs := total.Seconds() / float64(b.N)
	b.ReportMetric(secs, "s-to-indexed")
	hwm := vmHWM(procs["ingest"].cmd.Process.Pid)
	b.ReportMetric(float64(hwm)/1024, "ingest-peak-MiB")
	b.Logf("100-page PDF: %.2f s upload→indexed; ingest process peak RSS %.1f MiB", secs, float64(hwm)/1024)
}

// vmHWM is a process's peak resident set in KiB, from /proc.
func vmHWM(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			n, _ := strconv.Atoi(strings.Fields(line)[1])
			return n
		}
	}
	return 0
}
