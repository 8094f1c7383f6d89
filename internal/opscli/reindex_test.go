package opscli_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/opscli"
	"github.com/coachwire/coachwire/internal/testenv"
)

// newWorkspace creates a creator the way sign-up does (its row and its widget key) with n
// indexed documents and one being deleted, and returns its id.
func newWorkspace(t *testing.T, s *db.Store, n int) uuid.UUID {
	t.Helper()
	ctx := context.Background()
	id := uuid.New()
	require.NoError(t, s.InTenant(ctx, id, func(q *db.Queries) error {
		if _, err := q.InsertCreator(ctx, db.InsertCreatorParams{ID: id, Name: "c", Email: id.String() + "@example.com",
			WidgetKey: "wk_" + id.String(), WidgetSecret: "s", AllowedOrigins: []string{}}); err != nil {
			return err
		}
		if err := q.RegisterWidgetKey(ctx, db.RegisterWidgetKeyParams{CreatorID: id, WidgetKey: "wk_" + id.String()}); err != nil {
			return err
		}
		for i := range n + 1 {
			d, err := q.InsertDocument(ctx, db.InsertDocumentParams{ID: uuid.New(), CreatorID: id, Title: "doc", Format: "text",
				Body: "hello", ContentHash: []byte{byte(i)}, ChunkTokens: 1000, ChunkOverlap: 200})
			if err != nil {
				return err
			}
			if i == n {
				if _, err := q.MarkDocumentDeleting(ctx, d.ID); err != nil {
					return err
				}
			}
		}
		return nil
	}))
	return id
}

// ingestEvents reads every document.ingest event of creator from CW_INGEST.
func ingestEvents(t *testing.T, js jetstream.JetStream, creator uuid.UUID) map[string]events.Message[events.DocumentIngest] {
	t.Helper()
	ctx := context.Background()
	s, err := js.Stream(ctx, events.StreamIngest)
	require.NoError(t, err)
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{events.IngestSubject(creator)}})
	require.NoError(t, err)
	out := map[string]events.Message[events.DocumentIngest]{}
	batch, err := c.Fetch(100, jetstream.FetchMaxWait(time.Second))
	require.NoError(t, err)
	for m := range batch.Messages() {
		ev, err := events.Decode[events.DocumentIngest](m.Data())
		require.NoError(t, err)
		out[m.Headers().Get("Nats-Msg-Id")] = ev
	}
	return out
}

// TestReindex: every workspace (listed through the owner's connection) has each of its
// documents requeued with a new version, and one ingest event per document under the id the
// gateway's reindex uses; a document being deleted is left alone.
func TestReindex(t *testing.T) {
	t.Parallel()
	dbs := testenv.OwnDatabase(t)
	store := testenv.StoreAt(t, dbs.AppURL)
	b := testenv.OwnBus(t)
	ctx := context.Background()
	a, c := newWorkspace(t, store, 2), newWorkspace(t, store, 1)

	ids, err := db.WorkspaceIDs(ctx, dbs.OwnerURL)
	require.NoError(t, err)
	require.ElementsMatch(t, []uuid.UUID{a, c}, ids)

	var out strings.Builder
	n, err := opscli.Reindex(ctx, store, b, ids, time.Now, &out)
	require.NoError(t, err)
	require.Equal(t, 3, n)
	require.Contains(t, out.String(), "creator "+a.String()+": 2 documents queued for reindexing\n")
	require.Contains(t, out.String(), "creator "+c.String()+": 1 documents queued for reindexing\n")
	for creator, want := range map[uuid.UUID]int{a: 2, c: 1} {
		docs := testenv.Read(t, store, creator, func(ctx context.Context, q *db.Queries) ([]db.Document, error) { return q.ListDocuments(ctx, 100) })
		evs := ingestEvents(t, b.JetStream(), creator)
		require.Len(t, evs, want)
		queued := 0
		for _, d := range docs {
			if d.Status == "deleting" {
				continue
			}
			queued++
			require.Equal(t, "queued", d.Status)
			require.EqualValues(t, 2, d.Version)
			ev, ok := evs["ingest:"+d.ID.String()+":2"]
			require.True(t, ok, "event of %s", d.ID)
			require.Equal(t, events.IngestIndex, ev.Data.Action)
			require.Equal(t, creator, ev.CreatorID)
		}
		require.Equal(t, want, queued)
	}
}
