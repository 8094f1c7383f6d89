package extracttest

import (
	"bytes"
	"fmt"
	"math/rand/v2"
)

var words = []string{"training", "recovery", "sleep", "protein", "squat", "deadlift", "progressive", "overload", "interval",
	"aerobic", "threshold", "mobility", "habit", "coach", "athlete", "session", "volume", "intensity", "nutrition", "hydration",
	"the", "and", "of", "to", "a", "in", "is", "for", "with", "on", "your", "body", "weeks", "after", "before", "every", "rest",
	"heart", "rate", "zone", "tempo", "stretch", "core", "strength", "endurance", "fatigue", "deload", "warm-up", "cool-down",
	"carbohydrates", "fibre", "vitamin", "magnesium", "caffeine", "cortisol", "glycogen", "mitochondria", "lactate", "VO2max",
	"Übung", "entraînement", "récupération", "día", "fuerza", "позвоночник", "筋力", "練習", "2024", "12", "3.5", "km", "kg"}

// Markdown is about size bytes of Markdown as creators write it: "##" and "###" headings over
// sections of very different lengths (some of several hundred KB, one of a quarter of the file),
// paragraphs of varied prose from a mixed-language vocabulary, bullet lists, tables and fenced
// code. The same seed gives the same bytes.
func Markdown(size int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 42))
	var b bytes.Buffer
	b.Grow(size + 4096)
	b.WriteString("---\ntitle: \"Training handbook\"\n---\n\n# Training handbook\n\n")
	sentence := func() {
		n := 6 + rng.IntN(20)
		for i := 0; i < n; i++ {
			w := words[rng.IntN(len(words))]
			if i == 0 && w[0] >= 'a' && w[0] <= 'z' {
				w = string(w[0]-32) + w[1:]
			}
			b.WriteString(w)
			if i < n-1 {
				if rng.IntN(12) == 0 {
					b.WriteByte(',')
				}
				b.WriteByte(' ')
			}
		}
		b.WriteString([]string{". ", ". ", ". ", "! ", "? "}[rng.IntN(5)])
	}
	giant := false
	for s := 0; b.Len() < size; s++ {
		fmt.Fprintf(&b, "%s Part %d: %s %s\n\n", []string{"##", "###"}[rng.IntN(2)], s, words[rng.IntN(len(words))], words[rng.IntN(len(words))])
		// Mostly short sections, now and then a long one, and in the middle of the document one
		// of a quarter of it (a transcript pasted under one heading).
		target := 500 + rng.IntN(6000)
		if rng.IntN(40) == 0 {
			target = 200_000 + rng.IntN(600_000)
		}
		if !giant && b.Len() > size/3 {
			target, giant = size/4, true
		}
		for start := b.Len(); b.Len()-start < target && b.Len() < size; {
			switch k := rng.IntN(10); {
			case k < 7:
				for range 2 + rng.IntN(6) {
					sentence()
				}
				b.WriteString("\n\n")
			case k == 7:
				for range 2 + rng.IntN(5) {
					b.WriteString("- ")
					sentence()
					b.WriteByte('\n')
				}
				b.WriteByte('\n')
			case k == 8:
				b.WriteString("| exercise | sets | reps |\n|---|---|---|\n")
				for range 3 + rng.IntN(5) {
					fmt.Fprintf(&b, "| %s | %d | %d |\n", words[rng.IntN(len(words))], 1+rng.IntN(5), 3+rng.IntN(12))
				}
				b.WriteByte('\n')
			default:
				b.WriteString("```\n")
				for range 2 + rng.IntN(6) {
					fmt.Fprintf(&b, "log(%q, sets=%d, load=%.1f)\n", words[rng.IntN(len(words))], 1+rng.IntN(5), rng.Float64()*100)
				}
				b.WriteString("```\n\n")
			}
		}
	}
	return b.Bytes()
}

// ProsePDFBytes is ProsePDF with as many pages as make about size bytes.
func ProsePDFBytes(title string, size int) []byte {
	one := len(ProsePDF(title, 1))
	two := len(ProsePDF(title, 2))
	per := two - one
	return ProsePDF(title, max(1, (size-one)/per+1))
}
