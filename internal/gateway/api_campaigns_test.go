package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

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
