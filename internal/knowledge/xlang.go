package knowledge

// Questions in another language than the creator's documents (docs/architecture.md,
// "Retrieval"): the question's words are translated into the documents' languages through the
// lexicon embedded in internal/analysis, and matched to the creator's own words that look like
// them (cognates: "proteína" finds "protein"). The terms found are added to the BM25 query.

import (
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/coachwire/coachwire/internal/analysis"
)

const (
	// maxTranslations bounds the translations added per question word and direction (the
	// lexicon lists the likeliest first).
	maxTranslations = 4
	// maxBack is how many of a creator's word's translations are read from the documents' side
	// (backIndex): the lexicon lists the likeliest first.
	maxBack = 2
	// minBackKey is the shortest key looked up from the documents' side (a short stem is many
	// words': Spanish "cómo" and "coma" are both "com").
	minBackKey = 4
	// maxCognates bounds the creator's words added per question word.
	maxCognates = 2
	// maxCrossTerms bounds the terms added per question.
	maxCrossTerms = 48
	// minCrossLen: shorter question words are neither translated nor matched.
	minCrossLen = 3
	// minVote is the number of a question's words a language must hold to be taken for the
	// question's language when DetectQuery could not tell it.
	minVote = 2
	// minSearchable is the number of a question's words the search must have looked for before
	// the others, which it could not look for, are left out of the reply's coverage.
	minSearchable = 2
	// maxUnknownPer is how many words the search could not look for a question may have per
	// word it looked for, for those to be left out of the reply's coverage.
	maxUnknownPer = 2
)

// crossIndex is a vocabulary's words by cognate key, built on the first question that needs it.
type crossIndex struct {
	once     sync.Once
	built    atomic.Bool
	lang     analysis.Lang // the language the keys are read in: the creator's main one
	byPrefix map[string][]cognateWord

	// back holds, per (question language, document language), the creator's words by the keys
	// (analysis.Fold of the Snowball stem) of their translations into the question's language:
	// the lexicon read from the documents' side (backIndex).
	backMu sync.Mutex
	back   map[[2]analysis.Lang]map[string][]string
}

type cognateWord struct{ key, word string }

func (v *vocab) cognateIndex() *crossIndex {
	x := &v.cross
	x.once.Do(func() {
		x.lang = analysis.English
		if len(v.langs) > 0 {
			x.lang = v.langs[0]
		}
		x.byPrefix = map[string][]cognateWord{}
		for w := range v.words {
			k := analysis.Cognate(x.lang, w)
			if p := analysis.CognatePrefix(k); p != "" {
				x.byPrefix[p] = append(x.byPrefix[p], cognateWord{k, w})
			}
		}
		for _, ws := range x.byPrefix {
			slices.SortFunc(ws, func(a, b cognateWord) int { return strings.Compare(a.word, b.word) })
		}
		x.built.Store(true)
	})
	return x
}

// backIndex returns the creator's words (v) in d by the keys of their translations into f (see
// crossIndex.back), built on the first question of f that needs it (and again by the background
// refresh: keepCross). Only the Wiktionary lexicon is read (CLDR pairs emoji keywords loosely:
// "major" → "contraseña"), a word's first maxBack translations, one word per stem in d.
func (v *vocab) backIndex(f, d analysis.Lang) map[string][]string {
	x := &v.cross
	k := [2]analysis.Lang{f, d}
	x.backMu.Lock()
	m, ok := x.back[k]
	x.backMu.Unlock()
	if ok {
		return m
	}
	words := make([]string, 0, len(v.words))
	for w := range v.words {
		words = append(words, w)
	}
	slices.Sort(words)
	m = map[string][]string{}
	stems := map[string]map[string]bool{} // per key, the stems (in d) of its words
	for _, w := range words {
		tr := analysis.TranslateDictionary(d, f, w)
		st := analysis.Stem(d, w)
		for _, t := range tr[:min(len(tr), maxBack)] {
			key := analysis.Fold(analysis.Stem(f, t))
			if stems[key] == nil {
				stems[key] = map[string]bool{}
			}
			if !stems[key][st] {
				stems[key][st] = true
				m[key] = append(m[key], w)
			}
		}
	}
	x.backMu.Lock()
	defer x.backMu.Unlock()
	if old, ok := x.back[k]; ok {
		return old // built meanwhile by another question
	}
	if x.back == nil {
		x.back = map[[2]analysis.Lang]map[string][]string{}
	}
	x.back[k] = m
	return m
}

// keepCross builds v's cognate index, and its indexes of the lexicon read from the documents'
// side (backIndex), now when the tenant's vocabulary v replaces had built them: a creator who
// gets questions in another language keeps getting them, and the indexes are then built by the
// background refresh (outside the cache's lock), not by a question.
func (s *Store) keepCross(tenant string, v *vocab) {
	s.vocabs.mu.Lock()
	old := s.vocabs.m[tenant]
	s.vocabs.mu.Unlock()
	if old != nil && old.cross.built.Load() {
		v.cognateIndex()
	}
	if old == nil {
		return
	}
	old.cross.backMu.Lock()
	back := maps.Clone(old.cross.back)
	old.cross.backMu.Unlock()
	if len(back) == 0 {
		return
	}
	if sameWords(old, v) {
		// The indexes are read-only once built: the new vocabulary shares them.
		v.cross.backMu.Lock()
		v.cross.back = back
		v.cross.backMu.Unlock()
		return
	}
	for p := range back {
		v.backIndex(p[0], p[1])
	}
}

// sameWords reports whether a and b hold the same words.
func sameWords(a, b *vocab) bool {
	if len(a.words) != len(b.words) {
		return false
	}
	for w := range b.words {
		if !a.words[w] {
			return false
		}
	}
	return true
}

// crossTerms returns the terms to add to the BM25 query for a question whose words are words
// and whose languages (analysis.DetectQuery) are langs, when it is in another language than the
// creator's documents (v.langs, at most two; English when unknown):
//
//   - The question's language: its own when DetectQuery told it apart and it is not a language
//     of the documents; otherwise (a short question's language often cannot be told) the
//     languages with most of its foreign words (words the documents do not hold and the
//     lexicon does not know in the documents' languages) among their stop words and lexicon
//     words. A question with no foreign word is in the documents' language: nothing is added.
//   - Each content word (only the foreign ones when the language was voted) is translated into
//     the documents' languages (analysis.Translate; a German or Dutch compound part by part):
//     the translations and their stems are added.
//   - Each foreign word is matched against the creator's words by cognate key
//     (analysis.Cognate): the nearest ones are added, with their stems.
func crossTerms(v *vocab, words []string, langs []analysis.Lang) []string {
	terms, _ := crossTermsNoted(v, words, langs, nil)
	var out []string
	for _, t := range terms {
		out = append(out, t.term)
	}
	return out
}

// crossTerm is a term crossTerms adds and its query weight.
type crossTerm struct {
	term   string
	weight int
}

// crossTermsNoted is crossTerms telling note, when not nil, each translation and cognate (not
// stems) with the question word it stands for; and returning the question's words the search
// could not look for (unsearchable).
func crossTermsNoted(v *vocab, words []string, langs []analysis.Lang, note func(w, t string, wt float64)) (terms []crossTerm, unknown []string) {
	if v == nil || len(words) == 0 {
		return nil, nil
	}
	docs, from, foreign, all := crossLangs(v, words, langs)
	if len(from) == 0 {
		return nil, nil
	}
	var out []crossTerm
	found := map[string]bool{} // question words with a translation or cognate the creator uses
	addW := func(t string, wt int) {
		if t == "" {
			return
		}
		for i := range out {
			if out[i].term == t {
				out[i].weight = max(out[i].weight, wt)
				return
			}
		}
		if len(out) < maxCrossTerms {
			out = append(out, crossTerm{t, wt})
		}
	}
	add := func(t string) { addW(t, weightOwn) }
	translate := func(f analysis.Lang, qw, w string) (any bool) {
		for _, d := range docs {
			tr, both, back := senses(v, f, d, w, analysis.Translate(f, d, w))
			for i, t := range tr[:min(len(tr), maxTranslations)] {
				if !analysis.IsStop(d, t) {
					found[qw] = found[qw] || v.has(t)
					wt, aw := weightOwn, altSame
					if both+back > 0 && i >= both {
						wt, aw = weightRelated, altRelated // read from the documents' side, or another sense
					}
					addW(t, wt)
					addW(analysis.Stem(d, t), wt)
					if note != nil {
						note(qw, t, aw)
					}
				}
			}
			any = any || len(tr) > 0
			if slices.ContainsFunc(tr, v.has) {
				continue
			}
			// No translation the creator uses: the creator's words that two other languages
			// both lead to ("schiena" → Rücken, dos → "back").
			for _, t := range pivots(v, f, d, w) {
				addW(t, weightRelated)
				addW(analysis.Stem(d, t), weightRelated)
				if note != nil {
					note(qw, t, altRelated)
				}
			}
		}
		return any
	}
	var x *crossIndex
	for i, w := range words {
		if len(w) < minCrossLen || stopIn(from, w) || stopIn(docs, w) {
			continue
		}
		isForeign := foreign[i]
		if !all && !isForeign {
			continue
		}
		for _, f := range from {
			if translate(f, w, w) {
				continue
			}
			// An adverb or adjective derived from a word the lexicon holds ("wekelijks": "week"),
			// else a compound's parts.
			if base := analysis.Underive(f, w); base != "" && translate(f, w, base) {
				continue
			}
			for _, part := range analysis.Decompound(f, w) {
				translate(f, w, part)
			}
		}
		if !isForeign {
			continue
		}
		if x == nil {
			x = v.cognateIndex()
		}
		var cands []cognateWord
		for _, f := range from {
			keys := []string{analysis.Cognate(f, w)}
			if base := analysis.Underive(f, w); base != "" {
				keys = append(keys, analysis.Cognate(f, base)) // "gradualmente" ~ "gradually"
			}
			for _, k := range keys {
				for _, c := range x.byPrefix[analysis.CognatePrefix(k)] {
					if analysis.CognatesMatch(k, c.key) && !slices.Contains(cands, c) {
						cands = append(cands, c)
					}
				}
			}
		}
		// The closest first: the longest shared key, then the shortest word.
		slices.SortStableFunc(cands, func(a, b cognateWord) int {
			if d := len(b.key) - len(a.key); d != 0 {
				return d
			}
			return len(a.word) - len(b.word)
		})
		for _, c := range cands[:min(len(cands), maxCognates)] {
			found[w] = true
			add(c.word)
			add(analysis.Stem(x.lang, c.word))
			if note != nil {
				note(w, c.word, altSame)
			}
		}
	}
	return out, unsearchable(v, words, append(slices.Clone(from), docs...), found)
}

// crossLangs returns, for a question whose words are words and whose languages
// (analysis.DetectQuery) are langs, the documents' languages (v.langs, at most two; English when
// unknown), the question's languages when it is in another one (none when it is in theirs; see
// crossTerms), which of its words are foreign (not in the creator's vocabulary, nor a lexicon
// word or stop word of the documents' languages), and whether every content word is read in
// the question's languages (its language was detected) or only the foreign ones (voted).
func crossLangs(v *vocab, words []string, langs []analysis.Lang) (docs, from []analysis.Lang, foreign []bool, all bool) {
	docs = v.langs
	if len(docs) > 2 {
		docs = docs[:2]
	}
	if len(docs) == 0 {
		docs = []analysis.Lang{analysis.English}
	}
	// A foreign word: one the documents do not hold and the lexicon does not know in their
	// languages (nor a stop word of theirs).
	foreign = make([]bool, len(words))
	nForeign := 0
	for i, w := range words {
		if len(w) < minCrossLen || v.words[w] || stopIn(docs, w) {
			continue
		}
		foreign[i] = true
		for _, d := range docs {
			if analysis.InLexicon(d, w) {
				foreign[i] = false
				break
			}
		}
		if foreign[i] {
			nForeign++
		}
	}
	if len(langs) > 0 && !slices.Contains(docs, langs[0]) {
		for _, l := range langs {
			if !slices.Contains(docs, l) {
				from = append(from, l)
			}
		}
		all = true
	} else if nForeign > 0 {
		from = voteLanguages(words, docs, foreign)
	}
	return docs, from, foreign, all
}

// unsearchable returns the words of a question in another language than the documents that
// the search could not look for: the creator's vocabulary v has neither the word (nor its
// stem) nor a translation or cognate of it (found). Such a word ("quand", "faut", "dovrei", or
// a content word the lexicon lacks) says nothing about whether a passage answers the question,
// so the passages-mode reply does not count it against the passages (they go into
// Expansions.Stop). Only while the question's words the search could look for are at least as
// many, and at least minSearchable: a question mostly unknown keeps its words, and its honest
// answer that nothing was found. Stop words of langs (the question's and the documents'
// languages, accents folded) are neither.
func unsearchable(v *vocab, words []string, langs []analysis.Lang, found map[string]bool) []string {
	var content, unknown []string
	for _, w := range words {
		if len([]rune(w)) < 2 || slices.Contains(content, w) || stopIn(langs, w) || stopIn(langs, analysis.Fold(w)) {
			continue
		}
		content = append(content, w)
		if found[w] || v.has(w) || slices.ContainsFunc(langs, func(l analysis.Lang) bool { return v.words[analysis.Stem(l, w)] }) {
			continue
		}
		unknown = append(unknown, w)
	}
	if len(unknown) == 0 || len(unknown) > maxUnknownPer*(len(content)-len(unknown)) || len(content)-len(unknown) < minSearchable {
		return nil
	}
	return unknown
}

// voteLanguages returns the analysed languages other than docs holding the most of the
// question's foreign words among their stop words and lexicon words (several on a tie), when
// that is at least minVote and more than the question's stop words of the documents'
// languages: one foreign-looking word is as likely a mistyped or rare word of the documents'
// language ("how many hors of slep", "which protein powder brand is best").
func voteLanguages(words []string, docs []analysis.Lang, foreign []bool) []analysis.Lang {
	own := 0
	for _, w := range words {
		if stopIn(docs, w) {
			own++
		}
	}
	var best []analysis.Lang
	bestN := max(minVote, own+1)
	for _, l := range analysis.Supported {
		if slices.Contains(docs, l) {
			continue
		}
		n := 0
		for i, w := range words {
			if (analysis.IsStop(l, w) && !stopIn(docs, w)) || (foreign[i] && analysis.InLexicon(l, w)) {
				n++
			}
		}
		switch {
		case n < bestN:
		case n > bestN || best == nil:
			best, bestN = []analysis.Lang{l}, n
		default:
			best = append(best, l)
		}
	}
	return best
}

// senses orders tr, the translations into d of w (a word of f), for the creator of v: the
// creator's own words first (of a word's senses, those the documents use), and of those first
// the ones that translate back into w (their translations into f hold a word of w's stem:
// "letto" → "bed" → "letto", not "letto" → "post"): the sense the lexicon gives both ways; both
// is how many. When the Wiktionary lexicon gives none of the creator's words for w, the
// creator's words it gives w for, read from the documents' side (v.backIndex: English
// "blister" → Portuguese "bolha", where "bolha" → "bubble" only), come next, added to tr; back
// is how many. The query weighs them as related words.
func senses(v *vocab, f, d analysis.Lang, w string, tr []string) (_ []string, both, back int) {
	key := analysis.Fold(analysis.Stem(f, w))
	rank := make(map[string]int, len(tr))
	for _, t := range tr {
		if !v.has(t) {
			continue
		}
		rank[t] = 1
		if slices.ContainsFunc(analysis.Translate(d, f, t), func(b string) bool { return analysis.Fold(analysis.Stem(f, b)) == key }) {
			rank[t] = 3
			both++
		}
	}
	if len(key) >= minBackKey && !slices.ContainsFunc(analysis.TranslateDictionary(f, d, w), v.has) {
		for _, b := range v.backIndex(f, d)[key] {
			if _, ok := rank[b]; !ok && !slices.Contains(tr, b) {
				tr = append(tr, b)
			}
			if rank[b] < 2 {
				rank[b] = 2
				back++
			}
		}
	}
	if len(tr) == 0 {
		return tr, 0, 0
	}
	slices.SortStableFunc(tr, func(a, b string) int { return rank[b] - rank[a] })
	return tr, both, back
}

// minPivots is how many other languages must lead to a word for pivots to take it.
const minPivots = 2

// pivots returns the creator's words (v) in d that the translations of w (a word of f) into at
// least minPivots other analysed languages translate into, those most languages lead to first,
// at most maxTranslations.
func pivots(v *vocab, f, d analysis.Lang, w string) []string {
	votes := map[string]int{}
	var order []string
	for _, p := range analysis.Supported {
		if p == f || p == d {
			continue
		}
		seen := map[string]bool{}
		for _, t := range analysis.Translate(f, p, w) {
			for _, u := range analysis.Translate(p, d, t) {
				if seen[u] || !v.has(u) {
					continue
				}
				seen[u] = true
				if votes[u] == 0 {
					order = append(order, u)
				}
				votes[u]++
			}
		}
	}
	out := order[:0]
	for _, u := range order {
		if votes[u] >= minPivots {
			out = append(out, u)
		}
	}
	slices.SortStableFunc(out, func(a, b string) int { return votes[b] - votes[a] })
	return out[:min(len(out), maxTranslations)]
}

func stopIn(langs []analysis.Lang, w string) bool {
	for _, l := range langs {
		if analysis.IsStop(l, w) {
			return true
		}
	}
	return false
}
