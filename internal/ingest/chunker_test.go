package ingest

import (
	"fmt"
	"strings"
	"testing"
	"unicode"

	"github.com/coachwire/coachwire/internal/tokens"
)

func cl(t testing.TB) tokens.Tokenizer {
	t.Helper()
	tok, err := tokens.CL100K()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func mustChunker(t testing.TB, opts ChunkerOptions) *Chunker {
	t.Helper()
	c, err := NewChunker(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// checkInvariants verifies what every chunking must satisfy.
func checkInvariants(t testing.TB, c *Chunker, input string, chunks []Chunk) {
	t.Helper()
	text := Sanitize(input)
	covered := make([]bool, len(text))
	lastEnd := -1
	for i, ch := range chunks {
		if ch.Index != i {
			t.Fatalf("chunk %d has index %d", i, ch.Index)
		}
		if ch.Start < 0 || ch.End > len(text) || ch.Start >= ch.End {
			t.Fatalf("chunk %d bad span [%d,%d) of %d", i, ch.Start, ch.End, len(text))
		}
		if ch.Text != text[ch.Start:ch.End] {
			t.Fatalf("chunk %d text does not match its span", i)
		}
		if tr := strings.TrimSpace(ch.Text); tr != ch.Text && c.tok.Count(tr) <= c.max {
			t.Fatalf("chunk %d not trimmed: %q", i, ch.Text)
		}
		if n := c.tok.Count(ch.Text); n != ch.Tokens || n > c.max {
			t.Fatalf("chunk %d has %d tokens (reported %d), max %d", i, n, ch.Tokens, c.max)
		}
		if ch.End <= lastEnd {
			t.Fatalf("chunk %d ends at %d, not after the previous end %d", i, ch.End, lastEnd)
		}
		lastEnd = ch.End
		for k := ch.Start; k < ch.End; k++ {
			covered[k] = true
		}
	}
	for i, r := range text {
		if !unicode.IsSpace(r) && !covered[i] {
			t.Fatalf("byte %d (%q) not covered by any chunk; context %q", i, r, text[max(0, i-20):min(len(text), i+20)])
		}
	}
}

func TestNewChunkerValidates(t *testing.T) {
	c := mustChunker(t, ChunkerOptions{})
	if c.MaxTokens() != 1000 || c.OverlapTokens() != 200 {
		t.Fatalf("defaults %d/%d", c.MaxTokens(), c.OverlapTokens())
	}
	if c := mustChunker(t, ChunkerOptions{MaxTokens: 100, NoOverlap: true}); c.OverlapTokens() != 0 {
		t.Fatal("NoOverlap ignored")
	}
	for _, o := range []ChunkerOptions{
		{MaxTokens: 4},
		{MaxTokens: 100, OverlapTokens: 60},
		{MaxTokens: 100, OverlapTokens: -1},
	} {
		if _, err := NewChunker(o); err == nil {
			t.Errorf("accepted %+v", o)
		}
	}
}

func TestBlankInput(t *testing.T) {
	c := mustChunker(t, ChunkerOptions{})
	for _, s := range []string{"", "   ", "\n\n\t\n"} {
		if got := c.Chunk(s); len(got) != 0 {
			t.Errorf("Chunk(%q) = %+v", s, got)
		}
	}
}

func TestSmallDocumentOneChunk(t *testing.T) {
	c := mustChunker(t, ChunkerOptions{})
	in := "Intro line.\n\nSecond paragraph.\n"
	got := c.Chunk(in)
	if len(got) != 1 || got[0].Text != strings.TrimSpace(in) || got[0].Heading != "" {
		t.Fatalf("%+v", got)
	}
	checkInvariants(t, c, in, got)
}

func TestHeadingsSplitAndLabel(t *testing.T) {
	c := mustChunker(t, ChunkerOptions{})
	in := `Preface text.

# Part One
## Sleep
Sleep well.

` + "```" + `
# not a heading inside code
` + "```" + `

## Food ##
Eat protein.
#hashtag is not a heading
`
	got := c.Chunk(in)
	checkInvariants(t, c, in, got)
	var heads []string
	for _, ch := range got {
		heads = append(heads, ch.Heading)
	}
	if strings.Join(heads, "|") != "|Sleep|Food" {
		t.Fatalf("headings %q; chunks %+v", heads, got)
	}
	if !strings.HasPrefix(got[1].Text, "# Part One\n## Sleep") || !strings.Contains(got[1].Text, "# not a heading inside code") {
		t.Fatalf("bare heading not joined to the next section or fence split: %q", got[1].Text)
	}
	if !strings.Contains(got[2].Text, "#hashtag") {
		t.Fatalf("%q", got[2].Text)
	}
}

func paragraphDoc(paragraphs, sentences int) string {
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

func TestLongDocumentBudgetOverlapAndBoundaries(t *testing.T) {
	c := mustChunker(t, ChunkerOptions{MaxTokens: 120, OverlapTokens: 30})
	in := paragraphDoc(20, 6) // ~60 tokens per sentence pair... several chunks
	got := c.Chunk(in)
	checkInvariants(t, c, in, got)
	if len(got) < 5 {
		t.Fatalf("only %d chunks", len(got))
	}
	for i, ch := range got {
		if ch.Heading != "Guide" {
			t.Fatalf("chunk %d heading %q", i, ch.Heading)
		}
		// Splits fall at sentence ends or better: every chunk ends a sentence.
		if !strings.HasSuffix(ch.Text, ".") {
			t.Fatalf("chunk %d ends mid-sentence: %q", i, ch.Text[max(0, len(ch.Text)-40):])
		}
		if i > 0 {
			prev := got[i-1]
			if ch.Start >= prev.End {
				t.Fatalf("chunk %d does not overlap the previous one", i)
			}
			ov := in[ch.Start:prev.End]
			if n := c.tok.Count(ov); n > 30 || n == 0 {
				t.Fatalf("chunk %d overlap has %d tokens", i, n)
			}
			// overlap starts at a word start
			if r := in[ch.Start-1]; r != ' ' && r != '\n' {
				t.Fatalf("chunk %d overlap starts mid-word: %q", i, in[ch.Start-5:ch.Start+10])
			}
		}
	}
}

func TestParagraphBoundariesPreferred(t *testing.T) {
	c := mustChunker(t, ChunkerOptions{MaxTokens: 200, NoOverlap: true})
	in := paragraphDoc(10, 3)
	got := c.Chunk(in)
	checkInvariants(t, c, in, got)
	for i, ch := range got[:len(got)-1] {
		rest := strings.TrimLeft(in[ch.End:], " ")
		if !strings.HasPrefix(rest, "\n\n") {
			t.Fatalf("chunk %d does not end at a paragraph break: %q", i, rest[:min(20, len(rest))])
		}
	}
}

func TestHardCutOnlyWhenNeeded(t *testing.T) {
	c := mustChunker(t, ChunkerOptions{MaxTokens: 20, OverlapTokens: 5})
	word := strings.Repeat("pneumonoultramicroscopic", 30)
	in := "short words first. " + word + " then words again"
	got := c.Chunk(in)
	checkInvariants(t, c, in, got)
	if !strings.HasPrefix(got[0].Text, "short words first. pneumono") {
		t.Fatalf("first chunk %q", got[0].Text)
	}
	// Only the monster word is cut; the words around it stay whole.
	last := got[len(got)-1].Text
	if !strings.HasSuffix(last, "then words again") {
		t.Fatalf("last chunk %q", last)
	}
}

func TestMultibyteHardCut(t *testing.T) {
	for _, tok := range []tokens.Tokenizer{cl(t), tokens.ApproxTokenizer{}} {
		c := mustChunker(t, ChunkerOptions{MaxTokens: 8, NoOverlap: true, Tokenizer: tok})
		in := strings.Repeat("世界🎉é", 50)
		got := c.Chunk(in)
		checkInvariants(t, c, in, got)
		for _, ch := range got {
			if !strings.HasPrefix(in[ch.Start:], string([]rune(in[ch.Start:])[0])) {
				t.Fatal("cut inside a character")
			}
		}
	}
}

func TestInvalidUTF8(t *testing.T) {
	c := mustChunker(t, ChunkerOptions{MaxTokens: 16, OverlapTokens: 4})
	in := "abc \xff\xfe def. ghi\x80 " + strings.Repeat("word ", 40)
	got := c.Chunk(in)
	checkInvariants(t, c, in, got)
}

func TestDefaultBudgetOnRealisticDocument(t *testing.T) {
	c := mustChunker(t, ChunkerOptions{})
	in := paragraphDoc(60, 8)
	got := c.Chunk(in)
	checkInvariants(t, c, in, got)
	if len(got) < 3 {
		t.Fatalf("%d chunks", len(got))
	}
	for i, ch := range got[:len(got)-1] {
		if ch.Tokens < 600 {
			t.Errorf("chunk %d only %d tokens: chunks should be filled close to the budget", i, ch.Tokens)
		}
	}
}

func BenchmarkChunkDefault(b *testing.B) {
	c := mustChunker(b, ChunkerOptions{})
	in := paragraphDoc(60, 8)
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		c.Chunk(in)
	}
}

// giantRuns are inputs with one huge run of a single kind (no boundary for the splitter to find),
// 1/div of the benchmark's sizes.
func giantRuns(div int) map[string]string {
	return map[string]string{
		"base64 blob": "![img](data:image/png;base64," + strings.Repeat("iVBORw0KGgoAAAANSUhEUgAA", 4000/div) + ")",
		"whitespace":  "a" + strings.Repeat(" ", 50000/div) + "b",
		"dots":        strings.Repeat(".", 50000/div),
	}
}

// TestGiantRuns: a giant run is chunked within the limits, covering the input. How fast is
// BenchmarkGiantRuns' business (make bench, on the full sizes), not a timed assertion here. A
// quarter of them is still hundreds of times the chunk limit of 64 tokens (every chunk but the
// ends is cut inside the run), for a quarter of the CPU under -race.
func TestGiantRuns(t *testing.T) {
	c := mustChunker(t, ChunkerOptions{MaxTokens: 64, OverlapTokens: 16})
	for _, in := range giantRuns(4) {
		checkInvariants(t, c, in, c.Chunk(in))
	}
}

func BenchmarkGiantRuns(b *testing.B) {
	c := mustChunker(b, ChunkerOptions{MaxTokens: 64, OverlapTokens: 16})
	for name, in := range giantRuns(1) {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				c.Chunk(in)
			}
		})
	}
}
