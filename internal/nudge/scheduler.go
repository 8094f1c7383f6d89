package nudge

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/ops"
	"github.com/coachwire/coachwire/internal/proactive"
)

// Run runs the scheduler until ctx ends: due occurrences are expanded, held decisions whose
// hold ended are decided again, due program steps are sent. Every replica runs it; the claims
// (SELECT … FOR UPDATE SKIP LOCKED in SECURITY DEFINER functions) split the work.
func (w *Worker) Run(ctx context.Context) {
	w.defaults()
	t := time.NewTicker(w.Tick)
	defer t.Stop()
	for {
		if err := w.RunOnce(ctx); err != nil && ctx.Err() == nil {
			w.Log.Warn("nudge scheduler pass failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RunOnce does one scheduler pass.
func (w *Worker) RunOnce(ctx context.Context) error {
	w.defaults()
	now := w.Clock.Now()
	var occ []db.ClaimOccurrencesRow
	var enr []db.ClaimEnrollmentsRow
	var held []db.ClaimHeldRow
	err := w.Store.Global(ctx, func(q *db.Queries) error {
		var err error
		lease := w.Lease.Seconds()
		if occ, err = q.ClaimOccurrences(ctx, db.ClaimOccurrencesParams{Owner: w.Owner, Now: now, LeaseSeconds: lease, MaxRows: 4}); err != nil {
			return err
		}
		if enr, err = q.ClaimEnrollments(ctx, db.ClaimEnrollmentsParams{Now: now, LeaseSeconds: lease, MaxRows: 500}); err != nil {
			return err
		}
		held, err = q.ClaimHeld(ctx, db.ClaimHeldParams{Now: now, LeaseSeconds: lease, MaxRows: 2000})
		return err
	})
	if err != nil {
		return fmt.Errorf("nudge: claim: %w", err)
	}
	w.Metrics.Occurrences(ops.OccurrenceDue, len(occ))
	for _, o := range occ {
		if err := w.expand(ctx, o.CreatorID, o.OccurrenceID); err != nil {
			w.Log.Warn("occurrence expansion stopped; another pass resumes it", "creator_id", o.CreatorID, "occurrence_id", o.OccurrenceID, "err", err)
		}
	}
	for _, e := range enr {
		if err := w.runEnrollment(ctx, e.CreatorID, e.EnrollmentID); err != nil {
			w.Log.Warn("program step failed; retried after the lease", "creator_id", e.CreatorID, "enrollment_id", e.EnrollmentID, "err", err)
		}
	}
	byCreator := map[uuid.UUID][]proactive.RecipientEvent{}
	holds := map[string]int32{}
	for _, h := range held {
		// A held decision keeps the instant it was due at, so it still expires (MaxHold).
		due := h.DueAt
		if due.Unix() <= 0 {
			due = now
		}
		byCreator[h.CreatorID] = append(byCreator[h.CreatorID], proactive.RecipientEvent{OccurrenceID: h.OccurrenceID, CampaignID: h.CampaignID,
			EnrollmentID: h.EnrollmentID, Step: int(h.Step), EndUserID: h.EndUserID, ScheduledAt: due})
		holds[proactive.MsgID(h.OccurrenceID, h.EndUserID)] = h.Holds
	}
	for c, evs := range byCreator {
		if err := w.publishRecipients(ctx, c, evs, func(r proactive.RecipientEvent) string {
			return fmt.Sprintf("%s:h%d", proactive.MsgID(r.OccurrenceID, r.EndUserID), holds[proactive.MsgID(r.OccurrenceID, r.EndUserID)])
		}); err != nil {
			return err
		}
	}
	return nil
}

// expand publishes one recipient event per member of the occurrence's audience, a keyset page
// at a time, recording the cursor after each page so a successor resumes where it stopped.
func (w *Worker) expand(ctx context.Context, c, id uuid.UUID) error {
	var (
		o        db.CampaignOccurrence
		campaign db.Campaign
		aud      proactive.Audience
		cp       db.GetCreatorPolicyRow
	)
	if err := w.Store.InTenant(ctx, c, func(q *db.Queries) error {
		var err error
		if o, err = q.GetOccurrence(ctx, id); err != nil {
			return err
		}
		if campaign, err = q.GetCampaign(ctx, o.CampaignID); err != nil {
			return err
		}
		if cp, err = q.GetCreatorPolicy(ctx, c); err != nil {
			return err
		}
		return json.Unmarshal(campaign.Audience, &aud)
	}); err != nil {
		return err
	}
	owner := uuid.NullUUID{UUID: w.Owner, Valid: true}
	if late := w.Clock.Now().Sub(o.ScheduledAt); w.Platform.MaxHold > 0 && late > w.Platform.MaxHold && !o.CursorID.Valid {
		// Reached too late to be worth sending (the scheduler was down, or the campaign paused,
		// longer than a held message may wait): recorded as missed, and the schedule goes on
		// from now rather than replaying every firing it missed.
		w.Log.Warn("campaign occurrence missed", "creator_id", c, "campaign_id", campaign.ID, "occurrence_id", o.ID,
			"scheduled_at", o.ScheduledAt, "late", late.Round(time.Second))
		return w.Store.InTenant(ctx, c, func(q *db.Queries) error {
			n, err := q.MissOccurrence(ctx, db.MissOccurrenceParams{ID: o.ID, Owner: owner})
			if err != nil || n == 0 {
				return err
			}
			w.Metrics.Occurrences(ops.OccurrenceMissed, 1)
			return proactive.ScheduleFollowing(ctx, q, c, campaign.ID, w.Clock.Now())
		})
	}
	cursor := uuid.Nil
	if o.CursorID.Valid {
		cursor = o.CursorID.UUID
	}
	localDate := ""
	if o.LocalDate.Valid {
		localDate = o.LocalDate.Time.Format(proactive.DateLayout)
	}
	creatorZone := proactive.Zone(db.EndUser{}, cp)
	for {
		var page []db.AudiencePageRow
		if err := w.Store.InTenant(ctx, c, func(q *db.Queries) error {
			var err error
			page, err = q.AudiencePage(ctx, aud.PageParams(cursor, w.Page, w.Clock.Now()))
			return err
		}); err != nil {
			return err
		}
		if len(page) == 0 {
			break
		}
		evs := make([]proactive.RecipientEvent, len(page))
		for i, r := range page {
			evs[i] = proactive.RecipientEvent{OccurrenceID: o.ID, CampaignID: o.CampaignID, EndUserID: r.ID, ScheduledAt: o.ScheduledAt}
			if localDate != "" {
				zone := creatorZone
				if r.Timezone != "" {
					if l, err := time.LoadLocation(r.Timezone); err == nil {
						zone = l
					}
				}
				evs[i].NotBefore, _ = proactive.LocalInstant(localDate, o.LocalAt, zone)
			}
		}
		if err := w.publishRecipients(ctx, c, evs, func(r proactive.RecipientEvent) string { return proactive.MsgID(r.OccurrenceID, r.EndUserID) }); err != nil {
			return err
		}
		cursor = page[len(page)-1].ID
		lease := w.Clock.Now().Add(w.Lease)
		var n int64
		if err := w.Store.InTenant(ctx, c, func(q *db.Queries) error {
			var err error
			n, err = q.AdvanceOccurrence(ctx, db.AdvanceOccurrenceParams{ID: o.ID, Owner: owner, CursorID: uuid.NullUUID{UUID: cursor, Valid: true},
				Added: int32(len(page)), LeaseUntil: &lease})
			return err
		}); err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("lease on occurrence %s lost", o.ID)
		}
		if w.AfterPage != nil {
			w.AfterPage(o.ID, len(page))
		}
		if len(page) < w.Page {
			break
		}
	}
	return w.Store.InTenant(ctx, c, func(q *db.Queries) error {
		n, err := q.FinishOccurrence(ctx, db.FinishOccurrenceParams{ID: o.ID, Owner: owner})
		if err != nil || n == 0 {
			return err
		}
		w.Metrics.Occurrences(ops.OccurrenceExpanded, 1)
		return proactive.ScheduleFollowing(ctx, q, c, campaign.ID, proactive.LaterOf(o.ScheduledAt, w.Clock.Now()))
	})
}
