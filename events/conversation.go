package events

import "github.com/google/uuid"

// Type names of the conversation events.
const (
	TypeMessageReceived = "message.received.v1"
	TypeTurnRequested   = "turn.requested.v1"
	TypeMessageOutbound = "message.outbound.v1"
	TypeDeliveryStatus  = "delivery.status.v1"
)

// MessageReceived is an end user's message as a channel adapter normalised it.
type MessageReceived struct {
	Channel string `json:"channel"`
	// ProviderMessageID is the channel's own id (widget: the client's message UUID; WhatsApp: wamid;
	// Telegram: chat id + message id). It makes the whole turn idempotent.
	ProviderMessageID string    `json:"provider_message_id"`
	EndUserID         uuid.UUID `json:"end_user_id,omitempty"`
	ConversationID    uuid.UUID `json:"conversation_id,omitempty"`
	// ExternalUserID identifies the user on the channel when EndUserID is not known yet.
	ExternalUserID string `json:"external_user_id,omitempty"`
	DisplayName    string `json:"display_name,omitempty"`
	Text           string `json:"text"`
	SentAt         string `json:"sent_at,omitempty"`
}

func (MessageReceived) EventType() string { return TypeMessageReceived }

// Passage is a piece of the creator's knowledge found for a turn.
type Passage struct {
	DocumentID uuid.UUID `json:"document_id"`
	Title      string    `json:"title"`
	Heading    string    `json:"heading,omitempty"`
	Page       int       `json:"page,omitempty"`
	Text       string    `json:"text"`
	Score      float64   `json:"score"`
}

// TurnRequested asks generate to answer a conversation. MessageID is the user message that
// triggered it; generate answers every user message since the last reply.
type TurnRequested struct {
	ConversationID uuid.UUID `json:"conversation_id"`
	MessageID      uuid.UUID `json:"message_id"`
	Channel        string    `json:"channel"`
	Query          string    `json:"query"`
	Passages       []Passage `json:"passages"`
	SearchMode     string    `json:"search_mode"`
}

func (TurnRequested) EventType() string { return TypeTurnRequested }

// MessageOutbound is a stored message to deliver to an end user.
type MessageOutbound struct {
	MessageID      uuid.UUID `json:"message_id"`
	ConversationID uuid.UUID `json:"conversation_id"`
	EndUserID      uuid.UUID `json:"end_user_id"`
	Channel        string    `json:"channel"`
}

func (MessageOutbound) EventType() string { return TypeMessageOutbound }

// DeliveryStatus reports what happened to an outbound message.
type DeliveryStatus struct {
	MessageID uuid.UUID `json:"message_id"`
	Channel   string    `json:"channel"`
	Status    string    `json:"status"` // sent, delivered, read, failed
	Error     string    `json:"error,omitempty"`
}

func (DeliveryStatus) EventType() string { return TypeDeliveryStatus }
