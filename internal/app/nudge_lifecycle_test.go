package app_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/app"
	"github.com/coachwire/coachwire/internal/config"
	"github.com/coachwire/coachwire/internal/llm/ollamatest"
	"github.com/coachwire/coachwire/internal/testenv"
)

// clockRig is one coachwire process (gateway + nudge + dispatch) on a fake clock, with a
// creator and an owner connection for the tables the tests read.
type clockRig struct {
	clk  *fakeNow
	c    *testenv.Client
	cr   testenv.Creator
	conn *pgx.Conn
}

func newClockRig(t *testing.T, t0 time.Time) *clockRig {
	t.Helper()
	h := newHarness(t, ollamatest.Options{})
	r := &clockRig{clk: &fakeNow{t: t0}}
	cfg := h.config(config.TargetGateway, config.TargetNudge, config.TargetDispatch)
	cfg.Nudge = config.Nudge{Tick: 50 * time.Millisecond, Page: 50, Lease: 5 * time.Second}
	cfg.AccessTokenTTL = 365 * 24 * time.Hour // tokens follow the fake clock, which jumps weeks
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a, err := app.Start(ctx, cfg, app.Options{Log: testenv.Logger(t), Now: r.clk.Now})
	require.NoError(t, err)
	t.Cleanup(a.Stop)
	r.c = testenv.NewClient(a.URL)
	r.cr = r.c.Register(t)
	r.conn = ownerConn(t, h)
	return r
}

func (r *clockRig) do(t *testing.T, method, path string, body, out any) int {
	t.Helper()
	st, raw, err := r.c.Do(context.Background(), method, path, r.cr.AccessToken, body, out)
	require.NoError(t, err)
	if st >= 300 && out != nil {
		t.Logf("%s %s: %d %s", method, path, st, raw)
	}
	return st
}

func (r *clockRig) ok(t *testing.T, method, path string, body, out any) {
	t.Helper()
	st, raw, err := r.c.Do(context.Background(), method, path, r.cr.AccessToken, body, out)
	require.NoError(t, err)
	require.Less(t, st, 300, "%s %s: %s", method, path, raw)
}

// person inserts a widget end user in zone (tagged tag) and returns its id.
func (r *clockRig) person(t *testing.T, name, zone, tag string) uuid.UUID {
	t.Helper()
	id := uuid.New()
	tenantExec(t, r.conn, r.cr.ID, `INSERT INTO end_users (id, creator_id, channel, external_id, display_name, timezone, tags)
		VALUES ($1, $2, 'widget', $3, $4, $5, ARRAY[$6])`, id, r.cr.ID, "ext-"+id.String(), name, zone, tag)
	return id
}

// bodies are the proactive messages stored for an end user, oldest first.
func (r *clockRig) bodies(t *testing.T, eu uuid.UUID) []string {
	t.Helper()
	var out []string
	tenantDo(t, r.conn, r.cr.ID, func(tx pgx.Tx) error {
		rows, err := tx.Query(context.Background(), `SELECT m.body FROM messages m JOIN conversations c ON c.id = m.conversation_id
			WHERE c.end_user_id = $1 AND m.role = 'assistant' ORDER BY m.seq`, eu)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	return out
}

func (r *clockRig) waitBodies(t *testing.T, eu uuid.UUID, want ...string) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, func() bool { return fmt.Sprint(r.bodies(t, eu)) == fmt.Sprint(want) },
		"messages %q (have %q)", want, r.bodies(t, eu))
}

// settle lets the scheduler run a few passes at the current fake time, then checks eu still
// has exactly want (nothing more arrived).
func (r *clockRig) settle(t *testing.T, eu uuid.UUID, want ...string) {
	t.Helper()
	time.Sleep(400 * time.Millisecond) // ~8 scheduler passes
	require.Equal(t, fmt.Sprintf("%q", want), fmt.Sprintf("%q", r.bodies(t, eu)))
}

func (r *clockRig) decision(t *testing.T, campaign, eu uuid.UUID) string {
	t.Helper()
	var s string
	tenantDo(t, r.conn, r.cr.ID, func(tx pgx.Tx) error {
		err := tx.QueryRow(context.Background(), `SELECT status || '/' || reason FROM nudge_deliveries
			WHERE campaign_id = $1 AND end_user_id = $2 ORDER BY decided_at DESC LIMIT 1`, campaign, eu).Scan(&s)
		if err == pgx.ErrNoRows {
			return nil
		}
		return err
	})
	return s
}

// TestNudgeCampaignControls drives a daily campaign through the creator's controls on a fake
// clock: sent at 09:00; paused for three days and resumed, it neither replays the missed days
// nor sends late ones (the overdue occurrence is recorded as missed); edited (new text, new
// time) it sends the new text at the new time and nothing at the old one; cancelled it sends
// nothing more. A one-off campaign in the past is refused.
func TestNudgeCampaignControls(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 5, 4, 8, 59, 0, 0, time.UTC)
	r := newClockRig(t, t0)
	tenantExec(t, r.conn, r.cr.ID, `UPDATE creators SET timezone = 'UTC', quiet_start = 0, quiet_end = 0 WHERE id = $1`, r.cr.ID)
	ana, ben := r.person(t, "Ana", "UTC", "daily"), r.person(t, "Ben", "UTC", "daily")
	other := r.person(t, "Out", "UTC", "other")
	camp := createCampaign(t, r.c, r.cr, map[string]any{
		"name": "daily", "audience": map[string]any{"tag": "daily"},
		"content":  map[string]any{"kind": "text", "text": "Morning {{first_name}}"},
		"schedule": map[string]any{"kind": "cron", "timezone": "UTC", "cron": "0 9 * * *"},
	})
	day := func(d int, hh, mm int) time.Time { return time.Date(2026, 5, 4+d, hh, mm, 0, 0, time.UTC) }
	occurrences := func() map[string]string {
		out := map[string]string{}
		tenantDo(t, r.conn, r.cr.ID, func(tx pgx.Tx) error {
			rows, err := tx.Query(context.Background(), `SELECT scheduled_at, status FROM campaign_occurrences WHERE campaign_id = $1`, camp)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var at time.Time
				var st string
				if err := rows.Scan(&at, &st); err != nil {
					return err
				}
				out[at.UTC().Format("01-02T15:04")] = st
			}
			return rows.Err()
		})
		return out
	}

	r.clk.Set(day(0, 9, 1))
	r.waitBodies(t, ana, "Morning Ana")
	r.waitBodies(t, ben, "Morning Ben")
	require.Empty(t, r.bodies(t, other), "not in the audience")

	// Paused at noon, resumed three days later at 09:30.
	var st struct {
		Status         string     `json:"status"`
		NextOccurrence *time.Time `json:"next_occurrence"`
	}
	r.clk.Set(day(0, 12, 0))
	r.ok(t, "POST", "/api/v1/campaigns/"+camp.String()+"/pause", nil, &st)
	require.Equal(t, "paused", st.Status)
	for d := 1; d <= 3; d++ {
		r.clk.Set(day(d, 9, 1))
		r.settle(t, ana, "Morning Ana")
	}
	r.clk.Set(day(3, 9, 30))
	r.ok(t, "POST", "/api/v1/campaigns/"+camp.String()+"/resume", nil, &st)
	require.Equal(t, "active", st.Status)
	testenv.Eventually(t, 30*time.Second, func() bool { return occurrences()["05-05T09:00"] == "missed" }, "the overdue occurrence missed (%v)", occurrences())
	r.settle(t, ana, "Morning Ana")
	r.settle(t, ben, "Morning Ben")
	testenv.Eventually(t, 30*time.Second, func() bool { return occurrences()["05-08T09:00"] == "pending" }, "the schedule goes on from now (%v)", occurrences())
	require.Len(t, occurrences(), 3, "no replay of the paused days: %v", occurrences())

	// Edited before day 4: new text at 09:30; nothing at 09:00.
	r.clk.Set(day(3, 12, 0))
	r.ok(t, "PATCH", "/api/v1/campaigns/"+camp.String(), map[string]any{
		"name": "daily v2", "audience": map[string]any{"tag": "daily"},
		"content":  map[string]any{"kind": "text", "text": "Good morning {{first_name}}, v2"},
		"schedule": map[string]any{"kind": "cron", "timezone": "UTC", "cron": "30 9 * * *"},
	}, &st)
	require.Equal(t, day(4, 9, 30), st.NextOccurrence.UTC())
	r.clk.Set(day(4, 9, 1))
	r.settle(t, ana, "Morning Ana")
	r.clk.Set(day(4, 9, 31))
	r.waitBodies(t, ana, "Morning Ana", "Good morning Ana, v2")
	r.waitBodies(t, ben, "Morning Ben", "Good morning Ben, v2")
	_, stray := occurrences()["05-08T09:00"]
	require.False(t, stray, "the old schedule's occurrence is gone: %v", occurrences())

	// Cancelled: nothing more, and it cannot be resumed or edited.
	r.ok(t, "POST", "/api/v1/campaigns/"+camp.String()+"/cancel", nil, &st)
	require.Equal(t, "cancelled", st.Status)
	r.clk.Set(day(5, 9, 31))
	r.settle(t, ana, "Morning Ana", "Good morning Ana, v2")
	require.Equal(t, http.StatusConflict, r.do(t, "POST", "/api/v1/campaigns/"+camp.String()+"/resume", nil, nil))
	require.Equal(t, "sent/", r.decision(t, camp, ana))

	// A one-off in the past is a 400, not a campaign that silently completes.
	require.Equal(t, http.StatusBadRequest, r.do(t, "POST", "/api/v1/campaigns", onceCampaign("late", "daily", "Hi", day(5, 8, 0)), nil))
}

// TestNudgeLocalTimeAcrossDateLine: "10:00 in each recipient's local time" for people on both
// sides of the date line and in between. Each gets it at their own 10:00 (the others are held
// until theirs); a pause while someone is still waiting holds them until the resume, which
// sends it; everyone gets exactly one message for the day.
func TestNudgeLocalTimeAcrossDateLine(t *testing.T) {
	t.Parallel()
	// 2026-06-10 10:00 at UTC+14 (Kiritimati) is 2026-06-09 20:00 UTC.
	t0 := time.Date(2026, 6, 9, 19, 0, 0, 0, time.UTC)
	r := newClockRig(t, t0)
	tenantExec(t, r.conn, r.cr.ID, `UPDATE creators SET timezone = 'UTC', quiet_start = 0, quiet_end = 0 WHERE id = $1`, r.cr.ID)
	kiri := r.person(t, "Kiri", "Pacific/Kiritimati", "local") // UTC+14
	paris := r.person(t, "Paul", "Europe/Paris", "local")      // UTC+2 in June
	pago := r.person(t, "Pago", "Pacific/Pago_Pago", "local")  // UTC-11
	camp := createCampaign(t, r.c, r.cr, map[string]any{
		"name": "local ten", "audience": map[string]any{"tag": "local"},
		"content":  map[string]any{"kind": "text", "text": "10:00 your time, {{first_name}}"},
		"schedule": map[string]any{"kind": "local", "start": "2026-06-10", "local_time": "10:00"},
	})
	msg := func(n string) string { return "10:00 your time, " + n }

	r.clk.Set(time.Date(2026, 6, 9, 20, 1, 0, 0, time.UTC)) // 10:01 at Kiritimati
	r.waitBodies(t, kiri, msg("Kiri"))
	testenv.Eventually(t, 30*time.Second, func() bool {
		return r.decision(t, camp, paris) == "held/local_time" && r.decision(t, camp, pago) == "held/local_time"
	}, "the others held until their own 10:00")
	require.Empty(t, r.bodies(t, paris))

	r.ok(t, "POST", "/api/v1/campaigns/"+camp.String()+"/pause", nil, nil)
	r.clk.Set(time.Date(2026, 6, 10, 8, 1, 0, 0, time.UTC)) // 10:01 in Paris, paused
	testenv.Eventually(t, 30*time.Second, func() bool { return r.decision(t, camp, paris) == "held/paused" }, "held by the pause")
	r.settle(t, paris)

	r.clk.Set(time.Date(2026, 6, 10, 9, 0, 0, 0, time.UTC))
	r.ok(t, "POST", "/api/v1/campaigns/"+camp.String()+"/resume", nil, nil)
	r.waitBodies(t, paris, msg("Paul"))
	require.Equal(t, "held/local_time", r.decision(t, camp, pago), "Pago's 10:00 has not come")

	r.clk.Set(time.Date(2026, 6, 10, 21, 1, 0, 0, time.UTC)) // 10:01 in Pago Pago
	r.waitBodies(t, pago, msg("Pago"))
	r.settle(t, kiri, msg("Kiri"))
	r.settle(t, paris, msg("Paul"))
}

// TestNudgeProgramLifecycle runs a program over simulated weeks: a reply branches one person
// forward past two steps (on_reply goto), a step due in quiet hours is held and then sent with
// its own text, the creator pauses and resumes one enrollment (its remaining steps shift by the
// pause), and pausing the program stops everyone until it is resumed.
func TestNudgeProgramLifecycle(t *testing.T) {
	// Not parallel: at day 12 13:01 it expects Sil's day-12 step (due 10:00) not sent yet, which
	// holds only while the scheduler is slower than the test's next look; under the load of the
	// parallel tests it failed once (make test, 2026-12-05).
	t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	r := newClockRig(t, t0)
	tenantExec(t, r.conn, r.cr.ID, `UPDATE creators SET timezone = 'UTC', quiet_start = 1320, quiet_end = 420,
		nudge_cap_day = 5 WHERE id = $1`, r.cr.ID) // quiet 22:00-07:00
	replier, silent, pauser := r.person(t, "Rae", "UTC", "p"), r.person(t, "Sil", "UTC", "p"), r.person(t, "Pat", "UTC", "p")
	text := func(s string) map[string]any { return map[string]any{"kind": "text", "text": s} }
	var prog struct {
		ID uuid.UUID `json:"id"`
	}
	steps := []map[string]any{
		{"day": 0, "content": text("Welcome")},
		{"day": 7, "content": text("How was week one?")},
		{"day": 10, "content": text("Still there? An easier plan"), "on_reply": "goto:4"},
		{"day": 12, "content": text("Easier plan, part two")},
		{"day": 14, "content": text("Next level")},
		{"day": 21, "at": "06:30", "content": text("Early check-in")},
	}
	require.Equal(t, http.StatusBadRequest, r.do(t, "POST", "/api/v1/programs", map[string]any{"name": "loop",
		"steps": []map[string]any{{"day": 0, "content": text("a")}, {"day": 1, "content": text("b"), "on_reply": "goto:0"}}}, nil),
		"a branch backwards is refused")
	r.ok(t, "POST", "/api/v1/programs", map[string]any{"name": "six steps", "steps": steps}, &prog)
	enrollment := map[uuid.UUID]uuid.UUID{}
	for _, id := range []uuid.UUID{replier, silent, pauser} {
		var e struct {
			ID uuid.UUID `json:"id"`
		}
		r.ok(t, "POST", fmt.Sprintf("/api/v1/programs/%s/enrollments", prog.ID), map[string]any{"end_user_id": id}, &e)
		enrollment[id] = e.ID
	}
	at := func(d int, clock time.Duration) time.Time {
		return t0.Truncate(24*time.Hour).AddDate(0, 0, d).Add(clock)
	}
	enr := func(eu uuid.UUID, action string) {
		t.Helper()
		r.ok(t, "POST", fmt.Sprintf("/api/v1/programs/%s/enrollments/%s/%s", prog.ID, enrollment[eu], action), nil, nil)
	}
	nextAt := func(eu uuid.UUID) time.Time {
		var ts time.Time
		tenantDo(t, r.conn, r.cr.ID, func(tx pgx.Tx) error {
			return tx.QueryRow(context.Background(), `SELECT next_at FROM program_enrollments WHERE id = $1`, enrollment[eu]).Scan(&ts)
		})
		return ts.UTC()
	}

	r.waitBodies(t, replier, "Welcome")
	r.waitBodies(t, silent, "Welcome")
	r.waitBodies(t, pauser, "Welcome")
	r.clk.Set(at(7, 10*time.Hour+time.Minute))
	for _, eu := range []uuid.UUID{replier, silent, pauser} {
		r.waitBodies(t, eu, "Welcome", "How was week one?")
	}
	// Day 8: Rae replies (created_at is database time: set explicitly); Pat's enrollment is paused.
	tenantExec(t, r.conn, r.cr.ID, `INSERT INTO conversations (id, creator_id, end_user_id, channel) VALUES (gen_random_uuid(), $1, $2, 'widget')
		ON CONFLICT DO NOTHING`, r.cr.ID, replier)
	tenantExec(t, r.conn, r.cr.ID, `INSERT INTO messages (id, creator_id, conversation_id, role, body, channel, created_at)
		SELECT gen_random_uuid(), $1, c.id, 'user', 'Going well!', c.channel, $3 FROM conversations c WHERE c.end_user_id = $2`,
		r.cr.ID, replier, at(8, 12*time.Hour))
	r.clk.Set(at(8, 13*time.Hour))
	enr(pauser, "pause")

	// Day 10: Sil gets the easier plan; Rae's reply branches to "Next level" at its own day 14.
	r.clk.Set(at(10, 10*time.Hour+time.Minute))
	r.waitBodies(t, silent, "Welcome", "How was week one?", "Still there? An easier plan")
	testenv.Eventually(t, 30*time.Second, func() bool { return nextAt(replier).Equal(at(14, 10*time.Hour)) }, "Rae branched to step 4 at day 14")
	r.settle(t, replier, "Welcome", "How was week one?")
	r.settle(t, pauser, "Welcome", "How was week one?")

	// Day 12, 13:00: Pat resumed after four days paused: step 2 (day 10) now falls on day 14.
	r.clk.Set(at(12, 13*time.Hour))
	enr(pauser, "resume")
	require.Equal(t, at(14, 10*time.Hour), nextAt(pauser), "the timeline moved on by the pause")
	r.clk.Set(at(12, 13*time.Hour+time.Minute))
	r.waitBodies(t, silent, "Welcome", "How was week one?", "Still there? An easier plan")
	r.clk.Set(at(12, 14*time.Hour)) // Sil's day 12 step was due at 10:00
	r.waitBodies(t, silent, "Welcome", "How was week one?", "Still there? An easier plan", "Easier plan, part two")

	r.clk.Set(at(14, 10*time.Hour+time.Minute))
	r.waitBodies(t, replier, "Welcome", "How was week one?", "Next level")
	r.waitBodies(t, silent, "Welcome", "How was week one?", "Still there? An easier plan", "Easier plan, part two", "Next level")
	r.waitBodies(t, pauser, "Welcome", "How was week one?", "Still there? An easier plan")

	// The program is paused for a day: nothing is sent, then everyone's clock moves on a day.
	r.clk.Set(at(20, 12*time.Hour))
	r.ok(t, "POST", fmt.Sprintf("/api/v1/programs/%s/pause", prog.ID), nil, nil)
	r.clk.Set(at(21, 12*time.Hour))
	r.settle(t, replier, "Welcome", "How was week one?", "Next level")
	r.ok(t, "POST", fmt.Sprintf("/api/v1/programs/%s/resume", prog.ID), nil, nil)
	require.Equal(t, at(22, 6*time.Hour+30*time.Minute), nextAt(replier), "day 21 at 06:30 moved a day on")

	// Day 22, 06:31: in quiet hours (until 07:00): held, then sent at 07:00 with its own text.
	r.clk.Set(at(22, 6*time.Hour+31*time.Minute))
	testenv.Eventually(t, 30*time.Second, func() bool {
		return countRows(t, r.conn, r.cr.ID, `SELECT count(*) FROM nudge_deliveries WHERE end_user_id = $1 AND status = 'held' AND reason = 'quiet_hours' AND step = 5`, replier) == 1
	}, "the early step held by quiet hours")
	r.settle(t, replier, "Welcome", "How was week one?", "Next level")
	// The program is paused while the step is held: when quiet hours end it stays held, for the
	// pause now, and goes out when the program is resumed.
	r.clk.Set(at(22, 6*time.Hour+40*time.Minute))
	r.ok(t, "POST", fmt.Sprintf("/api/v1/programs/%s/pause", prog.ID), nil, nil)
	r.clk.Set(at(22, 7*time.Hour+time.Minute))
	testenv.Eventually(t, 30*time.Second, func() bool {
		return countRows(t, r.conn, r.cr.ID, `SELECT count(*) FROM nudge_deliveries WHERE end_user_id = $1 AND status = 'held' AND reason = 'paused' AND step = 5`, replier) == 1
	}, "held again, by the program's pause")
	r.settle(t, replier, "Welcome", "How was week one?", "Next level")
	r.clk.Set(at(22, 8*time.Hour))
	r.ok(t, "POST", fmt.Sprintf("/api/v1/programs/%s/resume", prog.ID), nil, nil)
	r.waitBodies(t, replier, "Welcome", "How was week one?", "Next level", "Early check-in")
	r.waitBodies(t, silent, "Welcome", "How was week one?", "Still there? An easier plan", "Easier plan, part two", "Next level", "Early check-in")
	testenv.Eventually(t, 30*time.Second, func() bool {
		return countRows(t, r.conn, r.cr.ID, `SELECT count(*) FROM program_enrollments WHERE id = $1 AND status = 'completed'`, enrollment[replier]) == 1
	}, "Rae completed")
}

// TestNudgeAudienceFilters: the audience filters, alone and combined, select exactly the
// people they say, as the dry run shows.
func TestNudgeAudienceFilters(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)
	r := newClockRig(t, t0)
	set := func(id uuid.UUID, tags []string, lastSeen, joined time.Time) {
		tenantExec(t, r.conn, r.cr.ID, `UPDATE end_users SET tags = $2, last_seen_at = $3, created_at = $4 WHERE id = $1`, id, tags, lastSeen, joined)
	}
	day := 24 * time.Hour
	ana, bob, cat, dan := r.person(t, "Ana", "UTC", "x"), r.person(t, "Bob", "UTC", "x"), r.person(t, "Cat", "UTC", "x"), r.person(t, "Dan", "UTC", "x")
	set(ana, []string{"vip", "coached"}, t0.Add(-day), t0.Add(-90*day))
	set(bob, []string{"vip"}, t0.Add(-40*day), t0.Add(-90*day))
	set(cat, []string{"trial"}, t0.Add(-2*day), t0.Add(-3*day))
	set(dan, []string{"vip", "churned"}, t0.Add(-3*day), t0.Add(-60*day))
	var prog struct {
		ID uuid.UUID `json:"id"`
	}
	r.ok(t, "POST", "/api/v1/programs", map[string]any{"name": "trial program",
		"steps": []map[string]any{{"day": 30, "content": map[string]any{"kind": "text", "text": "later"}}}}, &prog)
	r.ok(t, "POST", fmt.Sprintf("/api/v1/programs/%s/enrollments", prog.ID), map[string]any{"end_user_id": cat}, nil)

	audience := func(aud map[string]any) []string {
		t.Helper()
		camp := createCampaign(t, r.c, r.cr, map[string]any{"name": "filters", "audience": aud,
			"content":  map[string]any{"kind": "text", "text": "Hi {{first_name}}"},
			"schedule": map[string]any{"kind": "once", "at": t0.Add(time.Hour).Format(time.RFC3339)}})
		var prev struct {
			Recipients []struct {
				Name string `json:"name"`
			} `json:"recipients"`
		}
		r.ok(t, "POST", "/api/v1/campaigns/"+camp.String()+"/preview", nil, &prev)
		r.ok(t, "POST", "/api/v1/campaigns/"+camp.String()+"/cancel", nil, nil)
		names := []string{}
		for _, p := range prev.Recipients {
			names = append(names, p.Name)
		}
		slices.Sort(names)
		return names
	}
	for _, c := range []struct {
		aud  map[string]any
		want []string
	}{
		{map[string]any{"all": true}, []string{"Ana", "Bob", "Cat", "Dan"}},
		{map[string]any{"tag": "vip"}, []string{"Ana", "Bob", "Dan"}},
		{map[string]any{"tags": []string{"vip"}, "exclude_tags": []string{"churned"}}, []string{"Ana", "Bob"}},
		{map[string]any{"tags": []string{"vip", "coached"}}, []string{"Ana"}},
		{map[string]any{"any_tags": []string{"trial", "coached"}}, []string{"Ana", "Cat"}},
		{map[string]any{"inactive_days": 30}, []string{"Bob"}},
		{map[string]any{"active_within_days": 7, "tag": "vip"}, []string{"Ana", "Dan"}},
		{map[string]any{"joined_after": t0.Add(-10 * day).Format(time.RFC3339)}, []string{"Cat"}},
		{map[string]any{"program_id": prog.ID}, []string{"Cat"}},
		{map[string]any{"program_id": prog.ID, "tag": "vip"}, []string{}},
		{map[string]any{"channel": "telegram"}, []string{}},
	} {
		require.Equal(t, c.want, audience(c.aud), "audience %v", c.aud)
	}
	require.Equal(t, http.StatusBadRequest, r.do(t, "POST", "/api/v1/campaigns", map[string]any{"name": "none", "audience": map[string]any{},
		"content": map[string]any{"kind": "text", "text": "x"}, "schedule": map[string]any{"kind": "once", "at": t0.Add(time.Hour)}}, nil),
		"an audience without any filter (or all) is refused")
}
