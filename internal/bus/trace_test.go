package bus_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/bus"
	"github.com/coachwire/coachwire/internal/telemetry"
	"github.com/coachwire/coachwire/internal/testenv"
)

var (
	tracingOnce sync.Once
	spans       *tracetest.InMemoryExporter
)

// traced installs (once per test binary: OpenTelemetry's provider is process-global) a tracer
// provider that keeps every span in memory, and the W3C propagator, as internal/telemetry does
// when an OTLP endpoint is set. Tests find their spans by trace id.
func traced() *tracetest.InMemoryExporter {
	tracingOnce.Do(func() {
		spans = tracetest.NewInMemoryExporter()
		otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans)))
		otel.SetTextMapPropagator(propagation.TraceContext{})
	})
	return spans
}

// logLines are the JSON log lines written to s so far whose msg contains substr.
func logLines(t *testing.T, s *testenv.SyncBuffer, substr string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(s.String(), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
		if msg, _ := m["msg"].(string); strings.Contains(msg, substr) {
			out = append(out, m)
		}
	}
	return out
}

// TestTraceContextCrossesTheBus: a message published inside a span carries its W3C trace
// context in the NATS headers; the handler runs in a span named after the consumer, child of
// the publisher's span; the retry, handler-error and dead-letter lines carry the trace id, the
// creator id, the message id and the correlation id.
func TestTraceContextCrossesTheBus(t *testing.T) {
	t.Parallel()
	exp := traced()
	b := testenv.Bus(t)
	ctx := context.Background()
	creator := uuid.New()
	subject := events.IngestSubject(creator)
	logs := &testenv.SyncBuffer{}
	log := slog.New(telemetry.LogHandler(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))

	r, err := bus.NewRouter(b, log)
	require.NoError(t, err)
	durable := "trace-" + uuid.NewString()[:8]
	good, poison := uuid.New(), uuid.New()
	var calls atomic.Int64
	handled := make(chan trace.SpanContext, 1)
	require.NoError(t, r.Handle(ctx, durable, bus.ConsumerSpec{
		Stream: "CW_INGEST", Durable: durable, Filter: subject, AckWait: 5 * time.Second, MaxDeliver: 4,
	}, func(m *message.Message) error {
		ev, err := bus.Decode[events.DocumentIngest](m)
		if err != nil {
			return err
		}
		if ev.Data.DocumentID == poison {
			return bus.Permanent(errors.New("cannot ever index this"))
		}
		switch calls.Add(1) {
		case 1: // not retried in process: logged as a handler error, redelivered
			return bus.Later(errors.New("index busy"))
		case 2: // retried in process once
			return errors.New("index hiccup")
		}
		handled <- trace.SpanContextFromContext(m.Context())
		return nil
	}))
	go func() { _ = r.Run(ctx) }()
	<-r.Running()
	t.Cleanup(func() { _ = r.Close() })

	pctx, parent := otel.Tracer("test").Start(ctx, "publisher")
	ev := events.New(creator, events.DocumentIngest{DocumentID: good, Action: "index"}, nil, time.Now())
	require.NoError(t, bus.PublishEvent(pctx, b, subject, "good-"+creator.String(), ev))
	bad := events.New(creator, events.DocumentIngest{DocumentID: poison, Action: "index"}, nil, time.Now())
	o, err := bus.Event(subject, "poison-"+creator.String(), bad)
	require.NoError(t, err)
	require.NoError(t, b.PublishBatch(pctx, []bus.Outgoing{o}))
	parent.End()
	want := parent.SpanContext()

	var got trace.SpanContext
	select {
	case got = <-handled:
	case <-time.After(30 * time.Second):
		t.Fatal("the good message was not handled")
	}
	require.Equal(t, want.TraceID(), got.TraceID(), "the handler's span is in the publisher's trace")
	require.NotEqual(t, want.SpanID(), got.SpanID(), "the handler runs in a span of its own")

	// Stored with the trace context in its headers.
	raw, err := b.JetStream().Stream(ctx, "CW_INGEST")
	require.NoError(t, err)
	last, err := raw.GetLastMsgForSubject(ctx, subject)
	require.NoError(t, err)
	require.Contains(t, last.Header.Get("traceparent"), want.TraceID().String())

	// The consumer's spans (one per delivery) are children of the publisher's span.
	testenv.Eventually(t, 10*time.Second, func() bool { return len(consumerSpans(exp, durable, want.TraceID())) >= 3 }, "three deliveries' spans")
	for _, s := range consumerSpans(exp, durable, want.TraceID()) {
		require.Equal(t, want.SpanID(), s.Parent.SpanID(), "parent of %s", s.Name)
		require.Equal(t, trace.SpanKindConsumer, s.SpanKind)
	}

	traceID := want.TraceID().String()
	testenv.Eventually(t, 10*time.Second, func() bool { return len(logLines(t, logs, "message dead-lettered")) == 1 }, "the dead-letter line")
	check := func(l map[string]any, msgID string) {
		t.Helper()
		require.Equal(t, traceID, l["trace_id"], "%v", l)
		require.NotEmpty(t, l["span_id"], "%v", l)
		require.Equal(t, creator.String(), l["creator_id"], "%v", l)
		require.Equal(t, msgID, l["message_id"], "%v", l)
		require.Equal(t, ev.CorrelationID, l["correlation_id"], "%v", l)
		require.Equal(t, subject, l["subject"], "%v", l)
		require.Equal(t, durable, l["consumer"], "%v", l)
	}
	failed := logLines(t, logs, "handler failed: the message will be redelivered")
	require.Len(t, failed, 1)
	check(failed[0], "good-"+creator.String())
	require.Equal(t, "1", failed[0]["delivered"])
	retried := logLines(t, logs, "handler failed: retrying")
	require.Len(t, retried, 1)
	check(retried[0], "good-"+creator.String())
	require.Equal(t, "2", retried[0]["delivered"])
	require.Empty(t, logLines(t, logs, "Handler returned error"), "watermill's own line, without ids, is not written")

	dl := logLines(t, logs, "message dead-lettered")[0]
	require.Equal(t, traceID, dl["trace_id"])
	require.Equal(t, creator.String(), dl["creator_id"])
	require.Equal(t, "poison-"+creator.String(), dl["message_id"])
	require.Equal(t, bad.CorrelationID, dl["correlation_id"])
	require.Equal(t, subject, dl["subject"])
	require.Equal(t, "1", dl["delivered"])
	require.Contains(t, dl["reason"], "cannot ever index this")
	require.Equal(t, "WARN", dl["level"])
}

func consumerSpans(exp *tracetest.InMemoryExporter, name string, id trace.TraceID) []tracetest.SpanStub {
	var out []tracetest.SpanStub
	for _, s := range exp.GetSpans() {
		if s.Name == name && s.SpanContext.TraceID() == id {
			out = append(out, s)
		}
	}
	return out
}

// BenchmarkTraceOff is the per-message cost of the tracing path with tracing off (no provider
// and no propagator installed, as internal/telemetry leaves them without an endpoint): inject
// on publish, extract on delivery, the consumer's (no-op) span. Run alone (-run '^$'): TestTraceContextCrossesTheBus
// installs a provider for the whole test binary.
func BenchmarkTraceOff(b *testing.B) {
	h := map[string][]string{"correlation_id": {"c"}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		bus.InjectTrace(ctx, h)
		_, span := telemetry.Tracer().Start(bus.ExtractTrace(ctx, h), "consumer")
		span.End()
	}
}
