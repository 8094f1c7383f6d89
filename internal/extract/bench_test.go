package extract

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coachwire/coachwire/internal/extract/extracttest"
)

// largeMarkdown is about n bytes of Markdown in sections of prose.
func largeMarkdown(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "## Section %d\n\n", i)
		for j := 0; j < 6; j++ {
			b.WriteString("Consistent training beats heroic efforts: small sessions, repeated, build the habit and the body. ")
		}
		b.WriteString("\n\n- keep a log\n- sleep well\n\n")
	}
	return b.Bytes()
}

// largePDF has pages pages of 45 lines each.
func largePDF(pages int) []byte { return extracttest.ProsePDF("Big", pages) }

func BenchmarkExtractMarkdown10MB(b *testing.B) {
	data := largeMarkdown(10 << 20)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		doc, err := Extract(context.Background(), bytes.NewReader(data), int64(len(data)), Markdown, Limits{MaxText: 64 << 20})
		if err != nil || len(doc.Sections) < 1000 {
			b.Fatal(err)
		}
	}
}

func BenchmarkExtractPDF100Pages(b *testing.B) {
	data := largePDF(100)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		doc, err := Extract(context.Background(), bytes.NewReader(data), int64(len(data)), PDF, Limits{})
		if err != nil || len(doc.Sections) != 100 || !strings.Contains(doc.Sections[99].Text, "Page 100 line 45") {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(100*b.N)/b.Elapsed().Seconds(), "pages/s")
}

// BenchmarkExtractPDF100PagesIsolated includes the child process start.
func BenchmarkExtractPDF100PagesIsolated(b *testing.B) {
	data := largePDF(100)
	p := filepath.Join(b.TempDir(), "big.pdf")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		doc, err := ExtractIsolated(context.Background(), p, PDF, Limits{})
		if err != nil || len(doc.Sections) != 100 {
			b.Fatal(err)
		}
	}
}
