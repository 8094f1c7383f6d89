package events

import (
	"fmt"
	"strings"

	"github.com/google/uuid"
)

// Stage names: the second token after the creator in every subject.
const (
	StageInbound   = "inbound"
	StageGenerate  = "generate"
	StageOutbound  = "outbound"
	StageDelivery  = "delivery"
	StageIngest    = "ingest"
	StageKnowledge = "knowledge"
	StageNudge     = "nudge"
	StageCompose   = "compose"
	StageMemory    = "memory"
	StageLive      = "live"
	StageTyping    = "typing"
	StageActivity  = "activity"
)

// Channels an end user can talk on.
const (
	ChannelWidget   = "widget"
	ChannelWhatsApp = "whatsapp"
	ChannelTelegram = "telegram"
	ChannelApp      = "app"
)

// Subject builds cw.<creator>.<stage>[.<detail>].
func Subject(creatorID uuid.UUID, stage string, detail ...string) string {
	s := "cw." + creatorID.String() + "." + stage
	for _, d := range detail {
		s += "." + d
	}
	return s
}

// InboundSubject is where a channel adapter publishes a received message.
func InboundSubject(c uuid.UUID, channel string) string { return Subject(c, StageInbound, channel) }

// GenerateSubject carries turn requests.
func GenerateSubject(c uuid.UUID) string { return Subject(c, StageGenerate) }

// OutboundSubject carries messages to deliver on a channel.
func OutboundSubject(c uuid.UUID, channel string) string { return Subject(c, StageOutbound, channel) }

// DeliverySubject carries delivery status changes.
func DeliverySubject(c uuid.UUID) string { return Subject(c, StageDelivery) }

// IngestSubject carries document work.
func IngestSubject(c uuid.UUID) string { return Subject(c, StageIngest) }

// KnowledgeSubject carries document state changes.
func KnowledgeSubject(c uuid.UUID) string { return Subject(c, StageKnowledge) }

// LiveSubject is the core-NATS (not JetStream) subject for ephemeral traffic to the gateway that
// holds a conversation's socket: token deltas and final messages.
func LiveSubject(c uuid.UUID, conversationID uuid.UUID) string {
	return Subject(c, StageLive, conversationID.String())
}

// CreatorFromSubject returns the creator token of a cw.* subject.
func CreatorFromSubject(subject string) (uuid.UUID, error) {
	parts := strings.SplitN(subject, ".", 4)
	if len(parts) < 3 || parts[0] != "cw" {
		return uuid.Nil, fmt.Errorf("%w: subject %q is not cw.<creator>.<stage>", ErrMalformed, subject)
	}
	id, err := uuid.Parse(parts[1])
	if err != nil {
		return uuid.Nil, fmt.Errorf("%w: subject %q: creator token: %v", ErrMalformed, subject, err)
	}
	return id, nil
}

// TypingSubject is the core-NATS subject of typing requests for dispatch.
func TypingSubject(c uuid.UUID, channel string) string { return Subject(c, StageTyping, channel) }

// ActivitySubject is the core-NATS subject of a creator's live dashboard updates.
func ActivitySubject(c uuid.UUID) string { return Subject(c, StageActivity) }

// AnyCreator returns the wildcard subject of stage (with detail tokens) for every creator: what
// a role that serves all creators listens on (the handler then checks the creator token).
func AnyCreator(stage string, detail ...string) string {
	s := "cw.*." + stage
	for _, d := range detail {
		s += "." + d
	}
	return s
}
