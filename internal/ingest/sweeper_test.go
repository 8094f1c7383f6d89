package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/extract"
	"github.com/coachwire/coachwire/internal/ingest"
	"github.com/coachwire/coachwire/internal/testenv"
)

// The sweeper claims stuck documents of every creator in the database, so its tests are not
// parallel: they run before the package's parallel tests start, and only they age documents.

// TestIngestSweeperRequeues: a document left in a processing state (its ingest event lost) is
// requeued by the running sweeper and indexed; a document being deleted is requeued for deletion
// however many attempts it has had; a document that has not been still for long is left alone.
func TestIngestSweeperRequeues(t *testing.T) {
	r := newRig(t, nil)
	c := r.creator(t)
	ctx := context.Background()

	stuck := r.addText(t, c, "Stuck", extract.Text, "Foam rolling after runs eases tight calves.")
	r.age(t, c, stuck.ID, ingest.StatusEmbedding, 0)
	deleting := r.addText(t, c, "Leaving", extract.Text, "Cross-training on a bike spares the knees.")
	r.tx(t, c, func(q *db.Queries) (err error) {
		deleting, err = q.MarkDocumentDeleting(ctx, deleting.ID)
		return err
	})
	r.age(t, c, deleting.ID, ingest.StatusDeleting, 50)
	fresh := r.addText(t, c, "Fresh", extract.Text, "Easy runs should allow a conversation.")

	sw := &ingest.Sweeper{Store: r.store, Bus: r.b, StuckAfter: 30 * time.Minute, Interval: 50 * time.Millisecond, MaxAttempts: 2,
		Log: testenv.Logger(t)}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); sw.Run(sctx) }()
	t.Cleanup(func() { stop(); <-done })

	got := r.wait(t, stuck)
	require.Equal(t, ingest.StatusIndexed, got.Status, got.Error)
	require.Equal(t, int(got.ChunkCount), r.chunks(t, c, stuck.ID))
	require.Equal(t, stuck.ID, r.search(t, c, "foam rolling calves", false)[0].DocumentID)
	r.waitGone(t, c, deleting.ID)
	states := r.statusesOf(t, c, deleting.ID)
	require.Equal(t, []string{ingest.StatusDeleted}, states)
	stop()
	<-done

	cur, ok := r.doc(t, c, fresh.ID)
	require.True(t, ok)
	require.Equal(t, ingest.StatusQueued, cur.Status)
	require.Zero(t, cur.Attempts, "a document updated within StuckAfter is not claimed")
	require.Empty(t, r.statusesOf(t, c, fresh.ID))
}

// TestIngestSweeperFailsAfterMaxAttempts: a stuck document that has used up its attempts is
// marked failed with the reason, announced, and not requeued.
func TestIngestSweeperFailsAfterMaxAttempts(t *testing.T) {
	r := newRig(t, nil)
	c := r.creator(t)
	d := r.addText(t, c, "Never finishes", extract.Text, "Hill sprints build power.")
	r.age(t, c, d.ID, ingest.StatusExtracting, 2)
	sw := &ingest.Sweeper{Store: r.store, Bus: r.b, StuckAfter: 30 * time.Minute, MaxAttempts: 2, Log: testenv.Logger(t)}
	n, err := sw.SweepOnce(context.Background())
	require.NoError(t, err)
	require.Equal(t, 1, n)
	got, ok := r.doc(t, c, d.ID)
	require.True(t, ok)
	require.Equal(t, ingest.StatusFailed, got.Status)
	require.Contains(t, got.Error, `stuck in "extracting" after 2 attempts`)
	require.EqualValues(t, 3, got.Attempts)
	states := r.states(t, c)
	require.Len(t, states, 1)
	require.Equal(t, events.DocumentState{DocumentID: d.ID, Status: ingest.StatusFailed, Error: got.Error}, states[0])

	// A failed document is no longer stuck: the next sweep claims nothing.
	n, err = sw.SweepOnce(context.Background())
	require.NoError(t, err)
	require.Zero(t, n)
}
