package ingest_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/capacity"
	"github.com/coachwire/coachwire/internal/clock"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/extract"
	"github.com/coachwire/coachwire/internal/ingest"
	"github.com/coachwire/coachwire/internal/llm"
	"github.com/coachwire/coachwire/internal/testenv"
)

// TestIngestWaitsForEmbedBudget: a creator's document embeds batch by batch while the day's
// embedding budget lasts; once it is spent no further embedding request is made: the document
// is not failed but waits, queued with the reason embed_budget_exhausted (on its row and
// announced), keeping its progress, and the stuck sweep leaves it alone. When the UTC day
// changes the sweeper requeues it and it resumes where it stopped; with the creator's limit
// raised to unlimited it finishes. Another creator's document is never held by it.
func TestIngestWaitsForEmbedBudget(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 3, 8, 20, 0, 0, 0, time.UTC))
	var budgets *capacity.Budgets
	r := newRig(t, func(w *ingest.Worker) {
		// The pool fills in each call's token counts (a bare client does not).
		pool, err := llm.NewPool(ctx, llm.PoolOptions{Servers: []llm.Server{{URL: w.Embedder.(*llm.Client).URL(), Slots: 2}},
			Client: llm.Options{MaxAttempts: 1, Logger: testenv.Logger(t)}})
		require.NoError(t, err)
		t.Cleanup(pool.Close)
		// One token a day: every day exactly one batch starts under the limit.
		budgets = capacity.New(w.Store, clk, capacity.Limits{EmbedDailyTokens: 1})
		w.Embedder, w.EmbedBatch, w.Budgets, w.Now = pool, 5, budgets, clk.Now
	})
	sw := &ingest.Sweeper{Store: r.store, Bus: r.b, StuckAfter: time.Hour, MaxAttempts: 2, Log: testenv.Logger(t), Now: clk.Now}
	c := r.creator(t)
	require.EqualValues(t, 1, r.exec(t, c, `UPDATE creators SET chunk_tokens = 60, chunk_overlap = 0 WHERE id = $1`, c))
	var plan strings.Builder
	for i := range 12 {
		fmt.Fprintf(&plan, "## Session %d\n\nWarm up for ten minutes, then run %d intervals of %d seconds at a hard effort, recovering with easy jogging between repetitions. Cool down and stretch for a while before going home.\n\n", i, 4+i%6, 30+i%90)
	}
	d := r.addText(t, c, "Plan", extract.Markdown, plan.String())
	r.publish(t, d, events.IngestIndex)

	// waiting waits until the document waits with done chunks embedded.
	waiting := func(done int) db.Document {
		t.Helper()
		var cur db.Document
		testenv.Eventually(t, 60*time.Second, func() bool {
			cur, _ = r.doc(t, c, d.ID)
			require.NotEqual(t, ingest.StatusFailed, cur.Status, cur.Error)
			return cur.Status == ingest.StatusQueued && cur.Error == capacity.ReasonEmbed && cur.WaitUntil != nil
		}, "document to wait for its budget")
		require.EqualValues(t, done, cur.ChunksDone)
		require.Equal(t, capacity.NextDay(clk.Now()), cur.WaitUntil.UTC())
		return cur
	}
	// Day 1: one batch, then it waits.
	cur := waiting(5)
	n := int(cur.ChunkCount)
	require.Greater(t, n, 10, "at least three batches of 5")
	require.EqualValues(t, 1, r.ollama.Counts().Embed, "no embedding request beyond the budget")
	var announced bool
	for _, s := range r.states(t, c) {
		announced = announced || (s.DocumentID == d.ID && s.Status == ingest.StatusQueued && s.Error == capacity.ReasonEmbed)
	}
	require.True(t, announced, "the wait and its reason are announced")
	tokens, calls, err := budgets.Usage(ctx, c, capacity.Embed, clk.Now())
	require.NoError(t, err)
	require.EqualValues(t, 1, calls)
	require.Greater(t, tokens, int64(1))

	// Another creator (no usage of its own yet) is not held by the first one's spent budget.
	other := r.creator(t)
	od := r.addText(t, other, "Short", extract.Text, "Easy runs build the aerobic base.")
	r.publish(t, od, events.IngestIndex)
	require.Equal(t, ingest.StatusIndexed, r.wait(t, od).Status)
	embeds := r.ollama.Counts().Embed

	// The same day nothing wakes it.
	woken, err := sw.WakeWaiting(ctx)
	require.NoError(t, err)
	require.Zero(t, woken)

	// Day 2: requeued by the sweeper, resumes after the 5 chunks done, one more batch.
	clk.Set(*cur.WaitUntil)
	woken, err = sw.WakeWaiting(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, woken)
	cur = waiting(10)
	require.Equal(t, embeds+1, r.ollama.Counts().Embed, "one batch on day 2")

	// The creator's own limit raised to unlimited; day 3: the rest, in one run.
	require.NoError(t, budgets.SetLimit(ctx, c, capacity.Embed, new(int64)))
	clk.Set(*cur.WaitUntil)
	woken, err = sw.WakeWaiting(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, woken)
	got := r.wait(t, d)
	require.Equal(t, ingest.StatusIndexed, got.Status, got.Error)
	require.Empty(t, got.Error)
	require.Nil(t, got.WaitUntil)
	require.Equal(t, n, r.chunks(t, c, d.ID), "one copy of every chunk")
	require.EqualValues(t, embeds+1+int64((n-10+4)/5), r.ollama.Counts().Embed, "only the remaining chunks were embedded")
	require.Equal(t, "hybrid", got.SearchMode)
}
