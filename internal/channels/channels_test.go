package channels

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

func stripSpace(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
}

func checkSplit(t testing.TB, text string, max int) []string {
	parts := SplitText(text, max)
	limit := max
	if limit <= 0 {
		limit = MaxTextRunes
	}
	var joined strings.Builder
	for i, p := range parts {
		if n := utf8.RuneCountInString(p); n > limit || n == 0 {
			t.Fatalf("part %d has %d runes (max %d)", i, n, limit)
		}
		if utf8.ValidString(text) && !utf8.ValidString(p) {
			t.Fatalf("part %d is not valid UTF-8", i)
		}
		joined.WriteString(stripSpace(p))
	}
	if got, want := joined.String(), stripSpace(text); got != want {
		t.Fatalf("non-space content changed:\n got %q\nwant %q", got, want)
	}
	return parts
}

func TestSplitTextShort(t *testing.T) {
	if got := SplitText("  hello  ", 0); len(got) != 1 || got[0] != "hello" {
		t.Fatalf("got %q", got)
	}
	if got := SplitText(" \n\t ", 10); len(got) != 0 {
		t.Fatalf("whitespace-only: got %q", got)
	}
}

func TestSplitTextParagraphFirst(t *testing.T) {
	p1 := strings.Repeat("a", 30) + ". " + strings.Repeat("b", 20) + "."
	p2 := strings.Repeat("c", 40) + "."
	got := checkSplit(t, p1+"\n\n"+p2, 80)
	if len(got) != 2 || got[0] != p1 || got[1] != p2 {
		t.Fatalf("got %q", got)
	}
}

func TestSplitTextSentence(t *testing.T) {
	text := "First sentence is here. Second one follows! Third? And a fourth sentence that is long."
	got := checkSplit(t, text, 50)
	if got[0] != "First sentence is here. Second one follows! Third?" {
		t.Fatalf("got %q", got)
	}
}

func TestSplitTextWordAndHard(t *testing.T) {
	got := checkSplit(t, "alpha beta gamma delta epsilon", 12)
	for _, p := range got {
		if strings.HasPrefix(p, " ") || strings.HasSuffix(p, " ") {
			t.Fatalf("untrimmed %q", p)
		}
	}
	if got[0] != "alpha beta" {
		t.Fatalf("got %q", got)
	}
	// No spaces at all: hard cut on rune boundaries, multi-byte runes intact.
	long := strings.Repeat("日本語😀", 3000)
	parts := checkSplit(t, long, 0)
	if len(parts) != 3 {
		t.Fatalf("%d parts", len(parts))
	}
}

func TestSplitText4096(t *testing.T) {
	var b strings.Builder
	for i := 0; b.Len() < 20000; i++ {
		fmt.Fprintf(&b, "Sentence number %d says something in Grüße and 😀. ", i)
		if i%7 == 6 {
			b.WriteString("\n\n")
		}
	}
	parts := checkSplit(t, b.String(), 4096)
	for _, p := range parts[:len(parts)-1] {
		if !strings.HasSuffix(p, ".") {
			t.Fatalf("part does not end at a sentence: %q", p[len(p)-20:])
		}
	}
}

func TestClassOf(t *testing.T) {
	e := &Error{Provider: "x", Status: 429, Class: RateLimited, RetryAfter: 3 * time.Second}
	wrapped := fmt.Errorf("send: %w", e)
	if ClassOf(wrapped) != RateLimited || RetryAfterOf(wrapped) != 3*time.Second {
		t.Fatal("wrapped error not classified")
	}
	if ClassOf(nil) != None || ClassOf(errors.New("dial tcp: refused")) != Retryable {
		t.Fatal("nil / plain errors")
	}
	if !strings.Contains(e.Error(), "rate_limited") {
		t.Fatal(e.Error())
	}
}

func FuzzSplitText(f *testing.F) {
	for _, s := range []string{"", "hello world", "a. b. c.", "para one\n\npara two", "日本語。次の文。",
		"\xe2 \x80\xa8", "x\xffy z", strings.Repeat("word ", 50)} {
		f.Add(s, 7)
	}
	f.Fuzz(func(t *testing.T, text string, max int) {
		max = max%64 + 1
		if max <= 0 {
			max += 64
		}
		checkSplit(t, text, max)
		checkSplit(t, text, 0)
	})
}
