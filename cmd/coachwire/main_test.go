package main

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/app"
	"github.com/coachwire/coachwire/internal/testenv"
)

func noEnv(string) string { return "" }

// requireUsage checks out is the whole usage: the subcommands, every target of the table with
// its description, and the flags.
func requireUsage(t *testing.T, out string) {
	t.Helper()
	require.Contains(t, out, "Usage:")
	for _, c := range subcommands {
		require.Contains(t, out, "  "+c.name)
	}
	require.Contains(t, out, "migrate")
	require.Contains(t, out, "  all ")
	for _, tg := range app.Targets() {
		require.Regexp(t, `(?m)^  `+tg.Name+` +`+regexp.QuoteMeta(tg.Description)+`$`, out)
	}
	for _, f := range []string{"-target", "-data-dir", "-http-addr", "-dev", "-llm-mode", "-log-level", "-public-url"} {
		require.Contains(t, out, "  "+f)
	}
}

// TestHelp: -h, --help, -help and `help` print the usage on stdout and exit 0, even after
// other flags.
func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"--help"}, {"-help"}, {"help"}, {"-dev", "-h"}, {"-target", "gateway", "--help"}} {
		var stdout, stderr strings.Builder
		code := run(context.Background(), args, noEnv, &stdout, &stderr)
		require.Equal(t, 0, code, "%v: %s", args, stderr.String())
		requireUsage(t, stdout.String())
		require.Empty(t, stderr.String(), "%v", args)
	}
}

// TestUsageErrors: an unknown subcommand or flag, a bad flag value or a stray argument prints
// what is wrong and the usage on stderr, nothing on stdout, and exits 2.
func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve"}, `unknown subcommand "serve"`},
		{[]string{"-bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"-dev=maybe"}, "invalid boolean value"},
		{[]string{"-dev", "migrate"}, `unexpected argument "migrate"`},
	} {
		var stdout, stderr strings.Builder
		code := run(context.Background(), tc.args, noEnv, &stdout, &stderr)
		require.Equal(t, 2, code, "%v", tc.args)
		require.Empty(t, stdout.String(), "%v", tc.args)
		require.Contains(t, stderr.String(), tc.want)
		requireUsage(t, stderr.String())
	}
}

// TestErrorsExit1: a bad setting or a failing subcommand is named on stderr, without the
// usage, and exits 1.
func TestErrorsExit1(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"-llm-mode", "gpt"}, nil, "COACHWIRE_LLM_MODE"},
		{nil, map[string]string{"COACHWIRE_STREAM_REPLICAS": "0"}, "COACHWIRE_STREAM_REPLICAS"},
		{[]string{"migrate"}, nil, "set COACHWIRE_MIGRATE_DATABASE_URL"},
	} {
		var stdout, stderr strings.Builder
		code := run(context.Background(), tc.args, func(k string) string { return tc.env[k] }, &stdout, &stderr)
		require.Equal(t, 1, code, "%v", tc.args)
		require.Contains(t, stderr.String(), tc.want)
		require.NotContains(t, stderr.String(), "Usage:")
		require.Empty(t, stdout.String())
	}
}

// TestBinaryHelp builds the command and runs it: -h exits 0 with the usage on stdout; an
// unknown flag exits 2 with the usage on stderr.
func TestBinaryHelp(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "coachwire")
	require.NoError(t, testenv.BuildCoachwire(bin))

	cmd := exec.Command(bin, "-h")
	cmd.Env = []string{}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), stderr.String())
	requireUsage(t, stdout.String())

	cmd = exec.Command(bin, "-nope")
	cmd.Env = []string{}
	stdout.Reset()
	stderr.Reset()
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	var exit *exec.ExitError
	require.True(t, errors.As(cmd.Run(), &exit))
	require.Equal(t, 2, exit.ExitCode())
	requireUsage(t, stderr.String())
	require.Empty(t, stdout.String())
}
