// Package passages turns the knowledge passages a search returned into what a reply uses.
//
//   - Clean (the retrieve worker, after the search): drops near-duplicate passages (overlapping
//     chunks, the same text uploaded twice), trims the sentences an overlapping chunk repeats,
//     and picks the passages by maximal marginal relevance so one document does not fill them all.
//   - Select (the passages-mode reply): scores each sentence of the cleaned passages against the
//     question's words and keeps the one to three that answer it, with their passage (heading
//     and source); Found is the one threshold that decides whether anything answers at all, used
//     by the turn and by the evaluation (internal/eval).
//
// Matching is lexical and language-light: words are lower-cased and stripped of accents,
// function words of the common languages are ignored, and a question word matches a passage word
// that is equal, an inflection of it (shared stem: "nap"/"naps", "stretches"/"stretching") or one
// or two typing mistakes away (Damerau–Levenshtein, by word length). No state: safe for
// concurrent use.
package passages

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/coachwire/coachwire/events"
)

// words splits s into lower-cased words without accents: runs of letters and digits. The
// words are substrings of one folded copy of s.
func words(s string) []string {
	f := fold(s)
	out := make([]string, 0, len(f)/6+1)
	start := -1
	for i, r := range f {
		if r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= '0' && r <= '9') || r >= utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			out = append(out, f[start:i])
			start = -1
		}
	}
	if start >= 0 {
		out = append(out, f[start:])
	}
	return out
}

// fold lower-cases s and strips its accents ("Proteína" → "proteina").
func fold(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		b := []byte(s)
		for i, c := range b {
			if c >= 'A' && c <= 'Z' {
				b[i] = c + 'a' - 'A'
			}
		}
		return string(b)
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range norm.NFD.String(s) {
		if unicode.Is(unicode.Mn, r) { // a combining accent: "é" is "e" + U+0301
			continue
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// terms are the content words of s: words without the function words and single letters,
// each once, in order, at most 64.
func terms(s string) []string {
	var out []string
	for _, w := range words(s) {
		if len(w) < 2 || stop[w] || stop[root(w)] || slices.Contains(out, w) {
			continue
		}
		out = append(out, w)
		if len(out) == 64 {
			break
		}
	}
	return out
}

// matcher matches the terms of one question, and the words the search used for them (their
// alternatives: corrections, translations, related words), against words, remembering each
// word's answer. Matching works on patterns: the terms first, then their alternatives, at most
// 64 in all; a pattern stands for one term with a weight (1 for the term itself).
type matcher struct {
	terms []string
	pats  []string          // the patterns: terms[i] is pats[i]; alternatives follow
	of    []int             // pattern → the term it stands for
	wt    []float64         // pattern → how much finding it counts for its term (0..1)
	masks map[string]uint64 // word → the patterns it matches (bit i: pats[i])
	// lead holds the patterns' first letters and swap their second ones: a word matching a
	// pattern starts with its first letter, or with its first two swapped (match never matches
	// another), so text skips the others.
	lead, swap [256]bool
}

func newMatcher(query string) *matcher { return newMatcherWith(query, nil) }

// newMatcherWith is newMatcher with what the search made of the question's words (x; nil:
// nothing): a word it read as a function word of the question's language is no term, and each
// term's alternatives are patterns at their weight (keys and words folded as the question's).
// An alternative is left out when it is its term, a function word, of one letter, or another
// term or an inflection of one: a passage word stands for one question word ("train" found for
// "Termin" is the question's "Trainer").
func newMatcherWith(query string, x *events.Expansions) *matcher {
	m := &matcher{terms: terms(query), masks: map[string]uint64{}}
	if x != nil && len(x.Stop) > 0 {
		ignore := make(map[string]bool, len(x.Stop))
		for _, w := range x.Stop {
			ignore[fold(w)] = true
		}
		m.terms = slices.DeleteFunc(m.terms, func(t string) bool { return ignore[t] })
	}
	for i, t := range m.terms {
		m.pats, m.of, m.wt = append(m.pats, t), append(m.of, i), append(m.wt, 1)
	}
	if x != nil && len(x.Words) > 0 {
		byTerm := make(map[string][]events.Alternative, len(x.Words))
		for k, alts := range x.Words {
			byTerm[fold(k)] = append(byTerm[fold(k)], alts...)
		}
	terms:
		for i, t := range m.terms {
			for _, a := range byTerm[t] {
				w := fold(a.Word)
				if len(m.pats) == 64 {
					break terms
				}
				if a.Weight <= 0 || len(w) < 2 || stop[w] || w == t || strings.ContainsFunc(w, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
					continue
				}
				if slices.ContainsFunc(m.terms, func(o string) bool { return o != t && inflection(o, w) }) {
					continue
				}
				dup := false
				for p := len(m.terms); p < len(m.pats); p++ {
					if m.pats[p] == w && m.of[p] == i {
						m.wt[p] = max(m.wt[p], min(a.Weight, 1))
						dup = true
					}
				}
				if !dup {
					m.pats, m.of, m.wt = append(m.pats, w), append(m.of, i), append(m.wt, min(a.Weight, 1))
				}
			}
		}
	}
	for _, t := range m.pats {
		m.lead[t[0]] = true
		if len(t) > 1 {
			m.swap[t[1]] = true
		}
	}
	return m
}

// present is, for each term, how much the patterns of mask find it: 1 when the term itself is
// there, else the weight of its best alternative there, else 0.
func (m *matcher) present(mask uint64, out []float64) []float64 {
	out = out[:0]
	for range m.terms {
		out = append(out, 0)
	}
	for p := 0; mask != 0 && p < len(m.pats); p++ {
		if mask&(1<<p) != 0 {
			mask &^= 1 << p
			out[m.of[p]] = max(out[m.of[p]], m.wt[p])
		}
	}
	return out
}

// word is the set of patterns w matches.
func (m *matcher) word(w string) uint64 {
	if b, ok := m.masks[w]; ok {
		return b
	}
	var b uint64
	if stop[w] {
		m.masks[w] = 0 // a function word of the text is never a question's content word ("form"/"from")
		return 0
	}
	for i, t := range m.pats {
		// An alternative matches its inflections, not its typing mistakes: it was not typed.
		if (i < len(m.terms) && match(t, w)) || (i >= len(m.terms) && inflection(t, w)) {
			b |= 1 << i
		}
	}
	m.masks[w] = b
	return b
}

// text is the set of patterns some word of s matches.
func (m *matcher) text(s string) uint64 {
	var b uint64
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			for _, w := range words(s) {
				b |= m.word(w)
			}
			return b
		}
	}
	// ASCII (most text): the words as words would split them, without copying the text, and
	// only those that may match a term are looked up.
	var buf []byte
	for i := 0; i < len(s); {
		for i < len(s) && !alnum(s[i]) {
			i++
		}
		j := i
		for j < len(s) && alnum(s[j]) {
			j++
		}
		if j > i && m.mayMatch(s[i:j]) {
			buf = buf[:0]
			for k := i; k < j; k++ {
				buf = append(buf, lower(s[k]))
			}
			if mask, ok := m.masks[string(buf)]; ok { // no allocation for a word seen before
				b |= mask
			} else {
				b |= m.word(string(buf))
			}
		}
		i = j
	}
	return b
}

// mayMatch reports whether ASCII word w starts as a term does, or as one does with its first
// two letters swapped.
func (m *matcher) mayMatch(w string) bool {
	c := lower(w[0])
	if m.lead[c] {
		return true
	}
	if !m.swap[c] || len(w) < 2 {
		return false
	}
	c1 := lower(w[1])
	for _, t := range m.pats {
		if len(t) > 1 && t[1] == c && t[0] == c1 {
			return true
		}
	}
	return false
}

func alnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' }

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// match reports whether question term q and text word w are the same word: equal, one an
// inflection of the other, or q a mistyped w.
func match(q, w string) bool {
	if q == w {
		return true
	}
	lq, lw := len(q), len(w)
	short := min(lq, lw)
	if short < 3 || lq-lw > 4 || lw-lq > 4 {
		return false
	}
	// Every rule below keeps the first letter, or swaps the first two ("hte").
	if q[0] != w[0] && (q[0] != w[1] || q[1] != w[0]) {
		return false
	}
	if inflected(q, w) {
		return true
	}
	// Typing mistakes: one in a word of five letters or more, two from eight. In a four-letter
	// word only a left-out letter ("slep") or two swapped ones ("stes"): a different letter makes
	// another word too often ("fast"/"last").
	k := 0
	switch {
	case lq >= 8:
		k = 2
	case lq >= 5:
		k = 1
	case lq == 4:
		if lw == 5 || (lw == 4 && sameLetters(q, w)) {
			return osa(q, w, 1) <= 1
		}
		return false
	default:
		return false
	}
	if lw-lq > k || lq-lw > k {
		return false
	}
	return osa(q, w, k) <= k
}

// inflection reports whether q and w are the same word or one an inflection of the other.
func inflection(q, w string) bool {
	if q == w {
		return true
	}
	lq, lw := len(q), len(w)
	if min(lq, lw) < 3 || lq-lw > 4 || lw-lq > 4 || q[0] != w[0] {
		return false
	}
	return inflected(q, w)
}

// inflected reports whether q and w (of 3 letters or more, lengths within 4) share a root or
// the shorter is a prefix of the longer that differs by a short ending ("nap"/"naps",
// "taper"/"tapering", "sore"/"soreness").
func inflected(q, w string) bool {
	if rq := root(q); len(rq) >= 3 && rq == root(w) {
		return true
	}
	lq, lw := len(q), len(w)
	short := min(lq, lw)
	p := 0
	for p < short && q[p] == w[p] {
		p++
	}
	return p == short && (max(lq, lw)-short <= 3 || (short >= 4 && max(lq, lw)-short == 4))
}

// sameLetters reports whether a and b are made of the same letters.
func sameLetters(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	var n [256]int
	for i := 0; i < len(a); i++ {
		n[a[i]]++
		n[b[i]]--
	}
	return n == [256]int{}
}

// endings are the inflection endings root strips, longest first.
var endings = []string{"ings", "ing", "ers", "er", "ed", "es", "s", "ly"}

// root strips one common inflection ending of w and a doubled final consonant left by it
// ("running" → "run", "runs" → "run", "sets" → "set"): a light rule for matching words, not a
// stemmer.
func root(w string) string {
	for _, e := range endings {
		if r, ok := strings.CutSuffix(w, e); ok && len(r) >= 3 {
			if n := len(r); r[n-1] == r[n-2] && !strings.ContainsRune("aeiou", rune(r[n-1])) {
				r = r[:n-1]
			}
			return r
		}
	}
	return w
}

// osa is the optimal-string-alignment distance (Damerau–Levenshtein without repeated edits of a
// substring) between a and b in bytes, or k+1 once it must exceed k.
func osa(a, b string, k int) int {
	var rows [3][32]int
	var prev2, prev, cur []int
	if len(b) < 32 {
		prev2, prev, cur = rows[0][:len(b)+1], rows[1][:len(b)+1], rows[2][:len(b)+1]
	} else {
		prev2, prev, cur = make([]int, len(b)+1), make([]int, len(b)+1), make([]int, len(b)+1)
	}
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		low := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d = min(d, prev2[j-2]+1)
			}
			cur[j] = d
			low = min(low, d)
		}
		if low > k {
			return k + 1
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

// stop are function words (and the filler of questions: "how", "should", "tips") of English,
// Spanish, Portuguese, French, German, Italian and Dutch, without accents: a question's content
// is what is left.
var stop = func() map[string]bool {
	m := map[string]bool{}
	for _, list := range []string{
		// English
		`a an the and or but if then so than too very of to in on at by for with from into onto about over under
		up down out off as is are was were be been being am do does did done doing have has had having
		i me my mine myself you your yours yourself we us our he him his she her it its they them their this that
		these those there here what which who whom whose when where why how whats hows can could should would
		will shall may might must need needs want wants get gets got make makes take takes keep use using
		any some all each every much many more most no not nor only just also again ever still
		tell explain know give show help please tips tip advice good best better right way ways thing things
		anything something someone okay ok s t ll re ve d m dont doesnt cant im ive don doesn didn isn aren
		wasn won wouldn shouldn couldn
		before after above below during while until against between through further once same own
		other others such few both one ones there then whether`,
		// Spanish
		`el la los las un una unos unas y o u de del al en con por para sin sobre que como cual cuales quien
		cuando donde cuanto cuanta cuantos cuantas es son ser esta estan estoy hay mi mis tu tus su sus yo
		me te se lo le les nos debo debe deberia puedo puede hacer hago mejor muy mas`,
		// Portuguese
		`o os um uma uns umas e ou do da dos das no na nos nas em com por para sem sobre que como qual quais
		quem quando onde quanto quanta quantos quantas sao ser estou esta devo deve posso pode fazer faco
		meu minha meus minhas seu sua melhor muito mais`,
		// French
		`le la les un une des et ou de du au aux en dans avec par pour sans sur que qui quoi comment quel
		quelle quels quelles quand ou combien est sont etre je tu il elle nous vous ils elles mon ma mes ton
		ta tes son sa ses ce cet cette ces faut dois doit peux peut faire fais mieux tres plus ne pas`,
		// German
		`der die das den dem des ein eine einen einem einer und oder von zu zum zur im in mit fur auf uber
		aus bei nach vor was wer wie wo wann warum welche welcher welches wieviel viele viel ist sind sein
		bin ich du er sie es wir ihr mein meine meinen dein sollte sollen soll kann konnen muss mache machen
		nicht kein am beim besten`,
		// Italian
		`il lo gli uno di da con su per tra fra che chi cosa come quale quando dove quanto quanti sono devo
		posso fare mio mia`,
		// Dutch
		`de het een en of van te in op met voor aan bij uit wat wie hoe waar wanneer waarom welke is zijn
		ik jij je mijn moet kan kun doen`,
	} {
		for _, w := range strings.Fields(list) {
			m[w] = true
		}
	}
	return m
}()

// Terms are the content words of s as matching sees them (for tests and diagnostics).
func Terms(s string) []string { return terms(s) }
