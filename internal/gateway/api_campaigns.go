package gateway

// Proactive coaching routes (issue 5): campaigns, programs and end-user memory.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/proactive"
)

type campaignIn struct {
	Name     string             `json:"name"`
	Audience proactive.Audience `json:"audience"`
	Content  proactive.Content  `json:"content"`
	Schedule proactive.Schedule `json:"schedule"`
}

// validate checks a campaign; minInterval is the shortest gap allowed between two occurrences
// of a recurring schedule (config Nudge.MinInterval).
func (c campaignIn) validate(now time.Time, minInterval time.Duration) error {
	if strings.TrimSpace(c.Name) == "" {
		return errBadRequest("invalid_campaign", "name is required")
	}
	if err := limitName.field("invalid_campaign", "name", c.Name); err != nil {
		return err
	}
	if err := checkAudienceLimits(c.Audience); err != nil {
		return errBadRequest("invalid_campaign", err.Error())
	}
	if err := checkContentLimits(c.Content); err != nil {
		return errBadRequest("invalid_campaign", err.Error())
	}
	for _, f := range []struct{ name, v string }{{"schedule.timezone", c.Schedule.Timezone}, {"schedule.start", c.Schedule.Start},
		{"schedule.rrule", c.Schedule.RRule}, {"schedule.cron", c.Schedule.Cron}, {"schedule.local_time", c.Schedule.LocalTime}} {
		if err := limitSchedule.field("invalid_campaign", f.name, f.v); err != nil {
			return err
		}
	}
	for _, err := range []error{c.Audience.Validate(), c.Content.Validate(), c.Schedule.Validate()} {
		if err != nil {
			return errBadRequest("invalid_campaign", err.Error())
		}
	}
	if c.Schedule.Kind == proactive.ScheduleOnce && c.Schedule.At.Before(now.Add(-time.Minute)) {
		return errBadRequest("invalid_campaign", "schedule.at is in the past")
	}
	if _, ok := c.Schedule.Next(now); !ok && c.Schedule.Kind != proactive.ScheduleOnce {
		return errBadRequest("invalid_campaign", "schedule: no occurrence after now")
	}
	if err := c.Schedule.CheckInterval(minInterval, now); err != nil {
		return errBadRequest("schedule_too_frequent", err.Error())
	}
	return nil
}

// audienceRefsExist checks that what the audience names by id is the creator's own: the
// audience is JSON, so no foreign key does it, and another creator's program id must be
// refused like an unknown one (404), not stored.
func audienceRefsExist(ctx context.Context, q *db.Queries, a proactive.Audience) error {
	if a.ProgramID == nil {
		return nil
	}
	if _, err := q.GetProgram(ctx, *a.ProgramID); err != nil {
		return orNotFound(err, "audience.program_id: program")
	}
	return nil
}

type campaignOut struct {
	ID             uuid.UUID          `json:"id"`
	Name           string             `json:"name"`
	Status         string             `json:"status"`
	Audience       proactive.Audience `json:"audience"`
	Content        proactive.Content  `json:"content"`
	Schedule       proactive.Schedule `json:"schedule"`
	NextOccurrence *time.Time         `json:"next_occurrence,omitempty"`
	CreatedAt      time.Time          `json:"created_at"`
	UpdatedAt      time.Time          `json:"updated_at"`
}

func campaignOf(c db.Campaign, occ []db.CampaignOccurrence) campaignOut {
	o := campaignOut{ID: c.ID, Name: c.Name, Status: c.Status, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
	_ = json.Unmarshal(c.Audience, &o.Audience)
	_ = json.Unmarshal(c.Content, &o.Content)
	_ = json.Unmarshal(c.Schedule, &o.Schedule)
	for _, x := range occ {
		if x.Status == "pending" && (o.NextOccurrence == nil || x.ScheduledAt.Before(*o.NextOccurrence)) {
			t := x.ScheduledAt
			o.NextOccurrence = &t
		}
	}
	return o
}

func (s *Server) handleCreateCampaign(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	var in campaignIn
	if err := readJSON(w, r, &in); err != nil {
		return err
	}
	if err := in.validate(s.Now(), s.Config.MinInterval); err != nil {
		return err
	}
	aud, _ := json.Marshal(in.Audience)
	content, _ := json.Marshal(in.Content)
	sched, _ := json.Marshal(in.Schedule)
	ctx := r.Context()
	var out campaignOut
	err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) error {
		if err := audienceRefsExist(ctx, q, in.Audience); err != nil {
			return err
		}
		c, err := q.InsertCampaign(ctx, db.InsertCampaignParams{ID: uuid.Must(uuid.NewV7()), CreatorID: a.CreatorID, Name: in.Name,
			Audience: aud, Content: content, Schedule: sched})
		if err != nil {
			return err
		}
		// A one-off "now" a few seconds old is still sent (validate allows a minute).
		if err := proactive.ScheduleNext(ctx, q, a.CreatorID, c.ID, in.Schedule, s.Now().Add(-time.Minute)); err != nil {
			return err
		}
		if c, err = q.GetCampaign(ctx, c.ID); err != nil {
			return err
		}
		occ, err := q.ListOccurrences(ctx, db.ListOccurrencesParams{CampaignID: c.ID, MaxRows: 5})
		out = campaignOf(c, occ)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (s *Server) handleListCampaigns(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	ctx := r.Context()
	p := db.ListCampaignsParams{MaxRows: 200}
	if st := r.URL.Query().Get("status"); st != "" {
		if !slices.Contains([]string{"active", "paused", "completed", "cancelled"}, st) {
			return errBadRequest("bad_status", "status must be active, paused, completed or cancelled")
		}
		p.Status = &st
	}
	var list []db.Campaign
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) (err error) {
		list, err = q.ListCampaigns(ctx, p)
		return err
	}); err != nil {
		return err
	}
	out := make([]campaignOut, 0, len(list))
	for _, c := range list {
		out = append(out, campaignOf(c, nil))
	}
	writeJSON(w, http.StatusOK, map[string]any{"campaigns": out})
	return nil
}

func (s *Server) handleGetCampaign(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	ctx := r.Context()
	var out map[string]any
	err = s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) error {
		c, err := q.GetCampaign(ctx, id)
		if err != nil {
			return err
		}
		occ, err := q.ListOccurrences(ctx, db.ListOccurrencesParams{CampaignID: id, MaxRows: 20})
		if err != nil {
			return err
		}
		type occOut struct {
			ID          uuid.UUID `json:"id"`
			ScheduledAt time.Time `json:"scheduled_at"`
			Status      string    `json:"status"`
			Targeted    int32     `json:"targeted"`
		}
		occs := make([]occOut, 0, len(occ))
		for _, o := range occ {
			occs = append(occs, occOut{o.ID, o.ScheduledAt, o.Status, o.Targeted})
		}
		b, _ := json.Marshal(campaignOf(c, occ))
		_ = json.Unmarshal(b, &out)
		out["occurrences"] = occs
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// handleUpdateCampaign edits a campaign's future: occurrences not started yet are recomputed
// from the new schedule; a running occurrence finishes with the new content.
func (s *Server) handleUpdateCampaign(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in campaignIn
	if err := readJSON(w, r, &in); err != nil {
		return err
	}
	if err := in.validate(s.Now(), s.Config.MinInterval); err != nil {
		return err
	}
	ctx := r.Context()
	var out campaignOut
	err = s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) error {
		c, err := q.LockCampaign(ctx, id)
		if err != nil {
			return err
		}
		if c.Status == "cancelled" || c.Status == "completed" {
			return errConflict("campaign_finished", "a "+c.Status+" campaign cannot be edited")
		}
		if err := audienceRefsExist(ctx, q, in.Audience); err != nil {
			return err
		}
		aud, _ := json.Marshal(in.Audience)
		content, _ := json.Marshal(in.Content)
		sched, _ := json.Marshal(in.Schedule)
		if c, err = q.UpdateCampaign(ctx, db.UpdateCampaignParams{ID: id, Name: in.Name, Audience: aud, Content: content, Schedule: sched}); err != nil {
			return err
		}
		if _, err := q.DeleteFutureOccurrences(ctx, id); err != nil {
			return err
		}
		if err := proactive.ScheduleNext(ctx, q, a.CreatorID, id, in.Schedule, s.Now().Add(-time.Minute)); err != nil {
			return err
		}
		occ, err := q.ListOccurrences(ctx, db.ListOccurrencesParams{CampaignID: id, MaxRows: 5})
		out = campaignOf(c, occ)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) setCampaignStatus(w http.ResponseWriter, r *http.Request, a creatorAuth, to string, from ...string) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	ctx := r.Context()
	var out campaignOut
	err = s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) error {
		c, err := q.LockCampaign(ctx, id)
		if err != nil {
			return err
		}
		ok := c.Status == to || slices.Contains(from, c.Status)
		if !ok && c.Status == "completed" && to != "active" {
			// Its last occurrence fired, but some recipients still wait (quiet hours, their
			// local time): those can still be paused or cancelled.
			if ok, err = q.HasHeldDecisions(ctx, uuid.NullUUID{UUID: id, Valid: true}); err != nil {
				return err
			}
		}
		if !ok {
			return errConflict("invalid_state", "campaign is "+c.Status)
		}
		if c, err = q.SetCampaignStatus(ctx, db.SetCampaignStatusParams{ID: id, Status: to}); err != nil {
			return err
		}
		switch to {
		case "cancelled":
			if err := q.CancelOccurrences(ctx, id); err != nil {
				return err
			}
		case "active": // resumed: who was held because of the pause is decided again now
			if _, err := q.ReleasePausedHolds(ctx, db.ReleasePausedHoldsParams{CampaignID: uuid.NullUUID{UUID: id, Valid: true}, Now: s.Now()}); err != nil {
				return err
			}
			if err := proactive.ScheduleFollowing(ctx, q, a.CreatorID, id, s.Now()); err != nil {
				return err
			}
			if c, err = q.GetCampaign(ctx, id); err != nil { // a one-off may have completed
				return err
			}
		}
		out = campaignOf(c, nil)
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) handlePauseCampaign(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	return s.setCampaignStatus(w, r, a, "paused", "active")
}

func (s *Server) handleResumeCampaign(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	return s.setCampaignStatus(w, r, a, "active", "paused")
}

func (s *Server) handleCancelCampaign(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	return s.setCampaignStatus(w, r, a, "cancelled", "active", "paused")
}

// handlePreviewCampaign is the dry run: who would get what at the next occurrence (or at the
// ?at= time), who would be held or skipped and why. Paginated with ?after=<end user id>&limit=.
func (s *Server) handlePreviewCampaign(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > 1000 {
			return errBadRequest("invalid_limit", "limit: 1..1000")
		}
	}
	after := uuid.Nil
	if v := r.URL.Query().Get("after"); v != "" {
		if after, err = uuid.Parse(v); err != nil {
			return errBadRequest("invalid_after", "after: an end user id")
		}
	}
	ctx := r.Context()
	type item struct {
		EndUserID uuid.UUID  `json:"end_user_id"`
		Name      string     `json:"name"`
		Channel   string     `json:"channel"`
		Outcome   string     `json:"outcome"`
		Reason    string     `json:"reason,omitempty"`
		Mode      string     `json:"mode,omitempty"`
		HoldUntil *time.Time `json:"hold_until,omitempty"`
		Text      string     `json:"text,omitempty"`
		// Template: outside WhatsApp's window, the campaign's template as this person gets it.
		Template *events.MessageTemplate `json:"template,omitempty"`
	}
	var (
		items []item
		next  *uuid.UUID
		at    time.Time
	)
	err = s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) error {
		c, err := q.GetCampaign(ctx, id)
		if err != nil {
			return err
		}
		var (
			aud     proactive.Audience
			content proactive.Content
			sched   proactive.Schedule
		)
		_ = json.Unmarshal(c.Audience, &aud)
		_ = json.Unmarshal(c.Content, &content)
		_ = json.Unmarshal(c.Schedule, &sched)
		occ, ok := sched.Next(s.Now())
		at = s.Now()
		if v := r.URL.Query().Get("at"); v != "" {
			if at, err = time.Parse(time.RFC3339, v); err != nil {
				return errBadRequest("invalid_at", "at: RFC 3339 time")
			}
		} else if ok {
			at = occ.At
		}
		cp, err := q.GetCreatorPolicy(ctx, a.CreatorID)
		if err != nil {
			return err
		}
		policy := s.Config.Platform.PolicyFor(cp)
		page, err := q.AudiencePage(ctx, aud.PageParams(after, limit, at))
		if err != nil {
			return err
		}
		for _, p := range page {
			eu, err := q.GetEndUser(ctx, p.ID)
			if err != nil {
				return err
			}
			var notBefore time.Time
			if occ.LocalDate != "" {
				notBefore, _ = proactive.LocalInstant(occ.LocalDate, occ.LocalTime, proactive.Zone(eu, cp))
			}
			when := at
			if notBefore.After(when) {
				when = notBefore // preview each person at their own local time
			}
			facts, err := proactive.Facts(ctx, q, eu, cp, when)
			if err != nil {
				return err
			}
			d := proactive.Decide(policy, facts.For(content), when, notBefore, at)
			it := item{EndUserID: eu.ID, Name: eu.DisplayName, Channel: eu.Channel, Outcome: d.Outcome, Reason: d.Reason, Mode: d.Mode}
			if d.Outcome == proactive.OutcomeHeld {
				h := d.HoldUntil
				it.HoldUntil = &h
			}
			if d.Outcome == proactive.OutcomeSent {
				mem, _ := q.GetMemory(ctx, eu.ID)
				vars := proactive.VarsFor(eu, cp.Name, mem.Profile)
				switch {
				case d.Mode == proactive.ModeTemplate && content.Template != nil:
					t := content.Template.Rendered(vars)
					it.Template = &t
				case d.Mode == proactive.ModeTemplate: // outside the window: not this text
					it.Text = "(the channel's default template, without parameters)"
				case content.Kind == proactive.ContentText:
					it.Text = proactive.Render(content.Text, vars)
				default:
					it.Text = "(AI-personalized from the brief) " + content.Brief
				}
			}
			items = append(items, it)
		}
		if len(page) == limit {
			n := page[len(page)-1].ID
			next = &n
		}
		return nil
	})
	if err != nil {
		return err
	}
	if items == nil {
		items = []item{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"at": at, "recipients": items, "next_after": next})
	return nil
}

func (s *Server) handleCampaignStats(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	ctx := r.Context()
	var (
		st      db.CampaignStatsRow
		reasons []db.CampaignSkipReasonsRow
	)
	err = s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) error {
		if _, err := q.GetCampaign(ctx, id); err != nil {
			return err
		}
		nid := uuid.NullUUID{UUID: id, Valid: true}
		if st, err = q.CampaignStats(ctx, id); err != nil {
			return err
		}
		reasons, err = q.CampaignSkipReasons(ctx, nid)
		return err
	})
	if err != nil {
		return err
	}
	by := map[string]int64{}
	for _, x := range reasons {
		by[x.Reason] = x.N
	}
	writeJSON(w, http.StatusOK, map[string]any{"targeted": st.Targeted, "sent": st.Sent, "held": st.Held, "skipped": st.Skipped,
		"skipped_by_reason": by, "delivered": st.Delivered, "read": st.Read, "replied": st.Replied, "failed": st.Failed})
	return nil
}

// checkContentLimits applies the campaign text limit to what a campaign or step sends.
func checkContentLimits(c proactive.Content) error {
	for _, f := range []struct{ name, v string }{{"content.text", c.Text}, {"content.brief", c.Brief}, {"content.fallback", c.Fallback}} {
		if err := limitContent.check(f.v); err != nil {
			return fmt.Errorf("%s: %v", f.name, err)
		}
	}
	if c.Template != nil {
		for i, p := range c.Template.Params {
			if err := limitContent.check(p); err != nil {
				return fmt.Errorf("content.template.params[%d]: %v", i, err)
			}
		}
	}
	return nil
}

// checkAudienceLimits applies the tag limit to an audience's tags.
func checkAudienceLimits(a proactive.Audience) error {
	if err := limitTag.check(a.Tag); err != nil {
		return fmt.Errorf("audience.tag: %v", err)
	}
	for name, l := range map[string][]string{"tags": a.Tags, "any_tags": a.AnyTags, "exclude_tags": a.ExcludeTags} {
		for i, t := range l {
			if err := limitTag.check(t); err != nil {
				return fmt.Errorf("audience.%s[%d]: %v", name, i, err)
			}
		}
	}
	return nil
}
