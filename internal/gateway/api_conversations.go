package gateway

// Conversations: listing, messages, the creator's takeover and messages, and the live
// updates of the creator's dashboard (server-sent events).

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/bus"
	"github.com/coachwire/coachwire/internal/conversation"
	"github.com/coachwire/coachwire/internal/db"
)

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
		if v != conversation.Bot && v != conversation.Human && v != conversation.Closed {
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

// maxCreatorMessageChars bounds a creator's message; dispatch splits it for the channel.
const maxCreatorMessageChars = 16000

func conversationOf(c db.Conversation) conversationOut {
	return conversationOut{ID: c.ID, EndUserID: c.EndUserID, Channel: c.Channel, Status: c.Status, CreatedAt: c.CreatedAt, LastActivityAt: c.LastActivityAt}
}

// setStatus moves a conversation between the bot and the creator (conversation.SetOwner).
func (s *Server) setStatus(w http.ResponseWriter, r *http.Request, a creatorAuth, status string) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	ctx := r.Context()
	var conv db.Conversation
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) (err error) {
		if err := setActingUser(ctx, q, a); err != nil {
			return err
		}
		conv, err = conversation.SetOwner(ctx, q, id, status)
		return err
	}); err != nil {
		return orNotFound(err, "conversation")
	}
	s.activity(a.CreatorID, events.Activity{Kind: "conversation", ConversationID: conv.ID, Channel: conv.Channel, Status: conv.Status})
	writeJSON(w, http.StatusOK, conversationOf(conv))
	return nil
}

func (s *Server) handleTakeover(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	return s.setStatus(w, r, a, conversation.Human)
}

func (s *Server) handleRelease(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	return s.setStatus(w, r, a, conversation.Bot)
}

// handleCreatorMessage sends a message as the creator on the conversation's channel (through
// the outbound stream and dispatch, like the bot's replies); conversation.AddCreatorMessage
// stores it (writing in a conversation the bot owns takes it over).
func (s *Server) handleCreatorMessage(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in struct {
		Text string `json:"text"`
	}
	if err := readJSON(w, r, &in); err != nil {
		return err
	}
	in.Text = strings.TrimSpace(in.Text)
	if in.Text == "" {
		return errBadRequest("bad_text", "text is required")
	}
	if err := limitCreatorMessage.field("bad_text", "text", in.Text); err != nil {
		return err
	}
	ctx := r.Context()
	var (
		conv     db.Conversation
		m        db.Message
		tookOver bool
	)
	msgID := uuid.Must(uuid.NewV7())
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) (err error) {
		if err := setActingUser(ctx, q, a); err != nil {
			return err
		}
		conv, m, tookOver, err = conversation.AddCreatorMessage(ctx, q, a.CreatorID, id, msgID, in.Text)
		return err
	}); err != nil {
		return orNotFound(err, "conversation")
	}
	out := events.New(a.CreatorID, events.MessageOutbound{MessageID: m.ID, ConversationID: conv.ID, EndUserID: conv.EndUserID, Channel: conv.Channel}, nil, s.Now())
	if err := bus.PublishEvent(ctx, s.Bus, events.OutboundSubject(a.CreatorID, conv.Channel), "out:"+m.ID.String(), out); err != nil {
		return err
	}
	if tookOver {
		s.activity(a.CreatorID, events.Activity{Kind: "conversation", ConversationID: conv.ID, Channel: conv.Channel, Status: conv.Status})
	}
	s.activity(a.CreatorID, events.Activity{Kind: "message", ConversationID: conv.ID, Channel: conv.Channel, MessageID: m.ID,
		Seq: m.Seq, Role: m.Role, Text: m.Body, Status: m.Status})
	writeJSON(w, http.StatusAccepted, map[string]any{
		"message":      messageOut{ID: m.ID, Seq: m.Seq, Role: m.Role, Text: m.Body, Sources: m.Sources, Status: m.Status, CreatedAt: m.CreatedAt},
		"conversation": conversationOf(conv),
	})
	return nil
}

// activity publishes a live update for the creator's dashboard (core NATS, best effort).
func (s *Server) activity(c uuid.UUID, a events.Activity) {
	if err := s.Bus.NotifyJSON(events.ActivitySubject(c), a); err != nil {
		s.Log.Debug("activity publish failed", "err", err)
	}
}

// handleConversationEvents streams the creator's live updates as Server-Sent Events: new
// messages, delivery status changes and takeovers, of this creator only (the subject carries
// the authenticated creator id). Events are not replayed: after a reconnect the dashboard
// reloads from the conversations API.
func (s *Server) handleConversationEvents(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	rc := http.NewResponseController(w)
	ch := make(chan *nats.Msg, 256)
	sub, err := s.Bus.Listen(r.Context(), events.ActivitySubject(a.CreatorID), ch)
	if err != nil {
		return err
	}
	defer sub.Unsubscribe() //nolint:errcheck
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprint(w, ": connected\n\n"); err != nil {
		return nil
	}
	_ = rc.Flush()
	ping := time.NewTicker(15 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return nil
		case <-ping.C:
			if !s.stillAllowed(r.Context(), a) {
				return nil // removed, demoted or revoked since the stream opened
			}
			if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil {
				return nil
			}
		case m := <-ch:
			var ev events.Activity
			if json.Unmarshal(m.Data, &ev) != nil || ev.Kind == "" {
				continue
			}
			if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev.Kind, m.Data); err != nil {
				return nil
			}
		}
		if err := rc.Flush(); err != nil {
			return nil
		}
	}
}
