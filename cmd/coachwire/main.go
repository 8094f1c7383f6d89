// Command coachwire runs the coachwire platform: every component in one process by default, or
// the components named by -target. `coachwire migrate` applies the database migrations.
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
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "coachwire:", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "migrate" {
		return migrate(ctx, getenv, stderr)
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

func newLogger(level string, w io.Writer) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}
