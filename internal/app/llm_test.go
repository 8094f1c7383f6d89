package app_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/app"
	"github.com/coachwire/coachwire/internal/config"
	"github.com/coachwire/coachwire/internal/llm/ollamatest"
	"github.com/coachwire/coachwire/internal/testenv"
)

// TestLLMPoolOfServers: COACHWIRE_OLLAMA_URL lists two servers; the process builds one pool of
// both (the banner names them, with their slots), its requests carry num_ctx (prompt budget plus
// reply budget), num_predict and the model's configured options, and with one server gone a
// widget turn is still answered while /health says which server is down (degraded, not down).
func TestLLMPoolOfServers(t *testing.T) {
	t.Parallel()
	h := newHarness(t, ollamatest.Options{})
	second := ollamatest.New(t, ollamatest.Options{ChatModels: []string{"llama3.2"}, EmbedModels: []string{"nomic-embed-text"}})
	env := map[string]string{}
	for _, kv := range h.env(t.TempDir(), "COACHWIRE_HTTP_ADDR=127.0.0.1:0", "COACHWIRE_MIGRATE_DATABASE_URL="+h.db.OwnerURL,
		"COACHWIRE_OLLAMA_URL="+h.ollama.URL+","+second.URL, "COACHWIRE_OLLAMA_SLOTS=1,3",
		"COACHWIRE_CONTEXT_TOKENS=2000", "COACHWIRE_REPLY_TOKENS=300", `COACHWIRE_OLLAMA_MODEL_OPTIONS={"llama3.2": {"temperature": 0.2}}`) {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	cfg, err := config.Parse(nil, func(k string) string { return env[k] }, io.Discard)
	require.NoError(t, err)
	var banner strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a, err := app.Start(ctx, cfg, app.Options{Log: testenv.Logger(t), Out: &banner})
	require.NoError(t, err)
	t.Cleanup(a.Stop)
	require.Equal(t, config.LLMOllama, a.LLMMode())
	require.Contains(t, banner.String(), "LLM server: "+h.ollama.URL+", 1 slots, up")
	require.Contains(t, banner.String(), "LLM server: "+second.URL+", 3 slots, up")

	second.Close()
	c := testenv.NewClient(a.URL)
	cr := c.Register(t)
	c.SetWidget(t, cr, "You are Robin, a sleep coach.")
	sess := c.StartWidget(t, cr.WidgetKey, "anon-"+uuid.NewString())
	ws, _, err := c.DialWidget(ctx, sess, 0, nil)
	require.NoError(t, err)
	defer ws.CloseNow()
	_, err = ws.Say(ctx, "How long should I nap?")
	require.NoError(t, err)
	reply := ws.Next(t, 30*time.Second, testenv.IsReply)
	require.Contains(t, reply.Text, `You asked: "How long should I nap?"`)

	reqs := h.ollama.ChatRequests()
	require.NotEmpty(t, reqs)
	require.Equal(t, map[string]any{"num_ctx": float64(2300), "num_predict": float64(300), "temperature": 0.2}, reqs[len(reqs)-1].Options)
	st := a.LLM.Stats()
	require.True(t, st[0].Up)
	require.False(t, st[1].Up, "the server that went away was tried and taken out")
	require.Positive(t, st[1].Failed)

	var health struct {
		Status string `json:"status"`
		Checks map[string]struct {
			Status string `json:"status"`
			Error  string `json:"error"`
		} `json:"checks"`
	}
	code, _, err := c.Do(ctx, "GET", "/health", "", nil, &health)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "degraded", health.Status)
	require.Equal(t, "down", health.Checks["ollama"].Status)
	require.Contains(t, health.Checks["ollama"].Error, "1 of 2 ollama servers up ["+h.ollama.URL+"]; down: "+second.URL)
}
