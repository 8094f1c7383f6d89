package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/testenv"
)

// createCampaign posts body and returns the new campaign's id (201 required).
func createCampaign(t *testing.T, c *testenv.Client, cr testenv.Creator, body map[string]any) uuid.UUID {
	t.Helper()
	var camp struct {
		ID uuid.UUID `json:"id"`
	}
	st, raw, err := c.Do(context.Background(), "POST", "/api/v1/campaigns", cr.AccessToken, body, &camp)
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, st, string(raw))
	return camp.ID
}

// TestCampaignScheduleMinInterval (issue 9, defect 7): a campaign whose schedule fires more
// often than the minimum interval (1 h by default) is refused with a 400 naming the rule, on
// create and on update; an hourly schedule is accepted.
func TestCampaignScheduleMinInterval(t *testing.T) {
	t.Parallel()
	e := newFullEnv(t)
	c := e.c
	cr := c.Register(t)
	camp := func(sched map[string]any) map[string]any {
		return map[string]any{"name": "often", "audience": map[string]any{"tag": "vip"},
			"content": map[string]any{"kind": "text", "text": "Hi"}, "schedule": sched}
	}
	start := time.Now().Add(24 * time.Hour).UTC().Format("2006-01-02T15:04")
	for _, sched := range []map[string]any{
		{"kind": "rrule", "timezone": "UTC", "start": start, "rrule": "FREQ=SECONDLY;COUNT=5"},
		{"kind": "rrule", "timezone": "UTC", "start": start, "rrule": "FREQ=DAILY;BYHOUR=9;BYMINUTE=0,15"},
		{"kind": "cron", "timezone": "UTC", "cron": "* * * * *"},
	} {
		var body struct {
			Error struct{ Code, Message string }
		}
		st, raw, err := c.Do(context.Background(), "POST", "/api/v1/campaigns", cr.AccessToken, camp(sched), nil)
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(raw, &body), string(raw))
		e := body.Error
		require.Equal(t, http.StatusBadRequest, st, "%v: %s", sched, raw)
		require.Equal(t, "schedule_too_frequent", e.Code)
		require.Contains(t, e.Message, "minimum interval between occurrences is 1h0m0s")
		rule, _ := sched["rrule"].(string)
		if rule == "" {
			rule = sched["cron"].(string)
		}
		require.Contains(t, e.Message, rule)
	}
	id := createCampaign(t, c, cr, camp(map[string]any{"kind": "cron", "timezone": "UTC", "cron": "0 * * * *"}))
	st, raw, err := c.Do(context.Background(), "PATCH", "/api/v1/campaigns/"+id.String(), cr.AccessToken,
		camp(map[string]any{"kind": "rrule", "timezone": "UTC", "start": start, "rrule": "FREQ=MINUTELY;INTERVAL=30"}), nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusBadRequest, st, string(raw))
	require.Equal(t, "schedule_too_frequent", errCode(raw), string(raw))
}

// clock is a settable clock for a test's gateway.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// tenantSQL runs fn in a transaction as the application role in creator's tenant.
func tenantSQL(t *testing.T, creator uuid.UUID, fn func(tx pgx.Tx) error) {
	t.Helper()
	ctx := context.Background()
	tx, err := testenv.Store(t).Pool().Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx) //nolint:errcheck
	_, err = tx.Exec(ctx, "SELECT set_config('app.creator_id', $1, true)", creator.String())
	require.NoError(t, err)
	require.NoError(t, fn(tx))
	require.NoError(t, tx.Commit(ctx))
}

// person inserts a widget end user of creator and returns its id.
func person(t *testing.T, creator uuid.UUID, name string, tags []string, lastSeen, joined time.Time) uuid.UUID {
	t.Helper()
	id := uuid.New()
	tenantSQL(t, creator, func(tx pgx.Tx) error {
		_, err := tx.Exec(context.Background(), `INSERT INTO end_users (id, creator_id, channel, external_id, display_name, timezone, tags, last_seen_at, created_at)
			VALUES ($1, $2, 'widget', $3, $4, 'UTC', $5, $6, $7)`, id, creator, "ext-"+id.String(), name, tags, lastSeen, joined)
		return err
	})
	return id
}

// occurrences are a campaign's occurrence rows: scheduled time (01-02T15:04 UTC) → status.
func occurrences(t *testing.T, creator, campaign uuid.UUID) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := testenv.Store(t).InTenant(context.Background(), creator, func(q *db.Queries) error {
		rows, err := q.ListOccurrences(context.Background(), db.ListOccurrencesParams{CampaignID: campaign, MaxRows: 100})
		for _, o := range rows {
			out[o.ScheduledAt.UTC().Format("01-02T15:04")] = o.Status
		}
		return err
	})
	require.NoError(t, err)
	return out
}

// campaignCall sends a creator request and returns its status and error code ("" on success),
// decoding a 2xx answer into out.
func campaignCall(t *testing.T, e *fullEnv, cr testenv.Creator, method, path string, body, out any) (int, string) {
	t.Helper()
	st, raw, err := e.c.Do(context.Background(), method, path, cr.AccessToken, body, out)
	require.NoError(t, err)
	if st >= 300 {
		return st, errCode(raw)
	}
	return st, ""
}

// TestCampaignControls: the creator's controls of a daily campaign on the gateway's clock
// (the scheduler's side of them is internal/nudge's TestSchedulerCampaignControls): created, its
// first occurrence is pending at 09:00; paused and resumed, the status follows; edited (new
// time), the next occurrence is the new time and the old schedule's future occurrences are gone;
// cancelled, its occurrences are cancelled and it can be neither resumed nor edited (409). A
// one-off in the past is a 400, not a campaign that silently completes.
func TestCampaignControls(t *testing.T) {
	t.Parallel()
	day := func(d int, hh, mm int) time.Time { return time.Date(2026, 5, 4+d, hh, mm, 0, 0, time.UTC) }
	clk := &clock{t: day(0, 8, 59)}
	e := newFullEnvWith(t, fullOpts{limits: offPerIP, now: clk.Now})
	cr := e.c.Register(t)
	var st struct {
		Status         string     `json:"status"`
		NextOccurrence *time.Time `json:"next_occurrence"`
	}
	body := func(text, cron string) map[string]any {
		return map[string]any{"name": "daily", "audience": map[string]any{"tag": "daily"},
			"content":  map[string]any{"kind": "text", "text": text},
			"schedule": map[string]any{"kind": "cron", "timezone": "UTC", "cron": cron}}
	}
	var created struct {
		ID uuid.UUID `json:"id"`
	}
	code, ec := campaignCall(t, e, cr, "POST", "/api/v1/campaigns", body("Morning {{first_name}}", "0 9 * * *"), &created)
	require.Equal(t, http.StatusCreated, code, ec)
	path := "/api/v1/campaigns/" + created.ID.String()
	require.Equal(t, map[string]string{"05-04T09:00": "pending"}, occurrences(t, cr.ID, created.ID))

	clk.Set(day(0, 12, 0))
	campaignCall(t, e, cr, "POST", path+"/pause", nil, &st)
	require.Equal(t, "paused", st.Status)
	code, _ = campaignCall(t, e, cr, "POST", path+"/pause", nil, &st)
	require.Equal(t, http.StatusOK, code, "pausing twice is fine")
	clk.Set(day(3, 9, 30))
	campaignCall(t, e, cr, "POST", path+"/resume", nil, &st)
	require.Equal(t, "active", st.Status)

	// Edited: the next occurrence is the new time, the old schedule's is gone.
	clk.Set(day(3, 12, 0))
	code, ec = campaignCall(t, e, cr, "PATCH", path, body("Good morning {{first_name}}, v2", "30 9 * * *"), &st)
	require.Equal(t, http.StatusOK, code, ec)
	require.NotNil(t, st.NextOccurrence)
	require.Equal(t, day(4, 9, 30), st.NextOccurrence.UTC())
	occ := occurrences(t, cr.ID, created.ID)
	require.Equal(t, "pending", occ["05-08T09:30"], "%v", occ)
	_, stray := occ["05-08T09:00"]
	require.False(t, stray, "the old schedule's occurrence is gone: %v", occ)

	// Cancelled: no occurrence left pending; neither resumed nor edited.
	campaignCall(t, e, cr, "POST", path+"/cancel", nil, &st)
	require.Equal(t, "cancelled", st.Status)
	for at, s := range occurrences(t, cr.ID, created.ID) {
		require.NotEqual(t, "pending", s, "occurrence %s of a cancelled campaign", at)
	}
	require.Equal(t, "cancelled", occurrences(t, cr.ID, created.ID)["05-08T09:30"])
	code, ec = campaignCall(t, e, cr, "POST", path+"/resume", nil, nil)
	require.Equal(t, http.StatusConflict, code)
	require.Equal(t, "invalid_state", ec)
	code, ec = campaignCall(t, e, cr, "PATCH", path, body("v3", "0 10 * * *"), nil)
	require.Equal(t, http.StatusConflict, code)
	require.Equal(t, "campaign_finished", ec)

	// A one-off in the past is refused.
	code, _ = campaignCall(t, e, cr, "POST", "/api/v1/campaigns", map[string]any{"name": "late", "audience": map[string]any{"tag": "daily"},
		"content": map[string]any{"kind": "text", "text": "Hi"}, "schedule": map[string]any{"kind": "once", "at": day(3, 8, 0).Format(time.RFC3339)}}, nil)
	require.Equal(t, http.StatusBadRequest, code)
}

// TestCampaignPreviewAudience: the dry run shows exactly the people each audience filter, alone
// and combined, selects (the scheduler's expansion is internal/nudge's
// TestSchedulerAudienceFilters), in keyset pages; an audience without any filter is refused.
func TestCampaignPreviewAudience(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)
	clk := &clock{t: t0}
	e := newFullEnvWith(t, fullOpts{limits: offPerIP, now: clk.Now})
	cr := e.c.Register(t)
	d := 24 * time.Hour
	person(t, cr.ID, "Ana", []string{"vip", "coached"}, t0.Add(-d), t0.Add(-90*d))
	person(t, cr.ID, "Bob", []string{"vip"}, t0.Add(-40*d), t0.Add(-90*d))
	cat := person(t, cr.ID, "Cat", []string{"trial"}, t0.Add(-2*d), t0.Add(-3*d))
	person(t, cr.ID, "Dan", []string{"vip", "churned"}, t0.Add(-3*d), t0.Add(-60*d))
	var prog struct {
		ID uuid.UUID `json:"id"`
	}
	code, ec := campaignCall(t, e, cr, "POST", "/api/v1/programs", map[string]any{"name": "trial program",
		"steps": []map[string]any{{"day": 30, "content": map[string]any{"kind": "text", "text": "later"}}}}, &prog)
	require.Less(t, code, 300, ec)
	code, ec = campaignCall(t, e, cr, "POST", fmt.Sprintf("/api/v1/programs/%s/enrollments", prog.ID), map[string]any{"end_user_id": cat}, nil)
	require.Less(t, code, 300, ec)

	type page struct {
		Recipients []struct {
			Name    string `json:"name"`
			Outcome string `json:"outcome"`
			Text    string `json:"text"`
		} `json:"recipients"`
		NextAfter *uuid.UUID `json:"next_after"`
	}
	audience := func(aud map[string]any, limit int) ([]string, int) {
		t.Helper()
		camp := createCampaign(t, e.c, cr, map[string]any{"name": "filters", "audience": aud,
			"content":  map[string]any{"kind": "text", "text": "Hi {{first_name}}"},
			"schedule": map[string]any{"kind": "once", "at": t0.Add(time.Hour).Format(time.RFC3339)}})
		names, pages := []string{}, 0
		q := fmt.Sprintf("?limit=%d", limit)
		for {
			var p page
			code, ec := campaignCall(t, e, cr, "POST", "/api/v1/campaigns/"+camp.String()+"/preview"+q, nil, &p)
			require.Equal(t, http.StatusOK, code, ec)
			pages++
			require.LessOrEqual(t, len(p.Recipients), limit)
			for _, r := range p.Recipients {
				require.Equal(t, "Hi "+r.Name, r.Text, "%+v", r)
				names = append(names, r.Name)
			}
			if p.NextAfter == nil || pages > 10 {
				break
			}
			q = fmt.Sprintf("?limit=%d&after=%s", limit, p.NextAfter)
		}
		campaignCall(t, e, cr, "POST", "/api/v1/campaigns/"+camp.String()+"/cancel", nil, nil)
		slices.Sort(names)
		return names, pages
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
		{map[string]any{"joined_after": t0.Add(-10 * d).Format(time.RFC3339)}, []string{"Cat"}},
		{map[string]any{"program_id": prog.ID}, []string{"Cat"}},
		{map[string]any{"program_id": prog.ID, "tag": "vip"}, []string{}},
		{map[string]any{"channel": "telegram"}, []string{}},
	} {
		got, _ := audience(c.aud, 100)
		require.Equal(t, c.want, got, "audience %v", c.aud)
	}
	// Pages of one: every person once, each on a page of their own.
	got, pages := audience(map[string]any{"all": true}, 1)
	require.Equal(t, []string{"Ana", "Bob", "Cat", "Dan"}, got)
	require.GreaterOrEqual(t, pages, 4)
	code, _ = campaignCall(t, e, cr, "POST", "/api/v1/campaigns", map[string]any{"name": "none", "audience": map[string]any{},
		"content": map[string]any{"kind": "text", "text": "x"}, "schedule": map[string]any{"kind": "once", "at": t0.Add(time.Hour)}}, nil)
	require.Equal(t, http.StatusBadRequest, code, "an audience without any filter (or all) is refused")
}
