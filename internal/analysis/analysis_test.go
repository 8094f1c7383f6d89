package analysis

import (
	"slices"
	"strconv"
	"testing"

	snowball "github.com/blevesearch/snowballstem"
)

func TestDetect(t *testing.T) {
	for text, want := range map[string]Lang{
		"Sleep is the foundation of recovery. Aim for eight hours in a dark, cool room every night.":         English,
		"El sueño es la base de la recuperación. Duerme ocho horas en una habitación oscura y fresca.":       Spanish,
		"O sono é a base da recuperação. Durma oito horas num quarto escuro e fresco todas as noites.":       Portuguese,
		"Le sommeil est la base de la récupération. Dormez huit heures dans une chambre sombre et fraîche.":  French,
		"Schlaf ist die Grundlage der Erholung. Schlafen Sie acht Stunden in einem dunklen, kühlen Raum.":    German,
		"Il sonno è la base del recupero. Dormi otto ore in una stanza buia e fresca ogni notte.":            Italian,
		"Slaap is de basis van herstel. Slaap elke nacht acht uur in een donkere, koele kamer zonder licht.": Dutch,
	} {
		if got := Detect(text); got.Lang != want || !got.Reliable() {
			t.Errorf("Detect(%q) = %+v, want %s", text, got, want)
		}
	}
	if got := Detect("12345 !!!"); got.Lang != "" {
		t.Errorf("no letters: %+v", got)
	}
}

func TestTermsStemAndDropStopWords(t *testing.T) {
	if got := Terms(English, "How do I take my naps?"); !slices.Equal(got, []string{"take", "nap"}) {
		t.Errorf("English: %q", got)
	}
	if got := Terms(Spanish, "¿Cuántas siestas debo tomar?"); !slices.Equal(got, []string{"cuant", "siest", "deb", "tom"}) {
		t.Errorf("Spanish: %q", got)
	}
	if Stem(German, "Erholungen") != Stem(German, "Erholung") || Stem(French, "récupérations") != Stem(French, "récupération") {
		t.Error("plural and singular stem apart")
	}
	if Stem("xx", "Words") != "Words" {
		t.Error("unknown language changed the word")
	}
}

func TestDetectQueryUsesPrior(t *testing.T) {
	// A two-word query is not reliably detected: the creator's languages come first.
	got := DetectQuery("siesta larga", []Lang{Spanish})
	if got[0] != Spanish || got[len(got)-1] != English {
		t.Errorf("DetectQuery = %v", got)
	}
	got = DetectQuery("¿Cuánto tiempo debería durar una siesta por la tarde para descansar bien?", []Lang{English})
	if got[0] != Spanish || !slices.Contains(got, English) {
		t.Errorf("long Spanish query with an English prior: %v", got)
	}
}

func TestNearStop(t *testing.T) {
	for w, want := range map[string]bool{"shoud": true, "shuold": true, "whith": true, "hydration": false, "sleep": false} {
		if NearStop(English, w) != want {
			t.Errorf("NearStop(%q) = %v", w, !want)
		}
	}
}

// TestStemCache: remembered stems are the stemmer's, in every language, through the cache's
// turnover and under concurrent use.
func TestStemCache(t *testing.T) {
	words := []string{"running", "runs", "sueño", "durmiendo", "schlafen", "slapen", "nuits", "dormire", "corrida"}
	want := map[Lang][]string{}
	for _, l := range Supported {
		for _, w := range words {
			env := snowball.NewEnv(w)
			languages[l].stem(env)
			want[l] = append(want[l], env.Current())
		}
	}
	done := make(chan bool)
	for g := range 2 {
		go func() {
			defer func() { done <- true }()
			for i := range 3 * stemCacheSize / 2 {
				if i%97 == 0 {
					for _, l := range Supported {
						for j, w := range words {
							if got := Stem(l, w); got != want[l][j] {
								t.Errorf("Stem(%s, %q) = %q, want %q", l, w, got, want[l][j])
								return
							}
						}
					}
				}
				Stem(English, strconv.Itoa(g)+"x"+strconv.Itoa(i)) // fills the cache
			}
		}()
	}
	<-done
	<-done
}
