package knowledge_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/knowledge"
	"github.com/coachwire/coachwire/internal/passages"
)

var englishGuide = []knowledge.Chunk{
	{Index: 0, Title: "Training guide", Heading: "Hydration", Headings: "Nutrition › Hydration",
		Text: "Drink water before, during and after long sessions; pale urine is a good sign."},
	{Index: 1, Title: "Training guide", Heading: "Protein", Headings: "Nutrition › Protein",
		Text: "Aim for about 1.6 grams of protein per kilogram of body weight a day, spread over meals."},
	{Index: 2, Title: "Training guide", Heading: "Shoes", Headings: "Running › Shoes",
		Text: "Replace your running shoes every 500 to 800 kilometres, when the midsole feels flat."},
	{Index: 3, Title: "Training guide", Heading: "Bedtime", Headings: "Sleep › Bedtime",
		Text: "Stop caffeine eight hours before bedtime and keep the bedroom dark and cool."},
}

// TestCrossLanguageSearch: questions in Spanish, French, Italian, Portuguese and German find the
// English section that answers them (lexicon translations, compounds, cognates).
func TestCrossLanguageSearch(t *testing.T) { overBoth(t, testCrossLanguageSearch) }

func testCrossLanguageSearch(t *testing.T, s *knowledge.Store) {
	c, _ := indexed(t, s, englishGuide)
	for q, heading := range map[string]string{
		"¿Cuánta agua hay que beber?":                  "Hydration",
		"Combien d'eau boire pendant l'entraînement ?": "Hydration",
		"Quanta proteina al giorno?":                   "Protein",
		"Quando trocar os sapatos de corrida?":         "Shoes",
		"Wann brauche ich neue Wanderschuhe?":          "Shoes",
		"Quand arrêter la caféine le soir ?":           "Bedtime",
	} {
		if p := top(t, s, c, q); p.Heading != heading {
			t.Errorf("%q: top passage under %q, want %q", q, p.Heading, heading)
		}
	}
}

// TestCrossLanguageStaysInTenant: the words a foreign question is matched to are the
// creator's own: another creator's word never brings a passage.
func TestCrossLanguageStaysInTenant(t *testing.T) { overBoth(t, testCrossLanguageStaysInTenant) }

func testCrossLanguageStaysInTenant(t *testing.T, s *knowledge.Store) {
	ctx := context.Background()
	a, _ := indexed(t, s, englishGuide)
	b, _ := indexed(t, s, []knowledge.Chunk{{Index: 0, Title: "B", Text: "Stretch for ten minutes every morning."}})
	if p := top(t, s, a, "¿Cuánta proteína por día?"); p.Heading != "Protein" {
		t.Fatalf("A's question not matched to A's word: %+v", p)
	}
	ps, err := s.Search(ctx, b, "¿Cuánta proteína por día?", nil, 5)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if strings.Contains(p.Text, "protein") {
			t.Fatalf("B saw A's chunk: %+v", p)
		}
	}
}

// TestSearchExpandedAnswers: SearchExpanded tells the words it used for a Spanish question's
// words (the translations into the documents' English), and with them the passages-mode
// threshold answers it from the English section, which it does not without them; a Spanish
// question the material has no answer to is still refused.
func TestSearchExpandedAnswers(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	c, _ := indexed(t, s, englishGuide)
	ask := func(q string) ([]events.Passage, *events.Expansions) {
		t.Helper()
		hits, x, err := s.SearchExpanded(ctx, c, q, nil, passages.Candidates(5))
		if err != nil {
			t.Fatal(err)
		}
		ps := make([]events.Passage, 0, len(hits))
		for _, h := range hits {
			ps = append(ps, events.Passage{DocumentID: h.DocumentID, Title: h.Title, Heading: h.Heading, Text: h.Text, Score: h.Score})
		}
		return passages.Clean(ps, 5), x
	}
	q := "¿Cuánta agua hay que beber?"
	ps, x := ask(q)
	if x == nil || !slices.ContainsFunc(x.Words["agua"], func(a events.Alternative) bool { return a.Word == "water" }) {
		t.Fatalf("expansions of %q: %+v", q, x)
	}
	if ex := passages.Select(q, ps); ex != nil {
		t.Errorf("%q answered without its expansions: %+v", q, ex)
	}
	ex := passages.SelectWith(q, x, ps)
	if len(ex) == 0 || ex[0].Passage.Heading != "Hydration" || !strings.Contains(ex[0].Text, "Drink water") {
		t.Errorf("%q: excerpts %+v", q, ex)
	}
	for _, q := range []string{"¿Cómo cambio la rueda pinchada de la bicicleta?", "Wie buche ich einen Termin mit dem Trainer?"} {
		ps, x := ask(q)
		if ex := passages.SelectWith(q, x, ps); ex != nil {
			t.Errorf("no-answer question %q answered (expansions %+v): %+v", q, x, ex)
		}
	}
}
