package proactive

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
	// ID names the step for the console's canvas (its node, its layout position, the issues of
	// CheckProgram); Next is the ID of the step that follows it ("" after the last one). Both are
	// optional on input (then the steps run in the order given); stored programs have them, and
	// the stored order is always the order Next gives, which is the order the scheduler runs.
	ID   string  `json:"id,omitempty"`
	Next *string `json:"next,omitempty"`
	// Day is the offset from enrollment in days; At ("HH:MM") pins the time in the person's
	// local time, otherwise the step is due Day×24 h after enrollment.
	Day     int     `json:"day"`
	At      string  `json:"at,omitempty"`
	Content Content `json:"content"`
	// OnlyIfNoReply skips the step when the person replied since the previous step.
	OnlyIfNoReply bool `json:"only_if_no_reply,omitempty"`
	// OnReply is what a reply since the previous step does when this step falls due: "" or
	// "continue", "pause" (the enrollment pauses until resumed), or "goto:N" (branch forward:
	// this step and the ones before N are passed over, and step N is sent at its own time).
	// On input N may also be a step's ID ("goto:s3"); stored programs always have the index.
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
		if k, err := ParseOnReply(s.OnReply, len(steps)); err != nil {
			return fmt.Errorf("steps[%d].on_reply: %v", i, err)
		} else if k >= 0 && k <= i {
			return fmt.Errorf("steps[%d].on_reply: goto:%d must branch forward, to a later step", i, k)
		}
	}
	return nil
}

// ParseOnReply returns -1 for continue, -2 for pause, or the step to go to.
func ParseOnReply(s string, n int) (int, error) {
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
	t, _ := LocalInstant(day.Format(DateLayout), s.At, zone)
	if t.Before(enrolled) { // "day 0 at 09:00" for someone enrolled at 10:00: tomorrow
		t, _ = LocalInstant(day.AddDate(0, 0, 1).Format(DateLayout), s.At, zone)
	}
	return t
}

// Enroll enrolls eu in program p at now (idempotent). Enrollment is per person: when an end
// user linked with eu (internal/people) is in p already, that enrollment is returned and no
// second one is made.
func Enroll(ctx context.Context, q *db.Queries, p db.Program, eu db.EndUser, now time.Time) (db.ProgramEnrollment, error) {
	if e, err := q.EndUserEnrollment(ctx, db.EndUserEnrollmentParams{ProgramID: p.ID, EndUserID: eu.ID}); err == nil {
		if e.EndUserID != eu.ID {
			return e, nil
		}
	} else if !db.IsNotFound(err) {
		return db.ProgramEnrollment{}, err
	}
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

// ResumeEnrollment restarts a paused enrollment: its clock moves on by the time it was paused,
// so the next step comes after the same wait it had left (not at once, not expired). q runs in
// the creator's tenant.
func ResumeEnrollment(ctx context.Context, q *db.Queries, e db.ProgramEnrollment, now time.Time, why string) (db.ProgramEnrollment, error) {
	if e.Status != "paused" {
		return e, fmt.Errorf("nudge: enrollment %s is %s, not paused", e.ID, e.Status)
	}
	p, err := q.GetProgram(ctx, e.ProgramID)
	if err != nil {
		return e, err
	}
	var steps []Step
	if err := json.Unmarshal(p.Steps, &steps); err != nil {
		return e, err
	}
	eu, err := q.GetEndUser(ctx, e.EndUserID)
	if err != nil {
		return e, err
	}
	cp, err := q.GetCreatorPolicy(ctx, e.CreatorID)
	if err != nil {
		return e, err
	}
	enrolled := e.EnrolledAt
	if e.PausedAt != nil && now.After(*e.PausedAt) {
		enrolled = enrolled.Add(now.Sub(*e.PausedAt))
	}
	next := NextDue(steps, int(e.NextStep), enrolled, Zone(eu, cp), now)
	if next.Before(now) {
		next = &now
	}
	if _, err := q.ReleasePausedSteps(ctx, db.ReleasePausedStepsParams{ProgramID: e.ProgramID, EnrollmentID: uuid.NullUUID{UUID: e.ID, Valid: true}, Now: now}); err != nil {
		return e, err
	}
	return q.ResumeEnrollment(ctx, db.ResumeEnrollmentParams{ID: e.ID, EnrolledAt: enrolled, NextAt: next, Entry: Entry(int(e.NextStep), why, now)})
}

// PauseProgram stops sending a program's steps; ResumeProgram moves every active enrollment's
// timeline on by the time the program was paused.
func PauseProgram(ctx context.Context, q *db.Queries, id uuid.UUID, now time.Time) (db.Program, error) {
	return q.SetProgramStatus(ctx, db.SetProgramStatusParams{ID: id, Status: "paused", PausedAt: &now})
}

// ResumeProgram: see PauseProgram.
func ResumeProgram(ctx context.Context, q *db.Queries, p db.Program, now time.Time) (db.Program, error) {
	if p.PausedAt != nil && now.After(*p.PausedAt) {
		if _, err := q.ShiftProgramEnrollments(ctx, db.ShiftProgramEnrollmentsParams{ProgramID: p.ID, PausedAt: *p.PausedAt,
			ShiftSeconds: now.Sub(*p.PausedAt).Seconds()}); err != nil {
			return p, err
		}
	}
	if _, err := q.ReleasePausedSteps(ctx, db.ReleasePausedStepsParams{ProgramID: p.ID, Now: now}); err != nil {
		return p, err
	}
	return q.SetProgramStatus(ctx, db.SetProgramStatusParams{ID: p.ID, Status: "active"})
}

func NextDue(steps []Step, i int, enrolled time.Time, zone *time.Location, now time.Time) *time.Time {
	if i >= len(steps) {
		return &now // completes on the next pass
	}
	t := StepDue(steps[i], enrolled, zone)
	return &t
}

// Entry is one line of an enrollment's history.
func Entry(step int, what string, at time.Time) []byte {
	b, _ := json.Marshal([]map[string]any{{"step": step, "event": what, "at": at.UTC()}})
	return b
}
