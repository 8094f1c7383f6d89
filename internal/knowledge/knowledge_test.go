package knowledge_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/internal/knowledge"
	"github.com/coachwire/coachwire/internal/llm/ollamatest"
	"github.com/coachwire/coachwire/internal/localdeps"
)

var weaviateURL, weaviateGRPC string

// TestMain starts one real Weaviate for the package (skipping every test
// when the binary is not built, except under CI where that is a failure).
func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	bin, err := localdeps.FindWeaviateBin(os.Getenv)
	if err != nil {
		if os.Getenv("CI") != "" {
			fmt.Fprintln(os.Stderr, "knowledge tests need Weaviate:", err)
			return 1
		}
		fmt.Fprintln(os.Stderr, "SKIP knowledge tests:", err)
		return 0
	}
	dir, err := os.MkdirTemp("", "knowledge-weaviate-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	w, err := localdeps.StartWeaviate(ctx, localdeps.WeaviateOptions{
		Bin: bin, DataDir: dir, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = w.Stop() }()
	weaviateURL, weaviateGRPC = w.URL(), w.GRPCAddr()
	return m.Run()
}

func newStore(t *testing.T, opts ...knowledge.Option) *knowledge.Store {
	t.Helper()
	s, err := knowledge.New(context.Background(), weaviateURL, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// overBoth runs a search test over Weaviate's gRPC API and over GraphQL: the two transports
// must find, score and isolate alike.
func overBoth(t *testing.T, test func(t *testing.T, s *knowledge.Store)) {
	t.Run("grpc", func(t *testing.T) {
		s := newStore(t, knowledge.WithGRPC(weaviateGRPC))
		if !s.UsesGRPC() {
			t.Fatal("the store fell back to GraphQL")
		}
		test(t, s)
	})
	t.Run("graphql", func(t *testing.T) { test(t, newStore(t)) })
}

func newCreator(t *testing.T, s *knowledge.Store) uuid.UUID {
	t.Helper()
	id := uuid.New()
	if err := s.EnsureTenant(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	return id
}

func docChunks(doc uuid.UUID, title string, texts ...string) []knowledge.Chunk {
	out := make([]knowledge.Chunk, len(texts))
	for i, txt := range texts {
		out[i] = knowledge.Chunk{DocumentID: doc, Index: i, Title: title, Heading: fmt.Sprintf("Part %d", i+1), Text: txt}
	}
	return out
}

func withVectors(cs []knowledge.Chunk) []knowledge.Chunk {
	for i := range cs {
		cs[i].Vector = ollamatest.Embed("search_document: " + cs[i].Text)
	}
	return cs
}

var texts = []string{
	"Sleep is the foundation of recovery. Aim for eight hours in a dark, cool room.",
	"Protein after training helps muscles repair. Twenty to forty grams is plenty.",
	"Hydration matters: drink water before, during and after long sessions.",
}

func TestNewIsIdempotent(t *testing.T) {
	ctx := context.Background()
	for range 3 {
		s := newStore(t)
		if err := s.EnsureSchema(ctx); err != nil {
			t.Fatal(err)
		}
		if err := s.Ready(ctx); err != nil {
			t.Fatal(err)
		}
	}
	s := newStore(t)
	c := newCreator(t, s)
	if err := s.EnsureTenant(ctx, c); err != nil {
		t.Fatalf("second EnsureTenant: %v", err)
	}
}

// A gRPC address that does not answer leaves searches on GraphQL: the store still works.
func TestGRPCUnreachableFallsBack(t *testing.T) {
	ctx := context.Background()
	port, err := localdeps.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	s := newStore(t, knowledge.WithGRPC(fmt.Sprintf("127.0.0.1:%d", port)))
	if s.UsesGRPC() {
		t.Fatal("a closed port is used for gRPC")
	}
	c := newCreator(t, s)
	if err := s.UpsertChunks(ctx, c, docChunks(uuid.New(), "Recovery guide", texts...)); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Search(ctx, c, "protein after training", nil, 1); err != nil || len(got) != 1 {
		t.Fatalf("search over the fallback: %v %+v", err, got)
	}
}

func TestUpsertTwiceKeepsOneCopy(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	c := newCreator(t, s)
	doc := uuid.New()
	for range 2 {
		if err := s.UpsertChunks(ctx, c, docChunks(doc, "Recovery guide", texts...)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Search(ctx, c, "sleep protein hydration water recovery", nil, 20)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("got %d passages, want 3: %+v", len(got), got)
	}
	seen := map[int]bool{}
	for _, p := range got {
		if seen[p.ChunkIndex] {
			t.Fatalf("chunk %d duplicated", p.ChunkIndex)
		}
		seen[p.ChunkIndex] = true
	}

	// Changed text under the same id replaces the old text.
	changed := docChunks(doc, "Recovery guide", "Naps of twenty minutes restore alertness.", texts[1], texts[2])
	if err := s.UpsertChunks(ctx, c, changed); err != nil {
		t.Fatal(err)
	}
	got, err = s.Search(ctx, c, "sleep foundation", nil, 20)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Fatalf("old text still found: %+v", got)
	}
}

func TestBM25Search(t *testing.T) { overBoth(t, testBM25Search) }

func testBM25Search(t *testing.T, s *knowledge.Store) {
	ctx := context.Background()
	c := newCreator(t, s)
	doc := uuid.New()
	if err := s.UpsertChunks(ctx, c, docChunks(doc, "Recovery guide", texts...)); err != nil {
		t.Fatal(err)
	}
	got, err := s.Search(ctx, c, "how much protein after training?", nil, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 {
		t.Fatal("no results")
	}
	p := got[0]
	if p.DocumentID != doc || p.ChunkIndex != 1 || p.Text != texts[1] || p.Title != "Recovery guide" || p.Heading != "Part 2" || p.Score <= 0 {
		t.Fatalf("top passage %+v", p)
	}
	if len(got) > 2 {
		t.Fatalf("limit ignored: %d", len(got))
	}
}

func TestHybridSearch(t *testing.T) { overBoth(t, testHybridSearch) }

func testHybridSearch(t *testing.T, s *knowledge.Store) {
	ctx := context.Background()
	c := newCreator(t, s)
	doc := uuid.New()
	if err := s.UpsertChunks(ctx, c, withVectors(docChunks(doc, "Recovery guide", texts...))); err != nil {
		t.Fatal(err)
	}
	q := "drink water during long sessions"
	got, err := s.Search(ctx, c, q, ollamatest.Embed("search_query: "+q), 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 || got[0].ChunkIndex != 2 || got[0].Score <= 0 {
		t.Fatalf("hybrid results %+v", got)
	}
	// A vector alone finds it too (no keyword in common with the query text).
	got, err = s.Search(ctx, c, "", ollamatest.Embed("search_query: water hydration sessions"), 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ChunkIndex != 2 {
		t.Fatalf("vector-only results %+v", got)
	}
}

func TestTenantIsolation(t *testing.T) { overBoth(t, testTenantIsolation) }

func testTenantIsolation(t *testing.T, s *knowledge.Store) {
	ctx := context.Background()
	a := newCreator(t, s)
	b := newCreator(t, s)
	secret := "The secret sauce is turmeric honey ginger shot at dawn."
	docA := uuid.New()
	if err := s.UpsertChunks(ctx, a, withVectors(docChunks(docA, "Secret recipe", secret))); err != nil {
		t.Fatal(err)
	}
	// B has one unrelated chunk, so an empty tenant is not the only reason
	// for no hits.
	if err := s.UpsertChunks(ctx, b, withVectors(docChunks(uuid.New(), "B's notes", "Stretch for ten minutes every morning."))); err != nil {
		t.Fatal(err)
	}

	// A can find it.
	got, err := s.Search(ctx, a, secret, nil, 5)
	if err != nil || len(got) != 1 {
		t.Fatalf("A searching its own chunk: %v %+v", err, got)
	}

	// B, with A's exact text, BM25 and hybrid, and vector alone, never sees it.
	for name, vec := range map[string][]float32{"bm25": nil, "hybrid": ollamatest.Embed("search_query: " + secret)} {
		got, err := s.Search(ctx, b, secret, vec, 50)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range got {
			if p.DocumentID == docA || strings.Contains(p.Text, "turmeric") {
				t.Fatalf("%s: creator B saw creator A's chunk: %+v", name, p)
			}
		}
	}
	got, err = s.Search(ctx, b, "", ollamatest.Embed(secret), 50)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range got {
		if p.DocumentID == docA {
			t.Fatalf("vector search: creator B saw creator A's chunk: %+v", p)
		}
	}

	// B deleting A's document id touches only B's tenant.
	if err := s.DeleteDocument(ctx, b, docA); err != nil {
		t.Fatal(err)
	}
	got, err = s.Search(ctx, a, secret, nil, 5)
	if err != nil || len(got) != 1 {
		t.Fatalf("A's chunk gone after B's delete: %v %+v", err, got)
	}

	// B upserting a chunk with A's document id and index writes into B's
	// tenant only; A's text is unchanged.
	if err := s.UpsertChunks(ctx, b, docChunks(docA, "Overwrite", "overwritten by B")); err != nil {
		t.Fatal(err)
	}
	got, err = s.Search(ctx, a, secret, nil, 5)
	if err != nil || len(got) != 1 || got[0].Text != secret {
		t.Fatalf("A's chunk changed by B's write: %v %+v", err, got)
	}
	got, err = s.Search(ctx, a, "overwritten", nil, 5)
	if err != nil || len(got) != 0 {
		t.Fatalf("B's write visible to A: %v %+v", err, got)
	}
}

func TestUnknownTenantRejected(t *testing.T) { overBoth(t, testUnknownTenantRejected) }

func testUnknownTenantRejected(t *testing.T, s *knowledge.Store) {
	ctx := context.Background()
	ghost := uuid.New()
	err := s.UpsertChunks(ctx, ghost, docChunks(uuid.New(), "T", "some text"))
	if !errors.Is(err, knowledge.ErrTenantNotFound) {
		t.Fatalf("write to missing tenant: %v", err)
	}
	if ok, err := s.TenantExists(ctx, ghost); err != nil || ok {
		t.Fatalf("tenant was created implicitly: %v %v", ok, err)
	}
	if _, err := s.Search(ctx, ghost, "text", nil, 5); !errors.Is(err, knowledge.ErrTenantNotFound) {
		t.Fatalf("search in missing tenant: %v", err)
	}
	if err := s.UpsertChunks(ctx, uuid.Nil, docChunks(uuid.New(), "T", "x")); err == nil {
		t.Fatal("nil creator accepted")
	}
}

func TestDeleteDocument(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	c := newCreator(t, s)
	keep, drop := uuid.New(), uuid.New()
	if err := s.UpsertChunks(ctx, c, docChunks(keep, "Keep", "Mobility drills for hips.")); err != nil {
		t.Fatal(err)
	}
	if err := s.UpsertChunks(ctx, c, docChunks(drop, "Drop", texts...)); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteDocument(ctx, c, drop); err != nil {
		t.Fatal(err)
	}
	got, err := s.Search(ctx, c, "sleep protein hydration mobility hips", nil, 20)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].DocumentID != keep {
		t.Fatalf("after delete: %+v", got)
	}
	if err := s.DeleteDocument(ctx, c, drop); err != nil {
		t.Fatalf("deleting again: %v", err)
	}
}

func TestReplaceDocumentDropsStaleChunks(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	c := newCreator(t, s)
	doc := uuid.New()
	if err := s.ReplaceDocument(ctx, c, doc, docChunks(doc, "Guide", texts...)); err != nil {
		t.Fatal(err)
	}
	if err := s.ReplaceDocument(ctx, c, doc, docChunks(doc, "Guide", texts[0])); err != nil {
		t.Fatal(err)
	}
	got, err := s.Search(ctx, c, "sleep protein hydration water", nil, 20)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ChunkIndex != 0 {
		t.Fatalf("after shrinking re-import: %+v", got)
	}
}

func TestLargeBatchAndHostileQuery(t *testing.T) { overBoth(t, testLargeBatchAndHostileQuery) }

func testLargeBatchAndHostileQuery(t *testing.T, s *knowledge.Store) {
	ctx := context.Background()
	c := newCreator(t, s)
	doc := uuid.New()
	many := make([]string, 250)
	for i := range many {
		many[i] = fmt.Sprintf("Lesson %d covers drill number %d.", i, i)
	}
	if err := s.UpsertChunks(ctx, c, docChunks(doc, "Drills", many...)); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`drill" } } { Get { Chunk { text } } } #`,
		"drill \\\" \x00 \x07 \xff\xfe \u2028 ✓",
		strings.Repeat("drill ", 2000),
	} {
		got, err := s.Search(ctx, c, q, nil, 3)
		if err != nil {
			t.Fatalf("query %q: %v", q[:min(len(q), 40)], err)
		}
		if len(got) == 0 {
			t.Fatalf("query %q found nothing", q[:min(len(q), 40)])
		}
	}
	if err := s.DeleteDocument(ctx, c, doc); err != nil {
		t.Fatal(err)
	}
	got, err := s.Search(ctx, c, "drill", nil, 3)
	if err != nil || len(got) != 0 {
		t.Fatalf("after delete: %v %d", err, len(got))
	}
}

func TestChunkIDDeterministic(t *testing.T) {
	d := uuid.New()
	first, again := knowledge.ChunkID(d, 3), knowledge.ChunkID(d, 3)
	if first != again || first == knowledge.ChunkID(d, 4) {
		t.Fatal("ChunkID not deterministic per (document, index)")
	}
	if knowledge.ChunkID(d, 0).Version() != 5 {
		t.Fatal("not a UUIDv5")
	}
}
