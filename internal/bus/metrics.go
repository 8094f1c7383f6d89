package bus

import (
	"context"
	"errors"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/coachwire/coachwire/internal/ops"
)

// SetMetrics makes the router record every delivery of the consumers registered after it
// (handled, failed, retried, dead-lettered, handler time, in flight) on m.
func (r *Router) SetMetrics(m *ops.Consumers) { r.metrics = m }

// Consumers are the consumers registered on the router, in registration order.
func (r *Router) Consumers() []ConsumerSpec { return append([]ConsumerSpec(nil), r.specs...) }

// measure records a delivery's outcome as the poison middleware will act on it: a permanent
// error (or the last delivery's failure, which lastDelivery made permanent) is dead-lettered,
// another error redelivered.
func (r *Router) measure(consumer string) message.HandlerMiddleware {
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			done := r.metrics.Start(consumer)
			out, err := h(msg)
			switch {
			case err == nil:
				done(ops.OutcomeHandled)
			case IsPermanent(err):
				done(ops.OutcomeDeadLettered)
			default:
				done(ops.OutcomeFailed)
			}
			return out, err
		}
	}
}

// ConsumerState is JetStream's view of the durable consumer of stream: whether it exists, its
// pending and ack-pending messages and the pull requests waiting on it.
func (b *Bus) ConsumerState(ctx context.Context, stream, durable string) ops.ConsumerState {
	st := ops.ConsumerState{Stream: stream, Consumer: durable}
	c, err := b.js.Consumer(ctx, stream, durable)
	if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) {
		return st
	}
	if err != nil {
		st.Err = err
		return st
	}
	info := c.CachedInfo() // just read by Consumer
	st.Exists = true
	st.Pending, st.AckPending, st.Waiting = info.NumPending, uint64(info.NumAckPending), info.NumWaiting
	return st
}
