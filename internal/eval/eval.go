// Package eval measures retrieval and answer quality: it indexes a small coaching corpus (several
// Markdown documents) into a fresh Weaviate tenant and scores a question set by category —
// recall@1, recall@5 and MRR of the passages a turn would get, how often the passages-mode reply
// says it found nothing (the honest answer for questions the corpus does not answer, a miss for
// the others), and whether the reply itself contains the answer — for BM25 only and for hybrid.
package eval

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/extract"
	"github.com/coachwire/coachwire/internal/generate"
	"github.com/coachwire/coachwire/internal/ingest"
	"github.com/coachwire/coachwire/internal/knowledge"
	"github.com/coachwire/coachwire/internal/llm"
	"github.com/coachwire/coachwire/internal/passages"
)

// NoAnswer is the category of questions nothing in the corpus answers (Answer is empty).
const NoAnswer = "no-answer"

// Categories are the question categories in the order the table prints them.
var Categories = []string{"direct", "paraphrase", "single-word", "heading", "typo1", "typo2", "other-language", NoAnswer}

// Question is one evaluation item: Answer is a substring of the one section that answers Q
// (empty for category NoAnswer).
type Question struct {
	Q        string `json:"q"`
	Answer   string `json:"answer"`
	Category string `json:"category"`
	// Set names the held-out file the question comes from (testdata/heldout-NAME.json; empty
	// for questions.json): its questions are scored as one row of their own, "held-out NAME",
	// outside the categories and overall.
	Set string `json:"-"`
}

// Document is one corpus file.
type Document struct {
	Name, Title, Markdown string
}

// LoadCorpus reads every *.md file of dir as a document. The title is the document's only H1,
// or the file name ("coaching-handbook.md" → "Coaching handbook") when it has none or several.
func LoadCorpus(dir string) ([]Document, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.md"))
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var out []Document
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			return nil, err
		}
		out = append(out, Document{Name: filepath.Base(n), Title: title(filepath.Base(n), string(b)), Markdown: string(b)})
	}
	return out, nil
}

func title(name, md string) string {
	var h1 []string
	for _, l := range strings.Split(md, "\n") {
		if t, ok := strings.CutPrefix(l, "# "); ok {
			h1 = append(h1, strings.TrimSpace(t))
		}
	}
	if len(h1) == 1 {
		return h1[0]
	}
	t := strings.ReplaceAll(strings.TrimSuffix(name, ".md"), "-", " ")
	return strings.ToUpper(t[:1]) + t[1:]
}

// Score is one category's (or the overall) numbers in one mode.
type Score struct {
	Category string
	// N questions; Answerable of them have an answer in the corpus.
	N, Answerable int
	// Recall1, Recall5 and MRR are over the answerable questions.
	Recall1, Recall5, MRR float64
	// NotFound is the share of questions whose reply said it found nothing: for NoAnswer the
	// honest rate, for the others the share of answers withheld.
	NotFound float64
	// Withheld is the share of answerable questions whose passages held the answer but whose
	// reply said it found nothing (the threshold's misses; NotFound also counts questions the
	// search did not find).
	Withheld float64
	// InReply is the share of answerable questions whose passages-mode reply contains the answer.
	InReply float64
	// Words is the mean length of the passages-mode reply, in words, over answerable questions.
	Words float64
}

// Result is one mode's scores.
type Result struct {
	Mode   string
	Scores []Score // per category in Categories order, then "overall"
	Misses []string
}

// Embed embeds texts (nil: BM25 only).
type Embed func(text string) []float32

// Chunks splits the corpus into the chunks the ingest worker would index.
func Chunks(ctx context.Context, ch *ingest.Chunker, docs []Document) ([]knowledge.Chunk, error) {
	var out []knowledge.Chunk
	for _, d := range docs {
		xd, err := extract.Extract(ctx, strings.NewReader(d.Markdown), int64(len(d.Markdown)), extract.Markdown, extract.Limits{})
		if err != nil {
			return nil, fmt.Errorf("eval: %s: %w", d.Name, err)
		}
		out = append(out, ingest.ChunkDocument(ch, uuid.NewSHA1(uuid.NameSpaceURL, []byte(d.Name)), d.Title, xd)...)
	}
	return out, nil
}

// turnPassages is how many passages a turn gets (the retrieve worker's default).
const turnPassages = 5

// Run indexes the corpus as documents of a new tenant per mode and scores the questions with
// BM25 and, when embed is set, hybrid search.
func Run(ctx context.Context, ks *knowledge.Store, ch *ingest.Chunker, docs []Document, qs []Question, embed Embed) ([]Result, error) {
	chunks, err := Chunks(ctx, ch, docs)
	if err != nil {
		return nil, err
	}
	modes := []string{"bm25"}
	if embed != nil {
		modes = append(modes, "hybrid")
	}
	var out []Result
	for _, mode := range modes {
		tenant := uuid.New()
		if err := ks.EnsureTenant(ctx, tenant); err != nil {
			return nil, err
		}
		// Documents are indexed one by one, in file order, as the ingest worker would.
		for start := 0; start < len(chunks); {
			end := start
			for end < len(chunks) && chunks[end].DocumentID == chunks[start].DocumentID {
				if mode == "hybrid" {
					chunks[end].Vector = embed(llm.DocumentPrefix + chunks[end].Text)
				} else {
					chunks[end].Vector = nil
				}
				end++
			}
			if err := ks.ReplaceDocument(ctx, tenant, chunks[start].DocumentID, chunks[start:end]); err != nil {
				return nil, err
			}
			start = end
		}
		res := Result{Mode: mode}
		acc := map[string]*Score{}
		for _, q := range qs {
			var vec []float32
			if mode == "hybrid" {
				vec = embed(llm.QueryPrefix + q.Q)
			}
			// What a turn gets: the retrieve worker's search and clean-up, then the passages-mode
			// reply, which says it found nothing when no passage passes passages.Found.
			hits, x, err := ks.SearchExpanded(ctx, tenant, q.Q, vec, passages.Candidates(turnPassages))
			if err != nil {
				return nil, err
			}
			found := make([]events.Passage, 0, len(hits))
			for _, h := range hits {
				found = append(found, events.Passage{DocumentID: h.DocumentID, Title: h.Title, Heading: h.Heading, Page: h.Page, Text: h.Text, Score: h.Score})
			}
			found = passages.Clean(found, turnPassages)
			reply, cited := generate.PassagesAnswerWith(q.Q, x, found)
			notFound := len(cited) == 0
			cats := []string{q.Category, "overall"} // overall: the answerable questions
			if q.Answer == "" {
				cats = cats[:1]
			}
			if q.Set != "" {
				cats = []string{"held-out " + q.Set}
			}
			for _, cat := range cats {
				s := acc[cat]
				if s == nil {
					s = &Score{Category: cat}
					acc[cat] = s
				}
				s.N++
				if notFound {
					s.NotFound++
				}
				if q.Answer == "" {
					continue
				}
				s.Answerable++
				rank := 0
				for i, p := range found {
					if strings.Contains(p.Text, q.Answer) {
						rank = i + 1
						break
					}
				}
				if rank == 1 {
					s.Recall1++
				}
				if rank > 0 {
					s.Recall5++
					s.MRR += 1 / float64(rank)
					if notFound {
						s.Withheld++
					}
				}
				if !notFound && strings.Contains(unquote(reply), q.Answer) {
					s.InReply++
				} else if cat == "overall" && rank >= 1 && os.Getenv("COACHWIRE_EVAL_DEBUG") != "" {
					res.Misses = append(res.Misses, fmt.Sprintf("[%s] passage %d has it, reply does not: %s %v %v %.2f\n%s", q.Category, rank, q.Q, passages.Terms(q.Q), x, passages.CoverageWith(q.Q, x, found), reply))
				}
				s.Words += float64(len(strings.Fields(unquote(reply))))
				if cat == "overall" && rank != 1 {
					var top []string // the sections found instead, best first
					for _, p := range found[:min(3, len(found))] {
						top = append(top, p.Heading)
					}
					res.Misses = append(res.Misses, fmt.Sprintf("[%s] rank %d: %s, found instead: %q", q.Category, rank, q.Q, top))
				}
			}
			if q.Answer == "" && !notFound {
				res.Misses = append(res.Misses, fmt.Sprintf("[%s] answered: %s %v %.2f", q.Category, q.Q, x, passages.CoverageWith(q.Q, x, found)))
			}
		}
		var held []string
		for cat := range acc {
			if strings.HasPrefix(cat, "held-out ") {
				held = append(held, cat)
			}
		}
		sort.Strings(held)
		for _, cat := range append(append(append([]string{}, Categories...), "overall"), held...) {
			s := acc[cat]
			if s == nil {
				continue
			}
			s.NotFound /= float64(s.N)
			if s.Answerable > 0 {
				a := float64(s.Answerable)
				s.Recall1, s.Recall5, s.MRR, s.Withheld, s.InReply, s.Words = s.Recall1/a, s.Recall5/a, s.MRR/a, s.Withheld/a, s.InReply/a, s.Words/a
			}
			res.Scores = append(res.Scores, *s)
		}
		out = append(out, res)
	}
	return out, nil
}

// unquote joins a reply's lines without their blockquote markers, so an answer that a quote
// wraps onto two lines is still found.
func unquote(reply string) string {
	var b strings.Builder
	for _, l := range strings.Split(reply, "\n") {
		l = strings.TrimPrefix(strings.TrimPrefix(l, ">"), " ")
		b.WriteString(l)
		b.WriteByte(' ')
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

// Print writes the results as one table per mode.
func Print(w io.Writer, rs []Result, docs, chunks, questions int, embedder string, misses bool) {
	fmt.Fprintf(w, "retrieval evaluation: %d questions, %d documents in %d chunks, top %d passages per turn\n", questions, docs, chunks, turnPassages)
	fmt.Fprintln(w, "R@1, R@5, MRR: the answering section among the turn's passages (answerable questions);")
	fmt.Fprintln(w, "not-found: the reply said it found nothing (no-answer: the honest rate, higher is better; others: lower is better);")
	fmt.Fprintln(w, "withheld: the passages held the answer but the reply said it found nothing;")
	fmt.Fprintln(w, "in-reply: the passages-mode reply contains the answer; words: mean passages-mode reply length")
	for _, r := range rs {
		fmt.Fprintf(w, "\n%s\n%-15s %4s %6s %6s %6s %9s %8s %8s %6s\n", r.Mode, "category", "n", "R@1", "R@5", "MRR", "not-found", "withheld", "in-reply", "words")
		for _, s := range r.Scores {
			if s.Answerable == 0 {
				fmt.Fprintf(w, "%-15s %4d %6s %6s %6s %9.3f %8s %8s %6s\n", s.Category, s.N, "-", "-", "-", s.NotFound, "-", "-", "-")
				continue
			}
			fmt.Fprintf(w, "%-15s %4d %6.3f %6.3f %6.3f %9.3f %8.3f %8.3f %6.0f\n", s.Category, s.N, s.Recall1, s.Recall5, s.MRR, s.NotFound, s.Withheld, s.InReply, s.Words)
		}
	}
	fmt.Fprintf(w, "\nhybrid embeddings: %s\n", embedder)
	if !misses {
		return
	}
	for _, r := range rs {
		for _, m := range r.Misses {
			fmt.Fprintf(w, "  %s %s\n", r.Mode, m)
		}
	}
}
