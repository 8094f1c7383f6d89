package gateway

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/bus"
	"github.com/coachwire/coachwire/internal/db"
)

// maxCreatorMessageChars bounds a creator's message; dispatch splits it for the channel.
const maxCreatorMessageChars = 16000

func conversationOf(c db.Conversation) conversationOut {
	return conversationOut{ID: c.ID, EndUserID: c.EndUserID, Channel: c.Channel, Status: c.Status, CreatedAt: c.CreatedAt, LastActivityAt: c.LastActivityAt}
}

// setStatus moves a conversation between the bot and the creator. The update locks the
// conversation row, which generate also locks before it stores a reply: after a takeover
// commits, no bot reply is stored or sent, on any replica.
func (s *Server) setStatus(w http.ResponseWriter, r *http.Request, a creatorAuth, status string) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	ctx := r.Context()
	var conv db.Conversation
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) error {
		cur, err := q.LockConversation(ctx, id)
		if err != nil {
			return err
		}
		if cur.Status == "closed" {
			return errConflict("conversation_closed", "the conversation is closed")
		}
		conv, err = q.SetConversationStatus(ctx, db.SetConversationStatusParams{ID: id, Status: status})
		return err
	}); err != nil {
		return orNotFound(err, "conversation")
	}
	s.activity(a.CreatorID, events.Activity{Kind: "conversation", ConversationID: conv.ID, Channel: conv.Channel, Status: conv.Status})
	writeJSON(w, http.StatusOK, conversationOf(conv))
	return nil
}

func (s *Server) handleTakeover(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	return s.setStatus(w, r, a, "human")
}

func (s *Server) handleRelease(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	return s.setStatus(w, r, a, "bot")
}

// handleCreatorMessage sends a message as the creator on the conversation's channel (through
// the outbound stream and dispatch, like the bot's replies). Writing in a conversation the bot
// owns takes it over.
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
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) error {
		var err error
		if conv, err = q.LockConversation(ctx, id); err != nil {
			return err
		}
		switch conv.Status {
		case "closed":
			return errConflict("conversation_closed", "the conversation is closed")
		case "bot":
			if conv, err = q.SetConversationStatus(ctx, db.SetConversationStatusParams{ID: id, Status: "human"}); err != nil {
				return err
			}
			tookOver = true
		}
		m, err = q.InsertMessage(ctx, db.InsertMessageParams{ID: msgID, CreatorID: a.CreatorID, ConversationID: conv.ID,
			Role: "creator", Body: in.Text, Sources: json.RawMessage("[]"), Channel: conv.Channel, Status: "queued"})
		if err != nil {
			return err
		}
		return q.TouchConversation(ctx, conv.ID)
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
