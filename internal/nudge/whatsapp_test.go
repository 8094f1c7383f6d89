package nudge

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/channels"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/proactive"
)

// waChannel adds a WhatsApp channel, with an approved default template or without.
func (r *rig) waChannel(phone string, template bool) uuid.UUID {
	r.t.Helper()
	cfg := channels.Config{PhoneNumberID: phone}
	if template {
		cfg.Template = &channels.Template{Name: "coach_reengage", Language: "en_US"}
	}
	raw, _ := json.Marshal(cfg)
	id := uuid.New()
	r.tx(func(q *db.Queries) error {
		_, err := q.InsertChannel(context.Background(), db.InsertChannelParams{ID: id, CreatorID: r.c, Type: events.ChannelWhatsApp,
			Name: "wa " + phone, ExternalID: phone + "-" + r.c.String()[:8], Config: raw, Secrets: "sealed"})
		return err
	})
	return id
}

// waPerson is a WhatsApp end user of channel who last wrote at lastInbound.
func (r *rig) waPerson(channel uuid.UUID, phone, name string, lastInbound time.Time) uuid.UUID {
	r.t.Helper()
	var id uuid.UUID
	r.tx(func(q *db.Queries) error {
		eu, err := q.UpsertChannelEndUser(context.Background(), db.UpsertChannelEndUserParams{ID: uuid.New(), CreatorID: r.c,
			Channel: events.ChannelWhatsApp, ExternalID: phone, DisplayName: name, ChannelID: uuid.NullUUID{UUID: channel, Valid: true},
			ProviderUserID: phone, ChatID: phone, InboundAt: &lastInbound})
		id = eu.ID
		return err
	})
	return id
}

// messageTemplate is the template stored with the message to eu (nil: none).
func (r *rig) messageTemplate(eu uuid.UUID) *events.MessageTemplate {
	r.t.Helper()
	var raw []byte
	r.sqlTx(func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), `SELECT m.template FROM messages m JOIN conversations c ON c.id = m.conversation_id
			WHERE c.end_user_id = $1 AND m.role = 'assistant'`, eu).Scan(&raw)
	})
	if raw == nil {
		return nil
	}
	var t events.MessageTemplate
	require.NoError(r.t, json.Unmarshal(raw, &t))
	return &t
}

// TestDecideWhatsAppWindow: inside WhatsApp's 24-hour window the text is sent; outside it the
// channel's approved template (mode template), or nothing on a channel without one
// (no_template). A campaign with its own template reaches people outside the window on any
// channel, with that template and each person's parameters stored with the message.
func TestDecideWhatsAppWindow(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 5, 5, 11, 30, 0, 0, time.UTC)
	r := newRig(t, t0)
	r.policy("UTC", 0, 0, 5, 10)
	tpl, plain := r.waChannel("100000000000001", true), r.waChannel("100000000000077", false)
	ada := r.waPerson(tpl, "491700007701", "Ada Recent", t0.Add(-30*time.Minute))
	bea := r.waPerson(tpl, "491700007702", "Bea Old", t0.Add(-25*time.Hour-30*time.Minute))
	cem := r.waPerson(plain, "491700007703", "Cem Old", t0.Add(-25*time.Hour-30*time.Minute))
	w := r.worker()

	camp := r.campaign(proactive.Audience{Channel: events.ChannelWhatsApp}, text("Hi {{first_name}}, how did you sleep this week?"), once(t0))
	occ := uuid.New()
	r.submitAll(w, camp, occ, t0, ada, bea, cem)
	require.Equal(t, "sent//text", r.decision(camp, ada))
	require.Equal(t, "sent//template", r.decision(camp, bea))
	require.Equal(t, "skipped/no_template/", r.decision(camp, cem))
	require.Equal(t, []string{"Hi Ada, how did you sleep this week?"}, r.bodies(ada))
	require.Equal(t, []string{"Hi Bea, how did you sleep this week?"}, r.bodies(bea))
	require.Nil(t, r.messageTemplate(bea), "no template of its own: dispatch sends the channel's")
	require.Empty(t, r.bodies(cem), "no message stored for Cem")
	ob := r.outbound()
	require.Len(t, ob, 2)
	for _, m := range ob {
		require.Equal(t, events.ChannelWhatsApp, m.Data.Channel)
		require.Contains(t, []uuid.UUID{ada, bea}, m.Data.EndUserID)
	}

	// The next day, a campaign with its own template: Cem (no default template) gets it too.
	t1 := t0.Add(24 * time.Hour)
	r.clk.Set(t1)
	own := r.campaign(proactive.Audience{Channel: events.ChannelWhatsApp}, proactive.Content{Kind: proactive.ContentText,
		Text:     "Hi {{first_name}}, time for your weekly check-in.",
		Template: &proactive.Template{Name: "weekly_checkin", Language: "en", Params: []string{"{{first_name}}", "{{coach_name}}"}}}, once(t1))
	r.submitAll(w, own, uuid.New(), t1, ada, cem)
	require.Equal(t, "sent//template", r.decision(own, ada), "Ada's window closed since")
	require.Equal(t, "sent//template", r.decision(own, cem))
	require.Equal(t, &events.MessageTemplate{Name: "weekly_checkin", Language: "en", Params: []string{"Cem", "Coach"}}, r.messageTemplate(cem))
	require.Equal(t, []string{"Hi Cem, time for your weekly check-in."}, r.bodies(cem))
	require.Len(t, r.outbound(), 4)
}
