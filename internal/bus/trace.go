package bus

import (
	"context"
	"errors"
	"log/slog"
	"strconv"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/telemetry"
)

// Trace context across the bus: a publish injects the W3C trace context of its ctx
// (traceparent, tracestate) into the NATS message headers; the subscriber extracts it before
// the handler runs, and every handler runs in a span named after its consumer, a child of the
// publisher's span. With tracing off (internal/telemetry) the propagator is a no-op: nothing
// is added to a message and the spans are no-op spans.

// headerCarrier adapts nats.Header to OpenTelemetry's TextMapCarrier. Keys are used as given
// (W3C's lower-case traceparent), not canonicalised like HTTP headers.
type headerCarrier nats.Header

func (c headerCarrier) Get(key string) string {
	if v := c[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func (c headerCarrier) Set(key, value string) { c[key] = []string{value} }

func (c headerCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// InjectTrace writes ctx's trace context into h (nothing when tracing is off or ctx has no span).
func InjectTrace(ctx context.Context, h nats.Header) {
	otel.GetTextMapPropagator().Inject(ctx, headerCarrier(h))
}

// ExtractTrace returns ctx with the remote span context carried by h, if any.
func ExtractTrace(ctx context.Context, h nats.Header) context.Context {
	if len(h) == 0 {
		return ctx
	}
	return otel.GetTextMapPropagator().Extract(ctx, headerCarrier(h))
}

// tracing runs the handler in a span named after the consumer, child of the span the message
// was published in (the subscriber put it in the message's context).
func tracing(consumer string) message.HandlerMiddleware {
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			ctx, span := telemetry.Tracer().Start(msg.Context(), consumer, trace.WithSpanKind(trace.SpanKindConsumer))
			if !span.IsRecording() {
				return h(msg)
			}
			defer span.End()
			span.SetAttributes(
				attribute.String("messaging.system", "nats"),
				attribute.String("messaging.consumer.group.name", consumer),
				attribute.String("messaging.destination.name", msg.Metadata.Get(MetaSubject)),
				attribute.String("messaging.message.id", msg.Metadata.Get(MetaMsgID)),
				attribute.String("messaging.message.conversation_id", middleware.MessageCorrelationID(msg)),
			)
			if n, err := strconv.Atoi(msg.Metadata.Get(MetaDelivered)); err == nil {
				span.SetAttributes(attribute.Int("messaging.nats.delivered", n))
			}
			if c, err := events.CreatorFromSubject(msg.Metadata.Get(MetaSubject)); err == nil {
				span.SetAttributes(attribute.String("coachwire.creator_id", c.String()))
			}
			msg.SetContext(ctx)
			out, err := h(msg)
			if err != nil {
				span.RecordError(err)
				span.SetStatus(codes.Error, err.Error())
			}
			return out, err
		}
	}
}

// msgAttrs are the attributes that tie a library log line (retry, handler error, dead letter)
// to its message, creator and turn: subject, creator id, message id, correlation id, delivery.
func msgAttrs(msg *message.Message) []any {
	subject := msg.Metadata.Get(MetaSubject)
	attrs := []any{"subject", subject}
	if c, err := events.CreatorFromSubject(subject); err == nil {
		attrs = append(attrs, "creator_id", c.String())
	}
	attrs = append(attrs, "message_id", msg.Metadata.Get(MetaMsgID), "correlation_id", middleware.MessageCorrelationID(msg),
		"delivered", msg.Metadata.Get(MetaDelivered))
	return attrs
}

// logHandlerErrors logs the error a handler returns to the router (the message is then
// redelivered) with the message's attributes and, through ctx, its trace. It replaces
// watermill's own "Handler returned error" line, which names only watermill's message uuid.
func logHandlerErrors(log *slog.Logger, consumer string) message.HandlerMiddleware {
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			out, err := h(msg)
			if err != nil && !errors.Is(err, context.Canceled) {
				log.ErrorContext(msg.Context(), "handler failed: the message will be redelivered",
					append([]any{"consumer", consumer, "err", err}, msgAttrs(msg)...)...)
			}
			return out, err
		}
	}
}

// withRetryLog is retry with each in-process retry logged with the message's attributes and
// trace (watermill's own retry line names neither).
func withRetryLog(retry middleware.Retry, log *slog.Logger, consumer string) message.HandlerMiddleware {
	should := retry.ShouldRetry
	retry.Logger = nil
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			r := retry
			r.ShouldRetry = func(p middleware.RetryParams) bool {
				if should != nil && !should(p) {
					return false
				}
				if p.RetryNum < retry.MaxRetries {
					log.WarnContext(msg.Context(), "handler failed: retrying",
						append([]any{"consumer", consumer, "retry", p.RetryNum + 1, "max_retries", retry.MaxRetries,
							"wait", p.Delay, "err", p.Err}, msgAttrs(msg)...)...)
				}
				return true
			}
			return r.Middleware(h)(msg)
		}
	}
}

// quietHandlerErrors is watermill's logger without the router's "Handler returned error" line,
// which logHandlerErrors writes with the message's creator, ids and trace instead.
type quietHandlerErrors struct{ watermill.LoggerAdapter }

func (l quietHandlerErrors) Error(msg string, err error, fields watermill.LogFields) {
	if msg == "Handler returned error" {
		return
	}
	l.LoggerAdapter.Error(msg, err, fields)
}

func (l quietHandlerErrors) With(fields watermill.LogFields) watermill.LoggerAdapter {
	return quietHandlerErrors{l.LoggerAdapter.With(fields)}
}
