package app

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/config"
	"github.com/coachwire/coachwire/internal/llm/ollamatest"
)

func llmConfig(mode string, urls []string, targets ...string) *config.Config {
	return &config.Config{Targets: targets, LLMMode: mode, OllamaURLs: urls, ChatModel: "llama3.2", EmbedModel: "nomic-embed-text",
		ContextTokens: 4000, PublicURL: "http://127.0.0.1:8080"}
}

// TestBannerPerTarget: the start banner has the LLM mode line only where replies are written
// (generate), the LLM servers only where a model is called (ingest, retrieve, generate) and the
// search line only where the knowledge is indexed or searched (ingest, retrieve); a process of
// other targets builds no pool at all, even with COACHWIRE_LLM_MODE=ollama and no server.
func TestBannerPerTarget(t *testing.T) {
	t.Parallel()
	srv := ollamatest.New(t, ollamatest.Options{ChatModels: []string{"llama3.2"}, EmbedModels: []string{"nomic-embed-text"}})
	cases := []struct {
		targets              []string
		mode, server, search bool
	}{
		{[]string{config.TargetGateway}, false, false, false},
		{[]string{config.TargetDispatch}, false, false, false},
		{[]string{config.TargetNudge, config.TargetDispatch}, false, false, false},
		{[]string{config.TargetIngest}, false, true, true},
		{[]string{config.TargetRetrieve}, false, true, true},
		{[]string{config.TargetGenerate}, true, true, false},
		{[]string{config.TargetAll}, true, true, true},
	}
	for _, tc := range cases {
		var out strings.Builder
		a := &App{cfg: llmConfig(config.LLMOllama, []string{srv.URL}, tc.targets...), log: slog.New(slog.DiscardHandler), out: &out}
		require.NoError(t, a.detectLLM(context.Background()), "%v", tc.targets)
		a.banner()
		a.Stop()
		b := out.String()
		require.Equal(t, tc.mode, strings.Contains(b, "LLM mode:"), "%v:\n%s", tc.targets, b)
		require.Equal(t, tc.server, strings.Contains(b, "LLM server: "+srv.URL), "%v:\n%s", tc.targets, b)
		require.Equal(t, tc.search, strings.Contains(b, "Search:"), "%v:\n%s", tc.targets, b)
		require.Equal(t, tc.server, a.LLM != nil, "%v: a pool only where a model is called", tc.targets)
		if tc.mode {
			require.Contains(t, b, "LLM mode:   ollama (llama3.2 at "+srv.URL+")")
		}
		// No server and mode ollama: only the targets that call a model refuse to start.
		a = &App{cfg: llmConfig(config.LLMOllama, []string{"http://127.0.0.1:1"}, tc.targets...), log: slog.New(slog.DiscardHandler)}
		err := a.detectLLM(context.Background())
		a.Stop()
		require.Equal(t, tc.server, err != nil, "%v: %v", tc.targets, err)
	}
}

// TestLLMModeOllamaRefusesToStart: COACHWIRE_LLM_MODE=ollama without a server that answers, or
// with servers that do not have the chat model, stops the process at start with a message that
// names the servers and the model; mode auto starts in passages mode.
func TestLLMModeOllamaRefusesToStart(t *testing.T) {
	t.Parallel()
	noChat := ollamatest.New(t, ollamatest.Options{EmbedModels: []string{"nomic-embed-text"}})
	down := "http://127.0.0.1:1"
	for _, tc := range []struct {
		urls []string
		want []string
	}{
		{[]string{down}, []string{"COACHWIRE_LLM_MODE=ollama", "no Ollama server answers at COACHWIRE_OLLAMA_URL=" + down}},
		{[]string{noChat.URL, down}, []string{"COACHWIRE_LLM_MODE=ollama", `chat model "llama3.2" (COACHWIRE_CHAT_MODEL)`,
			"servers that answer (" + noChat.URL + ";", "COACHWIRE_OLLAMA_URL=" + noChat.URL + ", " + down}},
	} {
		a := &App{cfg: llmConfig(config.LLMOllama, tc.urls, config.TargetGenerate), log: slog.New(slog.DiscardHandler)}
		err := a.detectLLM(context.Background())
		a.Stop()
		require.Error(t, err, "%v", tc.urls)
		for _, w := range tc.want {
			require.ErrorContains(t, err, w)
		}

		a = &App{cfg: llmConfig(config.LLMAuto, tc.urls, config.TargetGenerate), log: slog.New(slog.DiscardHandler)}
		require.NoError(t, a.detectLLM(context.Background()), "mode auto starts")
		require.Equal(t, config.LLMPassages, a.LLMMode())
		a.Stop()
	}
}
