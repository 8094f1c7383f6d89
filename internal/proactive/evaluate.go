package proactive

import (
	"context"
	"time"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/channels"
	"github.com/coachwire/coachwire/internal/db"
)

// Platform is the operator's settings every creator's policy lives under.
type Platform struct {
	CeilingDay, CeilingWeek int
	LiveWindow              time.Duration
	MaxHold                 time.Duration
}

// PolicyFor is the creator's policy under the platform's ceilings.
func (p Platform) PolicyFor(cp db.GetCreatorPolicyRow) Policy {
	return Policy{QuietStart: int(cp.QuietStart), QuietEnd: int(cp.QuietEnd), CapDay: int(cp.NudgeCapDay), CapWeek: int(cp.NudgeCapWeek),
		CeilingDay: p.CeilingDay, CeilingWeek: p.CeilingWeek, LiveWindow: p.LiveWindow, MaxHold: p.MaxHold, WhatsAppWindow: 24 * time.Hour}
}

// Zone is the person's timezone, else the creator's, else UTC.
func Zone(eu db.EndUser, cp db.GetCreatorPolicyRow) *time.Location {
	for _, name := range []string{eu.Timezone, cp.Timezone} {
		if name == "" {
			continue
		}
		if loc, err := time.LoadLocation(name); err == nil {
			return loc
		}
	}
	return time.UTC
}

// Facts gathers what the policy needs to know about eu at now, inside the creator's tenant.
func Facts(ctx context.Context, q *db.Queries, eu db.EndUser, cp db.GetCreatorPolicyRow, now time.Time) (Recipient, error) {
	r := Recipient{Zone: Zone(eu, cp), Channel: eu.Channel, OptedOut: eu.OptedOutAt != nil, LastInboundAt: eu.LastInboundAt}
	switch eu.Channel {
	case events.ChannelWidget, events.ChannelApp: // coachwire's own: no provider account
		r.HasChannel = true
	default:
		r.HasChannel = eu.ChannelID.Valid && (eu.ChatID != "" || eu.ProviderUserID != "")
		if r.HasChannel && eu.Channel == events.ChannelWhatsApp {
			ch, err := q.GetChannel(ctx, eu.ChannelID.UUID)
			if err != nil && !db.IsNotFound(err) {
				return r, err
			}
			if err == nil {
				r.HasTemplate = ChannelHasTemplate(ch.Config)
			} else {
				r.HasChannel = false
			}
		}
	}
	last, err := q.LastUserMessageAt(ctx, eu.ID)
	if err != nil && !db.IsNotFound(err) {
		return r, err
	}
	if last.Unix() > 0 && (r.LastInboundAt == nil || last.After(*r.LastInboundAt)) {
		r.LastInboundAt = &last
	}
	counts, err := q.CountProactiveSent(ctx, db.CountProactiveSentParams{EndUserID: eu.ID,
		DayStart: DayStart(now.In(r.Zone)), WeekStart: now.Add(-7 * 24 * time.Hour)})
	if err != nil {
		return r, err
	}
	r.SentDay, r.SentWeek = int(counts.SentDay), int(counts.SentWeek)
	return r, nil
}

// ChannelHasTemplate reports whether a channel's configuration has an approved template.
func ChannelHasTemplate(config []byte) bool {
	cfg, err := channels.ParseConfig(config)
	return err == nil && cfg.Template != nil && cfg.Template.Name != ""
}

// For is r as the policy sees it for content: content that names its own approved WhatsApp
// template reaches the person outside the 24-hour window even when their channel has none.
func (r Recipient) For(c Content) Recipient {
	if c.Template != nil && r.Channel == events.ChannelWhatsApp && r.HasChannel {
		r.HasTemplate = true
	}
	return r
}
