// Package telemetry sets up OpenTelemetry tracing for a coachwire process from the standard
// OTEL_* environment variables, and puts the current span's ids on log lines.
//
// Tracing is off unless an OTLP endpoint is configured (OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT): then no provider and no propagator are installed, every
// span the code starts is OpenTelemetry's no-op span, nothing is injected into bus messages
// and nothing is exported. When it is on, spans go to the OTLP/HTTP endpoint in batches
// (OTEL_BSP_* tune the batches, OTEL_TRACES_SAMPLER the sampling) and the W3C trace context
// travels in NATS message headers (internal/bus).
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Instrumentation is the instrumentation scope of every coachwire span.
const Instrumentation = "github.com/coachwire/coachwire"

// Tracer is the tracer coachwire's packages start their spans with (a no-op one when tracing
// is off).
func Tracer() trace.Tracer { return tracer }

// tracer is taken once: OpenTelemetry's global tracer delegates to the provider Setup installs
// later, and looking a tracer up by name for every span costs a lock and allocations.
var tracer = otel.Tracer(Instrumentation)

// Settings of tracing, read from the environment by FromEnv.
type Settings struct {
	// Endpoint is OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or else OTEL_EXPORTER_OTLP_ENDPOINT; tracing
	// is off when both are empty.
	Endpoint string
	// Disabled: OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none.
	Disabled bool
	// Protocol is OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL: only http/protobuf (the default) is
	// supported.
	Protocol string
}

// FromEnv reads the settings with getenv (os.Getenv).
func FromEnv(getenv func(string) string) Settings {
	s := Settings{Endpoint: getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), Protocol: getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")}
	if s.Endpoint == "" {
		s.Endpoint = getenv("OTEL_EXPORTER_OTLP_ENDPOINT")
	}
	if s.Protocol == "" {
		s.Protocol = getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	s.Disabled = strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true")
	for _, e := range strings.Split(getenv("OTEL_TRACES_EXPORTER"), ",") {
		switch strings.TrimSpace(e) {
		case "none":
			s.Disabled = true
		case "", "otlp":
		default:
			// An exporter coachwire does not have is reported by Setup.
			s.Protocol = "exporter " + strings.TrimSpace(e)
		}
	}
	return s
}

// Enabled reports whether Setup installs a tracer provider.
func (s Settings) Enabled() bool { return !s.Disabled && s.Endpoint != "" }

// Setup installs the process's tracer provider and the W3C trace-context propagator when s is
// enabled, and returns the function that flushes and stops it (call it last at shutdown). With
// tracing off it installs nothing and returns a no-op. service is the default service.name
// (OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES override it).
//
// The provider is process-global (OpenTelemetry's otel.SetTracerProvider): one per process.
func Setup(ctx context.Context, s Settings, service string, log *slog.Logger) (shutdown func(context.Context) error, err error) {
	noop := func(context.Context) error { return nil }
	if !s.Enabled() {
		return noop, nil
	}
	switch s.Protocol {
	case "", "http/protobuf":
	default:
		return noop, fmt.Errorf("telemetry: OTLP %s is not supported: coachwire exports traces over http/protobuf (unset OTEL_EXPORTER_OTLP_PROTOCOL and OTEL_TRACES_EXPORTER, or set OTEL_TRACES_EXPORTER=none)", s.Protocol)
	}
	// The exporter reads the endpoint, headers, timeout, compression, TLS and insecure
	// settings from OTEL_EXPORTER_OTLP_* itself.
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return noop, fmt.Errorf("telemetry: OTLP exporter (OTEL_EXPORTER_OTLP_ENDPOINT %s): %w", s.Endpoint, err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", service)),
		resource.WithFromEnv(), resource.WithTelemetrySDK(), resource.WithProcessPID(), resource.WithHost())
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return noop, fmt.Errorf("telemetry: resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { log.Warn("opentelemetry", "err", err) }))
	log.Info("tracing on: OTLP/HTTP", "endpoint", s.Endpoint, "service", service)
	return func(ctx context.Context) error {
		if err := tp.Shutdown(ctx); err != nil {
			return fmt.Errorf("telemetry: flush traces: %w", err)
		}
		return nil
	}, nil
}

// LogHandler wraps h so that every record logged with a context that carries a valid span gets
// trace_id and span_id attributes (log with slog's ...Context methods, passing the handler's
// ctx, for the line to join its trace).
func LogHandler(h slog.Handler) slog.Handler {
	if _, ok := h.(logHandler); ok {
		return h
	}
	return logHandler{h}
}

// Logger is log with LogHandler around its handler.
func Logger(log *slog.Logger) *slog.Logger { return slog.New(LogHandler(log.Handler())) }

type logHandler struct{ slog.Handler }

func (h logHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h logHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return logHandler{h.Handler.WithAttrs(as)}
}

func (h logHandler) WithGroup(name string) slog.Handler { return logHandler{h.Handler.WithGroup(name)} }

// TraceID is the trace id of ctx's span ("" without one).
func TraceID(ctx context.Context) string {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		return sc.TraceID().String()
	}
	return ""
}
