// Package ingest turns creators' uploaded documents into indexed knowledge:
// extraction, token-based chunking (this file), embedding and indexing into
// the knowledge store.
//
// It must never fetch anything over the network while chunking (the
// tokenizer's BPE ranks are embedded in the binary), never drop text (every
// non-blank byte of a document lands in at least one chunk) and never emit a
// chunk larger than the configured token budget.
package ingest

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/coachwire/coachwire/internal/tokens"
)

// Default chunking budget (the project's seed values).
const (
	DefaultChunkTokens   = 1000
	DefaultOverlapTokens = 200
)

// MinChunkTokens is the smallest token budget per chunk the chunker accepts
// (after overlap), so any single character always fits.
const MinChunkTokens = 8

// ChunkerOptions configures a Chunker. Zero fields take the defaults.
type ChunkerOptions struct {
	// MaxTokens bounds every chunk; default DefaultChunkTokens.
	MaxTokens int
	// OverlapTokens is how much of the end of a chunk is repeated at the
	// start of the next one in the same section; default
	// DefaultOverlapTokens. Set NoOverlap for none.
	OverlapTokens int
	// NoOverlap disables overlap (OverlapTokens is then ignored).
	NoOverlap bool
	// Tokenizer counts tokens; default tokens.CL100K().
	Tokenizer tokens.Tokenizer
}

// Chunk is one piece of a document.
type Chunk struct {
	Index   int    // 0-based position in the document
	Heading string // nearest Markdown heading above the chunk's content ("" before the first)
	Text    string // Text == source[Start:End], without leading/trailing whitespace unless removing it would exceed the budget
	Start   int    // byte offsets into the (UTF-8 sanitised) source
	End     int
	Tokens  int // Tokenizer.Count(Text)
}

// Chunker splits Markdown or plain text into token-bounded chunks. It splits
// at Markdown headings first (a chunk never spans two sections; a heading
// with no text of its own joins the next section), then at paragraphs, lines,
// sentences and words, and cuts inside a word only when a single word
// exceeds the budget. Consecutive chunks of one section overlap by up to
// OverlapTokens tokens, starting at a word boundary. A Chunker is safe for
// concurrent use.
type Chunker struct {
	max, overlap int
	tok          tokens.Tokenizer
}

// NewChunker validates opts and returns a Chunker.
func NewChunker(opts ChunkerOptions) (*Chunker, error) {
	c := &Chunker{max: opts.MaxTokens, overlap: opts.OverlapTokens, tok: opts.Tokenizer}
	if c.max == 0 {
		c.max = DefaultChunkTokens
	}
	if opts.NoOverlap {
		c.overlap = 0
	} else if c.overlap == 0 {
		c.overlap = min(DefaultOverlapTokens, c.max/2)
	}
	if c.max < MinChunkTokens {
		return nil, fmt.Errorf("ingest: MaxTokens %d is below the minimum %d", c.max, MinChunkTokens)
	}
	if c.overlap < 0 || c.overlap > c.max/2 || c.max-c.overlap < MinChunkTokens {
		return nil, fmt.Errorf("ingest: OverlapTokens %d must be between 0 and half of MaxTokens %d", c.overlap, c.max)
	}
	if c.tok == nil {
		t, err := tokens.CL100K()
		if err != nil {
			return nil, err
		}
		c.tok = t
	}
	return c, nil
}

// MaxTokens is the chunk budget.
func (c *Chunker) MaxTokens() int { return c.max }

// OverlapTokens is the overlap budget.
func (c *Chunker) OverlapTokens() int { return c.overlap }

// Sanitize is what Chunk does to its input before splitting (invalid UTF-8
// becomes U+FFFD); Chunk offsets refer to its result.
func Sanitize(text string) string { return strings.ToValidUTF8(text, "\uFFFD") }

// Chunk splits text (see Chunker). Blank text yields no chunks.
func (c *Chunker) Chunk(text string) []Chunk {
	text = Sanitize(text)
	var out []Chunk
	for _, sec := range sections(text) {
		for _, r := range c.chunkSection(text, sec.start, sec.end) {
			s, e := trimSpace(text, r[0], r[1])
			if s == e {
				continue
			}
			n := c.tok.Count(text[s:e])
			if n > c.max {
				// Trimming changed the tokenisation (BPE counts are not
				// monotonic): keep as much of the verified span as fits.
				s, e, n = c.bestTrim(text, r[0], r[1], s, e)
			}
			out = append(out, Chunk{Index: len(out), Heading: sec.heading, Text: text[s:e], Start: s, End: e, Tokens: n})
		}
	}
	return out
}

// bestTrim returns the span among [ts, e), [s, te) and [s, e) (trimmed at
// the start only, at the end only, untrimmed) that fits the budget.
func (c *Chunker) bestTrim(text string, s, e, ts, te int) (int, int, int) {
	for _, sp := range [][2]int{{ts, e}, {s, te}} {
		if n := c.tok.Count(text[sp[0]:sp[1]]); n <= c.max {
			return sp[0], sp[1], n
		}
	}
	return s, e, c.tok.Count(text[s:e])
}

type section struct {
	start, end int
	heading    string
}

// sections splits text at ATX headings outside fenced code blocks. Each
// section starts with its heading line; a heading section without any other
// non-blank text joins the following section.
func sections(text string) []section {
	var secs []section
	cur := section{start: 0}
	hasBody := false
	inFence := false
	fence := ""
	for off := 0; off < len(text); {
		nl := strings.IndexByte(text[off:], '\n')
		lineEnd := len(text)
		if nl >= 0 {
			lineEnd = off + nl + 1
		}
		line := text[off:lineEnd]
		trimmed := strings.TrimSpace(line)
		switch {
		case inFence:
			if strings.HasPrefix(trimmed, fence) {
				inFence = false
			}
			hasBody = true
		case strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~"):
			inFence, fence = true, trimmed[:3]
			hasBody = true
		default:
			if h, ok := atxHeading(line); ok {
				if hasBody || off == 0 {
					if off > cur.start {
						secs = append(secs, section{start: cur.start, end: off, heading: cur.heading})
					}
					cur = section{start: off}
				}
				// else: the previous section is a bare heading; it joins
				// this one, whose heading wins.
				cur.heading = h
				hasBody = false
			} else if trimmed != "" {
				hasBody = true
			}
		}
		off = lineEnd
	}
	if len(text) > cur.start {
		secs = append(secs, section{start: cur.start, end: len(text), heading: cur.heading})
	}
	return secs
}

// atxHeading recognises "# Title" (up to 3 leading spaces, 1–6 #s, then a
// space or end of line) and returns the title without markers.
func atxHeading(line string) (string, bool) {
	l := strings.TrimRight(line, "\r\n")
	indent := len(l) - len(strings.TrimLeft(l, " "))
	if indent > 3 {
		return "", false
	}
	l = l[indent:]
	n := 0
	for n < len(l) && l[n] == '#' {
		n++
	}
	if n == 0 || n > 6 || (n < len(l) && l[n] != ' ' && l[n] != '\t') {
		return "", false
	}
	title := strings.TrimSpace(l[n:])
	// optional closing sequence of #s
	if t := strings.TrimRight(title, "#"); t != title && (t == "" || strings.HasSuffix(t, " ") || strings.HasSuffix(t, "\t")) {
		title = strings.TrimSpace(t)
	}
	return title, true
}

type atom struct{ s, e, n int }

// chunkSection returns the [start, end) spans of the chunks of one section.
func (c *Chunker) chunkSection(text string, start, end int) [][2]int {
	atoms := c.split(text, start, end, levelParagraph, c.max-c.overlap)
	var spans [][2]int
	var ring []int // scratch for overlapStart
	if c.overlap > 0 {
		ring = make([]int, c.overlap+1)
	}
	cs := atoms[0].s // chunk start (may lie before atoms[i].s: overlap)
	ovl := 0         // tokens in text[cs:atoms[i].s]
	for i := 0; i < len(atoms); {
		j, est := i, ovl
		for j < len(atoms) && est+atoms[j].n <= c.max {
			est += atoms[j].n
			j++
		}
		if j == i { // cannot happen: atoms[i].n <= max-overlap
			j = i + 1
		}
		// Token counts are not strictly additive: verify and back off.
		fits := false
		for j > i+1 {
			if !c.over(text[cs:atoms[j-1].e], c.max) {
				fits = true
				break
			}
			j--
		}
		if !fits && cs < atoms[i].s && c.over(text[cs:atoms[j-1].e], c.max) {
			cs = atoms[i].s // drop the overlap rather than exceed the budget
		}
		e := atoms[j-1].e
		spans = append(spans, [2]int{cs, e})
		if j == len(atoms) {
			break
		}
		i = j
		cs = c.overlapStart(text, cs, e, ring)
		ovl = 0
		if cs < e {
			ovl = c.tok.Count(text[cs:e])
		}
	}
	return spans
}

// overlapStart returns where the next chunk starts so that it repeats at
// most c.overlap tokens of text[s:e], beginning at a word start if there is
// one, else at a character boundary.
func (c *Chunker) overlapStart(text string, s, e int, ring []int) int {
	if c.overlap == 0 {
		return e
	}
	p := s + tokens.LastStart(c.tok, text[s:e], c.overlap, ring)
	for p < e && !utf8.RuneStart(text[p]) {
		p++
	}
	// Move to the next word start, unless p already is one.
	if p > s && p < e && !isSpaceBefore(text, p) {
		if k := strings.IndexFunc(text[p:e], unicode.IsSpace); k >= 0 {
			p += k
		} else {
			p = e
		}
	}
	for p < e {
		r, n := utf8.DecodeRuneInString(text[p:])
		if !unicode.IsSpace(r) {
			break
		}
		p += n
	}
	for p < e && c.over(text[p:e], c.overlap) {
		k := strings.IndexFunc(text[p:e], unicode.IsSpace)
		if k <= 0 {
			_, n := utf8.DecodeRuneInString(text[p:])
			p += n
			continue
		}
		p += k
	}
	return p
}

// over reports whether s has more than limit tokens, counting no further than that.
func (c *Chunker) over(s string, limit int) bool { return tokens.CountAtMost(c.tok, s, limit) > limit }

func isSpaceBefore(text string, p int) bool {
	r, _ := utf8.DecodeLastRuneInString(text[:p])
	return unicode.IsSpace(r)
}

const (
	levelParagraph = iota
	levelLine
	levelSentence
	levelWord
	levelHard
)

// split partitions text[s:e] into atoms of at most limit tokens each,
// preferring the coarsest boundaries.
func (c *Chunker) split(text string, s, e, level, limit int) []atom {
	return c.splitInto(nil, text, s, e, level, limit)
}

// splitInto is split appending to out.
func (c *Chunker) splitInto(out []atom, text string, s, e, level, limit int) []atom {
	n := tokens.CountAtMost(c.tok, text[s:e], limit)
	if n <= limit {
		return append(out, atom{s, e, n})
	}
	if level == levelHard {
		return append(out, c.hardSplit(text, s, e, limit)...)
	}
	cuts := boundaries(text[s:e], level)
	if len(cuts) == 0 {
		return c.splitInto(out, text, s, e, level+1, limit)
	}
	prev := s
	for _, cut := range append(cuts, e-s) {
		if s+cut > prev {
			out = c.splitInto(out, text, prev, s+cut, level+1, limit)
			prev = s + cut
		}
	}
	return out
}

// boundaries returns the cut offsets (relative, strictly between 0 and
// len(t)) at which t may be split at the given level. A cut falls after the
// separating whitespace, so each piece keeps its trailing whitespace.
func boundaries(t string, level int) []int {
	var cuts []int
	add := func(p int) {
		if p > 0 && p < len(t) && (len(cuts) == 0 || cuts[len(cuts)-1] < p) {
			cuts = append(cuts, p)
		}
	}
	switch level {
	case levelParagraph:
		for i := 0; i < len(t); {
			k := strings.Index(t[i:], "\n")
			if k < 0 {
				break
			}
			j := i + k + 1
			// a blank line follows: skip all blank lines
			blank := false
			for j < len(t) {
				nl := strings.IndexByte(t[j:], '\n')
				if nl < 0 || strings.TrimSpace(t[j:j+nl]) != "" {
					break
				}
				j += nl + 1
				blank = true
			}
			if blank {
				add(j)
			}
			i = j
		}
	case levelLine:
		for i := 0; i < len(t); i++ {
			if t[i] == '\n' {
				add(i + 1)
			}
		}
	case levelSentence:
		for i := 0; i < len(t); {
			r, n := utf8.DecodeRuneInString(t[i:])
			i += n
			if r != '.' && r != '!' && r != '?' && r != '…' && r != '。' && r != '！' && r != '？' {
				continue
			}
			// closing quotes and brackets stay with the sentence
			for i < len(t) && strings.ContainsRune(`"')]”’»`, rune(t[i])) {
				i++
			}
			j := i
			for j < len(t) {
				r, n := utf8.DecodeRuneInString(t[j:])
				if !unicode.IsSpace(r) {
					break
				}
				j += n
			}
			if j > i || r == '。' || r == '！' || r == '？' {
				add(j)
			}
			i = j
		}
	case levelWord:
		inSpace := false
		for i, r := range t {
			sp := unicode.IsSpace(r)
			if inSpace && !sp {
				add(i)
			}
			inSpace = sp
		}
	}
	return cuts
}

// hardSplit cuts text[s:e] at token boundaries (moved to character
// boundaries) into pieces of at most limit tokens. The range is tokenised
// once; each piece is then re-counted on its own and shortened if needed.
func (c *Chunker) hardSplit(text string, s, e, limit int) []atom {
	var out []atom
	base := s
	ends := c.tok.Ends(text[s:e])
	k := 0 // ends[k:] are the token ends past s
	for s < e {
		for k < len(ends) && base+ends[k] <= s {
			k++
		}
		cut := e
		if k+limit-1 < len(ends) {
			cut = base + ends[k+limit-1]
		}
		for cut > s && cut < e && !utf8.RuneStart(text[cut]) {
			cut--
		}
		if cut == s { // a token inside one character: take the whole character
			_, n := utf8.DecodeRuneInString(text[s:])
			cut = s + n
		}
		n := c.tok.Count(text[s:cut])
		for n > limit {
			_, size := utf8.DecodeLastRuneInString(text[s:cut])
			if cut-size <= s {
				break // a single character over budget; MinChunkTokens prevents this
			}
			cut -= size
			n = c.tok.Count(text[s:cut])
		}
		out = append(out, atom{s, cut, n})
		s = cut
	}
	return out
}

func trimSpace(text string, s, e int) (int, int) {
	for s < e {
		r, n := utf8.DecodeRuneInString(text[s:e])
		if !unicode.IsSpace(r) {
			break
		}
		s += n
	}
	for e > s {
		r, n := utf8.DecodeLastRuneInString(text[s:e])
		if !unicode.IsSpace(r) {
			break
		}
		e -= n
	}
	return s, e
}
