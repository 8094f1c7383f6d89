package app_test

import (
	"context"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/app"
	"github.com/coachwire/coachwire/internal/config"
	"github.com/coachwire/coachwire/internal/llm/ollamatest"
	"github.com/coachwire/coachwire/internal/testenv"
)

// TestLLMModeFollowsTheServer: a process in LLM mode auto that starts without the chat model
// answers in passages mode, switches to ollama when the model appears on the server, and back
// to passages when the server stops answering, with a log line each time; replies follow the
// mode. The same process (target all) checks that docs/operations.md lists every durable
// consumer it creates, on its stream.
func TestLLMModeFollowsTheServer(t *testing.T) {
	t.Parallel()
	h := newHarness(t, ollamatest.Options{ChatModels: []string{}})
	var logs testenv.SyncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a, err := app.Start(ctx, h.config(), app.Options{Log: slog.New(slog.NewJSONHandler(&logs, nil)), LLMCheck: 100 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(a.Stop)
	require.Equal(t, config.LLMPassages, a.LLMMode())

	requireConsumersDocumented(t, a)

	c := testenv.NewClient(a.URL)
	cr := c.Register(t)
	sess := c.StartWidget(t, cr.WidgetKey, "anon-"+uuid.NewString())
	ws, _, err := c.DialWidget(ctx, sess, 0, nil)
	require.NoError(t, err)
	defer ws.CloseNow()
	ask := func(q string) string {
		t.Helper()
		_, err := ws.Say(ctx, q)
		require.NoError(t, err)
		return ws.Next(t, 30*time.Second, testenv.IsReply).Text
	}
	require.NotContains(t, ask("How long should I nap?"), "You asked:", "passages mode: no model wrote it")
	require.Empty(t, h.ollama.ChatRequests())

	// The chat model appears.
	h.ollama.SetOptions(ollamatest.Options{ChatModels: []string{"llama3.2"}, EmbedModels: []string{"nomic-embed-text"}})
	testenv.Eventually(t, 30*time.Second, func() bool { return a.LLMMode() == config.LLMOllama }, "the switch to ollama")
	// The mode changes just before its log line is written.
	testenv.Eventually(t, 5*time.Second, func() bool { return strings.Contains(logs.String(), "LLM mode switched to ollama") }, "the switch's log line")
	require.Contains(t, ask("And at what time?"), `You asked: "And at what time?"`)

	// The server stops answering.
	h.ollama.SetOptions(ollamatest.Options{ChatModels: []string{"llama3.2"}, EmbedModels: []string{"nomic-embed-text"}, Status: 503})
	testenv.Eventually(t, 30*time.Second, func() bool { return a.LLMMode() == config.LLMPassages }, "the switch back to passages")
	testenv.Eventually(t, 5*time.Second, func() bool {
		return strings.Contains(logs.String(), "LLM mode switched to passages: no Ollama server answers at COACHWIRE_OLLAMA_URL="+h.ollama.URL)
	}, "the switch's log line")
	require.NotContains(t, ask("Is coffee fine?"), "You asked:")
}

// requireConsumersDocumented: the JetStream settings table of docs/operations.md has one row
// (or one name in a row) per durable consumer a process of every target creates, with its stream.
func requireConsumersDocumented(t *testing.T, a *app.App) {
	t.Helper()
	ctx := context.Background()
	got := map[string]string{}
	for _, s := range events.Streams {
		st, err := a.Bus.JetStream().Stream(ctx, s.Name)
		require.NoError(t, err)
		for info := range st.ListConsumers(ctx).Info() {
			if info.Config.Durable != "" {
				got[info.Config.Durable] = s.Name
			}
		}
	}
	require.Len(t, got, 12, "consumers: %v", got)
	doc, err := os.ReadFile("../../docs/operations.md")
	require.NoError(t, err)
	_, table, _ := strings.Cut(string(doc), "## JetStream settings")
	table, _, _ = strings.Cut(table, "\n\n## ") // the next section
	documented := map[string]string{}
	row := regexp.MustCompile("(?m)^\\| (`[^|]+) \\| (CW_[A-Z]+)")
	name := regexp.MustCompile("`([a-z-]+)`")
	for _, m := range row.FindAllStringSubmatch(table, -1) {
		for _, n := range name.FindAllStringSubmatch(m[1], -1) {
			documented[n[1]] = m[2]
		}
	}
	require.Equal(t, got, documented, "docs/operations.md, JetStream settings: every consumer with its stream")
}
