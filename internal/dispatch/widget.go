package dispatch

// The widget: a message is pushed on core NATS to whichever gateway holds the end user's
// socket; the socket replays it from PostgreSQL when nobody holds it.

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/bus"
	"github.com/coachwire/coachwire/internal/conversation"
	"github.com/coachwire/coachwire/internal/db"
)

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
	// The message, its claim and its "sent" in one statement, one round trip. The message is
	// sent once it is on the live subject. Its status moves now, before the push: the
	// gateway's "delivered" receipt for it can then never race this update. A push that fails
	// is retried (the claim allows it), and the widget replays the message on reconnect anyway.
	err = w.Store.InTenantOne(ctx, c, func(q *db.Queries) error {
		r, err := q.ClaimWidgetSend(ctx, db.ClaimWidgetSendParams{ID: out.MessageID, Channel: out.Channel})
		m, claimed = r.Message, r.Claimed
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
	status, errText := "sent", ""
	if err := w.pushWidget(ctx, c, m); err != nil {
		if !bus.IsPermanent(err) {
			return err
		}
		status, errText = "failed", err.Error()
	}
	// A send is one statement, in one round trip (InTenantOne); a failure records the message's
	// status with it.
	inTx := w.Store.InTenant
	if status == "sent" {
		inTx = w.Store.InTenantOne
	}
	if err := inTx(ctx, c, func(q *db.Queries) error {
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
	w.Metrics.Sent(events.ChannelWidget, status)
	w.Log.InfoContext(ctx, "message dispatched", "creator_id", c, "correlation_id", ev.CorrelationID, "message_id", m.ID, "channel", out.Channel, "status", status)
	return nil
}

// pushWidget publishes the final message to the conversation's live subject. Whether or not a
// socket is listening, the message is in Postgres and replayed on the next resume.
func (w *Worker) pushWidget(ctx context.Context, c [16]byte, m db.Message) error {
	l, err := conversation.LiveMessage(m)
	if err != nil { // the text still goes out; the sources are logged as unreadable
		w.Log.ErrorContext(ctx, "widget push: message sources", "message_id", m.ID, "err", err)
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
