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
	for i := 1; i <= n; i++ {
		if err := st.check(); err != nil {
			return nil, err
		}
		p := rd.Page(i)
		if p.V.IsNull() {
			continue
		}
		text := pageText(p.Content().Text)
		if err := st.add(len(text)); err != nil {
			return nil, err
		}
		doc.Sections = append(doc.Sections, Section{Page: i, Text: text})
	}
	return doc, nil
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
