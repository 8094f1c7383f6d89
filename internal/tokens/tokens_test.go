package tokens

import (
	"fmt"
	"strings"
	"testing"
)

func cl(t testing.TB) Tokenizer {
	t.Helper()
	tok, err := CL100K()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestCL100KOfflineCounts(t *testing.T) {
	tok := cl(t)
	for s, want := range map[string]int{
		"":                   0,
		"hello world":        2,
		"tiktoken is great!": 6,
	} {
		if got := tok.Count(s); got != want {
			t.Errorf("Count(%q) = %d, want %d", s, got, want)
		}
	}
	s := "Grüße, 世界! 🎉 emoji and   spaces\n\nnew paragraph"
	ends := tok.Ends(s)
	if len(ends) != tok.Count(s) || ends[len(ends)-1] != len(s) {
		t.Fatalf("Ends %v for %d bytes", ends, len(s))
	}
	for i := 1; i < len(ends); i++ {
		if ends[i] <= ends[i-1] {
			t.Fatalf("Ends not increasing: %v", ends)
		}
	}
}

func TestApproxTokenizer(t *testing.T) {
	var a ApproxTokenizer
	if got := a.Count("Hello, world! internationalisation"); got != 2+1+2+1+5 {
		t.Fatalf("count %d", got)
	}
	if a.Count("") != 0 || a.Count("   ") != 1 {
		t.Fatalf("blank: %d %d", a.Count(""), a.Count("   "))
	}
	s := "  a  bcdefg ., 世界  "
	ends := a.Ends(s)
	if ends[len(ends)-1] != len(s) {
		t.Fatalf("ends %v", ends)
	}
}

// paragraphs is ordinary prose: a heading and paragraphs of sentences.
func paragraphs(paragraphs, sentences int) string {
	var b strings.Builder
	b.WriteString("# Guide\n\n")
	for p := range paragraphs {
		for s := range sentences {
			fmt.Fprintf(&b, "Paragraph %d sentence %d explains a training principle in plain words. ", p, s)
		}
		b.WriteString("\n\n")
	}
	return b.String()
}

func TestSegmentsExactOnOrdinaryText(t *testing.T) {
	in := paragraphs(5, 5)
	if segs := segments(in); len(segs) != 1 {
		t.Fatalf("ordinary text split into %d segments", len(segs))
	}
	long := strings.Repeat("x", 1000)
	if segs := segments(long); strings.Join(segs, "") != long || len(segs) != 4 {
		t.Fatalf("segments of a long run: %d", len(segs))
	}
}
