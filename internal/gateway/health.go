package gateway

import (
	"context"
	"net/http"
	"sync"
	"time"
)

type checkResult struct {
	Status   string `json:"status"`
	Error    string `json:"error,omitempty"`
	Optional bool   `json:"optional,omitempty"`
	Millis   int64  `json:"ms"`
}

// handleHealth probes every dependency at once: 200 when all required ones answer, 503 when
// one does not; optional ones (the LLM) only mark the service "degraded".
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	results := make(map[string]checkResult, len(s.Health))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range s.Health {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			err := c.Check(ctx)
			res := checkResult{Status: "ok", Optional: c.Optional, Millis: time.Since(start).Milliseconds()}
			if err != nil {
				res.Status, res.Error = "down", err.Error()
			}
			mu.Lock()
			results[c.Name] = res
			mu.Unlock()
		}()
	}
	wg.Wait()
	status, code := "ok", http.StatusOK
	for _, res := range results {
		if res.Status != "ok" {
			if res.Optional {
				if status == "ok" {
					status = "degraded"
				}
				continue
			}
			status, code = "down", http.StatusServiceUnavailable
		}
	}
	s.mu.Lock()
	if s.closing {
		status, code = "shutting_down", http.StatusServiceUnavailable
	}
	s.mu.Unlock()
	writeJSON(w, code, map[string]any{"status": status, "checks": results})
}
