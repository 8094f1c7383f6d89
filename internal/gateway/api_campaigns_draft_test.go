package gateway_test

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// TestCampaignBuilderAPI: what the console's campaign builder calls. The live count matches
// the filters and counts the opted-out apart; the draft preview decides each recipient like
// the saved campaign's preview (the opted-out one skipped) and stores nothing; both refuse what
// create refuses. Workspaces stay apart: B's people are never counted or previewed by A, and
// B's program id in A's audience is 404. The stats detail each occurrence (skip reasons) and
// the list carries the headline figures.
func TestCampaignBuilderAPI(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)
	clk := &clock{t: t0}
	e := newFullEnvWith(t, fullOpts{limits: offPerIP, now: clk.Now})
	a, b := e.c.Register(t), e.c.Register(t)
	d := 24 * time.Hour
	person(t, a.ID, "Ana", []string{"vip"}, t0.Add(-d), t0.Add(-90*d))
	person(t, a.ID, "Bob", []string{"vip", "churned"}, t0.Add(-d), t0.Add(-90*d))
	cat := person(t, a.ID, "Cat", []string{"trial"}, t0.Add(-d), t0.Add(-3*d))
	dan := person(t, a.ID, "Dan", []string{"vip"}, t0.Add(-d), t0.Add(-90*d))
	tenantSQL(t, a.ID, func(tx pgx.Tx) error {
		_, err := tx.Exec(context.Background(), `UPDATE end_users SET opted_out_at = $2 WHERE id = $1`, dan, t0.Add(-d))
		return err
	})
	person(t, b.ID, "Eve", []string{"vip"}, t0.Add(-d), t0.Add(-90*d))
	var prog struct {
		ID uuid.UUID `json:"id"`
	}
	code, ec := campaignCall(t, e, b, "POST", "/api/v1/programs", map[string]any{"name": "B's program",
		"steps": []map[string]any{{"day": 30, "content": map[string]any{"kind": "text", "text": "later"}}}}, &prog)
	require.Less(t, code, 300, ec)

	type count struct {
		Count    int `json:"count"`
		OptedOut int `json:"opted_out"`
	}
	countOf := func(aud map[string]any) (count, int, string) {
		var n count
		code, ec := campaignCall(t, e, a, "POST", "/api/v1/campaigns/audience-count", map[string]any{"audience": aud}, &n)
		return n, code, ec
	}
	for _, c := range []struct {
		aud  map[string]any
		want count
	}{
		{map[string]any{"all": true}, count{4, 1}},
		{map[string]any{"tags": []string{"vip"}}, count{3, 1}},
		{map[string]any{"tags": []string{"vip"}, "exclude_tags": []string{"churned"}}, count{2, 1}},
		{map[string]any{"any_tags": []string{"trial", "churned"}}, count{2, 0}},
		{map[string]any{"joined_after": t0.Add(-10 * d).Format(time.RFC3339)}, count{1, 0}},
		{map[string]any{"channel": "telegram"}, count{0, 0}},
	} {
		n, code, ec := countOf(c.aud)
		require.Equal(t, http.StatusOK, code, ec)
		require.Equal(t, c.want, n, "audience %v", c.aud)
	}
	_, code, ec = countOf(map[string]any{})
	require.Equal(t, http.StatusBadRequest, code)
	require.Equal(t, "invalid_audience", ec)
	_, code, ec = countOf(map[string]any{"program_id": prog.ID})
	require.Equal(t, http.StatusNotFound, code, "B's program in A's audience: %s", ec)
	var nb count
	code, ec = campaignCall(t, e, b, "POST", "/api/v1/campaigns/audience-count", map[string]any{"audience": map[string]any{"all": true}}, &nb)
	require.Equal(t, http.StatusOK, code, ec)
	require.Equal(t, count{1, 0}, nb, "B counts only B's people")

	// The draft's dry run: no name yet, nothing stored.
	draft := map[string]any{"audience": map[string]any{"tags": []string{"vip"}},
		"content":  map[string]any{"kind": "text", "text": "Hi {{first_name}}"},
		"schedule": map[string]any{"kind": "once", "at": t0.Add(time.Hour).Format(time.RFC3339)}}
	type preview struct {
		At         time.Time `json:"at"`
		Recipients []struct {
			EndUserID uuid.UUID `json:"end_user_id"`
			Name      string    `json:"name"`
			Outcome   string    `json:"outcome"`
			Reason    string    `json:"reason"`
			Text      string    `json:"text"`
		} `json:"recipients"`
		NextAfter *uuid.UUID `json:"next_after"`
	}
	var p preview
	code, ec = campaignCall(t, e, a, "POST", "/api/v1/campaigns/preview", draft, &p)
	require.Equal(t, http.StatusOK, code, ec)
	require.True(t, p.At.Equal(t0.Add(time.Hour)), "previewed at the draft's occurrence: %s", p.At)
	got := map[string]string{}
	for _, r := range p.Recipients {
		got[r.Name] = r.Outcome + " " + r.Reason + " " + r.Text
	}
	require.Equal(t, map[string]string{"Ana": "sent  Hi Ana", "Bob": "sent  Hi Bob", "Dan": "skipped opted_out "}, got)
	var list struct {
		Campaigns []struct {
			ID       uuid.UUID      `json:"id"`
			Headline map[string]int `json:"headline"`
		} `json:"campaigns"`
	}
	code, ec = campaignCall(t, e, a, "GET", "/api/v1/campaigns", nil, &list)
	require.Equal(t, http.StatusOK, code, ec)
	require.Empty(t, list.Campaigns, "a preview stores nothing")
	// Pages, as the saved preview's.
	var p1, p2 preview
	code, ec = campaignCall(t, e, a, "POST", "/api/v1/campaigns/preview?limit=2", draft, &p1)
	require.Equal(t, http.StatusOK, code, ec)
	require.Len(t, p1.Recipients, 2)
	require.NotNil(t, p1.NextAfter)
	code, ec = campaignCall(t, e, a, "POST", "/api/v1/campaigns/preview?limit=2&after="+p1.NextAfter.String(), draft, &p2)
	require.Equal(t, http.StatusOK, code, ec)
	require.Len(t, p2.Recipients, 1)
	// The saved campaign previews the same.
	id := createCampaign(t, e.c, a, map[string]any{"name": "Saved", "audience": draft["audience"], "content": draft["content"], "schedule": draft["schedule"]})
	var saved preview
	code, ec = campaignCall(t, e, a, "POST", "/api/v1/campaigns/"+id.String()+"/preview", nil, &saved)
	require.Equal(t, http.StatusOK, code, ec)
	require.Equal(t, p, saved)

	// Refused as create refuses.
	for _, bad := range []map[string]any{
		{"audience": map[string]any{}, "content": draft["content"], "schedule": draft["schedule"]},
		{"audience": draft["audience"], "content": map[string]any{"kind": "text", "text": "Hi {{nope}}"}, "schedule": draft["schedule"]},
		{"audience": draft["audience"], "content": draft["content"], "schedule": map[string]any{"kind": "once", "at": t0.Add(-time.Hour).Format(time.RFC3339)}},
	} {
		code, ec = campaignCall(t, e, a, "POST", "/api/v1/campaigns/preview", bad, nil)
		require.Equal(t, http.StatusBadRequest, code)
		require.Equal(t, "invalid_campaign", ec)
	}
	code, _ = campaignCall(t, e, a, "POST", "/api/v1/campaigns/preview", map[string]any{"audience": map[string]any{"program_id": prog.ID},
		"content": draft["content"], "schedule": draft["schedule"]}, nil)
	require.Equal(t, http.StatusNotFound, code, "B's program in A's draft")
	// B's draft to everyone sees only Eve.
	var pb preview
	code, ec = campaignCall(t, e, b, "POST", "/api/v1/campaigns/preview", map[string]any{"audience": map[string]any{"all": true},
		"content": draft["content"], "schedule": draft["schedule"]}, &pb)
	require.Equal(t, http.StatusOK, code, ec)
	require.Len(t, pb.Recipients, 1)
	require.Equal(t, "Eve", pb.Recipients[0].Name)

	// Stats per occurrence: two decisions recorded for the pending occurrence.
	var occ uuid.UUID
	tenantSQL(t, a.ID, func(tx pgx.Tx) error {
		ctx := context.Background()
		if err := tx.QueryRow(ctx, `SELECT id FROM campaign_occurrences WHERE campaign_id = $1`, id).Scan(&occ); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO nudge_deliveries (occurrence_id, end_user_id, creator_id, campaign_id, status, reason, decided_at)
			VALUES ($1, $2, $3, $4, 'skipped', 'opted_out', $5), ($1, $6, $3, $4, 'held', 'quiet_hours', $5)`, occ, dan, a.ID, id, t0, cat)
		return err
	})
	var stats struct {
		Skipped         int              `json:"skipped"`
		Held            int              `json:"held"`
		SkippedByReason map[string]int   `json:"skipped_by_reason"`
		FailedByCode    map[string]int   `json:"failed_by_code"`
		OptedOutAfter   *int             `json:"opted_out_after"`
		Occurrences     []map[string]any `json:"occurrences"`
	}
	code, ec = campaignCall(t, e, a, "GET", "/api/v1/campaigns/"+id.String()+"/stats", nil, &stats)
	require.Equal(t, http.StatusOK, code, ec)
	require.Equal(t, 1, stats.Skipped)
	require.Equal(t, 1, stats.Held)
	require.Equal(t, map[string]int{"opted_out": 1}, stats.SkippedByReason)
	require.Equal(t, map[string]int{}, stats.FailedByCode)
	require.NotNil(t, stats.OptedOutAfter)
	require.Len(t, stats.Occurrences, 1)
	o := stats.Occurrences[0]
	require.Equal(t, occ.String(), o["id"])
	require.Equal(t, "pending", o["status"])
	require.EqualValues(t, 1, o["skipped"])
	require.EqualValues(t, 1, o["held"])
	require.Equal(t, map[string]any{"opted_out": float64(1)}, o["skipped_by_reason"])
	code, ec = campaignCall(t, e, a, "GET", "/api/v1/campaigns", nil, &list)
	require.Equal(t, http.StatusOK, code, ec)
	require.Len(t, list.Campaigns, 1)
	require.Equal(t, map[string]int{"sent": 0, "held": 1, "skipped": 1, "delivered": 0, "replied": 0, "failed": 0}, list.Campaigns[0].Headline)
	// B sees neither A's campaign nor its stats.
	code, _ = campaignCall(t, e, b, "GET", "/api/v1/campaigns/"+id.String()+"/stats", nil, nil)
	require.Equal(t, http.StatusNotFound, code)
	code, ec = campaignCall(t, e, b, "GET", "/api/v1/campaigns", nil, &list)
	require.Equal(t, http.StatusOK, code, ec)
	require.False(t, slices.ContainsFunc(list.Campaigns, func(c struct {
		ID       uuid.UUID      `json:"id"`
		Headline map[string]int `json:"headline"`
	}) bool {
		return c.ID == id
	}))
}
