// Package text is the one rule for the text coachwire accepts, applied at every edge (REST
// bodies and query parameters, the widget socket, provider webhooks, document uploads) and
// once more, defensively, before a worker stores what an edge accepted.
//
// Accepted text is valid UTF-8 without U+0000 and without control characters other than tab,
// line feed and carriage return: no other C0 control (U+0001-U+001F), no DEL (U+007F), no C1
// control (U+0080-U+009F). Single-line fields (names, titles, tags, keywords, URLs) do not take
// tab, line feed or carriage return either. Text is not normalised (no NFC): what is accepted is
// stored byte for byte, so a document's hash is the hash of what the creator sent.
//
// Edges where the sender is a person who cannot be asked again (provider webhooks) and
// workers that store what an edge already accepted use Sanitize instead: invalid bytes become
// U+FFFD and disallowed characters are removed, so nothing accepted can fail later on its
// content.
package text

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Error says why text was refused and where (a byte offset into it).
type Error struct {
	// Reason is one of "invalid_utf8", "nul", "control".
	Reason string
	Offset int
	Rune   rune
}

func (e *Error) Error() string {
	switch e.Reason {
	case "invalid_utf8":
		return fmt.Sprintf("invalid UTF-8 at byte %d", e.Offset)
	case "nul":
		return fmt.Sprintf("NUL character (U+0000) at byte %d is not allowed", e.Offset)
	default:
		return fmt.Sprintf("control character %U at byte %d is not allowed", e.Rune, e.Offset)
	}
}

// allowed reports whether r may appear in accepted text; line also refuses \t, \n and \r.
func allowed(r rune, line bool) bool {
	switch {
	case r == '\t' || r == '\n' || r == '\r':
		return !line
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return false
	}
	return true
}

func check(s string, line bool) error {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if !allowed(rune(c), line) {
				return refused(rune(c), i)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			return &Error{Reason: "invalid_utf8", Offset: i}
		}
		if !allowed(r, line) {
			return refused(r, i)
		}
		i += n
	}
	return nil
}

func refused(r rune, at int) error {
	if r == 0 {
		return &Error{Reason: "nul", Offset: at}
	}
	return &Error{Reason: "control", Offset: at, Rune: r}
}

// Check returns nil when s is accepted text, else an *Error.
func Check(s string) error { return check(s, false) }

// CheckLine is Check for single-line fields: tab, line feed and carriage return are refused too.
func CheckLine(s string) error { return check(s, true) }

// CheckBytes is Check for a byte slice (a frame, a file).
func CheckBytes(b []byte) error { return check(string(b), false) }

// Valid reports whether s is accepted text.
func Valid(s string) bool { return Check(s) == nil }

// Sanitize returns s as accepted text: invalid UTF-8 sequences become U+FFFD and NUL and other
// disallowed control characters are removed. Accepted text is returned unchanged.
func Sanitize(s string) string {
	if Check(s) == nil {
		return s
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if allowed(r, false) {
			return r
		}
		return -1
	}, s)
}
