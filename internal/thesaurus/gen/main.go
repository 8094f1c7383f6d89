// Command gen derives the thesaurus table (../wordnet.txt.gz) from the WordNet 3.0 database
// files (Debian package wordnet-base: /usr/share/wordnet; WordNet licence, see ../README.md).
// It is run by hand (go generate ./internal/thesaurus/) and its output committed: nothing is
// read from WordNet at run time.
//
// The table has one line per single-word lemma (lower-case letters, an inner hyphen or
// apostrophe):
//
//	lemma TAB parts-of-speech TAB senses TAB synonyms TAB derived TAB broader TAB tagged
//
// parts of speech: the letters of n(oun), v(erb), a(djective), r (adverb) it is; senses: how
// many senses it has in all (its polysemy);
// synonyms: the other single-word lemmas of its most frequent senses (at most maxSenses per part
// of speech, and only the senses seen in WordNet's sense-tagged corpus when there are any);
// derived: the derivationally related forms of the lemma in those senses ("recover" →
// "recovery"), the attributes of its adjective senses and the adjectives of its attribute
// senses ("strong" → "strength", "length" → "long") and, for adverbs, the adjective they derive
// from ("quietly" → "quiet"); broader: the lemmas of the
// hypernyms of the first noun sense ("espresso" → "coffee"); tagged: how often the lemma occurs,
// in any sense, in WordNet's sense-tagged corpus (cntlist.rev: "many" 347, "sleep" 82,
// "espresso" 0), a measure of how common a word is in English. Related words of fewer than four
// letters are left out (the search only adds related words found in a creator's vocabulary,
// which holds words of four letters or more). Lines "~inflected TAB lemma" are WordNet's
// irregular forms ("ran" → "run").
package main

import (
	"bufio"
	"compress/gzip"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// maxSenses bounds the senses per lemma and part of speech whose relations are kept.
const maxSenses = 3

// maxRelated bounds the related words kept per lemma and kind.
const maxRelated = 8

type ptr struct {
	sym    string
	offset string
	pos    byte
	src    int // 0: the whole synset; else the source word's number (1-based)
	dst    int
}

type synset struct {
	words []string
	ptrs  []ptr
}

var posFiles = map[byte]string{'n': "noun", 'v': "verb", 'a': "adj", 'r': "adv"}

func main() {
	dir := flag.String("wordnet", "/usr/share/wordnet", "WordNet 3.0 dict directory")
	out := flag.String("o", "wordnet.txt.gz", "output file")
	flag.Parse()

	synsets := map[string]*synset{} // "n00001740" → synset
	for pos, name := range posFiles {
		readData(filepath.Join(*dir, "data."+name), pos, synsets)
	}
	near, derived, broader := map[string][]string{}, map[string][]string{}, map[string][]string{}
	lemmas := map[string]bool{}
	poses := map[string]string{} // lemma → its parts of speech, "nvar" order
	senses := map[string]int{}   // lemma → its senses, all parts of speech
	for _, pos := range []byte("nvar") {
		f, err := os.Open(filepath.Join(*dir, "index."+posFiles[pos]))
		if err != nil {
			log.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, " ") {
				continue
			}
			fs := strings.Fields(line)
			lemma := fs[0]
			if !single(lemma) {
				continue
			}
			lemmas[lemma] = true
			poses[lemma] += string(pos)
			nsyn, _ := strconv.Atoi(fs[2])
			senses[lemma] += nsyn
			np, _ := strconv.Atoi(fs[3])
			tagged, _ := strconv.Atoi(fs[5+np])
			offs := fs[6+np:]
			if len(offs) != nsyn {
				log.Fatalf("index.%s: %q: %d offsets, want %d", posFiles[pos], lemma, len(offs), nsyn)
			}
			n := min(maxSenses, len(offs))
			if tagged > 0 {
				n = min(n, tagged)
			}
			for i, off := range offs[:n] {
				s := synsets[string(pos)+off]
				if s == nil {
					log.Fatalf("%c%s: no synset", pos, off)
				}
				me := slices.Index(s.words, lemma) + 1
				for _, w := range s.words {
					near[lemma] = add(near[lemma], lemma, w)
				}
				for _, p := range s.ptrs {
					t := synsets[string(p.pos)+p.offset]
					if t == nil {
						continue
					}
					switch {
					case (p.sym == "+" || p.sym == `\`) && p.src == me && p.dst > 0 && p.dst <= len(t.words):
						derived[lemma] = add(derived[lemma], lemma, t.words[p.dst-1])
					case p.sym == "=" && p.src == 0:
						// An adjective's attribute and the values of a noun attribute ("strong" →
						// "strength", "high" → "height"): the same meaning as another part of
						// speech, as derivationally related forms are.
						for _, w := range t.words {
							derived[lemma] = add(derived[lemma], lemma, w)
						}
					case p.sym == "@" && pos == 'n' && i == 0:
						for _, w := range t.words {
							broader[lemma] = add(broader[lemma], lemma, w)
						}
					}
				}
			}
		}
		if err := sc.Err(); err != nil {
			log.Fatal(err)
		}
		f.Close()
	}

	freq := readCounts(filepath.Join(*dir, "cntlist.rev"))
	var lines []string
	for l := range lemmas {
		c, d, b := near[l], derived[l], broader[l]
		d = slices.DeleteFunc(d, func(w string) bool { return slices.Contains(c, w) })
		b = slices.DeleteFunc(b, func(w string) bool { return slices.Contains(c, w) || slices.Contains(d, w) })
		lines = append(lines, l+"\t"+poses[l]+"\t"+strconv.Itoa(senses[l])+"\t"+strings.Join(capRel(c), " ")+"\t"+strings.Join(capRel(d), " ")+"\t"+strings.Join(capRel(b), " ")+"\t"+strconv.Itoa(freq[l]))
	}
	for _, name := range []string{"noun", "verb", "adj"} {
		f, err := os.Open(filepath.Join(*dir, name+".exc"))
		if err != nil {
			log.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			if len(fs) >= 2 && single(fs[0]) && lemmas[fs[1]] && fs[0] != fs[1] {
				lines = append(lines, "~"+fs[0]+"\t"+fs[1])
			}
		}
		f.Close()
	}
	slices.Sort(lines)
	lines = slices.Compact(lines)

	f, err := os.Create(*out)
	if err != nil {
		log.Fatal(err)
	}
	zw, _ := gzip.NewWriterLevel(f, gzip.BestCompression)
	bw := bufio.NewWriter(zw)
	fmt.Fprintln(bw, "# Derived from WordNet 3.0 (Princeton University) by internal/thesaurus/gen; WordNet licence in internal/thesaurus/README.md.")
	for _, l := range lines {
		fmt.Fprintln(bw, l)
	}
	if err := bw.Flush(); err != nil {
		log.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
	log.Printf("%d lines", len(lines))
}

// single reports whether w is one lower-case word: letters, with inner hyphens or apostrophes.
func single(w string) bool {
	if w == "" || w[0] == '-' || w[len(w)-1] == '-' || w[0] == '\'' {
		return false
	}
	for _, r := range w {
		if (r < 'a' || r > 'z') && r != '-' && r != '\'' {
			return false
		}
	}
	return true
}

func add(list []string, self, w string) []string {
	w = strings.ToLower(w)
	if w == self || len(w) < 4 || !single(w) || slices.Contains(list, w) {
		return list
	}
	return append(list, w)
}

func capRel(ws []string) []string { return ws[:min(len(ws), maxRelated)] }

func readData(path string, pos byte, synsets map[string]*synset) {
	f, err := os.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, " ") {
			continue
		}
		if i := strings.Index(line, " | "); i >= 0 {
			line = line[:i]
		}
		fs := strings.Fields(line)
		nw, err := strconv.ParseInt(fs[3], 16, 32)
		if err != nil {
			log.Fatalf("%s: %q: %v", path, fs[0], err)
		}
		s := &synset{}
		k := 4
		for range nw {
			w := fs[k]
			if i := strings.IndexByte(w, '('); i > 0 { // adjective markers: "(a)", "(p)", "(ip)"
				w = w[:i]
			}
			s.words = append(s.words, strings.ToLower(w))
			k += 2
		}
		np, _ := strconv.Atoi(fs[k])
		k++
		for range np {
			st, _ := strconv.ParseUint(fs[k+3], 16, 16)
			s.ptrs = append(s.ptrs, ptr{sym: fs[k], offset: fs[k+1], pos: normPos(fs[k+2][0]), src: int(st >> 8), dst: int(st & 0xff)})
			k += 4
		}
		synsets[string(pos)+fs[0]] = s
	}
	if err := sc.Err(); err != nil {
		log.Fatal(err)
	}
}

// normPos maps adjective satellites ("s") to adjectives: they share data.adj.
func normPos(p byte) byte {
	if p == 's' {
		return 'a'
	}
	return p
}

// readCounts sums, per lemma, the counts of its senses in WordNet's sense-tagged corpus
// (cntlist.rev lines: "sense_key sense_number tag_count", the key starting "lemma%").
func readCounts(path string) map[string]int {
	f, err := os.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	out := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 3 {
			continue
		}
		l, _, ok := strings.Cut(fs[0], "%")
		n, err := strconv.Atoi(fs[2])
		if ok && err == nil {
			out[strings.ToLower(l)] += n
		}
	}
	if err := sc.Err(); err != nil {
		log.Fatal(err)
	}
	return out
}
