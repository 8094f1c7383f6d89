package gateway

// Proactive coaching settings: the creator's send policy (timezone, quiet hours, frequency caps)
// and the end users it applies to (listing, tags).

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/db"
)

// Limits of the policy and end-user routes.
const (
	maxCapDay      = 100
	maxCapWeek     = 700
	maxEndUserPage = 500
)

// nudgePolicy is the creator's send policy on the wire. Quiet hours are "HH:MM" in the
// recipient's local time (the database keeps minutes of the day); equal start and end mean no
// quiet hours, a start after the end spans midnight. Caps of 0 leave only the platform ceiling.
type nudgePolicy struct {
	Timezone   string `json:"timezone"`
	QuietStart string `json:"quiet_start"`
	QuietEnd   string `json:"quiet_end"`
	CapDay     int    `json:"cap_day"`
	CapWeek    int    `json:"cap_week"`
}

// nudgePolicyIn is a PUT body (every field) or a PATCH body (fields left out keep their value).
type nudgePolicyIn struct {
	Timezone   *string `json:"timezone"`
	QuietStart *string `json:"quiet_start"`
	QuietEnd   *string `json:"quiet_end"`
	CapDay     *int    `json:"cap_day"`
	CapWeek    *int    `json:"cap_week"`
}

func policyOf(p db.GetCreatorPolicyRow) nudgePolicy {
	return nudgePolicy{Timezone: p.Timezone, QuietStart: formatHHMM(int(p.QuietStart)), QuietEnd: formatHHMM(int(p.QuietEnd)),
		CapDay: int(p.NudgeCapDay), CapWeek: int(p.NudgeCapWeek)}
}

func formatHHMM(m int) string { return fmt.Sprintf("%02d:%02d", m/60, m%60) }

// parseHHMM reads "HH:MM" (two digits each, 00:00-23:59) as minutes of the day.
func parseHHMM(s string) (int, bool) {
	if len(s) != 5 || s[2] != ':' {
		return 0, false
	}
	h, err1 := strconv.Atoi(s[:2])
	m, err2 := strconv.Atoi(s[3:])
	if err1 != nil || err2 != nil || s[0] == '+' || s[3] == '+' || h < 0 || h > 23 || m < 0 || m > 59 {
		return 0, false
	}
	return h*60 + m, true
}

func badPolicy(field, msg string) error {
	return errBadRequest("invalid_policy", field+": "+msg)
}

// apply validates in and applies it over cur.
func (in nudgePolicyIn) apply(cur db.GetCreatorPolicyRow) (db.SetCreatorPolicyParams, error) {
	p := db.SetCreatorPolicyParams{ID: cur.ID, Timezone: cur.Timezone, QuietStart: cur.QuietStart, QuietEnd: cur.QuietEnd,
		CapDay: cur.NudgeCapDay, CapWeek: cur.NudgeCapWeek}
	if in.Timezone != nil {
		tz := strings.TrimSpace(*in.Timezone)
		if tz == "" || tz == "Local" {
			return p, badPolicy("timezone", "an IANA time zone name such as Europe/Paris is required")
		}
		if _, err := time.LoadLocation(tz); err != nil {
			return p, badPolicy("timezone", strconv.Quote(tz)+" is not a known IANA time zone name")
		}
		p.Timezone = tz
	}
	for _, f := range []struct {
		name string
		in   *string
		out  *int16
	}{{"quiet_start", in.QuietStart, &p.QuietStart}, {"quiet_end", in.QuietEnd, &p.QuietEnd}} {
		if f.in == nil {
			continue
		}
		m, ok := parseHHMM(*f.in)
		if !ok {
			return p, badPolicy(f.name, strconv.Quote(*f.in)+" is not a time of day HH:MM (00:00-23:59)")
		}
		*f.out = int16(m)
	}
	for _, f := range []struct {
		name string
		in   *int
		max  int
		out  *int32
	}{{"cap_day", in.CapDay, maxCapDay, &p.CapDay}, {"cap_week", in.CapWeek, maxCapWeek, &p.CapWeek}} {
		if f.in == nil {
			continue
		}
		if *f.in < 0 || *f.in > f.max {
			return p, badPolicy(f.name, fmt.Sprintf("must be between 0 (platform ceiling only) and %d", f.max))
		}
		*f.out = int32(*f.in)
	}
	return p, nil
}

func (s *Server) handleGetNudgePolicy(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	ctx := r.Context()
	var p db.GetCreatorPolicyRow
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) (err error) {
		p, err = q.GetCreatorPolicy(ctx, a.CreatorID)
		return err
	}); err != nil {
		return orNotFound(err, "creator")
	}
	writeJSON(w, http.StatusOK, policyOf(p))
	return nil
}

// handlePutNudgePolicy replaces the policy: every field is required.
func (s *Server) handlePutNudgePolicy(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	return s.updateNudgePolicy(w, r, a, true)
}

// handlePatchNudgePolicy changes the fields given; the others keep their value.
func (s *Server) handlePatchNudgePolicy(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	return s.updateNudgePolicy(w, r, a, false)
}

func (s *Server) updateNudgePolicy(w http.ResponseWriter, r *http.Request, a creatorAuth, replace bool) error {
	var in nudgePolicyIn
	if err := readJSON(w, r, &in); err != nil {
		return err
	}
	if replace {
		var missing []string
		for _, f := range []struct {
			name  string
			given bool
		}{{"timezone", in.Timezone != nil}, {"quiet_start", in.QuietStart != nil}, {"quiet_end", in.QuietEnd != nil},
			{"cap_day", in.CapDay != nil}, {"cap_week", in.CapWeek != nil}} {
			if !f.given {
				missing = append(missing, f.name)
			}
		}
		if len(missing) > 0 {
			return errBadRequest("missing_field", "PUT replaces the policy and needs every field (PATCH changes some): missing "+strings.Join(missing, ", "))
		}
	}
	ctx := r.Context()
	var out db.SetCreatorPolicyRow
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) error {
		cur, err := q.GetCreatorPolicy(ctx, a.CreatorID)
		if err != nil {
			return err
		}
		p, err := in.apply(cur)
		if err != nil {
			return err
		}
		out, err = q.SetCreatorPolicy(ctx, p)
		return err
	}); err != nil {
		return orNotFound(err, "creator")
	}
	writeJSON(w, http.StatusOK, policyOf(db.GetCreatorPolicyRow(out)))
	return nil
}

// End users.

type endUserOut struct {
	ID             uuid.UUID  `json:"id"`
	Channel        string     `json:"channel"`
	ChannelID      *uuid.UUID `json:"channel_id,omitempty"`
	ExternalID     string     `json:"external_id"`
	ProviderUserID string     `json:"provider_user_id,omitempty"`
	DisplayName    string     `json:"display_name"`
	Language       string     `json:"language"`
	Timezone       string     `json:"timezone"`
	Verified       bool       `json:"verified"`
	Tags           []string   `json:"tags"`
	OptedOut       bool       `json:"opted_out"`
	OptedOutAt     *time.Time `json:"opted_out_at,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	LastSeenAt     time.Time  `json:"last_seen_at"`
	LastInboundAt  *time.Time `json:"last_inbound_at,omitempty"`
}

func endUserOf(e db.EndUser) endUserOut {
	o := endUserOut{ID: e.ID, Channel: e.Channel, ExternalID: e.ExternalID, ProviderUserID: e.ProviderUserID,
		DisplayName: e.DisplayName, Language: e.Language, Timezone: e.Timezone, Verified: e.Verified, Tags: e.Tags,
		OptedOut: e.OptedOutAt != nil, OptedOutAt: e.OptedOutAt, CreatedAt: e.CreatedAt, LastSeenAt: e.LastSeenAt,
		LastInboundAt: e.LastInboundAt}
	if e.ChannelID.Valid {
		id := e.ChannelID.UUID
		o.ChannelID = &id
	}
	if o.Tags == nil {
		o.Tags = []string{}
	}
	return o
}

// handleListEndUsers lists the creator's end users in id order, one keyset page at a time:
// ?after=<end user id>&limit= (1-500, default 100), filters ?channel= and ?tag=. next_after is
// the cursor of the next page (absent on the last one).
func (s *Server) handleListEndUsers(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	qs := r.URL.Query()
	p := db.ListEndUsersParams{MaxRows: 100}
	if v := qs.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxEndUserPage {
			return errBadRequest("invalid_limit", fmt.Sprintf("limit: 1..%d", maxEndUserPage))
		}
		p.MaxRows = int32(n)
	}
	if v := qs.Get("after"); v != "" {
		id, err := uuid.Parse(v)
		if err != nil {
			return errBadRequest("invalid_after", "after: an end user id")
		}
		p.AfterID = id
	}
	if v := qs.Get("channel"); v != "" {
		if v != events.ChannelWidget && v != events.ChannelWhatsApp && v != events.ChannelTelegram {
			return errBadRequest("bad_channel", "channel must be widget, whatsapp or telegram")
		}
		p.Channel = &v
	}
	if v := qs.Get("tag"); v != "" {
		if err := limitTag.field("invalid_tag", "tag", v); err != nil {
			return err
		}
		p.Tag = &v
	}
	ctx := r.Context()
	var list []db.EndUser
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) (err error) {
		list, err = q.ListEndUsers(ctx, p)
		return err
	}); err != nil {
		return err
	}
	out := make([]endUserOut, 0, len(list))
	for _, e := range list {
		out = append(out, endUserOf(e))
	}
	resp := map[string]any{"end_users": out}
	if len(list) == int(p.MaxRows) {
		resp["next_after"] = list[len(list)-1].ID
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (s *Server) handleGetEndUser(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	id, err := pathID(r, "id")
	if err != nil {
		return errNotFound("end user")
	}
	ctx := r.Context()
	var e db.EndUser
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) (err error) {
		e, err = q.GetEndUser(ctx, id)
		return err
	}); err != nil {
		return orNotFound(err, "end user")
	}
	writeJSON(w, http.StatusOK, endUserOf(e))
	return nil
}

// cleanTags trims tags, drops duplicates (tags match exactly, so case is kept) and checks the
// limits.
func cleanTags(in []string) ([]string, error) {
	if len(in) > maxTagsCount {
		return nil, errBadRequest("invalid_tags", fmt.Sprintf("tags: at most %d", maxTagsCount))
	}
	out := make([]string, 0, len(in))
	seen := map[string]bool{}
	for i, t := range in {
		t = strings.TrimSpace(t)
		switch {
		case t == "":
			return nil, errBadRequest("invalid_tags", fmt.Sprintf("tags[%d]: empty", i))
		case limitTag.check(t) != nil:
			return nil, errBadRequest("invalid_tags", fmt.Sprintf("tags[%d]: %v", i, limitTag.check(t)))
		}
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out, nil
}

// handlePutEndUserTags replaces an end user's tags (campaign audiences filter on them).
func (s *Server) handlePutEndUserTags(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	id, err := pathID(r, "id")
	if err != nil {
		return errNotFound("end user")
	}
	var in struct {
		Tags *[]string `json:"tags"`
	}
	if err := readJSON(w, r, &in); err != nil {
		return err
	}
	if in.Tags == nil {
		return errBadRequest("invalid_tags", "tags: a list is required ([] removes every tag)")
	}
	tags, err := cleanTags(*in.Tags)
	if err != nil {
		return err
	}
	ctx := r.Context()
	var e db.EndUser
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) (err error) {
		e, err = q.SetEndUserTags(ctx, db.SetEndUserTagsParams{ID: id, Tags: tags})
		return err
	}); err != nil {
		return orNotFound(err, "end user")
	}
	writeJSON(w, http.StatusOK, endUserOf(e))
	return nil
}
