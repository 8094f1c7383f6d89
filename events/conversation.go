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
	// ChannelID is the creator's channel (WhatsApp number, Telegram bot) it arrived on; zero for
	// the widget.
	ChannelID uuid.UUID `json:"channel_id,omitzero"`
	// ChatID is where to answer on the channel (WhatsApp wa_id, Telegram chat id).
	ChatID   string `json:"chat_id,omitempty"`
	Language string `json:"language,omitempty"`
	// Type is the message type (text, image, audio, video, document, sticker, location, other);
	// empty means text. Only text goes to the coach; the rest gets a polite answer.
	Type string `json:"type,omitempty"`
}

func (MessageReceived) EventType() string { return TypeMessageReceived }

// MessageReceived.Type of a provider's opt-out / opt-in signal (WhatsApp marketing stop /
// resume, Telegram bot blocked / unblocked): the end user opted out of or back into proactive
// messages. Retrieve applies them without reaching the LLM.
const (
	SignalOptOut = "opt_out"
	SignalOptIn  = "opt_in"
)

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
	SearchMode     string    `json:"search_mode"` // "bm25", "hybrid" or SearchUnavailable
	// Expansions are the words the search used for the query's words (corrections,
	// translations, cognates, related words): the passages-mode reply counts a question word as
	// present in a passage holding one of them. Absent in turns of older versions.
	Expansions *Expansions `json:"expansions,omitempty"`
}

// Expansions is what the search made of a question's words.
type Expansions struct {
	// Words maps a question word (lower-cased as typed) to the words the search used for it.
	Words map[string][]Alternative `json:"words,omitempty"`
	// Stop are the question's words the search read as function words of the question's
	// language ("oft", "ogni"): they are not content to be found.
	Stop []string `json:"stop,omitempty"`
}

// Alternative is a word the search used for a question word, and how much finding it in a
// passage counts for finding the question word (1: as much; a broader word less).
type Alternative struct {
	Word   string  `json:"word"`
	Weight float64 `json:"weight"`
}

func (TurnRequested) EventType() string { return TypeTurnRequested }

// SearchUnavailable is the SearchMode of a turn whose knowledge search could not run (Weaviate
// down or too slow): Passages is empty and the reply says the knowledge base is unavailable.
const SearchUnavailable = "unavailable"

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
	// Provider status webhooks name the provider's message id (WhatsApp wamid) instead of
	// MessageID; the consumer finds the message from its send log.
	ChannelID         uuid.UUID `json:"channel_id,omitzero"`
	ProviderMessageID string    `json:"provider_message_id,omitempty"`
	ErrorCode         string    `json:"error_code,omitempty"`
	At                string    `json:"at,omitempty"`
	// Widget receipts name the conversation of the end user's session: delivered names the
	// message the gateway wrote to the socket (MessageID), read every bot and creator message
	// of the conversation up to UpToSeq.
	ConversationID uuid.UUID `json:"conversation_id,omitzero"`
	UpToSeq        int64     `json:"up_to_seq,omitempty"`
}

func (DeliveryStatus) EventType() string { return TypeDeliveryStatus }

// Typing asks dispatch to show a typing indicator on the end user's channel while a reply is
// generated. It travels on core NATS (TypingSubject): losing one is harmless.
type Typing struct {
	ConversationID uuid.UUID `json:"conversation_id"`
	EndUserID      uuid.UUID `json:"end_user_id"`
	Channel        string    `json:"channel"`
	ChannelID      uuid.UUID `json:"channel_id,omitzero"`
	// ProviderMessageID is the inbound message being answered (WhatsApp shows typing on it).
	ProviderMessageID string `json:"provider_message_id,omitempty"`
}

// Activity is a live update for the creator's dashboard (new message, status change of a
// message or a conversation). It travels on core NATS (ActivitySubject); the creator reloads
// from the API after a reconnect.
type Activity struct {
	Kind           string    `json:"kind"` // message, message_status, conversation
	ConversationID uuid.UUID `json:"conversation_id"`
	Channel        string    `json:"channel,omitempty"`
	MessageID      uuid.UUID `json:"message_id,omitzero"`
	Seq            int64     `json:"seq,omitempty"`
	Role           string    `json:"role,omitempty"`
	Text           string    `json:"text,omitempty"`
	Status         string    `json:"status,omitempty"`
	ErrorCode      string    `json:"error_code,omitempty"`
	At             string    `json:"at,omitempty"`
}
