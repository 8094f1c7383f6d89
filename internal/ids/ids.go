// Package ids derives coachwire's deterministic identifiers. A redelivered event recomputes the
// same id and upserts instead of duplicating; that is how every handler stays idempotent.
package ids

import "github.com/google/uuid"

var namespace = uuid.MustParse("6f1e0c1e-5c0a-4f5e-9a57-0c0ac4c1d1e0")

func derive(parts ...string) uuid.UUID {
	b := make([]byte, 0, 128)
	for _, p := range parts {
		b = append(b, p...)
		b = append(b, 0)
	}
	return uuid.NewSHA1(namespace, b)
}

// EndUser is the id of a creator's end user on a channel.
func EndUser(creator uuid.UUID, channel, externalID string) uuid.UUID {
	return derive("end_user", creator.String(), channel, externalID)
}

// Conversation is the id of an end user's conversation on a channel.
func Conversation(creator, endUser uuid.UUID, channel string) uuid.UUID {
	return derive("conversation", creator.String(), endUser.String(), channel)
}

// InboundMessage is the id of a received message, from the channel's own message id.
func InboundMessage(creator uuid.UUID, channel, providerMessageID string) uuid.UUID {
	return derive("inbound", creator.String(), channel, providerMessageID)
}

// Reply is the id of the reply generated for a triggering user message.
func Reply(trigger uuid.UUID) uuid.UUID { return derive("reply", trigger.String()) }
