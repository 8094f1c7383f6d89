package events

import "github.com/google/uuid"

// Live frames travel on core NATS (LiveSubject) to the gateway replica holding a conversation's
// socket. They are ephemeral: everything durable is in Postgres and replayed on reconnect.
type Live struct {
	Kind string `json:"kind"` // "delta", "message", "typing"
	// Delta
	Turn  uuid.UUID `json:"turn,omitempty"`
	Text  string    `json:"text,omitempty"`
	Reset bool      `json:"reset,omitempty"`
	// Message
	Seq       int64     `json:"seq,omitempty"`
	MessageID uuid.UUID `json:"message_id,omitempty"`
	Role      string    `json:"role,omitempty"`
	Sources   []Passage `json:"sources,omitempty"`
	ReplyTo   uuid.UUID `json:"reply_to,omitempty"`
}
