package llm_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/coachwire/coachwire/internal/llm"
	"github.com/coachwire/coachwire/internal/llm/ollamatest"
)

// TestPoolHasModelOnlyOnServersUp: a server that never answered may have any model when a call
// is scheduled, but HasModel (the start-up check of the LLM mode) counts only servers that are up.
func TestPoolHasModelOnlyOnServersUp(t *testing.T) {
	ctx := context.Background()
	embedOnly := ollamatest.New(t, ollamatest.Options{EmbedModels: []string{embedModel}})
	for _, tc := range []struct {
		name    string
		urls    []string
		wantErr error
	}{
		{"no server up", []string{"http://127.0.0.1:1"}, llm.ErrNoServer},
		{"the server up lacks it", []string{"http://127.0.0.1:1", embedOnly.URL}, nil},
	} {
		var servers []llm.Server
		for _, u := range tc.urls {
			servers = append(servers, llm.Server{URL: u, Slots: 1})
		}
		p, err := llm.NewPool(ctx, llm.PoolOptions{Servers: servers, Client: llm.Options{Logger: slog.New(slog.DiscardHandler)}})
		if err != nil {
			t.Fatal(err)
		}
		ok, err := p.HasModel(ctx, chatModel)
		p.Close()
		if ok || !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
			t.Errorf("%s: HasModel = %v, %v; want false, %v", tc.name, ok, err, tc.wantErr)
		}
	}
}
