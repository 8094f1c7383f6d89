package app_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/config"
	"github.com/coachwire/coachwire/internal/knowledge"
	"github.com/coachwire/coachwire/internal/llm/ollamatest"
	"github.com/coachwire/coachwire/internal/testenv"
)

// The apps of one test share its NATS server and so one durable ingest consumer: they must
// share the storage directory too, as gateway and ingest replicas do in production.
var (
	storageOnce sync.Once
	storageDir  string
)

func sharedStorage(t testing.TB) string {
	storageOnce.Do(func() {
		d, err := os.MkdirTemp("", "coachwire-files-")
		require.NoError(t, err)
		storageDir = d
	})
	return storageDir
}

func (h *harness) knowledgeConfig(targets ...string) *config.Config {
	cfg := h.config(targets...)
	cfg.Knowledge.StorageDir = sharedStorage(h.t)
	cfg.Knowledge.ExtractTimeout = 5 * time.Second
	return cfg
}

type docOut struct {
	ID          uuid.UUID `json:"id"`
	Title       string    `json:"title"`
	Format      string    `json:"format"`
	Status      string    `json:"status"`
	Error       string    `json:"error"`
	Version     int32     `json:"version"`
	ChunkCount  int       `json:"chunk_count"`
	ChunksDone  int       `json:"chunks_done"`
	SearchMode  string    `json:"search_mode"`
	Filename    string    `json:"filename"`
	SourceURL   string    `json:"source_url"`
	ContentHash string    `json:"content_hash"`
	Duplicate   bool      `json:"duplicate"`
}

type apiErr struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// upload sends a multipart file upload (method POST to /api/v1/documents, or PUT to a document).
func upload(t testing.TB, c *testenv.Client, cr testenv.Creator, method, path, filename string, content []byte, fields ...string) (int, docOut, apiErr) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for i := 0; i+1 < len(fields); i += 2 {
		require.NoError(t, mw.WriteField(fields[i], fields[i+1]))
	}
	fw, err := mw.CreateFormFile("file", filename)
	require.NoError(t, err)
	_, _ = fw.Write(content)
	require.NoError(t, mw.Close())
	req, err := http.NewRequest(method, c.Base+path, &body)
	require.NoError(t, err)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+cr.AccessToken)
	resp, err := c.HTTP.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var d docOut
	var e apiErr
	if resp.StatusCode < 300 {
		require.NoError(t, json.Unmarshal(raw, &d), "%s", raw)
	} else {
		_ = json.Unmarshal(raw, &e)
	}
	return resp.StatusCode, d, e
}

func getDoc(t testing.TB, c *testenv.Client, cr testenv.Creator, id uuid.UUID) (int, docOut) {
	t.Helper()
	var d docOut
	st, _, err := c.Do(context.Background(), "GET", "/api/v1/documents/"+id.String(), cr.AccessToken, nil, &d)
	require.NoError(t, err)
	return st, d
}

// waitDoc waits until the document reaches a final status and returns it.
func waitDoc(t testing.TB, c *testenv.Client, cr testenv.Creator, id uuid.UUID, timeout time.Duration) docOut {
	t.Helper()
	var d docOut
	testenv.Eventually(t, timeout, func() bool {
		_, d = getDoc(t, c, cr, id)
		return d.Status == "indexed" || d.Status == "failed"
	}, "document %s to finish", id)
	return d
}

func sample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "extract", "testdata", name))
	require.NoError(t, err)
	return b
}

// TestKnowledgeUploadAnswer: a PDF uploaded under a misleading name is detected from its
// content and indexed, and a question through the whole widget path is answered with it as the
// source: the reply and the stored message carry its title, page and a snippet. (Every format's
// indexing and search: internal/ingest TestIngestFormats.)
func TestKnowledgeUploadAnswer(t *testing.T) {
	t.Parallel()
	h := newHarness(t, ollamatest.Options{})
	a := h.start(h.knowledgeConfig())
	c := testenv.NewClient(a.URL)
	cr := c.Register(t)
	ctx := context.Background()

	st, d, e := upload(t, c, cr, "POST", "/api/v1/documents", "upload.bin", sample(t, "sample.pdf"))
	require.Equal(t, http.StatusAccepted, st, "%+v", e)
	require.Equal(t, "pdf", d.Format)
	id := d.ID
	d = waitDoc(t, c, cr, d.ID, 90*time.Second)
	require.Equal(t, "indexed", d.Status, d.Error)
	require.Equal(t, "hybrid", d.SearchMode)
	require.Equal(t, d.ChunkCount, d.ChunksDone)

	// A question through the widget: the reply's sources carry title, page and a snippet.
	c.SetWidget(t, cr, "You are a running coach.")
	sess := c.StartWidget(t, cr.WidgetKey, "anon-"+uuid.NewString())
	ws, _, err := c.DialWidget(ctx, sess, 0, nil)
	require.NoError(t, err)
	defer ws.CloseNow()
	ws.Next(t, 10*time.Second, func(f testenv.Frame) bool { return f.Type == "ready" })
	_, err = ws.Say(ctx, "How do long runs build aerobic endurance at a conversational pace?")
	require.NoError(t, err)
	reply := ws.Next(t, 60*time.Second, testenv.IsReply)
	require.NotEmpty(t, reply.Sources)
	require.Equal(t, id, reply.Sources[0].DocumentID)
	var msgs struct {
		Messages []struct {
			Role    string `json:"role"`
			Sources []struct {
				DocumentID uuid.UUID `json:"document_id"`
				Title      string    `json:"title"`
				Page       int       `json:"page"`
				Text       string    `json:"text"`
			} `json:"sources"`
		} `json:"messages"`
	}
	_, _, err = c.Do(ctx, "GET", "/api/v1/conversations/"+sess.ConversationID.String()+"/messages", cr.AccessToken, nil, &msgs)
	require.NoError(t, err)
	var found bool
	for _, m := range msgs.Messages {
		if m.Role == "assistant" && len(m.Sources) > 0 {
			s := m.Sources[0]
			require.Equal(t, id, s.DocumentID)
			require.NotEmpty(t, s.Title)
			require.Equal(t, 2, s.Page, "the long-run passage is on page 2")
			require.Contains(t, s.Text, "Long runs")
			found = true
		}
	}
	require.True(t, found, "the stored reply carries its sources")
}

// TestKnowledgeLifecycle covers duplicate uploads, list filters, replace, reindex, delete and
// another creator's ids.
func TestKnowledgeLifecycle(t *testing.T) {
	t.Parallel()
	h := newHarness(t, ollamatest.Options{})
	a := h.start(h.knowledgeConfig())
	c := testenv.NewClient(a.URL)
	cr, other := c.Register(t), c.Register(t)
	ctx := context.Background()

	v1 := []byte("# Recovery\n\nSleep nine hours after a hard interval session.\n\n# Hydration\n\nDrink half a litre of water with every meal.\n")
	st, d, e := upload(t, c, cr, "POST", "/api/v1/documents", "recovery.md", v1, "title", "Recovery notes")
	require.Equal(t, http.StatusAccepted, st, "%+v", e)
	require.Equal(t, "Recovery notes", d.Title)
	require.Equal(t, "recovery.md", d.Filename)
	id := d.ID
	d = waitDoc(t, c, cr, id, 60*time.Second)
	require.Equal(t, "indexed", d.Status, d.Error)

	// Identical content again: recognised, not indexed twice.
	st, dup, _ := upload(t, c, cr, "POST", "/api/v1/documents", "copy.md", v1)
	require.Equal(t, http.StatusOK, st)
	require.True(t, dup.Duplicate)
	require.Equal(t, id, dup.ID)
	// The same content as JSON is a duplicate too only if it is byte-identical; a text doc:
	tid := c.AddDocument(t, cr, "Strength basics", "text", "Squat twice a week with progressive overload.")

	list := func(query string) []docOut {
		var out struct {
			Documents  []docOut `json:"documents"`
			NextOffset *int     `json:"next_offset"`
		}
		st, raw, err := c.Do(ctx, "GET", "/api/v1/documents"+query, cr.AccessToken, nil, &out)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, st, "%s", raw)
		return out.Documents
	}
	require.Len(t, list(""), 2)
	require.Len(t, list("?format=markdown"), 1)
	require.Len(t, list("?status=indexed&q=strength"), 1)
	require.Equal(t, tid, list("?q=STRENGTH")[0].ID)
	require.Len(t, list("?limit=1"), 1)
	require.Len(t, list("?limit=1&offset=1"), 1)
	require.Len(t, list("?q=%25"), 0, "LIKE wildcards in q are literal")
	st, _, _ = c.Do(ctx, "GET", "/api/v1/documents?status=bogus", cr.AccessToken, nil, nil)
	require.Equal(t, http.StatusBadRequest, st)

	// Another creator sees none of it, by any route.
	for _, r := range []struct{ method, path string }{
		{"GET", "/api/v1/documents/" + id.String()}, {"DELETE", "/api/v1/documents/" + id.String()},
		{"POST", "/api/v1/documents/" + id.String() + "/reindex"},
		{"PUT", "/api/v1/documents/" + id.String()},
	} {
		var body any
		if r.method == "PUT" {
			body = map[string]string{"content": "hijack", "format": "text"}
		}
		st, _, err := c.Do(ctx, r.method, r.path, other.AccessToken, body, nil)
		require.NoError(t, err)
		require.Equal(t, http.StatusNotFound, st, "%s %s", r.method, r.path)
	}
	var otherList struct {
		Documents []docOut `json:"documents"`
	}
	_, _, _ = c.Do(ctx, "GET", "/api/v1/documents", other.AccessToken, nil, &otherList)
	require.Empty(t, otherList.Documents)

	// Replace: a new version with fewer chunks; the old text leaves the index.
	st, d, e = upload(t, c, cr, "PUT", "/api/v1/documents/"+id.String(), "recovery-v2.md", []byte("# Mobility\n\nStretch the hip flexors for two minutes each evening.\n"))
	require.Equal(t, http.StatusAccepted, st, "%+v", e)
	require.Equal(t, int32(2), d.Version)
	require.Equal(t, "Recovery notes", d.Title, "the title is kept")
	d = waitDoc(t, c, cr, id, 60*time.Second)
	require.Equal(t, "indexed", d.Status, d.Error)
	hits, err := a.Knowledge.Search(ctx, cr.ID, "hip flexors stretch", nil, 5)
	require.NoError(t, err)
	require.NotEmpty(t, hits)
	require.Equal(t, id, hits[0].DocumentID)
	hits, err = a.Knowledge.Search(ctx, cr.ID, "litre water meal hydration", nil, 5)
	require.NoError(t, err)
	for _, hit := range hits {
		require.NotContains(t, hit.Text, "litre", "a chunk of version 1 survived the replace")
	}
	n, err := a.Knowledge.CountChunks(ctx, cr.ID, id)
	require.NoError(t, err)
	require.Equal(t, d.ChunkCount, n)

	// Reindex one, then all.
	var rd docOut
	st, _, err = c.Do(ctx, "POST", "/api/v1/documents/"+id.String()+"/reindex", cr.AccessToken, nil, &rd)
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, st)
	require.Equal(t, int32(3), rd.Version)
	require.Equal(t, "indexed", waitDoc(t, c, cr, id, 60*time.Second).Status)
	var all struct {
		Queued int `json:"queued"`
	}
	st, _, err = c.Do(ctx, "POST", "/api/v1/documents/reindex", cr.AccessToken, nil, &all)
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, st)
	require.Equal(t, 2, all.Queued)
	require.Equal(t, "indexed", waitDoc(t, c, cr, id, 60*time.Second).Status)
	require.Equal(t, "indexed", waitDoc(t, c, cr, tid, 60*time.Second).Status)

	// Delete: chunks leave Weaviate, the file leaves storage, the row goes.
	files, _ := filepath.Glob(filepath.Join(sharedStorage(t), cr.ID.String(), "*"))
	require.Len(t, files, 1, "one original stored (the replaced one was removed)")
	st, _, err = c.Do(ctx, "DELETE", "/api/v1/documents/"+id.String(), cr.AccessToken, nil, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, st)
	testenv.Eventually(t, 30*time.Second, func() bool {
		st, _ := getDoc(t, c, cr, id)
		return st == http.StatusNotFound
	}, "the deleted document's row to go")
	n, err = a.Knowledge.CountChunks(ctx, cr.ID, id)
	require.NoError(t, err)
	require.Zero(t, n)
	files, _ = filepath.Glob(filepath.Join(sharedStorage(t), cr.ID.String(), "*"))
	require.Empty(t, files)
}

// TestKnowledgeHostileFiles: each hostile or broken file the gateway can tell at upload is
// refused with a code; a hostile filename never becomes a path; a misleading extension is
// ignored. (Files that fail in extraction, zip bombs and broken PDFs: internal/ingest
// TestIngestHostileFiles.)
func TestKnowledgeHostileFiles(t *testing.T) {
	t.Parallel()
	h := newHarness(t, ollamatest.Options{})
	cfg := h.knowledgeConfig()
	cfg.Knowledge.MaxUploadBytes = 256 << 10
	cfg.Knowledge.MaxCreatorBytes = 1 << 20
	cfg.Knowledge.ExtractTimeout = 30 * time.Second // a real PDF under -race on a loaded machine took over 3 s
	a := h.start(cfg)
	c := testenv.NewClient(a.URL)
	cr := c.Register(t)

	rejected := []struct {
		name, file string
		content    []byte
		status     int
		code       string
	}{
		{"zero bytes", "empty.txt", []byte{}, 400, "empty_file"},
		{"image named docx", "photo.docx", sample(t, "hostile/image-named.docx"), 415, "unsupported_type"},
		{"oversize", "big.txt", bytes.Repeat([]byte("a"), 300<<10), 413, "file_too_large"},
	}
	for _, r := range rejected {
		t.Run(r.name, func(t *testing.T) {
			st, _, e := upload(t, c, cr, "POST", "/api/v1/documents", r.file, r.content)
			require.Equal(t, r.status, st, "%+v", e)
			require.Equal(t, r.code, e.Error.Code)
			require.NotEmpty(t, e.Error.Message)
		})
	}
	t.Run("path traversal filename", func(t *testing.T) {
		st, d, e := upload(t, c, cr, "POST", "/api/v1/documents", "../../etc/passwd", []byte("root is not a coaching topic, rest days are."))
		require.Equal(t, http.StatusAccepted, st, "%+v", e)
		require.Equal(t, "passwd", d.Filename)
		_, err := os.Stat("/etc/passwd.coachwire")
		require.True(t, os.IsNotExist(err))
		files, _ := filepath.Glob(filepath.Join(sharedStorage(t), cr.ID.String(), "*"))
		for _, f := range files {
			_, err := uuid.Parse(filepath.Base(f))
			require.NoError(t, err, "stored name %s is generated", f)
		}
		require.Equal(t, "indexed", waitDoc(t, c, cr, d.ID, 60*time.Second).Status)
	})
	t.Run("misleading extension", func(t *testing.T) {
		st, d, e := upload(t, c, cr, "POST", "/api/v1/documents", "notes.txt", sample(t, "hostile/pdf-named.txt"))
		require.Equal(t, http.StatusAccepted, st, "%+v", e)
		require.Equal(t, "pdf", d.Format)
		d = waitDoc(t, c, cr, d.ID, 60*time.Second)
		require.Equal(t, "indexed", d.Status, d.Error)
	})
	// Last: the quota's four 240 KB documents queue behind nothing this test waits for (on two
	// ingest slots under -race they take a while to index).
	t.Run("quota", func(t *testing.T) {
		q := c.Register(t)
		for i := 0; i < 4; i++ {
			st, _, e := upload(t, c, q, "POST", "/api/v1/documents", "part.txt", []byte(strings.Repeat(fmt.Sprintf("word%d ", i), 40000)))
			require.Equal(t, http.StatusAccepted, st, "%d: %+v", i, e)
		}
		st, _, e := upload(t, c, q, "POST", "/api/v1/documents", "part.txt", []byte(strings.Repeat("more ", 40000)))
		require.Equal(t, http.StatusRequestEntityTooLarge, st)
		require.Equal(t, "quota_exceeded", e.Error.Code)
	})
}

// TestKnowledgeEventsSSE: the stream carries the creator's own document states and nobody
// else's.
func TestKnowledgeEventsSSE(t *testing.T) {
	t.Parallel()
	h := newHarness(t, ollamatest.Options{})
	a := h.start(h.knowledgeConfig())
	c := testenv.NewClient(a.URL)
	alice, bob := c.Register(t), c.Register(t)

	open := func(cr testenv.Creator) (chan map[string]any, context.CancelFunc) {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", a.URL+"/api/v1/documents/events", nil)
		req.Header.Set("Authorization", "Bearer "+cr.AccessToken)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
		ch := make(chan map[string]any, 64)
		sc := bufio.NewScanner(resp.Body)
		require.True(t, sc.Scan())
		require.Equal(t, ": connected", sc.Text())
		go func() {
			defer resp.Body.Close()
			defer close(ch)
			for sc.Scan() {
				if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
					var m map[string]any
					if json.Unmarshal([]byte(data), &m) == nil {
						ch <- m
					}
				}
			}
		}()
		return ch, cancel
	}
	aliceEv, stopA := open(alice)
	defer stopA()
	bobEv, stopB := open(bob)
	defer stopB()
	st, d, e := upload(t, c, alice, "POST", "/api/v1/documents", "a.md", []byte("# Core\n\nPlanks for sixty seconds.\n"))
	require.Equal(t, http.StatusAccepted, st, "%+v", e)
	var seen []string
	deadline := time.After(60 * time.Second)
	for done := false; !done; {
		select {
		case m := <-aliceEv:
			require.Equal(t, d.ID.String(), m["document_id"])
			seen = append(seen, m["status"].(string))
			done = m["status"] == "indexed"
		case <-deadline:
			t.Fatalf("no indexed event; saw %v", seen)
		}
	}
	require.Contains(t, seen, "extracting")
	require.Contains(t, seen, "embedding")
	select {
	case m := <-bobEv:
		t.Fatalf("bob received alice's event %v", m)
	case <-time.After(500 * time.Millisecond):
	}
	stopA()
}

// TestKnowledgeImportURL: imports fetch public pages only; with private addresses allowed (a
// test-only setting) a page is imported and indexed.
func TestKnowledgeImportURL(t *testing.T) {
	t.Parallel()
	h := newHarness(t, ollamatest.Options{})
	page := `<html><head><title>Stretching</title></head><body><h1>Stretching</h1><p>Hold each calf stretch for thirty seconds.</p></body></html>`
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/loop":
			http.Redirect(w, r, srv.URL+"/loop", http.StatusFound)
		case "/to-page":
			http.Redirect(w, r, srv.URL+"/page.html", http.StatusFound)
		default:
			w.Header().Set("Content-Type", "image/png") // ignored: the content decides
			_, _ = io.WriteString(w, page)
		}
	}))
	defer srv.Close()
	a := h.start(h.knowledgeConfig())
	c := testenv.NewClient(a.URL)
	cr := c.Register(t)
	ctx := context.Background()
	port := srv.Listener.Addr().(interface{ String() string }).String()
	port = port[strings.LastIndex(port, ":")+1:]
	for _, u := range []string{srv.URL + "/page.html", "http://localhost:" + port + "/page.html", "http://[::1]:" + port + "/",
		"http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/", "file:///etc/passwd", "gopher://example.com/"} {
		var e apiErr
		st, raw, err := c.Do(ctx, "POST", "/api/v1/documents/import", cr.AccessToken, map[string]string{"url": u}, nil)
		require.NoError(t, err)
		require.Equal(t, http.StatusBadRequest, st, "%s: %s", u, raw)
		_ = json.Unmarshal(raw, &e)
		require.Contains(t, []string{"blocked_address", "bad_url"}, e.Error.Code, "%s: %s", u, raw)
	}

	// A gateway allowed to reach the loopback test server.
	cfg := h.knowledgeConfig(config.TargetGateway)
	cfg.Knowledge.ImportAllowPrivate = true
	g := h.start(cfg)
	gc := testenv.NewClient(g.URL)
	cr = gc.Register(t)
	var d docOut
	st, raw, err := gc.Do(ctx, "POST", "/api/v1/documents/import", cr.AccessToken, map[string]string{"url": srv.URL + "/to-page"}, &d)
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, st, "%s", raw)
	require.Equal(t, "html", d.Format)
	require.Equal(t, srv.URL+"/page.html", d.SourceURL)
	require.Equal(t, "indexed", waitDoc(t, gc, cr, d.ID, 60*time.Second).Status)
	st, raw, err = gc.Do(ctx, "POST", "/api/v1/documents/import", cr.AccessToken, map[string]string{"url": srv.URL + "/loop"}, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusBadRequest, st)
	require.Contains(t, string(raw), "redirects")
}

// TestIngestKilledMidDocument kills -9 the ingest process while it writes a large document's
// chunks; a restarted ingest finishes it (the sweeper requeues it) with exactly one copy of every
// chunk.
func TestIngestKilledMidDocument(t *testing.T) {
	t.Parallel()
	h := newHarness(t, ollamatest.Options{})
	env := []string{"COACHWIRE_STORAGE_DIR=" + t.TempDir(), "COACHWIRE_EMBED_BATCH=4",
		"COACHWIRE_INGEST_STUCK_AFTER=2s", "COACHWIRE_INGEST_SWEEP_INTERVAL=500ms"}
	base, procs := startCluster(t, h, env...)
	c := testenv.NewClient(base)
	cr := c.Register(t)
	var doc strings.Builder
	for i := 0; i < 400; i++ {
		fmt.Fprintf(&doc, "## Session %d\n\nSession %d: warm up for ten minutes, then run %d intervals of %d seconds at a hard effort, recovering with easy jogging between repetitions. Cool down and stretch.\n\n", i, i, 4+i%6, 30+i%90)
	}
	st, d, e := upload(t, c, cr, "POST", "/api/v1/documents", "plan.md", []byte(doc.String()), "chunk_tokens", "60", "chunk_overlap", "10")
	require.Equal(t, http.StatusAccepted, st, "%+v", e)
	testenv.Eventually(t, 60*time.Second, func() bool {
		_, d = getDoc(t, c, cr, d.ID)
		return d.Status == "embedding" && d.ChunksDone > 20
	}, "indexing to be under way")
	require.Less(t, d.ChunksDone, d.ChunkCount, "killed before the end")
	procs["ingest"].kill(syscall.SIGKILL)
	killedAt := d.ChunksDone
	_, d = getDoc(t, c, cr, d.ID)
	require.Equal(t, "embedding", d.Status)
	t.Logf("killed ingest at %d/%d chunks", killedAt, d.ChunkCount)

	procs["ingest"] = startProc(t, "ingest-2", h.env(t.TempDir(), append([]string{"COACHWIRE_TARGET=ingest"}, env...)...))
	d = waitDoc(t, c, cr, d.ID, 120*time.Second)
	require.Equal(t, "indexed", d.Status, d.Error)
	require.Equal(t, d.ChunkCount, d.ChunksDone)
	require.GreaterOrEqual(t, d.ChunkCount, 400)

	ks, err := knowledge.New(context.Background(), h.weaviate)
	require.NoError(t, err)
	n, err := ks.CountChunks(context.Background(), cr.ID, d.ID)
	require.NoError(t, err)
	require.Equal(t, d.ChunkCount, n, "exactly one copy of every chunk")
}
