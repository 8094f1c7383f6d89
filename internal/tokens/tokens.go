// Package tokens counts tokens: OpenAI's cl100k_base BPE (CL100K, loaded from ranks embedded in
// the binary, never from the network) and a documented approximation (ApproxTokenizer). Ingest
// chunks documents with it, generate budgets prompts with it and eval measures retrieval with
// the same chunking.
package tokens

import (
	"fmt"
	"sync"
	"unicode"
	"unicode/utf8"

	tiktoken_loader "github.com/pkoukk/tiktoken-go-loader"
)

// Tokenizer counts tokens and says where they end.
type Tokenizer interface {
	// Count returns the number of tokens in s.
	Count(s string) int
	// Ends returns, for each token of s in order, the byte offset in s just
	// past it; the last is len(s). An offset may fall inside a multi-byte
	// UTF-8 sequence when a token holds part of a character.
	Ends(s string) []int
}

var (
	cl100kOnce sync.Once
	cl100k     Tokenizer
	cl100kErr  error
)

// CL100K returns OpenAI's cl100k_base tokenizer, loaded from BPE ranks
// embedded in the binary (github.com/pkoukk/tiktoken-go-loader): no network.
// It is safe for concurrent use; the first call takes a few hundred ms.
// Tokens are those of tiktoken's cl100k_base (see bpe), except inside runs
// longer than maxRun.
func CL100K() (Tokenizer, error) {
	cl100kOnce.Do(func() {
		ranks, err := tiktoken_loader.NewOfflineLoader().LoadTiktokenBpe(cl100kRanksFile)
		if err != nil {
			cl100kErr = fmt.Errorf("tokens: load cl100k_base: %w", err)
			return
		}
		cl100k = bpe{ranks: ranks, cache: &pieceCache{}}
	})
	return cl100k, cl100kErr
}

// cl100kRanksFile names the ranks file for the offline loader (which serves it from memory).
const cl100kRanksFile = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"

// maxRun bounds how much text the BPE sees at once. Byte-pair merging is
// quadratic in the length of one pre-tokenised piece (a long run of letters,
// digits, punctuation or whitespace, such as an inlined base64 image), so
// runs of one kind longer than this are encoded in slices of maxRun bytes.
// Ordinary text has no such runs and is tokenised exactly as cl100k_base
// does; inside giant runs the count can differ slightly.
const maxRun = 256

// segments returns the text split for encoding: whole, unless it contains
// runs of whitespace or of non-whitespace longer than maxRun, which are cut
// every maxRun bytes (at character boundaries).
func segments(s string) []string {
	var out []string
	forSegments(s, func(seg string) bool { out = append(out, seg); return true })
	if len(out) == 0 {
		out = []string{""}
	}
	return out
}

// CountAtMost is tok.Count(s) when that is at most limit, else some number above limit: a
// section of megabytes is not tokenised whole just to learn that it does not fit.
func CountAtMost(tok Tokenizer, s string, limit int) int {
	if len(s) <= limit { // a token holds at least one byte
		return tok.Count(s)
	}
	if b, ok := tok.(bpe); ok {
		return b.countAtMost(s, limit)
	}
	return tok.Count(s)
}

// LastStart returns the offset in s where its last k tokens begin (0 when s has at most k).
// ring is scratch space of k+1 ints: with it, CL100K keeps only the last k+1 token ends
// instead of all of them.
func LastStart(tok Tokenizer, s string, k int, ring []int) int {
	if b, ok := tok.(bpe); ok && len(ring) == k+1 {
		n := 0
		b.forEachEnd(s, func(end int) { ring[n%len(ring)] = end; n++ })
		if n <= k {
			return 0
		}
		return ring[(n-k-1)%len(ring)]
	}
	ends := tok.Ends(s)
	if len(ends) <= k {
		return 0
	}
	return ends[len(ends)-k-1]
}

// ApproxTokenizer is a documented approximation of a BPE tokenizer for when
// cl100k_base is unavailable: a token is a run of at most 4 letters or digits
// (English BPE averages about four characters per token), or one other
// non-space character; whitespace belongs to the token after it (trailing
// whitespace to the last token). It over-counts slightly against cl100k on
// English prose, which is the safe direction for a budget.
type ApproxTokenizer struct{}

// Count returns the number of approximate tokens in s.
func (ApproxTokenizer) Count(s string) int { return len(ApproxTokenizer{}.Ends(s)) }

// Ends returns the byte offsets just past each approximate token.
func (ApproxTokenizer) Ends(s string) []int {
	var ends []int
	i := 0
	for i < len(s) {
		// leading whitespace attaches to the token
		for i < len(s) {
			r, n := utf8.DecodeRuneInString(s[i:])
			if !unicode.IsSpace(r) {
				break
			}
			i += n
		}
		if i >= len(s) {
			if len(ends) > 0 {
				ends[len(ends)-1] = len(s)
			} else {
				ends = append(ends, len(s))
			}
			break
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		if unicode.IsLetter(r) || unicode.IsNumber(r) {
			for k := 1; k < 4 && i < len(s); k++ {
				r, n := utf8.DecodeRuneInString(s[i:])
				if !unicode.IsLetter(r) && !unicode.IsNumber(r) && !unicode.Is(unicode.Mn, r) {
					break
				}
				i += n
			}
		}
		ends = append(ends, i)
	}
	return ends
}
