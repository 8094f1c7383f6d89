package conversation

import (
	"encoding/json"
	"fmt"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/db"
)

// Sources decodes a message row's sources column (the passages a reply was written from). An
// empty column is no sources; a column that does not decode is an error, never silently empty.
func Sources(raw []byte) ([]events.Passage, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var ps []events.Passage
	if err := json.Unmarshal(raw, &ps); err != nil {
		return nil, fmt.Errorf("conversation: message sources: %w", err)
	}
	return ps, nil
}

// LiveMessage is a stored message as the live "message" event the widget shows: what dispatch
// pushes when it is sent and what a socket replays on resume.
func LiveMessage(m db.Message) (events.Live, error) {
	l := events.Live{Kind: "message", Seq: m.Seq, MessageID: m.ID, Role: m.Role, Text: m.Body}
	if m.ReplyTo.Valid {
		l.ReplyTo = m.ReplyTo.UUID
	}
	var err error
	l.Sources, err = Sources(m.Sources)
	return l, err
}
