package webhooks

import (
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/bus"
	"github.com/coachwire/coachwire/internal/channels"
	"github.com/coachwire/coachwire/internal/channels/telegram"
	"github.com/coachwire/coachwire/internal/channels/whatsapp"
	"github.com/coachwire/coachwire/internal/text"
)

// The rules that turn a provider's webhook payload into coachwire events: which parts of it
// are the channel's, what is a message, a delivery status or an opt-out signal, and the
// deduplication id of each.

// whatsAppEvents is a WhatsApp webhook batch as events: every message of the channel's number
// (inbound stream), every delivery status (delivery stream) and every marketing-messages
// preference as an opt-out / opt-in signal (inbound stream).
func whatsAppEvents(ch *hookChannel, hook *whatsapp.Webhook, now time.Time) ([]bus.Outgoing, error) {
	// ours: a batch may carry another number of the same app: not this channel's.
	ours := func(phoneNumberID string) bool {
		return ch.Config.PhoneNumberID == "" || phoneNumberID == "" || phoneNumberID == ch.Config.PhoneNumberID
	}
	msgs := make([]bus.Outgoing, 0, len(hook.Messages)+len(hook.Statuses))
	for _, m := range hook.Messages {
		if !ours(m.PhoneNumberID) {
			continue
		}
		in := m.Inbound()
		if in.ProviderMessageID == "" || in.ExternalUserID == "" {
			continue
		}
		nm, err := inboundMsg(ch, in, events.ChannelWhatsApp, ch.ID.String()+":"+in.ProviderMessageID, now)
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, nm)
	}
	for _, st := range hook.Statuses {
		if !ours(st.PhoneNumberID) {
			continue
		}
		if st.WAMID == "" || st.Status == "" {
			continue
		}
		ds := events.DeliveryStatus{Channel: events.ChannelWhatsApp, ChannelID: ch.ID, ProviderMessageID: st.WAMID, Status: st.Status}
		if !st.Timestamp.IsZero() {
			ds.At = st.Timestamp.UTC().Format(time.RFC3339)
		}
		if len(st.Errors) > 0 {
			ds.ErrorCode = strconv.Itoa(st.Errors[0].Code)
			ds.Error = text.Sanitize(strings.TrimSpace(st.Errors[0].Title + ": " + st.Errors[0].Message))
		}
		ev := events.New(ch.CreatorID, ds, nil, now)
		nm, err := bus.Event(events.DeliverySubject(ch.CreatorID), ch.ID.String()+":status:"+st.WAMID+":"+st.Status, ev)
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, nm)
	}
	for _, p := range hook.Preferences {
		if !ours(p.PhoneNumberID) {
			continue
		}
		typ := preferenceSignal(p)
		if p.WaID == "" || typ == "" {
			continue
		}
		key := "pref:" + p.WaID + ":" + strconv.FormatInt(p.Timestamp.Unix(), 10) + ":" + p.Value
		nm, err := inboundMsg(ch, channels.InboundMessage{ProviderMessageID: key, ExternalUserID: p.WaID, ChatID: p.WaID, Type: typ, Timestamp: p.Timestamp},
			events.ChannelWhatsApp, ch.ID.String()+":"+key, now)
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, nm)
	}
	return msgs, nil
}

// preferenceSignal is the opt-out / opt-in signal of a WhatsApp user preference: marketing
// messages stopped or resumed; "" for anything else.
func preferenceSignal(p whatsapp.Preference) string {
	if p.Category != "marketing_messages" {
		return ""
	}
	return optSignal(p.Value == "stop", p.Value == "resume")
}

// memberSignal is the opt-out / opt-in signal of a Telegram my_chat_member update in a private
// chat: the user blocked the bot ("kicked") or came back ("member"); "" for anything else.
func memberSignal(cm *telegram.ChatMemberUpdate) string {
	if cm == nil || cm.ChatType != "private" || cm.FromID == 0 {
		return ""
	}
	return optSignal(cm.NewStatus == "kicked", cm.NewStatus == "member")
}

// optSignal is the inbound type of a provider's opt-out / opt-in signal (handled by retrieve:
// the end user is opted out of or back into proactive messages), "" for neither.
func optSignal(out, in bool) string {
	switch {
	case out:
		return events.SignalOptOut
	case in:
		return events.SignalOptIn
	}
	return ""
}

// telegramInbound is the inbound message of a Telegram update for the channel, false when the
// update is acknowledged and dropped: a group message while groups are off for the channel or
// that does not address the bot, a channel post, anything that is neither a new message nor a
// private chat's opt-out / opt-in signal.
func telegramInbound(ch *hookChannel, u *telegram.Update, log *slog.Logger) (channels.InboundMessage, bool) {
	in, ok := u.Inbound()
	if m := u.Message; ok && m.Group() {
		// Groups, supergroups and channels: ignored unless the creator enabled groups for the
		// channel, and then answered only when the bot is mentioned or replied to.
		switch {
		case !ch.Config.GroupsEnabled:
			ok = false
			log.Debug("telegram group message ignored: groups are off for the channel", "channel_id", ch.ID, "update_id", u.UpdateID, "chat_type", m.ChatType)
		case !m.Addressed(ch.Config.BotID, ch.Config.BotUsername):
			ok = false
			log.Debug("telegram group message ignored: the bot was not mentioned or replied to", "channel_id", ch.ID, "update_id", u.UpdateID)
		default:
			in.Text = telegram.WithoutMention(in.Text, ch.Config.BotUsername)
		}
	} else if u.Kind == telegram.KindChannelPost || u.Kind == telegram.KindEditedChannel {
		log.Debug("telegram channel post ignored", "channel_id", ch.ID, "update_id", u.UpdateID)
	}
	if cm := u.ChatMember; u.Kind == telegram.KindMyChatMember {
		if typ := memberSignal(cm); typ != "" {
			in = channels.InboundMessage{ProviderMessageID: "member:" + strconv.FormatInt(u.UpdateID, 10),
				ExternalUserID: strconv.FormatInt(cm.FromID, 10), ChatID: strconv.FormatInt(cm.ChatID, 10), Type: typ, Timestamp: cm.Date}
			ok = true
		}
	}
	return in, ok
}

// telegramMsgID is the deduplication id of a Telegram update's event: Telegram redelivers an
// update with the same update_id.
func telegramMsgID(ch *hookChannel, u *telegram.Update) string {
	return ch.ID.String() + ":" + strconv.FormatInt(u.UpdateID, 10)
}

// inboundMsg is one provider message as an inbound event. Providers can send any text: what
// coachwire does not accept (package text) is stripped here, per message, so one bad message
// neither fails the batch nor fails later in a worker.
func inboundMsg(ch *hookChannel, in channels.InboundMessage, channel, msgID string, now time.Time) (bus.Outgoing, error) {
	mr := events.MessageReceived{Channel: channel, ChannelID: ch.ID, ProviderMessageID: text.Sanitize(in.ProviderMessageID),
		ExternalUserID: text.Sanitize(in.ExternalUserID), ChatID: text.Sanitize(in.ChatID), DisplayName: text.Sanitize(in.DisplayName),
		Language: text.Sanitize(in.Language), Text: text.Sanitize(in.Text), Type: text.Sanitize(in.Type)}
	if !in.Timestamp.IsZero() {
		mr.SentAt = in.Timestamp.UTC().Format(time.RFC3339)
	}
	return bus.Event(events.InboundSubject(ch.CreatorID, channel), msgID, events.New(ch.CreatorID, mr, nil, now))
}
