package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/internal/bus"
	"github.com/coachwire/coachwire/internal/config"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/opscli"
)

// The operator subcommands: each parses its own flags, prints its usage for -h (exit 0) and for
// a command line it cannot read (exit 2); the work is in internal/opscli.

// subHelp asks run to print a subcommand's usage on stdout and exit 0.
type subHelp struct{ usage string }

func (subHelp) Error() string { return "help requested" }

// subUsageError is a subcommand command line that cannot be read: run prints the message and
// the subcommand's usage on stderr and exits 2.
type subUsageError struct {
	usage string
	err   error
}

func (e *subUsageError) Error() string { return e.err.Error() }

// subFlags is a silent flag set for subcommand name (parseSub reports its errors).
func subFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parseSub parses args with fs (flags may come before or after the positional arguments) and
// checks the number of positional arguments is within [min, max].
func parseSub(fs *flag.FlagSet, usage string, args []string, min, max int) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, subHelp{usage}
			}
			return nil, &subUsageError{usage, err}
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	switch {
	case len(pos) < min:
		return nil, &subUsageError{usage, fmt.Errorf("%s: missing argument", fs.Name())}
	case len(pos) > max && max == 0:
		return nil, &subUsageError{usage, fmt.Errorf("%s takes no arguments (got %q)", fs.Name(), pos)}
	case len(pos) > max:
		return nil, &subUsageError{usage, fmt.Errorf("%s: unexpected argument %q", fs.Name(), pos[max])}
	}
	return pos, nil
}

// usageWithFlags is a subcommand's usage text followed by its flags.
func usageWithFlags(text string, fs *flag.FlagSet) string {
	var b strings.Builder
	b.WriteString(text)
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		b.WriteString("\nFlags:\n")
		fs.SetOutput(&b)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return b.String()
}

func need(getenv func(string) string, what string, keys ...string) (map[string]string, error) {
	out := map[string]string{}
	var missing []string
	for _, k := range keys {
		v := strings.TrimSpace(getenv(k))
		if v == "" {
			missing = append(missing, k)
		}
		out[k] = v
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s needs %s (the settings of a running coachwire process)", what, strings.Join(missing, ", "))
	}
	return out, nil
}

const migrateUsage = `Usage: coachwire migrate

Applies the database migrations with COACHWIRE_MIGRATE_DATABASE_URL (the schema owner) and exits.
`

func runMigrate(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	if _, err := parseSub(subFlags("migrate"), migrateUsage, args, 0, 0); err != nil {
		return err
	}
	return migrate(ctx, getenv, stderr)
}

const dlqUsage = `Usage:
  coachwire dlq list                           list the dead-letter stream (CW_DLQ): id, time, source subject, reason
  coachwire dlq show ID                        one dead letter: reason, headers and body
  coachwire dlq replay ID|--all [--dry-run]    publish the original message again to its original subject,
                                               with its body, headers and Nats-Msg-Id, then remove it from CW_DLQ
  coachwire dlq purge --yes                    delete every dead letter

Connects to COACHWIRE_NATS_URL. A replayed event keeps its event id, so handlers that already
did part of the work skip it; when the original is still inside its stream's 10-minute duplicate
window the replay is published as "<id>:replay:<dlq id>" (JetStream would drop the original id).
`

func runDLQ(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return &subUsageError{dlqUsage, errors.New("dlq: missing action (list, show, replay or purge)")}
	}
	action, rest := args[0], args[1:]
	fs := subFlags("dlq " + action)
	var all, dryRun, yes *bool
	minArgs, maxArgs := 0, 0
	switch action {
	case "-h", "-help", "--help", "help":
		return subHelp{dlqUsage}
	case "list":
	case "show":
		minArgs, maxArgs = 1, 1
	case "replay":
		all = fs.Bool("all", false, "replay every dead letter")
		dryRun = fs.Bool("dry-run", false, "print what would be replayed, change nothing")
		maxArgs = 1
	case "purge":
		yes = fs.Bool("yes", false, "confirm: delete every dead letter")
	default:
		return &subUsageError{dlqUsage, fmt.Errorf("dlq: unknown action %q (list, show, replay or purge)", action)}
	}
	usage := usageWithFlags(dlqUsage, fs)
	pos, err := parseSub(fs, usage, rest, minArgs, maxArgs)
	if err != nil {
		return err
	}
	var id uint64
	if len(pos) == 1 {
		if id, err = strconv.ParseUint(pos[0], 10, 64); err != nil || id == 0 {
			return &subUsageError{usage, fmt.Errorf("dlq %s: ID %q is not a dead-letter id (a number from coachwire dlq list)", action, pos[0])}
		}
	}
	switch {
	case action == "replay" && *all == (id != 0):
		return &subUsageError{usage, errors.New("dlq replay: give one ID or --all")}
	case action == "purge" && !*yes:
		return &subUsageError{usage, errors.New("dlq purge deletes every dead letter: add --yes")}
	}
	env, err := need(getenv, "dlq", "COACHWIRE_NATS_URL")
	if err != nil {
		return err
	}
	b, err := bus.Connect(ctx, env["COACHWIRE_NATS_URL"], "coachwire-dlq", newLogger("warn", stderr), bus.Options{})
	if err != nil {
		return err
	}
	defer b.Close()
	d := opscli.DLQ{JS: b.JetStream()}
	switch action {
	case "list":
		dls, err := d.List(ctx)
		if err != nil {
			return err
		}
		return opscli.WriteList(stdout, dls)
	case "show":
		dl, err := d.Get(ctx, id)
		if err != nil {
			return err
		}
		return opscli.WriteShow(stdout, dl)
	case "purge":
		n, err := d.Purge(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "purged %d dead letters\n", n)
		return nil
	}
	ids := []uint64{id}
	if *all {
		dls, err := d.List(ctx)
		if err != nil {
			return err
		}
		ids = ids[:0]
		for _, dl := range dls {
			ids = append(ids, dl.ID)
		}
	}
	verb := "replayed"
	if *dryRun {
		verb = "would replay"
	}
	for _, id := range ids {
		r, err := d.Replay(ctx, id, *dryRun)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s %d to %s as %s\n", verb, r.ID, r.Source, r.MsgID)
	}
	fmt.Fprintf(stdout, "%s %d dead letters\n", verb, len(ids))
	return nil
}

const reindexUsage = `Usage: coachwire reindex [--creator ID]

Requeues every document of one creator (--creator) or of every creator for indexing, as
POST /api/v1/documents/reindex does: each document gets a new version and the ingest target
rebuilds its chunks. Connects to COACHWIRE_DATABASE_URL and COACHWIRE_NATS_URL; without
--creator it lists the creators with COACHWIRE_MIGRATE_DATABASE_URL (the schema owner).
`

func runReindex(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := subFlags("reindex")
	creator := fs.String("creator", "", "the creator (workspace) id; default every creator")
	usage := usageWithFlags(reindexUsage, fs)
	if _, err := parseSub(fs, usage, args, 0, 0); err != nil {
		return err
	}
	keys := []string{"COACHWIRE_DATABASE_URL", "COACHWIRE_NATS_URL"}
	var ids []uuid.UUID
	if *creator != "" {
		id, err := uuid.Parse(*creator)
		if err != nil {
			return &subUsageError{usage, fmt.Errorf("reindex: --creator %q is not a creator id (a UUID)", *creator)}
		}
		ids = append(ids, id)
	} else {
		keys = append(keys, "COACHWIRE_MIGRATE_DATABASE_URL")
	}
	env, err := need(getenv, "reindex", keys...)
	if err != nil {
		return err
	}
	if *creator == "" {
		if ids, err = db.WorkspaceIDs(ctx, env["COACHWIRE_MIGRATE_DATABASE_URL"]); err != nil {
			return err
		}
	}
	store, err := db.Open(ctx, env["COACHWIRE_DATABASE_URL"], 4)
	if err != nil {
		return err
	}
	defer store.Close()
	b, err := bus.Connect(ctx, env["COACHWIRE_NATS_URL"], "coachwire-reindex", newLogger("warn", stderr), bus.Options{})
	if err != nil {
		return err
	}
	defer b.Close()
	n, err := opscli.Reindex(ctx, store, b, ids, time.Now, stdout)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d documents of %d creators queued; follow them with GET /api/v1/documents\n", n, len(ids))
	return nil
}

const keysUsage = `Usage: coachwire keys rotate

Puts a new signing key at the front of the JWT key file (COACHWIRE_JWT_KEY_FILE, default
<COACHWIRE_DATA_DIR>/keys/jwt.json). The previous signing key is kept for verification and
marked retired now; keys retired longer than the longest token lifetime ago
(max of COACHWIRE_ACCESS_TOKEN_TTL and COACHWIRE_WIDGET_TOKEN_TTL) are dropped, since every token
they signed has expired. Restart (or roll) every gateway afterwards.
`

func runKeys(args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 {
		return &subUsageError{keysUsage, errors.New("keys: missing action (rotate)")}
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		return subHelp{keysUsage}
	case "rotate":
	default:
		return &subUsageError{keysUsage, fmt.Errorf("keys: unknown action %q (rotate)", args[0])}
	}
	fs := subFlags("keys rotate")
	if _, err := parseSub(fs, keysUsage, args[1:], 0, 0); err != nil {
		return err
	}
	path := strings.TrimSpace(getenv("COACHWIRE_JWT_KEY_FILE"))
	if path == "" {
		dataDir := strings.TrimSpace(getenv("COACHWIRE_DATA_DIR"))
		if dataDir == "" {
			dataDir = ".coachwire"
		}
		path = filepath.Join(dataDir, "keys", "jwt.json")
	}
	lifetime := time.Duration(0)
	for _, ttl := range []struct {
		name string
		def  time.Duration
	}{{"COACHWIRE_ACCESS_TOKEN_TTL", config.DefaultAccessTokenTTL}, {"COACHWIRE_WIDGET_TOKEN_TTL", config.DefaultWidgetTokenTTL}} {
		d := ttl.def
		if v := strings.TrimSpace(getenv(ttl.name)); v != "" {
			var err error
			if d, err = time.ParseDuration(v); err != nil || d <= 0 {
				return fmt.Errorf("keys rotate: %s=%q: want a positive duration such as 15m", ttl.name, v)
			}
		}
		lifetime = max(lifetime, d)
	}
	return opscli.RotateKeys(path, lifetime, time.Now(), stdout)
}

const healthcheckUsage = `Usage: coachwire healthcheck [-timeout 5s]

Asks this process's ops listener (COACHWIRE_OPS_ADDR, default 127.0.0.1:9090) for GET /readyz
and exits 0 when it answers 200, 1 otherwise: a container health check.
`

func runHealthcheck(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := subFlags("healthcheck")
	timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for the answer")
	usage := usageWithFlags(healthcheckUsage, fs)
	if _, err := parseSub(fs, usage, args, 0, 0); err != nil {
		return err
	}
	url, err := opscli.ReadyURL(strings.TrimSpace(getenv("COACHWIRE_OPS_ADDR")))
	if err != nil {
		return err
	}
	if err := opscli.Healthcheck(ctx, url, *timeout); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "ready:", url)
	return nil
}

const versionUsage = `Usage: coachwire version

Prints the module version, the Go version and the commit this binary was built from.
`

func runVersion(args []string, stdout io.Writer) error {
	if _, err := parseSub(subFlags("version"), versionUsage, args, 0, 0); err != nil {
		return err
	}
	info, ok := debug.ReadBuildInfo()
	opscli.WriteVersion(stdout, info, ok)
	return nil
}
