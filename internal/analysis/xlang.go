package analysis

// Questions in another language than the documents: a bilingual lexicon (query translation)
// and cognate keys (words that look alike across languages), both at the level of the
// analysed form (Snowball stem, accent-folded). docs/architecture.md, "Retrieval".

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/binary"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
)

// lexiconData is the bilingual lexicon derived from Unicode CLDR (lexicon/NOTICE.md says where
// from, under which licence, and how it is regenerated): one line per word of a language,
// sorted by language then key, "from<TAB>key<TAB>to:words<TAB>to:words...", key the word's
// Snowball stem in from, accent-folded, and words its translations into to, best first.
//
//go:embed lexicon/lexicon.tsv.gz
var lexiconData []byte

// wikdictData is a second lexicon of the same form, derived from Wiktionary (WikDict): a
// separate file because its licence is another (CC BY-SA 3.0, lexicon/NOTICE.md). It has the
// everyday and domain words CLDR lacks ("agachamento" → "squat"); a word's CLDR translations
// come first.
//
//go:embed lexicon/wikdict.tsv.gz
var wikdictData []byte

// table is one decompressed lexicon and, per language, the offsets of its lines: a lookup is
// a binary search, and loading allocates the text and the offsets only.
type table struct {
	text  string
	lines map[Lang][]uint32
}

// lexicon holds the tables, CLDR's first.
var lexicon struct {
	once   sync.Once
	tables []table
}

func loadTable(data []byte) table {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		panic("analysis: embedded lexicon: " + err.Error()) // built into the binary: cannot happen
	}
	var sb strings.Builder
	// The decompressed size, from the gzip trailer (ISIZE): one allocation.
	sb.Grow(int(binary.LittleEndian.Uint32(data[len(data)-4:])))
	if _, err := io.Copy(&sb, zr); err != nil {
		panic("analysis: embedded lexicon: " + err.Error())
	}
	text := sb.String()
	lines := map[Lang][]uint32{}
	for off := 0; off < len(text); {
		end := strings.IndexByte(text[off:], '\n')
		if end < 0 {
			end = len(text) - off
		}
		if from, _, ok := strings.Cut(text[off:off+end], "\t"); ok && !strings.HasPrefix(from, "#") {
			lines[Lang(from)] = append(lines[Lang(from)], uint32(off))
		}
		off += end + 1
	}
	return table{text, lines}
}

func loadLexicon() {
	lexicon.tables = []table{loadTable(lexiconData), loadTable(wikdictData)}
}

// LoadLexicon reads the embedded lexicon now (it is otherwise read by the first lookup, which
// then takes some milliseconds).
func LoadLexicon() { lexicon.once.Do(loadLexicon) }

// lookup returns the translations of key, a word of from, in table t ("to:words" fields
// separated by tabs), and whether the table has the word.
func (t *table) lookup(from Lang, key string) (string, bool) {
	ls := t.lines[from]
	skip := len(from) + 1 // "from\t"
	// cmp compares line i's key with key without cutting the line out.
	cmp := func(i int) int {
		line := t.text[int(ls[i])+skip:]
		for j := 0; ; j++ {
			switch {
			case j == len(line) || line[j] == '\t':
				if j == len(key) {
					return 0
				}
				return -1
			case j == len(key):
				return 1
			case line[j] != key[j]:
				return int(line[j]) - int(key[j])
			}
		}
	}
	i := sort.Search(len(ls), func(i int) bool { return cmp(i) >= 0 })
	if i == len(ls) || cmp(i) != 0 {
		return "", false
	}
	line := t.text[int(ls[i])+skip+len(key):]
	if n := strings.IndexByte(line, '\n'); n >= 0 {
		line = line[:n]
	}
	return strings.TrimPrefix(line, "\t"), true
}

// Translate returns the translations into to of word (lower-cased) read as a word of from,
// best first (nil when the lexicon has none): CLDR's, then Wiktionary's it does not repeat.
// The lexicon is keyed by the word's stem, so any inflected form finds it; the translations
// are plain words, to be analysed in to.
func Translate(from, to Lang, word string) []string {
	return translate(from, to, word, 0)
}

// TranslateDictionary is Translate from the Wiktionary lexicon alone: pairs of words a
// dictionary gives, not CLDR's, which pairs the keywords emoji share loosely (English "major"
// → Spanish "contraseña").
func TranslateDictionary(from, to Lang, word string) []string {
	return translate(from, to, word, wiktionary)
}

// wiktionary is the index of the Wiktionary lexicon in lexicon.tables.
const wiktionary = 1

// translate is Translate reading the tables from the first-th on.
func translate(from, to Lang, word string, first int) []string {
	if from == to {
		return nil
	}
	LoadLexicon()
	key := Fold(Stem(from, word))
	var out []string
	for i := first; i < len(lexicon.tables); i++ {
		t, ok := lexicon.tables[i].lookup(from, key)
		if !ok {
			continue
		}
		for f := range strings.SplitSeq(t, "\t") {
			if ws, ok := strings.CutPrefix(f, string(to)+":"); ok {
				for w := range strings.FieldsSeq(ws) {
					if !slices.Contains(out, w) {
						out = append(out, w)
					}
				}
			}
		}
	}
	return out
}

// InLexicon reports whether word (lower-cased) is a word of lang in the lexicon: for a word
// that the documents do not hold, a sign that it is a word of lang (or, of the documents'
// language, that it is not foreign).
func InLexicon(lang Lang, word string) bool {
	LoadLexicon()
	key := Fold(Stem(lang, word))
	for i := range lexicon.tables {
		if _, ok := lexicon.tables[i].lookup(lang, key); ok {
			return true
		}
	}
	return false
}

// compounding are the analysed languages that write compounds as one word.
var compounding = map[Lang]bool{German: true, Dutch: true}

// linking are the letters that may join the parts of a compound ("Mittag-s-schlaf").
var linking = []string{"", "s", "es", "n", "en", "e"}

// Decompound splits a compound word (lower-cased) of German or Dutch into the words of the
// lexicon it is made of: two parts both in the lexicon ("laufschuhe" → "lauf", "schuhe"),
// else its longest last part in the lexicon, which names what the compound is a kind of
// ("mittagsschlaf" → "schlaf"); nil when lang does not compound or no part is in the lexicon.
// Parts are at least 4 letters (3 for the first of two known parts).
func Decompound(lang Lang, word string) []string {
	if !compounding[lang] {
		return nil
	}
	r := []rune(word)
	var last string
	for i := 3; i+4 <= len(r); i++ {
		head, tail := string(r[:i]), string(r[i:])
		if !InLexicon(lang, tail) {
			continue
		}
		for _, l := range linking {
			h, ok := strings.CutSuffix(head, l)
			if ok && len([]rune(h)) >= 3 && InLexicon(lang, h) {
				return []string{h, tail}
			}
		}
		if last == "" && i >= 4 {
			last = tail
		}
	}
	if last != "" {
		return []string{last}
	}
	return nil
}

// minCognate is the shortest cognate key that is matched by prefix (shorter stems are too
// common); minExactCognate the shortest matched only when the keys are equal ("fibr": Italian
// "fibra", English "fibre").
const (
	minCognate      = 5
	minExactCognate = 4
)

// Cognate returns the key by which word (lower-cased), read in lang, is compared with words of
// other languages: its stem, accent-folded, with the spellings that differ across the
// languages analysed brought together (ph/f, th/t, y/i, k/c, ct/t, doubled letters), so that
// "proteína" and "protein", "cafeína" and "caffeine", "maratón" and "marathon" share a key.
func Cognate(lang Lang, word string) string {
	s := Fold(Stem(lang, word))
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		var next byte
		if i+1 < len(s) {
			next = s[i+1]
		}
		switch {
		case (c == 'p' && next == 'h'):
			c = 'f'
			i++
		case (c == 't' && next == 'h'):
			i++
		case c == 'c' && next == 't':
			continue // ct → t
		case c == 'y':
			c = 'i'
		case c == 'k':
			c = 'c'
		}
		if len(b) > 0 && b[len(b)-1] == c {
			continue // doubled letters
		}
		b = append(b, c)
	}
	return string(b)
}

// CognatesMatch reports whether two cognate keys match: equal and of at least minExactCognate
// bytes, or both of at least minCognate bytes sharing all of the shorter but at most its last
// letter ("exercic" and "exercis").
func CognatesMatch(a, b string) bool {
	if a == b && len(a) >= minExactCognate {
		return true
	}
	if len(a) < minCognate || len(b) < minCognate {
		return false
	}
	n := min(len(a), len(b))
	p := 0
	for p < n && a[p] == b[p] {
		p++
	}
	return p >= n-1 && p >= minCognate
}

// CognatePrefix is the part of a cognate key by which candidates are indexed (every key that
// CognatesMatch pairs shares it).
func CognatePrefix(key string) string {
	switch {
	case len(key) < minExactCognate:
		return ""
	case len(key) < minCognate:
		return key // matched only by an equal key
	}
	return key[:minCognate]
}

// derivational are, per language, the suffixes that derive an adverb or adjective from a word
// the lexicon may hold, longest first: Romance adverbs in -mente/-ment ("gradualmente" →
// "gradual"), Dutch adjectives and adverbs in -lijk(s) ("wekelijks" → "wek", the stem of
// "week"), German ones in -lich ("täglich" → "täg": "Tag" folded). A rule per language
// pattern, not per word.
var derivational = map[Lang][]string{
	Spanish:    {"mente"},
	Portuguese: {"mente"},
	Italian:    {"mente"},
	French:     {"ement", "ment"},
	Dutch:      {"elijkse", "elijks", "elijke", "elijk", "lijkse", "lijks", "lijke", "lijk"},
	German:     {"lichen", "licher", "liches", "liche", "lich"},
}

// Underive returns word (lower-cased) of lang without a derivational suffix (derivational),
// when at least 3 letters remain; "" when it has none.
func Underive(lang Lang, word string) string {
	for _, suf := range derivational[lang] {
		if base, ok := strings.CutSuffix(word, suf); ok && len([]rune(base)) >= 3 {
			return base
		}
	}
	return ""
}
