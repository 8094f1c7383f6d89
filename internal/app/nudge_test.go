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
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

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
		// The dead replica's claimed recipients come back after the ack deadline: 10 s, not
		// the default minute.
		return h.env(t.TempDir(), "COACHWIRE_TARGET=nudge", "COACHWIRE_NUDGE_TICK=100ms", "COACHWIRE_NUDGE_PAGE=10",
			"COACHWIRE_NUDGE_LEASE=3s", "COACHWIRE_NUDGE_ACK_WAIT=10s")
	}
	a := startProc(t, "nudge-a", nudgeEnv())
	c := testenv.NewClient(gw.URL)
	cr := c.Register(t)
	conn := ownerConn(t, h)
	// Enough recipients that the expansion (a page of 10 per 100 ms tick) is still running when
	// replica b is up and a is killed (require.Less below), and few enough that the survivor
	// decides them all in seconds.
	const n = 2000
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
