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

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/bus"
	"github.com/coachwire/coachwire/internal/channels/webpush"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/ops"
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
	// Metrics records sends, provider calls and their waits (nil: none).
	Metrics *ops.Dispatch
	// Push sends the app channel's Web Push notifications (nil: app messages reach open
	// sockets and the conversation only); AppURL is the app's address for a creator, opened by
	// a notification (nil: "./", the app relative to its service worker).
	Push   *webpush.Sender
	AppURL func(ctx context.Context, creator uuid.UUID) string
	// PushAllowOrigins are push service origins reached although their address is not public
	// (COACHWIRE_PUSH_ALLOW_ORIGINS: loopback test services); every other push goes only to
	// public addresses (webpush.Client: the end user chose the endpoint).
	PushAllowOrigins []string

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
	w.lim = newLimiters(w.Store)
	if w.ChannelParallel == 0 {
		w.ChannelParallel = 4 * max(w.Parallel, 1)
	}
	if err := r.Handle(ctx, events.ConsumerDispatch(events.ChannelWidget), bus.ConsumerSpec{
		Stream: events.StreamOutbound, Durable: events.ConsumerDispatch(events.ChannelWidget), Filter: events.AnyCreator(events.StageOutbound, events.ChannelWidget),
		AckWait: 30 * time.Second, MaxDeliver: 10, Parallel: w.Parallel,
	}, w.handle); err != nil {
		return err
	}
	if err := w.registerApp(ctx, r); err != nil { // app.go
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
