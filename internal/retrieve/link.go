package retrieve

// LINK <code>: a person links their WhatsApp or Telegram chat with the app (internal/people).
// The command is answered here, without the model, in the transaction that stored the message;
// the answer's id derives from the message, so a redelivery neither redeems again nor answers
// twice. A successful link is also confirmed in the app's conversation.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/bus"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/ids"
	"github.com/coachwire/coachwire/internal/people"
)

// Answers to a link command.
const (
	linkUnknownAnswer  = "I don't know this link code. Check it in the app (Settings → Link a chat) and send it again as LINK followed by the code."
	linkExpiredAnswer  = "This link code has expired. Ask the app for a new one and send it here within 10 minutes."
	linkUsedAnswer     = "This link code was already used. Ask the app for a new one."
	linkSameAnswer     = "This code links another chat to the app: send it from your WhatsApp or Telegram chat with me."
	linkGroupAnswer    = "For your privacy, linking works in a private chat only: send the code to me directly."
	linkAlreadyAnswer  = "This chat is already linked with your app."
	linkTooManyAnswer  = "Too many link codes I didn't know were sent from this chat. Please try again in an hour."
	linkedAnswer       = "Done: this chat is now linked with your app. What you tell me here, I'll remember there too, and the other way round. You can unlink it in the app's settings."
	linkedAppAnswerFmt = "Your %s chat is now linked with this app: what you share in either place is remembered in both."
)

// channelNames are the channels as people call them.
var channelNames = map[string]string{events.ChannelWhatsApp: "WhatsApp", events.ChannelTelegram: "Telegram"}

// linkConfirmationID is the id of a link's confirmation in the app's conversation, derived from
// the LINK message.
func linkConfirmationID(msgID uuid.UUID) uuid.UUID {
	return uuid.NewSHA1(ids.Reply(msgID), []byte("link-confirmation"))
}

// answerLink answers the LINK message msgID of end user eu (conversation conv) carrying code,
// and returns the answer and, after a successful link, the confirmation stored in the app's
// conversation (to publish to the app's channel).
func (w *Worker) answerLink(ctx context.Context, q *db.Queries, conv db.Conversation, eu db.EndUser, msgID uuid.UUID, code string, group bool) (*db.Message, *confirmation, error) {
	answerID := ids.Reply(msgID)
	if a, err := q.GetMessage(ctx, answerID); err == nil {
		// A redelivery: already linked (or refused) and answered; the confirmation, if any,
		// is published again (deduplicated by its id).
		m, err := q.GetMessage(ctx, linkConfirmationID(msgID))
		if db.IsNotFound(err) {
			return &a, nil, nil
		}
		if err != nil {
			return nil, nil, err
		}
		c, err := q.GetConversation(ctx, m.ConversationID)
		if err != nil {
			return nil, nil, err
		}
		return &a, &confirmation{msg: m, endUser: c.EndUserID}, nil
	} else if !db.IsNotFound(err) {
		return nil, nil, err
	}
	var (
		body, outcome string
		confirm       *confirmation
	)
	var wrong int32
	if !group {
		// Unknown codes this chat sent in the last hour (their answers): a chat cannot guess codes.
		var err error
		if wrong, err = q.CountRecentAnswers(ctx, db.CountRecentAnswersParams{ConversationID: conv.ID, Body: linkUnknownAnswer,
			Since: w.Now().Add(-time.Hour)}); err != nil {
			return nil, nil, err
		}
	}
	switch {
	case group:
		body, outcome = linkGroupAnswer, "group"
	case wrong >= people.MaxWrongCodes:
		body, outcome = linkTooManyAnswer, "too_many"
	default:
		l, err := people.Redeem(ctx, q, code, eu, w.Now())
		switch {
		case errors.Is(err, people.ErrUnknownCode):
			body, outcome = linkUnknownAnswer, "unknown"
		case errors.Is(err, people.ErrExpiredCode):
			body, outcome = linkExpiredAnswer, "expired"
		case errors.Is(err, people.ErrUsedCode):
			body, outcome = linkUsedAnswer, "used"
		case errors.Is(err, people.ErrSameChannel):
			body, outcome = linkSameAnswer, "same_channel"
		case err != nil:
			return nil, nil, err
		case l.Already:
			body, outcome = linkAlreadyAnswer, "already"
		default:
			body, outcome = linkedAnswer, "linked"
			if confirm, err = w.confirmInApp(ctx, q, l, msgID); err != nil {
				return nil, nil, err
			}
		}
	}
	w.Log.InfoContext(ctx, "link command answered", "creator_id", conv.CreatorID, "conversation_id", conv.ID, "outcome", outcome)
	a, err := insertCommandReply(ctx, q, conv, msgID, answerID, body)
	if err != nil {
		return nil, nil, err
	}
	return &a, confirm, nil
}

// confirmation is a link's confirmation stored in the app's conversation.
type confirmation struct {
	msg     db.Message
	endUser uuid.UUID
}

// confirmInApp stores the link's confirmation in the conversation of the app's end user on its
// channel (nil when it has none).
func (w *Worker) confirmInApp(ctx context.Context, q *db.Queries, l people.Linked, msgID uuid.UUID) (*confirmation, error) {
	convs, err := q.EndUserConversations(ctx, l.App.ID)
	if err != nil {
		return nil, err
	}
	for _, c := range convs {
		if c.Channel != l.App.Channel {
			continue
		}
		name := channelNames[l.Channel.Channel]
		if name == "" {
			name = l.Channel.Channel
		}
		m, err := q.InsertMessage(ctx, db.InsertMessageParams{ID: linkConfirmationID(msgID), CreatorID: c.CreatorID, ConversationID: c.ID,
			Role: "assistant", Body: fmt.Sprintf(linkedAppAnswerFmt, name), Sources: json.RawMessage("[]"), Channel: c.Channel, Status: "queued",
			// A service reply to the person's own LINK, not a proactive send: with reply_to set,
			// dispatch delivers it like a reply (the socket when open, a push only when closed)
			// and an opt-out never holds it back.
			ReplyTo: uuid.NullUUID{UUID: msgID, Valid: true}})
		if db.IsNotFound(err) {
			m, err = q.GetMessage(ctx, linkConfirmationID(msgID))
		}
		if err != nil {
			return nil, err
		}
		return &confirmation{msg: m, endUser: l.App.ID}, nil
	}
	return nil, nil
}

// publishConfirmation hands the app's link confirmation to dispatch on the app's channel.
func (w *Worker) publishConfirmation(ctx context.Context, ev events.Message[events.MessageReceived], cf confirmation) error {
	c, m := ev.CreatorID, cf.msg
	w.activity(c, events.Activity{Kind: "message", ConversationID: m.ConversationID, Channel: m.Channel, MessageID: m.ID,
		Seq: m.Seq, Role: m.Role, Text: m.Body, Status: m.Status})
	out := events.New(c, events.MessageOutbound{MessageID: m.ID, ConversationID: m.ConversationID, EndUserID: cf.endUser, Channel: m.Channel}, &ev.Envelope, w.Now())
	return bus.PublishEvent(ctx, w.Bus, events.OutboundSubject(c, m.Channel), "out:"+m.ID.String(), out)
}
