package knowledge

import (
	"context"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/coachwire/coachwire/internal/telemetry"
)

// searchSpan starts the span of one knowledge search (a no-op span when tracing is off).
func searchSpan(ctx context.Context, creatorID uuid.UUID, queryVector []float32, limit int) (context.Context, trace.Span) {
	mode := "bm25"
	if len(queryVector) > 0 {
		mode = "hybrid"
	}
	return telemetry.Tracer().Start(ctx, "knowledge search", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("db.system.name", "weaviate"), attribute.String("coachwire.creator_id", creatorID.String()),
			attribute.String("coachwire.search.mode", mode), attribute.Int("coachwire.search.limit", limit)))
}
