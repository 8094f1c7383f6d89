package ingest_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/extract"
	"github.com/coachwire/coachwire/internal/extract/extracttest"
	"github.com/coachwire/coachwire/internal/ingest"
	"github.com/coachwire/coachwire/internal/knowledge"
	"github.com/coachwire/coachwire/internal/llm"
	"github.com/coachwire/coachwire/internal/llm/llmtest"
	"github.com/coachwire/coachwire/internal/llm/ollamatest"
)

// pipeline is what a document that indexes announces on its creator's knowledge subject.
var pipeline = []string{ingest.StatusExtracting, ingest.StatusChunking, ingest.StatusEmbedding, ingest.StatusIndexed}

// TestIngestFormats indexes one small real file per supported format (the format detected from
// the content, as the gateway does) and an inline Markdown body: each is indexed for hybrid
// search with every chunk in the creator's Weaviate tenant, announces every step, and a question
// built from its text finds it first, with the page for PDF and PPTX.
func TestIngestFormats(t *testing.T) {
	t.Parallel()
	r := newRig(t, func(w *ingest.Worker) { w.Parallel = 4 }) // several documents at once, as COACHWIRE_WORKER_PARALLEL allows
	c := r.creator(t)
	formats := map[string]extract.Format{"sample.pdf": extract.PDF, "sample.docx": extract.DOCX, "sample.pptx": extract.PPTX,
		"sample.epub": extract.EPUB, "sample.html": extract.HTML, "sample.md": extract.Markdown, "sample.txt": extract.Text,
		"sample.csv": extract.CSV}
	docs := map[string]db.Document{}
	for name, format := range formats {
		content := sample(t, name)
		require.Equal(t, format, detected(t, content), name)
		d := r.addFile(t, c, name, format, content)
		r.publish(t, d, events.IngestIndex)
		docs[name] = d
	}
	inline := r.addText(t, c, "Inline", extract.Markdown, "# Cadence\n\nAim for one hundred and eighty steps per minute on easy runs.\n")
	r.publish(t, inline, events.IngestIndex)
	docs["inline"] = inline

	for name, d := range docs {
		got := r.wait(t, d)
		require.Equal(t, ingest.StatusIndexed, got.Status, "%s: %s", name, got.Error)
		require.Equal(t, "hybrid", got.SearchMode, name)
		require.Positive(t, got.ChunkCount, name)
		require.Equal(t, got.ChunkCount, got.ChunksDone, name)
		require.Equal(t, int(got.ChunkCount), r.chunks(t, c, d.ID), name)
		require.Equal(t, pipeline, r.statusesOf(t, c, d.ID), name)
	}
	for _, s := range r.states(t, c) {
		if s.Status == ingest.StatusIndexed {
			var d db.Document
			for _, x := range docs {
				if x.ID == s.DocumentID {
					d, _ = r.doc(t, c, x.ID)
				}
			}
			require.Equal(t, int(d.ChunkCount), s.Chunks, "the indexed event carries the chunk count")
		}
	}

	for name, format := range formats {
		content := sample(t, name) // extracted here in process, as the worker's child does
		xd, err := extract.Extract(context.Background(), bytes.NewReader(content), int64(len(content)), format, extract.Limits{})
		require.NoError(t, err, name)
		sec := xd.Sections[len(xd.Sections)-1]
		words := strings.Fields(sec.Text)
		query := strings.Join(words[:min(len(words), 10)], " ")
		for _, hybrid := range []bool{false, true} {
			hits := r.search(t, c, query, hybrid)
			require.NotEmpty(t, hits, name)
			require.Equal(t, docs[name].ID, hits[0].DocumentID, "%s: query %q found %+v", name, query, hits[0])
			if format == extract.PDF || format == extract.PPTX {
				require.Equal(t, sec.Page, hits[0].Page, name)
				require.Positive(t, hits[0].Page, name)
			}
		}
	}
	hits := r.search(t, c, "steps per minute cadence", true)
	require.NotEmpty(t, hits)
	require.Equal(t, inline.ID, hits[0].DocumentID)
	require.Equal(t, "Cadence", hits[0].Heading)
}

// TestIngestHostileFiles: each hostile, broken or unreadable original is marked failed with a
// reason (announced with the failure) and leaves no chunks, while a good document indexed with
// them is searchable.
func TestIngestHostileFiles(t *testing.T) {
	t.Parallel()
	r := newRig(t, func(w *ingest.Worker) { w.Limits.Timeout = 3 * time.Second })
	c := r.creator(t)
	cases := []struct {
		name    string
		format  extract.Format
		content []byte
		reason  string // a part of the recorded error
	}{
		{"zip bomb", extract.DOCX, sample(t, "hostile/zipbomb.docx"), "zip bomb"},
		{"truncated pdf", extract.PDF, sample(t, "hostile/truncated.pdf"), "damaged"},
		{"pdf with a reference loop", extract.PDF, sample(t, "hostile/loop.pdf"), "damaged"},
		{"image stored as docx", extract.DOCX, sample(t, "hostile/image-named.docx"), "damaged"},
		{"html stored as pdf", extract.PDF, sample(t, "sample.html"), "damaged"},
		{"over the size limit", extract.Text, bytes.Repeat([]byte("a "), 150<<10), "too large"},
		{"huge pdf", extract.PDF, extracttest.ProsePDFBytes("Huge", 400<<10), "too large"},
		{"empty", extract.Text, sample(t, "hostile/empty.txt"), "empty"},
		{"no text", extract.Markdown, []byte("\n\n   \n#\n\n"), "no text"},
	}
	// The first three pass the gateway's detection: they reach ingest as what they claim to be.
	for _, tc := range cases[:3] {
		require.Equal(t, tc.format, detected(t, tc.content), tc.name)
	}
	var failed []db.Document
	for _, tc := range cases {
		d := r.addFile(t, c, tc.name, tc.format, tc.content)
		r.publish(t, d, events.IngestIndex)
		failed = append(failed, d)
	}
	// An original that is not in storage.
	gone := r.addFile(t, c, "missing original", extract.Text, []byte("Deleted from the disk before indexing."))
	key, err := uuid.Parse(gone.StorageKey)
	require.NoError(t, err)
	require.NoError(t, r.files.Delete(c, key))
	r.publish(t, gone, events.IngestIndex)
	failed = append(failed, gone)
	cases = append(cases, struct {
		name    string
		format  extract.Format
		content []byte
		reason  string
	}{name: "missing original", reason: "missing"})

	good := r.addFile(t, c, "good", extract.Markdown, []byte("# Warm-up\n\nFive minutes of skipping before every session.\n"))
	r.publish(t, good, events.IngestIndex)
	require.Equal(t, ingest.StatusIndexed, r.wait(t, good).Status)
	require.Equal(t, good.ID, r.search(t, c, "skipping before every session", false)[0].DocumentID)

	for i, d := range failed {
		got := r.wait(t, d)
		name := cases[i].name
		require.Equal(t, ingest.StatusFailed, got.Status, name)
		require.NotEmpty(t, got.Error, name)
		require.Contains(t, got.Error, cases[i].reason, name)
		require.Zero(t, r.chunks(t, c, d.ID), name)
		states := r.states(t, c)
		var last events.DocumentState
		for _, s := range states {
			if s.DocumentID == d.ID {
				last = s
			}
		}
		require.Equal(t, ingest.StatusFailed, last.Status, name)
		require.Equal(t, got.Error, last.Error, name)
		t.Logf("%s: failed: %s", name, got.Error)
	}
}

// TestIngestLifecycle: a replaced document's old chunks leave the index, a reindex indexes the
// current version again, per-document chunk settings apply, a stale or unknown event changes
// nothing, and a delete removes chunks, original and row and says so.
func TestIngestLifecycle(t *testing.T) {
	t.Parallel()
	r := newRig(t, nil)
	c := r.creator(t)
	ctx := context.Background()

	v1 := r.addFile(t, c, "Recovery notes", extract.Markdown,
		[]byte("# Recovery\n\nSleep nine hours after a hard interval session.\n\n# Hydration\n\nDrink half a litre of water with every meal.\n"))
	r.publish(t, v1, events.IngestIndex)
	got := r.wait(t, v1)
	require.Equal(t, ingest.StatusIndexed, got.Status, got.Error)
	require.EqualValues(t, 2, got.ChunkCount, "one chunk per section")
	require.Equal(t, v1.ID, r.search(t, c, "litre water meal hydration", false)[0].DocumentID)

	// Replace: version 2 has one section; the second chunk of version 1 leaves the index.
	content := []byte("# Mobility\n\nStretch the hip flexors for two minutes each evening.\n")
	key := uuid.New()
	info, err := r.files.Put(c, key, bytes.NewReader(content), 0)
	require.NoError(t, err)
	var v2 db.Document
	r.tx(t, c, func(q *db.Queries) (err error) {
		v2, _, err = knowledge.ReplaceDocument(ctx, q, v1.ID, knowledge.NewDocument{Title: v1.Title, Format: string(extract.Markdown),
			StorageKey: key.String(), Size: info.Size, Hash: info.SHA256[:]}, quota)
		return err
	})
	require.EqualValues(t, 2, v2.Version)
	require.NoError(t, r.files.Delete(c, uuid.MustParse(v1.StorageKey))) // as the gateway does after a replace
	r.publish(t, v1, events.IngestIndex)                                 // a stale event (version 1) again: ignored
	r.publish(t, v2, events.IngestIndex)
	got = r.wait(t, v2)
	require.Equal(t, ingest.StatusIndexed, got.Status, got.Error)
	require.EqualValues(t, 1, got.ChunkCount)
	require.Equal(t, 1, r.chunks(t, c, v1.ID))
	hits := r.search(t, c, "hip flexors stretch", true)
	require.NotEmpty(t, hits)
	require.Equal(t, v1.ID, hits[0].DocumentID)
	for _, h := range r.search(t, c, "litre water meal hydration", false) {
		require.NotContains(t, h.Text, "litre", "a chunk of version 1 survived the replace")
	}
	require.Equal(t, append(append([]string{}, pipeline...), pipeline...), r.statusesOf(t, c, v1.ID),
		"version 1 and version 2 each announced once; the stale event announced nothing")

	// Reindex one document, then every document of the creator.
	small := r.addText(t, c, "Strength basics", extract.Text, strings.Repeat("Squat twice a week with progressive overload and rest in between. ", 60))
	r.publish(t, small, events.IngestIndex)
	require.Equal(t, ingest.StatusIndexed, r.wait(t, small).Status)
	var v3 db.Document
	r.tx(t, c, func(q *db.Queries) (err error) {
		v3, err = q.RequeueDocument(ctx, v1.ID)
		return err
	})
	r.publish(t, v3, events.IngestIndex)
	got = r.wait(t, v3)
	require.Equal(t, ingest.StatusIndexed, got.Status, got.Error)
	require.Equal(t, 1, r.chunks(t, c, v1.ID))
	var all []db.Document
	r.tx(t, c, func(q *db.Queries) (err error) {
		all, err = q.RequeueAllDocuments(ctx)
		return err
	})
	require.Len(t, all, 2)
	for _, d := range all {
		r.publish(t, d, events.IngestIndex)
	}
	for _, d := range all {
		got := r.wait(t, d)
		require.Equal(t, ingest.StatusIndexed, got.Status, got.Error)
		require.Equal(t, int(got.ChunkCount), r.chunks(t, c, d.ID))
	}

	// Chunk settings of the document's own: many small chunks instead of one.
	body := strings.Repeat("Tempo runs build the lactate threshold over the weeks of a plan. ", 60)
	sum := sha256.Sum256([]byte(body))
	fine, _, err := knowledge.AddDocument(ctx, r.store, c, knowledge.NewDocument{Title: "Tempo", Format: string(extract.Text),
		Body: body, Size: int64(len(body)), Hash: sum[:], ChunkTokens: 60, ChunkOverlap: 10}, quota)
	require.NoError(t, err)
	r.publish(t, fine, events.IngestIndex)
	gotFine := r.wait(t, fine)
	gotSmall, _ := r.doc(t, c, small.ID)
	require.Equal(t, ingest.StatusIndexed, gotFine.Status, gotFine.Error)
	require.Greater(t, gotFine.ChunkCount, gotSmall.ChunkCount, "60-token chunks: more of them than with the defaults")
	require.Equal(t, int(gotFine.ChunkCount), r.chunks(t, c, fine.ID))

	// An event for a document that never existed is acknowledged and changes nothing.
	ghost := v1
	ghost.ID = uuid.New()
	r.publish(t, ghost, events.IngestIndex)

	// A delete event for a live document (not marked deleting) is ignored.
	r.publish(t, small, events.IngestDelete)

	// Delete: chunks, original and row go; "deleted" is announced. The worker handles events
	// one at a time in order, so once the row is gone every event before it has been handled.
	require.Len(t, r.stored(t, c), 1, "the current version's original")
	var del db.Document
	r.tx(t, c, func(q *db.Queries) (err error) {
		del, err = q.MarkDocumentDeleting(ctx, v1.ID)
		return err
	})
	r.publish(t, del, events.IngestDelete)
	r.waitGone(t, c, v1.ID)
	require.Zero(t, r.chunks(t, c, v1.ID))
	require.Empty(t, r.stored(t, c))
	states := r.statusesOf(t, c, v1.ID)
	require.Equal(t, ingest.StatusDeleted, states[len(states)-1])
	require.Empty(t, r.statusesOf(t, c, ghost.ID))
	for _, h := range r.search(t, c, "hip flexors stretch", false) {
		require.NotEqual(t, v1.ID, h.DocumentID)
	}
	// The other documents stay.
	cur, ok := r.doc(t, c, small.ID)
	require.True(t, ok)
	require.Equal(t, ingest.StatusIndexed, cur.Status)
	require.Equal(t, int(cur.ChunkCount), r.chunks(t, c, small.ID))
	require.Equal(t, small.ID, r.search(t, c, "squat progressive overload", false)[0].DocumentID)
}

// TestIngestTenantIsolation: one worker indexes two creators' documents, each into its own
// tenant: Bob's searches, by any query, never return Alice's chunks, Alice's content is new to
// Bob (content hashes are per creator), and each creator's knowledge subject carries only its own
// documents' states.
func TestIngestTenantIsolation(t *testing.T) {
	t.Parallel()
	rec := &llmtest.Recorder{}
	r := newRig(t, func(w *ingest.Worker) { rec.Next, w.Embedder = w.Embedder, rec })
	alice, bob := r.creator(t), r.creator(t)
	secret := "Alice's marathon plan: tempo runs on Tuesdays, zucchini pasta before the long run."
	da := r.addFile(t, alice, "plan.txt", extract.Text, []byte(secret))
	db1 := r.addFile(t, bob, "plan.txt", extract.Text, []byte("Bob's plan: swim on Mondays."))
	db2 := r.addFile(t, bob, "copy.txt", extract.Text, []byte(secret)) // not a duplicate for Bob
	for _, d := range []db.Document{da, db1, db2} {
		r.publish(t, d, events.IngestIndex)
	}
	for _, d := range []db.Document{da, db1, db2} {
		require.Equal(t, ingest.StatusIndexed, r.wait(t, d).Status)
	}
	require.Equal(t, da.ID, r.search(t, alice, "zucchini pasta", false)[0].DocumentID, "Alice finds her own")
	for _, q := range []string{"zucchini pasta", "Alice marathon tempo Tuesdays", "*", "\" OR 1=1", "plan"} {
		for _, hybrid := range []bool{false, q != "*"} {
			for _, h := range r.search(t, bob, q, hybrid) {
				require.NotEqual(t, da.ID, h.DocumentID, "query %q", q)
				require.Contains(t, []uuid.UUID{db1.ID, db2.ID}, h.DocumentID)
			}
		}
	}
	require.Zero(t, r.chunks(t, bob, da.ID))
	for _, s := range r.states(t, bob) {
		require.NotEqual(t, da.ID, s.DocumentID)
	}
	for _, s := range r.states(t, alice) {
		require.Equal(t, da.ID, s.DocumentID)
	}
	// Each chunk embedding is scheduled as ingestion work of the document's creator.
	perCreator := map[uuid.UUID]int{}
	for _, w := range rec.Works() {
		require.Equal(t, llm.IngestEmbed, w.Class)
		perCreator[w.Creator]++
	}
	require.Equal(t, map[uuid.UUID]int{alice: 1, bob: 2}, perCreator)
}

// TestIngestWithoutVectors: with no embedder a document is indexed for BM25 only, and when the
// embedder fails the document is still indexed, for BM25 only.
func TestIngestWithoutVectors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		tweak func(w *ingest.Worker)
	}{
		{"no embedder", func(w *ingest.Worker) { w.Embedder = nil }},
		{"embedder failing", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, tc.tweak)
			if tc.tweak == nil {
				r.ollama.SetOptions(ollamatest.Options{EmbedModels: []string{embedModel}, Status: 500})
			}
			c := r.creator(t)
			d := r.addText(t, c, "Intervals", extract.Markdown, "# Intervals\n\nSix repeats of four hundred metres with a minute of rest.\n")
			r.publish(t, d, events.IngestIndex)
			got := r.wait(t, d)
			require.Equal(t, ingest.StatusIndexed, got.Status, got.Error)
			require.Equal(t, "bm25", got.SearchMode)
			require.Equal(t, d.ID, r.search(t, c, "four hundred metres repeats", false)[0].DocumentID)
		})
	}
}

// TestIngestResumes: a run that stopped midway (the row in "embedding" with some chunks done, as
// a killed process leaves it) is resumed where it stopped when the event is delivered again:
// only the remaining chunks are embedded, and the index holds exactly one copy of each. The
// creator's own chunk settings apply.
func TestIngestResumes(t *testing.T) {
	t.Parallel()
	r := newRig(t, func(w *ingest.Worker) { w.EmbedBatch = 4 })
	c := r.creator(t)
	require.EqualValues(t, 1, r.exec(t, c, `UPDATE creators SET chunk_tokens = 60, chunk_overlap = -1 WHERE id = $1`, c))
	var plan strings.Builder
	for i := range 12 {
		fmt.Fprintf(&plan, "## Session %d\n\nWarm up for ten minutes, then run %d intervals of %d seconds at a hard effort, recovering with easy jogging between repetitions. Cool down and stretch for a while before going home.\n\n", i, 4+i%6, 30+i%90)
	}
	d := r.addText(t, c, "Plan", extract.Markdown, plan.String())
	r.publish(t, d, events.IngestIndex)
	full := r.wait(t, d)
	require.Equal(t, ingest.StatusIndexed, full.Status, full.Error)
	n := int(full.ChunkCount)
	require.GreaterOrEqual(t, n, 12, "the creator's 60-token chunks: at least one per section")
	require.Equal(t, n, r.chunks(t, c, d.ID))

	// Stopped after 8 chunks: resumed from there.
	require.EqualValues(t, 1, r.exec(t, c, `UPDATE documents SET status = 'embedding', chunks_done = 8 WHERE id = $1`, d.ID))
	before := r.ollama.Counts().Embed
	r.publishID(t, "redelivered:"+d.ID.String(), d, events.IngestIndex)
	got := r.wait(t, d)
	require.Equal(t, ingest.StatusIndexed, got.Status, got.Error)
	require.EqualValues(t, n, got.ChunksDone)
	require.Equal(t, n, r.chunks(t, c, d.ID), "exactly one copy of every chunk")
	require.EqualValues(t, (n-8+3)/4, r.ollama.Counts().Embed-before, "only the %d remaining chunks were embedded, 4 at a time", n-8)
}

// TestIngestDeletedWhileIndexing: a document deleted while its chunks are being written ends
// with no chunks and no row, whatever the run had written.
func TestIngestDeletedWhileIndexing(t *testing.T) {
	t.Parallel()
	target := make(chan db.Document, 1) // the document the hook deletes
	hooked := make(chan struct{})
	r := newRig(t, func(w *ingest.Worker) {
		w.EmbedBatch = 2
		store := w.Store
		w.Embedder = &hookEmbedder{Embedder: w.Embedder, hook: func() {
			defer close(hooked)
			d := <-target
			err := store.InTenant(context.Background(), d.CreatorID, func(q *db.Queries) error {
				_, err := q.MarkDocumentDeleting(context.Background(), d.ID)
				return err
			})
			if err != nil {
				t.Errorf("mark deleting: %v", err)
			}
		}}
	})
	c := r.creator(t)
	d := r.addText(t, c, "Doomed", extract.Markdown, "# One\n\nFirst section on pacing.\n\n# Two\n\nSecond section on fuelling.\n\n# Three\n\nThird section on sleep.\n")
	target <- d
	r.publish(t, d, events.IngestIndex)
	select {
	case <-hooked:
	case <-time.After(90 * time.Second):
		t.Fatal("the document was never embedded")
	}
	// No delete event: the run itself notices that the document went away underneath it.
	r.waitGone(t, c, d.ID)
	require.Zero(t, r.chunks(t, c, d.ID))
	states := r.statusesOf(t, c, d.ID)
	require.Equal(t, ingest.StatusDeleted, states[len(states)-1], "%v", states)
	require.NotContains(t, states, ingest.StatusIndexed)
}
