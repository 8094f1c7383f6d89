package app

import (
	"context"
	"os"
	"strings"
	"time"

	"github.com/coachwire/coachwire/internal/telemetry"
)

// startTelemetry sets up tracing from the OTEL_* environment (internal/telemetry: off, at no
// cost, unless an OTLP endpoint is set) and puts trace_id and span_id on every log line
// written with a context that carries a span. The provider is flushed and stopped last, after
// the handlers drained.
func (a *App) startTelemetry(ctx context.Context) error {
	a.log = telemetry.Logger(a.log)
	shutdown, err := telemetry.Setup(ctx, telemetry.FromEnv(os.Getenv), "coachwire-"+strings.Join(a.cfg.Targets, "+"), a.log)
	if err != nil {
		return err
	}
	a.onStop(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := shutdown(sctx); err != nil {
			a.log.Warn("traces not flushed", "err", err)
		}
	})
	return nil
}
