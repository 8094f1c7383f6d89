// Package events is the wire contract between coachwire processes: the envelope every event
// carries, one type per stage, the subjects they travel on and the JetStream streams that hold
// them. It imports nothing from internal/: producers and consumers in different processes (and
// different versions during a deploy) agree only on what is written here.
//
// Add fields freely; a breaking change is a new versioned type name, and consumers accept both
// names while a deploy rolls.
package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Envelope is the metadata every event carries.
type Envelope struct {
	ID            uuid.UUID `json:"id"`
	Type          string    `json:"type"`
	CreatorID     uuid.UUID `json:"creator_id"`
	CorrelationID string    `json:"correlation_id,omitempty"`
	CausationID   string    `json:"causation_id,omitempty"`
	OccurredAt    time.Time `json:"occurred_at"`
}

// Event is implemented by every payload type of this package.
type Event interface {
	// EventType is the versioned name, e.g. "message.received.v1".
	EventType() string
}

// Message is an envelope with its payload, the unit written to the bus.
type Message[T Event] struct {
	Envelope
	Data T `json:"data"`
}

// New wraps data in a fresh envelope for creator. The correlation id is inherited from cause
// when given, so one end user's turn can be followed through every stage in the logs.
func New[T Event](creatorID uuid.UUID, data T, cause *Envelope, now time.Time) Message[T] {
	env := Envelope{
		ID:         uuid.Must(uuid.NewV7()),
		Type:       data.EventType(),
		CreatorID:  creatorID,
		OccurredAt: now.UTC(),
	}
	if cause != nil {
		env.CorrelationID = cause.CorrelationID
		env.CausationID = cause.ID.String()
	}
	if env.CorrelationID == "" {
		env.CorrelationID = env.ID.String()
	}
	return Message[T]{Envelope: env, Data: data}
}

// ErrMalformed marks a payload that can never be processed; handlers send it to the dead-letter
// stream instead of retrying.
var ErrMalformed = errors.New("events: malformed event")

// Decode parses a payload and checks that its envelope is complete and of an accepted type.
func Decode[T Event](payload []byte, accepted ...string) (Message[T], error) {
	var m Message[T]
	if err := json.Unmarshal(payload, &m); err != nil {
		return m, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if m.ID == uuid.Nil || m.CreatorID == uuid.Nil {
		return m, fmt.Errorf("%w: envelope without id or creator_id", ErrMalformed)
	}
	var zero T
	if len(accepted) == 0 {
		accepted = []string{zero.EventType()}
	}
	for _, a := range accepted {
		if m.Type == a {
			return m, nil
		}
	}
	return m, fmt.Errorf("%w: type %q, want one of %v", ErrMalformed, m.Type, accepted)
}
