package knowledge

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/coachwire/coachwire/internal/analysis"
	"github.com/coachwire/coachwire/internal/thesaurus"
)

// BenchmarkQueryText is the CPU cost of building one BM25 query (language, stop words, typo
// correction, stems, related words) against a cached vocabulary of a few thousand words.
func BenchmarkQueryText(b *testing.B) {
	text := "Most adults feel and perform best with seven to nine hours of sleep per night. Caffeine has a half-life " +
		"of about five to six hours, so stop caffeine at least eight hours before bedtime. A short nap of ten to twenty " +
		"minutes restores alertness. Replace running shoes every five hundred kilometres. Apply petroleum jelly or an " +
		"anti-chafe balm to the inner thighs before the start. Strength improves when the demand on muscles gradually " +
		"increases. After a hard session, eat a meal with carbohydrate and protein to support recovery."
	v := &vocab{words: map[string]bool{}, byGram: map[string][]string{}, byBag: map[string][]string{}, stems: map[string]bool{},
		langs: []analysis.Lang{analysis.English}, loaded: time.Now().Add(time.Hour)}
	for _, w := range analysis.Words(text) {
		if len(w) >= minCorrectLen && !v.words[w] {
			v.words[w] = true
			for _, g := range trigrams(w) {
				v.byGram[g] = append(v.byGram[g], w)
			}
			v.byBag[bag(w)] = append(v.byBag[bag(w)], w)
			v.stems[analysis.Stem(analysis.English, w)] = true
		}
	}
	s := &Store{}
	s.vocabs.m = map[string]*vocab{"t": v}
	thesaurus.Load()
	qs := []string{"When should I stop drinking coffee so it doesn't keep me awake?", "What amount of shut-eye is healthy for a grown-up?",
		"How do I stop my thighs rubbing raw on long runs?", "How long should I rest between stes?", "What should I eat after training to recover?"}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		s.queryText(ctx, "t", qs[i%len(qs)])
	}
}

// BenchmarkRerank is the CPU cost of ordering a search's 20 hits of ~1,000 tokens (the chunker's
// largest) by question coverage.
func BenchmarkRerank(b *testing.B) {
	raw, err := os.ReadFile("../eval/testdata/corpus/coaching-handbook.md")
	if err != nil {
		b.Fatal(err)
	}
	text := string(raw)
	var ps []Passage
	for i := range 20 {
		start := (i * 700) % (len(text) - 4200)
		ps = append(ps, Passage{Title: "Coaching handbook", Heading: "Part", Text: text[start : start+4200], Score: float64(20 - i)})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		rerank("When should I stop drinking coffee so it doesn't keep me awake?", nil, ps)
	}
}
