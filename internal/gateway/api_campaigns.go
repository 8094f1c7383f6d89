package gateway

// Proactive coaching routes (issue 5): campaigns, programs and end-user memory.

import (
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

// read parses a campaign from the request body and checks its fields' limits.
func (c *campaignIn) read(w http.ResponseWriter, r *http.Request) (proactive.CampaignSpec, error) {
	if err := readJSON(w, r, c); err != nil {
		return proactive.CampaignSpec{}, err
	}
	if strings.TrimSpace(c.Name) == "" {
		return proactive.CampaignSpec{}, errBadRequest("invalid_campaign", "name is required")
	}
	if err := limitName.field("invalid_campaign", "name", c.Name); err != nil {
		return proactive.CampaignSpec{}, err
	}
	if err := checkAudienceLimits(c.Audience); err != nil {
		return proactive.CampaignSpec{}, errBadRequest("invalid_campaign", err.Error())
	}
	if err := checkContentLimits(c.Content); err != nil {
		return proactive.CampaignSpec{}, errBadRequest("invalid_campaign", err.Error())
	}
	for _, f := range []struct{ name, v string }{{"schedule.timezone", c.Schedule.Timezone}, {"schedule.start", c.Schedule.Start},
		{"schedule.rrule", c.Schedule.RRule}, {"schedule.cron", c.Schedule.Cron}, {"schedule.local_time", c.Schedule.LocalTime}} {
		if err := limitSchedule.field("invalid_campaign", f.name, f.v); err != nil {
			return proactive.CampaignSpec{}, err
		}
	}
	return proactive.CampaignSpec{Name: c.Name, Audience: c.Audience, Content: c.Content, Schedule: c.Schedule}, nil
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

func campaignOf(row db.Campaign, occ []db.CampaignOccurrence) (campaignOut, error) {
	c, err := proactive.CampaignOf(row)
	if err != nil {
		return campaignOut{}, err
	}
	o := campaignOut{ID: c.ID, Name: c.Name, Status: c.Status, Audience: c.Audience, Content: c.Content, Schedule: c.Schedule,
		CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
	for _, x := range occ {
		if x.Status == "pending" && (o.NextOccurrence == nil || x.ScheduledAt.Before(*o.NextOccurrence)) {
			t := x.ScheduledAt
			o.NextOccurrence = &t
		}
	}
	return o, nil
}

func (s *Server) handleCreateCampaign(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	var in campaignIn
	spec, err := in.read(w, r)
	if err != nil {
		return err
	}
	if err := spec.Validate(s.Now(), s.Config.MinInterval); err != nil {
		return err
	}
	ctx := r.Context()
	var out campaignOut
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) error {
		c, occ, err := proactive.CreateCampaign(ctx, q, a.CreatorID, spec, s.Now())
		if err != nil {
			return err
		}
		auditTarget(ctx, c.ID)
		out, err = campaignOf(c, occ)
		return err
	}); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (s *Server) handleListCampaigns(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	ctx := r.Context()
	p := db.ListCampaignsParams{MaxRows: 200}
	if st := r.URL.Query().Get("status"); st != "" {
		if !slices.Contains([]string{proactive.CampaignActive, proactive.CampaignPaused, proactive.CampaignCompleted, proactive.CampaignCancelled}, st) {
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
		o, err := campaignOf(c, nil)
		if err != nil {
			return err
		}
		out = append(out, o)
	}
	writeJSON(w, http.StatusOK, map[string]any{"campaigns": out})
	return nil
}

type occurrenceOut struct {
	ID          uuid.UUID `json:"id"`
	ScheduledAt time.Time `json:"scheduled_at"`
	Status      string    `json:"status"`
	Targeted    int32     `json:"targeted"`
}

func (s *Server) handleGetCampaign(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	ctx := r.Context()
	var out struct {
		campaignOut
		Occurrences []occurrenceOut `json:"occurrences"`
	}
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) error {
		c, err := q.GetCampaign(ctx, id)
		if err != nil {
			return err
		}
		occ, err := q.ListOccurrences(ctx, db.ListOccurrencesParams{CampaignID: id, MaxRows: 20})
		if err != nil {
			return err
		}
		out.Occurrences = make([]occurrenceOut, 0, len(occ))
		for _, o := range occ {
			out.Occurrences = append(out.Occurrences, occurrenceOut{o.ID, o.ScheduledAt, o.Status, o.Targeted})
		}
		out.campaignOut, err = campaignOf(c, occ)
		return err
	}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// handleUpdateCampaign edits a campaign's future (proactive.UpdateCampaign).
func (s *Server) handleUpdateCampaign(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in campaignIn
	spec, err := in.read(w, r)
	if err != nil {
		return err
	}
	if err := spec.Validate(s.Now(), s.Config.MinInterval); err != nil {
		return err
	}
	ctx := r.Context()
	var out campaignOut
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) error {
		c, occ, err := proactive.UpdateCampaign(ctx, q, a.CreatorID, id, spec, s.Now())
		if err != nil {
			return err
		}
		out, err = campaignOf(c, occ)
		return err
	}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) setCampaignStatus(w http.ResponseWriter, r *http.Request, a creatorAuth, to string) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	ctx := r.Context()
	var out campaignOut
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) error {
		c, err := proactive.SetCampaignStatus(ctx, q, a.CreatorID, id, to, s.Now())
		if err != nil {
			return err
		}
		out, err = campaignOf(c, nil)
		return err
	}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) handlePauseCampaign(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	return s.setCampaignStatus(w, r, a, proactive.CampaignPaused)
}

func (s *Server) handleResumeCampaign(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	return s.setCampaignStatus(w, r, a, proactive.CampaignActive)
}

func (s *Server) handleCancelCampaign(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	return s.setCampaignStatus(w, r, a, proactive.CampaignCancelled)
}

type previewItemOut struct {
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

// handlePreviewCampaign is the dry run (proactive.Preview): who would get what at the next
// occurrence (or at the ?at= time), who would be held or skipped and why. Paginated with
// ?after=<end user id>&limit=.
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
	var at *time.Time
	if v := r.URL.Query().Get("at"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return errBadRequest("invalid_at", "at: RFC 3339 time")
		}
		at = &t
	}
	ctx := r.Context()
	var page proactive.PreviewPage
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) (err error) {
		page, err = proactive.Preview(ctx, q, s.Config.Platform, a.CreatorID, id, at, after, limit, s.Now())
		return err
	}); err != nil {
		return err
	}
	items := make([]previewItemOut, 0, len(page.Recipients))
	for _, it := range page.Recipients {
		d := it.Decision
		items = append(items, previewItemOut{EndUserID: it.EndUser.ID, Name: it.EndUser.DisplayName, Channel: it.EndUser.Channel,
			Outcome: d.Outcome, Reason: d.Reason, Mode: d.Mode, HoldUntil: it.HoldUntil, Text: it.Text, Template: it.Template})
	}
	writeJSON(w, http.StatusOK, map[string]any{"at": page.At, "recipients": items, "next_after": page.NextAfter})
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
		sentWhy []db.CampaignSentReasonsRow
	)
	err = s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) error {
		if _, err := q.GetCampaign(ctx, id); err != nil {
			return err
		}
		nid := uuid.NullUUID{UUID: id, Valid: true}
		if st, err = q.CampaignStats(ctx, id); err != nil {
			return err
		}
		if reasons, err = q.CampaignSkipReasons(ctx, nid); err != nil {
			return err
		}
		sentWhy, err = q.CampaignSentReasons(ctx, nid)
		return err
	})
	if err != nil {
		return err
	}
	by := map[string]int64{}
	for _, x := range reasons {
		by[x.Reason] = x.N
	}
	sentBy := map[string]int64{}
	for _, x := range sentWhy {
		sentBy[x.Reason] = x.N
	}
	writeJSON(w, http.StatusOK, map[string]any{"targeted": st.Targeted, "sent": st.Sent, "held": st.Held, "skipped": st.Skipped,
		"skipped_by_reason": by, "sent_by_reason": sentBy, "delivered": st.Delivered, "read": st.Read, "replied": st.Replied, "failed": st.Failed})
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
