package eval

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coachwire/coachwire/internal/extract"
)

// heldOut reads every testdata/heldout-NAME.json: questions written by an engineer before
// changing retrieval, never tuned on (make eval prints each file as a row "held-out NAME"
// and lists none of its misses).
func heldOut(t *testing.T) []Question {
	names, err := filepath.Glob("testdata/heldout-*.json")
	if err != nil {
		t.Fatal(err)
	}
	var out []Question
	for _, n := range names {
		raw, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		var qs []Question
		if err := json.Unmarshal(raw, &qs); err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		set := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(n), "heldout-"), ".json")
		for i := range qs {
			qs[i].Set = set
		}
		out = append(out, qs...)
	}
	return out
}

// TestHeldOutSet checks the held-out questions as TestQuestionSet does the others: each answer
// in exactly one section of the corpus (none for no-answer ones), known categories.
func TestHeldOutSet(t *testing.T) {
	docs, _ := load(t)
	var sections []string
	for _, d := range docs {
		xd, err := extract.Extract(context.Background(), strings.NewReader(d.Markdown), int64(len(d.Markdown)), extract.Markdown, extract.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range xd.Sections {
			sections = append(sections, s.Text)
		}
	}
	qs := heldOut(t)
	if len(qs) == 0 {
		t.Fatal("no held-out questions")
	}
	known := map[string]bool{}
	for _, c := range Categories {
		known[c] = true
	}
	for _, q := range qs {
		if !known[q.Category] {
			t.Errorf("held-out %s: %q in unknown category %q", q.Set, q.Q, q.Category)
		}
		if (q.Category == NoAnswer) != (q.Answer == "") {
			t.Errorf("held-out %s: %q: category %s with answer %q", q.Set, q.Q, q.Category, q.Answer)
			continue
		}
		if q.Answer == "" {
			continue
		}
		n := 0
		for _, s := range sections {
			n += strings.Count(s, q.Answer)
		}
		if n != 1 {
			t.Errorf("held-out %s: answer %q of %q occurs %d times", q.Set, q.Answer, q.Q, n)
		}
	}
}
