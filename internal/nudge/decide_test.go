package nudge

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/proactive"
)

// These tests hand recipient events to Worker.Submit (what the recipient consumer does) and
// read the decisions, messages and published events; no scheduler runs, so they are parallel.

// submit decides one recipient of campaign's occurrence occ at the clock's time.
func (r *rig) submit(w *Worker, campaign, occ, eu uuid.UUID, scheduled time.Time) {
	r.t.Helper()
	require.NoError(r.t, w.Submit(context.Background(), r.c, proactive.RecipientEvent{OccurrenceID: occ, CampaignID: campaign,
		EndUserID: eu, ScheduledAt: scheduled}, nil))
}

// submitAll decides every recipient at once (one batch, or a few).
func (r *rig) submitAll(w *Worker, campaign, occ uuid.UUID, scheduled time.Time, eus ...uuid.UUID) {
	r.t.Helper()
	errs := make(chan error, len(eus))
	for _, eu := range eus {
		go func() {
			errs <- w.Submit(context.Background(), r.c, proactive.RecipientEvent{OccurrenceID: occ, CampaignID: campaign,
				EndUserID: eu, ScheduledAt: scheduled}, nil)
		}()
	}
	for range eus {
		require.NoError(r.t, <-errs)
	}
}

// TestDecideQuietHoursAndOptOut: recipients due in quiet hours are held until the window
// ends; someone opted out is skipped at decision time; someone who opts out while held is
// skipped when decided again, and the others get the message, rendered for each.
func TestDecideQuietHoursAndOptOut(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 5, 4, 23, 0, 0, 0, time.UTC)
	r := newRig(t, t0)
	r.policy("UTC", 22*60, 7*60, 2, 7)
	ana, ben, out := r.person("Ana Lima", "", "q"), r.person("Ben", "", "q"), r.person("Out", "", "q")
	r.tx(func(q *db.Queries) error {
		_, err := q.SetEndUserOptOut(context.Background(), db.SetEndUserOptOutParams{ID: out, OptedOut: true})
		return err
	})
	camp := r.campaign(proactive.Audience{Tag: "q"}, text("Morning {{first_name}}"), once(t0))
	occ := uuid.New()
	w := r.worker()

	r.submitAll(w, camp, occ, t0, ana, ben, out)
	require.Equal(t, "held/quiet_hours/", r.decision(camp, ana))
	require.Equal(t, "held/quiet_hours/", r.decision(camp, ben))
	require.Equal(t, "skipped/opted_out/", r.decision(camp, out))
	require.Equal(t, 2, r.count(`SELECT count(*) FROM nudge_deliveries WHERE campaign_id = $1 AND hold_until = $2`, camp,
		time.Date(2026, 5, 5, 7, 0, 0, 0, time.UTC)), "held until the quiet hours end")
	require.Empty(t, r.outbound())

	// Ben opts out while held; at 07:01 the held decisions are decided again.
	r.tx(func(q *db.Queries) error {
		_, err := q.SetEndUserOptOut(context.Background(), db.SetEndUserOptOutParams{ID: ben, OptedOut: true})
		return err
	})
	r.clk.Set(time.Date(2026, 5, 5, 7, 1, 0, 0, time.UTC))
	r.submitAll(w, camp, occ, t0, ana, ben, out)
	require.Equal(t, "sent//text", r.decision(camp, ana))
	require.Equal(t, "skipped/opted_out/", r.decision(camp, ben))
	require.Equal(t, "skipped/opted_out/", r.decision(camp, out))
	require.Equal(t, []string{"Morning Ana"}, r.bodies(ana))
	require.Empty(t, r.bodies(ben))
	require.Empty(t, r.bodies(out))
	ob := r.outbound()
	require.Len(t, ob, 1)
	require.Equal(t, proactive.MessageID(occ, ana), ob[0].Data.MessageID)
	require.Equal(t, ana, ob[0].Data.EndUserID)
	require.Equal(t, events.ChannelWidget, ob[0].Data.Channel)
}

// TestDecideCapsAndFrequency: two campaigns reach the same person on one day under a daily cap
// of 1: one is sent, the other skipped as capped; the next day's is sent; a weekly cap of 2
// skips the third day's; a person who wrote a few minutes ago is held (live conversation)
// until the live window has passed.
func TestDecideCapsAndFrequency(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	r := newRig(t, t0)
	r.policy("UTC", 0, 0, 1, 2)
	ana, talker := r.person("Ana", "", "c"), r.person("Tom", "", "c")
	w := r.worker()
	day := func(d int) time.Time { return t0.AddDate(0, 0, d) }
	c1 := r.campaign(proactive.Audience{Tag: "c"}, text("One"), once(t0))
	c2 := r.campaign(proactive.Audience{Tag: "c"}, text("Two"), once(t0))

	occ1, occ2 := uuid.New(), uuid.New()
	r.submit(w, c1, occ1, ana, t0)
	r.submit(w, c2, occ2, ana, t0)
	require.Equal(t, "sent//text", r.decision(c1, ana))
	require.Equal(t, "skipped/capped/", r.decision(c2, ana))

	// The same occurrence and person submitted again (a redelivery) is not decided twice: the
	// message is handed to dispatch again under the same id, and nothing else changes.
	r.submit(w, c1, occ1, ana, t0)
	require.Equal(t, []string{"One"}, r.bodies(ana))
	require.Len(t, r.outbound(), 1, "the second publish has the same Nats-Msg-Id")

	r.clk.Set(day(1))
	r.submit(w, c2, uuid.New(), ana, day(1))
	require.Equal(t, []string{"One", "Two"}, r.bodies(ana), "a new day: under the daily cap again")
	r.clk.Set(day(2))
	r.submit(w, c2, uuid.New(), ana, day(2))
	require.Equal(t, "skipped/capped/", r.decision(c2, ana), "two this week: the weekly cap")
	require.Len(t, r.bodies(ana), 2)

	// Live conversation: Tom wrote 3 minutes ago.
	r.reply(talker, day(2).Add(-3*time.Minute))
	occ3 := uuid.New()
	r.submit(w, c1, occ3, talker, day(2))
	require.Equal(t, "held/live_conversation/", r.decision(c1, talker))
	require.Equal(t, 1, r.count(`SELECT count(*) FROM nudge_deliveries WHERE occurrence_id = $1 AND hold_until = $2`, occ3,
		day(2).Add(7*time.Minute)))
	r.clk.Set(day(2).Add(8 * time.Minute))
	r.submit(w, c1, occ3, talker, day(2))
	require.Equal(t, "sent//text", r.decision(c1, talker))
}

// TestDecideStoppedAndPaused: a paused campaign's recipient is held (paused) until the resume,
// or skipped as expired past the platform's maximum hold; a cancelled campaign's recipient is
// skipped; a person without a channel is skipped (no_channel); an erased person is not decided.
func TestDecideStoppedAndPaused(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	r := newRig(t, t0)
	r.policy("UTC", 0, 0, 5, 10)
	ana := r.person("Ana", "", "s")
	var orphan uuid.UUID // a Telegram person whose channel is unknown
	r.tx(func(q *db.Queries) error {
		eu, err := q.UpsertChannelEndUser(context.Background(), db.UpsertChannelEndUserParams{ID: uuid.New(), CreatorID: r.c,
			Channel: events.ChannelTelegram, ExternalID: "tg-1", DisplayName: "Tg", ChatID: ""})
		orphan = eu.ID
		return err
	})
	w := r.worker()
	camp := r.campaign(proactive.Audience{All: true}, text("Hi"), once(t0))

	r.setCampaign(camp, "paused")
	occ := uuid.New()
	r.submit(w, camp, occ, ana, t0)
	require.Equal(t, "held/paused/", r.decision(camp, ana))
	r.clk.Set(t0.Add(49 * time.Hour))
	r.submit(w, camp, occ, ana, t0)
	require.Equal(t, "skipped/expired/", r.decision(camp, ana), "paused longer than the maximum hold")

	r.clk.Set(t0.Add(50 * time.Hour))
	r.setCampaign(camp, "active")
	r.submitAll(w, camp, uuid.New(), r.clk.Now(), ana, orphan, uuid.New())
	require.Equal(t, "sent//text", r.decision(camp, ana))
	require.Equal(t, "skipped/no_channel/", r.decision(camp, orphan))
	require.Equal(t, 2, r.count(`SELECT count(*) FROM nudge_deliveries WHERE campaign_id = $1 AND decided_at = $2`, camp, r.clk.Now()),
		"an unknown person is not decided")

	r.clk.Set(t0.Add(51 * time.Hour))
	r.setCampaign(camp, "cancelled")
	r.submit(w, camp, uuid.New(), ana, r.clk.Now())
	require.Equal(t, "skipped/cancelled/", r.decision(camp, ana))
	require.Equal(t, []string{"Hi"}, r.bodies(ana))
}

// TestDecideAIPersonalized: an AI-personalized campaign is not written by the decider: each
// recipient's decision is recorded and a nudge.compose event goes to the generate target with
// the brief, the rendered fallback (the person's goal from memory), the conversation and the
// deterministic message id; no message is stored and nothing goes to dispatch. A redelivery
// asks again for the same message.
func TestDecideAIPersonalized(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	r := newRig(t, t0)
	runner, other := r.person("Rae Runner", "", "ai"), r.person("Oli", "", "ai")
	r.tx(func(q *db.Queries) error {
		_, err := q.PutMemory(context.Background(), db.PutMemoryParams{EndUserID: runner, CreatorID: r.c,
			Profile: []byte(`{"goals": ["run a 10k in spring"]}`)})
		return err
	})
	camp := r.campaign(proactive.Audience{Tag: "ai"}, proactive.Content{Kind: proactive.ContentAI, Brief: "Encourage a steady sleep routine.",
		Fallback: "Hi {{first_name}}, how is {{goal}} going?"}, once(t0))
	occ := uuid.New()
	w := r.worker()
	r.submitAll(w, camp, occ, t0, runner, other)
	require.Equal(t, "sent//text", r.decision(camp, runner))
	require.Equal(t, "sent//text", r.decision(camp, other))
	require.Empty(t, r.bodies(runner), "the generate target writes and stores the message")
	require.Empty(t, r.outbound())

	compose := func() []events.NudgeCompose {
		var out []events.NudgeCompose
		for _, m := range published[events.NudgeCompose](t, r.b, "CW_COMPOSE", events.ComposeSubject(r.c)) {
			require.Equal(t, events.TypeNudgeCompose, m.Type)
			out = append(out, m.Data)
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Fallback < out[j].Fallback })
		return out
	}
	got := compose()
	require.Len(t, got, 2)
	require.Equal(t, "Hi Oli, how is  going?", got[0].Fallback)
	require.Equal(t, "Hi Rae, how is run a 10k in spring going?", got[1].Fallback)
	for _, c := range got {
		require.Equal(t, "Encourage a steady sleep routine.", c.Brief)
		require.Equal(t, proactive.MessageID(occ, c.EndUserID), c.MessageID)
		require.Equal(t, occ, c.OccurrenceID)
		require.Equal(t, events.ChannelWidget, c.Channel)
		require.Equal(t, 1, r.count(`SELECT count(*) FROM conversations WHERE id = $1 AND end_user_id = $2`, c.ConversationID, c.EndUserID))
		require.Nil(t, c.Template)
	}

	// Redelivered before the message was written: the same request again (deduplicated).
	r.submit(w, camp, occ, runner, t0)
	require.Len(t, compose(), 2)
	require.Equal(t, 1, r.count(`SELECT count(*) FROM nudge_deliveries WHERE end_user_id = $1`, runner))
}
