// Package eval measures retrieval quality: it indexes a small corpus into a fresh Weaviate
// tenant and reports recall@5 and MRR of a question set, for BM25 only and for hybrid search.
package eval

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/internal/extract"
	"github.com/coachwire/coachwire/internal/ingest"
	"github.com/coachwire/coachwire/internal/knowledge"
	"github.com/coachwire/coachwire/internal/llm"
)

// Question is one evaluation item: Answer is a substring of the passage that answers Q.
type Question struct {
	Q      string `json:"q"`
	Answer string `json:"answer"`
}

// Result is one mode's score.
type Result struct {
	Mode      string
	Questions int
	Recall5   float64
	MRR       float64
	Misses    []string
}

// Embed embeds texts (nil: BM25 only).
type Embed func(text string) []float32

// Run indexes corpus (Markdown) as one document of a new tenant and scores questions with BM25
// and, when embed is set, hybrid search.
func Run(ctx context.Context, ks *knowledge.Store, ch *ingest.Chunker, corpus string, qs []Question, embed Embed) ([]Result, error) {
	xd, err := extract.Extract(ctx, strings.NewReader(corpus), int64(len(corpus)), extract.Markdown, extract.Limits{})
	if err != nil {
		return nil, err
	}
	modes := []string{"bm25"}
	if embed != nil {
		modes = append(modes, "hybrid")
	}
	var out []Result
	for _, mode := range modes {
		tenant, doc := uuid.New(), uuid.New()
		if err := ks.EnsureTenant(ctx, tenant); err != nil {
			return nil, err
		}
		chunks := ingest.ChunkDocument(ch, doc, "Coaching handbook", xd)
		if mode == "hybrid" {
			for i := range chunks {
				chunks[i].Vector = embed(llm.DocumentPrefix + chunks[i].Text)
			}
		}
		if err := ks.ReplaceDocument(ctx, tenant, doc, chunks); err != nil {
			return nil, err
		}
		res := Result{Mode: mode, Questions: len(qs)}
		for _, q := range qs {
			var vec []float32
			if mode == "hybrid" {
				vec = embed(llm.QueryPrefix + q.Q)
			}
			hits, err := ks.Search(ctx, tenant, q.Q, vec, 5)
			if err != nil {
				return nil, err
			}
			rank := 0
			for i, h := range hits {
				if strings.Contains(h.Text, q.Answer) {
					rank = i + 1
					break
				}
			}
			if rank > 0 {
				res.Recall5++
				res.MRR += 1 / float64(rank)
			} else {
				res.Misses = append(res.Misses, q.Q)
			}
		}
		res.Recall5 /= float64(len(qs))
		res.MRR /= float64(len(qs))
		out = append(out, res)
	}
	return out, nil
}

// Print writes the results as a table.
func Print(w io.Writer, rs []Result, chunks int, embedder string) {
	fmt.Fprintf(w, "retrieval evaluation: %d questions, corpus in %d chunks, top 5\n", rs[0].Questions, chunks)
	fmt.Fprintf(w, "%-8s %-9s %-6s\n", "mode", "recall@5", "MRR")
	for _, r := range rs {
		fmt.Fprintf(w, "%-8s %-9.3f %-6.3f\n", r.Mode, r.Recall5, r.MRR)
	}
	fmt.Fprintf(w, "hybrid embeddings: %s\n", embedder)
	for _, r := range rs {
		for _, m := range r.Misses {
			fmt.Fprintf(w, "  %s miss: %s\n", r.Mode, m)
		}
	}
}
