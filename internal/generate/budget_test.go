package generate_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/capacity"
	"github.com/coachwire/coachwire/internal/clock"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/generate"
	"github.com/coachwire/coachwire/internal/llm"
	"github.com/coachwire/coachwire/internal/llm/ollamatest"
	"github.com/coachwire/coachwire/internal/testenv"
)

// TestComposerBudget: a creator's AI nudges count their tokens against the day's budget; once it
// is spent no chat request reaches the model: the campaign's fallback text is sent (or, without
// one, the message is recorded as failed), the decision stays sent with the reason
// ai_budget_exhausted, and the campaign's sent reasons count it. The next UTC day the model
// writes again.
func TestComposerBudget(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := ollamatest.New(t, ollamatest.Options{ChatModels: []string{model}})
	pool, err := llm.NewPool(ctx, llm.PoolOptions{Servers: []llm.Server{{URL: srv.URL, Slots: 2}},
		Client: llm.Options{MaxAttempts: 1, Logger: slog.New(slog.DiscardHandler)}})
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	clk := clock.NewFake(time.Date(2026, 3, 8, 23, 0, 0, 0, time.UTC))
	r := newRig(t, "You are Robin.")
	budgets := capacity.New(r.store, clk, capacity.Limits{NudgeDailyTokens: 1})
	w := &generate.Composer{Store: r.store, Bus: r.b, LLM: pool, Model: model, MaxDeliver: 2, Budgets: budgets, Log: testenv.Logger(t)}
	require.NoError(t, w.Register(ctx, r.router))
	r.run(t)

	campaign := uuid.New()
	r.tx(t, func(q *db.Queries) error {
		_, err := q.InsertCampaign(ctx, db.InsertCampaignParams{ID: campaign, CreatorID: r.creator, Name: "AI", Audience: json.RawMessage(`{}`),
			Content: json.RawMessage(`{"brief":"b"}`), Schedule: json.RawMessage(`{}`)})
		return err
	})
	eu, conv := r.person(t, events.ChannelWidget)
	// nudge records the sent decision (as the nudge target does) and asks for the message.
	nudge := func(key, fallback string) events.NudgeCompose {
		in := events.NudgeCompose{MessageID: uuid.New(), ConversationID: conv, EndUserID: eu, Channel: "widget", OccurrenceID: uuid.New(),
			Brief: "Ask about their week.", Fallback: fallback}
		r.tx(t, func(q *db.Queries) error {
			return q.RecordNudgeDecision(ctx, db.RecordNudgeDecisionParams{OccurrenceID: in.OccurrenceID, EndUserID: eu, CreatorID: r.creator,
				CampaignID: uuid.NullUUID{UUID: campaign, Valid: true}, Status: "sent", Mode: "text",
				MessageID: uuid.NullUUID{UUID: in.MessageID, Valid: true}, DecidedAt: clk.Now()})
		})
		r.compose(t, key, in)
		r.settled(t, "CW_COMPOSE", "compose")
		return in
	}
	decision := func(in events.NudgeCompose) db.NudgeDelivery {
		return testenv.Read(t, r.store, r.creator, func(ctx context.Context, q *db.Queries) (db.NudgeDelivery, error) {
			return q.GetNudgeDelivery(ctx, db.GetNudgeDeliveryParams{OccurrenceID: in.OccurrenceID, EndUserID: in.EndUserID})
		})
	}

	// 1. Under the budget: the model writes it, and its tokens are counted.
	a := nudge("a", "Hi, how was your week?")
	require.Contains(t, r.message(t, a.MessageID).Body, "Ask about their week.")
	require.Len(t, srv.ChatRequests(), 1)
	tokens, calls, err := budgets.Usage(ctx, r.creator, capacity.Nudge, clk.Now())
	require.NoError(t, err)
	require.Equal(t, int64(1), calls)
	require.Greater(t, tokens, int64(1), "the call's prompt and reply tokens")
	require.Empty(t, decision(a).Reason)

	// 2. Spent: the fallback goes out without a model call, the decision says why.
	b := nudge("b", "Hi, how was your week?")
	m := r.message(t, b.MessageID)
	require.Equal(t, "Hi, how was your week?", m.Body)
	require.Equal(t, "queued", m.Status)
	d := decision(b)
	require.Equal(t, "sent", d.Status)
	require.Equal(t, capacity.ReasonNudge, d.Reason)
	// Without a fallback: failed, not sent, with the reason.
	c := nudge("c", "")
	m = r.message(t, c.MessageID)
	require.Equal(t, "failed", m.Status)
	require.Contains(t, m.Error, capacity.ReasonNudge)
	require.Equal(t, capacity.ReasonNudge, decision(c).Reason)
	require.Len(t, srv.ChatRequests(), 1, "no chat request once the budget is spent")
	require.Len(t, r.outbound(t, "widget"), 2, "a and b's fallback; c failed")
	reasons := testenv.Read(t, r.store, r.creator, func(ctx context.Context, q *db.Queries) ([]db.CampaignSentReasonsRow, error) {
		return q.CampaignSentReasons(ctx, uuid.NullUUID{UUID: campaign, Valid: true})
	})
	require.Equal(t, []db.CampaignSentReasonsRow{{Reason: capacity.ReasonNudge, N: 2}}, reasons)

	// 3. A new UTC day: the model writes again.
	clk.Advance(time.Hour)
	e := nudge("e", "Hi, how was your week?")
	require.Contains(t, r.message(t, e.MessageID).Body, "Ask about their week.")
	require.Empty(t, decision(e).Reason)
	require.Len(t, srv.ChatRequests(), 2)
}
