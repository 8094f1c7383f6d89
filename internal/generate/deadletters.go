package generate

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/bus"
	"github.com/coachwire/coachwire/internal/db"
)

// ConsumerDeadTurns is the durable consumer of the dead-letter stream that counts dead-lettered
// turns for analytics.
const ConsumerDeadTurns = "analytics-dead-turns"

// DeadTurns records every turn whose inbound message or turn request was dead-lettered (moved
// to CW_DLQ by any consumer, through a handler's permanent failure, its last delivery or the
// max-deliveries advisory) in analytics_dead_letters, once per event: the Responsiveness
// section counts them. It reads the dead-letter stream, so every path that dead-letters is
// covered without the turn path doing anything.
type DeadTurns struct {
	Store *db.Store
}

// Register adds the consumer to the router.
func (d *DeadTurns) Register(ctx context.Context, r *bus.Router) error {
	return r.Handle(ctx, ConsumerDeadTurns, bus.ConsumerSpec{Stream: events.StreamDLQ, Durable: ConsumerDeadTurns, Filter: "dlq.>",
		AckWait: 30 * time.Second, Parallel: 1}, d.handle)
}

func (d *DeadTurns) handle(msg *message.Message) error {
	var stage string
	switch msg.Metadata.Get(bus.MetaSubject) {
	case events.DLQSubject(events.StreamInbound):
		stage = "inbound"
	case events.DLQSubject(events.StreamGenerate):
		stage = "generate"
	default:
		return nil
	}
	ev, ok := deadTurn(msg.Payload)
	if !ok {
		return nil // not a turn, or unreadable: nothing to count (a dead letter is never dead-lettered)
	}
	err := d.Store.InTenant(msg.Context(), ev.CreatorID, func(q *db.Queries) error {
		return q.RecordDeadLetter(msg.Context(), db.RecordDeadLetterParams{EventID: ev.ID, CreatorID: ev.CreatorID,
			Channel: ev.Data.Channel, Stage: stage, At: ev.OccurredAt})
	})
	if db.IsForeignKeyViolation(err) {
		return nil // the creator is gone
	}
	return err
}

type deadTurnEvent struct {
	events.Envelope
	Data struct {
		Channel string `json:"channel"`
	} `json:"data"`
}

// deadTurn reads a dead-lettered turn event: a person's message or a turn request.
func deadTurn(payload []byte) (deadTurnEvent, bool) {
	var ev deadTurnEvent
	if json.Unmarshal(payload, &ev) != nil || ev.ID == uuid.Nil || ev.CreatorID == uuid.Nil || ev.OccurredAt.IsZero() {
		return ev, false
	}
	if ev.Type != events.TypeMessageReceived && ev.Type != events.TypeTurnRequested {
		return ev, false
	}
	ev.Data.Channel = strings.TrimSpace(ev.Data.Channel)
	return ev, ev.Data.Channel != ""
}
