// Package analysis turns text into the terms the knowledge index searches: language detection
// (whatlanggo, restricted to the languages below), lower-cased words, Snowball stop-word lists
// (as shipped by bleve's analysis/lang packages) and Snowball stemmers (blevesearch/snowballstem).
// No rule here is hand-written: a word is a run of letters and digits (Unicode), everything
// else is a separator.
//
// It holds no state besides the read-only word lists and is safe for concurrent use.
package analysis

import (
	"bytes"
	"slices"
	"strings"
	"sync"
	"unicode"

	"github.com/abadojack/whatlanggo"
	"github.com/blevesearch/bleve/v2/analysis/lang/de"
	"github.com/blevesearch/bleve/v2/analysis/lang/en"
	"github.com/blevesearch/bleve/v2/analysis/lang/es"
	"github.com/blevesearch/bleve/v2/analysis/lang/fr"
	"github.com/blevesearch/bleve/v2/analysis/lang/it"
	"github.com/blevesearch/bleve/v2/analysis/lang/nl"
	"github.com/blevesearch/bleve/v2/analysis/lang/pt"
	snowball "github.com/blevesearch/snowballstem"
	"github.com/blevesearch/snowballstem/dutch"
	"github.com/blevesearch/snowballstem/english"
	"github.com/blevesearch/snowballstem/french"
	"github.com/blevesearch/snowballstem/german"
	"github.com/blevesearch/snowballstem/italian"
	"github.com/blevesearch/snowballstem/portuguese"
	"github.com/blevesearch/snowballstem/spanish"
)

// Lang is an ISO 639-1 language code; "" is unknown.
type Lang string

// The languages analysed (stemmed, stop words removed). Text in another language is indexed
// and searched as plain lower-cased words.
const (
	English    Lang = "en"
	Spanish    Lang = "es"
	Portuguese Lang = "pt"
	French     Lang = "fr"
	German     Lang = "de"
	Italian    Lang = "it"
	Dutch      Lang = "nl"
)

// Supported lists the analysed languages.
var Supported = []Lang{English, Spanish, Portuguese, French, German, Italian, Dutch}

type language struct {
	detect    whatlanggo.Lang
	stem      func(*snowball.Env) bool
	stop      map[string]bool
	stopWords []string
	// stopNear holds every stop word and every form of one with one letter deleted: w is
	// within one edit (substitution, insertion, deletion, swap) of a stop word when w or one of
	// its one-letter deletions is in it.
	stopNear map[string]bool
}

var languages = map[Lang]*language{
	English:    {detect: whatlanggo.Eng, stem: english.Stem, stop: stopList(en.EnglishStopWords)},
	Spanish:    {detect: whatlanggo.Spa, stem: spanish.Stem, stop: stopList(es.SpanishStopWords)},
	Portuguese: {detect: whatlanggo.Por, stem: portuguese.Stem, stop: stopList(pt.PortugueseStopWords)},
	French:     {detect: whatlanggo.Fra, stem: french.Stem, stop: stopList(fr.FrenchStopWords)},
	German:     {detect: whatlanggo.Deu, stem: german.Stem, stop: stopList(de.GermanStopWords)},
	Italian:    {detect: whatlanggo.Ita, stem: italian.Stem, stop: stopList(it.ItalianStopWords)},
	Dutch:      {detect: whatlanggo.Nld, stem: dutch.Stem, stop: stopList(nl.DutchStopWords)},
}

var (
	detectOptions = whatlanggo.Options{Whitelist: map[whatlanggo.Lang]bool{}}
	byDetected    = map[whatlanggo.Lang]Lang{}
)

func init() {
	for code, l := range languages {
		for w := range l.stop {
			l.stopWords = append(l.stopWords, w)
		}
		slices.Sort(l.stopWords)
		l.stopNear = map[string]bool{}
		for _, w := range l.stopWords {
			l.stopNear[w] = true
			for _, d := range deletions(w) {
				l.stopNear[d] = true
			}
		}
		detectOptions.Whitelist[l.detect] = true
		byDetected[l.detect] = code
	}
}

// stopList reads a list in the Snowball format: one word at the start of a line, "|" starts a
// comment.
func stopList(b []byte) map[string]bool {
	m := map[string]bool{}
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		if i := bytes.IndexByte(line, '|'); i >= 0 {
			line = line[:i]
		}
		for _, w := range bytes.Fields(line) {
			m[strings.ToLower(string(w))] = true
		}
	}
	return m
}

// Detection is a detected language with the detector's confidence (0..1).
type Detection struct {
	Lang       Lang
	Confidence float64
}

// Reliable reports whether the detection can be trusted on its own (long enough text, a clear
// winner); short queries rarely are.
func (d Detection) Reliable() bool { return d.Lang != "" && d.Confidence >= 0.5 }

// Detect returns the language of text among Supported ("" when the text has no letters of a
// Latin script).
func Detect(text string) Detection {
	if len(text) > 4096 {
		text = text[:4096] // trigram profiles settle long before: bound the work per chunk
	}
	info := whatlanggo.DetectWithOptions(text, detectOptions)
	l, ok := byDetected[info.Lang]
	if !ok {
		return Detection{}
	}
	return Detection{Lang: l, Confidence: info.Confidence}
}

// DetectQuery returns the languages to analyse a query in, best first: the query's own language
// when it can be told, then the prior languages (those of the creator's documents, most used
// first), then English. Duplicates are dropped.
//
// A query is short and a trigram profile (Detect) needs more text to be reliable, and costs
// tens of microseconds; a query is also full of function words. So the query's language is
// first voted by its stop words (the language whose list holds at least two of its words, more
// than any other's); only a longer query without a clear vote goes to Detect.
func DetectQuery(query string, prior []Lang) []Lang {
	var out []Lang
	add := func(l Lang) {
		if l != "" && languages[l] != nil && !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	words := Words(query)
	own := voteStopWords(words)
	if len(own) == 0 && len(words) >= 8 {
		if d := Detect(query); d.Reliable() {
			own = []Lang{d.Lang}
		}
	}
	for _, l := range own {
		add(l)
	}
	for _, l := range prior {
		add(l)
	}
	add(English)
	return out
}

// voteStopWords returns the languages whose stop words hold the most of words, at least two
// (several on a tie: Spanish and Portuguese share many), in Supported order.
func voteStopWords(words []string) []Lang {
	var best []Lang
	bestN := 2
	for _, code := range Supported {
		n := 0
		for _, w := range words {
			if languages[code].stop[w] {
				n++
			}
		}
		switch {
		case n > bestN:
			best, bestN = []Lang{code}, n
		case n == bestN:
			best = append(best, code)
		}
	}
	return best
}

// Words splits text into lower-cased words: runs of letters, marks and digits.
func Words(text string) []string {
	f := strings.FieldsFunc(text, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsMark(r)
	})
	for i, w := range f {
		f[i] = strings.ToLower(w)
	}
	return f
}

// IsStop reports whether word (lower-cased) is a stop word of lang.
func IsStop(lang Lang, word string) bool {
	l := languages[lang]
	return l != nil && l.stop[word]
}

// NearStop reports whether word (lower-cased) is within one edit of a stop word of lang: a
// mistyped function word ("shoud"), not a content word to search for.
func NearStop(lang Lang, word string) bool {
	l := languages[lang]
	if l == nil {
		return false
	}
	if l.stopNear[word] {
		return true
	}
	for _, d := range deletions(word) {
		if l.stopNear[d] {
			return true
		}
	}
	return false
}

// deletions returns w with each one of its letters deleted.
func deletions(w string) []string {
	r := []rune(w)
	out := make([]string, 0, len(r))
	for i := range r {
		out = append(out, string(r[:i])+string(r[i+1:]))
	}
	return out
}

// StopWords returns lang's stop words, sorted (nil for a language without a list). The slice is
// shared: do not modify it.
func StopWords(lang Lang) []string {
	if l := languages[lang]; l != nil {
		return l.stopWords
	}
	return nil
}

// Stem returns the Snowball stem of word (lower-cased) in lang; the word itself for a language
// without a stemmer. Stems are remembered (stemCache): building one query stems the same words
// many times (its words in each of its languages, lexicon keys, the creator's words).
func Stem(lang Lang, word string) string {
	l := languages[lang]
	if l == nil {
		return word
	}
	k := stemKey{lang, word}
	if s, ok := stems.get(k); ok {
		return s
	}
	env := snowball.NewEnv(word)
	l.stem(env)
	s := env.Current()
	stems.put(stemKey{lang, strings.Clone(word)}, s)
	return s
}

// stemCacheSize is how many stems a generation of the stem cache holds: a few thousand
// questions' words; the words of a document being indexed pass through it.
const stemCacheSize = 8192

type stemKey struct {
	lang Lang
	word string
}

// stemCache remembers recent stems in two generations: when the current one is full it becomes
// the previous one, and a stem found only there moves back into the current one.
type stemCache struct {
	mu        sync.Mutex
	cur, prev map[stemKey]string
}

var stems stemCache

func (c *stemCache) get(k stemKey) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.cur[k]; ok {
		return s, true
	}
	s, ok := c.prev[k]
	if ok {
		c.putLocked(k, s)
	}
	return s, ok
}

func (c *stemCache) put(k stemKey, s string) {
	c.mu.Lock()
	c.putLocked(k, s)
	c.mu.Unlock()
}

func (c *stemCache) putLocked(k stemKey, s string) {
	if len(c.cur) >= stemCacheSize || c.cur == nil {
		c.prev, c.cur = c.cur, make(map[stemKey]string, stemCacheSize)
	}
	c.cur[k] = s
}

// Terms returns the stemmed words of text in lang without its stop words.
func Terms(lang Lang, text string) []string {
	ws := Words(text)
	out := ws[:0]
	for _, w := range ws {
		if IsStop(lang, w) {
			continue
		}
		out = append(out, Stem(lang, w))
	}
	return out
}

// Analyze is Terms joined by spaces: the form stored in (and queried against) the index's
// stemmed fields, which Weaviate tokenizes on whitespace.
func Analyze(lang Lang, text string) string { return strings.Join(Terms(lang, text), " ") }
