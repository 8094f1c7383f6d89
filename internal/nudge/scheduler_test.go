package nudge

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/proactive"
	"github.com/coachwire/coachwire/internal/testenv"
)

// These tests run the scheduler (Worker.RunOnce) on the test's fake clock: not parallel (see
// rig_test.go).

// decidedNames are the display names of the people decided for campaign, sorted.
func (r *rig) decidedNames(campaign uuid.UUID) []string {
	r.t.Helper()
	out := []string{}
	r.sqlTx(func(tx pgx.Tx) error {
		rows, err := tx.Query(context.Background(), `SELECT e.display_name FROM nudge_deliveries d JOIN end_users e ON e.id = d.end_user_id
			WHERE d.campaign_id = $1`, campaign)
		if err != nil {
			return err
		}
		got, err := pgx.CollectRows(rows, pgx.RowTo[string])
		out = append(out, got...)
		return err
	})
	sort.Strings(out)
	return out
}

// exactlyOnce checks that n people each got one message for campaign (its only occurrence),
// recorded and handed to dispatch once.
func (r *rig) exactlyOnce(campaign uuid.UUID, n int) {
	r.t.Helper()
	t := r.t
	require.Equal(t, n, r.count(`SELECT count(*) FROM nudge_deliveries WHERE campaign_id = $1`, campaign))
	require.Equal(t, n, r.count(`SELECT count(*) FROM nudge_deliveries WHERE campaign_id = $1 AND status = 'sent'`, campaign))
	require.Equal(t, n, r.count(`SELECT count(*) FROM messages m JOIN nudge_deliveries d ON d.message_id = m.id WHERE d.campaign_id = $1`, campaign))
	require.Equal(t, 0, r.count(`SELECT count(*) FROM (SELECT c.end_user_id FROM messages m JOIN conversations c ON c.id = m.conversation_id
		WHERE m.creator_id = $1 AND m.role = 'assistant' GROUP BY c.end_user_id HAVING count(*) > 1) x`, r.c), "nobody got two messages")
	require.Equal(t, n, r.count(`SELECT COALESCE(sum(targeted), 0)::int FROM campaign_occurrences WHERE campaign_id = $1`, campaign),
		"every recipient published once into the count")
	ob := r.outbound()
	require.Len(t, ob, n, "one outbound event per recipient")
	ids := make([]uuid.UUID, len(ob))
	for i, m := range ob {
		ids[i] = m.Data.MessageID
	}
	require.Empty(t, dup(ids), "a message handed to dispatch twice")
}

// TestSchedulerThreeWorkersExactlyOnce: three workers run the scheduler at once and share the
// recipient consumer; a one-off campaign to 600 of 650 people is expanded once, in pages, and
// every recipient is decided once and gets exactly one message; the campaign completes.
func TestSchedulerThreeWorkersExactlyOnce(t *testing.T) {
	t0 := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	r := newRig(t, t0)
	r.policy("UTC", 0, 0, 2, 7)
	const n = 600
	r.people(n, "vip")
	r.people(50, "other")
	camp := r.campaign(proactive.Audience{Tag: "vip"}, text("Hi {{first_name}}, how is your week going?"), once(t0.Add(time.Second)))
	var ws []*Worker
	for range 3 {
		w := r.worker(func(w *Worker) { w.Batch, w.Page = 25, 50 })
		r.start(w)
		ws = append(ws, w)
	}
	r.clk.Set(t0.Add(2 * time.Second))
	runAtOnce(t, 3, ws...)
	r.drain()
	r.exactlyOnce(camp, n)
	require.Equal(t, map[string]string{"07-01T12:00": "expanded"}, r.occurrences(camp))
	require.Equal(t, 1, r.count(`SELECT count(*) FROM campaigns WHERE id = $1 AND status = 'completed'`, camp))
	require.Equal(t, n, r.count(`SELECT count(*) FROM nudge_deliveries WHERE campaign_id = $1 AND decided_at = $2`, camp, t0.Add(2*time.Second)),
		"decided at the clock's time")
	require.Equal(t, []string{"Hi Person, how is your week going?"}, r.bodies(firstOf(r, "seed-vip-1")))
}

// runAtOnce runs passes scheduler passes on every worker at the same time.
func runAtOnce(t *testing.T, passes int, ws ...*Worker) {
	t.Helper()
	errs := make(chan error, len(ws)*passes)
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range passes {
				errs <- w.RunOnce(context.Background())
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

func firstOf(r *rig, external string) uuid.UUID {
	var id uuid.UUID
	r.sqlTx(func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), `SELECT id FROM end_users WHERE external_id = $1`, external).Scan(&id)
	})
	return id
}

// TestSchedulerKilledMidExpansion: the worker expanding an occurrence dies after three pages
// (its context cancelled, its connection closed); a second worker takes the occurrence over
// once the lease has expired and resumes from the recorded cursor: every recipient is
// published into the count once and gets exactly one message.
func TestSchedulerKilledMidExpansion(t *testing.T) {
	t0 := time.Date(2026, 7, 2, 12, 0, 0, 0, time.UTC)
	r := newRig(t, t0)
	r.policy("UTC", 0, 0, 2, 7)
	const n = 300
	r.people(n, "k")
	camp := r.campaign(proactive.Audience{Tag: "k"}, text("Hello {{first_name}}"), once(t0))
	targeted := func() int {
		return r.count(`SELECT COALESCE(sum(targeted), 0)::int FROM campaign_occurrences WHERE campaign_id = $1`, camp)
	}

	ctx, kill := context.WithCancel(context.Background())
	defer kill()
	var stopA func()
	pages := 0
	a := r.worker(func(w *Worker) {
		w.Page = 10
		w.AfterPage = func(uuid.UUID, int) {
			if pages++; pages == 3 {
				kill()
				stopA()
			}
		}
	})
	stopA = r.start(a)
	b := r.worker(func(w *Worker) { w.Page = 10 })
	r.start(b)

	r.clk.Set(t0.Add(time.Second))
	_ = a.RunOnce(ctx) // stops with the context
	require.Equal(t, 30, targeted(), "three pages published before the worker died")
	require.Equal(t, "expanding", r.occurrences(camp)["07-02T12:00"])

	r.pass(b, t0.Add(2*time.Second))
	require.Equal(t, 30, targeted(), "the dead worker's lease still holds")
	r.pass(b, t0.Add(7*time.Second))
	r.exactlyOnce(camp, n)
	require.Equal(t, "expanded", r.occurrences(camp)["07-02T12:00"])
}

// TestSchedulerQuietHoursOptOutWhileHeld: a campaign's recipients are held by quiet hours; one
// person opts out meanwhile; when the window opens the scheduler decides the held recipients
// again: everyone else gets the message and that person is skipped as opted out.
func TestSchedulerQuietHoursOptOutWhileHeld(t *testing.T) {
	t0 := time.Date(2026, 7, 3, 6, 0, 0, 0, time.UTC)
	r := newRig(t, t0)
	r.policy("UTC", 5*60, 8*60, 2, 7) // quiet 05:00-08:00
	const n = 20
	r.people(n, "q")
	camp := r.campaign(proactive.Audience{Tag: "q"}, text("Morning {{first_name}}"), once(t0))
	w := r.worker()
	r.start(w)

	r.pass(w, t0.Add(time.Second))
	require.Equal(t, n, r.count(`SELECT count(*) FROM nudge_deliveries WHERE campaign_id = $1 AND status = 'held' AND reason = 'quiet_hours'`, camp))
	require.Equal(t, 0, r.count(`SELECT count(*) FROM messages WHERE creator_id = $1`, r.c))

	r.exec(`UPDATE end_users SET opted_out_at = now() WHERE external_id = 'seed-q-1'`) // as STOP does
	r.pass(w, t0.Add(2*time.Hour-time.Second))
	require.Equal(t, n, r.count(`SELECT count(*) FROM nudge_deliveries WHERE campaign_id = $1 AND status = 'held'`, camp), "still quiet")
	r.pass(w, t0.Add(2*time.Hour))
	require.Equal(t, n-1, r.count(`SELECT count(*) FROM nudge_deliveries WHERE campaign_id = $1 AND status = 'sent'`, camp))
	require.Equal(t, "skipped/opted_out/", r.decision(camp, firstOf(r, "seed-q-1")))
	require.Empty(t, r.bodies(firstOf(r, "seed-q-1")))
	require.Equal(t, []string{"Morning Person"}, r.bodies(firstOf(r, "seed-q-2")))
	require.Equal(t, n-1, r.count(`SELECT count(*) FROM messages WHERE creator_id = $1 AND role = 'assistant'`, r.c))
	require.Len(t, r.outbound(), n-1)
}

// TestSchedulerCapAcrossCampaigns: two campaigns reach the same 200 people at once, expanded and
// decided by two workers, under a daily cap of 1: each person gets exactly one message, the
// other decision is skipped as capped.
func TestSchedulerCapAcrossCampaigns(t *testing.T) {
	t0 := time.Date(2026, 7, 4, 12, 0, 0, 0, time.UTC)
	r := newRig(t, t0)
	r.policy("UTC", 0, 0, 1, 7)
	const n = 200
	r.people(n, "cap")
	c1 := r.campaign(proactive.Audience{Tag: "cap"}, text("One {{first_name}}"), once(t0))
	c2 := r.campaign(proactive.Audience{Tag: "cap"}, text("Two {{first_name}}"), once(t0))
	w1, w2 := r.worker(func(w *Worker) { w.Page = 25 }), r.worker(func(w *Worker) { w.Page = 25 })
	r.start(w1)
	r.start(w2)
	r.clk.Set(t0.Add(time.Second))
	runAtOnce(t, 1, w1, w2)
	r.pass(w1, t0.Add(time.Second))
	require.Equal(t, 2*n, r.count(`SELECT count(*) FROM nudge_deliveries WHERE campaign_id IN ($1, $2)`, c1, c2))
	require.Equal(t, n, r.count(`SELECT count(*) FROM nudge_deliveries WHERE campaign_id IN ($1, $2) AND status = 'sent'`, c1, c2))
	require.Equal(t, n, r.count(`SELECT count(*) FROM nudge_deliveries WHERE campaign_id IN ($1, $2) AND status = 'skipped' AND reason = 'capped'`, c1, c2))
	require.Equal(t, 0, r.count(`SELECT count(*) FROM (SELECT end_user_id FROM nudge_deliveries
		WHERE campaign_id IN ($1, $2) AND status = 'sent' GROUP BY end_user_id HAVING count(*) <> 1) x`, c1, c2), "each person exactly one")
	require.Equal(t, 0, r.count(`SELECT count(*) FROM (SELECT c.end_user_id FROM messages m JOIN conversations c ON c.id = m.conversation_id
		WHERE m.creator_id = $1 AND m.role = 'assistant' GROUP BY c.end_user_id HAVING count(*) > 1) x`, r.c), "nobody got two messages")
	require.Len(t, r.outbound(), n)
}

// TestSchedulerCampaignControls drives a daily campaign through the creator's controls: sent at
// 09:00 to its audience only; paused for three days and resumed, it neither replays the missed
// days nor sends late ones (the overdue occurrence is recorded as missed, the schedule goes on
// from now); edited (new text, new time) it sends the new text at the new time and nothing at
// the old one; cancelled it sends nothing more.
func TestSchedulerCampaignControls(t *testing.T) {
	t0 := time.Date(2026, 5, 4, 8, 59, 0, 0, time.UTC)
	r := newRig(t, t0)
	ana, ben := r.person("Ana", "UTC", "daily"), r.person("Ben", "UTC", "daily")
	other := r.person("Out", "UTC", "other")
	aud := proactive.Audience{Tag: "daily"}
	camp := r.campaign(aud, text("Morning {{first_name}}"), proactive.Schedule{Kind: proactive.ScheduleCron, Timezone: "UTC", Cron: "0 9 * * *"})
	day := func(d int, hh, mm int) time.Time { return time.Date(2026, 5, 4+d, hh, mm, 0, 0, time.UTC) }
	w := r.worker()
	r.start(w)

	r.pass(w, day(0, 8, 59))
	require.Empty(t, r.bodies(ana), "not yet 09:00")
	r.pass(w, day(0, 9, 1))
	require.Equal(t, []string{"Morning Ana"}, r.bodies(ana))
	require.Equal(t, []string{"Morning Ben"}, r.bodies(ben))
	require.Empty(t, r.bodies(other), "not in the audience")
	require.Equal(t, map[string]string{"05-04T09:00": "expanded", "05-05T09:00": "pending"}, r.occurrences(camp))

	// Paused at noon, resumed three days later at 09:30.
	r.clk.Set(day(0, 12, 0))
	r.setCampaign(camp, "paused")
	for d := 1; d <= 3; d++ {
		r.pass(w, day(d, 9, 1))
		require.Equal(t, []string{"Morning Ana"}, r.bodies(ana))
	}
	r.clk.Set(day(3, 9, 30))
	r.setCampaign(camp, "active")
	r.pass(w, day(3, 9, 30))
	require.Equal(t, map[string]string{"05-04T09:00": "expanded", "05-05T09:00": "missed", "05-08T09:00": "pending"}, r.occurrences(camp),
		"no replay of the paused days; the schedule goes on from now")
	require.Equal(t, []string{"Morning Ana"}, r.bodies(ana))
	require.Equal(t, []string{"Morning Ben"}, r.bodies(ben))

	// Edited before day 4: new text at 09:30; nothing at 09:00.
	r.clk.Set(day(3, 12, 0))
	r.editCampaign(camp, aud, text("Good morning {{first_name}}, v2"), proactive.Schedule{Kind: proactive.ScheduleCron, Timezone: "UTC", Cron: "30 9 * * *"})
	occ := r.occurrences(camp)
	require.Equal(t, "pending", occ["05-08T09:30"])
	_, stray := occ["05-08T09:00"]
	require.False(t, stray, "the old schedule's occurrence is gone: %v", occ)
	r.pass(w, day(4, 9, 1))
	require.Equal(t, []string{"Morning Ana"}, r.bodies(ana))
	r.pass(w, day(4, 9, 31))
	require.Equal(t, []string{"Morning Ana", "Good morning Ana, v2"}, r.bodies(ana))
	require.Equal(t, []string{"Morning Ben", "Good morning Ben, v2"}, r.bodies(ben))

	// Cancelled: nothing more.
	r.setCampaign(camp, "cancelled")
	require.Equal(t, "cancelled", r.occurrences(camp)["05-09T09:30"])
	r.pass(w, day(5, 9, 31))
	require.Equal(t, []string{"Morning Ana", "Good morning Ana, v2"}, r.bodies(ana))
	require.Equal(t, "sent//text", r.decision(camp, ana))
	require.Len(t, r.outbound(), 4)
}

// TestSchedulerLocalTimeAcrossDateLine: "10:00 in each recipient's local time" for people on
// both sides of the date line and in between. Each gets it at their own 10:00 (the others are
// held until theirs); a pause while someone is still waiting holds them until the resume,
// which sends it; everyone gets exactly one message for the day.
func TestSchedulerLocalTimeAcrossDateLine(t *testing.T) {
	// 2026-06-10 10:00 at UTC+14 (Kiritimati) is 2026-06-09 20:00 UTC.
	t0 := time.Date(2026, 6, 9, 19, 0, 0, 0, time.UTC)
	r := newRig(t, t0)
	kiri := r.person("Kiri", "Pacific/Kiritimati", "local") // UTC+14
	paris := r.person("Paul", "Europe/Paris", "local")      // UTC+2 in June
	pago := r.person("Pago", "Pacific/Pago_Pago", "local")  // UTC-11
	camp := r.campaign(proactive.Audience{Tag: "local"}, text("10:00 your time, {{first_name}}"),
		proactive.Schedule{Kind: proactive.ScheduleLocal, Start: "2026-06-10", LocalTime: "10:00"})
	msg := func(n string) []string { return []string{"10:00 your time, " + n} }
	w := r.worker()
	r.start(w)

	r.pass(w, time.Date(2026, 6, 9, 19, 59, 0, 0, time.UTC))
	require.Empty(t, r.bodies(kiri), "10:00 has not come anywhere")
	r.pass(w, time.Date(2026, 6, 9, 20, 1, 0, 0, time.UTC)) // 10:01 at Kiritimati
	require.Equal(t, msg("Kiri"), r.bodies(kiri))
	require.Equal(t, "held/local_time/", r.decision(camp, paris))
	require.Equal(t, "held/local_time/", r.decision(camp, pago))
	require.Equal(t, 1, r.count(`SELECT count(*) FROM nudge_deliveries WHERE end_user_id = $1 AND hold_until = $2`, paris,
		time.Date(2026, 6, 10, 8, 0, 0, 0, time.UTC)), "held until 10:00 in Paris")
	require.Empty(t, r.bodies(paris))

	r.clk.Set(time.Date(2026, 6, 10, 7, 0, 0, 0, time.UTC))
	r.setCampaign(camp, "paused")
	r.pass(w, time.Date(2026, 6, 10, 8, 1, 0, 0, time.UTC)) // 10:01 in Paris, paused
	require.Equal(t, "held/paused/", r.decision(camp, paris))
	require.Empty(t, r.bodies(paris))

	r.clk.Set(time.Date(2026, 6, 10, 9, 0, 0, 0, time.UTC))
	r.setCampaign(camp, "active")
	r.pass(w, time.Date(2026, 6, 10, 9, 0, 0, 0, time.UTC))
	require.Equal(t, msg("Paul"), r.bodies(paris))
	require.Equal(t, "held/local_time/", r.decision(camp, pago), "Pago's 10:00 has not come")

	r.pass(w, time.Date(2026, 6, 10, 21, 1, 0, 0, time.UTC)) // 10:01 in Pago Pago
	require.Equal(t, msg("Pago"), r.bodies(pago))
	require.Equal(t, msg("Kiri"), r.bodies(kiri))
	require.Equal(t, msg("Paul"), r.bodies(paris))
	require.Len(t, r.outbound(), 3)
}

// TestSchedulerAudienceFilters: the audience filters, alone and combined, select exactly the
// people they say when an occurrence is expanded.
func TestSchedulerAudienceFilters(t *testing.T) {
	t0 := time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)
	r := newRig(t, t0)
	day := 24 * time.Hour
	set := func(id uuid.UUID, tags []string, lastSeen, joined time.Time) {
		r.exec(`UPDATE end_users SET tags = $2, last_seen_at = $3, created_at = $4 WHERE id = $1`, id, tags, lastSeen, joined)
	}
	ana, bob, cat, dan := r.person("Ana", "UTC"), r.person("Bob", "UTC"), r.person("Cat", "UTC"), r.person("Dan", "UTC")
	set(ana, []string{"vip", "coached"}, t0.Add(-day), t0.Add(-90*day))
	set(bob, []string{"vip"}, t0.Add(-40*day), t0.Add(-90*day))
	set(cat, []string{"trial"}, t0.Add(-2*day), t0.Add(-3*day))
	set(dan, []string{"vip", "churned"}, t0.Add(-3*day), t0.Add(-60*day))
	prog := r.program(proactive.Step{Day: 30, Content: text("later")})
	r.enroll(prog, cat)
	joined := t0.Add(-10 * day)
	w := r.worker()
	r.start(w)

	for i, c := range []struct {
		aud  proactive.Audience
		want []string
	}{
		{proactive.Audience{All: true}, []string{"Ana", "Bob", "Cat", "Dan"}},
		{proactive.Audience{Tag: "vip"}, []string{"Ana", "Bob", "Dan"}},
		{proactive.Audience{Tags: []string{"vip"}, ExcludeTags: []string{"churned"}}, []string{"Ana", "Bob"}},
		{proactive.Audience{Tags: []string{"vip", "coached"}}, []string{"Ana"}},
		{proactive.Audience{AnyTags: []string{"trial", "coached"}}, []string{"Ana", "Cat"}},
		{proactive.Audience{InactiveDays: 30}, []string{"Bob"}},
		{proactive.Audience{ActiveWithinDays: 7, Tag: "vip"}, []string{"Ana", "Dan"}},
		{proactive.Audience{JoinedAfter: &joined}, []string{"Cat"}},
		{proactive.Audience{ProgramID: &prog}, []string{"Cat"}},
		{proactive.Audience{ProgramID: &prog, Tag: "vip"}, []string{}},
		{proactive.Audience{Channel: "telegram"}, []string{}},
	} {
		at := t0.Add(time.Duration(i) * time.Hour)
		r.clk.Set(at)
		camp := r.campaign(c.aud, text("Hi {{first_name}}"), once(at))
		r.pass(w, at)
		require.Equal(t, c.want, r.decidedNames(camp), "audience %+v", c.aud)
		require.Equal(t, len(c.want), r.count(`SELECT targeted FROM campaign_occurrences WHERE campaign_id = $1`, camp))
	}
}

// TestSchedulerRun: the scheduler loop (Worker.Run) sends a due campaign on its own ticks and
// returns when its context ends.
func TestSchedulerRun(t *testing.T) {
	t0 := time.Date(2026, 7, 5, 12, 0, 0, 0, time.UTC)
	r := newRig(t, t0)
	ana := r.person("Ana", "UTC", "run")
	r.campaign(proactive.Audience{Tag: "run"}, text("Hi {{first_name}}"), once(t0))
	w := r.worker()
	r.start(w)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	testenv.Eventually(t, 30*time.Second, func() bool { return len(r.bodies(ana)) == 1 }, "the campaign sent by the loop")
	cancel()
	<-done
	require.Equal(t, []string{"Hi Ana"}, r.bodies(ana))
}
