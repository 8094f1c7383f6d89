package proactive

// Campaign lifecycle as the creator drives it: create, edit, pause, resume, cancel, and the
// preview (the dry run of the send policy). q runs in the creator's tenant.

import (
	"context"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/db"
)

// Campaign statuses.
const (
	CampaignActive    = "active"
	CampaignPaused    = "paused"
	CampaignCompleted = "completed"
	CampaignCancelled = "cancelled"
)

// campaignFrom lists, for each status a creator can set, the statuses it can be set from.
var campaignFrom = map[string][]string{
	CampaignPaused:    {CampaignActive},
	CampaignActive:    {CampaignPaused},
	CampaignCancelled: {CampaignActive, CampaignPaused},
}

// Validate checks a campaign's audience, content and schedule at now; minInterval is the
// shortest gap allowed between two occurrences of a recurring schedule.
func (s CampaignSpec) Validate(now time.Time, minInterval time.Duration) error {
	for _, err := range []error{s.Audience.Validate(), s.Content.Validate(), s.Schedule.Validate()} {
		if err != nil {
			return invalid("invalid_campaign", err.Error())
		}
	}
	if s.Schedule.Kind == ScheduleOnce && s.Schedule.At.Before(now.Add(-time.Minute)) {
		return invalid("invalid_campaign", "schedule.at is in the past")
	}
	if _, ok := s.Schedule.Next(now); !ok && s.Schedule.Kind != ScheduleOnce {
		return invalid("invalid_campaign", "schedule: no occurrence after now")
	}
	if err := s.Schedule.CheckInterval(minInterval, now); err != nil {
		return invalid("schedule_too_frequent", err.Error())
	}
	return nil
}

// audienceRefsExist checks that what the audience names by id is the creator's own: the
// audience is JSON, so no foreign key does it, and another creator's program id must be
// refused like an unknown one (NotFound), not stored.
func audienceRefsExist(ctx context.Context, q *db.Queries, a Audience) error {
	if a.ProgramID == nil {
		return nil
	}
	if _, err := q.GetProgram(ctx, *a.ProgramID); err != nil {
		return orNotFound(err, "audience.program_id: program")
	}
	return nil
}

// CreateCampaign stores a validated campaign and schedules its first occurrence; it returns the
// campaign and its first occurrences.
func CreateCampaign(ctx context.Context, q *db.Queries, creator uuid.UUID, s CampaignSpec, now time.Time) (db.Campaign, []db.CampaignOccurrence, error) {
	aud, content, sched, err := s.columns()
	if err != nil {
		return db.Campaign{}, nil, err
	}
	if err := audienceRefsExist(ctx, q, s.Audience); err != nil {
		return db.Campaign{}, nil, err
	}
	c, err := q.InsertCampaign(ctx, db.InsertCampaignParams{ID: uuid.Must(uuid.NewV7()), CreatorID: creator, Name: s.Name,
		Audience: aud, Content: content, Schedule: sched})
	if err != nil {
		return c, nil, err
	}
	// A one-off "now" a few seconds old is still sent (Validate allows a minute).
	if err := ScheduleNext(ctx, q, creator, c.ID, s.Schedule, now.Add(-time.Minute)); err != nil {
		return c, nil, err
	}
	if c, err = q.GetCampaign(ctx, c.ID); err != nil {
		return c, nil, err
	}
	occ, err := q.ListOccurrences(ctx, db.ListOccurrencesParams{CampaignID: c.ID, MaxRows: 5})
	return c, occ, err
}

// UpdateCampaign edits a campaign's future: occurrences not started yet are recomputed from the
// new schedule; a running occurrence finishes with the new content. A finished (cancelled or
// completed) campaign cannot be edited.
func UpdateCampaign(ctx context.Context, q *db.Queries, creator, id uuid.UUID, s CampaignSpec, now time.Time) (db.Campaign, []db.CampaignOccurrence, error) {
	c, err := q.LockCampaign(ctx, id)
	if err != nil {
		return c, nil, err
	}
	if c.Status == CampaignCancelled || c.Status == CampaignCompleted {
		return c, nil, conflict("campaign_finished", "a "+c.Status+" campaign cannot be edited")
	}
	if err := audienceRefsExist(ctx, q, s.Audience); err != nil {
		return c, nil, err
	}
	aud, content, sched, err := s.columns()
	if err != nil {
		return c, nil, err
	}
	if c, err = q.UpdateCampaign(ctx, db.UpdateCampaignParams{ID: id, Name: s.Name, Audience: aud, Content: content, Schedule: sched}); err != nil {
		return c, nil, err
	}
	if _, err := q.DeleteFutureOccurrences(ctx, id); err != nil {
		return c, nil, err
	}
	if err := ScheduleNext(ctx, q, creator, id, s.Schedule, now.Add(-time.Minute)); err != nil {
		return c, nil, err
	}
	occ, err := q.ListOccurrences(ctx, db.ListOccurrencesParams{CampaignID: id, MaxRows: 5})
	return c, occ, err
}

// SetCampaignStatus pauses (to CampaignPaused), resumes (CampaignActive) or cancels
// (CampaignCancelled) a campaign. A completed campaign whose last occurrence still holds
// recipients (quiet hours, their local time) can still be paused or cancelled. Resuming decides
// again who was held because of the pause and schedules the next occurrence.
func SetCampaignStatus(ctx context.Context, q *db.Queries, creator, id uuid.UUID, to string, now time.Time) (db.Campaign, error) {
	c, err := q.LockCampaign(ctx, id)
	if err != nil {
		return c, err
	}
	ok := c.Status == to || slices.Contains(campaignFrom[to], c.Status)
	if !ok && c.Status == CampaignCompleted && to != CampaignActive {
		if ok, err = q.HasHeldDecisions(ctx, uuid.NullUUID{UUID: id, Valid: true}); err != nil {
			return c, err
		}
	}
	if !ok {
		return c, conflict("invalid_state", "campaign is "+c.Status)
	}
	if c, err = q.SetCampaignStatus(ctx, db.SetCampaignStatusParams{ID: id, Status: to}); err != nil {
		return c, err
	}
	switch to {
	case CampaignCancelled:
		if err := q.CancelOccurrences(ctx, id); err != nil {
			return c, err
		}
	case CampaignActive: // resumed: who was held because of the pause is decided again now
		if _, err := q.ReleasePausedHolds(ctx, db.ReleasePausedHoldsParams{CampaignID: uuid.NullUUID{UUID: id, Valid: true}, Now: now}); err != nil {
			return c, err
		}
		if err := ScheduleFollowing(ctx, q, creator, id, now); err != nil {
			return c, err
		}
		if c, err = q.GetCampaign(ctx, id); err != nil { // a one-off may have completed
			return c, err
		}
	}
	return c, nil
}

// PreviewItem is what one person would get at an occurrence, or why not.
type PreviewItem struct {
	EndUser   db.EndUser
	Decision  Decision
	HoldUntil *time.Time
	// Text is what a text campaign sends this person, or a description of what is sent;
	// Template is, outside WhatsApp's window, the campaign's template as this person gets it.
	Text     string
	Template *events.MessageTemplate
}

// PreviewPage is one page of a campaign's preview.
type PreviewPage struct {
	// At is the occurrence time previewed.
	At         time.Time
	Recipients []PreviewItem
	// NextAfter is the cursor of the next page (nil on the last one).
	NextAfter *uuid.UUID
}

// Preview is the dry run of a campaign: who would get what at its next occurrence (or at *at),
// who would be held or skipped and why, one page of the audience (after the end user id
// after, at most limit people).
func Preview(ctx context.Context, q *db.Queries, platform Platform, creator, id uuid.UUID, at *time.Time, after uuid.UUID, limit int, now time.Time) (PreviewPage, error) {
	row, err := q.GetCampaign(ctx, id)
	if err != nil {
		return PreviewPage{}, err
	}
	c, err := CampaignOf(row)
	if err != nil {
		return PreviewPage{}, err
	}
	return preview(ctx, q, platform, creator, c.CampaignSpec, at, after, limit, now)
}

// PreviewDraft is Preview for a campaign not saved yet (the console's builder): the same dry
// run of spec, which the caller has validated. What the audience names by id must be the
// creator's own, as on create.
func PreviewDraft(ctx context.Context, q *db.Queries, platform Platform, creator uuid.UUID, spec CampaignSpec, at *time.Time, after uuid.UUID, limit int, now time.Time) (PreviewPage, error) {
	if err := audienceRefsExist(ctx, q, spec.Audience); err != nil {
		return PreviewPage{}, err
	}
	return preview(ctx, q, platform, creator, spec, at, after, limit, now)
}

// AudienceCount is how many end users the audience matches at now, and how many of those opted
// out (they are matched but never sent to). What it names by id must be the creator's own.
type AudienceCount struct {
	Total, OptedOut int64
}

// CountAudience counts the audience at now (the console's live count).
func CountAudience(ctx context.Context, q *db.Queries, a Audience, now time.Time) (AudienceCount, error) {
	if err := audienceRefsExist(ctx, q, a); err != nil {
		return AudienceCount{}, err
	}
	row, err := q.CountAudience(ctx, a.CountParams(now))
	return AudienceCount{Total: row.Total, OptedOut: row.OptedOut}, err
}

// preview decides, without recording anything, each person of one page of c's audience.
func preview(ctx context.Context, q *db.Queries, platform Platform, creator uuid.UUID, c CampaignSpec, at *time.Time, after uuid.UUID, limit int, now time.Time) (PreviewPage, error) {
	var page PreviewPage
	occ, ok := c.Schedule.Next(now)
	page.At = now
	if at != nil {
		page.At = *at
	} else if ok {
		page.At = occ.At
	}
	cp, err := q.GetCreatorPolicy(ctx, creator)
	if err != nil {
		return page, err
	}
	policy := platform.PolicyFor(cp)
	people, err := q.AudiencePage(ctx, c.Audience.PageParams(after, limit, page.At))
	if err != nil {
		return page, err
	}
	for _, p := range people {
		eu, err := q.GetEndUser(ctx, p.ID)
		if err != nil {
			return page, err
		}
		var notBefore time.Time
		if occ.LocalDate != "" {
			notBefore, _ = LocalInstant(occ.LocalDate, occ.LocalTime, Zone(eu, cp))
		}
		when := page.At
		if notBefore.After(when) {
			when = notBefore // preview each person at their own local time
		}
		facts, err := Facts(ctx, q, eu, cp, when)
		if err != nil {
			return page, err
		}
		d := Decide(policy, facts.For(c.Content), when, notBefore, page.At)
		it := PreviewItem{EndUser: eu, Decision: d}
		if d.Outcome == OutcomeHeld {
			h := d.HoldUntil
			it.HoldUntil = &h
		}
		if d.Outcome == OutcomeSent {
			mem, err := q.GetMemory(ctx, eu.ID)
			if err != nil && !db.IsNotFound(err) {
				return page, err
			}
			vars := VarsFor(eu, cp.Name, mem.Profile)
			switch {
			case d.Mode == ModeTemplate && c.Content.Template != nil:
				t := c.Content.Template.Rendered(vars)
				it.Template = &t
			case d.Mode == ModeTemplate: // outside the window: not this text
				it.Text = "(the channel's default template, without parameters)"
			case c.Content.Kind == ContentText:
				it.Text = Render(c.Content.Text, vars)
			default:
				it.Text = "(AI-personalized from the brief) " + c.Content.Brief
			}
		}
		page.Recipients = append(page.Recipients, it)
	}
	if len(people) == limit {
		n := people[len(people)-1].ID
		page.NextAfter = &n
	}
	return page, nil
}
