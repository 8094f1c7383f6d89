// Package dispatch is the dispatch worker: it delivers stored messages to end users on their
// channel and records each send in the send log before it happens, so a redelivered event
// never sends twice. Widget delivery pushes to the gateway replica holding the socket; an
// offline user gets the message from Postgres on reconnect. Delivery statuses come back on the
// delivery stream: provider webhooks, and the gateway's widget receipts (written to the socket,
// seen by the person). It never generates content.
package dispatch

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"net/http"
	"sync"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/bus"
	"github.com/coachwire/coachwire/internal/conversation"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/secrets"
)

// Worker is the dispatch target.
type Worker struct {
	Store    *db.Store
	Bus      *bus.Bus
	Parallel int
	Log      *slog.Logger
	Now      func() time.Time

	// Channels. Keys opens channel credentials; the URLs point the adapters at the providers
	// (or at test doubles); ChannelParallel is the handlers per channel type (default 4×Parallel:
	// most of their time is spent waiting on the providers' limits).
	Keys            *secrets.Keyring
	WhatsAppURL     string
	TelegramURL     string
	HTTP            *http.Client
	Limits          Limits
	ChannelParallel int

	limits   Limits
	lim      *limiters
	accts    accounts
	drafts   *drafter
	httpOnce sync.Once
}

// Register adds the worker's handlers to the router: widget pushes, WhatsApp and Telegram
// sends (separate consumers, so a channel waiting on its provider's limits never delays
// another), provider delivery statuses, and typing indicators on core NATS.
func (w *Worker) Register(ctx context.Context, r *bus.Router) error {
	w.limits = w.Limits.withDefaults()
	w.lim = newLimiters()
	if w.ChannelParallel == 0 {
		w.ChannelParallel = 4 * max(w.Parallel, 1)
	}
	if err := r.Handle(ctx, events.ConsumerDispatch(events.ChannelWidget), bus.ConsumerSpec{
		Stream: events.StreamOutbound, Durable: events.ConsumerDispatch(events.ChannelWidget), Filter: events.AnyCreator(events.StageOutbound, events.ChannelWidget),
		AckWait: 30 * time.Second, MaxDeliver: 10, Parallel: w.Parallel,
	}, w.handle); err != nil {
		return err
	}
	for _, ch := range []string{events.ChannelWhatsApp, events.ChannelTelegram} {
		if err := r.Handle(ctx, events.ConsumerDispatch(ch), bus.ConsumerSpec{
			Stream: events.StreamOutbound, Durable: events.ConsumerDispatch(ch), Filter: events.AnyCreator(events.StageOutbound, ch),
			// KeepAlive: a handler waiting for a slot or on a slow provider is never given to
			// another handler meanwhile (that would start a second call of a part in flight).
			// AckWait is then how soon a dead process's message is retried: long enough that a
			// part it left "sending" is past CallTimeout (plus margin) when it comes back.
			AckWait: 2*w.limits.CallTimeout + 5*time.Second, KeepAlive: true, MaxDeliver: 20, Parallel: w.ChannelParallel,
		}, w.handleChannel); err != nil {
			return err
		}
	}
	if err := r.Handle(ctx, events.ConsumerDispatchDelivery, bus.ConsumerSpec{
		Stream: events.StreamDelivery, Durable: events.ConsumerDispatchDelivery, Filter: events.AnyCreator(events.StageDelivery),
		AckWait: 30 * time.Second, MaxDeliver: 8, Parallel: w.Parallel,
	}, w.handleDeliveryStatus); err != nil {
		return err
	}
	// The subscription lives as long as the connection (drained when the bus closes).
	if err := w.registerDrafts(); err != nil {
		return fmt.Errorf("dispatch: draft subscriptions: %w", err)
	}
	if _, err := w.Bus.ListenFunc(events.AnyCreator(events.StageTyping, "*"), "dispatch", func(m *nats.Msg) {
		// The replica that gets a Telegram turn's typing request owns its drafts: registered
		// here, synchronously, before the turn's first delta is handled.
		if strings.HasSuffix(m.Subject, "."+events.ChannelTelegram) {
			var t events.Typing
			if c, err := events.CreatorFromSubject(m.Subject); err == nil && json.Unmarshal(m.Data, &t) == nil && t.ConversationID != uuid.Nil {
				w.drafts.own(c, t.ConversationID)
			}
		}
		go w.handleTyping(m)
	}); err != nil {
		return fmt.Errorf("dispatch: typing subscription: %w", err)
	}
	return nil
}

// handle delivers a widget message (the consumer reads cw.*.outbound.widget only).
func (w *Worker) handle(msg *message.Message) error {
	ev, err := bus.Decode[events.MessageOutbound](msg)
	if err != nil {
		return err
	}
	ctx := msg.Context()
	c, out := ev.CreatorID, ev.Data
	if out.Channel != events.ChannelWidget {
		return bus.Permanent(fmt.Errorf("dispatch: %w: channel %q on the widget subject", events.ErrMalformed, out.Channel))
	}
	var (
		m       db.Message
		claimed bool
	)
	err = w.Store.InTenant(ctx, c, func(q *db.Queries) error {
		var err error
		if m, err = q.GetMessage(ctx, out.MessageID); err != nil {
			return err
		}
		_, err = q.ClaimDelivery(ctx, db.ClaimDeliveryParams{MessageID: m.ID, CreatorID: c, Channel: out.Channel})
		if db.IsNotFound(err) {
			return nil // already delivered or failed for good
		}
		if err != nil {
			return err
		}
		claimed = true
		// The message is sent once it is on the live subject. Its status moves now, before the
		// push: the gateway's "delivered" receipt for it can then never race this update. A push
		// that fails is retried (the claim allows it), and the widget replays the message on
		// reconnect anyway.
		_, err = q.AdvanceMessageStatus(ctx, db.AdvanceMessageStatusParams{ID: m.ID, Status: "sent"})
		if db.IsNotFound(err) {
			err = nil
		}
		return err
	})
	if err != nil {
		if db.IsNotFound(err) {
			return bus.Permanent(fmt.Errorf("dispatch: message %s: %w", out.MessageID, err))
		}
		return err
	}
	if !claimed {
		w.Log.Debug("already delivered", "creator_id", c, "message_id", out.MessageID)
		return nil
	}
	status, errText := "sent", ""
	if err := w.pushWidget(ctx, c, m); err != nil {
		if !bus.IsPermanent(err) {
			return err
		}
		status, errText = "failed", err.Error()
	}
	if err := w.Store.InTenant(ctx, c, func(q *db.Queries) error {
		if err := q.FinishDelivery(ctx, db.FinishDeliveryParams{MessageID: m.ID, Status: status, Error: errText}); err != nil || status == "sent" {
			return err
		}
		_, err := q.AdvanceMessageStatus(ctx, db.AdvanceMessageStatusParams{ID: m.ID, Status: status, Error: errText})
		if db.IsNotFound(err) {
			return nil
		}
		return err
	}); err != nil {
		return err
	}
	w.Log.Info("message dispatched", "creator_id", c, "correlation_id", ev.CorrelationID, "message_id", m.ID, "channel", out.Channel, "status", status)
	return nil
}

// pushWidget publishes the final message to the conversation's live subject. Whether or not a
// socket is listening, the message is in Postgres and replayed on the next resume.
func (w *Worker) pushWidget(ctx context.Context, c [16]byte, m db.Message) error {
	l, err := conversation.LiveMessage(m)
	if err != nil { // the text still goes out; the sources are logged as unreadable
		w.Log.Error("widget push: message sources", "message_id", m.ID, "err", err)
	}
	b, err := json.Marshal(l)
	if err != nil {
		return err
	}
	if err := w.Bus.Notify(events.LiveSubject(c, m.ConversationID), b); err != nil {
		return fmt.Errorf("dispatch: widget push: %w", err)
	}
	fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return w.Bus.Flush(fctx)
}
