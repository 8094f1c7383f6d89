package gateway

// Conversations: listing, messages, the creator's takeover and messages, and the live
// updates of the creator's dashboard (server-sent events).

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/auth/perm"
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
	// The inbox's row (list answers only): the person's handle on the channel, tags, the last
	// message, and whether the person is waiting for an answer (their message is the last).
	Handle        string       `json:"handle,omitempty"`
	Tags          []string     `json:"tags,omitempty"`
	LastMessage   *lastMessage `json:"last_message,omitempty"`
	AwaitingReply bool         `json:"awaiting_reply,omitempty"`
	// PersonID and PersonChannels (inbox rows): the person the end user is linked into and the
	// channels of every end user of theirs, oldest first (internal/people).
	PersonID       *uuid.UUID `json:"person_id,omitempty"`
	PersonChannels []string   `json:"person_channels,omitempty"`
}

// lastMessage is the preview of a conversation's last message; its text only for principals
// that read message content.
type lastMessage struct {
	Role string    `json:"role"`
	Text string    `json:"text,omitempty"`
	At   time.Time `json:"at"`
}

// maxSearchTerms bounds the words of an inbox search.
const maxSearchTerms = 8

// inboxTerms turns a search typed by a person into the word ranges of message_terms: every word
// (letters and digits, lower-cased; anything else separates words) must occur in the
// conversation, the last one as a prefix (the console searches as the person types). The
// words are compared in byte order (COLLATE "C"): [w, w+"\x01") is w exactly, [w, w+U+10FFFF)
// every word starting with w.
func inboxTerms(q string) (lo, hi []string) {
	words := strings.FieldsFunc(strings.ToLower(q), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	if len(words) > maxSearchTerms {
		words = words[:maxSearchTerms]
	}
	for i, w := range words {
		lo = append(lo, w)
		if i == len(words)-1 {
			hi = append(hi, w+string(unicode.MaxRune))
		} else {
			hi = append(hi, w+"\x01")
		}
	}
	return lo, hi
}

// likePattern is an ILIKE pattern matching s anywhere, s's wildcards escaped.
func likePattern(s string) string {
	r := strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`)
	return "%" + r.Replace(s) + "%"
}

// inboxCursor is the keyset position after a page: the last row's time and id (the inbox's
// activity time; the audit log's entry time: auditCursor).
func inboxCursor(at time.Time, id uuid.UUID) string {
	return base64.RawURLEncoding.EncodeToString([]byte(at.UTC().Format(time.RFC3339Nano) + "|" + id.String()))
}

func parseInboxCursor(c string) (time.Time, uuid.UUID, error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, uuid.Nil, err
	}
	ts, id, ok := strings.Cut(string(raw), "|")
	if !ok {
		return time.Time{}, uuid.Nil, errors.New("no separator")
	}
	at, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return time.Time{}, uuid.Nil, err
	}
	u, err := uuid.Parse(id)
	return at, u, err
}

func inboxRowOf(c db.InboxConversationsRow, content bool) conversationOut {
	co := conversationOut{ID: c.ID, EndUserID: c.EndUserID, Channel: c.Channel, Status: c.Status, DisplayName: c.DisplayName,
		OptedOut: c.OptedOutAt != nil, CreatedAt: c.CreatedAt, LastActivityAt: c.LastActivityAt, Handle: c.ProviderUserID,
		Tags: c.Tags, AwaitingReply: c.LastRole == "user", PersonID: &c.PersonID, PersonChannels: c.PersonChannels}
	if co.Handle == "" {
		co.Handle = c.ExternalID
	}
	if c.ChannelID.Valid {
		co.ChannelID = &c.ChannelID.UUID
	}
	if c.LastRole != "" {
		co.LastMessage = &lastMessage{Role: c.LastRole, At: c.LastAt}
		if content {
			co.LastMessage.Text = c.LastText
		}
	}
	return co
}

// handleListConversations lists the creator's conversations (the inbox), newest activity first,
// one keyset page at a time: ?cursor= (next_cursor of the previous page), limit (1-500, default
// 200). Filters: channel (widget, whatsapp, telegram), channel_id, status (bot, human, closed),
// taken_over (true: status human; false: any other), tag (repeatable: every tag), opted_out,
// end_user_id, active_after / active_before (RFC 3339), q (full-text search over the messages,
// or the person's name; needs content.read).
func (s *Server) handleListConversations(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	q := r.URL.Query()
	p := db.InboxConversationsParams{MaxRows: 200}
	var err error
	if p.Channel, err = channelFilter(q); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		dst  *uuid.NullUUID
	}{{"channel_id", &p.ChannelID}, {"end_user_id", &p.EndUserID}} {
		if v := q.Get(f.name); v != "" {
			id, err := uuid.Parse(v)
			if err != nil {
				return errBadRequest("bad_"+f.name, f.name+" must be a UUID")
			}
			*f.dst = uuid.NullUUID{UUID: id, Valid: true}
		}
	}
	if v := q.Get("status"); v != "" {
		if v != conversation.Bot && v != conversation.Human && v != conversation.Closed {
			return errBadRequest("bad_status", "status must be bot, human or closed")
		}
		p.Status = &v
	}
	for _, f := range []struct {
		name string
		dst  **bool
	}{{"taken_over", new(*bool)}, {"opted_out", &p.OptedOut}} {
		if v := q.Get(f.name); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return errBadRequest("bad_"+f.name, f.name+" must be true or false")
			}
			*f.dst = &b
			if f.name == "taken_over" {
				human := conversation.Human
				if b {
					if p.Status != nil && *p.Status != human {
						return errBadRequest("bad_status", "taken_over=true is status human")
					}
					p.Status = &human
				} else {
					p.NotStatus = &human
				}
			}
		}
	}
	if tags := q["tag"]; len(tags) > 0 {
		if len(tags) > maxTagsCount {
			return errBadRequest("bad_tag", fmt.Sprintf("tag: at most %d", maxTagsCount))
		}
		for _, t := range tags {
			if err := limitTag.field("bad_tag", "tag", t); err != nil {
				return err
			}
		}
		p.Tags = tags
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
	if v := q.Get("cursor"); v != "" {
		at, id, err := parseInboxCursor(v)
		if err != nil {
			return errBadRequest("bad_cursor", "cursor: the next_cursor of a previous page")
		}
		p.CursorAt, p.CursorID = &at, uuid.NullUUID{UUID: id, Valid: true}
	}
	content := a.Grant.Allows(perm.ContentRead)
	if v := strings.TrimSpace(q.Get("q")); v != "" {
		if !content {
			// Searching the messages would tell what they say.
			return &apiError{Status: http.StatusForbidden, Code: "forbidden", Message: "searching conversations needs permission to read messages (content.read)"}
		}
		if len(v) > 200 {
			return errBadRequest("bad_q", "q: at most 200 bytes")
		}
		like := likePattern(v)
		p.NameLike = &like
		p.TermLo, p.TermHi = inboxTerms(v) // none: nothing searchable in the text, only the name can match
	}
	ctx := r.Context()
	var convs []db.InboxConversationsRow
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) (err error) {
		convs, err = q.InboxConversations(ctx, p)
		return err
	}); err != nil {
		return err
	}
	out := make([]conversationOut, 0, len(convs))
	for _, c := range convs {
		out = append(out, inboxRowOf(c, content))
	}
	resp := map[string]any{"conversations": out}
	if len(convs) == int(p.MaxRows) {
		last := convs[len(convs)-1]
		resp["next_cursor"] = inboxCursor(last.LastActivityAt, last.ID)
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// handleGetConversation answers one conversation as an inbox row.
func (s *Server) handleGetConversation(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	ctx := r.Context()
	var c db.GetInboxConversationRow
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) (err error) {
		c, err = q.GetInboxConversation(ctx, id)
		return err
	}); err != nil {
		return orNotFound(err, "conversation")
	}
	writeJSON(w, http.StatusOK, inboxRowOf(db.InboxConversationsRow(c), a.Grant.Allows(perm.ContentRead)))
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
//
// With ?conversation_id= the stream also carries that conversation's reply as the bot writes
// it: "delta" events ({conversation_id, turn, text, reset}: reset starts the turn's text over,
// otherwise text extends it), from the same live frames the widget gets; the final reply
// arrives as a "message" event as before.
func (s *Server) handleConversationEvents(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	rc := http.NewResponseController(w)
	var watch uuid.UUID
	if v := r.URL.Query().Get("conversation_id"); v != "" {
		id, err := uuid.Parse(v)
		if err != nil {
			return errNotFound("conversation")
		}
		if err := s.Store.InTenant(r.Context(), a.CreatorID, func(q *db.Queries) error {
			_, err := q.GetConversation(r.Context(), id)
			return err
		}); err != nil {
			return orNotFound(err, "conversation")
		}
		watch = id
	}
	ch := make(chan *nats.Msg, 256)
	sub, err := s.Bus.Listen(r.Context(), events.ActivitySubject(a.CreatorID), ch)
	if err != nil {
		return err
	}
	defer sub.Unsubscribe() //nolint:errcheck
	live := make(chan *nats.Msg, 256)
	if watch != uuid.Nil {
		// The subject names the creator: only this workspace's conversation can be heard.
		lsub, err := s.Bus.Listen(r.Context(), events.LiveSubject(a.CreatorID, watch), live)
		if err != nil {
			return err
		}
		defer lsub.Unsubscribe() //nolint:errcheck
	}
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
		case m := <-live:
			var l events.Live
			if json.Unmarshal(m.Data, &l) != nil || l.Kind != "delta" {
				continue
			}
			d, _ := json.Marshal(map[string]any{"conversation_id": watch, "turn": l.Turn, "text": l.Text, "reset": l.Reset})
			if _, err := fmt.Fprintf(w, "event: delta\ndata: %s\n\n", d); err != nil {
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
