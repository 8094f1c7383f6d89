// Package ops is the operator's view of a coachwire process: the ops HTTP listener every
// process starts (COACHWIRE_OPS_ADDR) with /metrics (Prometheus), /healthz (alive) and /readyz
// (its own dependencies and the consumers it depends on), and the metrics of every role, one
// small struct per role registered on the process's own registry (never the global default
// one, so several processes in one test binary do not clash). docs/operations.md "Metrics"
// lists every series.
//
// A creator id is never a label (one series per creator would grow without bound): labels are
// bounded sets such as channel, stage, outcome, consumer and route.
package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes every coachwire metric.
const Namespace = "coachwire"

// NewRegistry is a process's own registry with the Go runtime and process collectors.
func NewRegistry() *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

// Check is one readiness check. Required checks make /readyz answer 503 when they fail; the
// others (Optional) mark the process "degraded" and keep 200, unless the caller asks for
// ?strict=1.
type Check struct {
	Name     string
	Optional bool
	Check    func(ctx context.Context) error
}

// Server is the ops listener.
type Server struct {
	ln     net.Listener
	srv    *http.Server
	log    *slog.Logger
	mu     sync.Mutex
	checks []Check
}

// Listen starts the ops listener on addr (host:port; port 0 picks a free one) serving reg.
func Listen(addr string, reg *prometheus.Registry, log *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("ops: listen on %s (COACHWIRE_OPS_ADDR): %w", addr, err)
	}
	s := &Server{ln: ln, log: log}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg, ErrorLog: slogPrinter{log}}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"alive"}` + "\n"))
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("ops listener", "err", err)
		}
	}()
	return s, nil
}

// Addr is the address the listener is bound to (host:port).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// AddCheck adds a readiness check (components add theirs as they start).
func (s *Server) AddCheck(c Check) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks = append(s.checks, c)
}

// Close stops the listener.
func (s *Server) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
}

// CheckResult is one check's line in the /readyz body.
type CheckResult struct {
	Status   string `json:"status"` // ok or down
	Error    string `json:"error,omitempty"`
	Optional bool   `json:"optional,omitempty"`
	Millis   int64  `json:"ms"`
}

// Readiness is the /readyz body: status ready, degraded (an optional check failed: still 200)
// or not_ready (503); missing names what failed.
type Readiness struct {
	Status  string                 `json:"status"`
	Checks  map[string]CheckResult `json:"checks"`
	Missing []string               `json:"missing,omitempty"`
}

// Ready runs every check at once (3 s at most).
func (s *Server) Ready(ctx context.Context) Readiness {
	s.mu.Lock()
	checks := append([]Check(nil), s.checks...)
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	out := Readiness{Status: "ready", Checks: make(map[string]CheckResult, len(checks))}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			err := c.Check(ctx)
			res := CheckResult{Status: "ok", Optional: c.Optional, Millis: time.Since(start).Milliseconds()}
			if err != nil {
				res.Status, res.Error = "down", err.Error()
			}
			mu.Lock()
			out.Checks[c.Name] = res
			mu.Unlock()
		}()
	}
	wg.Wait()
	for name, res := range out.Checks {
		if res.Status == "ok" {
			continue
		}
		out.Missing = append(out.Missing, name)
		switch {
		case !res.Optional:
			out.Status = "not_ready"
		case out.Status == "ready":
			out.Status = "degraded"
		}
	}
	sort.Strings(out.Missing)
	return out
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	res := s.Ready(r.Context())
	code := http.StatusOK
	if res.Status == "not_ready" || (res.Status == "degraded" && r.URL.Query().Get("strict") == "1") {
		code = http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(res)
}

type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Println(v ...any) { p.log.Error("metrics: " + fmt.Sprint(v...)) }
