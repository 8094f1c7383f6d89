package proactive

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/clock"
)

func TestDecide(t *testing.T) {
	paris := mustZone(t, "Europe/Paris")
	tokyo := mustZone(t, "Asia/Tokyo")
	clk := clock.NewFake(time.Date(2026, 6, 10, 12, 0, 0, 0, time.UTC)) // 14:00 Paris, 21:00 Tokyo
	now := clk.Now()
	ago := func(d time.Duration) *time.Time { t := now.Add(-d); return &t }
	base := Policy{QuietStart: 22 * 60, QuietEnd: 8 * 60, CapDay: 2, CapWeek: 5, CeilingDay: 3, CeilingWeek: 10,
		LiveWindow: 10 * time.Minute, MaxHold: 48 * time.Hour}
	widget := Recipient{Zone: paris, Channel: "widget", HasChannel: true}
	wa := Recipient{Zone: paris, Channel: "whatsapp", HasChannel: true}
	with := func(r Recipient, f func(*Recipient)) Recipient { f(&r); return r }
	pol := func(f func(*Policy)) Policy { p := base; f(&p); return p }

	cases := []struct {
		name      string
		p         Policy
		r         Recipient
		now       time.Time
		notBefore time.Time
		want      Decision
	}{
		{"plain send", base, widget, now, time.Time{}, Decision{Outcome: OutcomeSent, Mode: ModeText}},
		{"opted out", base, with(widget, func(r *Recipient) { r.OptedOut = true }), now, time.Time{}, Decision{Outcome: OutcomeSkipped, Reason: ReasonOptedOut}},
		{"no channel", base, with(widget, func(r *Recipient) { r.HasChannel = false }), now, time.Time{}, Decision{Outcome: OutcomeSkipped, Reason: ReasonNoChannel}},
		{"quiet hours before midnight held till 08:00 next day", base, with(widget, func(r *Recipient) { r.Zone = tokyo }),
			time.Date(2026, 6, 10, 14, 0, 0, 0, time.UTC), time.Time{}, // 23:00 Tokyo
			Decision{Outcome: OutcomeHeld, Reason: ReasonQuietHours, HoldUntil: time.Date(2026, 6, 10, 23, 0, 0, 0, time.UTC)}},
		{"quiet hours after midnight held till 08:00 same day", base, widget,
			time.Date(2026, 6, 10, 3, 0, 0, 0, time.UTC), time.Time{}, // 05:00 Paris
			Decision{Outcome: OutcomeHeld, Reason: ReasonQuietHours, HoldUntil: time.Date(2026, 6, 10, 6, 0, 0, 0, time.UTC)}},
		{"quiet window ends exactly now", base, widget, time.Date(2026, 6, 10, 6, 0, 0, 0, time.UTC), time.Time{}, Decision{Outcome: OutcomeSent, Mode: ModeText}},
		{"no quiet hours", pol(func(p *Policy) { p.QuietStart, p.QuietEnd = 0, 0 }), widget, time.Date(2026, 6, 10, 1, 0, 0, 0, time.UTC), time.Time{}, Decision{Outcome: OutcomeSent, Mode: ModeText}},
		{"local time not reached", base, widget, now, now.Add(3 * time.Hour), Decision{Outcome: OutcomeHeld, Reason: ReasonLocalTime, HoldUntil: now.Add(3 * time.Hour)}},
		{"live conversation", base, with(widget, func(r *Recipient) { r.LastInboundAt = ago(4 * time.Minute) }), now, time.Time{},
			Decision{Outcome: OutcomeHeld, Reason: ReasonLive, HoldUntil: now.Add(6 * time.Minute)}},
		{"awaited during a live conversation", base, with(widget, func(r *Recipient) { r.LastInboundAt = ago(time.Minute); r.Awaited = true }), now, time.Time{},
			Decision{Outcome: OutcomeSent, Mode: ModeText}},
		{"daily cap", base, with(widget, func(r *Recipient) { r.SentDay = 2 }), now, time.Time{}, Decision{Outcome: OutcomeSkipped, Reason: ReasonCapped}},
		{"weekly cap", base, with(widget, func(r *Recipient) { r.SentDay, r.SentWeek = 0, 5 }), now, time.Time{}, Decision{Outcome: OutcomeSkipped, Reason: ReasonCapped}},
		{"platform ceiling bounds the creator", pol(func(p *Policy) { p.CapDay = 50 }), with(widget, func(r *Recipient) { r.SentDay = 3 }), now, time.Time{}, Decision{Outcome: OutcomeSkipped, Reason: ReasonCapped}},
		{"ceiling applies with no creator cap", pol(func(p *Policy) { p.CapDay = 0 }), with(widget, func(r *Recipient) { r.SentDay = 2 }), now, time.Time{}, Decision{Outcome: OutcomeSent, Mode: ModeText}},
		{"whatsapp inside window", base, with(wa, func(r *Recipient) { r.LastInboundAt = ago(3 * time.Hour) }), now, time.Time{}, Decision{Outcome: OutcomeSent, Mode: ModeText}},
		{"whatsapp outside window with template", base, with(wa, func(r *Recipient) { r.LastInboundAt, r.HasTemplate = ago(30*time.Hour), true }), now, time.Time{}, Decision{Outcome: OutcomeSent, Mode: ModeTemplate}},
		{"whatsapp never wrote, template", base, with(wa, func(r *Recipient) { r.HasTemplate = true }), now, time.Time{}, Decision{Outcome: OutcomeSent, Mode: ModeTemplate}},
		{"whatsapp outside window no template", base, with(wa, func(r *Recipient) { r.LastInboundAt = ago(30 * time.Hour) }), now, time.Time{}, Decision{Outcome: OutcomeSkipped, Reason: ReasonNoTemplate}},
		{"held too long expires", base, widget, now.Add(72 * time.Hour), time.Time{}, Decision{Outcome: OutcomeSkipped, Reason: ReasonExpired}},
		{"opt-out beats everything", base, with(wa, func(r *Recipient) { r.OptedOut, r.SentDay = true, 9 }), now, now.Add(time.Hour), Decision{Outcome: OutcomeSkipped, Reason: ReasonOptedOut}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Decide(c.p, c.r, c.now, c.notBefore, now)
			require.Equal(t, c.want, got)
		})
	}
}

func TestQuietHoursAcrossDST(t *testing.T) {
	ny := mustZone(t, "America/New_York")
	// 23:00 EST on the eve of spring forward, quiet 22:00-02:30: 02:30 does not exist → 03:00 EDT.
	local := time.Date(2026, 3, 7, 23, 0, 0, 0, ny)
	until, quiet := QuietUntil(22*60, 2*60+30, local)
	require.True(t, quiet)
	require.Equal(t, time.Date(2026, 3, 8, 7, 0, 0, 0, time.UTC), until.UTC())
	require.Equal(t, time.Date(2026, 3, 8, 5, 0, 0, 0, time.UTC), DayStart(time.Date(2026, 3, 8, 12, 0, 0, 0, ny)).UTC())
}
