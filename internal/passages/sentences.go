package passages

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// span is a sentence of a text: text[Start:End] (trimmed) and its words on one line.
type span struct {
	Start, End int
	Text       string // whitespace collapsed: hard-wrapped lines are joined
	Heading    bool   // a Markdown heading line, not prose
}

// comments are the byte ranges of the HTML comments of text (Markdown documents carry licence
// headers and notes in them); an unclosed one runs to the end.
func comments(text string) [][2]int {
	var out [][2]int
	for off := 0; ; {
		i := strings.Index(text[off:], "<!--")
		if i < 0 {
			return out
		}
		start := off + i
		j := strings.Index(text[start+4:], "-->")
		if j < 0 {
			return append(out, [2]int{start, len(text)})
		}
		off = start + 4 + j + 3
		out = append(out, [2]int{start, off})
	}
}

// abbreviations end with a full stop that does not end a sentence (lower case, without it).
var abbreviations = map[string]bool{
	"e.g": true, "i.e": true, "etc": true, "vs": true, "approx": true, "ca": true, "cf": true, "fig": true,
	"no": true, "nr": true, "dr": true, "mr": true, "mrs": true, "ms": true, "st": true, "prof": true, "min": true,
	"max": true, "z.b": true, "bzw": true, "usw": true, "p.ex": true, "ex": true, "sr": true, "sra": true,
}

// sentences splits text into sentences: at the end of a sentence (".", "!", "?", "…" followed by
// a space and the start of a new one, not after an abbreviation or an initial), at blank lines,
// and before Markdown block lines (headings, list items, quotes, table rows). Wrapped lines of a
// paragraph stay one sentence. HTML comments are skipped.
func sentences(text string) []span {
	var out []span
	skip := comments(text)
	start := -1 // start of the sentence being read, -1 between sentences
	emit := func(end int) {
		if start < 0 {
			return
		}
		raw := text[start:end]
		if t := strings.Join(strings.Fields(raw), " "); t != "" {
			s, e := start, end
			for s < e && isSpace(text[s]) {
				s++
			}
			for e > s && isSpace(text[e-1]) {
				e--
			}
			h := strings.HasPrefix(t, "#")
			t = strings.TrimSpace(t[blockStart(t):])
			if t != "" {
				out = append(out, span{Start: s, End: e, Text: t, Heading: h})
			}
		}
		start = -1
	}
	lineStart := true
	for i := 0; i < len(text); {
		if len(skip) > 0 && i == skip[0][0] {
			emit(i)
			i = skip[0][1]
			skip = skip[1:]
			continue
		}
		r, n := utf8.DecodeRuneInString(text[i:])
		if r == '\n' {
			// A blank line ends the sentence; the next line may start a block.
			j := i + 1
			for j < len(text) && (text[j] == ' ' || text[j] == '\t' || text[j] == '\r') {
				j++
			}
			if j < len(text) && text[j] == '\n' {
				emit(i)
			}
			if start >= 0 && strings.HasPrefix(strings.TrimSpace(text[start:i]), "#") {
				emit(i) // a heading is one line
			}
			lineStart = true
			i += n
			continue
		}
		if lineStart && !unicode.IsSpace(r) {
			lineStart = false
			if blockStart(text[i:]) > 0 {
				emit(i)
			}
		}
		if start < 0 && !unicode.IsSpace(r) {
			start = i
		}
		i += n
		if start >= 0 && (r == '.' || r == '!' || r == '?' || r == '…') && ends(text, start, i-n, i) {
			// Closing quotes and brackets belong to the sentence.
			for i < len(text) && strings.ContainsRune(`"'”’»)]`, rune(text[i])) {
				i++
			}
			emit(i)
		}
	}
	emit(len(text))
	return out
}

// blockStart is the length of the Markdown block marker s starts with (a heading's hashes, a
// list item's bullet or number, a quote's ">", a table row's "|") with the space after it, or 0.
func blockStart(s string) int {
	space := func(i int) bool { return i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') }
	switch {
	case s == "":
		return 0
	case s[0] == '#':
		n := 0
		for n < len(s) && n < 7 && s[n] == '#' {
			n++
		}
		if n <= 6 && space(n) {
			return n + 1
		}
	case s[0] == '-' || s[0] == '*' || s[0] == '+':
		if space(1) {
			return 2
		}
	case strings.HasPrefix(s, "•"):
		if space(len("•")) {
			return len("•") + 1
		}
	case s[0] >= '0' && s[0] <= '9':
		n := 0
		for n < len(s) && n < 4 && s[n] >= '0' && s[n] <= '9' {
			n++
		}
		if n <= 3 && n < len(s) && (s[n] == '.' || s[n] == ')') && space(n+1) {
			return n + 2
		}
	case s[0] == '>':
		if space(1) {
			return 2
		}
		return 1
	case s[0] == '|':
		return 1
	}
	return 0
}

// ends reports whether the punctuation at text[p:i] ends the sentence that began at start: it is
// followed by white space and then an upper-case letter, a digit, a quote or an opening
// bracket (or the end of the text), and it does not end an abbreviation or an initial.
func ends(text string, start, p, i int) bool {
	if i < len(text) && !isSpace(text[i]) && !strings.ContainsRune(`"'”’»)]`, rune(text[i])) {
		return false // "1.6", "e.g.x", "www.example"
	}
	j := i
	for j < len(text) && (isSpace(text[j]) || strings.ContainsRune(`"'”’»)]`, rune(text[j]))) {
		j++
	}
	if j < len(text) {
		r, _ := utf8.DecodeRuneInString(text[j:])
		if !unicode.IsUpper(r) && !unicode.IsDigit(r) && !strings.ContainsRune(`"'“‘«([¿¡*`, r) {
			return false
		}
	}
	if text[p] != '.' {
		return true
	}
	// The word before the full stop.
	k := p
	for k > start && !isSpace(text[k-1]) && text[k-1] != '(' {
		k--
	}
	w := strings.ToLower(text[k:p])
	if abbreviations[w] {
		return false
	}
	if r, n := utf8.DecodeRuneInString(w); n == len(w) && unicode.IsLetter(r) {
		return false // an initial: "J. Smith"
	}
	if k == start && strings.Trim(w, "0123456789") == "" {
		return false // a numbered list item: "1. Warm up"
	}
	return true
}

func isSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' }
