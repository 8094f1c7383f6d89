//go:build ignore

// gen derives the bilingual lexicon (lexicon.tsv.gz) from Unicode CLDR JSON data, as published
// on the npm registry (cldr-annotations-full, cldr-units-full, cldr-dates-full): run
// generate.sh, which fetches the pinned versions and runs this program.
//
// CLDR names the same things in every language: an emoji's keywords and name (annotations),
// a unit's name (units), a date field, weekday, month or period of the day (dates). Each of these is a concept
// with a set of words per language. Two words of two languages translate each other when they
// name the same concepts: for every ordered pair of the analysed languages, each word (its
// Snowball stem, accent-folded) is paired with the words of the other language whose concepts
// overlap its own most (Dice coefficient over the concepts, at least minDice, and at least half
// the best), the best maxPerWord of them. Ties go to a word of the concept's name, then to a
// look-alike (shared cognate key); a pair resting on one shared concept whose words tie by
// more than two must be one of those (a concept's keywords all pair with each other).
//
// The output has one line per word of a language, sorted by language then key:
// "from<TAB>key<TAB>to:word word<TAB>to:word...", gzipped without a timestamp, so that the
// same input gives the same bytes.
//
// Usage: go run gen.go -cldr DIR -out lexicon.tsv.gz, DIR holding the unpacked packages
// (DIR/cldr-annotations-full/annotations/..., DIR/cldr-units-full/main/..., ...).
//
// With -wikdict DIR instead, the concepts are the senses of the FreeDict+WikDict dictionaries
// (Wiktionary, CC BY-SA 3.0) of DIR (see wikdict below), paired the same way, and the output
// is the separate file wikdict.tsv.gz (NOTICE.md: its own licence).
package main

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"unicode"

	"github.com/coachwire/coachwire/internal/analysis"
)

const (
	minDice    = 0.3
	maxPerWord = 6
	minLen     = 3
	// minCog is the shared start of cognate keys that makes a pair of words look alike.
	minCog = 4
)

// variants are the CLDR locales merged into each language (a regional locale lists only the
// words that differ).
var variants = map[analysis.Lang][]string{
	analysis.English:    {"en", "en-001", "en-GB"},
	analysis.Spanish:    {"es", "es-419"},
	analysis.Portuguese: {"pt", "pt-PT"},
	analysis.French:     {"fr", "fr-CA"},
	analysis.German:     {"de", "de-CH"},
	analysis.Italian:    {"it"},
	analysis.Dutch:      {"nl"},
}

// concept is one thing CLDR names: per language, the words of its name and of its keywords.
type concept struct {
	name, words map[analysis.Lang]map[string]bool
}

var concepts = map[string]*concept{}

func add(id string, lang analysis.Lang, text string, isName bool) {
	c := concepts[id]
	if c == nil {
		c = &concept{name: map[analysis.Lang]map[string]bool{}, words: map[analysis.Lang]map[string]bool{}}
		concepts[id] = c
	}
	for _, w := range analysis.Words(text) {
		if len([]rune(w)) < minLen || analysis.IsStop(lang, w) || strings.IndexFunc(w, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsMark(r) }) >= 0 {
			continue
		}
		m := c.words
		if isName {
			m = c.name
		}
		if m[lang] == nil {
			m[lang] = map[string]bool{}
		}
		m[lang][w] = true
		if isName {
			if c.words[lang] == nil {
				c.words[lang] = map[string]bool{}
			}
			c.words[lang][w] = true
		}
	}
}

func readJSON(path string, v any) bool {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return false
	}
	if err != nil {
		log.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		log.Fatalf("%s: %v", path, err)
	}
	return true
}

func annotations(dir string, lang analysis.Lang, loc string) {
	var f struct {
		Annotations struct {
			Annotations map[string]struct {
				Default []string `json:"default"`
				TTS     []string `json:"tts"`
			} `json:"annotations"`
		} `json:"annotations"`
	}
	if !readJSON(filepath.Join(dir, "cldr-annotations-full", "annotations", loc, "annotations.json"), &f) {
		return
	}
	for ch, a := range f.Annotations.Annotations {
		for _, t := range a.TTS {
			add("emoji:"+ch, lang, t, true)
		}
		for _, k := range a.Default {
			add("emoji:"+ch, lang, k, false)
		}
	}
}

func units(dir string, lang analysis.Lang, loc string) {
	var f struct {
		Main map[string]struct {
			Units struct {
				Long map[string]map[string]any `json:"long"`
			} `json:"units"`
		} `json:"main"`
	}
	if !readJSON(filepath.Join(dir, "cldr-units-full", "main", loc, "units.json"), &f) {
		return
	}
	for _, m := range f.Main {
		for unit, fields := range m.Units.Long {
			for k, v := range fields {
				s, ok := v.(string)
				if !ok || (k != "displayName" && !strings.HasPrefix(k, "unitPattern-count-")) {
					continue
				}
				add("unit:"+unit, lang, strings.ReplaceAll(s, "{0}", ""), k == "displayName")
			}
		}
	}
}

func dates(dir string, lang analysis.Lang, loc string) {
	var df struct {
		Main map[string]struct {
			Dates struct {
				Fields map[string]map[string]any `json:"fields"`
			} `json:"dates"`
		} `json:"main"`
	}
	if readJSON(filepath.Join(dir, "cldr-dates-full", "main", loc, "dateFields.json"), &df) {
		for _, m := range df.Main {
			for field, v := range m.Dates.Fields {
				if strings.Contains(field, "-") { // -short, -narrow: abbreviations
					continue
				}
				for k, x := range v {
					s, ok := x.(string)
					if !ok {
						continue
					}
					switch {
					case k == "displayName":
						add("field:"+field, lang, s, true)
					case strings.HasPrefix(k, "relative-type-"): // yesterday, today, tomorrow
						add("field:"+field+":"+k, lang, s, true)
					}
				}
			}
		}
	}
	var g struct {
		Main map[string]struct {
			Dates struct {
				Calendars struct {
					Gregorian struct {
						Months map[string]map[string]map[string]string `json:"months"`
						Days   map[string]map[string]map[string]string `json:"days"`
						// DayPeriods: noon, midnight, morning, evening, night (morning1, …:
						// each locale's own division of the day).
						DayPeriods map[string]map[string]map[string]string `json:"dayPeriods"`
					} `json:"gregorian"`
				} `json:"calendars"`
			} `json:"dates"`
		} `json:"main"`
	}
	if readJSON(filepath.Join(dir, "cldr-dates-full", "main", loc, "ca-gregorian.json"), &g) {
		for _, m := range g.Main {
			for k, s := range m.Dates.Calendars.Gregorian.Months["format"]["wide"] {
				add("month:"+k, lang, s, true)
			}
			for k, s := range m.Dates.Calendars.Gregorian.Days["format"]["wide"] {
				add("weekday:"+k, lang, s, true)
			}
			for k, s := range m.Dates.Calendars.Gregorian.DayPeriods["stand-alone"]["wide"] {
				if k != "am" && k != "pm" && !strings.Contains(k, "-alt-") {
					add("dayperiod:"+k, lang, s, true)
				}
			}
		}
	}
}

// wikdictLangs are the FreeDict codes of the analysed languages.
var wikdictLangs = map[string]analysis.Lang{
	"eng": analysis.English, "spa": analysis.Spanish, "por": analysis.Portuguese, "fra": analysis.French,
	"deu": analysis.German, "ita": analysis.Italian, "nld": analysis.Dutch,
}

// wikdict reads the FreeDict+WikDict dictionaries (dictd format) of dir, named
// freedict-PIVOT-TO.dict.dz, PIVOT a language that is not analysed: each sense of a headword
// of PIVOT (headword, part of speech and the sense's gloss, which every dictionary from PIVOT
// shares: they are all made from PIVOT's Wiktionary) is a concept, its one-word translations
// into the analysed languages its words (the words of a longer one, "natación sincronizada",
// pair with the wrong words). Proper names are left out.
func wikdict(dir string) {
	files, err := filepath.Glob(filepath.Join(dir, "freedict-*-*.dict.dz"))
	if err != nil {
		log.Fatal(err)
	}
	sort.Strings(files)
	for _, file := range files {
		pair := strings.Split(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(file), "freedict-"), ".dict.dz"), "-")
		to, ok := wikdictLangs[pair[1]]
		if len(pair) != 2 || !ok || wikdictLangs[pair[0]] != "" {
			continue
		}
		fh, err := os.Open(file)
		if err != nil {
			log.Fatal(err)
		}
		zr, err := gzip.NewReader(fh) // dictzip is gzip
		if err != nil {
			log.Fatalf("%s: %v", file, err)
		}
		b, err := io.ReadAll(zr)
		if err != nil {
			log.Fatalf("%s: %v", file, err)
		}
		fh.Close()
		idx, err := os.ReadFile(strings.TrimSuffix(file, ".dict.dz") + ".index")
		if err != nil {
			log.Fatal(err)
		}
		for line := range strings.SplitSeq(string(idx), "\n") {
			f := strings.Split(line, "\t")
			if len(f) != 3 || strings.HasPrefix(f[0], "00") {
				continue
			}
			off, n := b64(f[1]), b64(f[2])
			if off+n > len(b) {
				log.Fatalf("%s: entry %q out of range", file, f[0])
			}
			entry(pair[0], to, string(b[off:off+n]))
		}
	}
}

// b64 decodes a dictd index number (base 64, most significant digit first).
func b64(s string) int {
	const digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	n := 0
	for _, c := range s {
		n = n*64 + strings.IndexRune(digits, c)
	}
	return n
}

// entry adds the senses of one dictd entry of pivot → to: a headword line
// "headword /pronunciation/ <pos>", then per sense a line of translations (numbered "N. "
// when there are several senses) followed by the sense's gloss in pivot.
func entry(pivot string, to analysis.Lang, text string) {
	lines := strings.Split(strings.TrimSpace(text), "\n")
	head := lines[0]
	pos := ""
	if i := strings.LastIndex(head, " <"); i >= 0 && strings.HasSuffix(head, ">") {
		head, pos = head[:i], head[i+2:len(head)-1]
	}
	if i := strings.Index(head, " /"); i >= 0 {
		head = head[:i]
	}
	if pos == "pn" {
		return
	}
	type sense struct{ tr, gloss string }
	var senses []sense
	for i, l := range lines[1:] {
		num, rest, ok := strings.Cut(l, ". ")
		if ok && num != "" && strings.Trim(num, "0123456789") == "" {
			senses = append(senses, sense{tr: rest})
			continue
		}
		if i == 0 {
			senses = append(senses, sense{tr: l})
			continue
		}
		if len(senses) > 0 {
			senses[len(senses)-1].gloss += l + " "
		}
	}
	for i, s := range senses {
		id := fmt.Sprintf("wikdict:%s:%s:%s:%s", pivot, head, pos, s.gloss)
		if s.gloss == "" {
			id += fmt.Sprint("#", i)
		}
		for t := range strings.SplitSeq(s.tr, ",") {
			if len(strings.Fields(t)) == 1 {
				add(id, to, t, true)
			}
		}
	}
}

// fold is s without diacritics: the key a query word is looked up by.
func fold(s string) string { return analysis.Fold(s) }

func main() {
	dir := flag.String("cldr", "", "directory holding the unpacked CLDR packages")
	wd := flag.String("wikdict", "", "directory holding the FreeDict+WikDict dictionaries (instead of -cldr)")
	out := flag.String("out", "lexicon.tsv.gz", "output file")
	flag.Parse()
	header := "# derived from Unicode CLDR by internal/analysis/lexicon/gen.go; see NOTICE.md"
	if *wd != "" {
		header = "# derived from Wiktionary (WikDict, CC BY-SA 3.0) by internal/analysis/lexicon/gen.go; see NOTICE.md"
		wikdict(*wd)
	} else {
		for _, lang := range analysis.Supported {
			for _, loc := range variants[lang] {
				annotations(*dir, lang, loc)
				units(*dir, lang, loc)
				dates(*dir, lang, loc)
			}
		}
	}
	ids := make([]string, 0, len(concepts))
	for id := range concepts {
		ids = append(ids, id)
	}
	sort.Strings(ids)

	f, err := os.Create(*out)
	if err != nil {
		log.Fatal(err)
	}
	zw, _ := gzip.NewWriterLevel(f, gzip.BestCompression)
	w := bufio.NewWriter(zw)
	fmt.Fprintln(w, header)
	entries := 0
	for _, from := range analysis.Supported {
		// One line per word of from: its translations into every other language.
		byKey := map[string][]string{}
		for _, to := range analysis.Supported {
			if from == to {
				continue
			}
			for key, words := range pair(ids, from, to) {
				byKey[key] = append(byKey[key], string(to)+":"+strings.Join(words, " "))
			}
		}
		keys := make([]string, 0, len(byKey))
		for k := range byKey {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "%s\t%s\t%s\n", from, k, strings.Join(byKey[k], "\t"))
		}
		entries += len(keys)
	}
	if err := w.Flush(); err != nil {
		log.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
	log.Printf("%d concepts, %d entries", len(concepts), entries)
}

type stat struct {
	n      int
	surf   string // the shortest word of the stem (the one written out)
	naming map[string]int
}

// shared is the length of the common prefix of a and b.
func shared(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// pair returns the translations from → to of each word of from, by key (its folded stem).
func pair(ids []string, from, to analysis.Lang) map[string][]string {
	cFrom, cTo := map[string]*stat{}, map[string]*stat{}
	co := map[[2]string]int{}
	coName := map[[2]string]int{}
	stems := func(lang analysis.Lang, ws map[string]bool, into map[string]*stat) map[string]bool {
		out := map[string]bool{}
		for word := range ws {
			s := fold(analysis.Stem(lang, word))
			if len([]rune(s)) < minLen {
				continue
			}
			out[s] = true
			st := into[s]
			if st == nil {
				st = &stat{surf: word}
				into[s] = st
			}
			if len(word) < len(st.surf) || (len(word) == len(st.surf) && word < st.surf) {
				st.surf = word
			}
		}
		return out
	}
	for _, id := range ids {
		c := concepts[id]
		if len(c.words[from]) == 0 || len(c.words[to]) == 0 {
			continue
		}
		a := stems(from, c.words[from], cFrom)
		b := stems(to, c.words[to], cTo)
		an := stems(from, c.name[from], map[string]*stat{})
		bn := stems(to, c.name[to], map[string]*stat{})
		for x := range a {
			cFrom[x].n++
		}
		for y := range b {
			cTo[y].n++
		}
		for x := range a {
			for y := range b {
				co[[2]string{x, y}]++
				if an[x] && bn[y] {
					coName[[2]string{x, y}]++
				}
			}
		}
	}
	type cand struct {
		y            string
		dice         float64
		n, name, cog int
	}
	byX := map[string][]cand{}
	for k, n := range co {
		x, y := k[0], k[1]
		d := 2 * float64(n) / float64(cFrom[x].n+cTo[y].n)
		if d < minDice {
			continue
		}
		byX[x] = append(byX[x], cand{y, d, n, coName[k], shared(analysis.Cognate(from, cFrom[x].surf), analysis.Cognate(to, cTo[y].surf))})
	}
	xs := make([]string, 0, len(byX))
	for x := range byX {
		xs = append(xs, x)
	}
	sort.Strings(xs)
	out := map[string][]string{}
	for _, x := range xs {
		cs := byX[x]
		slices.SortFunc(cs, func(a, b cand) int {
			switch {
			case a.dice != b.dice:
				if a.dice > b.dice {
					return -1
				}
				return 1
			case a.name != b.name:
				return b.name - a.name
			case a.cog != b.cog:
				return b.cog - a.cog
			case a.n != b.n:
				return b.n - a.n
			}
			return strings.Compare(a.y, b.y)
		})
		// Of equals beyond the best, keep only those as good as the best: a word of a single
		// concept (its keywords all tie) keeps its name's words.
		best := cs[0]
		ties := 0
		for _, c := range cs {
			if c.dice == best.dice {
				ties++
			}
		}
		var words []string
		for i, c := range cs {
			if i >= maxPerWord || c.dice < best.dice*0.5 {
				break
			}
			if c.dice == best.dice && (c.name < best.name || c.cog < best.cog) {
				continue // a tie, less likely than the best: a keyword of the same single concept
			}
			// One shared concept says little when many words tie on it (a concept's keywords all
			// pair): the pair must also be of the concept's names, or look alike, or be one of
			// at most two.
			if c.n < 2 && c.name == 0 && c.cog < minCog && ties > 2 {
				continue
			}
			words = append(words, cTo[c.y].surf)
		}
		if len(words) == 0 {
			continue
		}
		out[x] = words
	}
	return out
}
