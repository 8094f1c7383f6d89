package passages

import (
	"math"
	"sort"
	"strings"

	"github.com/coachwire/coachwire/events"
)

// MinCoverage is the threshold of an answer: the weighted share of the question's content
// words that one passage (its text, section heading or document title) must contain for the
// passage to count as answering it. Below it for every passage, the honest reply is that nothing
// was found.
const MinCoverage = 0.5

// Found reports whether a passage that covers this share of the question answers it. It is the
// one threshold the passages-mode reply and the evaluation (internal/eval) use.
func Found(coverage float64) bool { return coverage >= MinCoverage }

// Coverage is, for each of ps, the share of the content words of query it contains (in its
// text, heading or title), from 0 to 1, each word weighted by how rare it is among ps
// (ln(1 + n/(df+1)) for n passages, df of them containing it): a question word every passage
// has ("running" in a running coach's material) weighs less than one that only the answer has,
// and a word none has ("pregnant") weighs most. All 0 for a query without content words ("hi").
func Coverage(query string, ps []events.Passage) []float64 {
	return coverage(newMatcher(query), ps)
}

// CoverageWith is Coverage counting a question word as present, at the alternative's weight,
// in a passage holding one of the words the search used for it (x: its corrections,
// translations, cognates, related words; nil: only the word itself).
func CoverageWith(query string, x *events.Expansions, ps []events.Passage) []float64 {
	return coverage(newMatcherWith(query, x), ps)
}

// CoverageWithBody is CoverageWith and, for each of ps, the coverage of the question by its
// text alone (without its heading and title; the words weighted by the passages whose text
// holds them), as CoverageWith on ps without headings and titles; each text is read once for
// both.
func CoverageWithBody(query string, x *events.Expansions, ps []events.Passage) (all, body []float64) {
	m := newMatcherWith(query, x)
	texts := make([]uint64, len(ps))
	for i, p := range ps {
		texts[i] = m.text(p.Text)
	}
	all = coverageOf(m, ps, func(i int) uint64 { return m.text(ps[i].Title) | m.text(ps[i].Heading) | texts[i] })
	body = coverageOf(m, ps, func(i int) uint64 { return texts[i] })
	return all, body
}

func coverage(m *matcher, ps []events.Passage) []float64 {
	return coverageOf(m, ps, func(i int) uint64 { return m.text(ps[i].Title) | m.text(ps[i].Heading) | m.text(ps[i].Text) })
}

// coverageOf is coverage with the patterns found in passage i given by mask(i).
func coverageOf(m *matcher, ps []events.Passage, mask func(i int) uint64) []float64 {
	q := m.terms
	out := make([]float64, len(ps))
	if len(q) == 0 || len(ps) == 0 {
		return out
	}
	has := make([][]float64, len(ps))
	df := make([]int, len(q))
	for i := range ps {
		has[i] = m.present(mask(i), nil)
		for j := range q {
			if has[i][j] > 0 {
				df[j]++
			}
		}
	}
	w, total := make([]float64, len(q)), 0.0
	for j := range q {
		w[j] = weight(len(ps), df[j])
		total += w[j]
	}
	for i := range ps {
		for j := range q {
			out[i] += w[j] * has[i][j]
		}
		out[i] /= total
	}
	return out
}

// Excerpt is what a reply quotes of one passage.
type Excerpt struct {
	Passage  events.Passage
	Text     string  // the chosen sentences, in document order, on one line ("…" between sentences that are not adjacent)
	Coverage float64 // Coverage of the question by the passage
}

// MaxSentences bounds the sentences a passages-mode reply quotes, over all its passages.
const MaxSentences = 3

// Select picks the sentences of ps that answer query. The passages are those that pass Found
// and cover the question nearly as well as the best one (three quarters of its coverage), in
// the order given (the search's); in each, a sentence scores the share of the question's words
// it contains (a word only in the section heading or title counts half). At most MaxSentences
// sentences in all, in this order: the best passage's best sentence, its second when nearly as
// good, the best sentence of each next passage, then the best passage's others, then the next
// passages' others. A sentence that repeats one already chosen is skipped. Nil when no passage
// passes.
func Select(query string, ps []events.Passage) []Excerpt { return SelectWith(query, nil, ps) }

// SelectWith is Select with the words the search used for the question's words (x, see
// CoverageWith): the threshold and the sentences' scores count them at their weight.
func SelectWith(query string, x *events.Expansions, ps []events.Passage) []Excerpt {
	m := newMatcherWith(query, x)
	q := m.terms
	if len(q) == 0 {
		return nil
	}
	type scored struct {
		span
		score float64
	}
	type cand struct {
		p     events.Passage
		cov   float64
		sents []scored // best first
	}
	covs := coverage(m, ps)
	bestCov := 0.0
	for _, c := range covs {
		bestCov = max(bestCov, c)
	}
	var cs []cand
	for i, p := range ps {
		cov := covs[i]
		if !Found(cov) || cov < 0.75*bestCov {
			continue
		}
		headMask := m.text(p.Title) | m.text(p.Heading)
		var ss []scored
		var head, v []float64
		for k, s := range sentences(p.Text) {
			if s.Heading {
				headMask |= m.text(s.Text)
				continue
			}
			v = m.present(m.text(s.Text), v)
			head = m.present(headMask, head)
			score := 0.0
			for j := range q {
				score += max(v[j], 0.5*head[j])
			}
			if score == 0 {
				continue
			}
			// Earlier sentences first among equals: a section opens with its point.
			ss = append(ss, scored{span: s, score: score/float64(len(q)) - 0.001*float64(k)})
		}
		if len(ss) == 0 {
			continue
		}
		sort.SliceStable(ss, func(a, b int) bool { return ss[a].score > ss[b].score })
		cs = append(cs, cand{p: p, cov: cov, sents: ss})
		if len(cs) == MaxSentences {
			break
		}
	}
	if len(cs) == 0 {
		return nil
	}

	chosen := make([][]span, len(cs))
	next := make([]int, len(cs)) // the next sentence of each passage to consider
	var keys []map[uint64]struct{}
	n := 0
	// take chooses passage i's next sentence that repeats none chosen, if any.
	take := func(i int) bool {
		for n < MaxSentences && next[i] < len(cs[i].sents) {
			s := cs[i].sents[next[i]]
			next[i]++
			sh := shingles(words(s.Text))
			dup := false
			for _, k := range keys {
				if containment(sh, k) >= NearDuplicate {
					dup = true
					break
				}
			}
			if !dup {
				keys = append(keys, sh)
				chosen[i] = append(chosen[i], s.span)
				n++
				return true
			}
		}
		return false
	}
	take(0)
	if next[0] < len(cs[0].sents) && cs[0].sents[next[0]].score >= 0.6*cs[0].sents[0].score {
		take(0)
	}
	for i := 1; i < len(cs); i++ {
		take(i)
	}
	for i := range cs {
		for take(i) {
		}
	}
	var out []Excerpt
	for i, c := range cs {
		if len(chosen[i]) == 0 {
			continue
		}
		sort.Slice(chosen[i], func(a, b int) bool { return chosen[i][a].Start < chosen[i][b].Start })
		var b strings.Builder
		for j, s := range chosen[i] {
			if j > 0 {
				if adjacent(c.p.Text, chosen[i][j-1], s) {
					b.WriteString(" ")
				} else {
					b.WriteString(" … ")
				}
			}
			b.WriteString(s.Text)
		}
		out = append(out, Excerpt{Passage: c.p, Text: b.String(), Coverage: c.cov})
	}
	return out
}

// adjacent reports whether only white space lies between sentences a and b of text.
func adjacent(text string, a, b span) bool {
	return a.End <= b.Start && strings.TrimSpace(text[a.End:b.Start]) == ""
}

// weight is a question word's weight among n passages, df of which contain it.
func weight(n, df int) float64 { return math.Log(1 + float64(n)/float64(df+1)) }
