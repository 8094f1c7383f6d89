package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/gateway"
	"github.com/coachwire/coachwire/internal/testenv"
)

// TestHealthStatus: all dependencies up → 200 ok; an optional one (the LLM) down → 200
// degraded; a required one down → 503 with that check named.
func TestHealthStatus(t *testing.T) {
	t.Parallel()
	store := testenv.Store(t)
	up := func(context.Context) error { return nil }
	down := func(context.Context) error { return errors.New("connection refused") }
	cases := []struct {
		name       string
		ollama, db func(context.Context) error
		code       int
		status     string
	}{
		{"all up", up, store.Ping, http.StatusOK, "ok"},
		{"llm down", down, store.Ping, http.StatusOK, "degraded"},
		{"postgres down", up, down, http.StatusServiceUnavailable, "down"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := gateway.New(gateway.Deps{Config: &gateway.Settings{PublicURL: "http://x"}, Log: testenv.Logger(t), Health: []gateway.HealthCheck{
				{Name: "postgres", Check: tc.db}, {Name: "ollama", Optional: true, Check: tc.ollama},
			}})
			rec := httptest.NewRecorder()
			srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/health", nil))
			require.Equal(t, tc.code, rec.Code)
			var body struct {
				Status string                    `json:"status"`
				Checks map[string]map[string]any `json:"checks"`
			}
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
			require.Equal(t, tc.status, body.Status)
			require.Len(t, body.Checks, 2)
		})
	}
}
