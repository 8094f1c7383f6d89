package app_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/llm/ollamatest"
	"github.com/coachwire/coachwire/internal/localdeps"
	"github.com/coachwire/coachwire/internal/testenv"
)

// TestIngestKilledMidRun (issue 9, chaos follow-up): a document whose ingest process is killed
// -9 while it embeds is processed again by another ingest process about AckWait later (the
// ingest consumer's ack deadline is short), while a healthy ingest that takes several times
// AckWait is never redelivered (it sends InProgress heartbeats): each chunk is embedded once.
func TestIngestKilledMidRun(t *testing.T) {
	t.Parallel()
	parent := t // the restarted ingest outlives its subtest
	h := newHarness(t, ollamatest.Options{EmbedDelay: 700 * time.Millisecond})
	port, err := localdeps.FreePort()
	require.NoError(t, err)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	// One chunk per embedding call, so a run takes a while; the ack deadline is 3 s (the
	// setting; the default is 30 s).
	extra := []string{"COACHWIRE_STORAGE_DIR=" + sharedDir(t), "COACHWIRE_EMBED_BATCH=1", "COACHWIRE_INGEST_ACK_WAIT=3s"}
	startProc(t, "gateway", h.env(t.TempDir(), append([]string{"COACHWIRE_TARGET=gateway", "COACHWIRE_HTTP_ADDR=127.0.0.1:" + fmt.Sprint(port),
		"COACHWIRE_MIGRATE_DATABASE_URL=" + h.db.OwnerURL}, extra...)...))
	waitHealthy(t, base)
	ingest := startProc(t, "ingest", h.env(t.TempDir(), append([]string{"COACHWIRE_TARGET=ingest"}, extra...)...))

	c := testenv.NewClient(base)
	cr := c.Register(t)
	ctx := context.Background()
	type doc struct {
		ID         uuid.UUID `json:"id"`
		Status     string    `json:"status"`
		ChunkCount int32     `json:"chunk_count"`
		ChunksDone int32     `json:"chunks_done"`
	}
	// sections parts of two chunks each: every chunk is one 700 ms embedding call.
	upload := func(topic string, sections int) uuid.UUID {
		var sb strings.Builder
		for i := range sections {
			fmt.Fprintf(&sb, "## %s %d\n\nPart %d about %s: keep the same wake time every day, get morning light within an hour of waking, "+
				"stop caffeine eight hours before bed, keep the bedroom cool and dark, and wind down without screens for thirty minutes.\n\n", topic, i, i, topic)
		}
		var d doc
		st, raw, err := c.Do(ctx, "POST", "/api/v1/documents", cr.AccessToken,
			map[string]any{"title": topic, "format": "markdown", "content": sb.String(), "chunk_tokens": 50, "chunk_overlap": 0}, &d)
		require.NoError(t, err)
		require.Equal(t, http.StatusAccepted, st, string(raw))
		return d.ID
	}
	get := func(id uuid.UUID) doc {
		var d doc
		st, raw, err := c.Do(ctx, "GET", "/api/v1/documents/"+id.String(), cr.AccessToken, nil, &d)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, st, string(raw))
		return d
	}

	t.Run("long and healthy", func(t *testing.T) {
		before := h.ollama.Counts().Embed
		id := upload("Evening routine", 8)
		var d doc
		last := ""
		testenv.Eventually(t, 120*time.Second, func() bool {
			d = get(id)
			if now := fmt.Sprintf("%s %d/%d", d.Status, d.ChunksDone, d.ChunkCount); now != last {
				t.Logf("document %s: %s (embed requests %d)", id, now, h.ollama.Counts().Embed-before)
				last = now
			}
			return d.Status == "indexed" || d.Status == "failed"
		}, "document %s to be indexed", id)
		require.Equal(t, "indexed", d.Status)
		require.Greater(t, d.ChunkCount, int32(12), "a run over three times the 3 s ack deadline (700 ms per chunk)")
		require.Equal(t, int64(d.ChunkCount), h.ollama.Counts().Embed-before,
			"each chunk embedded once: the running ingest's message was not redelivered")
	})
	t.Run("killed", func(t *testing.T) {
		id := upload("Sleep schedule", 8)
		testenv.Eventually(t, 60*time.Second, func() bool {
			d := get(id)
			return d.Status == "embedding" && d.ChunksDone >= 1
		}, "document %s to be embedding", id)
		ingest.kill(syscall.SIGKILL)
		ingest = startProc(parent, "ingest-2", h.env(t.TempDir(), append([]string{"COACHWIRE_TARGET=ingest"}, extra...)...))
		// Well under the old 5-minute ack deadline, well over the 3 s one plus the run.
		testenv.Eventually(t, 90*time.Second, func() bool { return get(id).Status == "indexed" },
			"document %s, whose ingest was killed, to be indexed by the restarted ingest", id)
	})

	t.Run("after", func(t *testing.T) {
		id := upload("Morning light", 2)
		testenv.Eventually(t, 90*time.Second, func() bool { return get(id).Status == "indexed" },
			"document %s uploaded after the restart to be indexed", id)
	})
}
