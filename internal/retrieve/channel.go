package retrieve

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/bus"
	"github.com/coachwire/coachwire/internal/channels"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/ids"
	"github.com/coachwire/coachwire/internal/people"
	"github.com/coachwire/coachwire/internal/proactive"
)

// Answers that never go through the chat model.
const (
	textOnlyAnswer = "Sorry, I can only read text messages. Please type your question and I'll be happy to help."
	optOutAnswer   = "You're unsubscribed: you won't get any more messages from us unless you write first. Send START to subscribe again."
	optInAnswer    = "You're subscribed again. Send STOP at any time to unsubscribe."
)

// handleChannel records a message that arrived on a creator's WhatsApp or Telegram channel:
// the end user's identity on that channel (with the time of the message, which opens WhatsApp's
// 24-hour window), the message itself (once, by its deterministic id), then either a turn for
// the coach, or an answer that needs no model: STOP/START keywords, non-text messages, memory
// commands and program keywords (commands.go), in that order of precedence.
func (w *Worker) handleChannel(msg *message.Message, ev events.Message[events.MessageReceived]) error {
	ctx := msg.Context()
	c, in := ev.CreatorID, ev.Data
	if in.ProviderMessageID == "" || in.ExternalUserID == "" {
		return bus.Permanent(fmt.Errorf("retrieve: %w: channel message without provider or user id", events.ErrMalformed))
	}
	if in.Type == events.SignalOptOut || in.Type == events.SignalOptIn {
		return w.handleOptSignal(msg, ev)
	}
	kind := in.Type
	if kind == "" {
		kind = "text"
	}
	if kind == "text" && strings.TrimSpace(in.Text) == "" {
		kind = "other"
	}
	msgID := ids.InboundMessage(c, in.Channel, in.ChannelID.String()+":"+in.ProviderMessageID)
	body := in.Text
	if kind != "text" {
		body = strings.TrimSpace("[" + kind + "] " + in.Text)
	}
	var (
		conv     db.Conversation
		inserted bool
		keyword  string
		stored   db.Message
		answer   *db.Message
		confirm  *confirmation
	)
	inboundAt := w.Now().UTC()
	err := w.Store.InTenant(ctx, c, func(q *db.Queries) error {
		ch, err := q.GetChannel(ctx, in.ChannelID)
		if err != nil {
			return err
		}
		if ch.Type != in.Channel {
			return bus.Permanent(fmt.Errorf("retrieve: %w: channel %s is %s, not %s", events.ErrMalformed, ch.ID, ch.Type, in.Channel))
		}
		cfg, err := channels.ParseConfig(ch.Config)
		if err != nil {
			return bus.Permanent(fmt.Errorf("retrieve: channel %s config: %w", ch.ID, err))
		}
		chat := in.ChatID
		if chat == "" {
			chat = in.ExternalUserID
		}
		external := in.ChannelID.String() + ":" + in.ExternalUserID
		if in.Channel == events.ChannelTelegram {
			external += ":" + chat // one identity per Telegram user and chat
		}
		eu, err := q.UpsertChannelEndUser(ctx, db.UpsertChannelEndUserParams{
			ID: ids.EndUser(c, in.Channel, external), CreatorID: c, Channel: in.Channel, ExternalID: external,
			DisplayName: in.DisplayName, Language: in.Language, ChannelID: uuid.NullUUID{UUID: in.ChannelID, Valid: true},
			ProviderUserID: in.ExternalUserID, ChatID: chat, InboundAt: &inboundAt,
		})
		if err != nil {
			return err
		}
		conv, err = q.UpsertChannelConversation(ctx, db.UpsertChannelConversationParams{
			ID: ids.Conversation(c, eu.ID, in.Channel), CreatorID: c, EndUserID: eu.ID, Channel: in.Channel,
			ChannelID: uuid.NullUUID{UUID: in.ChannelID, Valid: true},
		})
		if err != nil {
			return err
		}
		stored, err = q.InsertMessage(ctx, db.InsertMessageParams{
			ID: msgID, CreatorID: c, ConversationID: conv.ID, Role: "user", Body: body,
			Sources: json.RawMessage("[]"), Channel: in.Channel,
			ProviderMessageID: &in.ProviderMessageID, Status: "received",
		})
		switch {
		case err == nil:
			inserted = true
		case db.IsNotFound(err): // already recorded: a redelivery
		default:
			return err
		}
		var text string
		if kind == "text" {
			// The words are the channel row's, read in this transaction: an edit
			// (PATCH /api/v1/channels/{id}) applies from the next message.
			optOut, optIn := proactive.ChannelWords(cfg)
			keyword = proactive.KeywordIn(in.Text, optOut, optIn)
		}
		switch {
		case keyword != "":
			if _, err := q.SetEndUserOptOut(ctx, db.SetEndUserOptOutParams{ID: eu.ID, OptedOut: keyword == proactive.OptOut}); err != nil {
				return err
			}
			text = optInAnswer
			if keyword == proactive.OptOut {
				text = optOutAnswer
			}
		case kind != "text" && conv.Status == "bot":
			text = textOnlyAnswer
		case kind == "text":
			// LINK <code> (link.go), memory commands and program keywords; opt words above take
			// precedence.
			if code, ok := people.MatchLink(in.Text); ok {
				answer, confirm, err = w.answerLink(ctx, q, conv, eu, msgID, code, chat != in.ExternalUserID)
				return err
			}
			answer, err = w.answerCommand(ctx, q, conv, msgID, in.Text, chat != in.ExternalUserID)
			return err
		}
		if text == "" {
			return nil
		}
		// The answer's id derives from the message: a redelivery stores and sends nothing new.
		// It answers this message only: a question before it still gets its turn.
		a, err := q.InsertReply(ctx, db.InsertReplyParams{
			ID: ids.Reply(msgID), CreatorID: c, ConversationID: conv.ID, Body: text, Sources: json.RawMessage("[]"),
			ReplyTo: uuid.NullUUID{UUID: msgID, Valid: true}, Channel: in.Channel, Status: "queued", Covers: []uuid.UUID{msgID},
		})
		m := db.Message(a)
		if db.IsNotFound(err) {
			m, err = q.GetMessage(ctx, ids.Reply(msgID))
		}
		answer = &m
		return err
	})
	if err != nil {
		if db.IsNotFound(err) {
			return bus.Permanent(fmt.Errorf("retrieve: channel %s of creator %s: %w", in.ChannelID, c, err))
		}
		return err
	}
	if inserted {
		w.activity(c, events.Activity{Kind: "message", ConversationID: conv.ID, Channel: in.Channel, MessageID: stored.ID,
			Seq: stored.Seq, Role: "user", Text: stored.Body, Status: stored.Status})
	}
	if confirm != nil {
		if err := w.publishConfirmation(ctx, ev, *confirm); err != nil {
			return err
		}
	}
	if answer != nil {
		return w.publishAnswer(ctx, ev, conv, *answer)
	}
	if keyword != "" || kind != "text" {
		return nil
	}
	in.Text = strings.TrimSpace(in.Text)
	return w.requestTurn(ctx, ev, conv, msgID, stored.Gseq, in)
}

// activity publishes a live update for the creator's dashboard; losing one is harmless.
func (w *Worker) activity(c uuid.UUID, a events.Activity) {
	if err := w.Bus.NotifyJSON(events.ActivitySubject(c), a); err != nil {
		w.Log.Debug("activity publish failed", "err", err)
	}
}

// Channel signals: a MessageReceived whose Type is one of these is not a message but the
// provider telling that the end user opted out of or back into messages: WhatsApp
// user_preferences (marketing_messages stop / resume), Telegram my_chat_member in a private
// chat (new status "kicked": the user blocked the bot; "member": unblocked or restarted it).
// ExternalUserID (and ChatID for Telegram) name the end user as for a message;
// ProviderMessageID is a unique key of the signal (the webhook's Nats-Msg-Id deduplicates).
// The types are events.SignalOptOut and events.SignalOptIn.

// handleOptSignal applies a provider's opt-out or opt-in signal to the end user's identity on
// the channel. Nothing is stored or sent: no confirmation goes to a user who blocked the bot,
// and an identity that never wrote (no end user yet) is left alone.
func (w *Worker) handleOptSignal(msg *message.Message, ev events.Message[events.MessageReceived]) error {
	ctx := msg.Context()
	c, in := ev.CreatorID, ev.Data
	if in.ExternalUserID == "" || in.ChannelID == uuid.Nil {
		return bus.Permanent(fmt.Errorf("retrieve: %w: opt signal without channel or user id", events.ErrMalformed))
	}
	chat := in.ChatID
	if chat == "" {
		chat = in.ExternalUserID
	}
	external := in.ChannelID.String() + ":" + in.ExternalUserID
	if in.Channel == events.ChannelTelegram {
		external += ":" + chat
	}
	optOut := in.Type == events.SignalOptOut
	var (
		eu    db.EndUser
		found bool
	)
	err := w.Store.InTenant(ctx, c, func(q *db.Queries) error {
		var err error
		eu, err = q.SetEndUserOptOut(ctx, db.SetEndUserOptOutParams{ID: ids.EndUser(c, in.Channel, external), OptedOut: optOut})
		if db.IsNotFound(err) {
			return nil
		}
		found = err == nil
		return err
	})
	if err != nil {
		return err
	}
	if !found {
		w.Log.InfoContext(ctx, "opt signal for an end user never seen ignored", "creator_id", c, "channel", in.Channel, "channel_id", in.ChannelID)
		return nil
	}
	w.Log.InfoContext(ctx, "end user opted "+map[bool]string{true: "out", false: "in"}[optOut]+" by the provider's signal",
		"creator_id", c, "channel", in.Channel, "end_user_id", eu.ID)
	return nil
}
