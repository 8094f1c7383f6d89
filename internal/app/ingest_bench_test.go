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
func vmHWM(pid int) int { return procStatus(pid, "VmHWM:") }

// procStatus reads one KiB field of /proc/<pid>/status.
func procStatus(pid int, field string) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field) {
			n, _ := strconv.Atoi(strings.Fields(line)[1])
			return n
		}
	}
	return 0
}

// BenchmarkUploadToIndexed20MBMarkdown uploads a 20 MB Markdown file (under the 25 MiB upload
// limit) to a cluster of separate processes without an embedding model (BM25 indexing) and
// reports the seconds until it is "indexed" (and until it was extracted and chunked, status
// "embedding"), the ingest process's resident memory before the upload and its peak (VmHWM)
// after: what one large document costs the shared process.
func BenchmarkUploadToIndexed20MBMarkdown(b *testing.B) {
	benchUploadToIndexed(b, "handbook.md", func(i int) []byte { return extracttest.Markdown(20_000_000, uint64(i)) })
}

// BenchmarkUploadToIndexed25MBPDF is the same for a 25 MB text PDF (about 6,000 pages): the
// product plan's document-processing target. The text is read in the extraction child; the
// peak reported is the ingest process's own.
func BenchmarkUploadToIndexed25MBPDF(b *testing.B) {
	benchUploadToIndexed(b, "handbook.pdf", func(i int) []byte {
		return extracttest.ProsePDFBytes(fmt.Sprintf("Training log %d", i), 25_000_000)
	})
}

func benchUploadToIndexed(b *testing.B, name string, gen func(i int) []byte) {
	h := newHarness(b, ollamatest.Options{})
	// No embedding model in the double: the cluster indexes for BM25 only.
	base, procs := startCluster(b, h, "COACHWIRE_EMBED_MODEL=absent-embed-model")
	c := testenv.NewClient(base)
	cr := c.Register(b)
	pid := procs["ingest"].cmd.Process.Pid
	idle := vmRSS(pid)
	cpu0 := procCPU(pid)
	var total, toIndexing time.Duration
	size, chunks := 0, 0
	for i := 0; i < b.N; i++ {
		doc := gen(i) // a distinct document each round: an identical one is a duplicate
		size = len(doc)
		start := time.Now()
		st, d, e := upload(b, c, cr, "POST", "/api/v1/documents", name, doc)
		require.Equal(b, 202, st, "%+v", e)
		indexing := time.Time{}
		testenv.Eventually(b, 10*time.Minute, func() bool {
			_, got := getDoc(b, c, cr, d.ID)
			require.NotEqual(b, "failed", got.Status, got.Error)
			if got.Status == "embedding" && indexing.IsZero() {
				indexing = time.Now() // extracted and chunked: writing to the index
			}
			chunks = got.ChunkCount
			return got.Status == "indexed"
		}, "document to be indexed")
		total += time.Since(start)
		if !indexing.IsZero() {
			toIndexing += indexing.Sub(start)
		}
	}
	secs := total.Seconds() / float64(b.N)
	hwm := vmHWM(pid)
	b.ReportMetric(secs, "s-to-indexed")
	b.ReportMetric(toIndexing.Seconds()/float64(b.N), "s-to-chunked")
	// CPU the ingest process spent: on a busy machine, wall time says little on its own.
	b.ReportMetric((procCPU(pid)-cpu0).Seconds()/float64(b.N), "ingest-cpu-s")
	b.ReportMetric(float64(hwm)/1024, "ingest-peak-MiB")
	b.ReportMetric(float64(idle)/1024, "ingest-idle-MiB")
	b.Logf("%s, %.1f MB, %d chunks: %.2f s upload→indexed (%.2f s to chunked); ingest process RSS %.1f MiB idle, peak %.1f MiB",
		name, float64(size)/1e6, chunks, secs, toIndexing.Seconds()/float64(b.N), float64(idle)/1024, float64(hwm)/1024)
}

// procCPU is the user+system CPU time a process has used, from /proc/<pid>/stat.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command (which may hold spaces) start after the last ')'.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.Atoi(f[11])
	st, _ := strconv.Atoi(f[12])
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

// vmRSS is a process's current resident set in KiB, from /proc.
func vmRSS(pid int) int { return procStatus(pid, "VmRSS:") }
