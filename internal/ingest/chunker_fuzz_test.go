package ingest

import (
	"strings"
	"testing"

	"github.com/coachwire/coachwire/internal/tokens"
)

// FuzzChunk checks, for arbitrary input and two budgets with both
// tokenizers: no panic, chunks cover every non-blank byte, and no chunk
// exceeds its token budget (see checkInvariants).
func FuzzChunk(f *testing.F) {
	for _, s := range []string{
		"",
		"hello",
		"# Title\n\nSome text. More text! And more?\n\n## Sub\nLine one\nLine two\n",
		"```\n# code\n```\n# Real\nbody",
		strings.Repeat("a", 500),
		strings.Repeat("世界🎉", 100),
		"\xff\xfe\x80 broken utf8 " + strings.Repeat("x ", 100),
		"#\n##\n###### six\n####### seven\n   # indented\n    # code-indented",
		strings.Repeat("Sentence one. ", 80),
		"a\r\n\r\nb\r\n# h\r\nc",
	} {
		f.Add(s)
	}
	cl100k, err := tokens.CL100K()
	if err != nil {
		f.Fatal(err)
	}
	var chunkers []*Chunker
	for _, tok := range []tokens.Tokenizer{cl100k, tokens.ApproxTokenizer{}} {
		for _, o := range []ChunkerOptions{{MaxTokens: 8, NoOverlap: true}, {MaxTokens: 24, OverlapTokens: 8}, {MaxTokens: 64, OverlapTokens: 16}} {
			o.Tokenizer = tok
			chunkers = append(chunkers, mustChunker(f, o))
		}
	}
	f.Fuzz(func(t *testing.T, in string) {
		if len(in) > 1<<14 {
			t.Skip()
		}
		for _, c := range chunkers {
			checkInvariants(t, c, in, c.Chunk(in))
		}
	})
}
