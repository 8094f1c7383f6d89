package app_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"syscall"
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

// ownerConn connects as the schema owner; tenantDo runs SQL inside one creator's tenant.
func ownerConn(t testing.TB, h *harness) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), h.db.OwnerURL)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func tenantDo(t testing.TB, conn *pgx.Conn, creator uuid.UUID, fn func(tx pgx.Tx) error) {
	t.Helper()
	ctx := context.Background()
	tx, err := conn.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx) //nolint:errcheck
	_, err = tx.Exec(ctx, "SELECT set_config('app.creator_id', $1, true)", creator.String())
	require.NoError(t, err)
	require.NoError(t, fn(tx))
	require.NoError(t, tx.Commit(ctx))
}

func tenantExec(t testing.TB, conn *pgx.Conn, creator uuid.UUID, sql string, args ...any) {
	t.Helper()
	tenantDo(t, conn, creator, func(tx pgx.Tx) error { _, err := tx.Exec(context.Background(), sql, args...); return err })
}

// seedEndUsers inserts n widget end users of creator in one statement.
func seedEndUsers(t testing.TB, conn *pgx.Conn, creator uuid.UUID, n int, tag string) {
	t.Helper()
	tenantExec(t, conn, creator, `
		INSERT INTO end_users (id, creator_id, channel, external_id, display_name, tags)
		SELECT gen_random_uuid(), $1, 'widget', 'seed-' || $3 || '-' || g, 'Person ' || g, ARRAY[$3]
		FROM generate_series(1, $2) g`, creator, n, tag)
}

func countRows(t testing.TB, conn *pgx.Conn, creator uuid.UUID, sql string, args ...any) int {
	t.Helper()
	var n int
	tenantDo(t, conn, creator, func(tx pgx.Tx) error { return tx.QueryRow(context.Background(), sql, args...).Scan(&n) })
	return n
}

// TestNudgeThreeReplicasExactlyOnce runs a campaign with three nudge replicas at once: every
// recipient gets exactly one message for the occurrence, with one decision each; the stats
// count them.
func TestNudgeThreeReplicasExactlyOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, ollamatest.Options{})
	gw := h.start(h.config(config.TargetGateway))
	for range 3 {
		cfg := h.config(config.TargetNudge)
		cfg.Nudge = config.Nudge{Tick: 100 * time.Millisecond, Page: 250, Lease: 5 * time.Second}
		h.start(cfg)
	}
	c := testenv.NewClient(gw.URL)
	cr := c.Register(t)
	conn := ownerConn(t, h)
	const n = 3000
	seedEndUsers(t, conn, cr.ID, n, "vip")
	seedEndUsers(t, conn, cr.ID, 50, "other")
	tenantExec(t, conn, cr.ID, `UPDATE creators SET quiet_start = 0, quiet_end = 0 WHERE id = $1`, cr.ID)

	at := time.Now().Add(2 * time.Second).UTC()
	var camp struct {
		ID     uuid.UUID `json:"id"`
		Status string    `json:"status"`
	}
	st, body, err := c.Do(context.Background(), "POST", "/api/v1/campaigns", cr.AccessToken, map[string]any{
		"name":     "check-in",
		"audience": map[string]any{"tag": "vip"},
		"content":  map[string]any{"kind": "text", "text": "Hi {{first_name}}, how is your week going?"},
		"schedule": map[string]any{"kind": "once", "at": at.Format(time.RFC3339Nano)},
	}, &camp)
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, st, string(body))

	// Dry run before it fires.
	var prev struct {
		Recipients []struct {
			Outcome, Text string
		} `json:"recipients"`
		NextAfter *uuid.UUID `json:"next_after"`
	}
	st, body, err = c.Do(context.Background(), "POST", fmt.Sprintf("/api/v1/campaigns/%s/preview?limit=10", camp.ID), cr.AccessToken, nil, &prev)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, st, string(body))
	require.Len(t, prev.Recipients, 10)
	require.NotNil(t, prev.NextAfter)
	require.Equal(t, "sent", prev.Recipients[0].Outcome)
	require.Contains(t, prev.Recipients[0].Text, "Hi Person")

	start := time.Now()
	testenv.Eventually(t, 90*time.Second, func() bool {
		return countRows(t, conn, cr.ID, `SELECT count(*) FROM nudge_deliveries WHERE campaign_id = $1`, camp.ID) == n
	}, "every recipient decided")
	t.Logf("%d recipients decided by 3 replicas in %s after the due time", n, time.Since(start)-time.Until(at))
	require.Equal(t, n, countRows(t, conn, cr.ID, `SELECT count(*) FROM nudge_deliveries WHERE campaign_id = $1 AND status = 'sent'`, camp.ID))
	require.Equal(t, n, countRows(t, conn, cr.ID, `SELECT count(*) FROM messages m JOIN nudge_deliveries d ON d.message_id = m.id WHERE d.campaign_id = $1`, camp.ID))
	require.Equal(t, 0, countRows(t, conn, cr.ID, `SELECT count(*) FROM (SELECT c.end_user_id FROM messages m JOIN conversations c ON c.id = m.conversation_id
		WHERE m.creator_id = $1 AND m.role = 'assistant' GROUP BY c.end_user_id HAVING count(*) > 1) x`, cr.ID), "nobody got two messages")
	require.Equal(t, n, countRows(t, conn, cr.ID, `SELECT targeted FROM campaign_occurrences WHERE campaign_id = $1`, camp.ID))

	var stats map[string]any
	st, body, err = c.Do(context.Background(), "GET", fmt.Sprintf("/api/v1/campaigns/%s/stats", camp.ID), cr.AccessToken, nil, &stats)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, st, string(body))
	require.EqualValues(t, n, stats["sent"])
	require.EqualValues(t, n, stats["targeted"])
	testenv.Eventually(t, 30*time.Second, func() bool { // campaign completed after its one occurrence
		return countRows(t, conn, cr.ID, `SELECT count(*) FROM campaigns WHERE id = $1 AND status = 'completed'`, camp.ID) == 1
	}, "campaign completed")
}

// createCampaign creates a campaign through the API and returns its id.
func createCampaign(t testing.TB, c *testenv.Client, cr testenv.Creator, body map[string]any) uuid.UUID {
	t.Helper()
	var camp struct {
		ID uuid.UUID `json:"id"`
	}
	st, raw, err := c.Do(context.Background(), "POST", "/api/v1/campaigns", cr.AccessToken, body, &camp)
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, st, string(raw))
	return camp.ID
}

func onceCampaign(name, tag, text string, at time.Time) map[string]any {
	return map[string]any{
		"name":     name,
		"audience": map[string]any{"tag": tag},
		"content":  map[string]any{"kind": "text", "text": text},
		"schedule": map[string]any{"kind": "once", "at": at.UTC().Format(time.RFC3339Nano)},
	}
}

// TestNudgeKilledMidExpansion kills -9 the nudge process that is expanding a campaign's
// audience while a second nudge replica runs: the survivor takes the occurrence over after the
// lease and resumes from the recorded cursor, and the recipients the dead process had claimed
// are redelivered to it; every recipient gets exactly one message.
func TestNudgeKilledMidExpansion(t *testing.T) {
	t.Parallel()
	h := newHarness(t, ollamatest.Options{})
	gw := h.start(h.config(config.TargetGateway))
	nudgeEnv := func() []string {
		return h.env(t.TempDir(), "COACHWIRE_TARGET=nudge", "COACHWIRE_NUDGE_TICK=100ms", "COACHWIRE_NUDGE_PAGE=10",
			"COACHWIRE_NUDGE_LEASE=3s")
	}
	a := startProc(t, "nudge-a", nudgeEnv())
	c := testenv.NewClient(gw.URL)
	cr := c.Register(t)
	conn := ownerConn(t, h)
	const n = 6000
	seedEndUsers(t, conn, cr.ID, n, "k")
	tenantExec(t, conn, cr.ID, `UPDATE creators SET quiet_start = 0, quiet_end = 0 WHERE id = $1`, cr.ID)
	camp := createCampaign(t, c, cr, onceCampaign("kill", "k", "Hello {{first_name}}", time.Now().Add(2*time.Second)))

	targeted := func() int {
		return countRows(t, conn, cr.ID, `SELECT COALESCE(sum(targeted), 0)::int FROM campaign_occurrences WHERE campaign_id = $1`, camp)
	}
	testenv.Eventually(t, 60*time.Second, func() bool { return targeted() > 0 }, "expansion to start")
	b := startProc(t, "nudge-b", nudgeEnv())
	testenv.Eventually(t, 60*time.Second, func() bool { return strings.Contains(b.output(), "coachwire running") }, "replica b to run")
	at := targeted()
	a.kill(syscall.SIGKILL)
	require.Less(t, at, n, "the campaign was still being expanded when the process died")
	t.Logf("killed the expanding process after %d of %d recipients were published", at, n)

	testenv.Eventually(t, 180*time.Second, func() bool {
		return countRows(t, conn, cr.ID, `SELECT count(*) FROM nudge_deliveries WHERE campaign_id = $1`, camp) == n
	}, "every recipient decided")
	require.Equal(t, n, countRows(t, conn, cr.ID, `SELECT count(*) FROM nudge_deliveries WHERE campaign_id = $1 AND status = 'sent'`, camp))
	require.Equal(t, n, targeted(), "the survivor resumed from the cursor: nobody published twice into the count")
	require.Equal(t, n, countRows(t, conn, cr.ID, `SELECT count(*) FROM messages WHERE creator_id = $1 AND role = 'assistant'`, cr.ID))
	require.Equal(t, 0, countRows(t, conn, cr.ID, `SELECT count(*) FROM (SELECT c.end_user_id FROM messages m JOIN conversations c ON c.id = m.conversation_id
		WHERE m.creator_id = $1 AND m.role = 'assistant' GROUP BY c.end_user_id HAVING count(*) > 1) x`, cr.ID), "nobody got two messages")
	testenv.Eventually(t, 30*time.Second, func() bool { return outboundPublished(t, h.natsURL, cr.ID) >= n }, "every message handed to dispatch")
	require.Equal(t, n, outboundPublished(t, h.natsURL, cr.ID), "one outbound event per recipient")
}

// TestNudgeOptOutWhileHeld: a campaign's recipients are held by quiet hours; one person opts
// out meanwhile; when the window opens everyone else gets the message and that person is
// skipped as opted out.
func TestNudgeOptOutWhileHeld(t *testing.T) {
	t.Parallel()
	h := newHarness(t, ollamatest.Options{})
	gw := h.start(h.config(config.TargetGateway))
	cfg := h.config(config.TargetNudge)
	cfg.Nudge = config.Nudge{Tick: 100 * time.Millisecond, Page: 50, Lease: 5 * time.Second}
	h.start(cfg)
	c := testenv.NewClient(gw.URL)
	cr := c.Register(t)
	conn := ownerConn(t, h)
	const n = 20
	seedEndUsers(t, conn, cr.ID, n, "q")
	now := time.Now().UTC()
	minute := now.Hour()*60 + now.Minute()
	tenantExec(t, conn, cr.ID, `UPDATE creators SET timezone = 'UTC', quiet_start = $2, quiet_end = $3 WHERE id = $1`,
		cr.ID, (minute+1440-30)%1440, (minute+120)%1440)
	camp := createCampaign(t, c, cr, onceCampaign("quiet", "q", "Morning {{first_name}}", now.Add(time.Second)))

	testenv.Eventually(t, 60*time.Second, func() bool {
		return countRows(t, conn, cr.ID, `SELECT count(*) FROM nudge_deliveries WHERE campaign_id = $1 AND status = 'held' AND reason = 'quiet_hours'`, camp) == n
	}, "every recipient held by quiet hours")
	require.Equal(t, 0, countRows(t, conn, cr.ID, `SELECT count(*) FROM messages WHERE creator_id = $1`, cr.ID))

	// The person opts out while held (as STOP does), then the quiet window ends.
	tenantExec(t, conn, cr.ID, `UPDATE end_users SET opted_out_at = now() WHERE external_id = 'seed-q-1'`)
	tenantExec(t, conn, cr.ID, `UPDATE creators SET quiet_start = 0, quiet_end = 0 WHERE id = $1`, cr.ID)
	tenantExec(t, conn, cr.ID, `UPDATE nudge_deliveries SET hold_until = now() - interval '1 second' WHERE campaign_id = $1 AND status = 'held'`, camp)

	testenv.Eventually(t, 60*time.Second, func() bool {
		return countRows(t, conn, cr.ID, `SELECT count(*) FROM nudge_deliveries WHERE campaign_id = $1 AND status <> 'held'`, camp) == n
	}, "every held recipient decided again")
	require.Equal(t, n-1, countRows(t, conn, cr.ID, `SELECT count(*) FROM nudge_deliveries WHERE campaign_id = $1 AND status = 'sent'`, camp))
	require.Equal(t, 1, countRows(t, conn, cr.ID, `SELECT count(*) FROM nudge_deliveries d JOIN end_users e ON e.id = d.end_user_id
		WHERE d.campaign_id = $1 AND d.status = 'skipped' AND d.reason = 'opted_out' AND e.external_id = 'seed-q-1'`, camp))
	require.Equal(t, 0, countRows(t, conn, cr.ID, `SELECT count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id
		JOIN end_users e ON e.id = c.end_user_id WHERE e.external_id = 'seed-q-1' AND m.role = 'assistant'`))
	require.Equal(t, n-1, countRows(t, conn, cr.ID, `SELECT count(*) FROM messages WHERE creator_id = $1 AND role = 'assistant'`, cr.ID))
}

// TestNudgeCapAcrossCampaigns: two campaigns reach the same people at once under a daily cap
// of 1: each person gets exactly one message, the other decision is skipped as capped.
func TestNudgeCapAcrossCampaigns(t *testing.T) {
	t.Parallel()
	h := newHarness(t, ollamatest.Options{})
	gw := h.start(h.config(config.TargetGateway))
	for range 2 {
		cfg := h.config(config.TargetNudge)
		cfg.Nudge = config.Nudge{Tick: 100 * time.Millisecond, Page: 25, Lease: 5 * time.Second}
		h.start(cfg)
	}
	c := testenv.NewClient(gw.URL)
	cr := c.Register(t)
	conn := ownerConn(t, h)
	const n = 200
	seedEndUsers(t, conn, cr.ID, n, "cap")
	tenantExec(t, conn, cr.ID, `UPDATE creators SET quiet_start = 0, quiet_end = 0, nudge_cap_day = 1, nudge_cap_week = 7 WHERE id = $1`, cr.ID)
	at := time.Now().Add(2 * time.Second)
	c1 := createCampaign(t, c, cr, onceCampaign("first", "cap", "One {{first_name}}", at))
	c2 := createCampaign(t, c, cr, onceCampaign("second", "cap", "Two {{first_name}}", at))

	testenv.Eventually(t, 90*time.Second, func() bool {
		return countRows(t, conn, cr.ID, `SELECT count(*) FROM nudge_deliveries WHERE campaign_id IN ($1, $2)`, c1, c2) == 2*n
	}, "both campaigns decided for everyone")
	require.Equal(t, n, countRows(t, conn, cr.ID, `SELECT count(*) FROM nudge_deliveries WHERE campaign_id IN ($1, $2) AND status = 'sent'`, c1, c2))
	require.Equal(t, n, countRows(t, conn, cr.ID, `SELECT count(*) FROM nudge_deliveries WHERE campaign_id IN ($1, $2) AND status = 'skipped' AND reason = 'capped'`, c1, c2))
	require.Equal(t, 0, countRows(t, conn, cr.ID, `SELECT count(*) FROM (SELECT end_user_id FROM nudge_deliveries
		WHERE campaign_id IN ($1, $2) AND status = 'sent' GROUP BY end_user_id HAVING count(*) <> 1) x`, c1, c2), "each person exactly one")
	require.Equal(t, 0, countRows(t, conn, cr.ID, `SELECT count(*) FROM (SELECT c.end_user_id FROM messages m JOIN conversations c ON c.id = m.conversation_id
		WHERE m.creator_id = $1 AND m.role = 'assistant' GROUP BY c.end_user_id HAVING count(*) > 1) x`, cr.ID), "nobody got two messages")
	for _, id := range []uuid.UUID{c1, c2} {
		var reasons map[string]any
		st, raw, err := c.Do(context.Background(), "GET", fmt.Sprintf("/api/v1/campaigns/%s/stats", id), cr.AccessToken, nil, &reasons)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, st, string(raw))
		t.Logf("campaign %s stats: %s", id, raw)
	}
}

// fakeNow is a settable clock shared by the processes of a test.
type fakeNow struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeNow) Now() time.Time  { f.mu.Lock(); defer f.mu.Unlock(); return f.t }
func (f *fakeNow) Set(t time.Time) { f.mu.Lock(); f.t = t; f.mu.Unlock() }

// TestNudgeProgramBranchOnReply runs a four-week drip program over simulated weeks with a fake
// clock. Two people are enrolled; one replies after the week-one check-in. The reminder
// (only_if_no_reply) goes only to the silent one; at week three the reply pauses the other's
// enrollment (on_reply: pause) while the silent one gets week three and completes.
func TestNudgeProgramBranchOnReply(t *testing.T) {
	t.Parallel()
	h := newHarness(t, ollamatest.Options{})
	t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	clk := &fakeNow{t: t0}
	cfg := h.config(config.TargetGateway, config.TargetNudge)
	cfg.Nudge = config.Nudge{Tick: 50 * time.Millisecond, Page: 50, Lease: 5 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a, err := app.Start(ctx, cfg, app.Options{Log: testenv.Logger(t), Now: clk.Now})
	require.NoError(t, err)
	t.Cleanup(a.Stop)
	c := testenv.NewClient(a.URL)
	cr := c.Register(t)
	conn := ownerConn(t, h)
	seedEndUsers(t, conn, cr.ID, 2, "p")
	tenantExec(t, conn, cr.ID, `UPDATE creators SET timezone = 'UTC', quiet_start = 0, quiet_end = 0 WHERE id = $1`, cr.ID)
	userID := func(ext string) uuid.UUID {
		var id uuid.UUID
		tenantDo(t, conn, cr.ID, func(tx pgx.Tx) error {
			return tx.QueryRow(context.Background(), `SELECT id FROM end_users WHERE external_id = $1`, ext).Scan(&id)
		})
		return id
	}
	replier, silent := userID("seed-p-1"), userID("seed-p-2")

	text := func(s string) map[string]any { return map[string]any{"kind": "text", "text": s} }
	var prog struct {
		ID uuid.UUID `json:"id"`
	}
	st, raw, err := c.Do(context.Background(), "POST", "/api/v1/programs", cr.AccessToken, map[string]any{
		"name": "four weeks",
		"steps": []map[string]any{
			{"day": 0, "content": text("Welcome {{first_name}}")},
			{"day": 7, "content": text("How was week one?")},
			{"day": 14, "content": text("A gentle reminder"), "only_if_no_reply": true},
			{"day": 21, "content": text("Week three"), "on_reply": "pause"},
		},
	}, &prog)
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, st, string(raw))
	for _, id := range []uuid.UUID{replier, silent} {
		st, raw, err := c.Do(context.Background(), "POST", fmt.Sprintf("/api/v1/programs/%s/enrollments", prog.ID), cr.AccessToken,
			map[string]any{"end_user_id": id}, nil)
		require.NoError(t, err)
		require.Contains(t, []int{http.StatusOK, http.StatusCreated}, st, string(raw))
	}

	bodies := func(eu uuid.UUID) []string {
		var out []string
		tenantDo(t, conn, cr.ID, func(tx pgx.Tx) error {
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
	waitSent := func(eu uuid.UUID, n int) {
		t.Helper()
		testenv.Eventually(t, 30*time.Second, func() bool { return len(bodies(eu)) == n }, "%d messages to %s", n, eu)
	}
	status := func(eu uuid.UUID) string {
		var s string
		tenantDo(t, conn, cr.ID, func(tx pgx.Tx) error {
			return tx.QueryRow(context.Background(), `SELECT status FROM program_enrollments WHERE end_user_id = $1`, eu).Scan(&s)
		})
		return s
	}
	day := func(d int) time.Time { return t0.Add(time.Duration(d)*24*time.Hour + time.Minute) }

	waitSent(replier, 1)
	waitSent(silent, 1)
	clk.Set(day(7))
	waitSent(replier, 2)
	waitSent(silent, 2)

	// Day 8: the replier answers (messages.created_at is DB time: set explicitly).
	tenantExec(t, conn, cr.ID, `INSERT INTO messages (id, creator_id, conversation_id, role, body, channel, created_at)
		SELECT gen_random_uuid(), $1, c.id, 'user', 'It went well, thanks!', c.channel, $3 FROM conversations c WHERE c.end_user_id = $2`,
		cr.ID, replier, t0.Add(8*24*time.Hour))

	clk.Set(day(14))
	waitSent(silent, 3)
	testenv.Eventually(t, 30*time.Second, func() bool {
		return countRows(t, conn, cr.ID, `SELECT next_step FROM program_enrollments WHERE end_user_id = $1`, replier) == 3
	}, "the reminder skipped for the replier")
	require.Len(t, bodies(replier), 2, "no reminder to someone who replied")

	clk.Set(day(21))
	waitSent(silent, 4)
	testenv.Eventually(t, 30*time.Second, func() bool { return status(replier) == "paused" }, "the reply pauses the enrollment")
	testenv.Eventually(t, 30*time.Second, func() bool { return status(silent) == "completed" }, "the silent one completes")

	clk.Set(day(35)) // weeks later: nothing more for either
	time.Sleep(500 * time.Millisecond)
	require.Equal(t, []string{"Welcome Person", "How was week one?"}, bodies(replier))
	require.Equal(t, []string{"Welcome Person", "How was week one?", "A gentle reminder", "Week three"}, bodies(silent))
}
