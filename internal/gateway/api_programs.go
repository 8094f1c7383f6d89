package gateway

// Programs: multi-step sequences people enroll in (issue 5).

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/proactive"
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

func programOf(row db.Program) (programOut, error) {
	p, err := proactive.ProgramOf(row)
	if err != nil {
		return programOut{}, err
	}
	return programOut{ID: p.ID, Name: p.Name, Keyword: p.Keyword, Status: p.Status, Steps: p.Steps, CreatedAt: p.CreatedAt}, nil
}

// writeProgram answers with a program.
func writeProgram(w http.ResponseWriter, status int, p db.Program) error {
	out, err := programOf(p)
	if err != nil {
		return err
	}
	writeJSON(w, status, out)
	return nil
}

// read parses a program from the request body and checks it (field limits here, the program
// rules in package proactive).
func (in *programIn) read(w http.ResponseWriter, r *http.Request) (proactive.ProgramSpec, error) {
	if err := readJSON(w, r, in); err != nil {
		return proactive.ProgramSpec{}, err
	}
	if strings.TrimSpace(in.Name) == "" {
		return proactive.ProgramSpec{}, errBadRequest("invalid_program", "name is required")
	}
	if err := limitName.field("invalid_program", "name", in.Name); err != nil {
		return proactive.ProgramSpec{}, err
	}
	for i, st := range in.Steps {
		if err := checkContentLimits(st.Content); err != nil {
			return proactive.ProgramSpec{}, errBadRequest("invalid_program", fmt.Sprintf("steps[%d].%v", i, err))
		}
	}
	if err := proactive.ValidateSteps(in.Steps); err != nil {
		return proactive.ProgramSpec{}, errBadRequest("invalid_program", err.Error())
	}
	in.Keyword = strings.TrimSpace(in.Keyword)
	if err := limitKeyword.field("invalid_program", "keyword", in.Keyword); err != nil {
		return proactive.ProgramSpec{}, err
	}
	if err := proactive.CheckKeyword(in.Keyword); err != nil {
		return proactive.ProgramSpec{}, err
	}
	return proactive.ProgramSpec{Name: in.Name, Keyword: in.Keyword, Steps: in.Steps}, nil
}

func (s *Server) handleCreateProgram(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	var in programIn
	spec, err := in.read(w, r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	var p db.Program
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) (err error) {
		p, err = proactive.CreateProgram(ctx, q, a.CreatorID, spec)
		auditTarget(ctx, p.ID)
		return err
	}); err != nil {
		return err
	}
	return writeProgram(w, http.StatusCreated, p)
}

// handleUpdateProgram edits a program (proactive.UpdateProgram).
func (s *Server) handleUpdateProgram(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in programIn
	spec, err := in.read(w, r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	var p db.Program
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) (err error) {
		p, err = proactive.UpdateProgram(ctx, q, id, spec, s.Now())
		return err
	}); err != nil {
		return err
	}
	return writeProgram(w, http.StatusOK, p)
}

// setProgramStatus pauses, resumes or archives a program (proactive.SetProgramStatus).
func (s *Server) setProgramStatus(w http.ResponseWriter, r *http.Request, a creatorAuth, to string) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	ctx := r.Context()
	var p db.Program
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) (err error) {
		p, err = proactive.SetProgramStatus(ctx, q, id, to, s.Now())
		return err
	}); err != nil {
		return err
	}
	return writeProgram(w, http.StatusOK, p)
}

func (s *Server) handlePauseProgram(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	return s.setProgramStatus(w, r, a, proactive.ProgramPaused)
}

func (s *Server) handleResumeProgram(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	return s.setProgramStatus(w, r, a, proactive.ProgramActive)
}

func (s *Server) handleArchiveProgram(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	return s.setProgramStatus(w, r, a, proactive.ProgramArchived)
}

// setEnrollment pauses, resumes or cancels one person's enrollment (proactive.ChangeEnrollment).
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
	var e db.ProgramEnrollment
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) (err error) {
		e, err = proactive.ChangeEnrollment(ctx, q, pid, eid, action, s.Now())
		return err
	}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, enrollmentOf(e))
	return nil
}

func (s *Server) handlePauseEnrollment(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	return s.setEnrollment(w, r, a, proactive.EnrollmentPause)
}

func (s *Server) handleResumeEnrollment(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	return s.setEnrollment(w, r, a, proactive.EnrollmentResume)
}

func (s *Server) handleCancelEnrollment(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	return s.setEnrollment(w, r, a, proactive.EnrollmentCancel)
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
		o, err := programOf(p)
		if err != nil {
			return err
		}
		out = append(out, o)
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
	po, err := programOf(p)
	if err != nil {
		return err
	}
	out := make([]enrollmentOut, 0, len(ens))
	for _, e := range ens {
		out = append(out, enrollmentOf(e))
	}
	writeJSON(w, http.StatusOK, map[string]any{"program": po, "enrollments": out})
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
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) (err error) {
		e, err = proactive.EnrollEndUser(ctx, q, id, in.EndUserID, s.Now())
		auditDetail(ctx, "end_user_id", in.EndUserID)
		auditDetail(ctx, "enrollment_id", e.ID)
		return err
	}); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, enrollmentOf(e))
	return nil
}
