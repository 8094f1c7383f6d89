package gateway

// Programs: multi-step sequences people enroll in (issue 5).

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/proactive"
	"github.com/coachwire/coachwire/internal/secrets"
)

type programIn struct {
	Name    string           `json:"name"`
	Keyword string           `json:"keyword,omitempty"`
	Steps   []proactive.Step `json:"steps"`
}

type programOut struct {
	ID        uuid.UUID        `json:"id"`
	Name      string           `json:"name"`
	Keyword   string           `json:"keyword,omitempty"`
	Status    string           `json:"status"`
	Steps     []proactive.Step `json:"steps"`
	CreatedAt time.Time        `json:"created_at"`
}

func programOf(p db.Program) programOut {
	o := programOut{ID: p.ID, Name: p.Name, Keyword: p.Keyword, Status: p.Status, CreatedAt: p.CreatedAt}
	_ = json.Unmarshal(p.Steps, &o.Steps)
	return o
}

// read parses and validates a program from the request body.
func (in *programIn) read(w http.ResponseWriter, r *http.Request) error {
	if err := readJSON(w, r, in); err != nil {
		return err
	}
	if strings.TrimSpace(in.Name) == "" {
		return errBadRequest("invalid_program", "name is required")
	}
	if err := limitName.field("invalid_program", "name", in.Name); err != nil {
		return err
	}
	for i, st := range in.Steps {
		if err := checkContentLimits(st.Content); err != nil {
			return errBadRequest("invalid_program", fmt.Sprintf("steps[%d].%v", i, err))
		}
	}
	if err := proactive.ValidateSteps(in.Steps); err != nil {
		return errBadRequest("invalid_program", err.Error())
	}
	in.Keyword = strings.TrimSpace(in.Keyword)
	if err := limitKeyword.field("invalid_program", "keyword", in.Keyword); err != nil {
		return err
	}
	if in.Keyword != "" && (secrets.ChannelConfig{}).Keyword(in.Keyword) != "" {
		// STOP/START and their synonyms always mean opt-out/opt-in: a program could never be
		// joined with one.
		return errBadRequest("invalid_program", fmt.Sprintf("keyword %q is an opt-out/opt-in word; choose another", in.Keyword))
	}
	return nil
}

func (s *Server) handleCreateProgram(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	var in programIn
	if err := in.read(w, r); err != nil {
		return err
	}
	steps, _ := json.Marshal(in.Steps)
	ctx := r.Context()
	var p db.Program
	id := uuid.Must(uuid.NewV7())
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) (err error) {
		if err := keywordFree(ctx, q, in.Keyword, id); err != nil {
			return err
		}
		p, err = q.InsertProgram(ctx, db.InsertProgramParams{ID: id, CreatorID: a.CreatorID, Name: in.Name,
			Keyword: in.Keyword, Steps: steps})
		return err
	}); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, programOf(p))
	return nil
}

// handleUpdateProgram edits a program. Enrollments keep their place (the index of their next
// step) and each next step's time is recomputed from the new steps on the scheduler's next pass.
func (s *Server) handleUpdateProgram(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in programIn
	if err := in.read(w, r); err != nil {
		return err
	}
	steps, _ := json.Marshal(in.Steps)
	ctx := r.Context()
	var p db.Program
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) error {
		cur, err := q.LockProgram(ctx, id)
		if err != nil {
			return orNotFound(err, "program")
		}
		if cur.Status == "archived" {
			return errConflict("program_archived", "an archived program cannot be edited")
		}
		if err := keywordFree(ctx, q, in.Keyword, id); err != nil {
			return err
		}
		if p, err = q.UpdateProgram(ctx, db.UpdateProgramParams{ID: id, Name: in.Name, Keyword: in.Keyword, Steps: steps}); err != nil {
			return err
		}
		_, err = q.RecheckProgramEnrollments(ctx, db.RecheckProgramEnrollmentsParams{ProgramID: id, Now: s.Now()})
		return err
	}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, programOf(p))
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
		return errConflict("keyword_taken", fmt.Sprintf("another program already uses the keyword %q", keyword))
	}
	return nil
}

// setProgramStatus pauses (steps stop; their clock stops too), resumes (timelines move on by
// the pause) or archives (for good) a program.
func (s *Server) setProgramStatus(w http.ResponseWriter, r *http.Request, a creatorAuth, to string, from ...string) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	ctx := r.Context()
	var p db.Program
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) error {
		cur, err := q.LockProgram(ctx, id)
		if err != nil {
			return orNotFound(err, "program")
		}
		if !slices.Contains(from, cur.Status) {
			return errConflict("invalid_state", "program is "+cur.Status)
		}
		switch to {
		case "paused":
			p, err = proactive.PauseProgram(ctx, q, id, s.Now())
		case "active":
			p, err = proactive.ResumeProgram(ctx, q, cur, s.Now())
		default:
			p, err = q.SetProgramStatus(ctx, db.SetProgramStatusParams{ID: id, Status: to})
		}
		return err
	}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, programOf(p))
	return nil
}

func (s *Server) handlePauseProgram(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	return s.setProgramStatus(w, r, a, "paused", "active")
}

func (s *Server) handleResumeProgram(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	return s.setProgramStatus(w, r, a, "active", "paused")
}

func (s *Server) handleArchiveProgram(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	return s.setProgramStatus(w, r, a, "archived", "active", "paused")
}

// setEnrollment pauses, resumes or cancels one person's enrollment.
func (s *Server) setEnrollment(w http.ResponseWriter, r *http.Request, a creatorAuth, action string) error {
	pid, err := pathID(r, "id")
	if err != nil {
		return err
	}
	eid, err := pathID(r, "enrollment")
	if err != nil {
		return err
	}
	ctx := r.Context()
	now := s.Now()
	var e db.ProgramEnrollment
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) error {
		cur, err := q.LockEnrollment(ctx, eid)
		if err != nil || cur.ProgramID != pid {
			return errNotFound("enrollment")
		}
		step := int(cur.NextStep)
		switch {
		case action == "pause" && cur.Status == "active":
			e, err = q.PauseEnrollment(ctx, db.PauseEnrollmentParams{ID: eid, Now: now, Entry: proactive.Entry(step, "paused_by_creator", now)})
		case action == "resume" && cur.Status == "paused":
			e, err = proactive.ResumeEnrollment(ctx, q, cur, now, "resumed_by_creator")
		case action == "cancel" && (cur.Status == "active" || cur.Status == "paused"):
			e, err = q.CancelEnrollment(ctx, db.CancelEnrollmentParams{ID: eid, Entry: proactive.Entry(step, "cancelled_by_creator", now)})
		default:
			return errConflict("invalid_state", "enrollment is "+cur.Status)
		}
		return err
	}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, enrollmentOf(e))
	return nil
}

func (s *Server) handlePauseEnrollment(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	return s.setEnrollment(w, r, a, "pause")
}

func (s *Server) handleResumeEnrollment(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	return s.setEnrollment(w, r, a, "resume")
}

func (s *Server) handleCancelEnrollment(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	return s.setEnrollment(w, r, a, "cancel")
}

func (s *Server) handleListPrograms(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	ctx := r.Context()
	var list []db.Program
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) (err error) {
		list, err = q.ListPrograms(ctx, 200)
		return err
	}); err != nil {
		return err
	}
	out := make([]programOut, 0, len(list))
	for _, p := range list {
		out = append(out, programOf(p))
	}
	writeJSON(w, http.StatusOK, map[string]any{"programs": out})
	return nil
}

type enrollmentOut struct {
	ID         uuid.UUID       `json:"id"`
	EndUserID  uuid.UUID       `json:"end_user_id"`
	Status     string          `json:"status"`
	NextStep   int32           `json:"next_step"`
	NextAt     *time.Time      `json:"next_at,omitempty"`
	LastStep   int32           `json:"last_step"`
	EnrolledAt time.Time       `json:"enrolled_at"`
	History    json.RawMessage `json:"history"`
}

func enrollmentOf(e db.ProgramEnrollment) enrollmentOut {
	return enrollmentOut{ID: e.ID, EndUserID: e.EndUserID, Status: e.Status, NextStep: e.NextStep, NextAt: e.NextAt,
		LastStep: e.LastStep, EnrolledAt: e.EnrolledAt, History: e.History}
}

// handleGetProgram returns the program with each enrollee's progress.
func (s *Server) handleGetProgram(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	ctx := r.Context()
	var (
		p   db.Program
		ens []db.ProgramEnrollment
	)
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) error {
		if p, err = q.GetProgram(ctx, id); err != nil {
			return err
		}
		ens, err = q.ListEnrollments(ctx, db.ListEnrollmentsParams{ProgramID: id, MaxRows: 1000})
		return err
	}); err != nil {
		return err
	}
	out := make([]enrollmentOut, 0, len(ens))
	for _, e := range ens {
		out = append(out, enrollmentOf(e))
	}
	writeJSON(w, http.StatusOK, map[string]any{"program": programOf(p), "enrollments": out})
	return nil
}

func (s *Server) handleEnroll(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in struct {
		EndUserID uuid.UUID `json:"end_user_id"`
	}
	if err := readJSON(w, r, &in); err != nil {
		return err
	}
	ctx := r.Context()
	var e db.ProgramEnrollment
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) error {
		p, err := q.GetProgram(ctx, id)
		if err != nil {
			return err
		}
		if p.Status == "archived" {
			return errConflict("program_archived", "an archived program takes no new enrollments")
		}
		eu, err := q.GetEndUser(ctx, in.EndUserID)
		if err != nil {
			return errNotFound("end user")
		}
		e, err = proactive.Enroll(ctx, q, p, eu, s.Now())
		return err
	}); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, enrollmentOf(e))
	return nil
}
