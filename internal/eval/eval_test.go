package eval

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/coachwire/coachwire/internal/extract"
	"github.com/coachwire/coachwire/internal/ingest"
	"github.com/coachwire/coachwire/internal/knowledge"
	"github.com/coachwire/coachwire/internal/llm/ollamatest"
	"github.com/coachwire/coachwire/internal/testenv"
	"github.com/coachwire/coachwire/internal/tokens"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func load(t *testing.T) ([]Document, []Question) {
	docs, err := LoadCorpus("testdata/corpus")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("testdata/questions.json")
	if err != nil {
		t.Fatal(err)
	}
	var qs []Question
	if err := json.Unmarshal(raw, &qs); err != nil {
		t.Fatal(err)
	}
	return docs, qs
}

// TestQuestionSet checks the set itself: ≥ 5 documents, ≥ 120 questions, ≥ 10 in every
// category, each answer in exactly one section of the whole corpus, no answer for no-answer ones.
func TestQuestionSet(t *testing.T) {
	docs, qs := load(t)
	if len(docs) < 5 {
		t.Fatalf("%d documents, want ≥ 5", len(docs))
	}
	if len(qs) < 120 {
		t.Fatalf("%d questions, want ≥ 120", len(qs))
	}
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
	per := map[string]int{}
	for _, q := range qs {
		per[q.Category]++
		if q.Category == NoAnswer {
			if q.Answer != "" {
				t.Errorf("no-answer question %q has answer %q", q.Q, q.Answer)
			}
			continue
		}
		n := 0
		for _, s := range sections {
			n += strings.Count(s, q.Answer)
		}
		if n != 1 || q.Answer == "" {
			t.Errorf("answer %q of %q occurs %d times", q.Answer, q.Q, n)
		}
	}
	for _, c := range Categories {
		if per[c] < 10 {
			t.Errorf("category %s has %d questions, want ≥ 10", c, per[c])
		}
		delete(per, c)
	}
	if len(per) > 0 {
		t.Errorf("questions in unknown categories: %v", per)
	}
}

// TestEval indexes the corpus into fresh tenants of a real Weaviate and prints the table per
// category (make eval; set COACHWIRE_EVAL=1, COACHWIRE_EVAL_MISSES=1 to list the misses, and
// COACHWIRE_EVAL_DEBUG=1 to print the replies that lack an answer their passages held).
func TestEval(t *testing.T) {
	if os.Getenv("COACHWIRE_EVAL") == "" {
		t.Skip("set COACHWIRE_EVAL=1 (make eval)")
	}
	docs, qs := load(t)
	ctx := context.Background()
	ks, err := knowledge.New(ctx, testenv.Weaviate(t))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokens.CL100K()
	if err != nil {
		t.Fatal(err)
	}
	ch, err := ingest.NewChunker(ingest.ChunkerOptions{Tokenizer: tok})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := Run(ctx, ks, ch, docs, append(qs, heldOut(t)...), ollamatest.Embed)
	if err != nil {
		t.Fatal(err)
	}
	chunks, err := Chunks(ctx, ch, docs)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	Print(&b, rs, len(docs), len(chunks), len(qs), "internal/llm/ollamatest deterministic bag-of-words embedder (no real model weights here: the hybrid number measures the fusion plumbing, not nomic-embed-text)",
		os.Getenv("COACHWIRE_EVAL_MISSES") != "")
	os.Stdout.WriteString(b.String())
}
