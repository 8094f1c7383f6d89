package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/db"
)

type widgetSettings struct {
	Name             string   `json:"name"`
	Persona          string   `json:"persona"`
	AllowedOrigins   []string `json:"allowed_origins"`
	IdentityRequired bool     `json:"identity_required"`
	WidgetKey        string   `json:"widget_key,omitempty"`
	// IdentitySecret keys the user_hash HMAC; shown to the creator only, for their server.
	IdentitySecret string `json:"identity_secret,omitempty"`
}

// widgetSettingsIn is a PUT or PATCH body. PUT replaces the settings and needs every field;
// PATCH changes the fields given (null counts as left out). The read-only widget_key and
// identity_secret may be sent back as GET returned them and are ignored.
type widgetSettingsIn struct {
	Name             *string   `json:"name"`
	Persona          *string   `json:"persona"`
	AllowedOrigins   *[]string `json:"allowed_origins"`
	IdentityRequired *bool     `json:"identity_required"`
	WidgetKey        *string   `json:"widget_key"`
	IdentitySecret   *string   `json:"identity_secret"`
}

func settingsOf(c db.Creator) widgetSettings {
	origins := c.AllowedOrigins
	if origins == nil {
		origins = []string{}
	}
	return widgetSettings{Name: c.Name, Persona: c.Persona, AllowedOrigins: origins,
		IdentityRequired: c.IdentityRequired, WidgetKey: c.WidgetKey, IdentitySecret: c.WidgetSecret}
}

func (s *Server) handleGetWidgetSettings(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	ctx := r.Context()
	var c db.Creator
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) (err error) {
		c, err = q.GetCreator(ctx, a.CreatorID)
		return err
	}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, settingsOf(c))
	return nil
}

// handlePutWidgetSettings replaces the widget settings: every field is required.
func (s *Server) handlePutWidgetSettings(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	return s.updateWidgetSettings(w, r, a, true)
}

// handlePatchWidgetSettings changes the widget settings given; the others keep their value.
func (s *Server) handlePatchWidgetSettings(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	return s.updateWidgetSettings(w, r, a, false)
}

func (s *Server) updateWidgetSettings(w http.ResponseWriter, r *http.Request, a creatorAuth, replace bool) error {
	var in widgetSettingsIn
	if err := readJSON(w, r, &in); err != nil {
		return err
	}
	if replace {
		var missing []string
		for _, f := range []struct {
			name  string
			given bool
		}{{"name", in.Name != nil}, {"persona", in.Persona != nil}, {"allowed_origins", in.AllowedOrigins != nil},
			{"identity_required", in.IdentityRequired != nil}} {
			if !f.given {
				missing = append(missing, f.name)
			}
		}
		if len(missing) > 0 {
			return errBadRequest("missing_field", "PUT replaces the settings and needs every field (PATCH changes some): missing "+strings.Join(missing, ", "))
		}
	}
	p := db.UpdateWidgetSettingsParams{ID: a.CreatorID, IdentityRequired: in.IdentityRequired}
	if in.Name != nil {
		name := strings.TrimSpace(*in.Name)
		if err := limitName.field("invalid_name", "name", name); err != nil {
			return err
		}
		p.Name = &name
	}
	if in.Persona != nil {
		if err := limitPersona.field("persona_too_long", "persona", *in.Persona); err != nil {
			return err
		}
		p.Persona = in.Persona
	}
	if in.AllowedOrigins != nil {
		origins, err := cleanOrigins(*in.AllowedOrigins)
		if err != nil {
			return err
		}
		p.AllowedOrigins = origins
	}
	ctx := r.Context()
	var c db.Creator
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) (err error) {
		c, err = q.UpdateWidgetSettings(ctx, p)
		return err
	}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, settingsOf(c))
	return nil
}

// cleanOrigins checks allowed origins (scheme://host[:port] or "*") and lower-cases them; never
// nil, so an empty list clears them.
func cleanOrigins(in []string) ([]string, error) {
	if len(in) > maxOriginsCount {
		return nil, errBadRequest("too_many_origins", fmt.Sprintf("at most %d allowed origins", maxOriginsCount))
	}
	origins := make([]string, 0, len(in))
	for i, o := range in {
		if err := limitURL.field("bad_origin", fmt.Sprintf("allowed_origins[%d]", i), o); err != nil {
			return nil, err
		}
		if o == "*" {
			origins = append(origins, o)
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" ||
			u.User != nil || u.Fragment != "" {
			return nil, errBadRequest("bad_origin", "allowed origin "+strconv.Quote(o)+" must be scheme://host[:port]")
		}
		origins = append(origins, strings.ToLower(u.Scheme+"://"+u.Host))
	}
	return origins, nil
}

func pathID(r *http.Request, name string) (uuid.UUID, error) {
	id, err := uuid.Parse(r.PathValue(name))
	if err != nil {
		return uuid.Nil, errNotFound(name)
	}
	return id, nil
}

type conversationOut struct {
	ID             uuid.UUID  `json:"id"`
	EndUserID      uuid.UUID  `json:"end_user_id"`
	Channel        string     `json:"channel"`
	ChannelID      *uuid.UUID `json:"channel_id,omitempty"`
	Status         string     `json:"status"`
	DisplayName    string     `json:"display_name,omitempty"`
	OptedOut       bool       `json:"opted_out,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	LastActivityAt time.Time  `json:"last_activity_at"`
}

// handleListConversations lists the creator's conversations, newest activity first. Filters:
// channel (widget, whatsapp, telegram), channel_id, status (bot, human, closed),
// active_after / active_before (RFC 3339), limit (1-500, default 200).
func (s *Server) handleListConversations(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	q := r.URL.Query()
	p := db.ListConversationsFilteredParams{MaxRows: 200}
	if v := q.Get("channel"); v != "" {
		if v != events.ChannelWidget && v != events.ChannelWhatsApp && v != events.ChannelTelegram {
			return errBadRequest("bad_channel", "channel must be widget, whatsapp or telegram")
		}
		p.Channel = &v
	}
	if v := q.Get("channel_id"); v != "" {
		id, err := uuid.Parse(v)
		if err != nil {
			return errBadRequest("bad_channel_id", "channel_id must be a UUID")
		}
		p.ChannelID = uuid.NullUUID{UUID: id, Valid: true}
	}
	if v := q.Get("status"); v != "" {
		if v != "bot" && v != "human" && v != "closed" {
			return errBadRequest("bad_status", "status must be bot, human or closed")
		}
		p.Status = &v
	}
	for _, f := range []struct {
		name string
		dst  **time.Time
	}{{"active_after", &p.ActiveAfter}, {"active_before", &p.ActiveBefore}} {
		if v := q.Get(f.name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return errBadRequest("bad_"+f.name, f.name+" must be an RFC 3339 time")
			}
			*f.dst = &t
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			return errBadRequest("bad_limit", "limit must be 1 to 500")
		}
		p.MaxRows = int32(n)
	}
	ctx := r.Context()
	var convs []db.ListConversationsFilteredRow
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) (err error) {
		convs, err = q.ListConversationsFiltered(ctx, p)
		return err
	}); err != nil {
		return err
	}
	out := make([]conversationOut, 0, len(convs))
	for _, c := range convs {
		co := conversationOut{ID: c.ID, EndUserID: c.EndUserID, Channel: c.Channel, Status: c.Status, DisplayName: c.DisplayName,
			OptedOut: c.OptedOutAt != nil, CreatedAt: c.CreatedAt, LastActivityAt: c.LastActivityAt}
		if c.ChannelID.Valid {
			co.ChannelID = &c.ChannelID.UUID
		}
		out = append(out, co)
	}
	writeJSON(w, http.StatusOK, map[string]any{"conversations": out})
	return nil
}

type messageOut struct {
	ID        uuid.UUID       `json:"id"`
	Seq       int64           `json:"seq"`
	Role      string          `json:"role"`
	Text      string          `json:"text"`
	Sources   json.RawMessage `json:"sources"`
	Status    string          `json:"status"`
	Error     string          `json:"error,omitempty"`
	ErrorCode string          `json:"error_code,omitempty"`
	ReplyTo   *uuid.UUID      `json:"reply_to,omitempty"`
	CreatedAt time.Time       `json:"created_at"`
}

func (s *Server) handleListMessages(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var after int64
	if v := r.URL.Query().Get("after_seq"); v != "" {
		if after, err = strconv.ParseInt(v, 10, 64); err != nil || after < 0 {
			return errBadRequest("bad_after_seq", "after_seq must be a sequence number (0 or more)")
		}
	}
	ctx := r.Context()
	var msgs []db.Message
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) error {
		if _, err := q.GetConversation(ctx, id); err != nil {
			return err
		}
		var err error
		msgs, err = q.MessagesAfter(ctx, db.MessagesAfterParams{ConversationID: id, Seq: after, Limit: 500})
		return err
	}); err != nil {
		return orNotFound(err, "conversation")
	}
	out := make([]messageOut, 0, len(msgs))
	for _, m := range msgs {
		mo := messageOut{ID: m.ID, Seq: m.Seq, Role: m.Role, Text: m.Body, Sources: m.Sources, Status: m.Status,
			Error: m.Error, ErrorCode: m.ErrorCode, CreatedAt: m.CreatedAt}
		if m.ReplyTo.Valid {
			mo.ReplyTo = &m.ReplyTo.UUID
		}
		out = append(out, mo)
	}
	writeJSON(w, http.StatusOK, map[string]any{"messages": out})
	return nil
}
