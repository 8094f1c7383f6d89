package tokens

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/pkoukk/tiktoken-go"
	tiktoken_loader "github.com/pkoukk/tiktoken-go-loader"
)

// referenceTokenizer is tiktoken-go's cl100k_base (regexp pre-tokeniser), split into segments
// as the chunker's tokenizer is: the reference the fast tokenizer must match.
type referenceTokenizer struct{ t *tiktoken.Tiktoken }

var (
	refOnce sync.Once
	ref     referenceTokenizer
)

func reference(t testing.TB) referenceTokenizer {
	refOnce.Do(func() {
		tiktoken.SetBpeLoader(tiktoken_loader.NewOfflineLoader())
		tk, err := tiktoken.GetEncoding("cl100k_base")
		if err != nil {
			t.Fatal(err)
		}
		ref = referenceTokenizer{tk}
	})
	return ref
}

func (r referenceTokenizer) Ends(s string) []int {
	var ends []int
	off := 0
	for _, seg := range segments(s) {
		for _, id := range r.t.EncodeOrdinary(seg) {
			off += len(r.t.Decode([]int{id}))
			ends = append(ends, off)
		}
	}
	return ends
}

// TestCL100KMatchesTiktoken compares the fast cl100k tokenizer with tiktoken-go token for token
// on prose, Markdown, code, many scripts, contractions, odd white space and random mixes.
func TestCL100KMatchesTiktoken(t *testing.T) {
	const binarySample = 16 << 10
	fast, ref := cl(t), reference(t)
	inputs := []string{
		"", "hello world", "tiktoken is great!", "I'm sure they'll say we've done it, he'd've, it's OK; DON'T, I'LL, WE'RE 'S 'x",
		"Grüße, 世界! 🎉 emoji and   spaces\n\nnew paragraph", "  leading\ttabs\t\tand  \n \n\r\n  trailing   ",
		"numbers 1 12 123 1234 12345 ٣٤٥ ½ 3.14159 1,000,000", "punct!!! ... ?!? (parens) [brackets] {braces} --- *** ___",
		"```go\nfunc main() {\n\tfmt.Println(\"hi\")\n}\n```\n", "a\u00a0b\u2003c\u3000d\u2028e\u0085f\u200bg", "x\n\n\n  \n\ty",
		" \n", "\n ", " !\n\n", "!!\r\n\r\nz", "'", "'l", "'L", "'ll", "'LL", "'re", "'ve", "'m", "''s", "a's", "\u0301e\u0301",
		"Ελληνικά και Русский текст и עברית ו-العربية हिन्दी 日本語のテキスト 한국어", "tab\tthen word", "\tword", "end  ",
	}
	for _, name := range []string{"../ingest/testdata", "../../docs", "../extract/testdata", "../eval/testdata"} {
		files, _ := filepath.Glob(filepath.Join(name, "*"))
		for _, f := range files {
			if b, err := os.ReadFile(f); err == nil {
				// A binary file (the docs' screenshots) is a sample of invalid UTF-8 and
				// odd bytes: its first binarySample bytes say as much as its megabytes,
				// which were most of this test's time under -race.
				if !utf8.Valid(b) && len(b) > binarySample {
					b = b[:binarySample]
				}
				inputs = append(inputs, strings.ToValidUTF8(string(b), "\uFFFD"))
			}
		}
	}
	alphabet := []string{"a", "Z", "é", "ß", "世", "🎉", "7", "٣", "½", " ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "'", "'s", "'LL",
		".", "!", "?", "-", "—", "(", ")", "#", "`", "\u0301", "word", " the", "ing", "\ufffd"}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 3000 {
		var b strings.Builder
		for range rng.IntN(40) {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		inputs = append(inputs, b.String())
	}
	for _, s := range inputs {
		want := ref.Ends(s)
		got := fast.Ends(s)
		if !slices.Equal(got, want) {
			t.Fatalf("Ends(%q):\n got %v\nwant %v", s, got, want)
		}
		if n := fast.Count(s); n != len(want) {
			t.Fatalf("Count(%q) = %d, want %d", s, n, len(want))
		}
	}
}
