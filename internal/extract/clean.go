package extract

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
	xunicode "golang.org/x/text/encoding/unicode"
)

// Clean normalises extracted text: line endings to "\n", invalid UTF-8 and
// control characters dropped (tabs become spaces, form feeds line breaks),
// non-breaking and other Unicode spaces to " ", runs of spaces collapsed
// (leading indentation kept), trailing spaces removed, words hyphenated
// across a line break joined ("infor-\nmation" → "information"), at most one
// blank line in a row, and no leading or trailing blank lines.
func Clean(text string) string {
	if text == "" {
		return ""
	}
	var b strings.Builder
	b.Grow(len(text))
	text = strings.ReplaceAll(strings.ToValidUTF8(text, ""), "\r\n", "\n")
	text = strings.ReplaceAll(text, "\r", "\n")
	lines := strings.Split(text, "\n")
	blank := 0
	wrote := false
	var pending string // a line ending in a hyphen, waiting for its continuation
	flush := func(line string) {
		if line == "" {
			blank++
			return
		}
		if wrote {
			if blank > 0 {
				b.WriteString("\n\n")
			} else {
				b.WriteByte('\n')
			}
		}
		blank = 0
		b.WriteString(line)
		wrote = true
	}
	for _, raw := range lines {
		line := cleanSpaces(raw)
		if pending != "" {
			t := strings.TrimLeft(line, " ")
			if r, _ := utf8.DecodeRuneInString(t); t != "" && unicode.IsLower(r) {
				// join the continuation line, without the hyphen
				line = pending[:len(pending)-1] + t
			} else {
				flush(pending)
			}
			pending = ""
		}
		if hyphenated(line) {
			pending = line
			continue
		}
		flush(line)
	}
	if pending != "" {
		flush(pending)
	}
	return b.String()
}

// hyphenated: the line ends in letter + "-" (not " -" or "--").
func hyphenated(line string) bool {
	if len(line) < 2 || line[len(line)-1] != '-' {
		return false
	}
	r, _ := utf8.DecodeLastRuneInString(line[:len(line)-1])
	return unicode.IsLetter(r) && unicode.IsLower(r)
}

// cleanSpaces cleans one line (no "\n" in it).
func cleanSpaces(line string) string {
	var b strings.Builder
	b.Grow(len(line))
	space := false
	lead := true
	for _, r := range line {
		switch {
		case r == '\t' || r == '\f' || r == '\v' || r == '\r' || r == 0x85:
			r = ' '
		case r == 0xFEFF || r == 0x200B || r == 0x00AD: // BOM, zero-width space, soft hyphen
			continue
		case unicode.IsControl(r):
			continue
		case unicode.IsSpace(r):
			r = ' '
		}
		if r == ' ' {
			if lead {
				b.WriteByte(' ')
				continue
			}
			space = true
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		lead = false
		b.WriteRune(r)
	}
	if lead { // only spaces
		return ""
	}
	return b.String()
}

// cleanLine cleans a heading or title: one line, single spaces.
func cleanLine(s string) string {
	return strings.Join(strings.Fields(strings.ToValidUTF8(s, "")), " ")
}

// decodeText turns file bytes into a UTF-8 string: UTF-8 (BOM dropped),
// UTF-16 with a BOM, otherwise Windows-1252 (a superset of Latin-1 for
// printable characters).
func decodeText(b []byte) string {
	if s, ok := decodeUTF16BOM(b); ok {
		return s
	}
	b = trimBOM(b)
	if utf8.Valid(b) {
		return string(b)
	}
	return decodeLatin1(b)
}

func trimBOM(b []byte) []byte {
	if len(b) >= 3 && b[0] == 0xef && b[1] == 0xbb && b[2] == 0xbf {
		return b[3:]
	}
	return b
}

func decodeLatin1(b []byte) string {
	s, err := charmap.Windows1252.NewDecoder().Bytes(b)
	if err != nil {
		s, _ = charmap.ISO8859_1.NewDecoder().Bytes(b)
	}
	return string(s)
}

func decodeUTF16BOM(b []byte) (string, bool) {
	if len(b) < 2 {
		return "", false
	}
	var e xunicode.Endianness
	switch {
	case b[0] == 0xff && b[1] == 0xfe:
		e = xunicode.LittleEndian
	case b[0] == 0xfe && b[1] == 0xff:
		e = xunicode.BigEndian
	default:
		return "", false
	}
	if len(b)%2 == 1 {
		b = b[:len(b)-1]
	}
	s, err := xunicode.UTF16(e, xunicode.ExpectBOM).NewDecoder().Bytes(b)
	if err != nil {
		return "", false
	}
	return string(s), true
}
