package config_test

import (
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
		{nil, map[string]string{"COACHWIRE_BCRYPT_COST": "99"}, "COACHWIRE_BCRYPT_COST"},
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
