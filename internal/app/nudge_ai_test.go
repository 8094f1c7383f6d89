package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/llm/ollamatest"
	"github.com/coachwire/coachwire/internal/testenv"
)

// TestNudgeAIPersonalized runs an AI-personalized campaign through every target: the nudge
// target decides and hands each recipient to the generate target, which writes the message from
// the brief, the person's memory and the creator's knowledge (the double's reply repeats what
// reached the model), stores it with its sources and hands it to dispatch. Then the model goes
// down: a campaign with a fallback text sends the fallback; one without records the message as
// failed, and the stats say so.
func TestNudgeAIPersonalized(t *testing.T) {
	t.Parallel()
	h := newHarness(t, ollamatest.Options{})
	a := h.start(h.config())
	c := testenv.NewClient(a.URL)
	cr := c.Register(t)
	conn := ownerConn(t, h)
	ctx := context.Background()

	st, doc, _ := upload(t, c, cr, "POST", "/api/v1/documents", "sleep.md",
		[]byte("# Sleep hygiene\n\nKeep a fixed wake-up time and dim the lights an hour before bed.\n"))
	require.Equal(t, http.StatusAccepted, st)
	require.Equal(t, "indexed", waitDoc(t, c, cr, doc.ID, time.Minute).Status)

	seedEndUsers(t, conn, cr.ID, 2, "ai")
	// Three campaigns reach the same two people today: caps above the default of two a day.
	tenantExec(t, conn, cr.ID, `UPDATE creators SET quiet_start = 0, quiet_end = 0, nudge_cap_day = 3 WHERE id = $1`, cr.ID)
	var runner, other uuid.UUID
	tenantDo(t, conn, cr.ID, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT id FROM end_users WHERE external_id = 'seed-ai-1'`).Scan(&runner); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT id FROM end_users WHERE external_id = 'seed-ai-2'`).Scan(&other)
	})
	// The other person talked with the coach two hours ago: the recent conversation is data for
	// the model too.
	tenantExec(t, conn, cr.ID, `INSERT INTO conversations (id, creator_id, end_user_id, channel) VALUES (gen_random_uuid(), $1, $2, 'widget')`, cr.ID, other)
	tenantExec(t, conn, cr.ID, `INSERT INTO messages (id, creator_id, conversation_id, role, body, channel, created_at)
		SELECT gen_random_uuid(), $1, c.id, 'user', 'I slept badly after a late coffee', 'widget', now() - interval '2 hours'
		FROM conversations c WHERE c.end_user_id = $2`, cr.ID, other)
	st, raw, err := c.Do(ctx, "PUT", "/api/v1/end-users/"+runner.String()+"/memory", cr.AccessToken,
		map[string]any{"profile": map[string]any{"goals": []string{"run a 10k in spring"}}}, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, st, string(raw))

	aiCampaign := func(name string, content map[string]any) uuid.UUID {
		return createCampaign(t, c, cr, map[string]any{
			"name": name, "audience": map[string]any{"tag": "ai"}, "content": content,
			"schedule": map[string]any{"kind": "once", "at": time.Now().Add(500 * time.Millisecond).UTC().Format(time.RFC3339Nano)},
		})
	}
	type msg struct {
		Body, Status string
		Sources      json.RawMessage
	}
	messagesOf := func(camp uuid.UUID, want int) map[uuid.UUID]msg {
		out := map[uuid.UUID]msg{}
		testenv.Eventually(t, 60*time.Second, func() bool {
			out = map[uuid.UUID]msg{}
			tenantDo(t, conn, cr.ID, func(tx pgx.Tx) error {
				rows, err := tx.Query(ctx, `SELECT d.end_user_id, m.body, m.status, m.sources FROM nudge_deliveries d
					JOIN messages m ON m.id = d.message_id WHERE d.campaign_id = $1`, camp)
				if err != nil {
					return err
				}
				defer rows.Close()
				for rows.Next() {
					var id uuid.UUID
					var m msg
					if err := rows.Scan(&id, &m.Body, &m.Status, &m.Sources); err != nil {
						return err
					}
					if m.Status != "queued" { // handed to dispatch and settled
						out[id] = m
					}
				}
				return rows.Err()
			})
			return len(out) == want
		}, "%d AI messages of campaign %s written and dispatched", want, camp)
		return out
	}

	// 1. The model writes each message from the brief, memory and knowledge.
	before := len(h.ollama.ChatRequests())
	camp := aiCampaign("ai", map[string]any{"kind": "ai", "brief": "Encourage them to keep a steady sleep routine."})
	got := messagesOf(camp, 2)
	for id, m := range got {
		require.Contains(t, m.Body, "Encourage them to keep a steady sleep routine.", "the brief reached the model")
		require.Contains(t, m.Body, "dim the lights an hour before bed", "the creator's knowledge reached the model")
		require.Contains(t, string(m.Sources), doc.ID.String(), "the passage is the message's source")
		require.Equal(t, id == runner, strings.Contains(m.Body, "run a 10k in spring"), "only the runner's memory is in the runner's message")
		require.Equal(t, id == other, strings.Contains(m.Body, "late coffee"), "only the other's recent conversation is in theirs")
	}
	var reqs []ollamatest.ChatRequest
	for _, r := range h.ollama.ChatRequests()[before:] {
		if strings.Contains(r.Messages[0].Content, "proactive message") {
			reqs = append(reqs, r)
		}
	}
	require.Len(t, reqs, 2, "one model call per recipient")
	s := campaignStatsOf(t, c, cr, camp)
	require.Equal(t, 2, s.Sent)

	// 2. The model is down: the fallback text goes out; without one the message fails.
	h.ollama.SetOptions(ollamatest.Options{ChatModels: []string{"llama3.2"}, EmbedModels: []string{"nomic-embed-text"}, Status: http.StatusInternalServerError})
	withFallback := aiCampaign("fallback", map[string]any{"kind": "ai", "brief": "Ask about their week.",
		"fallback": "Hi {{first_name}}, how was your week?"})
	noFallback := aiCampaign("no fallback", map[string]any{"kind": "ai", "brief": "Ask about their weekend."})
	for _, m := range messagesOf(withFallback, 2) {
		require.Equal(t, "Hi Person, how was your week?", m.Body)
	}
	for _, m := range messagesOf(noFallback, 2) {
		require.Equal(t, "failed", m.Status)
		require.Empty(t, m.Body)
	}
	s = campaignStatsOf(t, c, cr, noFallback)
	require.Equal(t, 2, s.Sent, "the policy decided to send")
	require.Equal(t, 2, s.Failed, "no model could write them")
}

func campaignStatsOf(t *testing.T, c *testenv.Client, cr testenv.Creator, camp uuid.UUID) campaignStats {
	t.Helper()
	var s campaignStats
	st, raw, err := c.Do(context.Background(), "GET", fmt.Sprintf("/api/v1/campaigns/%s/stats", camp), cr.AccessToken, nil, &s)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, st, string(raw))
	return s
}
