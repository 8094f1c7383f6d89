package passages

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/events"
)

func texts(ss []span) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.Text
	}
	return out
}

func TestSentences(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"Eat 1.6 grams per kilogram. Spread it over meals! Why? Because it helps.",
			[]string{"Eat 1.6 grams per kilogram.", "Spread it over meals!", "Why?", "Because it helps."}},
		// Abbreviations, initials and a lower-case continuation do not end a sentence.
		{"Use e.g. a banana or yoghurt. Ask Dr. Smith or J. Doe first. It is approx. ten minutes.",
			[]string{"Use e.g. a banana or yoghurt.", "Ask Dr. Smith or J. Doe first.", "It is approx. ten minutes."}},
		// Hard-wrapped lines join; blank lines, headings and list items split; comments vanish.
		{"<!-- licence\nheader. Not text. -->\n## Warm-up\nA good warm-up\nlasts ten minutes\n\nThen lift\n- leg swings\n- 2. hip circles\n1. Walk first\n> quoted line",
			[]string{"Warm-up", "A good warm-up lasts ten minutes", "Then lift", "leg swings", "2. hip circles", "Walk first", "quoted line"}},
		// Closing quotes stay with their sentence; a URL's dots do not split.
		{`He said "stop." Then see www.example.com/a.b for more.`, []string{`He said "stop."`, "Then see www.example.com/a.b for more."}},
		{"", nil},
	} {
		got := texts(sentences(tc.in))
		if !slices.Equal(got, tc.want) {
			t.Errorf("sentences(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
	// Offsets point at the sentence in the original text.
	in := "First one.\n\n## Head\nSecond\nline here."
	for _, s := range sentences(in) {
		if !strings.Contains(strings.Join(strings.Fields(in[s.Start:s.End]), " "), s.Text) {
			t.Errorf("span %+v does not hold its text: %q", s, in[s.Start:s.End])
		}
	}
	if h := sentences(in)[1]; !h.Heading || h.Text != "Head" {
		t.Errorf("heading span %+v", h)
	}
}

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		q, w string
		want bool
	}{
		{"nap", "naps", true}, {"runs", "running", true}, {"taper", "tapering", true}, {"sore", "soreness", true},
		{"stretches", "stretching", true}, {"sets", "set", true},
		{"slep", "sleep", true}, {"stes", "sets", true}, {"gogles", "goggles", true}, {"meditaton", "meditation", true},
		{"breatihng", "breathing", true}, {"tecnique", "technique", true}, {"proteina", "protein", true},
		// Not the same word: a different letter in a short word, a shared start only, too many typos.
		{"fast", "last", false}, {"desc", "desk", false}, {"program", "progress", false}, {"fasting", "eating", false},
		{"run", "ran", false}, {"cat", "category", false}, {"leg", "legal", true}, // a short ending: accepted
	} {
		if got := match(tc.q, tc.w); got != tc.want {
			t.Errorf("match(%q, %q) = %v, want %v", tc.q, tc.w, got, tc.want)
		}
	}
	// A function word of the text is not a content word, however close ("form"/"from").
	if m := newMatcher("squat form"); m.text("Walk from the door") != 0 || m.text("good form") != 2 {
		t.Errorf("masks: from %b, good form %b", m.text("Walk from the door"), m.text("good form"))
	}
	if got := terms("How much protein should I eat per day? ¿Cuánta proteína?"); !slices.Equal(got, []string{"protein", "eat", "day", "proteina"}) {
		t.Errorf("terms: %q", got)
	}
}

var (
	docA = uuid.MustParse("00000000-0000-0000-0000-00000000000a")
	docB = uuid.MustParse("00000000-0000-0000-0000-00000000000b")
	docC = uuid.MustParse("00000000-0000-0000-0000-00000000000c")
)

// TestCleanDropsNearDuplicates: a passage inside a better one (or the same text in another
// document) is dropped; an overlapping neighbour chunk loses the sentences it repeats.
func TestCleanDropsNearDuplicates(t *testing.T) {
	s1 := "Caffeine has a half-life of about five hours."
	s2 := "Stop caffeine eight hours before bedtime."
	s3 := "Decaf still holds a little caffeine."
	s4 := "Tea has less caffeine than coffee."
	ps := []events.Passage{
		{DocumentID: docA, Heading: "Caffeine", Text: s1 + " " + s2 + " " + s3, Score: 3},
		{DocumentID: docB, Heading: "Copy", Text: s1 + " " + s2 + " " + s3 + " ", Score: 2.9},               // the same text uploaded twice
		{DocumentID: docA, Heading: "Caffeine", Text: "hours before bedtime. " + s3 + " " + s4, Score: 2.5}, // the next chunk, overlapping mid-sentence
		{DocumentID: docA, Heading: "Caffeine", Text: s2, Score: 2},                                         // inside the first
	}
	got := Clean(ps, 5)
	if len(got) != 2 {
		t.Fatalf("kept %d passages, want 2: %+v", len(got), got)
	}
	if got[0].Text != ps[0].Text {
		t.Errorf("best passage changed: %q", got[0].Text)
	}
	if got[1].Text != s4 {
		t.Errorf("overlapping chunk not trimmed to what it adds: %q", got[1].Text)
	}
	// A passage that only repeats a better one is dropped even when shingles differ (short).
	if got := Clean([]events.Passage{{DocumentID: docA, Text: s1 + " " + s2}, {DocumentID: docA, Text: s2 + " " + s1}}, 5); len(got) != 1 {
		t.Errorf("a passage made of a better one's sentences kept: %+v", got)
	}
}

// TestCleanDropsCommentOnly: a passage that is only an HTML comment (a licence header) has
// nothing to quote; one with text beside its comment stays.
func TestCleanDropsCommentOnly(t *testing.T) {
	ps := []events.Passage{
		{DocumentID: docA, Text: "<!-- Licensed CC0; not medical advice. -->\n", Score: 3},
		{DocumentID: docB, Heading: "Naps", Text: "<!-- note -->\nA short nap of ten to twenty minutes restores alertness.", Score: 2},
	}
	got := Clean(ps, 5)
	if len(got) != 1 || got[0].Heading != "Naps" {
		t.Errorf("Clean = %+v, want only the passage with text", got)
	}
}

// TestCleanDiversifies: maximal marginal relevance puts a nearly as relevant passage of another
// document before a third one of the same section, never drops the best, and keeps the limit.
func TestCleanDiversifies(t *testing.T) {
	ps := []events.Passage{
		{DocumentID: docA, Heading: "Pace", Text: "Run most miles at an easy pace.", Score: 10},
		{DocumentID: docA, Heading: "Pace", Text: "Easy running builds the aerobic base.", Score: 9.5},
		{DocumentID: docA, Heading: "Pace", Text: "Talk in full sentences while you run.", Score: 9.4},
		{DocumentID: docB, Heading: "Heart rate", Text: "Keep the heart rate low on recovery days.", Score: 8.5},
		{DocumentID: docC, Heading: "Shoes", Text: "Comfortable shoes matter more than brand.", Score: 2},
	}
	got := Clean(ps, 3)
	var heads []string
	for _, p := range got {
		heads = append(heads, p.Heading)
	}
	if !slices.Equal(heads, []string{"Pace", "Heart rate", "Pace"}) {
		t.Errorf("MMR order %q, want the other document second", heads)
	}
	if got[0].Text != ps[0].Text {
		t.Errorf("the best passage is not first: %+v", got[0])
	}
	// Without scores the search's order is the relevance (falling by a fifth per rank here, more
	// than the redundancy of the same section weighs against it): the order stays.
	for i := range ps {
		ps[i].Score = 0
	}
	if got := Clean(ps, 5); len(got) != 5 || got[0].Text != ps[0].Text || got[3].DocumentID != docB {
		t.Errorf("unscored clean: %+v", got)
	}
	if Clean(ps, 0) != nil || Clean(nil, 5) != nil {
		t.Error("nothing to keep should give nil")
	}
	if Candidates(5) != 10 || Candidates(30) != 40 || Candidates(0) != 0 {
		t.Errorf("candidates %d %d %d", Candidates(5), Candidates(30), Candidates(0))
	}
}

var handbook = []events.Passage{
	{DocumentID: docA, Title: "Sleep guide", Heading: "Naps", Text: "A short nap of ten to twenty minutes restores alertness without grogginess. Naps longer than thirty minutes can lead to sleep inertia. Late afternoon naps can delay the night's sleep. Dogs nap too.", Score: 5},
	{DocumentID: docB, Title: "Running basics", Heading: "Long run", Text: "The weekly long run builds endurance. Keep it slow.", Score: 3},
	{DocumentID: docC, Title: "Recovery", Heading: "Rest days", Text: "Take at least one full rest day each week. Short naps help on hard days.", Score: 2},
}

// TestThreshold: Found is the one threshold; a question whose content words no passage holds
// (or mostly does not) is not found, a question without content words is never found, and a
// word every passage has weighs less than one only the answer has.
func TestThreshold(t *testing.T) {
	if !Found(MinCoverage) || Found(MinCoverage-0.01) {
		t.Fatal("Found is not coverage ≥ MinCoverage")
	}
	cov := Coverage("How long should a nap be?", handbook)
	if !Found(cov[0]) || cov[0] != 1 {
		t.Errorf("nap question: coverage %v", cov)
	}
	for _, q := range []string{"How do I change a flat bike tyre?", "What is it?", "hi", "Which protein powder brand is best?"} {
		for i, c := range Coverage(q, handbook) {
			if Found(c) {
				t.Errorf("%q found in passage %d (coverage %.2f)", q, i, c)
			}
		}
		if Select(q, handbook) != nil {
			t.Errorf("%q selected sentences", q)
		}
	}
	// "nap" is in two passages, "grogginess" in one: the passage with both covers more than
	// the one with only the common word.
	cov = Coverage("nap grogginess", handbook)
	if !(cov[0] == 1 && cov[2] > 0 && cov[2] < 0.5) {
		t.Errorf("weighted coverage %v", cov)
	}
	// Typos and another inflection still find it.
	if c := Coverage("How long shuold a nap be?", handbook); !Found(c[0]) {
		t.Errorf("typo: %v", c)
	}
}

// TestSelect: the reply quotes one to three sentences, the best passage's best first, in
// document order within a passage, from passages that pass the threshold only.
func TestSelect(t *testing.T) {
	ex := Select("How long should a nap be?", handbook)
	if len(ex) == 0 || ex[0].Passage.Heading != "Naps" {
		t.Fatalf("excerpts %+v", ex)
	}
	n := 0
	for _, e := range ex {
		n += len(sentences(e.Text))
	}
	if n < 1 || n > MaxSentences {
		t.Errorf("%d sentences quoted", n)
	}
	if !strings.HasPrefix(ex[0].Text, "A short nap of ten to twenty minutes") || !strings.Contains(ex[0].Text, "Naps longer than thirty minutes") {
		t.Errorf("best passage excerpt %q", ex[0].Text)
	}
	if strings.Contains(ex[0].Text, "Dogs nap too") && n == MaxSentences && !strings.Contains(ex[0].Text, "longer") {
		t.Errorf("weak sentence chosen over a better one: %q", ex[0].Text)
	}
	for _, e := range ex {
		if e.Passage.Heading == "Long run" {
			t.Errorf("a passage below the threshold is quoted: %+v", e)
		}
	}
	// Sentences not next to each other are marked as a cut.
	ex = Select("dogs grogginess", handbook[:1])
	if len(ex) != 1 || !strings.Contains(ex[0].Text, " … ") {
		t.Errorf("non-adjacent sentences: %+v", ex)
	}
	// A sentence repeated by another passage is quoted once.
	dup := []events.Passage{handbook[0], {DocumentID: docB, Title: "Copy", Heading: "Naps", Text: "A short nap of ten to twenty minutes restores alertness without grogginess.", Score: 4}}
	ex = Select("short nap", dup)
	all := ""
	for _, e := range ex {
		all += e.Text + "\n"
	}
	if strings.Count(all, "A short nap of ten") != 1 {
		t.Errorf("a sentence quoted twice:\n%s", all)
	}
}

// TestExpansions: a question word counts as present in a passage holding a word the search
// used for it (its translation, correction, related word), at that word's weight. A Spanish
// question is answered from the English passage that holds the translations, its function
// words ("cuánto") are not content; a question whose words no passage holds, nor their
// expansions, is still refused; an expansion that is another question word does not count
// twice; a broader word counts less than the word itself.
func TestExpansions(t *testing.T) {
	q := "¿Cuánto debe durar una siesta?"
	es := &events.Expansions{
		Words: map[string][]events.Alternative{
			"durar":  {{Word: "last", Weight: 1}, {Word: "long", Weight: 1}},
			"siesta": {{Word: "nap", Weight: 1}},
		},
		Stop: []string{"cuánto", "debe", "una"},
	}
	if c := Coverage(q, handbook); Found(c[0]) {
		t.Fatalf("without expansions the Spanish question is found: %v", c)
	}
	cov := CoverageWith(q, es, handbook)
	if !Found(cov[0]) || cov[0] != 1 || cov[0] <= cov[1] {
		t.Errorf("Spanish question with its translations: coverage %v", cov)
	}
	ex := SelectWith(q, es, handbook)
	if len(ex) == 0 || ex[0].Passage.Heading != "Naps" || !strings.Contains(ex[0].Text, "A short nap of ten to twenty minutes") {
		t.Errorf("Spanish question: excerpts %+v", ex)
	}

	// No answer in the material: the expansions (translated, but not in any passage) do not
	// make it pass.
	q = "¿Cómo cambio una rueda pinchada de la bici?"
	no := &events.Expansions{
		Words: map[string][]events.Alternative{
			"cambio":   {{Word: "change", Weight: 1}},
			"rueda":    {{Word: "wheel", Weight: 1}},
			"pinchada": {{Word: "flat", Weight: 1}},
			"bici":     {{Word: "bike", Weight: 1}, {Word: "bicycle", Weight: 1}},
		},
		Stop: []string{"cómo", "una", "de", "la"},
	}
	for i, c := range CoverageWith(q, no, handbook) {
		if Found(c) {
			t.Errorf("no-answer question found in passage %d (coverage %.2f)", i, c)
		}
	}
	if SelectWith(q, no, handbook) != nil {
		t.Error("no-answer question selected sentences")
	}
	// Only function words left: never answered from the material.
	if SelectWith("¿Cuánto debe?", es, handbook) != nil {
		t.Error("a question of function words selected sentences")
	}

	// "train" stands for the question's "trainer", not also for "termin".
	ps := []events.Passage{{DocumentID: docA, Title: "Plan", Text: "Train three times a week with your trainer."}}
	de := &events.Expansions{Words: map[string][]events.Alternative{"termin": {{Word: "train", Weight: 1}}, "buche": {{Word: "book", Weight: 1}}}}
	if c := CoverageWith("buche termin trainer", de, ps); c[0] > 0.34 {
		t.Errorf("one passage word counted for two question words: coverage %v", c)
	}

	// A broader word counts partially.
	broad := &events.Expansions{Words: map[string][]events.Alternative{"espresso": {{Word: "coffee", Weight: 0.5}}}}
	ps = []events.Passage{{DocumentID: docA, Text: "No coffee after two in the afternoon."}, {DocumentID: docB, Text: "Stretch daily."}}
	if c := CoverageWith("espresso afternoon", broad, ps); !(c[0] > 0.5 && c[0] < 1) {
		t.Errorf("broader word: coverage %v", c)
	}
	// An alternative was not typed: it matches its inflections, not its near misses.
	x := &events.Expansions{Words: map[string][]events.Alternative{"siesta": {{Word: "naps", Weight: 1}}}}
	m := newMatcherWith("siesta", x)
	if m.word("nap") == 0 || m.word("naps") == 0 || m.word("maps") != 0 {
		t.Errorf("alternative matching: nap %b naps %b maps %b", m.word("nap"), m.word("naps"), m.word("maps"))
	}
}

// TestCoverageWithBody: the first result is CoverageWith, the second CoverageWith on the
// passages without headings and titles.
func TestCoverageWithBody(t *testing.T) {
	ps := []events.Passage{
		{Title: "Running", Heading: "Long runs", Text: "Once a week, build endurance slowly: keep the effort easy."},
		{Title: "Running", Heading: "Blisters and chafing", Text: "Thighs rubbing raw: apply anti-chafe balm before long runs."},
		{Title: "Running", Heading: "Tapering", Text: "Cut volume in the last two weeks before a race."},
	}
	q := "How do I stop my thighs rubbing raw on long runs?"
	x := &events.Expansions{Words: map[string][]events.Alternative{"thighs": {{Word: "legs", Weight: 0.75}}}}
	all, body := CoverageWithBody(q, x, ps)
	bare := slices.Clone(ps)
	for i := range bare {
		bare[i].Title, bare[i].Heading = "", ""
	}
	if want := CoverageWith(q, x, ps); !slices.Equal(all, want) {
		t.Errorf("coverage %v, want %v", all, want)
	}
	if want := CoverageWith(q, x, bare); !slices.Equal(body, want) {
		t.Errorf("body coverage %v, want %v", body, want)
	}
	if body[0] != 0 || all[0] == 0 || body[1] == 0 {
		t.Errorf("coverage %v, body %v: want the first passage covered by its heading only", all, body)
	}
}
