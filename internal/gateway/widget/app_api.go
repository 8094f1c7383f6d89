package widget

// The end user's self-service API (/api/v1/app/…, docs/app.md): what the person sees about
// themselves in the app, authenticated by their session token (Authorization: Bearer): their
// programs and upcoming messages, whether they get proactive messages, their time zone (the
// send policy's quiet hours are in it), and the memory profile the coach keeps, which they may
// erase ("forget me"). Opting out and back in is not here: the app's STOP and START buttons
// send those words as messages, the same path as typing them.

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/coachwire/coachwire/internal/auth"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/gateway/httpx"
	"github.com/coachwire/coachwire/internal/memory"
)

// endUserAuth checks the request's session token (widget or app).
func (s *Server) endUserAuth(r *http.Request) (auth.WidgetClaims, error) {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" {
		return auth.WidgetClaims{}, httpx.Unauthorized("missing session token (Authorization: Bearer <token> from POST /api/v1/app/session)")
	}
	c, err := s.Auth.VerifyWidget(tok)
	if err != nil {
		return auth.WidgetClaims{}, httpx.Unauthorized("invalid session token")
	}
	return c, nil
}

// EndUserHandler wraps a self-service handler with the session check.
func (s *Server) EndUserHandler(h func(http.ResponseWriter, *http.Request, auth.WidgetClaims) error) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		c, err := s.endUserAuth(r)
		if err != nil {
			return err
		}
		w.Header().Set("Cache-Control", "no-store")
		return h(w, r, c)
	}
}

type appProgram struct {
	ProgramID string     `json:"program_id"`
	Name      string     `json:"name"`
	Status    string     `json:"status"`
	Step      int        `json:"step"`
	Steps     int        `json:"steps"`
	NextAt    *time.Time `json:"next_at"`
	Enrolled  time.Time  `json:"enrolled_at"`
}

type appUpcoming struct {
	Program string    `json:"program"`
	Step    int       `json:"step"`
	At      time.Time `json:"at"`
}

type appMe struct {
	EndUserID      string        `json:"end_user_id"`
	ConversationID string        `json:"conversation_id"`
	Channel        string        `json:"channel"`
	Verified       bool          `json:"verified"`
	OptedOut       bool          `json:"opted_out"`
	Timezone       string        `json:"timezone"`
	Programs       []appProgram  `json:"programs"`
	Upcoming       []appUpcoming `json:"upcoming"`
}

func (s *Server) me(ctx context.Context, c auth.WidgetClaims) (appMe, error) {
	out := appMe{EndUserID: c.EndUserID.String(), ConversationID: c.ConversationID.String(), Channel: claimsChannel(c),
		Programs: []appProgram{}, Upcoming: []appUpcoming{}}
	err := s.Store.InTenant(ctx, c.CreatorID, func(q *db.Queries) error {
		eu, err := q.GetEndUser(ctx, c.EndUserID)
		if err != nil {
			return err
		}
		out.Verified, out.OptedOut, out.Timezone = eu.Verified, eu.OptedOutAt != nil, eu.Timezone
		rows, err := q.AppEnrollments(ctx, c.EndUserID)
		if err != nil {
			return err
		}
		for _, e := range rows {
			p := appProgram{ProgramID: e.ProgramID.String(), Name: e.ProgramName, Status: e.Status, Step: int(e.NextStep) + 1,
				Steps: int(e.StepCount), NextAt: e.NextAt, Enrolled: e.EnrolledAt}
			if e.Status == "completed" {
				p.Step, p.NextAt = p.Steps, nil
			}
			out.Programs = append(out.Programs, p)
			if e.Status == "active" && e.ProgramStatus == "active" && e.NextAt != nil && int(e.NextStep) < int(e.StepCount) && !out.OptedOut {
				out.Upcoming = append(out.Upcoming, appUpcoming{Program: e.ProgramName, Step: p.Step, At: *e.NextAt})
			}
		}
		return nil
	})
	if db.IsNotFound(err) {
		return out, httpx.NotFound("end user")
	}
	return out, err
}

// AppMe answers GET /api/v1/app/me: who the session is, their programs, their upcoming
// messages (program steps, soonest first) and their notification settings.
func (s *Server) AppMe(w http.ResponseWriter, r *http.Request, c auth.WidgetClaims) error {
	out, err := s.me(r.Context(), c)
	if err != nil {
		return err
	}
	slices.SortFunc(out.Upcoming, func(a, b appUpcoming) int { return a.At.Compare(b.At) })
	httpx.WriteJSON(w, http.StatusOK, out)
	return nil
}

// AppPatchMe answers PATCH /api/v1/app/me {timezone}: the person's IANA time zone (the app sends
// the device's), so quiet hours and program times are in their local time.
func (s *Server) AppPatchMe(w http.ResponseWriter, r *http.Request, c auth.WidgetClaims) error {
	var in struct {
		Timezone *string `json:"timezone"`
	}
	if err := httpx.ReadJSON(w, r, &in); err != nil {
		return err
	}
	if in.Timezone != nil {
		tz := strings.TrimSpace(*in.Timezone)
		if tz != "" {
			if _, err := time.LoadLocation(tz); err != nil || len(tz) > 64 || strings.EqualFold(tz, "local") {
				return httpx.BadRequest("bad_timezone", "timezone must be an IANA time zone such as Europe/Madrid")
			}
		}
		if err := s.Store.InTenant(r.Context(), c.CreatorID, func(q *db.Queries) error {
			_, err := q.SetEndUserTimezone(r.Context(), db.SetEndUserTimezoneParams{ID: c.EndUserID, Timezone: tz})
			return err
		}); err != nil {
			return httpx.OrNotFound(err, "end user")
		}
	}
	return s.AppMe(w, r, c)
}

// AppMemory answers GET /api/v1/app/memory: the profile the coach keeps about the person.
func (s *Server) AppMemory(w http.ResponseWriter, r *http.Request, c auth.WidgetClaims) error {
	ctx := r.Context()
	var m db.EndUserMemory
	err := s.Store.InTenant(ctx, c.CreatorID, func(q *db.Queries) error {
		var err error
		m, err = q.GetMemory(ctx, c.EndUserID)
		if db.IsNotFound(err) {
			m, err = db.EndUserMemory{EndUserID: c.EndUserID, Profile: json.RawMessage(`{}`)}, nil
		}
		return err
	})
	if err != nil {
		return err
	}
	p := memory.Parse(m.Profile)
	for _, l := range []*[]string{&p.Goals, &p.Preferences, &p.Commitments, &p.Facts} {
		if *l == nil {
			*l = []string{}
		}
	}
	var updated *time.Time
	if !m.UpdatedAt.IsZero() {
		updated = &m.UpdatedAt
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"profile": p, "updated_at": updated})
	return nil
}

// AppForget answers DELETE /api/v1/app/memory ("forget me"): the profile is erased and what it
// held is never extracted again from the messages so far (memory.Erase, as the chat command).
func (s *Server) AppForget(w http.ResponseWriter, r *http.Request, c auth.WidgetClaims) error {
	ctx := r.Context()
	if err := s.Store.InTenant(ctx, c.CreatorID, func(q *db.Queries) error {
		if _, err := q.GetEndUser(ctx, c.EndUserID); err != nil {
			return err
		}
		_, err := memory.Erase(ctx, q, c.CreatorID, c.EndUserID)
		return err
	}); err != nil {
		return httpx.OrNotFound(err, "end user")
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
