package ingest_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/bus"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/extract"
	"github.com/coachwire/coachwire/internal/ingest"
	"github.com/coachwire/coachwire/internal/knowledge"
	"github.com/coachwire/coachwire/internal/llm"
	"github.com/coachwire/coachwire/internal/llm/ollamatest"
	"github.com/coachwire/coachwire/internal/storage"
	"github.com/coachwire/coachwire/internal/testenv"
	"github.com/coachwire/coachwire/internal/tokens"
)

// embedModel is the embedding model the loopback Ollama serves: documents are indexed for
// hybrid search, as with the app's defaults.
const embedModel = "nomic-embed-text"

// quota is the per-creator storage limit documents are added under (the API's default order).
const quota = 1 << 30

var (
	indexOnce sync.Once
	indexErr  error
	index     *knowledge.Store
)

// knowledgeIndex is the package's Weaviate index (one schema; every creator is its own tenant).
func knowledgeIndex(t *testing.T) *knowledge.Store {
	t.Helper()
	url := testenv.Weaviate(t)
	indexOnce.Do(func() { index, indexErr = knowledge.New(context.Background(), url) })
	require.NoError(t, indexErr)
	return index
}

// rig is a running ingest worker on the package's PostgreSQL and Weaviate and a NATS server of
// its own, with a storage directory of its own. Each test adds its own creators.
type rig struct {
	store  *db.Store
	b      *bus.Bus
	index  *knowledge.Store
	files  *storage.Dir
	ollama *ollamatest.Server
	w      *ingest.Worker
}

// newRig starts an ingest worker; tweak (may be nil) adjusts it before it registers.
func newRig(t *testing.T, tweak func(w *ingest.Worker)) *rig {
	t.Helper()
	ctx := context.Background()
	tok, err := tokens.CL100K()
	require.NoError(t, err)
	ch, err := ingest.NewChunker(ingest.ChunkerOptions{Tokenizer: tok})
	require.NoError(t, err)
	files, err := storage.New(filepath.Join(t.TempDir(), "files"))
	require.NoError(t, err)
	ol := ollamatest.New(t, ollamatest.Options{EmbedModels: []string{embedModel}})
	emb, err := llm.New(ol.URL, llm.Options{Logger: testenv.Logger(t), MaxAttempts: 2})
	require.NoError(t, err)
	r := &rig{store: testenv.Store(t), b: testenv.OwnBus(t), index: knowledgeIndex(t), files: files, ollama: ol}
	r.w = &ingest.Worker{Store: r.store, Bus: r.b, Index: r.index, Embedder: emb, EmbedModel: embedModel, Chunker: ch, Files: files,
		Limits: extract.Limits{MaxBytes: 256 << 10, Timeout: 5 * time.Second}, Log: testenv.Logger(t), Now: time.Now}
	if tweak != nil {
		tweak(r.w)
	}
	router, err := bus.NewRouter(r.b, r.w.Log)
	require.NoError(t, err)
	require.NoError(t, r.w.Register(ctx, router))
	go func() { _ = router.Run(context.Background()) }()
	<-router.Running()
	t.Cleanup(func() { _ = router.Close() })
	return r
}

// creator adds a creator: a tenant of its own in PostgreSQL and, once it has chunks, Weaviate.
func (r *rig) creator(t *testing.T) uuid.UUID {
	t.Helper()
	id := uuid.New()
	r.tx(t, id, func(q *db.Queries) error {
		_, err := q.InsertCreator(context.Background(), db.InsertCreatorParams{ID: id, Name: "Coach", Email: id.String() + "@example.com",
			WidgetKey: "wk-" + id.String(), WidgetSecret: "ws", AllowedOrigins: []string{}})
		return err
	})
	return id
}

func (r *rig) tx(t *testing.T, c uuid.UUID, fn func(q *db.Queries) error) {
	t.Helper()
	require.NoError(t, r.store.InTenant(context.Background(), c, fn))
}

// addFile stores content as an uploaded original of format (as the gateway does after
// detecting it) and adds its document row; it does not ask for indexing.
func (r *rig) addFile(t *testing.T, c uuid.UUID, title string, format extract.Format, content []byte) db.Document {
	t.Helper()
	key := uuid.New()
	info, err := r.files.Put(c, key, bytes.NewReader(content), 0)
	require.NoError(t, err)
	d, dup, err := knowledge.AddDocument(context.Background(), r.store, c, knowledge.NewDocument{Title: title, Format: string(format),
		Filename: title, StorageKey: key.String(), Size: info.Size, Hash: info.SHA256[:], ChunkOverlap: -1}, quota)
	require.NoError(t, err)
	require.False(t, dup, "%s is new to its creator", title)
	return d
}

// detected is the format the gateway detects from the content.
func detected(t *testing.T, content []byte) extract.Format {
	t.Helper()
	f, err := extract.DetectReader(bytes.NewReader(content), int64(len(content)))
	require.NoError(t, err)
	return f
}

// addText adds an inline text or Markdown document; it does not ask for indexing.
func (r *rig) addText(t *testing.T, c uuid.UUID, title string, format extract.Format, body string) db.Document {
	t.Helper()
	h := sha256.Sum256([]byte(body))
	d, dup, err := knowledge.AddDocument(context.Background(), r.store, c, knowledge.NewDocument{Title: title, Format: string(format),
		Body: body, Size: int64(len(body)), Hash: h[:], ChunkOverlap: -1}, quota)
	require.NoError(t, err)
	require.False(t, dup)
	return d
}

// publish asks ingest to index (or delete) d's current version, with the gateway's message id.
func (r *rig) publish(t *testing.T, d db.Document, action string) {
	t.Helper()
	id := "ingest:" + d.ID.String() + ":" + strconv.Itoa(int(d.Version))
	if action == events.IngestDelete {
		id = "delete:" + d.ID.String() + ":" + strconv.Itoa(int(d.Version))
	}
	r.publishID(t, id, d, action)
}

// publishID publishes d's ingest event under msgID (a new id is a redelivery JetStream would make
// after a lost ack; the same one is deduplicated by the stream).
func (r *rig) publishID(t *testing.T, msgID string, d db.Document, action string) {
	t.Helper()
	ev := events.New(d.CreatorID, events.DocumentIngest{DocumentID: d.ID, Action: action, Version: d.Version}, nil, time.Now())
	require.NoError(t, bus.PublishEvent(context.Background(), r.b, events.IngestSubject(d.CreatorID), msgID, ev))
}

// hookEmbedder calls hook once, before the first embedding the worker asks for: a change made
// while a document is being indexed, at a known point.
type hookEmbedder struct {
	ingest.Embedder
	once sync.Once
	hook func()
}

func (h *hookEmbedder) Embed(ctx context.Context, model string, inputs []string) ([][]float32, error) {
	h.once.Do(h.hook)
	return h.Embedder.Embed(ctx, model, inputs)
}

// doc is the document's row; found is false once it is gone.
func (r *rig) doc(t *testing.T, c, id uuid.UUID) (d db.Document, found bool) {
	t.Helper()
	err := r.store.InTenant(context.Background(), c, func(q *db.Queries) (err error) {
		d, err = q.GetDocument(context.Background(), id)
		return err
	})
	if db.IsNotFound(err) {
		return d, false
	}
	require.NoError(t, err)
	return d, true
}

// wait waits until the document's current version is indexed or failed and returns it.
func (r *rig) wait(t *testing.T, d db.Document) db.Document {
	t.Helper()
	var cur db.Document
	testenv.Eventually(t, 90*time.Second, func() bool {
		var ok bool
		cur, ok = r.doc(t, d.CreatorID, d.ID)
		require.True(t, ok, "document %s disappeared", d.ID)
		return cur.Version == d.Version && (cur.Status == ingest.StatusIndexed || cur.Status == ingest.StatusFailed)
	}, "document %s (%s) to finish", d.ID, d.Title)
	return cur
}

// waitGone waits until the document's row is deleted.
func (r *rig) waitGone(t *testing.T, c, id uuid.UUID) {
	t.Helper()
	testenv.Eventually(t, 60*time.Second, func() bool {
		_, ok := r.doc(t, c, id)
		return !ok
	}, "document %s to be deleted", id)
}

// states are the document states announced on the creator's knowledge subject, in order.
func (r *rig) states(t *testing.T, c uuid.UUID) []events.DocumentState {
	t.Helper()
	ctx := context.Background()
	s, err := r.b.JetStream().Stream(ctx, events.StreamKnowledge)
	require.NoError(t, err)
	subject := events.KnowledgeSubject(c)
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(subject))
	require.NoError(t, err)
	var out []events.DocumentState
	if info.State.Msgs == 0 {
		return nil
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil || m.Subject != subject {
			continue
		}
		var env struct {
			Type string               `json:"type"`
			Data events.DocumentState `json:"data"`
		}
		require.NoError(t, json.Unmarshal(m.Data, &env))
		out = append(out, env.Data)
	}
	return out
}

// statusesOf is the statuses announced for document id, in order.
func (r *rig) statusesOf(t *testing.T, c, id uuid.UUID) []string {
	t.Helper()
	var out []string
	for _, s := range r.states(t, c) {
		if s.DocumentID == id {
			out = append(out, s.Status)
		}
	}
	return out
}

// search is the creator's top hits for q, hybrid when vector is set, BM25 otherwise.
func (r *rig) search(t *testing.T, c uuid.UUID, q string, hybrid bool) []knowledge.Passage {
	t.Helper()
	var vec []float32
	if hybrid {
		vec = ollamatest.Embed(llm.QueryPrefix + q)
	}
	hits, err := r.index.Search(context.Background(), c, q, vec, 10)
	require.NoError(t, err)
	return hits
}

// chunks counts the document's chunks in the creator's Weaviate tenant.
func (r *rig) chunks(t *testing.T, c, id uuid.UUID) int {
	t.Helper()
	n, err := r.index.CountChunks(context.Background(), c, id)
	require.NoError(t, err)
	return n
}

// stored lists the creator's stored originals.
func (r *rig) stored(t *testing.T, c uuid.UUID) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(r.files.Root, c.String(), "*"))
	require.NoError(t, err)
	return files
}

// exec runs one SQL statement in the creator's tenant and returns the rows it affected.
func (r *rig) exec(t *testing.T, c uuid.UUID, sql string, args ...any) int64 {
	t.Helper()
	ctx := context.Background()
	tx, err := r.store.Pool().Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx) //nolint:errcheck
	_, err = tx.Exec(ctx, "SELECT set_config('app.creator_id', $1, true)", c.String())
	require.NoError(t, err)
	tag, err := tx.Exec(ctx, sql, args...)
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))
	return tag.RowsAffected()
}

// age makes the document look untouched for an hour (its ingest event lost) in status, with
// attempts requeues behind it.
func (r *rig) age(t *testing.T, c, id uuid.UUID, status string, attempts int) {
	t.Helper()
	n := r.exec(t, c, `UPDATE documents SET status = $2, attempts = $3, updated_at = now() - interval '1 hour' WHERE id = $1`, id, status, attempts)
	require.EqualValues(t, 1, n)
}

func sample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "extract", "testdata", name))
	require.NoError(t, err)
	return b
}
