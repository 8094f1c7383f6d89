package extract

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
)

func extractText(st *state, r io.ReaderAt, size int64) (*Document, error) {
	b, err := readAll(r, size)
	if err != nil {
		return nil, err
	}
	if err := rejectBinary(b); err != nil {
		return nil, err
	}
	s := ownText(b)
	if err := st.add(len(s)); err != nil {
		return nil, err
	}
	return &Document{Sections: []Section{{Text: s}}}, nil
}

// rejectBinary refuses bytes with NULs outside UTF-16 text.
func rejectBinary(b []byte) error {
	if _, ok := decodeUTF16BOM(b[:min(len(b), 4)]); ok {
		return nil
	}
	if i := bytes.IndexByte(b[:min(len(b), 1<<20)], 0); i >= 0 {
		return fmt.Errorf("%w: binary data (a NUL byte at offset %d) in a text file", ErrUnsupported, i)
	}
	return nil
}

// extractMarkdown splits at ATX (#, ##, ###) and setext (=== / ---)
// headings outside fenced code; deeper headings stay in the text. YAML
// front matter is dropped, its title: kept as the document title.
func extractMarkdown(st *state, r io.ReaderAt, size int64) (*Document, error) {
	b, err := readAll(r, size)
	if err != nil {
		return nil, err
	}
	if err := rejectBinary(b); err != nil {
		return nil, err
	}
	s := strings.ReplaceAll(ownText(b), "\r\n", "\n")
	if err := st.add(len(s)); err != nil {
		return nil, err
	}
	// Sections are substrings of s: the text is not copied per line or per section.
	doc := &Document{}
	nextLine := func(off int) (line string, next int) {
		if i := strings.IndexByte(s[off:], '\n'); i >= 0 {
			return s[off : off+i], off + i + 1
		}
		return s[off:], len(s) + 1
	}
	pos := 0
	if first, next := nextLine(0); strings.TrimSpace(first) == "---" {
		var fm []string
		for i, off := 1, next; i < 200 && off <= len(s); i++ {
			line, after := nextLine(off)
			if t := strings.TrimSpace(line); t == "---" || t == "..." {
				for _, l := range fm {
					if v, ok := strings.CutPrefix(l, "title:"); ok {
						doc.Title = strings.Clone(strings.Trim(strings.TrimSpace(v), `"'`))
					}
				}
				pos = after
				break
			}
			fm = append(fm, line)
			off = after
		}
	}
	cur := Section{}
	// The body of the current section is s[bodyStart:bodyEnd], bodyN lines; prevEnd is where
	// the body ends without its last line, prevStart where that line before the last starts.
	bodyStart, bodyEnd, bodyN := 0, 0, 0
	lastStart, prevStart, prevEnd := 0, 0, 0
	body := func() string {
		if bodyN == 0 {
			return ""
		}
		return s[bodyStart:bodyEnd]
	}
	appendLine := func(start, end int) {
		if bodyN == 0 {
			bodyStart = start
		}
		prevStart, prevEnd = lastStart, bodyEnd
		lastStart, bodyEnd = start, end
		bodyN++
	}
	push := func(heading string, level int) {
		cur.Text = body()
		doc.Sections = append(doc.Sections, cur)
		// A copy: a substring would keep the whole file's buffer alive as long as the heading.
		cur = Section{Heading: strings.Clone(heading), Level: level}
		bodyN = 0
	}
	fence := ""
	for i, off := 0, pos; off <= len(s); i++ {
		if i%4096 == 0 {
			if err := st.check(); err != nil {
				return nil, err
			}
		}
		line, next := nextLine(off)
		start, end := off, off+len(line)
		off = next
		t := strings.TrimLeft(line, " ")
		indent := len(line) - len(t)
		if fence != "" {
			if strings.HasPrefix(t, fence) {
				fence = ""
			}
			appendLine(start, end)
			continue
		}
		if indent < 4 && (strings.HasPrefix(t, "```") || strings.HasPrefix(t, "~~~")) {
			fence = t[:3]
			appendLine(start, end)
			continue
		}
		if indent < 4 {
			if lvl := atxLevel(t); lvl > 0 && lvl <= 3 {
				h := strings.TrimSpace(strings.TrimRight(strings.TrimSpace(t[lvl:]), "#"))
				if lvl == 1 && doc.Title == "" {
					doc.Title = strings.Clone(h)
				}
				push(h, lvl)
				continue
			}
			// setext: a paragraph line followed by === or ---
			if bodyN > 0 && len(t) >= 2 && (strings.Trim(strings.TrimSpace(t), "=") == "" || strings.Trim(strings.TrimSpace(t), "-") == "") {
				prev := strings.TrimSpace(s[lastStart:bodyEnd])
				if prev != "" && (bodyN == 1 || strings.TrimSpace(s[prevStart:prevEnd]) == "") && !strings.HasPrefix(prev, "- ") && !strings.HasPrefix(prev, "* ") {
					bodyN--
					bodyEnd = prevEnd
					if t[0] == '=' && doc.Title == "" {
						doc.Title = strings.Clone(prev)
					}
					lvl := 2
					if t[0] == '=' {
						lvl = 1
					}
					push(prev, lvl)
					continue
				}
			}
		}
		appendLine(start, end)
	}
	push("", 0)
	return doc, nil
}

// extractCSV renders each data row as "column: value" lines (the header
// row gives the column names), rows separated by blank lines. The
// delimiter is , ; or tab, whichever splits the header into most fields
// consistently.
func extractCSV(st *state, r io.ReaderAt, size int64) (*Document, error) {
	b, err := readAll(r, size)
	if err != nil {
		return nil, err
	}
	if err := rejectBinary(b); err != nil {
		return nil, err
	}
	s := decodeText(b)
	comma := sniffDelimiter(s)
	cr := csv.NewReader(strings.NewReader(s))
	cr.Comma = comma
	cr.FieldsPerRecord = -1
	cr.LazyQuotes = true
	cr.ReuseRecord = false
	header, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, ErrNoText
		}
		return nil, fmt.Errorf("%w: CSV header: %v", ErrCorrupt, err)
	}
	for i, h := range header {
		header[i] = cleanLine(h)
		if header[i] == "" {
			header[i] = fmt.Sprintf("column %d", i+1)
		}
	}
	var out strings.Builder
	rows := 0
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: CSV: %v", ErrCorrupt, err)
		}
		rows++
		if rows > MaxCSVRows {
			return nil, fmt.Errorf("%w: more than %d CSV rows", ErrTooLarge, MaxCSVRows)
		}
		if rows%1024 == 0 {
			if err := st.check(); err != nil {
				return nil, err
			}
		}
		start := out.Len()
		any := false
		for i, v := range rec {
			v = cleanLine(v)
			if v == "" {
				continue
			}
			name := fmt.Sprintf("column %d", i+1)
			if i < len(header) {
				name = header[i]
			}
			out.WriteString(name)
			out.WriteString(": ")
			out.WriteString(v)
			out.WriteByte('\n')
			any = true
		}
		if any {
			out.WriteByte('\n')
		}
		if err := st.add(out.Len() - start); err != nil {
			return nil, err
		}
	}
	if rows == 0 { // a header alone: keep it as text
		out.WriteString(strings.Join(header, ", "))
	}
	return &Document{Sections: []Section{{Text: out.String()}}}, nil
}

func sniffDelimiter(s string) rune {
	first, _, _ := strings.Cut(s, "\n")
	best, bestN := ',', 0
	for _, d := range []rune{',', ';', '\t', '|'} {
		if n := strings.Count(first, string(d)); n > bestN {
			best, bestN = d, n
		}
	}
	return best
}
