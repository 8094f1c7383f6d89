package gateway

// End users: listing, one person, tags (campaign audiences filter on them), the export of
// everything kept about a person and their deletion for good.

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/channels/webpush"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/memory"
	"github.com/coachwire/coachwire/internal/people"
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
	// PersonID names the person the end user is linked into (its own id when not linked:
	// internal/people); Identities (one end user's answers only) are the person's end users.
	PersonID   uuid.UUID         `json:"person_id"`
	Identities []people.Identity `json:"identities,omitempty"`
}

func endUserOf(e db.EndUser) endUserOut {
	o := endUserOut{ID: e.ID, Channel: e.Channel, ExternalID: e.ExternalID, ProviderUserID: e.ProviderUserID,
		DisplayName: e.DisplayName, Language: e.Language, Timezone: e.Timezone, Verified: e.Verified, Tags: e.Tags,
		OptedOut: e.OptedOutAt != nil, OptedOutAt: e.OptedOutAt, CreatedAt: e.CreatedAt, LastSeenAt: e.LastSeenAt,
		LastInboundAt: e.LastInboundAt, PersonID: e.PersonID}
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
	var err error
	if p.Channel, err = channelFilter(qs); err != nil {
		return err
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

// handleGetEndUser answers one end user with the end users linked into their person
// (identities, oldest first, the end user itself included: internal/people).
func (s *Server) handleGetEndUser(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	id, err := pathID(r, "id")
	if err != nil {
		return errNotFound("end user")
	}
	ctx := r.Context()
	var out endUserOut
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) error {
		e, err := q.GetEndUser(ctx, id)
		if err != nil {
			return err
		}
		out = endUserOf(e)
		ids, _, err := people.Identities(ctx, q, id)
		out.Identities = ids[id]
		return err
	}); err != nil {
		return orNotFound(err, "end user")
	}
	writeJSON(w, http.StatusOK, out)
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

// endUserExport is everything kept about one end user, as GET /api/v1/end-users/{id}/export
// answers it.
type endUserExport struct {
	Format     string     `json:"format"`
	ExportedAt time.Time  `json:"exported_at"`
	EndUser    endUserOut `json:"end_user"`
	Consents   struct {
		OptedOut      bool       `json:"opted_out"`
		OptedOutAt    *time.Time `json:"opted_out_at,omitempty"`
		Verified      bool       `json:"verified"`
		LastInboundAt *time.Time `json:"last_inbound_at,omitempty"`
	} `json:"consents"`
	Memory struct {
		Profile         memory.Profile `json:"profile"`
		EditedByCreator bool           `json:"edited_by_creator"`
		UpdatedAt       *time.Time     `json:"updated_at,omitempty"`
	} `json:"memory"`
	Conversations []exportConversation       `json:"conversations"`
	Enrollments   []db.EndUserEnrollmentsRow `json:"program_enrollments"`
	Nudges        []db.EndUserNudgesRow      `json:"nudges"`
	// Devices are the app's push subscriptions (issue 16): the device's name, its push
	// service and when it was registered and last pushed to (the keys stay out).
	Devices []exportDevice `json:"devices"`
}

type exportDevice struct {
	ID          uuid.UUID  `json:"id"`
	Device      string     `json:"device"`
	PushService string     `json:"push_service"`
	CreatedAt   time.Time  `json:"created_at"`
	LastPushAt  *time.Time `json:"last_push_at,omitempty"`
}

type exportConversation struct {
	conversationOut
	Messages []messageOut `json:"messages"`
}

// handleExportEndUser answers everything coachwire keeps about one end user as one JSON
// document (a download): the person, their consents, memory profile, tags, conversations on
// every channel with all their messages, program enrollments and proactive messages.
func (s *Server) handleExportEndUser(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	id, err := pathID(r, "id")
	if err != nil {
		return errNotFound("end user")
	}
	ctx := r.Context()
	out := endUserExport{Format: "coachwire.end_user.v1", ExportedAt: s.Now().UTC(), Conversations: []exportConversation{}, Devices: []exportDevice{}}
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) error {
		e, err := q.GetEndUser(ctx, id)
		if err != nil {
			return err
		}
		out.EndUser = endUserOf(e)
		out.Consents.OptedOut, out.Consents.OptedOutAt = e.OptedOutAt != nil, e.OptedOutAt
		out.Consents.Verified, out.Consents.LastInboundAt = e.Verified, e.LastInboundAt
		out.Memory.Profile = memory.Profile{}
		switch m, err := q.GetMemory(ctx, id); {
		case err == nil:
			out.Memory.Profile, out.Memory.EditedByCreator, out.Memory.UpdatedAt = memory.Parse(m.Profile), m.EditedByCreator, &m.UpdatedAt
		case !db.IsNotFound(err):
			return err
		}
		convs, err := q.EndUserConversations(ctx, id)
		if err != nil {
			return err
		}
		at := map[uuid.UUID]int{}
		for _, c := range convs {
			co := conversationOf(c)
			if c.ChannelID.Valid {
				co.ChannelID = &c.ChannelID.UUID
			}
			at[c.ID] = len(out.Conversations)
			out.Conversations = append(out.Conversations, exportConversation{conversationOut: co, Messages: []messageOut{}})
		}
		msgs, err := q.EndUserMessages(ctx, id)
		if err != nil {
			return err
		}
		for _, m := range msgs {
			i, ok := at[m.ConversationID]
			if !ok {
				continue
			}
			mo := messageOut{ID: m.ID, Seq: m.Seq, Role: m.Role, Text: m.Body, Sources: m.Sources, Status: m.Status,
				Error: m.Error, ErrorCode: m.ErrorCode, CreatedAt: m.CreatedAt}
			if m.ReplyTo.Valid {
				mo.ReplyTo = &m.ReplyTo.UUID
			}
			out.Conversations[i].Messages = append(out.Conversations[i].Messages, mo)
		}
		if out.Enrollments, err = q.EndUserEnrollments(ctx, id); err != nil {
			return err
		}
		if out.Nudges, err = q.EndUserNudges(ctx, id); err != nil {
			return err
		}
		subs, err := q.ListPushSubscriptions(ctx, id)
		for _, d := range subs {
			out.Devices = append(out.Devices, exportDevice{ID: d.ID, Device: d.Device, PushService: webpush.Origin(d.Endpoint),
				CreatedAt: d.CreatedAt, LastPushAt: d.LastPushAt})
		}
		return err
	}); err != nil {
		return orNotFound(err, "end user")
	}
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="end-user-%s.json"`, id))
	writeJSON(w, http.StatusOK, out)
	return nil
}

// handleDeleteEndUser deletes an end user for good, in one transaction: the person, their
// conversations on every channel, messages, deliveries, memory, tags, program enrollments,
// proactive-message decisions and the analytics rows that name them (aggregate counts without
// any reference to the person stay). Nothing of theirs is in the knowledge index: end users
// upload nothing there. Deleting again answers 404 (nothing is left to delete). If the person
// writes again, they start over as a new, empty end user.
func (s *Server) handleDeleteEndUser(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	id, err := pathID(r, "id")
	if err != nil {
		return errNotFound("end user")
	}
	ctx := r.Context()
	var convs []db.Conversation
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) error {
		if _, err := q.GetEndUser(ctx, id); err != nil {
			return err
		}
		if err := setActingUser(ctx, q, a); err != nil {
			return err
		}
		if convs, err = q.EndUserConversations(ctx, id); err != nil {
			return err
		}
		n, err := q.DeleteEndUser(ctx, id)
		if err == nil && n == 0 {
			err = db.ErrNotFound
		}
		return err
	}); err != nil {
		if errors.Is(err, db.ErrNotFound) {
			return errNotFound("end user")
		}
		return orNotFound(err, "end user")
	}
	for _, c := range convs {
		s.activity(a.CreatorID, events.Activity{Kind: "conversation", ConversationID: c.ID, Channel: c.Channel, Status: "deleted"})
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
