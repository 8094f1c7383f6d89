package knowledge_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/internal/knowledge"
)

var handbook = []knowledge.Chunk{
	{Index: 0, Title: "Coaching handbook", Heading: "Naps", Headings: "Sleep › Naps",
		Text: "A short rest of ten to twenty minutes restores alertness without grogginess."},
	{Index: 1, Title: "Coaching handbook", Heading: "Hydration", Headings: "Nutrition › Hydration",
		Text: "Drink water before, during and after long sessions; pale urine is a good sign."},
	{Index: 2, Title: "Coaching handbook", Heading: "Journal", Headings: "Training › Journal",
		Text: "I write my sets and my mood in my notebook: I can see my progress in my own words."},
}

func indexed(t *testing.T, s *knowledge.Store, chunks []knowledge.Chunk) (uuid.UUID, uuid.UUID) {
	t.Helper()
	c, doc := newCreator(t, s), uuid.New()
	cs := make([]knowledge.Chunk, len(chunks))
	for i, ch := range chunks {
		ch.DocumentID = doc
		cs[i] = ch
	}
	if err := s.ReplaceDocument(context.Background(), c, doc, cs); err != nil {
		t.Fatal(err)
	}
	return c, doc
}

func top(t *testing.T, s *knowledge.Store, c uuid.UUID, q string) knowledge.Passage {
	t.Helper()
	ps, err := s.Search(context.Background(), c, q, nil, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) == 0 {
		t.Fatalf("%q found nothing", q)
	}
	return ps[0]
}

func TestAnalysedSearch(t *testing.T) { overBoth(t, testAnalysedSearch) }

func testAnalysedSearch(t *testing.T, s *knowledge.Store) {
	c, _ := indexed(t, s, handbook)
	for q, heading := range map[string]string{
		"When should I take a nap?":          "Naps",      // singular query, plural heading
		"what about hydrating":               "Hydration", // stem
		"How do I keep my journals?":         "Journal",   // "I" and "my" do not pull the journal chunk by themselves
		"How long should I rest in my naps?": "Naps",
		"how much watr shoud I drnk?":        "Hydration", // typos, one of them in a stop word
		"hydartion":                          "Hydration", // two edits in one word
	} {
		if p := top(t, s, c, q); p.Heading != heading {
			t.Errorf("%q: top passage under %q, want %q", q, p.Heading, heading)
		}
	}
	if p := top(t, s, c, "naps"); p.Section != "Sleep › Naps" {
		t.Errorf("section of the passage: %q", p.Section)
	}
	// Spanish document, short Spanish query: the creator's language is the prior.
	es, _ := indexed(t, s, []knowledge.Chunk{
		{Index: 0, Title: "Manual", Heading: "Siestas", Text: "Las siestas cortas de diez a veinte minutos devuelven la energía sin dejar aturdimiento."},
		{Index: 1, Title: "Manual", Heading: "Agua", Text: "Bebe agua antes, durante y después de las sesiones largas de entrenamiento."},
	})
	if p := top(t, s, es, "siesta corta"); p.Heading != "Siestas" {
		t.Errorf("Spanish: %+v", p)
	}
}

// TestVocabularyStaysInTenant: a creator's typo is never corrected to another creator's word.
func TestVocabularyStaysInTenant(t *testing.T) { overBoth(t, testVocabularyStaysInTenant) }

func testVocabularyStaysInTenant(t *testing.T, s *knowledge.Store) {
	ctx := context.Background()
	a, _ := indexed(t, s, []knowledge.Chunk{{Index: 0, Title: "A", Text: "Turmeric honey ginger shot at dawn."}})
	b, _ := indexed(t, s, []knowledge.Chunk{{Index: 0, Title: "B", Text: "Stretch for ten minutes every morning."},
		{Index: 1, Title: "B", Text: "Tumbling practice on soft mats."}})
	if p := top(t, s, a, "turmerik"); !strings.Contains(p.Text, "Turmeric") {
		t.Fatalf("A's typo not corrected: %+v", p)
	}
	// Each vocabulary holds its own creator's words only.
	if n, langs, err := s.VocabularyForTest(ctx, a); err != nil || n != 5 || len(langs) != 1 {
		t.Fatalf("A's vocabulary: %d words (turmeric honey ginger shot dawn), languages %v, %v", n, langs, err)
	}
	if n, _, err := s.VocabularyForTest(ctx, b); err != nil || n != 10 {
		t.Fatalf("B's vocabulary: %d words (stretch for ten minutes every morning tumbling practice soft mats), %v", n, err)
	}
	ps, err := s.Search(ctx, b, "turmerik", nil, 5)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if strings.Contains(p.Text, "Turmeric") {
			t.Fatalf("B saw A's chunk: %+v", p)
		}
	}
	if len(ps) != 0 {
		t.Fatalf("B's query was corrected to a word only A has: %+v", ps)
	}
}

// TestReindexKeepsSearching: a document indexed by the previous version is upgraded chunk batch
// by chunk batch while searches run; every search finds the document, each chunk once, and
// when the new version is complete only its chunks are left.
func TestReindexKeepsSearching(t *testing.T) {
	s := newStore(t, knowledge.WithGRPC(weaviateGRPC))
	ctx := context.Background()
	c, doc := newCreator(t, s), uuid.New()
	old := make([]knowledge.Chunk, 12)
	for i := range old {
		old[i] = knowledge.Chunk{DocumentID: doc, Index: i, Title: "Recovery guide", Heading: "Part",
			Text: "Recovery chapter about sleep and rest, part " + strings.Repeat("x", i+1)}
	}
	if err := s.UpsertVersion1ForTest(ctx, c, old); err != nil {
		t.Fatal(err)
	}
	if n, err := s.CountChunks(ctx, c, doc); err != nil || n != 12 {
		t.Fatalf("old version: %d chunks, %v", n, err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var searches, empty atomic.Int64
	var failed atomic.Value
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			ps, err := s.Search(ctx, c, "recovery sleep", nil, 20)
			if err != nil {
				failed.Store(err)
				return
			}
			searches.Add(1)
			if len(ps) == 0 {
				empty.Add(1)
			}
			seen := map[int]bool{}
			for _, p := range ps {
				if seen[p.ChunkIndex] {
					failed.Store("chunk returned twice")
				}
				seen[p.ChunkIndex] = true
			}
		}
	}()
	// The new version has fewer chunks: written two at a time, then the rest dropped.
	fresh := make([]knowledge.Chunk, 8)
	for i := range fresh {
		fresh[i] = knowledge.Chunk{DocumentID: doc, Index: i, Title: "Recovery guide", Heading: "Part", Headings: "Recovery › Part",
			Text: "Recovery chapter about sleeping and resting, new part " + strings.Repeat("y", i+1)}
	}
	for i := 0; i < len(fresh); i += 2 {
		if err := s.UpsertChunks(ctx, c, fresh[i:i+2]); err != nil {
			t.Fatal(err)
		}
		if n, err := s.CountChunks(ctx, c, doc); err != nil || n != 12+i+2 {
			t.Fatalf("during the reindex: %d chunks, %v", n, err)
		}
	}
	if err := s.DeleteChunksFrom(ctx, c, doc, len(fresh)); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	if f := failed.Load(); f != nil {
		t.Fatal(f)
	}
	if searches.Load() == 0 || empty.Load() != 0 {
		t.Fatalf("%d searches, %d found nothing", searches.Load(), empty.Load())
	}
	if n, err := s.CountChunks(ctx, c, doc); err != nil || n != len(fresh) {
		t.Fatalf("after the reindex: %d chunks, %v", n, err)
	}
	ps, err := s.Search(ctx, c, "recovery", nil, 20)
	if err != nil || len(ps) != len(fresh) {
		t.Fatalf("after the reindex: %d passages, %v", len(ps), err)
	}
	for _, p := range ps {
		if !strings.Contains(p.Text, "new part") || p.Section != "Recovery › Part" {
			t.Fatalf("old chunk left: %+v", p)
		}
	}
}
