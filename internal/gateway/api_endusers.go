package gateway

// End users: listing, one person, tags (campaign audiences filter on them).

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

// maxEndUserPage bounds a page of end users.
const maxEndUserPage = 500

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
