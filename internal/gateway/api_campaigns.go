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
	// draft: a campaign previewed before it is saved may have no name yet.
	draft    bool
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
	if strings.TrimSpace(c.Name) == "" && !c.draft {
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
	// Headline: the list's figures per campaign (lists only).
	Headline *headlineOut `json:"headline,omitempty"`
}

// headlineOut is a campaign's headline figures in the list, over all its occurrences.
type headlineOut struct {
	Sent      int64 `json:"sent"`
	Held      int64 `json:"held"`
	Skipped   int64 `json:"skipped"`
	Delivered int64 `json:"delivered"`
	Replied   int64 `json:"replied"`
	Failed    int64 `json:"failed"`
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
	var (
		list  []db.Campaign
		stats []db.CampaignListStatsRow
	)
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) (err error) {
		if list, err = q.ListCampaigns(ctx, p); err != nil || len(list) == 0 {
			return err
		}
		ids := make([]uuid.UUID, len(list))
		for i, c := range list {
			ids[i] = c.ID
		}
		stats, err = q.CampaignListStats(ctx, ids)
		return err
	}); err != nil {
		return err
	}
	heads := map[uuid.UUID]*headlineOut{}
	for _, x := range stats {
		heads[x.CampaignID] = &headlineOut{Sent: x.Sent, Held: x.Held, Skipped: x.Skipped, Delivered: x.Delivered, Replied: x.Replied, Failed: x.Failed}
	}
	out := make([]campaignOut, 0, len(list))
	for _, c := range list {
		o, err := campaignOf(c, nil)
		if err != nil {
			return err
		}
		o.Headline = heads[c.ID]
		if o.Headline == nil {
			o.Headline = &headlineOut{}
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

// previewQuery reads a preview's ?at=, ?after= and ?limit=.
func previewQuery(r *http.Request) (at *time.Time, after uuid.UUID, limit int, err error) {
	limit = 100
	if v := r.URL.Query().Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > 1000 {
			return nil, after, 0, errBadRequest("invalid_limit", "limit: 1..1000")
		}
	}
	if v := r.URL.Query().Get("after"); v != "" {
		if after, err = uuid.Parse(v); err != nil {
			return nil, after, 0, errBadRequest("invalid_after", "after: an end user id")
		}
	}
	if v := r.URL.Query().Get("at"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return nil, after, 0, errBadRequest("invalid_at", "at: RFC 3339 time")
		}
		at = &t
	}
	return at, after, limit, nil
}

// writePreview answers one page of a preview.
func writePreview(w http.ResponseWriter, page proactive.PreviewPage) {
	items := make([]previewItemOut, 0, len(page.Recipients))
	for _, it := range page.Recipients {
		d := it.Decision
		items = append(items, previewItemOut{EndUserID: it.EndUser.ID, Name: it.EndUser.DisplayName, Channel: it.EndUser.Channel,
			Outcome: d.Outcome, Reason: d.Reason, Mode: d.Mode, HoldUntil: it.HoldUntil, Text: it.Text, Template: it.Template})
	}
	writeJSON(w, http.StatusOK, map[string]any{"at": page.At, "recipients": items, "next_after": page.NextAfter})
}

// handlePreviewCampaign is the dry run (proactive.Preview): who would get what at the next
// occurrence (or at the ?at= time), who would be held or skipped and why. Paginated with
// ?after=<end user id>&limit=.
func (s *Server) handlePreviewCampaign(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	at, after, limit, err := previewQuery(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	var page proactive.PreviewPage
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) (err error) {
		page, err = proactive.Preview(ctx, q, s.Config.Platform, a.CreatorID, id, at, after, limit, s.Now())
		return err
	}); err != nil {
		return err
	}
	writePreview(w, page)
	return nil
}

// handlePreviewDraft is the same dry run for a campaign not saved yet (the console's builder):
// the body is a whole campaign as on create (the name may be empty), checked as create checks
// it, so a draft that previews also saves. Nothing is stored.
func (s *Server) handlePreviewDraft(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	at, after, limit, err := previewQuery(r)
	if err != nil {
		return err
	}
	in := campaignIn{draft: true}
	spec, err := in.read(w, r)
	if err != nil {
		return err
	}
	if err := spec.Validate(s.Now(), s.Config.MinInterval); err != nil {
		return err
	}
	ctx := r.Context()
	var page proactive.PreviewPage
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) (err error) {
		page, err = proactive.PreviewDraft(ctx, q, s.Config.Platform, a.CreatorID, spec, at, after, limit, s.Now())
		return err
	}); err != nil {
		return err
	}
	writePreview(w, page)
	return nil
}

// handleAudienceCount is the live count of an audience (the console's audience builder): how
// many people it matches now and how many of them opted out.
func (s *Server) handleAudienceCount(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	var in struct {
		Audience proactive.Audience `json:"audience"`
	}
	if err := readJSON(w, r, &in); err != nil {
		return err
	}
	if err := checkAudienceLimits(in.Audience); err != nil {
		return errBadRequest("invalid_audience", err.Error())
	}
	if err := in.Audience.Validate(); err != nil {
		return errBadRequest("invalid_audience", err.Error())
	}
	ctx := r.Context()
	now := s.Now()
	var n proactive.AudienceCount
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) (err error) {
		n, err = proactive.CountAudience(ctx, q, in.Audience, now)
		return err
	}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"count": n.Total, "opted_out": n.OptedOut, "at": now})
	return nil
}

// occurrenceStatsOut is one occurrence's figures in a campaign's stats.
type occurrenceStatsOut struct {
	ID              uuid.UUID        `json:"id"`
	ScheduledAt     time.Time        `json:"scheduled_at"`
	Status          string           `json:"status"`
	Targeted        int64            `json:"targeted"`
	Sent            int64            `json:"sent"`
	Held            int64            `json:"held"`
	Skipped         int64            `json:"skipped"`
	SkippedByReason map[string]int64 `json:"skipped_by_reason"`
	Delivered       int64            `json:"delivered"`
	Read            int64            `json:"read"`
	Replied         int64            `json:"replied"`
	OptedOutAfter   int64            `json:"opted_out_after"`
	Failed          int64            `json:"failed"`
	FailedByCode    map[string]int64 `json:"failed_by_code"`
}

// statsOccurrences is how many of the latest occurrences a campaign's stats detail.
const statsOccurrences = 50

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
		occ     []db.CampaignOccurrenceStatsRow
		occWhy  []db.CampaignOccurrenceReasonsRow
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
		if sentWhy, err = q.CampaignSentReasons(ctx, nid); err != nil {
			return err
		}
		if occ, err = q.CampaignOccurrenceStats(ctx, db.CampaignOccurrenceStatsParams{CampaignID: id, MaxRows: statsOccurrences}); err != nil {
			return err
		}
		occWhy, err = q.CampaignOccurrenceReasons(ctx, nid)
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
	// Failure codes over every occurrence; reasons and codes per occurrence.
	failedBy := map[string]int64{}
	skipOcc, failOcc := map[uuid.UUID]map[string]int64{}, map[uuid.UUID]map[string]int64{}
	for _, x := range occWhy {
		m := skipOcc
		if x.Kind == "failed" {
			m = failOcc
			failedBy[x.Reason] += x.N
		}
		if m[x.OccurrenceID] == nil {
			m[x.OccurrenceID] = map[string]int64{}
		}
		m[x.OccurrenceID][x.Reason] += x.N
	}
	occurrences := make([]occurrenceStatsOut, 0, len(occ))
	for _, o := range occ {
		occurrences = append(occurrences, occurrenceStatsOut{ID: o.OccurrenceID, ScheduledAt: o.ScheduledAt, Status: o.Status,
			Targeted: o.Targeted, Sent: o.Sent, Held: o.Held, Skipped: o.Skipped, SkippedByReason: orEmpty(skipOcc[o.OccurrenceID]),
			Delivered: o.Delivered, Read: o.Read, Replied: o.Replied, OptedOutAfter: o.OptedOutAfter, Failed: o.Failed,
			FailedByCode: orEmpty(failOcc[o.OccurrenceID])})
	}
	writeJSON(w, http.StatusOK, map[string]any{"targeted": st.Targeted, "sent": st.Sent, "held": st.Held, "skipped": st.Skipped,
		"skipped_by_reason": by, "sent_by_reason": sentBy, "delivered": st.Delivered, "read": st.Read, "replied": st.Replied, "failed": st.Failed,
		"failed_by_code": failedBy, "opted_out_after": st.OptedOutAfter, "occurrences": occurrences})
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
