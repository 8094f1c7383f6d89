package events

import (
	"time"

	"github.com/google/uuid"
)

// TypeNudgeRecipient is the event type of one recipient of one proactive occurrence.
const TypeNudgeRecipient = "nudge.recipient.v1"

// NudgeRecipient asks the nudge worker to decide and, if the send policy allows, send one
// proactive message (a campaign occurrence or a program step) to one person.
type NudgeRecipient struct {
	OccurrenceID uuid.UUID `json:"occurrence_id"`
	CampaignID   uuid.UUID `json:"campaign_id,omitzero"`
	EnrollmentID uuid.UUID `json:"enrollment_id,omitzero"`
	Step         int       `json:"step,omitempty"`
	EndUserID    uuid.UUID `json:"end_user_id"`
	// ScheduledAt is when the occurrence fired; NotBefore the recipient's own instant (local-time
	// schedules).
	ScheduledAt time.Time `json:"scheduled_at"`
	NotBefore   time.Time `json:"not_before,omitzero"`
}

func (NudgeRecipient) EventType() string { return TypeNudgeRecipient }

// NudgeSubject carries nudge recipients of creator c.
func NudgeSubject(c uuid.UUID) string { return Subject(c, StageNudge) }

// TypeNudgeCompose is the event type of an AI-personalized proactive message to write.
const TypeNudgeCompose = "nudge.compose.v1"

// NudgeCompose asks the generate target to write one AI-personalized proactive message: the
// send policy already decided to send it (the decision is recorded), so the writer stores the
// message under MessageID and hands it to dispatch. Brief is the creator's instruction to the
// model; Fallback, when set, is the rendered text sent if no model can write it.
type NudgeCompose struct {
	MessageID      uuid.UUID `json:"message_id"`
	ConversationID uuid.UUID `json:"conversation_id"`
	EndUserID      uuid.UUID `json:"end_user_id"`
	Channel        string    `json:"channel"`
	OccurrenceID   uuid.UUID `json:"occurrence_id"`
	Brief          string    `json:"brief"`
	Fallback       string    `json:"fallback,omitempty"`
	// Template is the rendered WhatsApp template stored with the message, sent instead if the
	// person is outside the 24-hour window.
	Template *MessageTemplate `json:"template,omitempty"`
}

// MessageTemplate is an approved WhatsApp template with the values of its body parameters for
// one person, as a proactive message carries it (in this event and in messages.template) for
// dispatch to send outside the 24-hour window.
type MessageTemplate struct {
	Name     string   `json:"name"`
	Language string   `json:"language"`
	Params   []string `json:"params"`
}

func (NudgeCompose) EventType() string { return TypeNudgeCompose }

// ComposeSubject carries AI nudges of creator c for the generate target to write.
func ComposeSubject(c uuid.UUID) string { return Subject(c, StageCompose) }
