package opscli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/bus"
	"github.com/coachwire/coachwire/internal/db"
)

// Reindex requeues every document of each creator exactly as the creator API's
// POST /api/v1/documents/reindex does: inside the creator's tenant each document that is not
// being deleted gets a new version and status queued (RequeueAllDocuments), and one
// document.ingest event per document goes to the ingest target under the id the gateway uses
// ("ingest:<document>:<version>"). It writes one line per creator and returns the number of
// documents queued.
func Reindex(ctx context.Context, store *db.Store, b *bus.Bus, creators []uuid.UUID, now func() time.Time, w io.Writer) (int, error) {
	total := 0
	for _, c := range creators {
		var docs []db.Document
		if err := store.InTenant(ctx, c, func(q *db.Queries) (err error) {
			docs, err = q.RequeueAllDocuments(ctx)
			return err
		}); err != nil {
			return total, fmt.Errorf("reindex: creator %s: %w", c, err)
		}
		for _, d := range docs {
			ev := events.New(c, events.DocumentIngest{DocumentID: d.ID, Action: events.IngestIndex, Version: d.Version}, nil, now())
			id := "ingest:" + d.ID.String() + ":" + strconv.Itoa(int(d.Version))
			if err := bus.PublishEvent(ctx, b, events.IngestSubject(c), id, ev); err != nil {
				// The rows are queued: the ingest sweeper requeues them once they count as stuck.
				return total, fmt.Errorf("reindex: creator %s: %w (the documents stay queued; the ingest sweeper picks them up)", c, err)
			}
			total++
		}
		fmt.Fprintf(w, "creator %s: %d documents queued for reindexing\n", c, len(docs))
	}
	return total, nil
}
