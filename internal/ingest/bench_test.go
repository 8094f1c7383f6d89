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
)

func TestMain(m *testing.M) { extract.MainIfChild(); os.Exit(m.Run()) }

// BenchPDF builds a valid PDF of n pages of prose (Helvetica text streams), for benchmarks.
func BenchPDF(n int) []byte {
	var b bytes.Buffer
	var offsets []int
	obj := func(body string) {
		offsets = append(offsets, b.Len())
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", len(offsets), body)
	}
	b.WriteString("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
	kids := make([]string, n)
	for i := range kids {
		kids[i] = fmt.Sprintf("%d 0 R", 5+2*i)
	}
	obj("<< /Type /Catalog /Pages 2 0 R >>")
	obj(fmt.Sprintf("<< /Type /Pages /Kids [%s] /Count %d >>", strings.Join(kids, " "), n))
	obj("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
	obj("<< /Title (Benchmark) /Producer (coachwire bench) >>")
	for i := 0; i < n; i++ {
		var c bytes.Buffer
		c.WriteString("BT\n/F1 11 Tf\n13 TL\n72 770 Td\n")
		for l := 0; l < 45; l++ {
			fmt.Fprintf(&c, "(Page %d line %d: steady aerobic running builds capillaries and mitochondria.) Tj\nT*\n", i+1, l)
		}
		c.WriteString("ET\n")
		obj(fmt.Sprintf("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>", 5+2*i+1))
		obj(fmt.Sprintf("<< /Length %d >>\nstream\n%sendstream", c.Len(), c.String()))
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(offsets)+1)
	for _, o := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", o)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R /Info 4 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(offsets)+1, xref)
	return b.Bytes()
}

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
	tok, err := CL100K()
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
	}{{"markdown-4MiB", extract.Markdown, benchMarkdown()}, {"pdf-400pages", extract.PDF, BenchPDF(400)}} {
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
