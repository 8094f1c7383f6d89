package knowledge

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coachwire/coachwire/internal/analysis"
)

func testVocab(langs []analysis.Lang, words ...string) *vocab {
	v := &vocab{words: map[string]bool{}, langs: langs}
	for _, w := range words {
		v.words[w] = true
	}
	return v
}

var englishDocs = testVocab([]analysis.Lang{analysis.English},
	"drink", "water", "before", "during", "after", "long", "sessions", "protein", "grams", "kilogram", "running", "shoes",
	"replace", "every", "kilometres", "sleep", "hours", "adults", "need", "blisters", "marathon", "caffeine")

func cross(v *vocab, q string) []string {
	return crossTerms(v, analysis.Words(q), analysis.DetectQuery(q, v.langs))
}

// TestCrossTermsLeaveDocumentLanguageAlone: a question in the documents' language, typos
// included, gets no cross-language terms (a mistyped word is not taken for a foreign one).
func TestCrossTermsLeaveDocumentLanguageAlone(t *testing.T) {
	for _, q := range []string{
		"How much water should I drink during long sessions?",
		"How many hors of slep do adults need?",
		"journal",
		"Which protein powder brand is the best?",
	} {
		if got := cross(englishDocs, q); len(got) != 0 {
			t.Errorf("%q: %q", q, got)
		}
	}
	if got := crossTerms(nil, []string{"agua"}, []analysis.Lang{analysis.Spanish}); got != nil {
		t.Errorf("no vocabulary: %q", got)
	}
}

// TestCrossTermsTranslate: a question in another language gets the translations of its words
// (lexicon, German compounds part by part) and the creator's words that look like them
// (cognates), stemmed like the index.
func TestCrossTermsTranslate(t *testing.T) {
	for q, want := range map[string][]string{
		"¿Cuánta agua debo beber durante el entrenamiento?": {"water"},
		"Combien d'eau faut-il boire ?":                     {"water"},
		"Quanta acqua bere durante l'allenamento?":          {"water"},
		"Wann brauche ich neue Wanderschuhe?":               {"shoe"},                // compound: its last part
		"¿Cuánta proteína por kilogramo?":                   {"protein"},             // a cognate, and in the lexicon neither
		"Quand arrêter la caféine ?":                        {"caffeine", "caffein"}, // cognate, stemmed as the index
		"Como evitar bolhas na maratona?":                   {"marathon"},            // cognate
		"Hoeveel uur slaap heeft een volwassene nodig?":     {"sleep"},               // Dutch, voted by its stop words
	} {
		got := cross(englishDocs, q)
		for _, w := range want {
			if !slices.Contains(got, w) {
				t.Errorf("%q: %q lacks %q", q, got, w)
			}
		}
		if len(got) > maxCrossTerms {
			t.Errorf("%q: %d terms", q, len(got))
		}
	}
}

// TestUnsearchable: the words of a question in another language that the search could not
// look for (no translation or cognate the creator uses) are reported while they are at most
// two per word it could look for, and at least two it could; never for a question in the
// documents' language, nor for one it could look for too little of.
func TestUnsearchable(t *testing.T) {
	unknown := func(q string) []string {
		_, u := crossTermsNoted(englishDocs, analysis.Words(q), analysis.DetectQuery(q, englishDocs.langs), nil)
		return u
	}
	u := unknown("Quand faut-il arrêter la caféine avant de dormir ?")
	if !slices.Contains(u, "quand") || slices.Contains(u, "caféine") || slices.Contains(u, "dormir") || slices.Contains(u, "il") {
		t.Errorf("French question: %q", u)
	}
	for _, q := range []string{
		"How many hours of sleep do adults need?",
		"¿Cómo cambio la contraseña de mi cuenta?", // nothing it could look for
		"Wie verlängere ich mein Abonnement?",
	} {
		if u := unknown(q); u != nil {
			t.Errorf("%q: %q", q, u)
		}
	}
}

// TestCrossTermsIntoTheDocumentsLanguage: documents in Spanish, question in English.
func TestCrossTermsIntoTheDocumentsLanguage(t *testing.T) {
	es := testVocab([]analysis.Lang{analysis.Spanish}, "bebe", "agua", "antes", "durante", "sesiones", "largas")
	got := cross(es, "How much water should I drink before long sessions?")
	if !slices.Contains(got, "agua") {
		t.Errorf("English question, Spanish documents: %q", got)
	}
}

// BenchmarkCrossTerms is the per-question cost of crossTerms over a 3,000-word vocabulary (the
// cognate index built once, as a cached vocabulary keeps it).
func BenchmarkCrossTerms(b *testing.B) {
	v := testVocab([]analysis.Lang{analysis.English}, englishDocs.wordList()...)
	for i := range 3000 {
		v.words["word"+strconv.Itoa(i)+"ing"] = true
	}
	analysis.LoadLexicon()
	for _, q := range []string{"When should I stop drinking caffeine?", "¿Cuántas horas de sueño necesita un adulto?"} {
		words, langs := analysis.Words(q), analysis.DetectQuery(q, v.langs)
		crossTerms(v, words, langs)
		b.Run(q[:6], func(b *testing.B) {
			for range b.N {
				crossTerms(v, words, langs)
			}
		})
	}
}

func (v *vocab) wordList() []string {
	out := make([]string, 0, len(v.words))
	for w := range v.words {
		out = append(out, w)
	}
	return out
}

// TestCognateIndexKeptAcrossRefresh: a refreshed vocabulary builds its cognate index in the
// refresh when the one it replaces had built one (and not otherwise).
func TestCognateIndexKeptAcrossRefresh(t *testing.T) {
	s := &Store{}
	s.vocabs.m = map[string]*vocab{}
	old := testVocab([]analysis.Lang{analysis.English}, "protein")
	s.vocabs.m["t"] = old
	fresh := testVocab([]analysis.Lang{analysis.English}, "protein", "marathon")
	s.keepCross("t", fresh)
	if fresh.cross.built.Load() {
		t.Fatal("built although no question needed the old one")
	}
	old.cognateIndex()
	s.keepCross("t", fresh)
	if !fresh.cross.built.Load() || len(fresh.cross.byPrefix[analysis.CognatePrefix(analysis.Cognate(analysis.English, "marathon"))]) != 1 {
		t.Fatalf("not built in the refresh: %+v", fresh.cross.byPrefix)
	}
}

// TestSensesBothWays: of a foreign word's translations the creator uses, those the lexicon
// translates back into the word come first ("letto" is "bed", not the "post" CLDR's emoji
// keywords pair it with), and the others weigh less in the query.
func TestSensesBothWays(t *testing.T) {
	v := testVocab([]analysis.Lang{analysis.English}, "bed", "post", "mail", "sleep")
	tr, both, _ := senses(v, analysis.Italian, analysis.English, "letto", analysis.Translate(analysis.Italian, analysis.English, "letto"))
	if both != 1 || len(tr) == 0 || tr[0] != "bed" {
		t.Fatalf("letto: %q, %d both ways; want bed first, alone both ways", tr, both)
	}
	terms, _ := crossTermsNoted(v, []string{"letto"}, []analysis.Lang{analysis.Italian, analysis.English}, nil)
	weights := map[string]int{}
	for _, c := range terms {
		weights[c.term] = c.weight
	}
	if weights["bed"] != weightOwn || weights["post"] == 0 || weights["post"] >= weightOwn {
		t.Errorf("weights %v: want bed %d, post below it", weights, weightOwn)
	}
	// Without a sense both ways, the vocabulary's words come first, at full weight.
	v = testVocab([]analysis.Lang{analysis.English}, "post")
	if tr, both, _ := senses(v, analysis.Italian, analysis.English, "letto", analysis.Translate(analysis.Italian, analysis.English, "letto")); both != 0 || tr[0] != "post" {
		t.Errorf("letto, no bed: %q, %d both ways", tr, both)
	}
}

// TestForeignQuestionWords: a question in another language than the documents' is stemmed only
// in the documents' languages (a Spanish stem matches English words by chance), and its words
// the lexicon knows in its language, told or voted, are not corrected to the creator's words
// ("Stunde" is not "stand" mistyped, "libre" not "fibre").
func TestForeignQuestionWords(t *testing.T) {
	v := testVocab([]analysis.Lang{analysis.English}, "stand", "standing", "hour", "hours", "sleep", "fibre", "litre", "breathe", "swim")
	v.byGram, v.byBag, v.stems, v.loaded = map[string][]string{}, map[string][]string{}, map[string]bool{}, time.Now()
	for w := range v.words {
		for _, g := range trigrams(w) {
			v.byGram[g] = append(v.byGram[g], w)
		}
		v.stems[analysis.Stem(analysis.English, w)] = true
	}
	s := &Store{}
	s.vocabs.m = map[string]*vocab{"t": v}
	q, _ := s.queryTerms(context.Background(), "t", "Wie lange ist eine Stunde schlafen für mich?")
	terms := strings.Fields(q)
	if slices.Contains(terms, "stand") || !slices.Contains(terms, "hour") {
		t.Errorf("German question: %q, want hour and not stand", q)
	}
	if german := analysis.Stem(analysis.German, "schlafen"); slices.Contains(terms, german) {
		t.Errorf("German question: %q holds the German stem %q", q, german)
	}
	// A language voted by the foreign words (one French stop word is not enough to tell it).
	if q, _ := s.queryTerms(context.Background(), "t", "Comment respirer en nage libre ?"); slices.Contains(strings.Fields(q), "fibre") {
		t.Errorf("French question: %q, want no fibre", q)
	}
	// An English word is no typo of the English documents' words, whatever the question's
	// language ("warming" in a Dutch question is not "warning" mistyped).
	v.words["warning"] = true
	for _, g := range trigrams("warning") {
		v.byGram[g] = append(v.byGram[g], "warning")
	}
	if q, _ := s.queryTerms(context.Background(), "t", "Hoe lang moet een warming-up duren?"); slices.Contains(strings.Fields(q), "warning") {
		t.Errorf("Dutch question: %q, want no warning", q)
	}
}

// TestPivots: a word none of whose translations the creator uses is matched to the creator's
// words that its translations into two other languages lead to ("schiena": CLDR gives only
// "scapula"; German Rücken and French dos give "back").
func TestPivots(t *testing.T) {
	v := testVocab([]analysis.Lang{analysis.English}, "back", "lower", "relief", "index")
	if got := pivots(v, analysis.Italian, analysis.English, "schiena"); !slices.Contains(got, "back") {
		t.Errorf("schiena: %q, want back", got)
	}
	terms := cross(v, "Come alleviare il dolore alla parte bassa della schiena?")
	if !slices.Contains(terms, "back") {
		t.Errorf("question: %q, want back", terms)
	}
	// Only the creator's words, and only where two languages agree.
	if got := pivots(testVocab([]analysis.Lang{analysis.English}, "relief"), analysis.Italian, analysis.English, "schiena"); len(got) != 0 {
		t.Errorf("schiena, no back in the vocabulary: %q", got)
	}
}

// TestSensesFromDocumentSide: when the Wiktionary lexicon translates a foreign word into none of
// the creator's words, the creator's words it translates into that word come in as related
// words (Portuguese "bolhas": "bubble" one way; English "blister" → "bolha" the other); not when
// a dictionary translation is the creator's, nor for a short stem.
func TestSensesFromDocumentSide(t *testing.T) {
	v := testVocab([]analysis.Lang{analysis.English}, "blister", "blisters", "float", "marathon")
	tr, _, back := senses(v, analysis.Portuguese, analysis.English, "bolhas", analysis.Translate(analysis.Portuguese, analysis.English, "bolhas"))
	if back != 1 || !slices.Contains(tr, "blister") && !slices.Contains(tr, "blisters") {
		t.Fatalf("bolhas: %q, %d from the documents' side; want one of blister(s)", tr, back)
	}
	terms, _ := crossTermsNoted(v, []string{"como", "evitar", "bolhas", "na", "maratona"}, []analysis.Lang{analysis.Portuguese}, nil)
	weights := map[string]int{}
	for _, c := range terms {
		weights[c.term] = c.weight
	}
	if weights["blister"]+weights["blisters"] == 0 || weights["blister"] > weightRelated || weights["blisters"] > weightRelated {
		t.Errorf("weights %v: want blister(s) at %d", weights, weightRelated)
	}
	// "bubble" is the creator's: the dictionary's own sense stands.
	v = testVocab([]analysis.Lang{analysis.English}, "blister", "bubble")
	if _, _, back := senses(v, analysis.Portuguese, analysis.English, "bolhas", analysis.Translate(analysis.Portuguese, analysis.English, "bolhas")); back != 0 {
		t.Errorf("bolhas with bubble: %d from the documents' side, want 0", back)
	}
}
