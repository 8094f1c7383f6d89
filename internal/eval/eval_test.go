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

func load(t *testing.T) (string, []Question) {
	corpus, err := os.ReadFile("testdata/corpus.md")
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
	return string(corpus), qs
}

// TestQuestionSet checks the set itself: ≥ 30 questions, each answer in exactly one section.
func TestQuestionSet(t *testing.T) {
	corpus, qs := load(t)
	if len(qs) < 30 {
		t.Fatalf("%d questions, want ≥ 30", len(qs))
	}
	xd, err := extract.Extract(context.Background(), strings.NewReader(corpus), int64(len(corpus)), extract.Markdown, extract.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		n := 0
		for _, s := range xd.Sections {
			n += strings.Count(s.Text, q.Answer)
		}
		if n != 1 {
			t.Errorf("answer %q of %q occurs %d times", q.Answer, q.Q, n)
		}
	}
}

// TestEval indexes the corpus into fresh tenants of a real Weaviate and prints recall@5 and MRR
// (make eval; set COACHWIRE_EVAL=1).
func TestEval(t *testing.T) {
	if os.Getenv("COACHWIRE_EVAL") == "" {
		t.Skip("set COACHWIRE_EVAL=1 (make eval)")
	}
	corpus, qs := load(t)
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
	rs, err := Run(ctx, ks, ch, corpus, qs, ollamatest.Embed)
	if err != nil {
		t.Fatal(err)
	}
	xd, _ := extract.Extract(ctx, strings.NewReader(corpus), int64(len(corpus)), extract.Markdown, extract.Limits{})
	var b strings.Builder
	Print(&b, rs, len(ingest.ChunkDocument(ch, [16]byte{1}, "", xd)), "internal/llm/ollamatest deterministic bag-of-words embedder (no real model weights here: the hybrid number measures the fusion plumbing, not nomic-embed-text)")
	os.Stdout.WriteString(b.String())
}
