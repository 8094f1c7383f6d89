// Package conversation holds who answers a conversation: the bot while its status is "bot", the
// creator after a takeover ("human"), nobody once it is "closed". The creator takes a
// conversation over, releases it to the bot, and writing in one the bot owns takes it over. q
// runs in the creator's tenant.
package conversation

import (
	"context"
	"encoding/json"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/internal/db"
)

// Conversation statuses.
const (
	Bot    = "bot"
	Human  = "human"
	Closed = "closed"
)

// Error is a change the conversation's state refuses (a conflict); Code is the machine-readable
// code the API answers with.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

// ErrClosed refuses any change to a closed conversation.
var ErrClosed = &Error{Code: "conversation_closed", Message: "the conversation is closed"}

// SetOwner moves a conversation between the bot (Bot) and the creator (Human). The update locks
// the conversation row, which generate also locks before it stores a reply: after a takeover
// commits, no bot reply is stored or sent, on any replica.
func SetOwner(ctx context.Context, q *db.Queries, id uuid.UUID, status string) (db.Conversation, error) {
	cur, err := q.LockConversation(ctx, id)
	if err != nil {
		return cur, err
	}
	if cur.Status == Closed {
		return cur, ErrClosed
	}
	return q.SetConversationStatus(ctx, db.SetConversationStatusParams{ID: id, Status: status})
}

// AddCreatorMessage stores the creator's message msgID with text in conversation id, queued
// for sending on the conversation's channel. Writing in a conversation the bot owns takes it
// over (tookOver).
func AddCreatorMessage(ctx context.Context, q *db.Queries, creator, id, msgID uuid.UUID, text string) (conv db.Conversation, m db.Message, tookOver bool, err error) {
	if conv, err = q.LockConversation(ctx, id); err != nil {
		return conv, m, false, err
	}
	switch conv.Status {
	case Closed:
		return conv, m, false, ErrClosed
	case Bot:
		if conv, err = q.SetConversationStatus(ctx, db.SetConversationStatusParams{ID: id, Status: Human}); err != nil {
			return conv, m, false, err
		}
		tookOver = true
	}
	m, err = q.InsertMessage(ctx, db.InsertMessageParams{ID: msgID, CreatorID: creator, ConversationID: conv.ID,
		Role: "creator", Body: text, Sources: json.RawMessage("[]"), Channel: conv.Channel, Status: "queued"})
	if err != nil {
		return conv, m, tookOver, err
	}
	return conv, m, tookOver, q.TouchConversation(ctx, conv.ID)
}
