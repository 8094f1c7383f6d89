package knowledge_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/internal/knowledge"
)

// BenchmarkSearchBM25 is one turn's BM25 search (query analysis, typo correction against the
// cached vocabulary, the gRPC query) over a small handbook.
func BenchmarkSearchBM25(b *testing.B) {
	s, err := knowledge.New(context.Background(), weaviateURL, knowledge.WithGRPC(weaviateGRPC))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	c, doc := uuid.New(), uuid.New()
	if err := s.EnsureTenant(ctx, c); err != nil {
		b.Fatal(err)
	}
	var cs []knowledge.Chunk
	for i := range 40 {
		cs = append(cs, knowledge.Chunk{DocumentID: doc, Index: i, Title: "Sleep basics", Heading: fmt.Sprintf("Topic %d", i),
			Text: fmt.Sprintf("Part %d. Go to bed at the same time every night. Stop caffeine eight hours before bedtime; "+
				"keep naps under twenty minutes and before three in the afternoon. Train in the morning or early evening.", i)})
	}
	if err := s.UpsertChunks(ctx, c, cs); err != nil {
		b.Fatal(err)
	}
	qs := []string{"When should I stop drinking caffeine?", "How do I build an evening routine?", "Are naps bad for my sleep?",
		"Can I exercise right before bed?", "Why do screens keep me awake?"}
	b.ResetTimer()
	for i := range b.N {
		if _, err := s.Search(ctx, c, qs[i%len(qs)], nil, 5); err != nil {
			b.Fatal(err)
		}
	}
}
