package llm

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/coachwire/coachwire/internal/telemetry"
)

// startSpan starts the span of one model call through the pool ("llm chat", "llm embed"),
// queueing for a slot and every attempt included (a no-op span when tracing is off).
func startSpan(ctx context.Context, op, model string, w Work) (context.Context, trace.Span) {
	return telemetry.Tracer().Start(ctx, "llm "+op, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("gen_ai.system", "ollama"), attribute.String("gen_ai.operation.name", op),
			attribute.String("gen_ai.request.model", model), attribute.String("coachwire.llm.class", w.Class.String())))
}

// endSpan records the call's usage and outcome on span and ends it.
func endSpan(span trace.Span, u *Usage, err error) {
	if span.IsRecording() {
		span.SetAttributes(attribute.String("server.address", u.Backend), attribute.Int("coachwire.llm.attempts", u.Attempts),
			attribute.Int64("coachwire.llm.queued_ms", u.Queued.Milliseconds()),
			attribute.Int64("coachwire.llm.first_token_ms", u.FirstToken.Milliseconds()),
			attribute.Int("gen_ai.usage.input_tokens", u.PromptTokens), attribute.Int("gen_ai.usage.output_tokens", u.ReplyTokens))
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
	}
	span.End()
}
