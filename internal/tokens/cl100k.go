package tokens

import (
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"unicode"
	"unicode/utf8"
)

// bpe is cl100k_base without regular expressions: the pre-tokeniser below is a hand-written
// equivalent of cl100k's pattern
//
//	(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//
// (alternatives tried in order, each greedy with backtracking, as the regexp2 engine that
// tiktoken-go uses does), and byte-pair merging is tiktoken's algorithm on the same ranks.
// tiktoken-go runs that pattern through a backtracking regexp engine over a []rune copy of the
// whole input and collects every match, which made chunking a 20 MB document take over a minute
// and hundreds of MB; this counts tokens without allocating. TestCL100KMatchesTiktoken checks
// it token for token against tiktoken-go.
type bpe struct {
	ranks map[string]int
	cache *pieceCache
}

// pieceCache remembers the token ends of pre-tokens that are not one token themselves (words
// the vocabulary splits), so repeated words are merged once. It is bounded: short pieces only,
// at most pieceCacheMax of them, kept for the life of the process.
type pieceCache struct {
	m sync.Map // piece → string of token end offsets, one byte each
	n atomic.Int64
}

const (
	pieceCacheMax      = 1 << 16
	pieceCacheMaxBytes = 64
)

func (t bpe) Count(s string) int { return t.countAtMost(s, math.MaxInt-1) }

// countAtMost counts the tokens of s, stopping as soon as there are more than limit.
func (t bpe) countAtMost(s string, limit int) int {
	n := 0
	forSegments(s, func(seg string) bool {
		for i := 0; i < len(seg) && n <= limit; {
			j := pretoken(seg, i)
			n += t.pieceTokens(seg[i:j], nil)
			i = j
		}
		return n <= limit
	})
	return n
}

func (t bpe) Ends(s string) []int {
	var ends []int
	t.forEachEnd(s, func(end int) { ends = append(ends, end) })
	return ends
}

// forEachEnd calls fn with the offset in s just past each token, in order.
func (t bpe) forEachEnd(s string, fn func(int)) {
	off := 0
	forSegments(s, func(seg string) bool {
		for i := 0; i < len(seg); {
			j := pretoken(seg, i)
			base := off + i
			t.pieceTokens(seg[i:j], func(end int) { fn(base + end) })
			i = j
		}
		off += len(seg)
		return true
	})
}

// pieceTokens returns how many tokens the pre-token p encodes to, calling end (when not nil)
// with the offset in p just past each.
func (t bpe) pieceTokens(p string, end func(int)) int {
	if _, ok := t.ranks[p]; ok || len(p) == 1 {
		if end != nil {
			end(len(p))
		}
		return 1
	}
	cacheable := t.cache != nil && len(p) <= pieceCacheMaxBytes
	if cacheable {
		if v, ok := t.cache.m.Load(p); ok {
			ends := v.(string)
			if end != nil {
				for i := 0; i < len(ends); i++ {
					end(int(ends[i]))
				}
			}
			return len(ends)
		}
	}
	// tiktoken's bytePairMerge: parts[i] = (start, rank of merging parts i and i+1).
	var buf [64][2]int
	var parts [][2]int
	if len(p)+1 <= len(buf) {
		parts = buf[:len(p)+1]
	} else {
		parts = make([][2]int, len(p)+1)
	}
	for i := range parts {
		parts[i] = [2]int{i, math.MaxInt}
	}
	rank := func(i, skip int) int {
		if i+skip+2 < len(parts) {
			if r, ok := t.ranks[p[parts[i][0]:parts[i+skip+2][0]]]; ok {
				return r
			}
		}
		return math.MaxInt
	}
	for i := 0; i < len(parts)-2; i++ {
		parts[i][1] = rank(i, 0)
	}
	for len(parts) > 1 {
		minRank, minIdx := math.MaxInt, -1
		for i := 0; i < len(parts)-1; i++ {
			if parts[i][1] < minRank {
				minRank, minIdx = parts[i][1], i
			}
		}
		if minIdx < 0 {
			break
		}
		i := minIdx
		parts[i][1] = rank(i, 1)
		if i > 0 {
			parts[i-1][1] = rank(i-1, 1)
		}
		parts = append(parts[:i+1], parts[i+2:]...)
	}
	if end != nil {
		for i := 1; i < len(parts); i++ {
			end(parts[i][0])
		}
	}
	if cacheable && t.cache.n.Load() < pieceCacheMax {
		ends := make([]byte, len(parts)-1)
		for i := range ends {
			ends[i] = byte(parts[i+1][0])
		}
		if _, loaded := t.cache.m.LoadOrStore(strings.Clone(p), string(ends)); !loaded {
			t.cache.n.Add(1)
		}
	}
	return len(parts) - 1
}

// forSegments calls fn with each segment of s in order (see segments) without building the
// list, until fn returns false.
func forSegments(s string, fn func(string) bool) {
	last := 0
	runStart, runSpace := 0, false
	for i, r := range s {
		sp := unicode.IsSpace(r)
		if i == 0 || sp != runSpace {
			runStart, runSpace = i, sp
			continue
		}
		if i-runStart >= maxRun && i-last >= maxRun {
			if !fn(s[last:i]) {
				return
			}
			last = i
			runStart = i
		}
	}
	if last < len(s) {
		fn(s[last:])
	}
}

func decodeAt(s string, i int) (rune, int) {
	if c := s[i]; c < utf8.RuneSelf {
		return rune(c), 1
	}
	return utf8.DecodeRuneInString(s[i:])
}

func isLetter(r rune) bool {
	if r < utf8.RuneSelf {
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z'
	}
	return unicode.IsLetter(r)
}

func isNumber(r rune) bool {
	if r < utf8.RuneSelf {
		return '0' <= r && r <= '9'
	}
	return unicode.IsNumber(r)
}

func isNewline(r rune) bool { return r == '\r' || r == '\n' }

// pretoken returns the end of cl100k's pre-token that starts at s[i] (i < len(s)).
func pretoken(s string, i int) int {
	r, n := decodeAt(s, i)
	// (?i:'s|'t|'re|'ve|'m|'ll|'d)
	if r == '\'' && i+1 < len(s) {
		switch s[i+1] | 0x20 {
		case 's', 't', 'm', 'd':
			return i + 2
		case 'r', 'v', 'l':
			if i+2 < len(s) {
				want := byte('e')
				if s[i+1]|0x20 == 'l' {
					want = 'l'
				}
				if s[i+2]|0x20 == want {
					return i + 3
				}
			}
		}
	}
	// [^\r\n\p{L}\p{N}]?\p{L}+
	if isLetter(r) {
		return letters(s, i+n)
	}
	if !isNewline(r) && !isNumber(r) && i+n < len(s) {
		if r2, n2 := decodeAt(s, i+n); isLetter(r2) {
			return letters(s, i+n+n2)
		}
	}
	// \p{N}{1,3}
	if isNumber(r) {
		j := i + n
		for k := 1; k < 3 && j < len(s); k++ {
			r2, n2 := decodeAt(s, j)
			if !isNumber(r2) {
				break
			}
			j += n2
		}
		return j
	}
	// ' ?[^\s\p{L}\p{N}]+[\r\n]*'
	j := i
	if r == ' ' {
		j = i + 1
	}
	k := j
	for k < len(s) {
		r2, n2 := decodeAt(s, k)
		if unicode.IsSpace(r2) || isLetter(r2) || isNumber(r2) {
			break
		}
		k += n2
	}
	if k > j {
		for k < len(s) && (s[k] == '\r' || s[k] == '\n') {
			k++
		}
		return k
	}
	// r is white space here. \s*[\r\n]+ : up to the last line break of the run.
	w, lastNL := i, -1
	for w < len(s) {
		r2, n2 := decodeAt(s, w)
		if !unicode.IsSpace(r2) {
			break
		}
		if isNewline(r2) {
			lastNL = w
		}
		w += n2
	}
	if lastNL >= 0 {
		return lastNL + 1
	}
	// \s+(?!\S) : the run, less its last character when text follows.
	if w == len(s) {
		return w
	}
	if _, ln := utf8.DecodeLastRuneInString(s[i:w]); w-ln > i {
		return w - ln
	}
	// \s+
	return w
}

// letters returns the end of the run of letters starting at s[i].
func letters(s string, i int) int {
	for i < len(s) {
		r, n := decodeAt(s, i)
		if !isLetter(r) {
			break
		}
		i += n
	}
	return i
}
