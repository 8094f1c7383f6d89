package gateway

// "Try a question" (issue 11): the knowledge retrieval a turn would run for a question, shown
// to the creator with the passages' scores. It reads only: nothing is stored, no conversation
// is opened and no model writes anything. It is the one place the gateway retrieves in a request,
// through the function package app gives it (Deps.Retrieve, the retrieve worker's own search),
// so the preview and a real turn cannot drift apart.

import (
	"context"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/passages"
)

// Retriever runs a turn's knowledge retrieval (embedding, hybrid or BM25 search, cleaning) for
// a question in one workspace and returns the passages a turn would get, best first, the words
// the search used for the question's words, and the search mode ("hybrid" or "bm25").
type Retriever func(ctx context.Context, creatorID uuid.UUID, question string) ([]events.Passage, *events.Expansions, string, error)

// maxQuestionChars bounds a tried question (a widget message's limit is larger; a question is
// short).
const maxQuestionChars = 1000

type searchPassageOut struct {
	DocumentID uuid.UUID `json:"document_id"`
	Title      string    `json:"title"`
	Section    string    `json:"section"`
	Page       int       `json:"page,omitempty"`
	Text       string    `json:"text"`
	Score      float64   `json:"score"`
	// Coverage is the share of the question's content words the passage holds
	// (passages.Coverage); Answers whether that is enough to answer (passages.Found).
	Coverage float64 `json:"coverage"`
	Answers  bool    `json:"answers"`
}

// handleKnowledgeSearch answers POST /api/v1/knowledge/search {"question": "..."}: the passages a
// turn would be given, with their scores, document and section, and whether the passages-mode
// reply would find an answer among them (found) or say it found nothing.
func (s *Server) handleKnowledgeSearch(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	var req struct {
		Question string `json:"question"`
	}
	if err := readJSON(w, r, &req); err != nil {
		return err
	}
	q := strings.TrimSpace(req.Question)
	if q == "" {
		return errBadRequest("missing_question", "question is required: type what an end user might ask")
	}
	if !utf8.ValidString(q) || utf8.RuneCountInString(q) > maxQuestionChars {
		return errBadRequest("invalid_question", "question must be valid text of at most 1000 characters")
	}
	if s.Retrieve == nil {
		return &apiError{Status: http.StatusServiceUnavailable, Code: "knowledge_unavailable", Message: "knowledge search is not available on this gateway"}
	}
	ps, x, mode, err := s.Retrieve(r.Context(), a.CreatorID, q)
	if err != nil {
		w.Header().Set("Retry-After", "5")
		return &apiError{Status: http.StatusServiceUnavailable, Code: "knowledge_unavailable",
			Message: "the knowledge index did not answer in time; retry shortly", Err: err}
	}
	cov := passages.CoverageWith(q, x, ps) // as a turn decides (generate.PassagesAnswerWith)
	out := make([]searchPassageOut, 0, len(ps))
	found := false
	for i, p := range ps {
		ok := passages.Found(cov[i])
		found = found || ok
		out = append(out, searchPassageOut{DocumentID: p.DocumentID, Title: p.Title, Section: p.Heading, Page: p.Page, Text: p.Text,
			Score: p.Score, Coverage: cov[i], Answers: ok})
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{"question": q, "search_mode": mode, "found": found, "passages": out})
	return nil
}
