// Package extracttest builds real documents for tests and benchmarks of the extraction and
// ingestion paths. It never reads or writes files: callers decide where bytes go.
package extracttest

import (
	"bytes"
	"fmt"
	"strings"
)

// Page is one page of a generated PDF: lines of text, top to bottom.
type Page []string

// PDF writes a small valid PDF 1.4 with a Helvetica (WinAnsi) text stream per page, an Info
// dictionary with title and a correct xref table.
func PDF(title string, pages []Page) []byte {
	var b bytes.Buffer
	var offsets []int
	obj := func(body string) {
		offsets = append(offsets, b.Len())
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", len(offsets), body)
	}
	b.WriteString("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
	// 1 catalog, 2 pages, 3 font, 4 info, then page/content pairs
	const first = 5
	kids := make([]string, len(pages))
	for i := range pages {
		kids[i] = fmt.Sprintf("%d 0 R", first+2*i)
	}
	obj("<< /Type /Catalog /Pages 2 0 R >>")
	obj(fmt.Sprintf("<< /Type /Pages /Kids [%s] /Count %d >>", strings.Join(kids, " "), len(pages)))
	obj("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
	obj(fmt.Sprintf("<< /Title (%s) /Producer (coachwire testdata) >>", Escape(title)))
	for i, p := range pages {
		var c bytes.Buffer
		c.WriteString("BT\n/F1 12 Tf\n14 TL\n72 770 Td\n")
		for _, line := range p {
			fmt.Fprintf(&c, "(%s) Tj\nT*\n", Escape(line))
		}
		c.WriteString("ET\n")
		obj(fmt.Sprintf("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>", first+2*i+1))
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

// ProsePDF has pages pages of 45 lines of running prose each, under title.
func ProsePDF(title string, pages int) []byte {
	ps := make([]Page, pages)
	for i := range ps {
		for l := 0; l < 45; l++ {
			ps[i] = append(ps[i], fmt.Sprintf("Page %d line %d: steady aerobic work builds the engine for every sport.", i+1, l+1))
		}
	}
	return PDF(title, ps)
}

// Escape quotes a string for a PDF literal.
func Escape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `(`, `\(`, `)`, `\)`).Replace(s)
}
