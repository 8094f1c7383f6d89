package ingest

import (
	"context"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/internal/analysis"
	"github.com/coachwire/coachwire/internal/extract"
)

func TestDocumentTitleFromContent(t *testing.T) {
	md := "# Coaching handbook\n\nIntro.\n\n## Sleep\n\nSleep text.\n\n### Naps\n\nA short nap of ten minutes.\n\n#### Timing\n\nBefore three.\n\n## Food\n\nEat well.\n"
	xd, err := extract.Extract(context.Background(), strings.NewReader(md), int64(len(md)), extract.Markdown, extract.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ stored, filename, want string }{
		{"handbook v2", "handbook_v2.md", "Coaching handbook"}, // the gateway's default: the H1 wins
		{"My own title", "handbook_v2.md", "My own title"},     // the creator's title is kept
		{"Notes", "", "Notes"},                                 // an inline document's title is the creator's
	} {
		if got := DocumentTitle(tc.stored, tc.filename, xd); got != tc.want {
			t.Errorf("DocumentTitle(%q, %q) = %q, want %q", tc.stored, tc.filename, got, tc.want)
		}
	}
	noH1 := &extract.Document{Sections: []extract.Section{{Text: "x"}, {Heading: "First heading", Level: 2, Text: "y"}}}
	if got := DocumentTitle("report", "report.pdf", noH1); got != "First heading" {
		t.Errorf("without a metadata title: %q", got)
	}

	ch := mustChunker(t, ChunkerOptions{})
	var paths []string
	for _, c := range ChunkDocument(ch, uuid.New(), "Coaching handbook", xd) {
		paths = append(paths, c.Headings)
		if c.Lang != analysis.English {
			t.Errorf("chunk %d language %q", c.Index, c.Lang)
		}
	}
	want := []string{"", "Sleep", "Sleep › Naps", "Sleep › Naps › Timing", "Food"}
	if strings.Join(paths, "|") != strings.Join(want, "|") {
		t.Errorf("heading paths %q, want %q", paths, want)
	}
}
