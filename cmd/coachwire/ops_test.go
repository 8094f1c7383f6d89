package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/auth"
	"github.com/coachwire/coachwire/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// runCmd runs the command with env and returns its exit code, stdout and stderr.
func runCmd(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr strings.Builder
	code := run(context.Background(), args, func(k string) string { return env[k] }, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// TestSubcommandHelp: every subcommand describes itself for -h on stdout and exits 0.
func TestSubcommandHelp(t *testing.T) {
	for args, want := range map[string]string{
		"migrate -h":        "Usage: coachwire migrate\n",
		"dlq -h":            "coachwire dlq replay ID|--all [--dry-run]",
		"dlq list -h":       "coachwire dlq list",
		"dlq replay --help": "-dry-run",
		"dlq purge -h":      "-yes",
		"reindex -h":        "Usage: coachwire reindex [--creator ID]",
		"keys -h":           "Usage: coachwire keys rotate",
		"keys rotate -h":    "Usage: coachwire keys rotate",
		"healthcheck -h":    "Usage: coachwire healthcheck",
		"version -h":        "Usage: coachwire version",
	} {
		code, stdout, stderr := runCmd(t, nil, strings.Fields(args)...)
		require.Equal(t, 0, code, "%s: %s", args, stderr)
		require.Contains(t, stdout, want, args)
		require.Empty(t, stderr, args)
	}
}

// TestSubcommandUsageErrors: a subcommand command line that cannot be read names what is wrong
// and prints that subcommand's usage on stderr, nothing on stdout, and exits 2; nothing runs.
func TestSubcommandUsageErrors(t *testing.T) {
	for args, want := range map[string]string{
		"migrate now":            `migrate takes no arguments (got ["now"])`,
		"dlq":                    "dlq: missing action",
		"dlq drop":               `dlq: unknown action "drop"`,
		"dlq show":               "dlq show: missing argument",
		"dlq show x":             `ID "x" is not a dead-letter id`,
		"dlq show 1 2":           `unexpected argument "2"`,
		"dlq replay":             "give one ID or --all",
		"dlq replay 3 --all":     "give one ID or --all",
		"dlq purge":              "add --yes",
		"dlq list --bogus":       "flag provided but not defined: -bogus",
		"reindex --creator bob":  `--creator "bob" is not a creator id`,
		"reindex x":              "reindex takes no arguments",
		"keys":                   "keys: missing action",
		"keys forget":            `keys: unknown action "forget"`,
		"healthcheck -timeout x": "invalid value",
		"version 2":              "version takes no arguments",
	} {
		code, stdout, stderr := runCmd(t, nil, strings.Fields(args)...)
		require.Equal(t, 2, code, "%s: %s", args, stderr)
		require.Empty(t, stdout, args)
		require.Contains(t, stderr, want, args)
		require.Contains(t, stderr, "Usage:", args)
	}
}

// TestSubcommandsNeedTheirSettings: without the connection settings a subcommand names the
// ones it needs and exits 1.
func TestSubcommandsNeedTheirSettings(t *testing.T) {
	for args, want := range map[string]string{
		"dlq list":                              "dlq needs COACHWIRE_NATS_URL",
		"reindex":                               "reindex needs COACHWIRE_DATABASE_URL, COACHWIRE_NATS_URL, COACHWIRE_MIGRATE_DATABASE_URL",
		"reindex --creator " + uuid.NewString(): "reindex needs COACHWIRE_DATABASE_URL, COACHWIRE_NATS_URL (",
	} {
		code, stdout, stderr := runCmd(t, nil, strings.Fields(args)...)
		require.Equal(t, 1, code, args)
		require.Empty(t, stdout, args)
		require.Contains(t, stderr, want, args)
	}
}

// TestDLQAndReindexCommands runs dlq list and reindex --creator against real NATS and
// PostgreSQL through the command's own wiring.
func TestDLQAndReindexCommands(t *testing.T) {
	t.Parallel()
	b := testenv.OwnBus(t)
	dbs := testenv.Postgres(t)
	env := map[string]string{"COACHWIRE_NATS_URL": b.Conn().ConnectedUrl(), "COACHWIRE_DATABASE_URL": dbs.AppURL}
	code, stdout, stderr := runCmd(t, env, "dlq", "list")
	require.Equal(t, 0, code, stderr)
	require.Equal(t, "the dead-letter stream is empty\n", stdout)
	code, stdout, stderr = runCmd(t, env, "dlq", "purge", "--yes")
	require.Equal(t, 0, code, stderr)
	require.Equal(t, "purged 0 dead letters\n", stdout)
	code, _, stderr = runCmd(t, env, "dlq", "show", "7")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "no message 7 in CW_DLQ")

	creator := uuid.New()
	code, stdout, stderr = runCmd(t, env, "reindex", "--creator", creator.String())
	require.Equal(t, 0, code, stderr)
	require.Equal(t, "creator "+creator.String()+": 0 documents queued for reindexing\n0 documents of 1 creators queued; follow them with GET /api/v1/documents\n", stdout)
}

// TestKeysRotateCommand rotates the key file COACHWIRE_JWT_KEY_FILE names.
func TestKeysRotateCommand(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "keys", "jwt.json")
	require.NoError(t, auth.GenerateKeyFile(path))
	before, err := os.ReadFile(path)
	require.NoError(t, err)
	code, stdout, stderr := runCmd(t, map[string]string{"COACHWIRE_JWT_KEY_FILE": path}, "keys", "rotate")
	require.Equal(t, 0, code, stderr)
	require.Regexp(t, `^new signing key: \S+ \(`+regexp.QuoteMeta(path)+`\)\nkept for verification: \S+ \(each until the first rotation more than 30m0s after it retired: the longest token lifetime\)\ndropped \(every token they signed has expired\): none\nnext: restart`, stdout)
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NotEqual(t, before, after)
	require.Contains(t, string(after), "retired_at")

	code, _, stderr = runCmd(t, map[string]string{"COACHWIRE_JWT_KEY_FILE": filepath.Join(t.TempDir(), "none.json")}, "keys", "rotate")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "key file")
}

// TestHealthcheckCommand: exit 0 when /readyz on COACHWIRE_OPS_ADDR answers 200, 1 otherwise.
func TestHealthcheckCommand(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" {
			w.WriteHeader(http.StatusOK)
		}
	}))
	defer srv.Close()
	env := map[string]string{"COACHWIRE_OPS_ADDR": strings.TrimPrefix(srv.URL, "http://")}
	code, stdout, stderr := runCmd(t, env, "healthcheck")
	require.Equal(t, 0, code, stderr)
	require.Equal(t, "ready: "+srv.URL+"/readyz\n", stdout)
	srv.Close()
	code, _, stderr = runCmd(t, env, "healthcheck", "-timeout", "2s")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "coachwire: healthcheck:")
}

// TestVersionCommand prints the build information of the test binary.
func TestVersionCommand(t *testing.T) {
	code, stdout, stderr := runCmd(t, nil, "version")
	require.Equal(t, 0, code, stderr)
	require.Regexp(t, `^coachwire \S+\nmodule: +github.com/coachwire/coachwire\ngo: +go1\.`, stdout)
}
