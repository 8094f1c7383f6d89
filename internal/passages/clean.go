package passages

import (
	"strings"

	"github.com/coachwire/coachwire/events"
)

// Candidates is how many passages to ask the index for when a turn uses limit of them: Clean
// needs a larger pool to drop duplicates and diversify sources.
func Candidates(limit int) int {
	if limit <= 0 {
		return 0
	}
	return limit + min(limit, 10)
}

// NearDuplicate is the share of a passage's word 3-shingles found in a better one above which
// it is dropped as a near-duplicate (a chunk inside another, the same text uploaded twice).
const NearDuplicate = 0.8

// Lambda weighs relevance against novelty in the maximal-marginal-relevance pick (1: relevance
// only). 0.8: at 0.7 the pick dropped the answering section of two eval questions (ranked 4th
// and 5th by the search) for other documents' passages; make eval BM25 recall@5 .947 → .960,
// no category or held-out set worse.
const Lambda = 0.8

// Clean returns up to limit of ps (best first, as the search ranked them): a passage that is
// only an HTML comment is dropped, a passage that is a near-duplicate of a better one is dropped, the sentences a passage repeats from a better one
// at its start or end (the overlap of adjacent chunks) are trimmed off, and the rest are picked
// by maximal marginal relevance, so that passages of other documents and sections come before a
// third one of the same section. The passages' text is never rewritten except by trimming.
func Clean(ps []events.Passage, limit int) []events.Passage {
	if limit <= 0 || len(ps) == 0 {
		return nil
	}
	type cand struct {
		p     events.Passage
		sh    map[uint64]struct{}
		terms map[string]struct{}
		norm  string
		rel   float64
	}
	var cs []cand
	for _, p := range ps {
		if hidden(p.Text) {
			continue // only an HTML comment (a licence header): nothing a reply could quote
		}
		ws := words(p.Text)
		sh := shingles(ws)
		dup := false
		for _, c := range cs {
			if containment(sh, c.sh) >= NearDuplicate {
				dup = true
				break
			}
		}
		if dup {
			continue
		}
		var seen []string
		for _, c := range cs {
			if c.p.DocumentID == p.DocumentID {
				seen = append(seen, c.norm)
			}
		}
		text := trimRepeated(p.Text, seen)
		if text == "" {
			continue
		}
		if text != p.Text {
			p.Text, ws = text, words(text)
			sh = shingles(ws)
		}
		ts := make(map[string]struct{}, len(ws)/2)
		for _, w := range ws {
			if len(w) > 1 && !stop[w] {
				ts[w] = struct{}{}
			}
		}
		cs = append(cs, cand{p: p, sh: sh, terms: ts, norm: " " + strings.Join(ws, " ") + " "})
	}
	// Relevance: the search score relative to the best, or the rank when there are no scores.
	best := 0.0
	for _, c := range cs {
		best = max(best, c.p.Score)
	}
	for i := range cs {
		if best > 0 {
			cs[i].rel = max(cs[i].p.Score, 0) / best
		} else {
			cs[i].rel = 1 - float64(i)/float64(len(cs))
		}
	}
	sim := func(a, b cand) float64 {
		s := jaccard(a.terms, b.terms)
		if a.p.DocumentID == b.p.DocumentID {
			same := 0.35 // another section of the same document
			if a.p.Heading == b.p.Heading {
				same = 0.7 // the same section: overlapping or neighbouring chunks
			}
			s = max(s, same)
		}
		return s
	}
	out := make([]events.Passage, 0, min(limit, len(cs)))
	var picked []cand
	used := make([]bool, len(cs))
	for len(out) < limit && len(out) < len(cs) {
		bi, bv := -1, 0.0
		for i, c := range cs {
			if used[i] {
				continue
			}
			red := 0.0
			for _, p := range picked {
				red = max(red, sim(c, p))
			}
			if v := Lambda*c.rel - (1-Lambda)*red; bi < 0 || v > bv {
				bi, bv = i, v
			}
		}
		used[bi] = true
		picked = append(picked, cs[bi])
		out = append(out, cs[bi].p)
	}
	return out
}

// hidden reports whether text is only HTML comments and white space.
func hidden(text string) bool {
	off := 0
	for _, c := range comments(text) {
		if strings.TrimSpace(text[off:c[0]]) != "" {
			return false
		}
		off = c[1]
	}
	return strings.TrimSpace(text[off:]) == ""
}

// trimRepeated cuts off the leading and trailing sentences of text that a better passage of the
// same document already holds (seen: their words, space-joined and space-padded). A chunk may
// start in the middle of a sentence, so a part of a sentence counts as held when its words are.
func trimRepeated(text string, seen []string) string {
	if len(seen) == 0 {
		return text
	}
	ss := sentences(text)
	held := func(s span) bool {
		w := " " + strings.Join(words(s.Text), " ") + " "
		if w == "  " {
			return true
		}
		for _, n := range seen {
			if strings.Contains(n, w) {
				return true
			}
		}
		return false
	}
	a, b := 0, len(ss)
	for a < b && (ss[a].Heading || held(ss[a])) {
		a++
	}
	for b > a && held(ss[b-1]) {
		b--
	}
	if a == b {
		return ""
	}
	if a == 0 && b == len(ss) {
		return text
	}
	// Keep a heading line that opens the passage: it says where the text sits.
	start := ss[a].Start
	if a > 0 && ss[0].Heading && !held(ss[0]) {
		start = ss[0].Start
	}
	return strings.TrimSpace(text[start:ss[b-1].End])
}

// shingles are the word 3-grams of words w (w itself when fewer than three), hashed. Of a long
// text only the shingles whose hash is 0 mod 4 are kept: the share of them found in another text
// estimates the share of all (Broder's mod-sampling) at a quarter of the cost.
func shingles(w []string) map[uint64]struct{} {
	out := make(map[uint64]struct{}, len(w)/4+1)
	if len(w) < 3 {
		if len(w) > 0 {
			out[hash(w...)] = struct{}{}
		}
		return out
	}
	sample := len(w) > 200
	for i := 0; i+3 <= len(w); i++ {
		if h := hash(w[i], w[i+1], w[i+2]); !sample || h&3 == 0 {
			out[h] = struct{}{}
		}
	}
	return out
}

// hash is FNV-1a of the words, each followed by a space.
func hash(ws ...string) uint64 {
	h := uint64(14695981039346656037)
	for _, w := range ws {
		for i := 0; i < len(w); i++ {
			h = (h ^ uint64(w[i])) * 1099511628211
		}
		h = (h ^ ' ') * 1099511628211
	}
	return h
}

// containment is the share of the smaller set found in the other.
func containment[K comparable](a, b map[K]struct{}) float64 {
	if len(a) == 0 || len(b) == 0 {
		return 0
	}
	if len(b) < len(a) {
		a, b = b, a
	}
	n := 0
	for k := range a {
		if _, ok := b[k]; ok {
			n++
		}
	}
	return float64(n) / float64(len(a))
}

// jaccard is |a∩b| / |a∪b|.
func jaccard(a, b map[string]struct{}) float64 {
	if len(a) == 0 && len(b) == 0 {
		return 0
	}
	n := 0
	for k := range a {
		if _, ok := b[k]; ok {
			n++
		}
	}
	return float64(n) / float64(len(a)+len(b)-n)
}
