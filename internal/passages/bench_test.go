package passages

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/events"
)

// bigPassages are n passages of about 1,000 tokens (the default chunk) of real prose from the
// evaluation corpus, from two documents.
func bigPassages(b *testing.B, n int) []events.Passage {
	raw, err := os.ReadFile("../eval/testdata/corpus/coaching-handbook.md")
	if err != nil {
		b.Fatal(err)
	}
	text := string(raw)
	var out []events.Passage
	for i := 0; i < n; i++ {
		start := (i * 700) % (len(text) - 4200)
		out = append(out, events.Passage{DocumentID: uuid.NewSHA1(uuid.Nil, []byte{byte(i % 2)}), Title: "Handbook", Heading: fmt.Sprint("Part ", i),
			Text: strings.ToValidUTF8(text[start:start+4200], ""), Score: float64(20 - i)})
	}
	return out
}

// BenchmarkClean: what retrieve adds to a turn (10 candidates of ~1,000 tokens → 5).
func BenchmarkClean(b *testing.B) {
	ps := bigPassages(b, 10)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Clean(ps, 5)
	}
}

// BenchmarkSelect: what the passages-mode reply adds to a turn (5 passages of ~1,000 tokens).
func BenchmarkSelect(b *testing.B) {
	ps := bigPassages(b, 5)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Select("How long should I hold a static stretch before trainnig?", ps)
	}
}
