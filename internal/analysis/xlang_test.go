package analysis

import (
	"slices"
	"strings"
	"testing"
)

func TestFold(t *testing.T) {
	for in, want := range map[string]string{"proteína": "proteina", "Hüfte": "hufte", "straße": "strasse", "cœur": "coeur", "sleep": "sleep", "ÉCRAN": "ecran"} {
		if got := Fold(in); got != want {
			t.Errorf("Fold(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTranslate(t *testing.T) {
	for _, c := range []struct {
		from, to   Lang
		word, want string
	}{
		{Spanish, English, "agua", "water"},
		{Spanish, English, "horas", "hour"}, // any inflected form: the lexicon is keyed by stem
		{French, English, "eau", "water"},
		{German, English, "schuhe", "shoe"},
		{English, Spanish, "water", "agua"},
		{Italian, English, "acqua", "water"},
		{Dutch, English, "water", "water"},
		{Portuguese, English, "água", "water"},
		{Portuguese, English, "agua", "water"}, // without its accent
		// Words CLDR lacks, from the Wiktionary lexicon (wikdict.tsv.gz).
		{Portuguese, English, "agachamento", "squat"},
		{German, English, "nacken", "nape"},
		{Spanish, English, "nevera", "fridge"},
	} {
		if got := Translate(c.from, c.to, c.word); !slices.Contains(got, c.want) {
			t.Errorf("Translate(%s→%s, %q) = %q, want %q among them", c.from, c.to, c.word, got, c.want)
		}
	}
	if got := Translate(English, English, "water"); got != nil {
		t.Errorf("same language: %q", got)
	}
	if got := Translate(Spanish, English, "xqzwv"); got != nil {
		t.Errorf("unknown word: %q", got)
	}
	if !InLexicon(English, "water") || InLexicon(English, "xqzwv") {
		t.Error("InLexicon")
	}
	if !InLexicon(Portuguese, "agachamento") {
		t.Error("InLexicon: a word of the Wiktionary lexicon only")
	}
	// CLDR's translations come first, Wiktionary's after, none twice.
	got := Translate(Spanish, English, "sueño")
	cldr, _ := lexicon.tables[0].lookup(Spanish, Fold(Stem(Spanish, "sueño")))
	var first []string
	for f := range strings.SplitSeq(cldr, "\t") {
		if ws, ok := strings.CutPrefix(f, "en:"); ok {
			first = strings.Fields(ws)
		}
	}
	if len(first) == 0 || len(got) <= len(first) || !slices.Equal(got[:len(first)], first) {
		t.Errorf("Translate(es→en, sueño) = %q, want CLDR's %q first and more after", got, first)
	}
	seen := map[string]bool{}
	for _, w := range got {
		if seen[w] {
			t.Errorf("Translate(es→en, sueño) = %q: %q twice", got, w)
		}
		seen[w] = true
	}
}

func TestDecompound(t *testing.T) {
	if got := Decompound(German, "hausschuhe"); !slices.Equal(got, []string{"haus", "schuhe"}) {
		t.Errorf("hausschuhe: %q", got)
	}
	if got := Decompound(German, "kinderschuhe"); !slices.Equal(got, []string{"kinder", "schuhe"}) {
		t.Errorf("kinderschuhe: %q", got)
	}
	if got := Decompound(German, "abendessen"); !slices.Equal(got, []string{"abend", "essen"}) {
		t.Errorf("abendessen: %q", got)
	}
	// Only the last part is in the lexicon: it names what the compound is.
	if got := Decompound(German, "xqzwschuhe"); !slices.Equal(got, []string{"schuhe"}) {
		t.Errorf("xqzwschuhe: %q", got)
	}
	if got := Decompound(Spanish, "hausschuhe"); got != nil {
		t.Errorf("Spanish does not compound: %q", got)
	}
	if got := Decompound(German, "xqzwvxqzwv"); got != nil {
		t.Errorf("no part in the lexicon: %q", got)
	}
}

func TestCognates(t *testing.T) {
	for _, c := range []struct {
		a    Lang
		wa   string
		b    Lang
		wb   string
		want bool
	}{
		{Spanish, "proteína", English, "protein", true},
		{Spanish, "cafeína", English, "caffeine", true},
		{French, "caféine", English, "caffeine", true},
		{Spanish, "maratón", English, "marathon", true},
		{Portuguese, "meditação", English, "meditation", true},
		{Portuguese, "exercício", English, "exercise", true},
		{Spanish, "carbohidratos", English, "carbohydrates", true},
		{Spanish, "proteína", English, "protest", false},
		{Spanish, "día", English, "diary", false},  // too short to match
		{Italian, "fibra", English, "fibre", true}, // four letters: equal keys only
		{Italian, "fibra", English, "fibrous", false},
	} {
		if got := CognatesMatch(Cognate(c.a, c.wa), Cognate(c.b, c.wb)); got != c.want {
			t.Errorf("%q (%s) ~ %q (%s): %v (%q, %q)", c.wa, c.a, c.wb, c.b, got, Cognate(c.a, c.wa), Cognate(c.b, c.wb))
		}
		if c.want && CognatePrefix(Cognate(c.a, c.wa)) != CognatePrefix(Cognate(c.b, c.wb)) {
			t.Errorf("%q and %q match but are indexed apart", c.wa, c.wb)
		}
	}
}

// TestUnderive: an adverb or adjective loses its derivational suffix, by language pattern, and
// then translates ("wekelijks" → "week"); a word without one, or too short a base, is left alone.
func TestUnderive(t *testing.T) {
	for _, c := range []struct {
		lang       Lang
		word, want string
	}{
		{Dutch, "wekelijkse", "wek"},
		{German, "täglich", "täg"},
		{Spanish, "gradualmente", "gradual"},
		{French, "lentement", "lent"},
		{Spanish, "mente", ""},
		{English, "weekly", ""},
		{Dutch, "week", ""},
	} {
		if got := Underive(c.lang, c.word); got != c.want {
			t.Errorf("%s %q: %q, want %q", c.lang, c.word, got, c.want)
		}
	}
	if tr := Translate(Dutch, English, Underive(Dutch, "wekelijkse")); !slices.Contains(tr, "week") {
		t.Errorf("wekelijkse: %q", tr)
	}
}

// TestTranslateDictionary: the Wiktionary lexicon alone, without CLDR's emoji-keyword pairs.
func TestTranslateDictionary(t *testing.T) {
	if got := TranslateDictionary(English, Portuguese, "blister"); !slices.Contains(got, "bolha") {
		t.Errorf("blister → pt: %q, want bolha", got)
	}
	if !slices.Contains(Translate(English, Spanish, "major"), "contraseña") {
		t.Fatal("CLDR no longer pairs major with contraseña: pick another example")
	}
	if got := TranslateDictionary(English, Spanish, "major"); slices.Contains(got, "contraseña") {
		t.Errorf("major → es (dictionary): %q, want no contraseña", got)
	}
}
