package retrieve

import (
	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/text"
)

// sanitizeInbound applies package text's rule to every string of an inbound message. The
// edges already refuse (REST, widget socket) or strip (webhooks) what coachwire does not accept;
// a message that still carries it (an older gateway, a bug) is stored sanitised here instead of
// failing on Postgres ("invalid byte sequence 0x00") until it is dead-lettered unanswered.
func sanitizeInbound(in events.MessageReceived) (events.MessageReceived, bool) {
	out := in
	for _, f := range []*string{&out.Channel, &out.ProviderMessageID, &out.ExternalUserID, &out.DisplayName, &out.Text,
		&out.SentAt, &out.ChatID, &out.Language, &out.Type} {
		*f = text.Sanitize(*f)
	}
	return out, out != in
}
