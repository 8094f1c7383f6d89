package nudge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/proactive"
)

// runEnrollment handles one claimed enrollment: recomputes when its next step is due (the
// steps may have been edited), applies the step's reply rules, then publishes the step's
// recipient event and moves the enrollment on.
func (w *Worker) runEnrollment(ctx context.Context, c, id uuid.UUID) error {
	now := w.Clock.Now()
	var ev *proactive.RecipientEvent
	var advance func(q *db.Queries) error
	err := w.Store.InTenant(ctx, c, func(q *db.Queries) error {
		e, err := q.LockEnrollment(ctx, id)
		if err != nil {
			return err
		}
		if e.Status != "active" || e.NextAt == nil || e.NextAt.After(now) {
			return nil
		}
		p, err := q.GetProgram(ctx, e.ProgramID)
		if err != nil {
			return err
		}
		if p.Status != "active" {
			return nil // paused or archived since it was claimed
		}
		var steps []proactive.Step
		if err := json.Unmarshal(p.Steps, &steps); err != nil {
			return err
		}
		eu, err := q.GetEndUser(ctx, e.EndUserID)
		if err != nil {
			return err
		}
		cp, err := q.GetCreatorPolicy(ctx, c)
		if err != nil {
			return err
		}
		zone := proactive.Zone(eu, cp)
		step := int(e.NextStep)
		move := func(next int, at *time.Time, what string) error {
			_, err := q.AdvanceEnrollment(ctx, db.AdvanceEnrollmentParams{ID: e.ID, Status: "active", NextStep: int32(next),
				NextAt: at, LastStep: e.LastStep, LastStepAt: e.LastStepAt, Entry: proactive.Entry(step, what, now)})
			return err
		}
		for hops := 0; hops <= len(steps); hops++ {
			if step >= len(steps) {
				_, err := q.AdvanceEnrollment(ctx, db.AdvanceEnrollmentParams{ID: e.ID, Status: "completed", NextStep: int32(step),
					LastStep: e.LastStep, LastStepAt: e.LastStepAt, Entry: proactive.Entry(step, "completed", now)})
				return err
			}
			s := steps[step]
			due := proactive.StepDue(s, e.EnrolledAt, zone)
			if due.After(now) { // an edit moved this step later, or a branch landed on a later step
				return move(step, &due, "rescheduled")
			}
			replied := false
			if e.LastStepAt != nil {
				if replied, err = q.UserRepliedSince(ctx, db.UserRepliedSinceParams{EndUserID: eu.ID, Since: *e.LastStepAt}); err != nil {
					return err
				}
			}
			if replied {
				action, _ := proactive.ParseOnReply(s.OnReply, len(steps))
				switch {
				case action == -2:
					_, err := q.PauseEnrollment(ctx, db.PauseEnrollmentParams{ID: e.ID, Now: now, Entry: proactive.Entry(step, "paused_on_reply", now)})
					return err
				case action > step: // branch forward: step N at its own time
					branch := fmt.Sprintf("branched_on_reply:%d", action)
					if d := proactive.StepDue(steps[action], e.EnrolledAt, zone); d.After(now) {
						return move(action, &d, branch)
					}
					if err := move(action, e.NextAt, branch); err != nil {
						return err
					}
					step = action
					continue
				}
				if s.OnlyIfNoReply {
					return move(step+1, proactive.NextDue(steps, step+1, e.EnrolledAt, zone, now), "skipped_replied")
				}
			}
			ev = &proactive.RecipientEvent{OccurrenceID: proactive.ProgramOccurrence(e.ID, step), EnrollmentID: e.ID, Step: step, EndUserID: eu.ID, ScheduledAt: due}
			sent := step
			advance = func(q *db.Queries) error {
				_, err := q.AdvanceEnrollment(ctx, db.AdvanceEnrollmentParams{ID: e.ID, Status: "active", NextStep: int32(sent + 1),
					NextAt: proactive.NextDue(steps, sent+1, e.EnrolledAt, zone, now), LastStep: int32(sent), LastStepAt: &now, Entry: proactive.Entry(sent, "due", now)})
				return err
			}
			return nil
		}
		return errors.New("nudge: program branches loop")
	})
	if err != nil || ev == nil {
		return err
	}
	// Publish first, then advance: a crash in between re-publishes the same step with the same
	// id, which the bus and the decision log both drop.
	if err := w.publishRecipients(ctx, c, []proactive.RecipientEvent{*ev}, func(r proactive.RecipientEvent) string { return proactive.MsgID(r.OccurrenceID, r.EndUserID) }); err != nil {
		return err
	}
	return w.Store.InTenant(ctx, c, advance)
}
