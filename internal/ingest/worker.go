package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/analysis"
	"github.com/coachwire/coachwire/internal/bus"
	"github.com/coachwire/coachwire/internal/capacity"
	"github.com/coachwire/coachwire/internal/config"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/extract"
	"github.com/coachwire/coachwire/internal/knowledge"
	"github.com/coachwire/coachwire/internal/llm"
	"github.com/coachwire/coachwire/internal/ops"
	"github.com/coachwire/coachwire/internal/storage"
	"github.com/coachwire/coachwire/internal/text"
)

// Index is the knowledge index the worker writes to.
type Index interface {
	EnsureTenant(ctx context.Context, creatorID uuid.UUID) error
	UpsertChunks(ctx context.Context, creatorID uuid.UUID, chunks []knowledge.Chunk) error
	DeleteChunksFrom(ctx context.Context, creatorID, documentID uuid.UUID, from int) error
	DeleteDocument(ctx context.Context, creatorID, documentID uuid.UUID) error
}

// Embedder embeds document chunks; nil means BM25-only indexing.
type Embedder interface {
	Embed(ctx context.Context, model string, inputs []string) ([][]float32, error)
}

// Document statuses, in pipeline order.
const (
	StatusQueued     = "queued"
	StatusExtracting = "extracting"
	StatusChunking   = "chunking"
	StatusEmbedding  = "embedding"
	StatusIndexed    = "indexed"
	StatusFailed     = "failed"
	StatusDeleting   = "deleting"
	// StatusDeleted is announced on the bus only: the row is gone.
	StatusDeleted = "deleted"
)

// Worker is the ingest target: extract → chunk → embed → index, reporting each step on the
// document row and on cw.<creator>.knowledge. Chunks are written batch by batch with
// deterministic ids and the row records how many are done, so a run killed midway resumes where
// it stopped and never leaves duplicates.
type Worker struct {
	Store      *db.Store
	Bus        *bus.Bus
	Index      Index
	Embedder   Embedder
	EmbedModel string
	// Chunker is the default chunker; documents or creators with their own chunk settings get
	// one built with its tokenizer.
	Chunker *Chunker
	// Files holds uploaded originals (nil: only inline text documents can be indexed).
	Files *storage.Dir
	// Limits bound every extraction.
	Limits extract.Limits
	// EmbedBatch is how many chunks go to the embedder (and to the index) per call.
	EmbedBatch int
	Parallel   int
	// AckWait is the ingest consumer's ack deadline (COACHWIRE_INGEST_ACK_WAIT). A running ingest keeps its
	// message alive with InProgress heartbeats, however long the document takes; a process
	// that dies stops them, and its document is redelivered after AckWait.
	AckWait time.Duration
	// Budgets are the creators' daily embedding token budgets (nil: unlimited). A document whose
	// creator's budget is spent waits, queued with the reason, until the next UTC day (the
	// Sweeper requeues it then) and resumes from the chunks already embedded.
	Budgets *capacity.Budgets
	Log     *slog.Logger
	Now     func() time.Time
	// Metrics records documents, bytes, chunks and stage times (nil: none).
	Metrics *ops.Ingest

	mu       sync.Mutex
	chunkers map[[2]int]*Chunker
}

// Register adds the worker's handler to the router.
func (w *Worker) Register(ctx context.Context, r *bus.Router) error {
	if w.EmbedBatch <= 0 { // the app passes config's; zero (a Worker built in a test) takes config's default
		w.EmbedBatch = config.KnowledgeDefaults.EmbedBatch
	}
	if w.Now == nil {
		w.Now = time.Now
	}
	if w.AckWait <= 0 {
		w.AckWait = config.KnowledgeDefaults.AckWait
	}
	return r.Handle(ctx, events.ConsumerIngest, bus.ConsumerSpec{
		Stream: events.StreamIngest, Durable: events.ConsumerIngest, Filter: events.AnyCreator(events.StageIngest),
		AckWait: w.AckWait, MaxDeliver: maxDeliver, Parallel: w.Parallel, KeepAlive: true,
	}, w.handle)
}

// maxDeliver is the ingest consumer's MaxDeliver. A delivery that fails on an unreachable
// PostgreSQL or Weaviate is nak'ed with a growing delay (0.5, 1, 2, 4, 8, then 10 s: bus), so ten
// deliveries outlast a dependency restart of about a minute. Five (about 11 s) dead-lettered the
// event of a document that arrived as PostgreSQL restarted, and the document stayed queued until
// the sweeper (a retried upload re-publishes under the same Nats-Msg-Id, which JetStream drops as
// a duplicate). Files that fail on their content fail at once, without redeliveries.
const maxDeliver = 10

// bm25Batch is how many chunks are written to the index per progress update when there is no
// embedder (EmbedBatch, when larger, wins).
const bm25Batch = 256

// errStale ends a run whose document changed underneath it (replaced, reindexed or deleted).
var errStale = errors.New("ingest: document changed during indexing")

// errWaiting ends a run whose creator's embedding budget is spent: the document waits, queued,
// for the next UTC day.
var errWaiting = errors.New("ingest: embedding budget spent: the document waits")

func (w *Worker) handle(msg *message.Message) error {
	ev, err := bus.Decode[events.DocumentIngest](msg)
	if err != nil {
		return err
	}
	n, _ := strconv.Atoi(msg.Metadata.Get(bus.MetaDelivered))
	return w.Process(msg.Context(), &ev.Envelope, ev.Data, n >= maxDeliver)
}

// Process runs one ingest job. lastAttempt marks a failure as final.
func (w *Worker) Process(ctx context.Context, cause *events.Envelope, job events.DocumentIngest, lastAttempt bool) error {
	c := cause.CreatorID
	log := w.Log.With("creator_id", c, "document_id", job.DocumentID, "correlation_id", cause.CorrelationID)
	if job.Action == events.IngestDelete {
		return w.delete(ctx, cause, job.DocumentID)
	}
	doc, err := w.load(ctx, c, job.DocumentID)
	if err != nil {
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
	switch doc.Status {
	case StatusIndexed, StatusFailed, StatusDeleting:
		return nil
	}
	err = w.index(ctx, cause, doc)
	switch {
	case err == nil || errors.Is(err, errStale) || errors.Is(err, errWaiting):
		switch {
		case err == nil:
			w.Metrics.Document(ops.IngestIndexed)
		case errors.Is(err, errStale):
			w.Metrics.Document(ops.IngestStale)
		default:
			w.Metrics.Document(ops.IngestWaiting)
		}
		return w.fixup(ctx, cause, doc)
	case isExtractError(err):
		// Nothing a retry can fix: the file is what it is. Say why and move on.
		log.Info("document failed", "err", err)
		w.Metrics.Document(ops.IngestFailed)
		w.setStatus(context.WithoutCancel(ctx), cause, doc, StatusFailed, 0, err.Error(), "")
		return nil
	}
	// A document never stays "processing": when this was the last attempt, say so.
	if bus.IsPermanent(err) || lastAttempt {
		w.Metrics.Document(ops.IngestFailed)
		w.setStatus(context.WithoutCancel(ctx), cause, doc, StatusFailed, 0, err.Error(), "")
	} else {
		w.Metrics.Document(ops.IngestRetry)
	}
	return err
}

func (w *Worker) load(ctx context.Context, c, id uuid.UUID) (doc db.Document, err error) {
	err = w.Store.InTenant(ctx, c, func(q *db.Queries) error {
		doc, err = q.GetDocument(ctx, id)
		return err
	})
	return doc, err
}

// fixup runs after a write to the index: if the document was deleted or replaced while this
// run wrote its chunks, the index may hold chunks it should not, so the current state is applied
// again.
func (w *Worker) fixup(ctx context.Context, cause *events.Envelope, was db.Document) error {
	cur, err := w.load(ctx, was.CreatorID, was.ID)
	switch {
	case db.IsNotFound(err) || (err == nil && cur.Status == StatusDeleting):
		return w.delete(ctx, cause, was.ID)
	case err != nil:
		return err
	case cur.Version != was.Version && cur.Status == StatusIndexed:
		w.Log.Info("document replaced during indexing: indexing the current version again", "document_id", was.ID)
		return w.index(ctx, cause, cur)
	}
	return nil
}

// IndexError is an extraction failure: the document is marked failed with its message.
type extractError struct{ err error }

func (e extractError) Error() string { return e.err.Error() }
func (e extractError) Unwrap() error { return e.err }

func isExtractError(err error) bool {
	var e extractError
	return errors.As(err, &e)
}

func (w *Worker) index(ctx context.Context, cause *events.Envelope, doc db.Document) error {
	log := w.Log.With("creator_id", doc.CreatorID, "document_id", doc.ID, "correlation_id", cause.CorrelationID)
	c := doc.CreatorID
	started := time.Now()
	// A spent budget is seen before the extraction, which it would only repeat.
	if err := w.checkBudget(ctx, cause, doc); err != nil {
		return err
	}
	w.setStatus(ctx, cause, doc, StatusExtracting, 0, "", "")
	t := time.Now()
	xd, size, err := w.extract(ctx, doc)
	if err != nil {
		return err
	}
	w.Metrics.Extracted(doc.Format, size, time.Since(t))
	w.setStatus(ctx, cause, doc, StatusChunking, 0, "", "")
	chunker, err := w.chunkerFor(ctx, doc)
	if err != nil {
		return extractError{fmt.Errorf("chunk settings: %w", err)}
	}
	kcs := ChunkDocument(chunker, doc.ID, DocumentTitle(doc.Title, doc.Filename, xd), xd)
	if len(kcs) == 0 {
		return extractError{fmt.Errorf("%w", extract.ErrNoText)}
	}
	mode := "bm25"
	if w.Embedder != nil {
		mode = "hybrid"
	}
	resume := 0
	// A document that waited for its embedding budget is queued with its progress kept.
	if (doc.Status == StatusEmbedding || doc.Status == StatusQueued) && int(doc.ChunkCount) == len(kcs) && doc.SearchMode == mode && int(doc.ChunksDone) < len(kcs) {
		resume = int(doc.ChunksDone)
	}
	if err := w.Store.InTenant(ctx, c, func(q *db.Queries) error {
		if err := q.StartDocumentStage(ctx, db.StartDocumentStageParams{ID: doc.ID, Version: doc.Version, Status: StatusEmbedding,
			ChunkCount: int32(len(kcs)), SearchMode: mode}); err != nil {
			return err
		}
		_, err := q.SetDocumentProgress(ctx, db.SetDocumentProgressParams{ID: doc.ID, Version: doc.Version, ChunksDone: int32(resume)})
		return err
	}); err != nil {
		return err
	}
	w.announce(ctx, cause, doc, StatusEmbedding, len(kcs), "")
	if resume > 0 {
		log.Info("resuming document", "chunks_done", resume, "chunks", len(kcs))
	}
	if err := w.Index.EnsureTenant(ctx, c); err != nil {
		return fmt.Errorf("ingest: tenant: %w", err)
	}
	embedOK := w.Embedder != nil
	batch := w.EmbedBatch
	if !embedOK {
		// Nothing to embed: write bigger batches, with one progress update each.
		batch = max(batch, bm25Batch)
	}
	var indexDur, progressDur time.Duration
	for start := resume; start < len(kcs); start += batch {
		end := min(start+batch, len(kcs))
		part := kcs[start:end]
		if embedOK {
			if err := w.checkBudget(ctx, cause, doc); err != nil {
				log.Info("embedding budget spent: the document waits for the next day", "chunks_done", start, "chunks", len(kcs))
				return err
			}
			if err := w.embed(ctx, c, part); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				log.Warn("embedding failed, indexing the rest for BM25 only (reindex later to add vectors)", "err", err)
				embedOK, mode = false, "bm25"
				for i := range part {
					part[i].Vector = nil
				}
			}
		}
		t0 := time.Now()
		if err := w.Index.UpsertChunks(ctx, c, part); err != nil {
			return fmt.Errorf("ingest: index: %w", err)
		}
		t1 := time.Now()
		var n int64
		if err := w.Store.InTenant(ctx, c, func(q *db.Queries) (err error) {
			n, err = q.SetDocumentProgress(ctx, db.SetDocumentProgressParams{ID: doc.ID, Version: doc.Version, ChunksDone: int32(end)})
			return err
		}); err != nil {
			return err
		}
		indexDur, progressDur = indexDur+t1.Sub(t0), progressDur+time.Since(t1)
		if n == 0 {
			return errStale
		}
	}
	if err := w.Index.DeleteChunksFrom(ctx, c, doc.ID, len(kcs)); err != nil {
		return fmt.Errorf("ingest: drop stale chunks: %w", err)
	}
	w.setStatus(ctx, cause, doc, StatusIndexed, len(kcs), "", mode)
	w.Metrics.Chunks(mode, len(kcs)-resume)
	log.Info("document indexed", "chunks", len(kcs), "search_mode", mode, "dur", time.Since(started),
		"index_write_dur", indexDur, "progress_dur", progressDur)
	return nil
}

// extract returns the document's text with its structure and the size of what it read.
func (w *Worker) extract(ctx context.Context, doc db.Document) (*extract.Document, int64, error) {
	f := extract.Format(doc.Format)
	if doc.StorageKey == "" {
		return &extract.Document{Format: f, Sections: []extract.Section{{Text: doc.Body}}}, int64(len(doc.Body)), nil
	}
	key, err := uuid.Parse(doc.StorageKey)
	if err != nil || w.Files == nil {
		return nil, 0, extractError{fmt.Errorf("the original file is not available")}
	}
	var xd *extract.Document
	if f.Isolated() {
		path, err := w.Files.Path(doc.CreatorID, key)
		if err != nil {
			return nil, 0, extractError{err}
		}
		st, err := os.Stat(path)
		if err != nil {
			return nil, 0, extractError{fmt.Errorf("the original file is missing")}
		}
		xd, err = extract.ExtractIsolated(ctx, path, f, w.Limits)
		if err != nil {
			return nil, 0, classifyExtract(ctx, err)
		}
		return xd, st.Size(), nil
	}
	file, err := w.Files.Open(doc.CreatorID, key)
	if err != nil {
		return nil, 0, extractError{fmt.Errorf("the original file is missing")}
	}
	defer file.Close()
	st, err := file.Stat()
	if err != nil {
		return nil, 0, err
	}
	xd, err = extract.Extract(ctx, file, st.Size(), f, w.Limits)
	if err != nil {
		return nil, 0, classifyExtract(ctx, err)
	}
	return xd, st.Size(), nil
}

// classifyExtract marks the extract package's errors as final; a cancelled context (the worker is
// stopping) stays retryable.
func classifyExtract(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return err
	}
	for _, e := range []error{extract.ErrEmpty, extract.ErrUnsupported, extract.ErrTooLarge, extract.ErrCorrupt, extract.ErrTimeout, extract.ErrNoText} {
		if errors.Is(err, e) {
			return extractError{err}
		}
	}
	return err
}

// chunkerFor returns the chunker for the document's settings: its own, else its creator's, else
// the default.
func (w *Worker) chunkerFor(ctx context.Context, doc db.Document) (*Chunker, error) {
	tokens, overlap := int(doc.ChunkTokens), int(doc.ChunkOverlap)
	if tokens == 0 {
		var cs db.GetCreatorChunkingRow
		if err := w.Store.InTenant(ctx, doc.CreatorID, func(q *db.Queries) (err error) {
			cs, err = q.GetCreatorChunking(ctx, doc.CreatorID)
			return err
		}); err != nil {
			return nil, err
		}
		tokens, overlap = int(cs.ChunkTokens), int(cs.ChunkOverlap)
	}
	if tokens == 0 {
		return w.Chunker, nil
	}
	if overlap < 0 {
		overlap = min(DefaultOverlapTokens, tokens/5)
	}
	key := [2]int{tokens, overlap}
	w.mu.Lock()
	defer w.mu.Unlock()
	if ch := w.chunkers[key]; ch != nil {
		return ch, nil
	}
	ch, err := NewChunker(ChunkerOptions{MaxTokens: tokens, OverlapTokens: overlap, NoOverlap: overlap == 0, Tokenizer: w.Chunker.tok})
	if err != nil {
		return nil, err
	}
	if w.chunkers == nil {
		w.chunkers = map[[2]int]*Chunker{}
	}
	w.chunkers[key] = ch
	return ch, nil
}

// ChunkDocument chunks each section of an extracted document on its own, so every chunk
// carries the heading, heading path, page and language it came from. Indexes run across
// sections from 0.
func ChunkDocument(ch *Chunker, docID uuid.UUID, title string, xd *extract.Document) []knowledge.Chunk {
	// The document's language, from its start (detection allocates in proportion to the
	// sample); each chunk's own is detected when it is indexed, this is its fallback.
	var sample strings.Builder
	for _, sec := range xd.Sections {
		if sample.Len() >= 2048 {
			break
		}
		sample.WriteString(sec.Heading + "\n" + sec.Text[:min(len(sec.Text), 2048)] + "\n")
	}
	docLang := analysis.Detect(sample.String()).Lang
	var out []knowledge.Chunk
	var path []pathEntry
	for _, sec := range xd.Sections {
		if sec.Heading != "" {
			lvl := max(sec.Level, 1)
			for len(path) > 0 && path[len(path)-1].level >= lvl {
				path = path[:len(path)-1]
			}
			path = append(path, pathEntry{lvl, sec.Heading})
		}
		for _, c := range ch.Chunk(sec.Text) {
			heading := c.Heading
			if heading == "" {
				heading = sec.Heading
			}
			out = append(out, knowledge.Chunk{DocumentID: docID, Index: len(out), Title: title, Heading: heading,
				Headings: headingPath(title, path, c.Heading), Page: sec.Page, Text: c.Text, Lang: docLang})
		}
	}
	return out
}

type pathEntry struct {
	level   int
	heading string
}

// headingPath joins the section's headings (without one that only repeats the title) and the
// chunk's own deeper heading with " › ".
func headingPath(title string, path []pathEntry, sub string) string {
	parts := make([]string, 0, len(path)+1)
	for _, p := range path {
		if !strings.EqualFold(p.heading, title) {
			parts = append(parts, p.heading)
		}
	}
	if sub != "" && (len(path) == 0 || sub != path[len(path)-1].heading) {
		parts = append(parts, sub)
	}
	return strings.Join(parts, " › ")
}

// DocumentTitle is the title a document is indexed under: the creator's, unless it is only the
// file name (the gateway's default), then the content's own (the H1 or metadata title the
// extractor found, else the first heading).
func DocumentTitle(stored, filename string, xd *extract.Document) string {
	if filename == "" || !strings.EqualFold(strings.TrimSpace(stored), knowledge.FilenameTitle(filename)) {
		return stored
	}
	if t := strings.TrimSpace(xd.Title); t != "" {
		return t
	}
	for _, s := range xd.Sections {
		if h := strings.TrimSpace(s.Heading); h != "" {
			return h
		}
	}
	return stored
}

func (w *Worker) embed(ctx context.Context, c uuid.UUID, kcs []knowledge.Chunk) error {
	inputs := make([]string, 0, len(kcs))
	for _, k := range kcs {
		inputs = append(inputs, llm.DocumentPrefix+k.Text)
	}
	var u llm.Usage
	t := time.Now()
	vecs, err := w.Embedder.Embed(llm.WithWork(ctx, llm.Work{Class: llm.IngestEmbed, Creator: c, Usage: &u}), w.EmbedModel, inputs)
	w.Metrics.EmbedBatch(time.Since(t), err)
	if rerr := w.Budgets.Record(context.WithoutCancel(ctx), c, capacity.Embed, u); rerr != nil {
		w.Log.Warn("embedding token usage not recorded", "creator_id", c, "tokens", u.Tokens(), "err", rerr)
	}
	if err != nil {
		return err
	}
	if len(vecs) != len(inputs) {
		return fmt.Errorf("ingest: embedder returned %d vectors for %d inputs", len(vecs), len(inputs))
	}
	for i, v := range vecs {
		kcs[i].Vector = v
	}
	return nil
}

// checkBudget returns errWaiting, after parking the document until the budget resets, when its
// creator's embedding budget for the day is spent. Without an embedder nothing is budgeted.
func (w *Worker) checkBudget(ctx context.Context, cause *events.Envelope, doc db.Document) error {
	if w.Embedder == nil || w.Budgets == nil {
		return nil
	}
	dec, err := w.Budgets.Allow(ctx, doc.CreatorID, capacity.Embed)
	if err != nil || dec.Allowed {
		return err
	}
	var n int64
	if err := w.Store.InTenant(ctx, doc.CreatorID, func(q *db.Queries) (err error) {
		n, err = q.WaitDocument(ctx, db.WaitDocumentParams{ID: doc.ID, Version: doc.Version, Reason: dec.Reason, WaitUntil: &dec.ResetAt})
		return err
	}); err != nil {
		return err
	}
	if n == 0 {
		return errStale
	}
	w.Log.Info("document waits for its creator's embedding budget", "creator_id", doc.CreatorID, "document_id", doc.ID,
		"used", dec.Used, "limit", dec.Limit, "until", dec.ResetAt)
	// Announced under an id of its own per wait (a document may wait more than one day).
	ev := events.New(doc.CreatorID, events.DocumentState{DocumentID: doc.ID, Status: StatusQueued, Error: dec.Reason}, cause, w.Now())
	id := "docstate:" + doc.ID.String() + ":" + strconv.Itoa(int(doc.Version)) + ":wait:" + strconv.FormatInt(dec.ResetAt.Unix(), 10)
	if err := bus.PublishEvent(ctx, w.Bus, events.KnowledgeSubject(doc.CreatorID), id, ev); err != nil {
		w.Log.Warn("document state not published", "document_id", doc.ID, "err", err)
	}
	return errWaiting
}

// delete removes a deleted document's chunks, its original and its row.
func (w *Worker) delete(ctx context.Context, cause *events.Envelope, id uuid.UUID) error {
	c := cause.CreatorID
	doc, err := w.load(ctx, c, id)
	if err != nil && !db.IsNotFound(err) {
		return err
	}
	if err == nil && doc.Status != StatusDeleting {
		w.Log.Info("delete event for a live document ignored", "document_id", id, "status", doc.Status)
		return nil
	}
	if err := w.Index.DeleteDocument(ctx, c, id); err != nil && !errors.Is(err, knowledge.ErrTenantNotFound) {
		return err
	}
	if err == nil {
		if key, perr := uuid.Parse(doc.StorageKey); perr == nil && w.Files != nil {
			if err := w.Files.Delete(c, key); err != nil {
				w.Log.Warn("original not removed", "document_id", id, "err", err)
			}
		}
		if err := w.Store.InTenant(ctx, c, func(q *db.Queries) error { return q.DeleteDeletingDocument(ctx, id) }); err != nil {
			return err
		}
	}
	ev := events.New(c, events.DocumentState{DocumentID: id, Status: StatusDeleted}, cause, w.Now())
	if err := bus.PublishEvent(ctx, w.Bus, events.KnowledgeSubject(c), "docstate:"+id.String()+":deleted", ev); err != nil {
		w.Log.Warn("document state not published", "document_id", id, "err", err)
	}
	return nil
}

// setStatus records a lifecycle step and announces it; failures to announce are logged only,
// since the status row is the truth.
func (w *Worker) setStatus(ctx context.Context, cause *events.Envelope, doc db.Document, status string, chunks int, errText, mode string) {
	err := w.Store.InTenant(ctx, doc.CreatorID, func(q *db.Queries) error {
		return q.SetDocumentStatus(ctx, db.SetDocumentStatusParams{ID: doc.ID, Version: doc.Version, Status: status,
			Error: text.Sanitize(errText), ChunkCount: int32(chunks), SearchMode: mode})
	})
	if err != nil {
		w.Log.Warn("document status not recorded", "document_id", doc.ID, "status", status, "err", err)
		return
	}
	w.announce(ctx, cause, doc, status, chunks, errText)
}

func (w *Worker) announce(ctx context.Context, cause *events.Envelope, doc db.Document, status string, chunks int, errText string) {
	ev := events.New(doc.CreatorID, events.DocumentState{DocumentID: doc.ID, Status: status, Chunks: chunks, Error: errText}, cause, w.Now())
	id := "docstate:" + doc.ID.String() + ":" + strconv.Itoa(int(doc.Version)) + ":" + status
	if err := bus.PublishEvent(ctx, w.Bus, events.KnowledgeSubject(doc.CreatorID), id, ev); err != nil {
		w.Log.Warn("document state not published", "document_id", doc.ID, "err", err)
	}
}
