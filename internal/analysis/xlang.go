package analysis

// Questions in another language than the documents: a bilingual lexicon (query translation)
// and cognate keys (words that look alike across languages), both at the level of the
// analysed form (Snowball stem, accent-folded). docs/architecture.md, "Retrieval".

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"io"
	"sort"
	"strings"
	"sync"
)

// lexiconData is the bilingual lexicon derived from Unicode CLDR (lexicon/NOTICE.md says where
// from, under which licence, and how it is regenerated): one line per word and direction,
// "from<TAB>to<TAB>key<TAB>words", key the folded stem of the word in from, words its
// translations in to (best first, space separated).
//
//go:embed lexicon/lexicon.tsv.gz
var lexiconData []byte

type direction struct{ from, to Lang }

// lexicon is the decompressed lexicon and, per direction, the offsets of its lines (sorted by
// key, as the generator writes them): a lookup is a binary search, and loading allocates the
// text and the offsets only.
var lexicon struct {
	once  sync.Once
	text  string
	lines map[direction][]uint32
}

func loadLexicon() {
	zr, err := gzip.NewReader(bytes.NewReader(lexiconData))
	if err != nil {
		panic("analysis: embedded lexicon: " + err.Error()) // built into the binary: cannot happen
	}
	var sb strings.Builder
	sb.Grow(5 << 20) // the decompressed size, about 4 MB: one allocation
	if _, err := io.Copy(&sb, zr); err != nil {
		panic("analysis: embedded lexicon: " + err.Error())
	}
	text := sb.String()
	lines := map[direction][]uint32{}
	var cur []uint32
	var curD direction
	for off := 0; off < len(text); {
		end := strings.IndexByte(text[off:], '\n')
		if end < 0 {
			end = len(text) - off
		}
		line := text[off : off+end]
		if from, rest, ok := strings.Cut(line, "\t"); ok && !strings.HasPrefix(line, "#") {
			to, _, _ := strings.Cut(rest, "\t")
			if d := (direction{Lang(from), Lang(to)}); d != curD {
				if cur != nil {
					lines[curD] = cur
				}
				curD, cur = d, lines[d]
			}
			cur = append(cur, uint32(off))
		}
		off += end + 1
	}
	if cur != nil {
		lines[curD] = cur
	}
	lexicon.text, lexicon.lines = text, lines
}

// LoadLexicon reads the embedded lexicon now (it is otherwise read by the first lookup, which
// then takes some milliseconds).
func LoadLexicon() { lexicon.once.Do(loadLexicon) }

// lookup returns the translations field of key in direction d ("" and false when absent).
func lookup(d direction, key string) (string, bool) {
	LoadLexicon()
	ls := lexicon.lines[d]
	prefix := len(d.from) + len(d.to) + 2 // "from\tto\t"
	field := func(i int) (k, rest string) {
		line := lexicon.text[ls[i]:]
		if n := strings.IndexByte(line, '\n'); n >= 0 {
			line = line[:n]
		}
		line = line[prefix:]
		k, rest, _ = strings.Cut(line, "\t")
		return k, rest
	}
	i := sort.Search(len(ls), func(i int) bool { k, _ := field(i); return k >= key })
	if i == len(ls) {
		return "", false
	}
	k, rest := field(i)
	return rest, k == key
}

// Translate returns the translations into to of word (lower-cased) read as a word of from,
// best first (nil when the lexicon has none). The lexicon is keyed by the word's stem, so any
// inflected form finds it; the translations are plain words, to be analysed in to.
func Translate(from, to Lang, word string) []string {
	if from == to {
		return nil
	}
	t, ok := lookup(direction{from, to}, Fold(Stem(from, word)))
	if !ok {
		return nil
	}
	return strings.Fields(t)
}

// InLexicon reports whether word (lower-cased) is a word of lang in the lexicon: for a word
// that the documents do not hold, a sign that it is a word of lang (or, of the documents'
// language, that it is not foreign).
func InLexicon(lang Lang, word string) bool {
	key := Fold(Stem(lang, word))
	for _, to := range Supported {
		if to == lang {
			continue
		}
		if _, ok := lookup(direction{lang, to}, key); ok {
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

// minCognate is the shortest cognate key that is matched (shorter stems are too common).
const minCognate = 5

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

// CognatesMatch reports whether two cognate keys match: both of at least minCognate bytes,
// sharing all of the shorter but at most its last letter ("exercic" and "exercis").
func CognatesMatch(a, b string) bool {
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
	if len(key) < minCognate {
		return ""
	}
	return key[:minCognate]
}
