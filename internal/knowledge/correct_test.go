package knowledge

import "testing"

func TestCorrect(t *testing.T) {
	v := &vocab{words: map[string]bool{}, byGram: map[string][]string{}, byBag: map[string][]string{}}
	for _, w := range []string{"plan", "plank", "sets", "sleep", "marathon", "hydration", "chafing"} {
		v.words[w] = true
		for _, g := range trigrams(w) {
			v.byGram[g] = append(v.byGram[g], w)
		}
		v.byBag[bag(w)] = append(v.byBag[bag(w)], w)
	}
	for typo, want := range map[string]string{
		"plnak": "plank", "stes": "sets", "plnk": "plank", "marathn": "marathon", "hydartion": "hydration", "chafng": "chafing",
		"hxdrxxtion": "", "banana": "", "keep": "",
	} {
		if got := v.correct(typo); got != want {
			t.Errorf("correct(%q) = %q, want %q", typo, got, want)
		}
	}
}
