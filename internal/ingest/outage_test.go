package ingest_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/extract"
	"github.com/coachwire/coachwire/internal/ingest"
	"github.com/coachwire/coachwire/internal/testenv"
)

// TestIngestOutlivesDatabaseRestart: a document whose ingest event arrives while PostgreSQL
// restarts is indexed once it is back. The chaos suite's document uploaded in the NATS phase was
// consumed as PostgreSQL was stopped for the next phase; every delivery failed, the event was
// dead-lettered after MaxDeliver, and the gateway's re-publish for the still-queued document
// carried the same Nats-Msg-Id, so JetStream dropped it as a duplicate: the document stayed
// "queued" until the sweeper's StuckAfter (10 minutes). The outage here is as long as a
// PostgreSQL restart on a loaded machine.
func TestIngestOutlivesDatabaseRestart(t *testing.T) {
	t.Parallel()
	own := testenv.OwnDatabase(t)
	store := testenv.StoreAt(t, own.AppURL)
	r := newRig(t, func(w *ingest.Worker) { w.Store = store })
	r.store = store
	c := r.creator(t)
	d := r.addText(t, c, "Evening light", extract.Markdown, "# Evening light\n\nDim the lights an hour before bed.\n")

	ctx := context.Background()
	dbName := strings.TrimPrefix(mustURL(t, own.SuperURL).Path, "/")
	admin := mustURL(t, own.SuperURL)
	admin.Path = "/postgres"
	super, err := pgx.Connect(ctx, admin.String())
	require.NoError(t, err)
	defer super.Close(ctx)
	_, err = super.Exec(ctx, "ALTER DATABASE "+dbName+" WITH ALLOW_CONNECTIONS false")
	require.NoError(t, err)
	_, err = super.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", dbName)
	require.NoError(t, err)

	r.publish(t, d, events.IngestIndex)
	time.Sleep(outage) // the database is unreachable: every delivery so far failed
	_, err = super.Exec(ctx, "ALTER DATABASE "+dbName+" WITH ALLOW_CONNECTIONS true")
	require.NoError(t, err)

	got := r.wait(t, d)
	require.Equal(t, ingest.StatusIndexed, got.Status, "error: %s", got.Error)
}

// outage is how long the test's database is unreachable: longer than the retry budget ingest
// had (five deliveries, about 11 s), shorter than the one it has.
const outage = 25 * time.Second

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	require.NoError(t, err)
	return u
}
