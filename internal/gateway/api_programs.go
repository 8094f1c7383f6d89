package gateway

// Programs: multi-step sequences people enroll in (issue 5).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/proactive"
)

type programIn struct {
	Name    string           `json:"name"`
	Keyword string           `json:"keyword,omitempty"`
	Steps   []proactive.Step `json:"steps"`
	// Layout is where the console's canvas draws each step (by step ID); absent on an edit:
	// the positions the program has are kept.
	Layout map[string]layoutPos `json:"layout,omitempty"`
}

// layoutPos is a node's position on the builder's canvas.
type layoutPos struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
}

// maxLayoutCoord bounds a canvas coordinate (a canvas far larger than any screen).
const maxLayoutCoord = 1e6

type programOut struct {
	ID        uuid.UUID            `json:"id"`
	Name      string               `json:"name"`
	Keyword   string               `json:"keyword,omitempty"`
	Status    string               `json:"status"`
	Steps     []proactive.Step     `json:"steps"`
	Layout    map[string]layoutPos `json:"layout"`
	CreatedAt time.Time            `json:"created_at"`
}

func programOf(row db.Program) (programOut, error) {
	p, err := proactive.ProgramOf(row)
	if err != nil {
		return programOut{}, err
	}
	layout := map[string]layoutPos{}
	if len(row.Layout) > 0 {
		if err := json.Unmarshal(row.Layout, &layout); err != nil {
			return programOut{}, fmt.Errorf("program %s layout: %w", row.ID, err)
		}
	}
	return programOut{ID: p.ID, Name: p.Name, Keyword: p.Keyword, Status: p.Status, Steps: proactive.WithIDs(p.Steps), Layout: layout,
		CreatedAt: p.CreatedAt}, nil
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

// programIssues is a program refused for the issues of its steps (proactive.CheckProgram):
// answered 422 with every issue, so the builder can show each on its node.
type programIssues struct {
	issues []proactive.StepIssue
}

func (e *programIssues) Error() string {
	for _, is := range e.issues {
		if is.Severity == proactive.SeverityError {
			n := 0
			for _, x := range e.issues {
				if x.Severity == proactive.SeverityError {
					n++
				}
			}
			where := "the program"
			if is.Step >= 0 {
				where = fmt.Sprintf("step %d (%s)", is.Step+1, is.StepID)
			}
			return fmt.Sprintf("%d problem(s) to fix; %s: %s", n, where, is.Message)
		}
	}
	return "the program has problems to fix"
}

// writeProgramIssues answers a programIssues error (422 invalid_program with the issues) and
// reports whether err was one.
func writeProgramIssues(w http.ResponseWriter, err error) bool {
	var pi *programIssues
	if !errors.As(err, &pi) {
		return false
	}
	writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": map[string]any{
		"code": "invalid_program", "message": pi.Error(), "issues": pi.issues}})
	return true
}

// read parses a program from the request body and checks its fields (name and keyword: 400).
// The steps are checked by check.
func (in *programIn) read(w http.ResponseWriter, r *http.Request, requireName bool) error {
	if err := readJSON(w, r, in); err != nil {
		return err
	}
	if requireName && strings.TrimSpace(in.Name) == "" {
		return errBadRequest("invalid_program", "name is required")
	}
	if err := limitName.field("invalid_program", "name", in.Name); err != nil {
		return err
	}
	in.Keyword = strings.TrimSpace(in.Keyword)
	if err := limitKeyword.field("invalid_program", "keyword", in.Keyword); err != nil {
		return err
	}
	if err := proactive.CheckKeyword(in.Keyword); err != nil {
		return err
	}
	for id, p := range in.Layout {
		if math.IsNaN(p.X) || math.IsNaN(p.Y) || math.Abs(p.X) > maxLayoutCoord || math.Abs(p.Y) > maxLayoutCoord {
			return errBadRequest("invalid_program", fmt.Sprintf("layout[%q]: x and y between -%g and %g", id, maxLayoutCoord, maxLayoutCoord))
		}
	}
	return nil
}

// check checks the steps as the builder's graph, in the creator's tenant (whether a WhatsApp
// channel lacks a default template), and returns the program to store and the issues (warnings
// only), or a *programIssues.
func (in *programIn) check(ctx context.Context, q *db.Queries) (proactive.ProgramSpec, []proactive.StepIssue, error) {
	var gc proactive.GraphContext
	chs, err := q.ListChannels(ctx)
	if err != nil {
		return proactive.ProgramSpec{}, nil, err
	}
	for _, ch := range chs {
		if ch.Type == events.ChannelWhatsApp && !proactive.ChannelHasTemplate(ch.Config) {
			gc.WhatsAppNeedsTemplate = true
		}
	}
	steps, issues := proactive.CheckProgram(in.Steps, gc)
	for i, st := range in.Steps {
		if err := checkContentLimits(st.Content); err != nil {
			field, _, _ := strings.Cut(err.Error(), ":")
			msg := err.Error()
			if len(msg) > 400 {
				msg = field + ": too long or not allowed"
			}
			issues = append(issues, proactive.StepIssue{Step: i, StepID: st.ID, Field: field, Code: proactive.IssueInvalid,
				Severity: proactive.SeverityError, Message: msg})
		}
	}
	if proactive.HasErrors(issues) {
		return proactive.ProgramSpec{}, issues, &programIssues{issues: issues}
	}
	var layout []byte
	if in.Layout != nil {
		keep := map[string]layoutPos{}
		for _, st := range steps {
			if p, ok := in.Layout[st.ID]; ok {
				keep[st.ID] = p
			}
		}
		if layout, err = json.Marshal(keep); err != nil {
			return proactive.ProgramSpec{}, nil, err
		}
	}
	return proactive.ProgramSpec{Name: in.Name, Keyword: in.Keyword, Steps: steps, Layout: layout}, issues, nil
}

func (s *Server) handleCreateProgram(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	var in programIn
	if err := in.read(w, r, true); err != nil {
		return err
	}
	ctx := r.Context()
	var p db.Program
	err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) error {
		spec, _, err := in.check(ctx, q)
		if err != nil {
			return err
		}
		p, err = proactive.CreateProgram(ctx, q, a.CreatorID, spec)
		auditTarget(ctx, p.ID)
		return err
	})
	if writeProgramIssues(w, err) {
		return nil
	}
	if err != nil {
		return err
	}
	return writeProgram(w, http.StatusCreated, p)
}

// handleValidateProgram checks a program without storing it, for the builder while it is
// edited: 200 with the steps in run order and any warnings, or 422 as a save would answer.
func (s *Server) handleValidateProgram(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	var in programIn
	if err := in.read(w, r, false); err != nil {
		return err
	}
	ctx := r.Context()
	var (
		spec   proactive.ProgramSpec
		issues []proactive.StepIssue
	)
	err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) (err error) {
		spec, issues, err = in.check(ctx, q)
		return err
	})
	if writeProgramIssues(w, err) {
		return nil
	}
	if err != nil {
		return err
	}
	if issues == nil {
		issues = []proactive.StepIssue{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"valid": true, "issues": issues, "steps": spec.Steps})
	return nil
}

// handleUpdateProgram edits a program (proactive.UpdateProgram).
func (s *Server) handleUpdateProgram(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in programIn
	if err := in.read(w, r, true); err != nil {
		return err
	}
	ctx := r.Context()
	var p db.Program
	err = s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) error {
		spec, _, err := in.check(ctx, q)
		if err != nil {
			return err
		}
		p, err = proactive.UpdateProgram(ctx, q, id, spec, s.Now())
		return err
	})
	if writeProgramIssues(w, err) {
		return nil
	}
	if err != nil {
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
