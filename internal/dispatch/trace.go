package dispatch

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/coachwire/coachwire/internal/telemetry"
)

// providerSpan starts the span of one provider call (WhatsApp Cloud API, Telegram Bot API)
// sending part i of a message (a no-op span when tracing is off).
func providerSpan(ctx context.Context, a *account, part, attempt int) (context.Context, trace.Span) {
	return telemetry.Tracer().Start(ctx, "provider send "+a.typ, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("coachwire.channel", a.typ), attribute.String("coachwire.channel_id", a.id.String()),
			attribute.Int("coachwire.part", part), attribute.Int("coachwire.attempt", attempt+1)))
}

// endProviderSpan records the call's outcome on span and ends it.
func endProviderSpan(span trace.Span, providerID string, err error) {
	if span.IsRecording() {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		} else {
			span.SetAttributes(attribute.String("coachwire.provider_message_id", providerID))
		}
	}
	span.End()
}
