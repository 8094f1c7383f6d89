package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/bus"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/knowledge"
	"github.com/coachwire/coachwire/internal/llm"
)

// Index is the knowledge index the worker writes to.
type Index interface {
	EnsureTenant(ctx context.Context, creatorID uuid.UUID) error
	ReplaceDocument(ctx context.Context, creatorID, documentID uuid.UUID, chunks []knowledge.Chunk) error
	DeleteDocument(ctx context.Context, creatorID, documentID uuid.UUID) error
}

// Embedder embeds document chunks; nil means BM25-only indexing.
type Embedder interface {
	Embed(ctx context.Context, model string, inputs []string) ([][]float32, error)
}

// Worker is the ingest target: chunk → embed → index, reporting each step on the document.
type Worker struct {
	Store      *db.Store
	Bus        *bus.Bus
	Index      Index
	Embedder   Embedder
	EmbedModel string
	Chunker    *Chunker
	// EmbedBatch is how many chunks go to the embedder per call.
	EmbedBatch int
	Parallel   int
	Log        *slog.Logger
	Now        func() time.Time
}

// Register adds the worker's handler to the router.
func (w *Worker) Register(ctx context.Context, r *bus.Router) error {
	if w.EmbedBatch == 0 {
		w.EmbedBatch = 32
	}
	return r.Handle(ctx, "ingest", bus.ConsumerSpec{
		Stream: "CW_INGEST", Durable: "ingest", Filter: "cw.*.ingest",
		AckWait: 5 * time.Minute, MaxDeliver: maxDeliver, Parallel: w.Parallel,
	}, w.handle)
}

const maxDeliver = 5

func (w *Worker) handle(msg *message.Message) error {
	ev, err := bus.Decode[events.DocumentIngest](msg)
	if err != nil {
		return err
	}
	ctx := msg.Context()
	c, job := ev.CreatorID, ev.Data
	log := w.Log.With("creator_id", c, "document_id", job.DocumentID, "correlation_id", ev.CorrelationID)
	if job.Action == events.IngestDelete {
		return w.Index.DeleteDocument(ctx, c, job.DocumentID)
	}
	var doc db.Document
	if err := w.Store.InTenant(ctx, c, func(q *db.Queries) (err error) {
		doc, err = q.GetDocument(ctx, job.DocumentID)
		return err
	}); err != nil {
		if db.IsNotFound(err) {
			log.Info("document gone before indexing")
			return nil
		}
		return err
	}
	if doc.Version != job.Version {
		log.Info("stale ingest event", "event_version", job.Version, "document_version", doc.Version)
		return nil
	}
	if doc.Status == "indexed" {
		return nil
	}
	err = w.index(ctx, &ev.Envelope, doc)
	if err != nil {
		// A document never stays "processing": when this was the last attempt, say so.
		if n, _ := strconv.Atoi(msg.Metadata.Get(bus.MetaDelivered)); bus.IsPermanent(err) || n >= maxDeliver {
			w.setStatus(context.WithoutCancel(ctx), &ev.Envelope, doc, "failed", 0, err.Error(), "")
		}
	}
	return err
}

func (w *Worker) index(ctx context.Context, cause *events.Envelope, doc db.Document) error {
	log := w.Log.With("creator_id", doc.CreatorID, "document_id", doc.ID, "correlation_id", cause.CorrelationID)
	c := doc.CreatorID
	chunks := w.Chunker.Chunk(doc.Body)
	w.setStatus(ctx, cause, doc, "chunking", len(chunks), "", "")
	kcs := make([]knowledge.Chunk, len(chunks))
	for i, ch := range chunks {
		kcs[i] = knowledge.Chunk{DocumentID: doc.ID, Index: ch.Index, Title: doc.Title, Heading: ch.Heading, Text: ch.Text}
	}
	mode := "bm25"
	if w.Embedder != nil && len(kcs) > 0 {
		w.setStatus(ctx, cause, doc, "embedding", len(chunks), "", "")
		if err := w.embed(ctx, kcs); err != nil {
			log.Warn("embedding failed, indexing for BM25 only", "err", err)
			for i := range kcs {
				kcs[i].Vector = nil
			}
		} else {
			mode = "hybrid"
		}
	}
	if err := w.Index.EnsureTenant(ctx, c); err != nil {
		return fmt.Errorf("ingest: tenant: %w", err)
	}
	if err := w.Index.ReplaceDocument(ctx, c, doc.ID, kcs); err != nil {
		return fmt.Errorf("ingest: index: %w", err)
	}
	w.setStatus(ctx, cause, doc, "indexed", len(chunks), "", mode)
	log.Info("document indexed", "chunks", len(chunks), "search_mode", mode)
	return nil
}

func (w *Worker) embed(ctx context.Context, kcs []knowledge.Chunk) error {
	for start := 0; start < len(kcs); start += w.EmbedBatch {
		end := min(start+w.EmbedBatch, len(kcs))
		inputs := make([]string, 0, end-start)
		for _, k := range kcs[start:end] {
			inputs = append(inputs, llm.DocumentPrefix+k.Text)
		}
		vecs, err := w.Embedder.Embed(ctx, w.EmbedModel, inputs)
		if err != nil {
			return err
		}
		if len(vecs) != len(inputs) {
			return fmt.Errorf("ingest: embedder returned %d vectors for %d inputs", len(vecs), len(inputs))
		}
		for i, v := range vecs {
			kcs[start+i].Vector = v
		}
	}
	return nil
}

// setStatus records a lifecycle step and announces it; failures to announce are logged only,
// since the status row is the truth.
func (w *Worker) setStatus(ctx context.Context, cause *events.Envelope, doc db.Document, status string, chunks int, errText, mode string) {
	err := w.Store.InTenant(ctx, doc.CreatorID, func(q *db.Queries) error {
		return q.SetDocumentStatus(ctx, db.SetDocumentStatusParams{ID: doc.ID, Version: doc.Version, Status: status,
			Error: errText, ChunkCount: int32(chunks), SearchMode: mode})
	})
	if err != nil {
		w.Log.Warn("document status not recorded", "document_id", doc.ID, "status", status, "err", err)
		return
	}
	ev := events.New(doc.CreatorID, events.DocumentState{DocumentID: doc.ID, Status: status, Chunks: chunks, Error: errText}, cause, w.Now())
	id := "docstate:" + doc.ID.String() + ":" + strconv.Itoa(int(doc.Version)) + ":" + status
	if err := bus.PublishEvent(ctx, w.Bus, events.KnowledgeSubject(doc.CreatorID), id, ev); err != nil {
		w.Log.Warn("document state not published", "document_id", doc.ID, "err", err)
	}
}
