package analytics_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/analytics"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/testenv"
)

// rawCampaignOccurrences is the campaign section's figure per occurrence computed from the
// raw rows (decisions, their sends, the people's opt-outs): the rule migration 0028's rollup
// keeps, one line per occurrence and figure.
const rawCampaignOccurrences = `
SELECT o.id::text, count(*) FILTER (WHERE n.status = 'sent'), count(*) FILTER (WHERE n.status = 'held'),
       count(*) FILTER (WHERE n.status = 'skipped'),
       count(s.message_id) FILTER (WHERE s.status IN ('delivered', 'read')), count(s.message_id) FILTER (WHERE s.status = 'read'),
       count(s.message_id) FILTER (WHERE s.status IN ('failed', 'window_closed')), count(s.message_id) FILTER (WHERE s.replied),
       count(e.id) FILTER (WHERE e.opted_out_at > s.sent_at),
       coalesce(string_agg(DISTINCT n.reason, ',') FILTER (WHERE n.status = 'skipped'), ''),
       coalesce(string_agg(DISTINCT s.error_code, ',') FILTER (WHERE s.status IN ('failed', 'window_closed')), '')
FROM campaign_occurrences o
JOIN nudge_deliveries n ON n.occurrence_id = o.id
LEFT JOIN analytics_sends s ON s.message_id = n.message_id AND n.status = 'sent'
LEFT JOIN end_users e ON e.id = n.end_user_id AND n.status = 'sent'
WHERE o.scheduled_at >= $1 AND o.scheduled_at < $2 AND ($3 = '' OR s.channel IS NULL OR s.channel = $3)
GROUP BY o.id`

// TestCampaignRollupExact: the per-occurrence campaign rollup (migration 0028) equals the
// raw figures for every channel filter and range after decisions (sent, held, skipped by
// reason), sends applied, delivery statuses and provider codes, replies within 24 hours,
// opt-outs and opt-ins (before and after the send), held decisions sent later, an erased end
// user and a deleted campaign; concurrent writers of different inputs of the same decisions
// (dispatch's statuses, opt-outs) leave it exact too.
func TestCampaignRollupExact(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 28))
	s := testenv.Store(t)
	ctx := context.Background()
	c := uuid.New()
	channels := []string{"widget", "whatsapp", "telegram"}
	type person struct {
		id, conv uuid.UUID
		channel  string
	}
	var people []person
	var occs []uuid.UUID
	camps := []uuid.UUID{uuid.New(), uuid.New()}
	base := time.Now().Add(-20 * 24 * time.Hour).Truncate(time.Hour)
	require.NoError(t, s.InTenant(ctx, c, func(q *db.Queries) error {
		if _, err := q.InsertCreator(ctx, db.InsertCreatorParams{ID: c, Name: "c", Email: c.String() + "@example.com",
			WidgetKey: "wk_" + c.String(), WidgetSecret: "s", AllowedOrigins: []string{}}); err != nil {
			return err
		}
		for i := 0; i < 15; i++ {
			p := person{id: uuid.New(), conv: uuid.New(), channel: channels[i%3]}
			if _, err := q.UpsertEndUser(ctx, db.UpsertEndUserParams{ID: p.id, CreatorID: c, Channel: p.channel, ExternalID: p.id.String()}); err != nil {
				return err
			}
			if _, err := q.UpsertConversation(ctx, db.UpsertConversationParams{ID: p.conv, CreatorID: c, EndUserID: p.id, Channel: p.channel}); err != nil {
				return err
			}
			people = append(people, p)
		}
		for i, camp := range camps {
			if _, err := q.InsertCampaign(ctx, db.InsertCampaignParams{ID: camp, CreatorID: c, Name: fmt.Sprintf("Campaign %d", i),
				Audience: json.RawMessage(`{}`), Content: json.RawMessage(`{"text":"hi"}`), Schedule: json.RawMessage(`{}`)}); err != nil {
				return err
			}
			for k := 0; k < 3; k++ {
				o := uuid.New()
				if err := q.InsertOccurrence(ctx, db.InsertOccurrenceParams{ID: o, CreatorID: c, CampaignID: camp,
					ScheduledAt: base.Add(time.Duration(i*3+k) * 72 * time.Hour)}); err != nil {
					return err
				}
				occs = append(occs, o)
			}
		}
		return nil
	}))
	tenant := func(f func(tx pgx.Tx)) {
		t.Helper()
		tx := tenantTx(t, s, c, "0")
		defer tx.Rollback(ctx) //nolint:errcheck
		f(tx)
		require.NoError(t, tx.Commit(ctx))
	}
	// In a goroutine: the error, not a failure.
	tenantErr := func(sql string, args ...any) error {
		tx, err := s.Pool().Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx) //nolint:errcheck
		if _, err := tx.Exec(ctx, "SELECT set_config('app.creator_id', $1, true)", c.String()); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, sql, args...); err != nil {
			return err
		}
		return tx.Commit(ctx)
	}
	campOf := func(o uuid.UUID) uuid.UUID {
		for i := range occs {
			if occs[i] == o {
				return camps[i/3]
			}
		}
		return uuid.Nil
	}
	var sends []uuid.UUID
	var held [][2]uuid.UUID
	decide := func(tx pgx.Tx, o uuid.UUID, p person, status, reason string) {
		var msg *uuid.UUID
		if status == "sent" {
			m := uuid.New()
			msg = &m
			_, err := tx.Exec(ctx, `INSERT INTO messages (id, creator_id, conversation_id, role, body, sources, channel, status)
				VALUES ($1, $2, $3, 'assistant', 'nudge', '[]', $4, 'queued')`, m, c, p.conv, p.channel)
			require.NoError(t, err)
			sends = append(sends, m)
		}
		_, err := tx.Exec(ctx, `INSERT INTO nudge_deliveries (occurrence_id, end_user_id, creator_id, campaign_id, status, reason, message_id, decided_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, now())
			ON CONFLICT (occurrence_id, end_user_id) DO UPDATE SET status = EXCLUDED.status, reason = EXCLUDED.reason, message_id = EXCLUDED.message_id
			WHERE nudge_deliveries.status = 'held'`, o, p.id, c, campOf(o), status, reason, msg)
		require.NoError(t, err)
	}
	// Decisions: a statement per occurrence (like the expander's pages), some single.
	for _, o := range occs {
		tenant(func(tx pgx.Tx) {
			for _, p := range people {
				switch r := rng.IntN(10); {
				case r < 6:
					decide(tx, o, p, "sent", "")
				case r < 7:
					decide(tx, o, p, "held", "quiet_hours")
					held = append(held, [2]uuid.UUID{o, p.id})
				default:
					decide(tx, o, p, "skipped", []string{"capped", "opted_out", "no_channel"}[rng.IntN(3)])
				}
			}
		})
	}
	// A program step's decision is no campaign's.
	tenant(func(tx pgx.Tx) {
		_, err := tx.Exec(ctx, `INSERT INTO nudge_deliveries (occurrence_id, end_user_id, creator_id, status, decided_at) VALUES ($1, $2, $3, 'sent', now())`,
			uuid.New(), people[0].id, c)
		require.NoError(t, err)
	})
	apply := func() {
		t.Helper()
		_, err := analytics.Apply(ctx, s, c)
		require.NoError(t, err)
	}

	check := func(stage string) {
		t.Helper()
		ranges := [][2]time.Time{{base.Add(-time.Hour), time.Now().Add(time.Hour)}, {base.Add(100 * time.Hour), base.Add(300 * time.Hour)}}
		for _, r := range ranges {
			for _, ch := range append([]string{""}, channels...) {
				raw := map[string]string{}
				tenant(func(tx pgx.Tx) {
					rows, err := tx.Query(ctx, rawCampaignOccurrences, r[0], r[1], ch)
					require.NoError(t, err)
					for rows.Next() {
						var id, reasons, codes string
						var v [8]int64
						require.NoError(t, rows.Scan(&id, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &reasons, &codes))
						raw[id] = fmt.Sprint(v, " ", reasons, " ", codes)
					}
					require.NoError(t, rows.Err())
				})
				got := map[string]string{}
				require.NoError(t, s.InTenant(ctx, c, func(q *db.Queries) error {
					occ, err := q.AnalyticsCampaignOccurrences(ctx, db.AnalyticsCampaignOccurrencesParams{CreatorID: c, StartAt: r[0], EndAt: r[1], Channel: ch})
					if err != nil {
						return err
					}
					reasons, err := q.AnalyticsCampaignReasons(ctx, db.AnalyticsCampaignReasonsParams{CreatorID: c, StartAt: r[0], EndAt: r[1]})
					if err != nil {
						return err
					}
					fails, err := q.AnalyticsCampaignFailures(ctx, db.AnalyticsCampaignFailuresParams{CreatorID: c, StartAt: r[0], EndAt: r[1], Channel: ch})
					if err != nil {
						return err
					}
					rs, fs := map[uuid.UUID][]string{}, map[uuid.UUID][]string{}
					var skippedBy, failedBy = map[uuid.UUID]int64{}, map[uuid.UUID]int64{}
					for _, x := range reasons {
						rs[x.OccurrenceID] = append(rs[x.OccurrenceID], x.Reason)
						skippedBy[x.OccurrenceID] += x.N
					}
					for _, x := range fails {
						fs[x.OccurrenceID] = append(fs[x.OccurrenceID], x.Code)
						failedBy[x.OccurrenceID] += x.N
					}
					for _, o := range occ {
						v := [8]int64{o.Sent, o.Held, o.Skipped, o.Delivered, o.Read, o.Failed, o.Replied24h, o.OptedOutAfter}
						if v == [8]int64{} {
							continue // listed without decisions of the channel (the raw join drops it)
						}
						require.Equal(t, o.Skipped, skippedBy[o.OccurrenceID], "%s: skipped by reason", stage)
						require.Equal(t, o.Failed, failedBy[o.OccurrenceID], "%s: failed by code", stage)
						sort.Strings(rs[o.OccurrenceID])
						sort.Strings(fs[o.OccurrenceID])
						got[o.OccurrenceID.String()] = fmt.Sprint(v, " ", strings.Join(rs[o.OccurrenceID], ","), " ", strings.Join(fs[o.OccurrenceID], ","))
					}
					return nil
				}))
				for id, v := range raw {
					if strings.HasPrefix(v, "[0 0 0 0 0 0 0 0]") {
						delete(raw, id)
					}
				}
				require.Equal(t, raw, got, "%s: range %s–%s, channel %q", stage, r[0].Format(time.DateTime), r[1].Format(time.DateTime), ch)
			}
		}
	}
	check("decided, nothing applied")
	apply()
	check("sends applied")

	// Delivery statuses and provider codes (dispatch), concurrently with opt-outs and opt-ins
	// (before and after the sends) of the same people.
	var wg sync.WaitGroup
	wg.Add(2)
	statuses := append([]uuid.UUID(nil), sends...)
	go func() {
		defer wg.Done()
		for _, m := range statuses {
			st := []string{"sent", "delivered", "read", "failed", "window_closed"}[rng.IntN(5)]
			code := ""
			if st == "failed" || st == "window_closed" {
				code = fmt.Sprintf("E%d", len(m.String())%3+int(m[0]%2))
			}
			if err := tenantErr("UPDATE messages SET status = $2, error_code = $3 WHERE id = $1", m, st, code); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	optRng := rand.New(rand.NewPCG(seed, 29))
	go func() {
		defer wg.Done()
		for i := 0; i < 30; i++ {
			p := people[optRng.IntN(len(people))]
			var at *time.Time
			switch optRng.IntN(3) {
			case 0:
				x := time.Now().Add(time.Hour)
				at = &x
			case 1:
				x := base.Add(-time.Hour)
				at = &x
			}
			if err := tenantErr("UPDATE end_users SET opted_out_at = $2 WHERE id = $1", p.id, at); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	wg.Wait()
	require.False(t, t.Failed())
	check("statuses and opt-outs")
	// Opt-outs after every status: only their own trigger recounts.
	for i, p := range people[2:8] {
		at := time.Now().Add(time.Duration(i%2*2-1) * 48 * time.Hour)
		tenant(func(tx pgx.Tx) {
			_, err := tx.Exec(ctx, "UPDATE end_users SET opted_out_at = $2 WHERE id = $1", p.id, at)
			require.NoError(t, err)
		})
	}
	check("opt-outs")

	// Replies within 24 hours (counted by the applier) and held decisions sent later.
	tenant(func(tx pgx.Tx) {
		for _, p := range people[:7] {
			_, err := tx.Exec(ctx, `INSERT INTO messages (id, creator_id, conversation_id, role, body, sources, channel, status)
				VALUES ($1, $2, $3, 'user', 'thanks', '[]', $4, 'received')`, uuid.New(), c, p.conv, p.channel)
			require.NoError(t, err)
		}
	})
	tenant(func(tx pgx.Tx) {
		for _, h := range held[:len(held)/2] {
			for _, p := range people {
				if p.id == h[1] {
					decide(tx, h[0], p, "sent", "")
				}
			}
		}
	})
	check("held sent, not applied")
	apply()
	check("replies and held sends applied")

	// An erased end user (their decisions, sends and opt-out go) and a deleted campaign.
	require.NoError(t, s.InTenant(ctx, c, func(q *db.Queries) error {
		_, err := q.DeleteEndUser(ctx, people[1].id)
		return err
	}))
	tenant(func(tx pgx.Tx) {
		var n int
		require.NoError(t, tx.QueryRow(ctx, "SELECT count(*) FROM analytics_campaign_state WHERE end_user_id = $1", people[1].id).Scan(&n))
		require.Zero(t, n, "an erased end user leaves nothing in the campaign rollup")
		_, err := tx.Exec(ctx, "DELETE FROM campaigns WHERE id = $1", camps[1])
		require.NoError(t, err)
	})
	check("erased and deleted")

	// The rebuild (bulk loads) gives the same rows as the incremental upkeep.
	read := func() string {
		var out string
		tenant(func(tx pgx.Tx) {
			require.NoError(t, tx.QueryRow(ctx, `SELECT coalesce(string_agg(format('%s %s %s %s %s %s %s %s %s %s %s %s', occurrence_id, channel, skip_reason,
				fail_code, sent, held, skipped, delivered, read, failed, replied, opted_out), E'\n' ORDER BY occurrence_id, channel, skip_reason, fail_code), '')
				FROM analytics_campaign_counts
				WHERE sent <> 0 OR held <> 0 OR skipped <> 0 OR delivered <> 0 OR read <> 0 OR failed <> 0 OR replied <> 0 OR opted_out <> 0`).Scan(&out))
		})
		return out
	}
	kept := read()
	require.NoError(t, s.InTenant(ctx, c, func(q *db.Queries) error { return q.AnalyticsCampaignRebuild(ctx, c) }))
	require.Equal(t, read(), kept)
}
