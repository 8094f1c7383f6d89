package events

import "github.com/google/uuid"

// TypeMemoryRequested is the event type of a request to update an end user's memory profile.
const TypeMemoryRequested = "memory.requested.v1"

// MemoryRequested tells the memory extractor that an end user wrote MessageID. The extractor
// decides when to run (enough new messages, or the conversation gone quiet), so one request
// per message costs nothing when most are folded into one extraction.
type MemoryRequested struct {
	EndUserID      uuid.UUID `json:"end_user_id"`
	ConversationID uuid.UUID `json:"conversation_id"`
	MessageID      uuid.UUID `json:"message_id"`
	// Gseq is the message's gseq when the publisher stored it (0: unknown, the extractor reads
	// the message), so the extractor's decision needs no read of the message itself.
	Gseq int64 `json:"gseq,omitempty"`
}

func (MemoryRequested) EventType() string { return TypeMemoryRequested }

// MemorySubject carries memory requests of creator c.
func MemorySubject(c uuid.UUID) string { return Subject(c, StageMemory) }
