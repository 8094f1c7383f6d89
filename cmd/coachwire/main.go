// Command coachwire runs the coachwire platform: every component in one process by default, or
// the components named by -target. Its subcommands operate a deployment: `migrate`, `dlq`,
// `reindex`, `keys rotate`, `healthcheck`, `version` (ops.go; the work is in internal/opscli).
// `coachwire -h` lists the subcommands, the targets (internal/app's targets table) and the flags;
// `coachwire <subcommand> -h` describes one.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/coachwire/coachwire/internal/app"
	"github.com/coachwire/coachwire/internal/config"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/extract"
)

func main() {
	extract.MainIfChild() // a re-executed copy of this binary parsing one untrusted file
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// subcommands are the words `coachwire <subcommand>` accepts; without one it runs its targets.
var subcommands = []struct{ name, desc string }{
	{"migrate", "apply the database migrations with COACHWIRE_MIGRATE_DATABASE_URL (the schema owner) and exit"},
	{"dlq", "the dead-letter stream: dlq list, dlq show ID, dlq replay ID|--all [--dry-run], dlq purge --yes"},
	{"reindex", "requeue every document of one creator (--creator ID) or of all for indexing"},
	{"keys", "keys rotate: a new JWT signing key; the previous ones verify until their tokens expire"},
	{"healthcheck", "exit 0 when this process's ops listener (COACHWIRE_OPS_ADDR) answers /readyz with 200"},
	{"version", "print the version, Go version and commit of this binary"},
	{"help", "print this help and exit (also -h, --help); coachwire <subcommand> -h describes one"},
}

// run is the command: its exit code is 0 on success and for help, 2 for a command line it
// cannot read (the usage goes to stderr), 1 for any other error.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if err := runErr(ctx, args, getenv, stdout, stderr); err != nil {
		var ue *config.UsageError
		var sh subHelp
		var se *subUsageError
		switch {
		case errors.As(err, &sh):
			fmt.Fprint(stdout, sh.usage)
			return 0
		case errors.As(err, &se):
			fmt.Fprintf(stderr, "%v\n\n%s", se.err, se.usage)
			return 2
		case errors.Is(err, flag.ErrHelp):
			usage(stdout, getenv)
			return 0
		case errors.As(err, &ue):
			usage(stderr, getenv)
			return 2
		}
		fmt.Fprintln(stderr, "coachwire:", err)
		return 1
	}
	return 0
}

func runErr(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		switch rest := args[1:]; args[0] {
		case "migrate":
			return runMigrate(ctx, rest, getenv, stderr)
		case "dlq":
			return runDLQ(ctx, rest, getenv, stdout, stderr)
		case "reindex":
			return runReindex(ctx, rest, getenv, stdout, stderr)
		case "keys":
			return runKeys(rest, getenv, stdout)
		case "healthcheck":
			return runHealthcheck(ctx, rest, getenv, stdout)
		case "version":
			return runVersion(rest, stdout)
		case "help":
			return flag.ErrHelp
		default:
			fmt.Fprintf(stderr, "unknown subcommand %q\n", args[0])
			return &config.UsageError{Err: fmt.Errorf("unknown subcommand %q", args[0])}
		}
	}
	cfg, err := config.Parse(args, getenv, stderr)
	if err != nil {
		return err
	}
	log := newLogger(cfg.LogLevel, stderr)
	a, err := app.Start(ctx, cfg, app.Options{Log: log, Out: stdout})
	if err != nil {
		return err
	}
	<-ctx.Done()
	fmt.Fprintln(stdout, "coachwire: shutting down")
	a.Stop()
	return nil
}

// migrate applies the embedded migrations with the owner role.
func migrate(ctx context.Context, getenv func(string) string, stderr io.Writer) error {
	url := getenv("COACHWIRE_MIGRATE_DATABASE_URL")
	if url == "" {
		return errors.New("migrate: set COACHWIRE_MIGRATE_DATABASE_URL to the schema owner's connection URL " +
			"(the embedded default migrates by itself)")
	}
	return db.Migrate(ctx, url, newLogger("info", stderr))
}

// usage prints the subcommands, the targets (from internal/app's targets table) and the flags.
func usage(w io.Writer, getenv func(string) string) {
	fmt.Fprint(w, `Usage:
  coachwire [flags]          run the components of -target (default all) in one process
  coachwire <subcommand>

Subcommands:
`)
	for _, c := range subcommands {
		fmt.Fprintf(w, "  %-11s %s\n", c.name, c.desc)
	}
	fmt.Fprintf(w, "\nTargets (-target, COACHWIRE_TARGET: %s, or a comma list of):\n", config.TargetAll)
	fmt.Fprintf(w, "  %-9s %s\n", config.TargetAll, "every target below, in one process (the default; the only one that starts embedded services)")
	for _, t := range app.Targets() {
		fmt.Fprintf(w, "  %-9s %s\n", t.Name, t.Description)
	}
	fmt.Fprint(w, "\nFlags (each also read from its COACHWIRE_* variable; the rest of the settings are COACHWIRE_* variables only, see README.md):\n")
	config.PrintFlags(w, getenv)
}

func newLogger(level string, w io.Writer) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}
