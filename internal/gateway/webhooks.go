package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
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

// maxWebhookBody bounds a provider webhook body: WhatsApp batches reach about 3 MB.
const maxWebhookBody = 3 << 20

// webhookAckTimeout bounds the wait for JetStream to store a webhook's messages; past it the
// provider gets a 503 and delivers again (deduplicated).
const webhookAckTimeout = 10 * time.Second

// readWebhookBody reads the raw body (signatures are computed over these exact bytes).
func readWebhookBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	r.Body = http.MaxBytesReader(w, r.Body, maxWebhookBody)
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, &apiError{Status: http.StatusRequestEntityTooLarge, Code: "too_large", Message: fmt.Sprintf("webhook body over %d bytes", maxWebhookBody)}
		}
		return nil, errBadRequest("bad_body", "could not read the body")
	}
	return raw, nil
}

// handleWhatsAppVerify answers Meta's subscription handshake with the channel's verify token.
func (s *Server) handleWhatsAppVerify(w http.ResponseWriter, r *http.Request) error {
	ch, err := s.webhookChannel(r.Context(), r, events.ChannelWhatsApp)
	if err != nil {
		return err
	}
	challenge, ok := whatsapp.VerifyHandshake(r.URL.Query(), ch.Cred.VerifyToken)
	if !ok {
		return errForbidden("verification failed")
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, challenge)
	return nil
}

// handleWhatsAppWebhook checks X-Hub-Signature-256 over the raw body, then publishes every
// message of the batch to the inbound stream and every status to the delivery stream, and
// answers 200 once JetStream holds them all. Nothing is published for a body that is not
// signed with the channel's app secret.
func (s *Server) handleWhatsAppWebhook(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	ch, err := s.webhookChannel(ctx, r, events.ChannelWhatsApp)
	if err != nil {
		return err
	}
	raw, err := readWebhookBody(w, r)
	if err != nil {
		return err
	}
	sig := r.Header.Get("X-Hub-Signature-256")
	if sig == "" {
		return errUnauthorized("missing X-Hub-Signature-256")
	}
	if !whatsapp.VerifySignature(ch.Cred.AppSecret, raw, sig) {
		return errForbidden("signature mismatch")
	}
	hook, err := whatsapp.ParseWebhook(raw)
	if err != nil {
		return errBadRequest("bad_payload", "not a WhatsApp webhook payload")
	}
	now := s.Now()
	msgs := make([]bus.Outgoing, 0, len(hook.Messages)+len(hook.Statuses))
	for _, m := range hook.Messages {
		if ch.Config.PhoneNumberID != "" && m.PhoneNumberID != "" && m.PhoneNumberID != ch.Config.PhoneNumberID {
			continue // another number of the same app: not this channel's
		}
		in := m.Inbound()
		if in.ProviderMessageID == "" || in.ExternalUserID == "" {
			continue
		}
		nm, err := inboundMsg(ch, in, events.ChannelWhatsApp, ch.ID.String()+":"+in.ProviderMessageID, now)
		if err != nil {
			return err
		}
		msgs = append(msgs, nm)
	}
	for _, st := range hook.Statuses {
		if ch.Config.PhoneNumberID != "" && st.PhoneNumberID != "" && st.PhoneNumberID != ch.Config.PhoneNumberID {
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
			return err
		}
		msgs = append(msgs, nm)
	}
	for _, p := range hook.Preferences {
		if ch.Config.PhoneNumberID != "" && p.PhoneNumberID != "" && p.PhoneNumberID != ch.Config.PhoneNumberID {
			continue
		}
		typ := optSignal(p.Value == "stop", p.Value == "resume")
		if p.WaID == "" || p.Category != "marketing_messages" || typ == "" {
			continue
		}
		key := "pref:" + p.WaID + ":" + strconv.FormatInt(p.Timestamp.Unix(), 10) + ":" + p.Value
		nm, err := inboundMsg(ch, channels.InboundMessage{ProviderMessageID: key, ExternalUserID: p.WaID, ChatID: p.WaID, Type: typ, Timestamp: p.Timestamp},
			events.ChannelWhatsApp, ch.ID.String()+":"+key, now)
		if err != nil {
			return err
		}
		msgs = append(msgs, nm)
	}
	if err := s.publishAll(ctx, msgs); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]int{"accepted": len(msgs)})
	return nil
}

// optSignal is the inbound type of a provider's opt-out / opt-in signal (handled by retrieve:
// the end user is opted out of or back into proactive messages), "" for neither.
func optSignal(out, in bool) string {
	switch {
	case out:
		return "opt_out"
	case in:
		return "opt_in"
	}
	return ""
}

// handleTelegramWebhook checks X-Telegram-Bot-Api-Secret-Token and publishes the update's new
// message. Updates that are not new user messages are acknowledged and dropped.
func (s *Server) handleTelegramWebhook(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	ch, err := s.webhookChannel(ctx, r, events.ChannelTelegram)
	if err != nil {
		return err
	}
	raw, err := readWebhookBody(w, r)
	if err != nil {
		return err
	}
	secret := r.Header.Get("X-Telegram-Bot-Api-Secret-Token")
	if secret == "" {
		return errUnauthorized("missing X-Telegram-Bot-Api-Secret-Token")
	}
	if !telegram.VerifySecret(secret, ch.Cred.WebhookSecret) {
		return errForbidden("secret token mismatch")
	}
	u, err := telegram.ParseUpdate(raw)
	if err != nil {
		return errBadRequest("bad_payload", "not a Telegram update")
	}
	in, ok := u.Inbound()
	if m := u.Message; ok && m.Group() {
		// Groups, supergroups and channels: ignored unless the creator enabled groups for the
		// channel, and then answered only when the bot is mentioned or replied to.
		switch {
		case !ch.Config.GroupsEnabled:
			ok = false
			s.Log.Debug("telegram group message ignored: groups are off for the channel", "channel_id", ch.ID, "update_id", u.UpdateID, "chat_type", m.ChatType)
		case !m.Addressed(ch.Config.BotID, ch.Config.BotUsername):
			ok = false
			s.Log.Debug("telegram group message ignored: the bot was not mentioned or replied to", "channel_id", ch.ID, "update_id", u.UpdateID)
		default:
			in.Text = telegram.WithoutMention(in.Text, ch.Config.BotUsername)
		}
	} else if u.Kind == telegram.KindChannelPost || u.Kind == telegram.KindEditedChannel {
		s.Log.Debug("telegram channel post ignored", "channel_id", ch.ID, "update_id", u.UpdateID)
	}
	if cm := u.ChatMember; u.Kind == telegram.KindMyChatMember && cm != nil && cm.ChatType == "private" && cm.FromID != 0 {
		// The user blocked the bot ("kicked") or came back ("member").
		if typ := optSignal(cm.NewStatus == "kicked", cm.NewStatus == "member"); typ != "" {
			in = channels.InboundMessage{ProviderMessageID: "member:" + strconv.FormatInt(u.UpdateID, 10),
				ExternalUserID: strconv.FormatInt(cm.FromID, 10), ChatID: strconv.FormatInt(cm.ChatID, 10), Type: typ, Timestamp: cm.Date}
			ok = true
		}
	}
	if !ok {
		writeJSON(w, http.StatusOK, map[string]int{"accepted": 0})
		return nil
	}
	nm, err := inboundMsg(ch, in, events.ChannelTelegram, ch.ID.String()+":"+strconv.FormatInt(u.UpdateID, 10), s.Now())
	if err != nil {
		return err
	}
	if err := s.publishAll(ctx, []bus.Outgoing{nm}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]int{"accepted": 1})
	return nil
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

// publishAll publishes asynchronously and waits until JetStream acknowledged every message (a
// duplicate id is acknowledged too), so a 1000-message batch costs one round trip, not 1000.
func (s *Server) publishAll(ctx context.Context, msgs []bus.Outgoing) error {
	ctx, cancel := context.WithTimeout(ctx, webhookAckTimeout)
	defer cancel()
	if err := s.Bus.PublishBatch(ctx, msgs); err != nil {
		return &apiError{Status: http.StatusServiceUnavailable, Code: "unavailable", Message: "could not queue the webhook; retry", Err: err}
	}
	return nil
}
