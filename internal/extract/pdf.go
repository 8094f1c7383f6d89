package extract

import (
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/ledongthuc/pdf"
)

// extractPDF reads the text layer page by page (github.com/ledongthuc/pdf,
// a maintained fork of rsc.io/pdf), one Section per page. Lines are rebuilt
// from glyph positions: a change of baseline starts a line, a horizontal gap
// inserts a space. The library panics on malformed content and can loop on a
// cyclic page tree, so this runs in the extraction child (ExtractIsolated).
func extractPDF(st *state, r io.ReaderAt, size int64) (doc *Document, err error) {
	rd, err := pdf.NewReader(r, size)
	if err != nil {
		if strings.Contains(err.Error(), "password") || strings.Contains(err.Error(), "encrypt") {
			return nil, fmt.Errorf("%w: the PDF is encrypted or password-protected", ErrUnsupported)
		}
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	doc = &Document{}
	defer func() {
		if p := recover(); p != nil {
			doc, err = nil, fmt.Errorf("%w: the PDF is malformed: %v", ErrCorrupt, p)
		}
	}()
	if info := rd.Trailer().Key("Info"); info.Kind() == pdf.Dict {
		doc.Title = info.Key("Title").Text()
	}
	n := rd.NumPage()
	if n <= 0 {
		return nil, fmt.Errorf("%w: the PDF has no pages", ErrCorrupt)
	}
	if n > MaxPDFPages {
		return nil, fmt.Errorf("%w: %d pages (at most %d)", ErrTooLarge, n, MaxPDFPages)
	}
	pages, err := pdfPages(rd, n)
	if err != nil {
		return nil, err
	}
	for i, v := range pages {
		if err := st.check(); err != nil {
			return nil, err
		}
		text := pageText(pdf.Page{V: v}.Content().Text)
		if err := st.add(len(text)); err != nil {
			return nil, err
		}
		doc.Sections = append(doc.Sections, Section{Page: i + 1, Text: text})
	}
	return doc, nil
}

// Bounds on walking a PDF page tree: Values carry no object identity, so a cycle shows only
// as a tree too deep or too big.
const (
	maxPDFTreeDepth = 64
	maxPDFTreeNodes = 4*MaxPDFPages + 1024
)

// pdfPages returns the first n page objects in document order, walking the page tree once.
// Reader.Page(i) walks it from the root for every page and reads every kid it passes on the
// way, which is quadratic in the page count: a 1,300-page PDF took 20 s, a 6,000-page one
// minutes. A cyclic tree is refused as damaged instead of looping.
func pdfPages(rd *pdf.Reader, n int) ([]pdf.Value, error) {
	pages := make([]pdf.Value, 0, n)
	nodes := 0
	var walk func(node pdf.Value, depth int) error
	walk = func(node pdf.Value, depth int) error {
		if depth > maxPDFTreeDepth {
			return fmt.Errorf("%w: the PDF's page tree is cyclic or too deep", ErrCorrupt)
		}
		kids := node.Key("Kids")
		for i := 0; i < kids.Len() && len(pages) < n; i++ {
			if nodes++; nodes > maxPDFTreeNodes {
				return fmt.Errorf("%w: the PDF's page tree is cyclic or too large", ErrCorrupt)
			}
			kid := kids.Index(i)
			switch kid.Key("Type").Name() {
			case "Pages":
				if err := walk(kid, depth+1); err != nil {
					return err
				}
			case "Page":
				pages = append(pages, kid)
			}
		}
		return nil
	}
	if root := rd.Trailer().Key("Root").Key("Pages"); root.Key("Type").Name() == "Pages" {
		if err := walk(root, 0); err != nil {
			return nil, err
		}
	}
	return pages, nil
}

// pageText joins glyphs into lines in content-stream order.
func pageText(glyphs []pdf.Text) string {
	var b strings.Builder
	havePrev := false
	var prevY, prevEnd, prevSize float64
	lastSpace := true
	for _, g := range glyphs {
		if g.S == "\n" || g.S == "" {
			continue
		}
		size := math.Abs(g.FontSize)
		if size == 0 {
			size = 10
		}
		if havePrev {
			dy := math.Abs(g.Y - prevY)
			switch {
			case dy > 0.5*math.Max(size, prevSize):
				// a new line; a big jump (more than ~1.8 lines) is a paragraph
				if dy > 1.8*math.Max(size, prevSize) {
					b.WriteString("\n\n")
				} else {
					b.WriteByte('\n')
				}
				lastSpace = true
			case g.X-prevEnd > 0.15*size || prevEnd-g.X > 2*size:
				if !lastSpace && g.S != " " {
					b.WriteByte(' ')
					lastSpace = true
				}
			}
		}
		b.WriteString(g.S)
		lastSpace = strings.HasSuffix(g.S, " ")
		havePrev = true
		prevY, prevSize = g.Y, size
		prevEnd = g.X + g.W
	}
	return b.String()
}
