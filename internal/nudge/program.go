package nudge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/internal/db"
)

// Step is one message of a drip program.
type Step struct {
	// Day is the offset from enrollment in days; At ("HH:MM") pins the time in the person's
	// local time, otherwise the step is due Day×24 h after enrollment.
	Day     int     `json:"day"`
	At      string  `json:"at,omitempty"`
	Content Content `json:"content"`
	// OnlyIfNoReply skips the step when the person replied since the previous step.
	OnlyIfNoReply bool `json:"only_if_no_reply,omitempty"`
	// OnReply is what a reply since the previous step does when this step falls due: "" or
	// "continue", "pause" (the enrollment pauses), or "goto:N" (jump to step N).
	OnReply string `json:"on_reply,omitempty"`
}

// ValidateSteps checks a program's steps.
func ValidateSteps(steps []Step) error {
	if len(steps) == 0 {
		return errors.New("steps: at least one step is required")
	}
	for i, s := range steps {
		if s.Day < 0 {
			return fmt.Errorf("steps[%d].day must not be negative", i)
		}
		if i > 0 && s.Day < steps[i-1].Day {
			return fmt.Errorf("steps[%d].day: steps must be in order of day", i)
		}
		if s.At != "" {
			if _, err := ParseHHMM(s.At); err != nil {
				return fmt.Errorf("steps[%d].at: %v", i, err)
			}
		}
		if err := s.Content.Validate(); err != nil {
			return fmt.Errorf("steps[%d].%v", i, err)
		}
		if _, err := parseOnReply(s.OnReply, len(steps)); err != nil {
			return fmt.Errorf("steps[%d].on_reply: %v", i, err)
		}
	}
	return nil
}

// parseOnReply returns -1 for continue, -2 for pause, or the step to go to.
func parseOnReply(s string, n int) (int, error) {
	switch {
	case s == "" || s == "continue":
		return -1, nil
	case s == "pause":
		return -2, nil
	case strings.HasPrefix(s, "goto:"):
		k, err := strconv.Atoi(strings.TrimPrefix(s, "goto:"))
		if err != nil || k < 0 || k >= n {
			return 0, fmt.Errorf("%q: want goto:<step index>", s)
		}
		return k, nil
	}
	return 0, fmt.Errorf("%q: want continue, pause or goto:N", s)
}

// StepDue is when step falls due for someone enrolled at enrolled in zone.
func StepDue(s Step, enrolled time.Time, zone *time.Location) time.Time {
	if s.At == "" {
		return enrolled.Add(time.Duration(s.Day) * 24 * time.Hour).UTC()
	}
	local := enrolled.In(zone)
	y, m, d := local.Date()
	day := time.Date(y, m, d, 0, 0, 0, 0, time.UTC).AddDate(0, 0, s.Day)
	t, _ := LocalInstant(day.Format(dateLayout), s.At, zone)
	if t.Before(enrolled) { // "day 0 at 09:00" for someone enrolled at 10:00: tomorrow
		t, _ = LocalInstant(day.AddDate(0, 0, 1).Format(dateLayout), s.At, zone)
	}
	return t
}

// Enroll enrolls eu in program p at now (idempotent).
func Enroll(ctx context.Context, q *db.Queries, p db.Program, eu db.EndUser, now time.Time) (db.ProgramEnrollment, error) {
	var steps []Step
	if err := json.Unmarshal(p.Steps, &steps); err != nil || len(steps) == 0 {
		return db.ProgramEnrollment{}, fmt.Errorf("nudge: program %s has no steps", p.ID)
	}
	cp, err := q.GetCreatorPolicy(ctx, p.CreatorID)
	if err != nil {
		return db.ProgramEnrollment{}, err
	}
	due := StepDue(steps[0], now, Zone(eu, cp))
	return q.Enroll(ctx, db.EnrollParams{ID: uuid.Must(uuid.NewV7()), CreatorID: p.CreatorID, ProgramID: p.ID, EndUserID: eu.ID,
		EnrolledAt: now, NextAt: &due})
}

// runEnrollment handles one claimed enrollment: applies the reply rules of the due step, then
// publishes the step's recipient event and moves the enrollment to the next step.
func (w *Worker) runEnrollment(ctx context.Context, c, id uuid.UUID) error {
	now := w.Clock.Now()
	var ev *RecipientEvent
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
		var steps []Step
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
		zone := Zone(eu, cp)
		step := int(e.NextStep)
		for hops := 0; hops < len(steps)+1; hops++ {
			if step >= len(steps) {
				_, err := q.AdvanceEnrollment(ctx, db.AdvanceEnrollmentParams{ID: e.ID, Status: "completed", NextStep: int32(step),
					LastStep: e.LastStep, LastStepAt: e.LastStepAt, Entry: entry(step, "completed", now)})
				return err
			}
			s := steps[step]
			replied := false
			if e.LastStepAt != nil {
				if replied, err = q.UserRepliedSince(ctx, db.UserRepliedSinceParams{EndUserID: eu.ID, Since: *e.LastStepAt}); err != nil {
					return err
				}
			}
			if replied {
				action, _ := parseOnReply(s.OnReply, len(steps))
				switch {
				case action == -2:
					_, err := q.AdvanceEnrollment(ctx, db.AdvanceEnrollmentParams{ID: e.ID, Status: "paused", NextStep: int32(step),
						NextAt: e.NextAt, LastStep: e.LastStep, LastStepAt: e.LastStepAt, Entry: entry(step, "paused_on_reply", now)})
					return err
				case action >= 0 && action != step:
					step = action
					continue
				}
				if s.OnlyIfNoReply {
					if _, err := q.AdvanceEnrollment(ctx, db.AdvanceEnrollmentParams{ID: e.ID, Status: "active", NextStep: int32(step + 1),
						NextAt: nextDue(steps, step+1, e.EnrolledAt, zone, now), LastStep: e.LastStep, LastStepAt: e.LastStepAt,
						Entry: entry(step, "skipped_replied", now)}); err != nil {
						return err
					}
					return nil
				}
			}
			ev = &RecipientEvent{OccurrenceID: ProgramOccurrence(e.ID, step), EnrollmentID: e.ID, Step: step, EndUserID: eu.ID, ScheduledAt: *e.NextAt}
			sent := step
			advance = func(q *db.Queries) error {
				_, err := q.AdvanceEnrollment(ctx, db.AdvanceEnrollmentParams{ID: e.ID, Status: "active", NextStep: int32(sent + 1),
					NextAt: nextDue(steps, sent+1, e.EnrolledAt, zone, now), LastStep: int32(sent), LastStepAt: &now, Entry: entry(sent, "due", now)})
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
	if err := w.publishRecipients(ctx, c, []RecipientEvent{*ev}, func(r RecipientEvent) string { return MsgID(r.OccurrenceID, r.EndUserID) }); err != nil {
		return err
	}
	return w.Store.InTenant(ctx, c, advance)
}

func nextDue(steps []Step, i int, enrolled time.Time, zone *time.Location, now time.Time) *time.Time {
	if i >= len(steps) {
		return &now // completes on the next pass
	}
	t := StepDue(steps[i], enrolled, zone)
	return &t
}

func entry(step int, what string, at time.Time) []byte {
	b, _ := json.Marshal([]map[string]any{{"step": step, "event": what, "at": at.UTC()}})
	return b
}
