package ingest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/internal/extract"
	"github.com/coachwire/coachwire/internal/extract/extracttest"
	"github.com/coachwire/coachwire/internal/testenv"
	"github.com/coachwire/coachwire/internal/tokens"
)

func TestMain(m *testing.M) { extract.MainIfChild(); testenv.Main(m) }

func benchMarkdown() []byte {
	var b strings.Builder
	for i := 0; b.Len() < 4<<20; i++ {
		fmt.Fprintf(&b, "## Section %d\n\n", i)
		for p := 0; p < 4; p++ {
			fmt.Fprintf(&b, "Paragraph %d of section %d. Progressive overload means adding a little weight or one more repetition over the weeks, while sleep, protein and rest days let the body adapt. Keep a training log and review it every four weeks.\n\n", p, i)
		}
	}
	return []byte(b.String())
}

// BenchmarkExtractChunk measures extraction + chunking (no embedding, no index): MB/s of input
// and chunks/s, for a 4 MiB Markdown file (in process) and a 400-page PDF (isolated child).
func BenchmarkExtractChunk(b *testing.B) {
	tok, err := tokens.CL100K()
	if err != nil {
		b.Fatal(err)
	}
	ch, err := NewChunker(ChunkerOptions{Tokenizer: tok})
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		format extract.Format
		data   []byte
	}{{"markdown-4MiB", extract.Markdown, benchMarkdown()}, {"pdf-400pages", extract.PDF, extracttest.ProsePDF("Big", 400)}} {
		b.Run(tc.name, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "f")
			if err := os.WriteFile(path, tc.data, 0o600); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(tc.data)))
			chunks := 0
			for i := 0; i < b.N; i++ {
				var xd *extract.Document
				if tc.format.Isolated() {
					xd, err = extract.ExtractIsolated(context.Background(), path, tc.format, extract.Limits{})
				} else {
					xd, err = extract.Extract(context.Background(), bytes.NewReader(tc.data), int64(len(tc.data)), tc.format, extract.Limits{})
				}
				if err != nil {
					b.Fatal(err)
				}
				chunks += len(ChunkDocument(ch, uuid.New(), "bench", xd))
			}
			b.ReportMetric(float64(chunks)/b.Elapsed().Seconds(), "chunks/s")
		})
	}
}
