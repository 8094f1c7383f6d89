package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/coachwire/coachwire/internal/telemetry"
)

func env(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

func TestSettingsFromEnv(t *testing.T) {
	require.False(t, telemetry.FromEnv(env(nil)).Enabled(), "off without an endpoint")
	s := telemetry.FromEnv(env(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}))
	require.True(t, s.Enabled())
	require.Equal(t, "http://collector:4318", s.Endpoint)
	s = telemetry.FromEnv(env(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://b:4318/v1/traces"}))
	require.Equal(t, "http://b:4318/v1/traces", s.Endpoint, "the traces endpoint wins")
	for _, off := range []map[string]string{
		{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318", "OTEL_SDK_DISABLED": "true"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318", "OTEL_TRACES_EXPORTER": "none"},
	} {
		require.False(t, telemetry.FromEnv(env(off)).Enabled(), "%v", off)
	}
}

// TestSetupOffInstallsNothing: with tracing off the global provider and propagator stay
// OpenTelemetry's no-ops: spans do not record and nothing would be injected into a message.
func TestSetupOffInstallsNothing(t *testing.T) {
	shutdown, err := telemetry.Setup(context.Background(), telemetry.FromEnv(env(nil)), "coachwire-test", slog.Default())
	require.NoError(t, err)
	require.NoError(t, shutdown(context.Background()))
	_, span := telemetry.Tracer().Start(context.Background(), "x")
	defer span.End()
	require.False(t, span.IsRecording())
	require.False(t, span.SpanContext().IsValid())
	require.Empty(t, otel.GetTextMapPropagator().Fields())
}

func TestSetupRefusesGRPC(t *testing.T) {
	_, err := telemetry.Setup(context.Background(), telemetry.FromEnv(env(map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})), "coachwire-test", slog.Default())
	require.ErrorContains(t, err, "http/protobuf")
}

// TestLogHandlerAddsTraceIDs: a line logged with a span's context carries its trace and span
// ids (also through With and WithGroup); a line without one carries none.
func TestLogHandlerAddsTraceIDs(t *testing.T) {
	var buf bytes.Buffer
	log := telemetry.Logger(slog.New(slog.NewJSONHandler(&buf, nil))).With("target", "retrieve")
	tp := sdktrace.NewTracerProvider()
	ctx, span := tp.Tracer("t").Start(context.Background(), "turn")
	defer span.End()

	line := func(f func()) map[string]any {
		buf.Reset()
		f()
		var m map[string]any
		require.NoError(t, json.Unmarshal(buf.Bytes(), &m), buf.String())
		return m
	}
	m := line(func() { log.InfoContext(ctx, "searched", "passages", 3) })
	require.Equal(t, span.SpanContext().TraceID().String(), m["trace_id"])
	require.Equal(t, span.SpanContext().SpanID().String(), m["span_id"])
	require.Equal(t, "retrieve", m["target"])
	m = line(func() { log.Info("no context") })
	require.NotContains(t, m, "trace_id")
	m = line(func() { log.WithGroup("g").WarnContext(ctx, "grouped", "k", 1) })
	require.Equal(t, span.SpanContext().TraceID().String(), m["g"].(map[string]any)["trace_id"])
	require.Equal(t, span.SpanContext().TraceID().String(), telemetry.TraceID(ctx))
	require.Empty(t, telemetry.TraceID(context.Background()))
}
