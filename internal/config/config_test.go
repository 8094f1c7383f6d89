package config_test

import (
	"errors"
	"flag"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/config"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaults(t *testing.T) {
	c, err := config.Parse(nil, env(nil), io.Discard)
	require.NoError(t, err)
	require.True(t, c.Embedded())
	require.Equal(t, []string{"all"}, c.Targets)
	require.True(t, c.Runs(config.TargetGenerate))
	require.Equal(t, "http://127.0.0.1:8080", c.PublicURL)
	require.Equal(t, 1000, c.ChunkTokens)
	require.Equal(t, 200, c.ChunkOverlap)
	require.Equal(t, 4000, c.ContextTokens)
}

func TestTargetsWithExternalServices(t *testing.T) {
	c, err := config.Parse([]string{"-target", "gateway,generate"}, env(map[string]string{
		"COACHWIRE_NATS_URL": "nats://127.0.0.1:4222", "COACHWIRE_DATABASE_URL": "postgres://u:p@127.0.0.1/db",
		"COACHWIRE_WEAVIATE_URL": "http://127.0.0.1:8081",
	}), io.Discard)
	require.NoError(t, err)
	require.False(t, c.Embedded())
	require.True(t, c.Runs(config.TargetGateway))
	require.False(t, c.Runs(config.TargetRetrieve))
}

// TestInvalidSettingsAreNamed: every bad setting is reported by name with a hint.
func TestInvalidSettingsAreNamed(t *testing.T) {
	cases := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"-target", "gateway,bogus"}, map[string]string{"COACHWIRE_NATS_URL": "nats://x:1", "COACHWIRE_DATABASE_URL": "postgres://x/y", "COACHWIRE_WEAVIATE_URL": "http://x"}, `unknown target "bogus"`},
		{nil, map[string]string{"COACHWIRE_NATS_URL": "nats://x:1"}, "also set COACHWIRE_DATABASE_URL, COACHWIRE_WEAVIATE_URL"},
		{[]string{"-target", "retrieve"}, nil, "only target all starts embedded services"},
		{nil, map[string]string{"COACHWIRE_TURN_LEASE": "soon"}, "COACHWIRE_TURN_LEASE"},
		{nil, map[string]string{"COACHWIRE_CHUNK_OVERLAP": "2000"}, "COACHWIRE_CHUNK_OVERLAP"},
		{nil, map[string]string{"COACHWIRE_LLM_MODE": "gpt"}, "COACHWIRE_LLM_MODE"},
		{nil, map[string]string{"COACHWIRE_OLLAMA_URL": "localhost"}, "COACHWIRE_OLLAMA_URL"},
		{nil, map[string]string{"COACHWIRE_HTTP_ADDR": "8080"}, "COACHWIRE_HTTP_ADDR"},
		{nil, map[string]string{"COACHWIRE_OPS_ADDR": "9090"}, "COACHWIRE_OPS_ADDR"},
		{nil, map[string]string{"COACHWIRE_BCRYPT_COST": "99"}, "COACHWIRE_BCRYPT_COST"},
		{nil, map[string]string{"COACHWIRE_LLM_EMBED_DAILY_TOKENS": "-1"}, "COACHWIRE_LLM_EMBED_DAILY_TOKENS"},
		{nil, map[string]string{"COACHWIRE_LLM_NUDGE_DAILY_TOKENS": "lots"}, "COACHWIRE_LLM_NUDGE_DAILY_TOKENS"},
	}
	for _, tc := range cases {
		_, err := config.Parse(tc.args, env(tc.env), io.Discard)
		require.Error(t, err, "%v %v", tc.args, tc.env)
		require.Contains(t, err.Error(), tc.want)
	}
}

func TestRedactHidesPasswords(t *testing.T) {
	_, err := config.Parse(nil, env(map[string]string{
		"COACHWIRE_NATS_URL": "nats://x:1", "COACHWIRE_DATABASE_URL": "postgres://u:s3cret@/db", "COACHWIRE_WEAVIATE_URL": "http://x",
	}), io.Discard)
	require.Error(t, err)
	require.False(t, strings.Contains(err.Error(), "s3cret"), err.Error())
}

func TestLimits(t *testing.T) {
	c, err := config.Parse(nil, env(nil), io.Discard)
	require.NoError(t, err)
	require.Equal(t, config.LimitDefaults, c.Limits)
	require.Equal(t, "5/10s", c.Limits.WidgetMessagesPerSession.String())

	c, err = config.Parse(nil, env(map[string]string{
		"COACHWIRE_LIMIT_WIDGET_MESSAGES": "3/1s", "COACHWIRE_LIMIT_REGISTER_IP": "off", "COACHWIRE_LIMIT_WIDGET_SOCKETS": "15",
		"COACHWIRE_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.7,::1",
	}), io.Discard)
	require.NoError(t, err)
	require.Equal(t, config.Rate{N: 3, Per: time.Second}, c.Limits.WidgetMessagesPerSession)
	require.True(t, c.Limits.RegistrationsPerIP.Off())
	require.Equal(t, "off", c.Limits.RegistrationsPerIP.String())
	require.Equal(t, 15, c.Limits.WidgetSocketsPerSession)
	require.Equal(t, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32"), netip.MustParsePrefix("::1/128")},
		c.Limits.TrustedProxies)
	require.Equal(t, config.LimitDefaults.LoginsPerEmail, c.Limits.LoginsPerEmail)

	for k, v := range map[string]string{
		"COACHWIRE_LIMIT_WIDGET_MESSAGES": "5", "COACHWIRE_LIMIT_LOGIN_EMAIL": "0/1m", "COACHWIRE_LIMIT_LOGIN_IP": "5/soon",
		"COACHWIRE_LIMIT_WIDGET_SOCKETS": "-3", "COACHWIRE_TRUSTED_PROXIES": "proxy.local",
	} {
		_, err := config.Parse(nil, env(map[string]string{k: v}), io.Discard)
		require.ErrorContains(t, err, k, v)
	}
}

// TestDefaultsWrittenOnce: what Parse gives with nothing set is what WithDefaults fills a zero
// value with: the defaults are written once, in NudgeDefaults and KnowledgeDefaults.
func TestDefaultsWrittenOnce(t *testing.T) {
	c, err := config.Parse(nil, env(nil), io.Discard)
	require.NoError(t, err)
	require.Equal(t, config.NudgeDefaults, c.Nudge)
	require.Equal(t, config.Nudge{}.WithDefaults(), c.Nudge)
	k := c.Knowledge
	require.Empty(t, k.StorageDir)
	require.Equal(t, config.Knowledge{}.WithDefaults(c.DataDir), k.WithDefaults(c.DataDir))
	k.StorageDir = config.KnowledgeDefaults.StorageDir
	require.Equal(t, config.KnowledgeDefaults, k)
	require.Equal(t, config.DefaultAccessTokenTTL, c.AccessTokenTTL)
	require.Equal(t, config.DefaultRefreshTokenTTL, c.RefreshTokenTTL)
	require.Equal(t, config.DefaultWidgetTokenTTL, c.WidgetTokenTTL)
	require.Equal(t, config.DefaultBcryptCost, c.BcryptCost)
	require.Equal(t, config.DefaultProviderCallTimeout, c.ProviderCallTimeout)
	require.Equal(t, config.DefaultWorkerParallel, c.WorkerParallel)
	require.Equal(t, 2, c.Knowledge.Parallel)
	require.Equal(t, 2, c.MemoryParallel)
	require.Equal(t, 1, c.StreamReplicas)

	c, err = config.Parse(nil, env(map[string]string{"COACHWIRE_NUDGE_BATCH": "40", "COACHWIRE_INGEST_PARALLEL": "3", "COACHWIRE_MEMORY_PARALLEL": "5"}), io.Discard)
	require.NoError(t, err)
	require.Equal(t, 40, c.Nudge.Batch)
	require.Equal(t, config.NudgeDefaults.Page, c.Nudge.Page)
	require.Equal(t, 3, c.Knowledge.Parallel)
	require.Equal(t, 5, c.MemoryParallel)
}

func TestStreamReplicas(t *testing.T) {
	c, err := config.Parse(nil, env(map[string]string{"COACHWIRE_STREAM_REPLICAS": "3"}), io.Discard)
	require.NoError(t, err)
	require.Equal(t, 3, c.StreamReplicas)
	for _, v := range []string{"0", "6", "three"} {
		_, err := config.Parse(nil, env(map[string]string{"COACHWIRE_STREAM_REPLICAS": v}), io.Discard)
		require.ErrorContains(t, err, "COACHWIRE_STREAM_REPLICAS", v)
	}
	for _, k := range []string{"COACHWIRE_INGEST_PARALLEL", "COACHWIRE_MEMORY_PARALLEL"} {
		_, err := config.Parse(nil, env(map[string]string{k: "0"}), io.Discard)
		require.ErrorContains(t, err, k)
	}
}

func TestStreamSizeLimits(t *testing.T) {
	c, err := config.Parse(nil, env(nil), io.Discard)
	require.NoError(t, err)
	require.Zero(t, c.StreamMaxBytes, "0: the bus's default")
	require.Zero(t, c.StreamMaxMsgs)
	c, err = config.Parse(nil, env(map[string]string{"COACHWIRE_STREAM_MAX_BYTES": "1073741824", "COACHWIRE_STREAM_MAX_MSGS": "-1"}), io.Discard)
	require.NoError(t, err)
	require.Equal(t, int64(1<<30), c.StreamMaxBytes)
	require.Equal(t, int64(-1), c.StreamMaxMsgs)
	for k, v := range map[string]string{"COACHWIRE_STREAM_MAX_BYTES": "1000", "COACHWIRE_STREAM_MAX_MSGS": "-2"} {
		_, err := config.Parse(nil, env(map[string]string{k: v}), io.Discard)
		require.ErrorContains(t, err, k)
	}
}

// TestCommandLineErrors: -h is flag.ErrHelp; an unknown flag, a bad flag value or a stray
// argument is a UsageError (the command exits 2); a bad setting is neither.
func TestCommandLineErrors(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"-help"}, {"--help"}, {"-dev", "-h"}} {
		_, err := config.Parse(args, env(nil), io.Discard)
		require.ErrorIs(t, err, flag.ErrHelp, "%v", args)
	}
	for _, args := range [][]string{{"-bogus"}, {"-dev=maybe"}, {"serve"}, {"-dev", "extra"}} {
		var stderr strings.Builder
		_, err := config.Parse(args, env(nil), &stderr)
		var ue *config.UsageError
		require.ErrorAs(t, err, &ue, "%v", args)
		require.NotEmpty(t, stderr.String())
	}
	_, err := config.Parse([]string{"-llm-mode", "gpt"}, env(nil), io.Discard)
	var ue *config.UsageError
	require.Error(t, err)
	require.False(t, errors.As(err, &ue))

	var out strings.Builder
	config.PrintFlags(&out, env(map[string]string{"COACHWIRE_HTTP_ADDR": "0.0.0.0:9000"}))
	for _, f := range []string{"-target", "-data-dir", "-http-addr", "-dev", "-llm-mode", "-log-level", "0.0.0.0:9000"} {
		require.Contains(t, out.String(), f)
	}
}

// TestLLMSettings: the Ollama pool's servers, slots and request settings, their defaults and
// the startup errors of bad values.
func TestLLMSettings(t *testing.T) {
	c, err := config.Parse(nil, env(nil), io.Discard)
	require.NoError(t, err)
	require.Equal(t, []string{config.DefaultOllamaURL}, c.OllamaURLs)
	require.Equal(t, config.LLM{Slots: []int{2}, ReplyTokens: 512, Aging: time.Minute, NudgeConcurrency: 0, IngestConcurrency: 0}, c.LLM)
	require.Equal(t, 4000+512, c.NumCtx())

	c, err = config.Parse(nil, env(map[string]string{
		"COACHWIRE_OLLAMA_URL": "http://a:11434, http://b:11434/", "COACHWIRE_OLLAMA_SLOTS": "4",
		"COACHWIRE_OLLAMA_KEEP_ALIVE": "30m", "COACHWIRE_OLLAMA_THINK": "true", "COACHWIRE_REPLY_TOKENS": "300",
		"COACHWIRE_CONTEXT_TOKENS":       "2000",
		"COACHWIRE_OLLAMA_MODEL_OPTIONS": `{"llama3.2": {"temperature": 0.3, "num_ctx": 8192}, "qwen3:8b": {}}`,
		"COACHWIRE_LLM_AGING":            "15s", "COACHWIRE_LLM_NUDGE_CONCURRENCY": "0", "COACHWIRE_LLM_INGEST_CONCURRENCY": "5",
	}), io.Discard)
	require.NoError(t, err)
	require.Equal(t, []string{"http://a:11434", "http://b:11434/"}, c.OllamaURLs)
	require.Equal(t, config.LLM{Slots: []int{4, 4}, KeepAlive: 30 * time.Minute, Think: true, ReplyTokens: 300,
		ModelOptions: map[string]map[string]any{"llama3.2": {"temperature": 0.3, "num_ctx": float64(8192)}, "qwen3:8b": {}},
		Aging:        15 * time.Second, NudgeConcurrency: 0, IngestConcurrency: 5}, c.LLM)
	require.Equal(t, 2300, c.NumCtx())

	c, err = config.Parse(nil, env(map[string]string{"COACHWIRE_OLLAMA_URL": "http://a:1,http://b:1,http://c:1",
		"COACHWIRE_OLLAMA_SLOTS": "1, 2,3", "COACHWIRE_OLLAMA_KEEP_ALIVE": "-1"}), io.Discard)
	require.NoError(t, err)
	require.Equal(t, []int{1, 2, 3}, c.LLM.Slots)
	require.Equal(t, -time.Second, c.LLM.KeepAlive)

	for _, tc := range []struct{ k, v, want string }{
		{"COACHWIRE_OLLAMA_URL", "http://a:1,localhost", `"localhost" is not an http(s) URL`},
		{"COACHWIRE_OLLAMA_URL", "http://a:1,http://a:1/", "listed twice"},
		{"COACHWIRE_OLLAMA_URL", ",", "COACHWIRE_OLLAMA_URL is empty"},
		{"COACHWIRE_OLLAMA_SLOTS", "2,2", "2 values for 1 servers"},
		{"COACHWIRE_OLLAMA_SLOTS", "two", "COACHWIRE_OLLAMA_SLOTS"},
		{"COACHWIRE_OLLAMA_SLOTS", "0", "COACHWIRE_OLLAMA_SLOTS=0"},
		{"COACHWIRE_OLLAMA_KEEP_ALIVE", "soon", "COACHWIRE_OLLAMA_KEEP_ALIVE"},
		{"COACHWIRE_OLLAMA_KEEP_ALIVE", "0s", "COACHWIRE_OLLAMA_KEEP_ALIVE"},
		{"COACHWIRE_OLLAMA_THINK", "maybe", "COACHWIRE_OLLAMA_THINK"},
		{"COACHWIRE_REPLY_TOKENS", "5", "COACHWIRE_REPLY_TOKENS"},
		{"COACHWIRE_REPLY_TOKENS", "many", "COACHWIRE_REPLY_TOKENS"},
		{"COACHWIRE_OLLAMA_MODEL_OPTIONS", `{"llama3.2": 0.3}`, "COACHWIRE_OLLAMA_MODEL_OPTIONS"},
		{"COACHWIRE_OLLAMA_MODEL_OPTIONS", `[1]`, "COACHWIRE_OLLAMA_MODEL_OPTIONS"},
		{"COACHWIRE_OLLAMA_MODEL_OPTIONS", `{"llama3.2": {}} {}`, "more than one JSON value"},
		{"COACHWIRE_OLLAMA_MODEL_OPTIONS", `{"": {}}`, "empty model name"},
		{"COACHWIRE_LLM_AGING", "0s", "COACHWIRE_LLM_AGING"},
		{"COACHWIRE_LLM_NUDGE_CONCURRENCY", "-1", "COACHWIRE_LLM_NUDGE_CONCURRENCY"},
		{"COACHWIRE_LLM_INGEST_CONCURRENCY", "x", "COACHWIRE_LLM_INGEST_CONCURRENCY"},
	} {
		_, err := config.Parse(nil, env(map[string]string{tc.k: tc.v}), io.Discard)
		require.ErrorContains(t, err, tc.want, "%s=%s", tc.k, tc.v)
	}
}

func TestLLMBudgets(t *testing.T) {
	c, err := config.Parse(nil, env(nil), io.Discard)
	require.NoError(t, err)
	require.Zero(t, c.LLM.NudgeDailyTokens, "unlimited by default")
	require.Zero(t, c.LLM.EmbedDailyTokens)
	c, err = config.Parse(nil, env(map[string]string{"COACHWIRE_LLM_NUDGE_DAILY_TOKENS": "200000", "COACHWIRE_LLM_EMBED_DAILY_TOKENS": "5000000"}), io.Discard)
	require.NoError(t, err)
	require.Equal(t, int64(200000), c.LLM.NudgeDailyTokens)
	require.Equal(t, int64(5000000), c.LLM.EmbedDailyTokens)
}
