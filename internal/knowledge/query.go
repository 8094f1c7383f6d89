package knowledge

// How a chunk is indexed and how a query is built (docs/architecture.md, "Retrieval"):
//
//   - title, heading, headings (the heading path) and text hold the original text, tokenized
//     by Weaviate into words: exact word forms keep matching.
//   - head_stemmed (title and heading path) and text_stemmed hold the same text analysed in the
//     chunk's language (internal/analysis: stop words removed, Snowball stems), tokenized on
//     whitespace, so that "naps" finds "nap" and "I"/"my" match nothing.
//   - lang is the chunk's detected language; the creator's languages are the prior of a short
//     query's language.
//   - The creator's vocabulary (every word of their chunks) is kept in the Term collection, in
//     the creator's tenant; a query word not in it is corrected to the nearest word within
//     edit distance 2 (words of 4 letters or more).
//
// The BM25 query is the original query, then the corrected words, then the stems of every
// word in the query's languages (detected, the creator's, English), in one string: Weaviate
// tokenizes it per property (words for the original fields, whitespace for the stemmed ones)
// and weighs the properties (searchProperties) in BM25F.

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/agnivade/levenshtein"
	"github.com/google/uuid"
	"github.com/weaviate/weaviate-go-client/v4/weaviate/graphql"
	"github.com/weaviate/weaviate/entities/models"
	"golang.org/x/sync/singleflight"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/analysis"
	"github.com/coachwire/coachwire/internal/thesaurus"
)

// TermClassName is the Weaviate collection holding every creator's vocabulary (one tenant per
// creator, like Chunk).
const TermClassName = "Term"

// IndexVersion is the version of the analysis chunks are written with. Chunks of an older
// version (other object ids) stay searchable until their document's new version is complete
// (DeleteChunksFrom); a reindex upgrades every document.
const IndexVersion = 2

// searchProperties are the properties BM25 matches against, with their BM25F weights: title
// and headings above the body; the analysed fields above the original words.
var searchProperties = []string{"title^3", "headings^2", "head_stemmed^3", "text_stemmed^2", "text"}

// termIDNamespace is the UUIDv5 namespace of vocabulary object ids.
var termIDNamespace = uuid.MustParse("8c1f0c52-4f0e-5d43-9b0e-61c1a1a0d7e2")

// vocabTTL is how long a creator's vocabulary and languages are used before being read again
// (in the background: a search never waits for a refresh, only for the first load).
const vocabTTL = time.Minute

// maxCachedVocabs bounds the creators whose vocabulary is kept in memory.
const maxCachedVocabs = 512

// minCorrectLen: shorter words are not corrected (too many neighbours within distance 2), nor
// corrections.
const minCorrectLen = 4

// minVocabLen: shorter words are not kept in the vocabulary. Three-letter words are ("bed",
// "leg", "day"): which of a foreign word's translations the creator uses is read from it.
const minVocabLen = 3

func termClass() *models.Class {
	falseP, trueP := new(bool), new(bool)
	*trueP = true
	return &models.Class{
		Class:       TermClassName,
		Description: "A word of a creator's documents (typo correction); one tenant per creator.",
		Vectorizer:  "none",
		MultiTenancyConfig: &models.MultiTenancyConfig{
			Enabled: true, AutoTenantCreation: false, AutoTenantActivation: false,
		},
		Properties: []*models.Property{
			{Name: "word", DataType: []string{"text"}, Tokenization: "field", IndexSearchable: falseP, IndexFilterable: trueP},
		},
	}
}

// analysed is a chunk's analysed fields.
type analysed struct {
	lang                     analysis.Lang
	headStemmed, textStemmed string
	words                    []string // distinct words, for the vocabulary
}

func analyse(c Chunk) analysed {
	d := analysis.Detect(c.Text[:min(len(c.Text), 1024)])
	lang := c.Lang
	if lang == "" || (d.Reliable() && len(c.Text) >= 200) {
		lang = d.Lang
	}
	if lang == "" {
		lang = analysis.Detect(c.Title + "\n" + c.Headings + "\n" + c.Heading).Lang
	}
	a := analysed{lang: lang}
	head := c.Title + " " + c.Headings
	if c.Headings == "" {
		head += " " + c.Heading
	}
	a.headStemmed = analysis.Analyze(lang, head)
	a.textStemmed = analysis.Analyze(lang, c.Text)
	seen := map[string]bool{}
	for _, w := range analysis.Words(head + " " + c.Text) {
		if len(w) >= minVocabLen && len(w) <= 40 && !seen[w] {
			seen[w] = true
			a.words = append(a.words, w)
		}
	}
	return a
}

// vocab is one creator's vocabulary and languages, as last read.
type vocab struct {
	words   map[string]bool
	byGram  map[string][]string // trigram → words holding it
	byBag   map[string][]string // sorted letters → words (transpositions share no trigram)
	stems   map[string]bool     // English stems of the words (which related words the documents use)
	langs   []analysis.Lang     // the creator's chunk languages, most chunks first
	cross   crossIndex          // the words by cognate key (xlang.go)
	loaded  time.Time
	loading bool
}

type vocabCache struct {
	mu sync.Mutex
	m  map[string]*vocab
	// cold makes concurrent first searches of a tenant share one load.
	cold singleflight.Group
}

// Query term weights: Weaviate's BM25 counts a term repeated in the query that many times, so a
// weight is a repetition. The question's own words (and their corrections and stems) weigh
// most; related words from the thesaurus less, broader ones least: a paraphrase still finds its
// section, and a section with the question's own words still ranks above one with only
// related words.
const (
	weightOwn     = 3
	weightRelated = 2
	weightBroader = 1
	weightPart    = 1 // a part of a hyphenated compound
)

// maxRelatedPerWord bounds the related words added per question word (those in the creator's
// vocabulary, thesaurus order: lemmas, synonyms of the frequent senses, derived forms).
const maxRelatedPerWord = 4

// queryText builds the BM25 query for q (cleaned) in tenant: its words without stop words,
// their corrections and their stems, lower-cased, at weightOwn; for an English question, the
// words related to them (internal/thesaurus) that the creator's documents use, at
// weightRelated or weightBroader.
func (s *Store) queryText(ctx context.Context, tenant, q string) string {
	text, _ := s.queryTerms(ctx, tenant, q)
	return text
}

// Weights of the words the search used for a question word, as the passages-mode reply counts
// them (events.Alternative): a correction, a translation, a cognate or the compound the word is
// part of stands for the word; a related word less, a broader one least.
const (
	altSame    = 1.0
	altRelated = 0.75
	altBroader = 0.5
)

// queryTerms is queryText and, per question word, the words the query used for it (corrections,
// translations, cognates, compounds, related words; not stems), with their weight.
func (s *Store) queryTerms(ctx context.Context, tenant, q string) (string, *events.Expansions) {
	v := s.vocabulary(ctx, tenant)
	var prior []analysis.Lang
	if v != nil {
		prior = v.langs
	}
	langs := analysis.DetectQuery(q, prior)
	if len(langs) > 3 {
		langs = langs[:3]
	}
	// The English-only steps (WordNet) apply when English is the query's first language, not
	// merely the fallback: "placer" in a French question is not the English word.
	english := len(langs) > 0 && langs[0] == analysis.English
	// The words are stemmed in those of the question's languages the documents are in: a stem
	// of another language matches only by chance ("nevera", Spanish, stems to "never").
	stemLangs := langs
	if v != nil && len(v.langs) > 0 {
		stemLangs = make([]analysis.Lang, 0, len(langs))
		for _, l := range langs {
			if slices.Contains(v.langs, l) {
				stemLangs = append(stemLangs, l)
			}
		}
		if len(stemLangs) == 0 {
			stemLangs = langs
		}
	}
	words := analysis.Words(q)
	// The question's languages when it is in another than the documents' (xlang.go).
	var foreignLangs []analysis.Lang
	if v != nil {
		_, foreignLangs, _, _ = crossLangs(v, words, langs)
	}
	// A hyphenated English compound is one word ("shut-eye" is "shuteye", not "shut" and "eye"):
	// its parts weigh least and bring no related words.
	part := make([]bool, len(words))
	if english {
		lq := strings.ToLower(q)
		for i := 0; i+1 < len(words); i++ {
			if strings.Contains(lq, words[i]+"-"+words[i+1]) && thesaurus.Known(words[i]+words[i+1]) {
				part[i], part[i+1] = true, true
			}
		}
	}
	var terms []string
	x := &events.Expansions{Words: map[string][]events.Alternative{}}
	alt := func(w, t string, wt float64) {
		if t == "" || t == w {
			return
		}
		for i, a := range x.Words[w] {
			if a.Word == t {
				x.Words[w][i].Weight = max(a.Weight, wt)
				return
			}
		}
		x.Words[w] = append(x.Words[w], events.Alternative{Word: t, Weight: wt})
	}
	weight := make(map[string]int, 4*len(words))
	add := func(t string, w int) {
		if t == "" {
			return
		}
		if old, ok := weight[t]; !ok {
			terms = append(terms, t)
		} else if old >= w {
			return
		}
		weight[t] = w
	}
	var related, relatedOf []string // question words (and their corrections) to expand; the question word of each
	for i, w := range words {
		if isStopIn(langs, w) || (english && len(w) == 1 && (w[0] < '0' || w[0] > '9')) {
			if !slices.Contains(x.Stop, w) {
				x.Stop = append(x.Stop, w)
			}
			continue
		}
		own := weightOwn
		if part[i] {
			own = weightPart
		} else if english {
			own = ownWeight(w)
			if v != nil && v.words[w] && !thesaurus.Known(w) {
				// A word of the documents WordNet does not know is a function word WordNet
				// leaves out ("without", "per") as often as a name: no more than the usual
				// weight. (A typo, which WordNet does not know either, keeps the weight of a
				// word of few senses.)
				own = weightOwn
			}
		}
		add(w, own)
		forms := []string{w}
		// A word of the vocabulary, an English word of an English question or of any question
		// to English documents, or a word of a question in another language than the
		// documents' (told or voted: crossLangs) that the lexicon knows in it, is what it
		// says: only others are corrected ("races" is not "laces" mistyped, German "Stunde"
		// not "stand", "warming" in a Dutch question not "warning").
		if v != nil && len(w) >= minCorrectLen && !v.words[w] &&
			!((english || slices.Contains(v.langs, analysis.English)) && thesaurus.Known(w)) && !inLexicon(foreignLangs, w) {
			if nearStop(langs, w) {
				continue // "shoud" is "should" mistyped, not a word to correct to content
			}
			for _, c := range v.corrections(w) {
				add(c, own)
				alt(w, c, altSame)
				forms = append(forms, c)
			}
		}
		for _, f := range forms {
			for _, l := range stemLangs {
				add(analysis.Stem(l, f), own)
			}
		}
		// A clipped English word ("carbs" for "carbohydrates", "reps" for "repetitions") the
		// documents do not use finds the long words it begins, weighed as a related word.
		if english && v != nil && !v.words[w] {
			for _, c := range v.clippedFrom(analysis.Stem(analysis.English, w)) {
				add(c, weightRelated)
				add(analysis.Stem(analysis.English, c), weightRelated)
				alt(w, c, altRelated)
			}
		}
		if !part[i] {
			related = append(related, forms...)
			for range forms {
				relatedOf = append(relatedOf, w)
			}
		}
	}
	// Another language than the documents' (xlang.go).
	cross, unknown := crossTermsNoted(v, words, langs, func(w, t string, wt float64) { alt(w, t, wt) })
	for _, t := range cross {
		add(t.term, t.weight)
	}
	x.Stop = append(x.Stop, unknown...) // words it could not look for: not counted against a passage
	if len(terms) == 0 {
		return q, nil // only stop words: search them as they are
	}
	if english && v != nil {
		// Compounds written apart or hyphenated: "shut-eye" is "shuteye", "work out" "workout".
		for i := 0; i+1 < len(words); i++ {
			if j := words[i] + words[i+1]; thesaurus.Known(j) {
				related = append(related, j, j)
				relatedOf = append(relatedOf, words[i], words[i+1])
				if v.has(j) {
					add(j, ownWeight(j))
					alt(words[i], j, altSame)
					alt(words[i+1], j, altSame)
				}
			}
		}
		for k, w := range related {
			near, broader := thesaurus.Related(w)
			n := 0
			expand := func(list []string, wt int, aw float64) {
				for _, r := range list {
					if n == maxRelatedPerWord {
						return
					}
					if isStopIn(langs, r) || !v.has(r) {
						continue
					}
					n++
					add(r, wt)
					add(analysis.Stem(analysis.English, r), wt)
					alt(relatedOf[k], r, aw)
				}
			}
			expand(near, weightRelated, altRelated)
			expand(broader, weightBroader, altBroader)
		}
	}
	var b strings.Builder
	for _, t := range terms {
		for range weight[t] {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(t)
		}
	}
	if len(x.Words) == 0 && len(x.Stop) == 0 {
		x = nil
	}
	return b.String(), x
}

// commonTagged is how often a word must occur in WordNet's sense-tagged corpus to count as a
// common English word ("many" 347, "always" 196, "water" 189; "sleep" 82, "coffee" 46).
const commonTagged = 100

// ownWeight is the weight of an English question's own word: lower for a word of many senses,
// and one lower for a common word.
func ownWeight(w string) int {
	wt := weightOwn - 2
	switch n := thesaurus.Senses(w); {
	case n <= 5:
		wt = weightOwn + 1
	case n <= 12:
		wt = weightOwn
	case n <= 24:
		wt = weightOwn - 1
	}
	if wt > 1 && thesaurus.Tagged(w) >= commonTagged {
		wt--
	}
	return wt
}

// inLexicon reports whether w is a lexicon word of one of langs.
func inLexicon(langs []analysis.Lang, w string) bool {
	return slices.ContainsFunc(langs, func(l analysis.Lang) bool { return analysis.InLexicon(l, w) })
}

func isStopIn(langs []analysis.Lang, w string) bool {
	for _, l := range langs {
		if analysis.IsStop(l, w) {
			return true
		}
	}
	return false
}

// nearStop reports whether w is one edit from a stop word of langs.
func nearStop(langs []analysis.Lang, w string) bool {
	for _, l := range langs {
		if analysis.NearStop(l, w) {
			return true
		}
	}
	return false
}

// bag is w's letters, sorted.
func bag(w string) string {
	r := []rune(w)
	slices.Sort(r)
	return string(r)
}

func trigrams(w string) []string {
	r := []rune("^" + w + "$")
	out := make([]string, 0, len(r))
	for i := 0; i+3 <= len(r); i++ {
		out = append(out, string(r[i:i+3]))
	}
	return out
}

// clippedFrom returns the vocabulary words that stem is a clipping of: words beginning with it
// at least minClipExtra letters longer (the shortest two; none for a stem under 4 letters).
func (v *vocab) clippedFrom(stem string) []string {
	if len(stem) < minCorrectLen {
		return nil
	}
	var out []string
	for _, c := range v.byGram["^"+stem[:2]] {
		if len(c) >= len(stem)+minClipExtra && strings.HasPrefix(c, stem) {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b string) int { return cmp.Or(len(a)-len(b), strings.Compare(a, b)) })
	return out[:min(len(out), 2)]
}

// minClipExtra: a clipping drops at least this many letters of its word.
const minClipExtra = 5

// has reports whether the creator's documents use w or another English form of it (a word of
// the same stem: "recovery" for "recover").
func (v *vocab) has(w string) bool {
	return v.words[w] || v.stems[analysis.Stem(analysis.English, w)]
}

// maxCorrections bounds the corrections of one word.
const maxCorrections = 3

// correct returns the vocabulary word nearest to w (corrections' first; "" for none).
func (v *vocab) correct(w string) string {
	if cs := v.corrections(w); len(cs) > 0 {
		return cs[0]
	}
	return ""
}

// corrections returns the vocabulary words nearest to w within edit distance 2 (1 for a word of
// up to 5 letters): all those at the smallest distance, at most maxCorrections, those sharing
// most trigrams with w first, then in alphabetical order. Two swapped letters count as one edit
// (Levenshtein counts them as two). A typo may be as near to several words ("stes": "sets",
// "step"): the search takes them all and the question's other words decide.
func (v *vocab) corrections(w string) []string {
	counts := map[string]int{}
	for _, g := range trigrams(w) {
		for _, c := range v.byGram[g] {
			counts[c]++
		}
	}
	n := len([]rune(w))
	// Each edit changes at most 3 trigrams: a word within distance 2 shares all but 6.
	need := max(1, n-6)
	for _, c := range v.byBag[bag(w)] {
		counts[c] = max(counts[c], need)
	}
	// As search engines' "auto" fuzziness: one edit for a word of up to 5 letters, two above
	// ("keep" is not "sleep" mistyped).
	maxD := 2
	if n <= 5 {
		maxD = 1
	}
	type cand struct {
		w         string
		d, shared int
	}
	var cs []cand
	for c, shared := range counts {
		if shared < need {
			continue
		}
		if d := len([]rune(c)) - n; d > 2 || d < -2 {
			continue
		}
		d := levenshtein.ComputeDistance(w, c)
		if d == 2 && len(c) == len(w) && bag(c) == bag(w) {
			d = 1
		}
		if d <= maxD {
			cs = append(cs, cand{c, d, shared})
		}
	}
	slices.SortFunc(cs, func(a, b cand) int {
		if a.d != b.d {
			return a.d - b.d
		}
		if a.shared != b.shared {
			return b.shared - a.shared
		}
		return strings.Compare(a.w, b.w)
	})
	var out []string
	for _, c := range cs {
		if c.d > cs[0].d || len(out) == maxCorrections {
			break
		}
		out = append(out, c.w)
	}
	return out
}

// vocabulary returns the tenant's vocabulary (nil when it cannot be read: the query goes on
// without corrections and priors). A stale one is returned while a refresh runs.
func (s *Store) vocabulary(ctx context.Context, tenant string) *vocab {
	s.vocabs.mu.Lock()
	if s.vocabs.m == nil {
		s.vocabs.m = map[string]*vocab{}
	}
	v := s.vocabs.m[tenant]
	if v != nil {
		if time.Since(v.loaded) > vocabTTL && !v.loading {
			v.loading = true
			go s.refreshVocab(context.WithoutCancel(ctx), tenant)
		}
		s.vocabs.mu.Unlock()
		return v
	}
	s.vocabs.mu.Unlock()
	loaded, _, _ := s.vocabs.cold.Do(tenant, func() (any, error) { return s.refreshVocab(ctx, tenant), nil })
	return loaded.(*vocab)
}

func (s *Store) refreshVocab(ctx context.Context, tenant string) *vocab {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := s.loadVocab(ctx, tenant)
	if err == nil {
		s.keepCross(tenant, v) // xlang.go
	}
	s.vocabs.mu.Lock()
	defer s.vocabs.mu.Unlock()
	if err != nil {
		s.log.Warn("knowledge: vocabulary not read: searching without typo correction", "tenant", tenant, "err", err)
		if old := s.vocabs.m[tenant]; old != nil {
			old.loading, old.loaded = false, time.Now()
			return old
		}
		return nil
	}
	if len(s.vocabs.m) >= maxCachedVocabs && s.vocabs.m[tenant] == nil {
		for k := range s.vocabs.m { // drop any one: a cache, not a store
			delete(s.vocabs.m, k)
			break
		}
	}
	s.vocabs.m[tenant] = v
	return v
}

// forgetVocab drops the tenant's cached vocabulary (after this Store wrote to it).
func (s *Store) forgetVocab(tenant string) {
	s.vocabs.mu.Lock()
	if v := s.vocabs.m[tenant]; v != nil {
		v.loaded = time.Time{}
	}
	s.vocabs.mu.Unlock()
}

// maxVocab bounds the words read per creator.
const maxVocab = 200_000

func (s *Store) loadVocab(ctx context.Context, tenant string) (*vocab, error) {
	v := &vocab{words: map[string]bool{}, byGram: map[string][]string{}, byBag: map[string][]string{}, stems: map[string]bool{}, loaded: time.Now()}
	after := ""
	for len(v.words) < maxVocab {
		words, last, err := s.readTerms(ctx, tenant, after)
		if err != nil {
			return nil, err
		}
		for _, w := range words {
			if !v.words[w] {
				v.words[w] = true
				v.stems[analysis.Stem(analysis.English, w)] = true
				if len(w) < minCorrectLen {
					continue // not a correction
				}
				for _, g := range trigrams(w) {
					v.byGram[g] = append(v.byGram[g], w)
				}
				v.byBag[bag(w)] = append(v.byBag[bag(w)], w)
			}
		}
		if len(words) < termPage {
			break
		}
		after = last
	}
	langs, err := s.readLangs(ctx, tenant)
	if err != nil {
		return nil, err
	}
	v.langs = langs
	return v, nil
}

const termPage = 10_000

// readTerms reads one page of the tenant's vocabulary after the object id after.
func (s *Store) readTerms(ctx context.Context, tenant, after string) (words []string, last string, err error) {
	get := s.client.GraphQL().Get().WithClassName(TermClassName).WithTenant(tenant).WithLimit(termPage).
		WithFields(graphql.Field{Name: "word"}, graphql.Field{Name: "_additional", Fields: []graphql.Field{{Name: "id"}}})
	if after != "" {
		get = get.WithAfter(after)
	}
	resp, err := get.Do(ctx)
	if err != nil {
		return nil, "", err
	}
	if len(resp.Errors) > 0 {
		return nil, "", fmt.Errorf("%s", resp.Errors[0].Message)
	}
	g, _ := resp.Data["Get"].(map[string]any)
	items, _ := g[TermClassName].([]any)
	for _, it := range items {
		m, _ := it.(map[string]any)
		if w := str(m["word"]); w != "" {
			words = append(words, w)
		}
		if add, ok := m["_additional"].(map[string]any); ok {
			last = str(add["id"])
		}
	}
	return words, last, nil
}

// readLangs returns the languages of the tenant's chunks, most chunks first.
func (s *Store) readLangs(ctx context.Context, tenant string) ([]analysis.Lang, error) {
	resp, err := s.client.GraphQL().Aggregate().WithClassName(ClassName).WithTenant(tenant).WithGroupBy("lang").
		WithFields(graphql.Field{Name: "groupedBy", Fields: []graphql.Field{{Name: "value"}}},
			graphql.Field{Name: "meta", Fields: []graphql.Field{{Name: "count"}}}).Do(ctx)
	if err != nil {
		return nil, err
	}
	if len(resp.Errors) > 0 {
		return nil, fmt.Errorf("%s", resp.Errors[0].Message)
	}
	agg, _ := resp.Data["Aggregate"].(map[string]any)
	items, _ := agg[ClassName].([]any)
	type lc struct {
		l analysis.Lang
		n float64
	}
	var ls []lc
	for _, it := range items {
		m, _ := it.(map[string]any)
		gb, _ := m["groupedBy"].(map[string]any)
		meta, _ := m["meta"].(map[string]any)
		n, _ := meta["count"].(float64)
		if l := analysis.Lang(str(gb["value"])); l != "" {
			ls = append(ls, lc{l, n})
		}
	}
	slices.SortStableFunc(ls, func(a, b lc) int {
		switch {
		case a.n > b.n:
			return -1
		case a.n < b.n:
			return 1
		}
		return strings.Compare(string(a.l), string(b.l))
	})
	out := make([]analysis.Lang, 0, len(ls))
	for _, x := range ls {
		out = append(out, x.l)
	}
	return out, nil
}

// upsertTerms adds words to the tenant's vocabulary (ids from the word: idempotent).
func (s *Store) upsertTerms(ctx context.Context, tenant string, words []string) error {
	for start := 0; start < len(words); start += 1000 {
		part := words[start:min(start+1000, len(words))]
		objs := make([]*models.Object, 0, len(part))
		for _, w := range part {
			objs = append(objs, &models.Object{Class: TermClassName, Tenant: tenant,
				ID: strfmtUUID(uuid.NewSHA1(termIDNamespace, []byte(w))), Properties: map[string]any{"word": w}})
		}
		resp, err := s.client.Batch().ObjectsBatcher().WithObjects(objs...).Do(ctx)
		if err != nil {
			return fmt.Errorf("knowledge: vocabulary upsert: %w", err)
		}
		for _, r := range resp {
			if r.Result != nil && r.Result.Errors != nil {
				for _, e := range r.Result.Errors.Error {
					if e != nil {
						return fmt.Errorf("knowledge: vocabulary upsert: %s", e.Message)
					}
				}
			}
		}
	}
	return nil
}

// dedupe keeps the first passage of each (document, chunk index): while a document is being
// reindexed its chunks of the old and the new version are both in the index, and the passages
// arrive best first, so the kept one is the better scored.
func dedupe(ps []Passage, limit int) []Passage {
	type key struct {
		d uuid.UUID
		i int
	}
	seen := make(map[key]bool, len(ps))
	out := make([]Passage, 0, min(len(ps), limit))
	for _, p := range ps {
		k := key{p.DocumentID, p.ChunkIndex}
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, p)
		if len(out) == limit {
			break
		}
	}
	return out
}
