package ingest

import (
	"bytes"
	"context"
	"runtime"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/internal/extract"
	"github.com/coachwire/coachwire/internal/extract/extracttest"
)

// allocated is how many bytes f allocates on the heap: an upper bound on how much more memory
// it can hold at any one time, whatever the garbage collector does.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// liveHeap is the heap in use after a collection.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestIngestMemoryBounded: extracting and chunking a large document the way the worker does
// allocates a small multiple of its size in all, so one ingest can never hold more than that:
// the file is read once and cleaned into one copy; chunks are substrings of it; counting tokens
// copies nothing (no []rune of the text, no list of every token match, no copy per line or per
// section), and what stays live after extraction is the cleaned text only. A Markdown file with headings and a plain-text file that is one 1.5 MB section.
func TestIngestMemoryBounded(t *testing.T) {
	ch := mustChunker(t, ChunkerOptions{})
	plain := strings.ReplaceAll(string(extracttest.Markdown(1_500_000, 3)), "#", "")
	for _, tc := range []struct {
		name   string
		format extract.Format
		data   []byte
	}{
		{"markdown", extract.Markdown, extracttest.Markdown(1_500_000, 2)},
		{"one-section text", extract.Text, []byte(plain)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := uint64(len(tc.data))
			var xd *extract.Document
			var kcs int
			base := liveHeap()
			ext := allocated(func() {
				var err error
				xd, err = extract.Extract(context.Background(), bytes.NewReader(tc.data), int64(n), tc.format, extract.Limits{})
				if err != nil {
					t.Fatal(err)
				}
			})
			// What stays live is the extracted text: nothing keeps the file's buffer alive.
			if live := liveHeap() - base; live > n*3/2 {
				t.Errorf("%d bytes stay live after extracting a %d-byte file (%.1f×)", live, n, float64(live)/float64(n))
			}
			chunk := allocated(func() { kcs = len(ChunkDocument(ch, uuid.New(), "t", xd)) })
			t.Logf("%d bytes, %d sections, %d chunks: extraction allocated %.2f×, chunking %.3f× the file",
				n, len(xd.Sections), kcs, float64(ext)/float64(n), float64(chunk)/float64(n))
			// The file once, its cleaned text once, and some slack.
			if ext > n*5/2 {
				t.Errorf("extraction allocated %d bytes for a %d-byte file (%.1f×)", ext, n, float64(ext)/float64(n))
			}
			// Chunks reference the text; what chunking allocates is the chunk list (a few
			// hundred bytes per chunk of several KB) and bounded scratch.
			if chunk > n*3/4 {
				t.Errorf("chunking allocated %d bytes for %d bytes of text (%.2f×)", chunk, n, float64(chunk)/float64(n))
			}
		})
	}
}
