package dispatch

// The app channel (issue 16): the installable app talks over the widget's socket, so a message
// goes on the conversation's live subject like a widget message; and, as a Web Push
// notification, to every device the person subscribed when no socket of theirs is open, and
// always when the message is proactive (a campaign or program step: it is stored in the
// conversation too, so the app shows it when opened). Each device's push is a part of the send
// log (delivery_parts, part = the subscription's number), so a redelivered event never pushes
// twice to a device; retries, 429 Retry-After pauses and the handler's deferral are the
// provider channels' (sendPart).

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"golang.org/x/time/rate"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/bus"
	"github.com/coachwire/coachwire/internal/channels"
	"github.com/coachwire/coachwire/internal/channels/webpush"
	"github.com/coachwire/coachwire/internal/db"
)

// socketSession is the session key under which the widget socket of a conversation holds its
// lease in socket_leases (internal/gateway/widget acquireSocket): the app channel's presence.
func socketSession(conversation uuid.UUID) []byte {
	k := sha256.Sum256([]byte("widget:conversation:" + conversation.String()))
	return k[:]
}

// registerApp adds the app channel's consumer.
func (w *Worker) registerApp(ctx context.Context, r *bus.Router) error {
	if w.Push != nil && w.Push.HTTP == nil {
		// Not the providers' client: an end user chose the endpoint, so only public addresses.
		w.Push.HTTP = webpush.Client(w.limits.CallTimeout, w.PushAllowOrigins)
	}
	return r.Handle(ctx, events.ConsumerDispatch(events.ChannelApp), bus.ConsumerSpec{
		Stream: events.StreamOutbound, Durable: events.ConsumerDispatch(events.ChannelApp), Filter: events.AnyCreator(events.StageOutbound, events.ChannelApp),
		// As the provider channels: a handler waiting on a push service's Retry-After keeps the
		// message (KeepAlive); a dead process's message comes back after AckWait.
		AckWait: 2*w.limits.CallTimeout + 5*time.Second, KeepAlive: true, MaxDeliver: 20, Parallel: w.ChannelParallel,
	}, w.handleApp)
}

// handleApp delivers a message of the app channel.
// A push service that asked us to wait longer than MaxWait (429 Retry-After) defers it.
func (w *Worker) handleApp(msg *message.Message) error {
	return w.deferThrottled(msg, w.deliverApp(msg), "push service limit: push deferred")
}

func (w *Worker) deliverApp(msg *message.Message) error {
	ev, err := bus.Decode[events.MessageOutbound](msg)
	if err != nil {
		return err
	}
	ctx := msg.Context()
	c, out := ev.CreatorID, ev.Data
	if out.Channel != events.ChannelApp {
		return bus.Permanent(fmt.Errorf("dispatch: %w: channel %q on the app subject", events.ErrMalformed, out.Channel))
	}
	var (
		d       delivery
		claimed bool
		subs    []db.PushSubscription
		title   string
		live    bool
	)
	err = w.Store.InTenant(ctx, c, func(q *db.Queries) error {
		var err error
		if d, claimed, err = claimDelivery(ctx, q, c, out); err != nil || !claimed {
			return err
		}
		// Sent once it is on the live subject; moved now, before the live push, so a socket's
		// "delivered" receipt can never be moved back by this handler (as for the widget).
		if !(proactive(d.msg) && d.user.OptedOutAt != nil) { // else not sent at all (below)
			if _, err := q.AdvanceMessageStatus(ctx, db.AdvanceMessageStatusParams{ID: d.msg.ID, Status: "sent"}); err != nil && !db.IsNotFound(err) {
				return err
			}
		}
		cr, err := q.GetCreator(ctx, c)
		if err != nil {
			return err
		}
		title = cr.Name
		subs, err = q.ListPushSubscriptions(ctx, d.user.ID)
		return err
	})
	if err != nil {
		if db.IsNotFound(err) {
			return bus.Permanent(fmt.Errorf("dispatch: message %s: %w", out.MessageID, err))
		}
		return err
	}
	if !claimed {
		w.Log.DebugContext(ctx, "already delivered", "creator_id", c, "message_id", out.MessageID)
		return nil
	}
	log := w.Log.With("creator_id", c, "correlation_id", ev.CorrelationID, "message_id", d.msg.ID, "channel", out.Channel)
	pro := proactive(d.msg)
	if pro && d.user.OptedOutAt != nil {
		log.InfoContext(ctx, "proactive message not sent: the person opted out after it was decided", "end_user_id", d.user.ID)
		return w.finish(ctx, c, d, "failed", "", "opted_out", "the person opted out before it was sent")
	}
	// An open socket gets the message now (and any socket opened later replays it).
	if err := w.pushWidget(ctx, c, d.msg); err != nil {
		return err
	}
	if !pro {
		// A socket of the person is open, or one has shown the message already (its receipt:
		// an earlier attempt of this handler pushed it live and then failed): no notification.
		seen := d.msg.Status == "delivered" || d.msg.Status == "read"
		if err := w.Store.Global(ctx, func(q *db.Queries) error {
			var err error
			live, err = q.ConversationSocketLive(ctx, db.ConversationSocketLiveParams{Session: socketSession(d.conv.ID), Now: w.Now()})
			return err
		}); err != nil {
			return err
		}
		live = live || seen
	}
	if live || len(subs) == 0 || w.Push == nil {
		log.InfoContext(ctx, "message dispatched", "socket", live, "devices", len(subs))
		return w.finishApp(ctx, c, d, "")
	}
	p := webpush.Payload{Title: title, Body: preview(d.msg.Body), ConversationID: d.conv.ID, Seq: d.msg.Seq, URL: w.appURL(ctx, c)}
	if p.Title == "" {
		p.Title = "New message"
	}
	first, pushed, failed := "", 0, 0
	for _, s := range subs {
		a := &account{typ: events.ChannelApp, limitID: webpush.Origin(s.Endpoint), loaded: time.Now()}
		sub := webpush.Subscription{Endpoint: s.Endpoint, P256dh: s.P256dh, Auth: s.Auth}
		id, _, err := w.sendPart(ctx, c, d, a, int(s.Part), s.ID.String(), func(ctx context.Context) (string, error) {
			return w.pushTo(ctx, sub, p, log)
		})
		switch channels.ClassOf(err) {
		case channels.None:
			pushed++
			if first == "" {
				first = id
			}
			if mErr := w.Store.InTenant(ctx, c, func(q *db.Queries) error { return q.MarkPushed(ctx, s.ID) }); mErr != nil {
				log.WarnContext(ctx, "push subscription: last push not recorded", "err", mErr)
			}
		case channels.RecipientGone:
			// 404/410: the subscription expired or the person withdrew it: forget the device.
			if dErr := w.Store.InTenant(ctx, c, func(q *db.Queries) error { _, err := q.DeletePushSubscription(ctx, s.ID); return err }); dErr != nil {
				return dErr
			}
			log.InfoContext(ctx, "push subscription gone: removed", "subscription_id", s.ID, "device", s.Device, "err", err)
		case channels.Permanent:
			failed++
			log.WarnContext(ctx, "push refused", "subscription_id", s.ID, "err", err)
		default:
			return err // retryable or throttled: devices already pushed are not pushed again
		}
	}
	if pushed == 0 && failed > 0 {
		return w.finish(ctx, c, d, "failed", "", "push_refused", "every push service refused the notification")
	}
	log.InfoContext(ctx, "message dispatched", "socket", false, "devices", len(subs), "pushed", pushed)
	return w.finishApp(ctx, c, d, first)
}

// finishApp records a sent app message: the send log, the first push's id, and the status
// moved forward only (a socket's receipt may have made it delivered or read already).
func (w *Worker) finishApp(ctx context.Context, c uuid.UUID, d delivery, providerID string) error {
	status := "sent"
	if err := w.Store.InTenant(ctx, c, func(q *db.Queries) error {
		if err := q.FinishDelivery(ctx, db.FinishDeliveryParams{MessageID: d.msg.ID, Status: "sent", ProviderID: providerID}); err != nil {
			return err
		}
		if providerID != "" {
			if err := q.SetPushProviderID(ctx, db.SetPushProviderIDParams{ID: d.msg.ID, ProviderID: providerID}); err != nil {
				return err
			}
		}
		m, err := q.GetMessage(ctx, d.msg.ID)
		status = m.Status
		return err
	}); err != nil {
		return err
	}
	w.Metrics.Sent(d.conv.Channel, "sent")
	w.activity(c, events.Activity{Kind: "message_status", ConversationID: d.conv.ID, Channel: d.conv.Channel,
		MessageID: d.msg.ID, Seq: d.msg.Seq, Role: d.msg.Role, Status: status})
	return nil
}

// pushTo sends p to one device; a push service that finds the payload too large (413) gets it
// once more, shortened, in a smaller record.
func (w *Worker) pushTo(ctx context.Context, sub webpush.Subscription, p webpush.Payload, log interface {
	WarnContext(context.Context, string, ...any)
}) (string, error) {
	b, err := p.Encode(webpush.MaxPayload(webpush.RecordSize))
	if err != nil {
		return "", &channels.Error{Provider: webpush.Provider, Class: channels.Permanent, Message: err.Error()}
	}
	id, err := w.Push.Send(ctx, sub, b, webpush.RecordSize)
	var pe *channels.Error
	if !errors.As(err, &pe) || pe.Status != http.StatusRequestEntityTooLarge {
		return id, err
	}
	log.WarnContext(ctx, "push payload too large: sent again shortened", "err", err)
	if b, err = p.Shorten(webpush.ShortBodyRunes).Encode(webpush.MaxPayload(webpush.ShortRecordSize)); err != nil {
		return "", &channels.Error{Provider: webpush.Provider, Class: channels.Permanent, Message: err.Error()}
	}
	return w.Push.Send(ctx, sub, b, webpush.ShortRecordSize)
}

// appSlots are the buckets of a push: the device (carrying a pause for it) and the push
// service (a 429 pauses every push to that service until its Retry-After). Push services set
// no published rate, so neither has one of its own.
func appSlots(a *account, recipient string) []slot {
	return []slot{
		{key: "push:" + recipient, rate: rate.Inf, burst: 1, scope: channels.ScopePair},
		{key: "push-service:" + a.limitID, rate: rate.Inf, burst: 1, scope: channels.ScopeNumber},
	}
}

// appURL is where a notification opens the app for creator c: by default "./", which the
// app's service worker (served under /a/<slug>/) resolves to the app itself.
func (w *Worker) appURL(ctx context.Context, c uuid.UUID) string {
	if w.AppURL != nil {
		return w.AppURL(ctx, c)
	}
	return "./"
}

// preview is a message as a notification body: whitespace runs as one space, quote markers
// of quoted passages dropped.
func preview(body string) string {
	lines := strings.Split(body, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimPrefix(strings.TrimSpace(l), "> ")
	}
	return strings.Join(strings.Fields(strings.Join(lines, " ")), " ")
}
