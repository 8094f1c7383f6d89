package knowledge

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/coachwire/coachwire/internal/analysis"
	"github.com/coachwire/coachwire/internal/thesaurus"
)

// BenchmarkQueryTextOtherLanguage is the CPU cost of building one BM25 query for a question in
// another language than the documents (translation, cognates, compounds, the words it could not
// look for) against a cached vocabulary of the eval corpus (some 1,100 words), its cognate index
// and its indexes of the lexicon read from the documents' side built.
func BenchmarkQueryTextOtherLanguage(b *testing.B) {
	v := &vocab{words: map[string]bool{}, byGram: map[string][]string{}, byBag: map[string][]string{}, stems: map[string]bool{},
		langs: []analysis.Lang{analysis.English}, loaded: time.Now().Add(time.Hour)}
	for _, w := range evalCorpusWords(b) {
		if len(w) >= minCorrectLen && !v.words[w] {
			v.words[w] = true
			for _, g := range trigrams(w) {
				v.byGram[g] = append(v.byGram[g], w)
			}
			v.byBag[bag(w)] = append(v.byBag[bag(w)], w)
			v.stems[analysis.Stem(analysis.English, w)] = true
		}
	}
	v.cognateIndex()
	for _, f := range []analysis.Lang{analysis.Spanish, analysis.French, analysis.German, analysis.Italian, analysis.Dutch, analysis.Portuguese} {
		v.backIndex(f, analysis.English) // built by the background refresh once a language has asked (keepCross)
	}
	s := &Store{}
	s.vocabs.m = map[string]*vocab{"t": v}
	thesaurus.Load()
	analysis.LoadLexicon()
	qs := []string{"¿Cuánto tiempo duran las sobras en la nevera?", "Quand faut-il arrêter la caféine avant de dormir ?",
		"Wie oft sollte ich meine Laufschuhe ersetzen?", "Quanta fibra dovrei mangiare ogni giorno?",
		"Hoeveel rustdagen per week heb ik nodig?", "Os legumes congelados são tão nutritivos como os frescos?"}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		s.queryText(ctx, "t", qs[i%len(qs)])
	}
}

// BenchmarkBackIndex is the CPU cost of indexing a vocabulary of the eval corpus (some 1,100
// words) by its words' Wiktionary translations into one language (vocab.backIndex): once per
// creator and question language, then by the minute's background refresh.
func BenchmarkBackIndex(b *testing.B) {
	v := &vocab{words: map[string]bool{}, langs: []analysis.Lang{analysis.English}}
	for _, w := range evalCorpusWords(b) {
		if len(w) >= minVocabLen {
			v.words[w] = true
		}
	}
	analysis.LoadLexicon()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		v.cross.back = nil
		v.backIndex(analysis.Portuguese, analysis.English)
	}
}

// evalCorpusWords is the words of make eval's corpus (internal/eval/testdata/corpus), in order.
func evalCorpusWords(b *testing.B) []string {
	b.Helper()
	files, err := filepath.Glob("../eval/testdata/corpus/*.md")
	if err != nil || len(files) == 0 {
		b.Fatal("no corpus", err)
	}
	var words []string
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		words = append(words, analysis.Words(string(raw))...)
	}
	return words
}
