package proactive

// Program lifecycle as the creator drives it: create, edit, pause, resume, archive, enroll
// people and change one enrollment. q runs in the creator's tenant.

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/internal/db"
)

// Program statuses.
const (
	ProgramActive   = "active"
	ProgramPaused   = "paused"
	ProgramArchived = "archived"
)

// programFrom lists, for each status a creator can set, the statuses it can be set from.
var programFrom = map[string][]string{
	ProgramPaused:   {ProgramActive},
	ProgramActive:   {ProgramPaused},
	ProgramArchived: {ProgramActive, ProgramPaused},
}

// Enrollment actions of the creator.
const (
	EnrollmentPause  = "pause"
	EnrollmentResume = "resume"
	EnrollmentCancel = "cancel"
)

// CheckKeyword refuses a program keyword that is an opt-out or opt-in word: STOP/START and
// their synonyms always mean opt-out/opt-in, so a program could never be joined with one.
func CheckKeyword(keyword string) error {
	if keyword != "" && Keyword(keyword, nil, nil) != "" {
		return invalid("invalid_program", fmt.Sprintf("keyword %q is an opt-out/opt-in word; choose another", keyword))
	}
	return nil
}

// keywordFree refuses a keyword another program of the creator already answers to: a person
// typing it must join one program, not an arbitrary one of two.
func keywordFree(ctx context.Context, q *db.Queries, keyword string, id uuid.UUID) error {
	if keyword == "" {
		return nil
	}
	taken, err := q.ProgramKeywordTaken(ctx, db.ProgramKeywordTakenParams{Keyword: keyword, ID: id})
	if err != nil {
		return err
	}
	if taken {
		return conflict("keyword_taken", fmt.Sprintf("another program already uses the keyword %q", keyword))
	}
	return nil
}

// CreateProgram stores a validated program (ValidateSteps, CheckKeyword).
func CreateProgram(ctx context.Context, q *db.Queries, creator uuid.UUID, s ProgramSpec) (db.Program, error) {
	steps, err := json.Marshal(s.Steps)
	if err != nil {
		return db.Program{}, err
	}
	id := uuid.Must(uuid.NewV7())
	if err := keywordFree(ctx, q, s.Keyword, id); err != nil {
		return db.Program{}, err
	}
	return q.InsertProgram(ctx, db.InsertProgramParams{ID: id, CreatorID: creator, Name: s.Name, Keyword: s.Keyword, Steps: steps, Layout: s.Layout})
}

// UpdateProgram edits a program that is not archived. Enrollments keep their place: the step
// they are due at, followed by its ID when steps were moved, added or deleted (stepMoves), and
// each next step's time is recomputed from the new steps on the scheduler's next pass.
func UpdateProgram(ctx context.Context, q *db.Queries, id uuid.UUID, s ProgramSpec, now time.Time) (db.Program, error) {
	steps, err := json.Marshal(s.Steps)
	if err != nil {
		return db.Program{}, err
	}
	cur, err := q.LockProgram(ctx, id)
	if err != nil {
		return cur, orNotFound(err, "program")
	}
	if cur.Status == ProgramArchived {
		return cur, conflict("program_archived", "an archived program cannot be edited")
	}
	if err := keywordFree(ctx, q, s.Keyword, id); err != nil {
		return cur, err
	}
	p, err := q.UpdateProgram(ctx, db.UpdateProgramParams{ID: id, Name: s.Name, Keyword: s.Keyword, Steps: steps, Layout: s.Layout})
	if err != nil {
		return p, err
	}
	if old, err := ProgramOf(cur); err == nil {
		if next, last, moved := stepMoves(WithIDs(old.Steps), WithIDs(s.Steps)); moved {
			if _, err := q.RemapProgramEnrollments(ctx, db.RemapProgramEnrollmentsParams{ProgramID: id, NewNext: next, NewLast: last}); err != nil {
				return p, err
			}
		}
	}
	_, err = q.RecheckProgramEnrollments(ctx, db.RecheckProgramEnrollmentsParams{ProgramID: id, Now: now})
	return p, err
}

// SetProgramStatus pauses (steps stop; their clock stops too), resumes (timelines move on by
// the pause) or archives (for good) a program.
func SetProgramStatus(ctx context.Context, q *db.Queries, id uuid.UUID, to string, now time.Time) (db.Program, error) {
	cur, err := q.LockProgram(ctx, id)
	if err != nil {
		return cur, orNotFound(err, "program")
	}
	if !slices.Contains(programFrom[to], cur.Status) {
		return cur, conflict("invalid_state", "program is "+cur.Status)
	}
	switch to {
	case ProgramPaused:
		return PauseProgram(ctx, q, id, now)
	case ProgramActive:
		return ResumeProgram(ctx, q, cur, now)
	default:
		return q.SetProgramStatus(ctx, db.SetProgramStatusParams{ID: id, Status: to})
	}
}

// EnrollEndUser enrolls the creator's end user in a program that is not archived.
func EnrollEndUser(ctx context.Context, q *db.Queries, programID, endUserID uuid.UUID, now time.Time) (db.ProgramEnrollment, error) {
	p, err := q.GetProgram(ctx, programID)
	if err != nil {
		return db.ProgramEnrollment{}, err
	}
	if p.Status == ProgramArchived {
		return db.ProgramEnrollment{}, conflict("program_archived", "an archived program takes no new enrollments")
	}
	eu, err := q.GetEndUser(ctx, endUserID)
	if err != nil {
		return db.ProgramEnrollment{}, notFound("end user")
	}
	return Enroll(ctx, q, p, eu, now)
}

// ChangeEnrollment pauses, resumes or cancels (EnrollmentPause, EnrollmentResume,
// EnrollmentCancel) one person's enrollment in the program programID, as the creator.
func ChangeEnrollment(ctx context.Context, q *db.Queries, programID, id uuid.UUID, action string, now time.Time) (db.ProgramEnrollment, error) {
	cur, err := q.LockEnrollment(ctx, id)
	if err != nil || cur.ProgramID != programID {
		return cur, notFound("enrollment")
	}
	step := int(cur.NextStep)
	switch {
	case action == EnrollmentPause && cur.Status == "active":
		return q.PauseEnrollment(ctx, db.PauseEnrollmentParams{ID: id, Now: now, Entry: Entry(step, "paused_by_creator", now)})
	case action == EnrollmentResume && cur.Status == "paused":
		return ResumeEnrollment(ctx, q, cur, now, "resumed_by_creator")
	case action == EnrollmentCancel && (cur.Status == "active" || cur.Status == "paused"):
		return q.CancelEnrollment(ctx, db.CancelEnrollmentParams{ID: id, Entry: Entry(step, "cancelled_by_creator", now)})
	default:
		return cur, conflict("invalid_state", "enrollment is "+cur.Status)
	}
}

// stepMoves maps each step index of the old program to the new one by the steps' IDs, so an
// edit in the builder (a step inserted before others, links rewired, a step deleted) keeps
// every enrollment at the step it was at, not at whatever now has its index. A deleted step
// maps, as a next step, to the first kept step after it (or the end), and as the last step
// sent, to the last kept step before it (or none, -1). moved is false when no index changes.
func stepMoves(old, cur []Step) (next, last []int32, moved bool) {
	at := make(map[string]int, len(cur))
	for i, s := range cur {
		at[s.ID] = i
	}
	n := len(old)
	next, last = make([]int32, n), make([]int32, n)
	following := int32(len(cur))
	for i := n - 1; i >= 0; i-- {
		if j, ok := at[old[i].ID]; ok {
			following = int32(j)
		}
		next[i] = following
	}
	preceding := int32(-1)
	for i := 0; i < n; i++ {
		if j, ok := at[old[i].ID]; ok {
			preceding = int32(j)
		}
		last[i] = preceding
	}
	for i := 0; i < n; i++ {
		moved = moved || next[i] != int32(i) || last[i] != int32(i)
	}
	return next, last, moved
}
