package extract

import (
	"strings"
	"unicode"
	"unicode/utf8"
	"unsafe"

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
	// One pass over the lines ("\r\n", "\r" and "\n" all end one) into one builder: no copy
	// of the text per step and no slice of its lines.
	text = strings.ToValidUTF8(text, "")
	var b strings.Builder
	b.Grow(len(text))
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
	for {
		raw, rest, more := text, "", false
		if i := strings.IndexAny(text, "\r\n"); i >= 0 {
			raw, more = text[:i], true
			if text[i] == '\r' && i+1 < len(text) && text[i+1] == '\n' {
				rest = text[i+2:]
			} else {
				rest = text[i+1:]
			}
		}
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
		} else {
			flush(line)
		}
		if !more {
			break
		}
		text = rest
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
	if end, ok := plainLine(line); ok {
		return line[:end]
	}
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

// plainLine reports whether cleanSpaces would return line without its trailing spaces, and
// where those start, for the common case: no control or special space characters and no run of
// spaces after the indentation.
func plainLine(line string) (int, bool) {
	lead, space := true, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(line[i:])
			if r == utf8.RuneError || r == 0xFEFF || r == 0x200B || r == 0x00AD || unicode.IsControl(r) || unicode.IsSpace(r) {
				return 0, false
			}
			i += n - 1
			lead, space = false, false
			continue
		}
		if c < 0x20 || c == 0x7f {
			return 0, false
		}
		if c == ' ' {
			if space && !lead {
				// two spaces inside the line: collapse (unless they are trailing)
				end := strings.TrimRight(line, " ")
				if len(end) <= i {
					return len(end), true
				}
				return 0, false
			}
			space = true
			continue
		}
		lead, space = false, false
	}
	if lead {
		return 0, true // blank
	}
	return len(strings.TrimRight(line, " ")), true
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

// ownText is decodeText for bytes nobody else holds or changes afterwards (a buffer just read
// from the file): valid UTF-8 becomes the string without a copy.
func ownText(b []byte) string {
	if _, ok := decodeUTF16BOM(b); ok {
		return decodeText(b)
	}
	b = trimBOM(b)
	if len(b) > 0 && utf8.Valid(b) {
		return unsafe.String(&b[0], len(b))
	}
	return decodeText(b)
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
