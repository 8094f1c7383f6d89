package dispatch

// Delivery statuses: what the providers' status webhooks and the widget's receipts (both
// delivery.status.v1 on the delivery stream) say happened to a message after it was sent.

import (
	"context"
	"fmt"
	"strconv"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/bus"
	"github.com/coachwire/coachwire/internal/db"
)

// handleDeliveryStatus applies a provider's status webhook (sent, delivered, read, failed with
// its code) or a widget receipt to the message, idempotently: a status never moves a message
// backwards.
func (w *Worker) handleDeliveryStatus(msg *message.Message) error {
	ev, err := bus.Decode[events.DeliveryStatus](msg)
	if err != nil {
		return err
	}
	ctx := msg.Context()
	c, st := ev.CreatorID, ev.Data
	if st.ProviderMessageID == "" {
		if (st.Channel == events.ChannelWidget || st.Channel == events.ChannelApp) && st.ConversationID != uuid.Nil {
			return w.applyWidgetReceipt(ctx, c, st)
		}
		return nil // a status dispatch itself recorded
	}
	var (
		changed *db.Message
		conv    db.Conversation
		missing bool
	)
	err = w.Store.InTenant(ctx, c, func(q *db.Queries) error {
		part, err := q.DeliveryPartByProviderID(ctx, db.DeliveryPartByProviderIDParams{CreatorID: c, ProviderID: st.ProviderMessageID})
		if db.IsNotFound(err) {
			missing = true
			return nil
		}
		if err != nil {
			return err
		}
		if err := q.AdvanceDeliveryPart(ctx, db.AdvanceDeliveryPartParams{MessageID: part.MessageID, Part: part.Part, Status: st.Status, Error: st.Error}); err != nil {
			return err
		}
		m, err := q.AdvanceMessageStatus(ctx, db.AdvanceMessageStatusParams{ID: part.MessageID, Status: st.Status, Error: st.Error, ErrorCode: st.ErrorCode})
		if db.IsNotFound(err) {
			return nil // not a step forward
		}
		if err != nil {
			return err
		}
		changed = &m
		conv, err = q.GetConversation(ctx, m.ConversationID)
		return err
	})
	if err != nil {
		return err
	}
	if missing {
		// The status can overtake dispatch's own record of the send: retry a few times, then
		// give up on a message this platform did not send.
		if n, _ := strconv.Atoi(msg.Metadata.Get(bus.MetaDelivered)); n < 4 {
			return fmt.Errorf("dispatch: status %s for unknown provider message %s (yet)", st.Status, st.ProviderMessageID)
		}
		w.Log.InfoContext(ctx, "status for a message not sent by coachwire ignored", "creator_id", c, "provider_message_id", st.ProviderMessageID)
		return nil
	}
	if changed != nil {
		w.activity(c, events.Activity{Kind: "message_status", ConversationID: conv.ID, Channel: conv.Channel, MessageID: changed.ID,
			Seq: changed.Seq, Role: changed.Role, Status: changed.Status, ErrorCode: changed.ErrorCode})
	}
	return nil
}

// applyWidgetReceipt records what the gateway saw on an end user's widget socket: a message
// written to it (delivered) or the conversation shown, open and visible, up to a seq (read).
// The conversation is the one of the end user's session; a repeated or late receipt changes
// nothing.
func (w *Worker) applyWidgetReceipt(ctx context.Context, c uuid.UUID, st events.DeliveryStatus) error {
	var changed []db.MarkWidgetReadRow
	// Each receipt is one statement: one round trip (InTenantOne).
	err := w.Store.InTenantOne(ctx, c, func(q *db.Queries) error {
		switch st.Status {
		case "delivered":
			m, err := q.MarkWidgetDelivered(ctx, db.MarkWidgetDeliveredParams{ID: st.MessageID, ConversationID: st.ConversationID})
			if db.IsNotFound(err) {
				return nil // delivered or read already
			}
			if err != nil {
				return err
			}
			changed = append(changed, db.MarkWidgetReadRow(m))
			return nil
		case "read":
			var err error
			changed, err = q.MarkWidgetRead(ctx, db.MarkWidgetReadParams{ConversationID: st.ConversationID, UpToSeq: st.UpToSeq})
			return err
		}
		w.Log.WarnContext(ctx, "widget receipt with unknown status ignored", "creator_id", c, "conversation_id", st.ConversationID, "status", st.Status)
		return nil
	})
	if err != nil {
		return fmt.Errorf("dispatch: widget receipt %s: %w", st.Status, err)
	}
	for _, m := range changed {
		w.activity(c, events.Activity{Kind: "message_status", ConversationID: m.ConversationID, Channel: m.Channel, MessageID: m.ID,
			Seq: m.Seq, Role: m.Role, Status: m.Status})
	}
	return nil
}
