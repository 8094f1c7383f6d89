package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/coachwire/coachwire/events"
)

// The one publish API of the roles. Three ways to send, each for one kind of traffic:
//
//   - Publish / PublishEvent / PublishBatch: a JetStream message that must not be lost. The call
//     returns once JetStream acknowledged it (a batch is published asynchronously and waited for
//     as a whole, so a thousand messages cost one round trip, not a thousand).
//   - PublishDetached: a JetStream message nobody waits for (widget receipts): queued and
//     returned at once; a failure is logged and the message dropped.
//   - Notify / Listen / ListenFunc: core NATS, ephemeral (live token deltas, typing, activity);
//     a message nobody listens for is gone, which is what these subjects mean.

// Outgoing is one JetStream message to publish.
type Outgoing struct {
	Subject string
	// MsgID is the deduplication id (Nats-Msg-Id): a second publish with the same id inside the
	// stream's duplicate window is acknowledged but not stored.
	MsgID   string
	Payload []byte
	Header  nats.Header
}

// Event returns the Outgoing of an event: its JSON, its correlation id header and msgID.
func Event[T events.Event](subject, msgID string, ev events.Message[T]) (Outgoing, error) {
	payload, err := marshal(ev)
	if err != nil {
		return Outgoing{}, err
	}
	h := nats.Header{}
	h.Set(HeaderCorrelationID, ev.CorrelationID)
	return Outgoing{Subject: subject, MsgID: msgID, Payload: payload, Header: h}, nil
}

func (o Outgoing) msg() *nats.Msg {
	m := &nats.Msg{Subject: o.Subject, Data: o.Payload, Header: nats.Header{}}
	for k, v := range o.Header {
		m.Header[k] = v
	}
	if o.MsgID != "" {
		m.Header.Set(nats.MsgIdHdr, o.MsgID)
	}
	return m
}

// Publish writes payload to subject and waits for JetStream's ack. msgID is the deduplication
// id: a second publish with the same id inside the duplicate window is dropped by the server.
//
// The wait for the ack is bounded by Options.PublishTimeout (or ctx, when it ends sooner): a publish
// whose ack was lost (the server restarted between storing the message and answering) fails
// instead of waiting out a long handler context, so the handler's message is redelivered and
// published again under the same id.
func (b *Bus) Publish(ctx context.Context, subject, msgID string, payload []byte, header nats.Header) error {
	ctx, cancel := context.WithTimeout(ctx, b.opt.PublishTimeout)
	defer cancel()
	m := Outgoing{Subject: subject, MsgID: msgID, Payload: payload, Header: header}.msg()
	InjectTrace(ctx, m.Header)
	_, err := b.js.PublishMsg(ctx, m)
	if isStreamFull(err) && b.compact(ctx, subject) {
		_, err = b.js.PublishMsg(ctx, m)
	}
	if isStreamFull(err) {
		return fmt.Errorf("bus: publish %s: %w: %w", subject, ErrStreamFull, err)
	}
	if err != nil {
		return fmt.Errorf("bus: publish %s: %w", subject, err)
	}
	return nil
}

// PublishEvent marshals an event and publishes it with msgID.
func PublishEvent[T events.Event](ctx context.Context, b *Bus, subject, msgID string, ev events.Message[T]) error {
	o, err := Event(subject, msgID, ev)
	if err != nil {
		return err
	}
	return b.Publish(ctx, o.Subject, o.MsgID, o.Payload, o.Header)
}

// ErrPublish wraps every failure of PublishBatch: a message was not accepted or not
// acknowledged before ctx ended. Some of the batch may have been stored; publishing the whole
// batch again is safe because every message carries its deduplication id.
var ErrPublish = errors.New("bus: publish")

// DefaultPublishTimeout is Options.PublishTimeout's default.
const DefaultPublishTimeout = 10 * time.Second

// PublishBatch publishes msgs asynchronously and returns once JetStream acknowledged every one
// (a duplicate id is acknowledged too), or ctx ends, or Options.PublishTimeout passes.
func (b *Bus) PublishBatch(ctx context.Context, msgs []Outgoing) error {
	failed, err := b.publishBatch(ctx, msgs)
	if isStreamFull(err) && b.compact(ctx, failed) {
		_, err = b.publishBatch(ctx, msgs) // the stored ones are acknowledged as duplicates
	}
	if isStreamFull(err) {
		return fmt.Errorf("%w: %w", ErrStreamFull, err)
	}
	return err
}

// publishBatch is PublishBatch without compaction; failed is the subject of a refused message.
func (b *Bus) publishBatch(ctx context.Context, msgs []Outgoing) (failed string, _ error) {
	if len(msgs) == 0 {
		return "", nil
	}
	futures := make([]jetstream.PubAckFuture, 0, len(msgs))
	for _, o := range msgs {
		m := o.msg()
		InjectTrace(ctx, m.Header)
		f, err := b.js.PublishMsgAsync(m)
		if err != nil {
			return o.Subject, fmt.Errorf("%w %s: %w", ErrPublish, o.Subject, err)
		}
		futures = append(futures, f)
	}
	ctx, cancel := context.WithTimeout(ctx, b.opt.PublishTimeout)
	defer cancel()
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return f.Msg().Subject, fmt.Errorf("%w %s: %w", ErrPublish, f.Msg().Subject, err)
		case <-ctx.Done():
			return "", fmt.Errorf("%w: acknowledgements: %w", ErrPublish, ctx.Err())
		}
	}
	return "", nil
}

const (
	detachedMaxPending = 4096
	detachedAckTimeout = 10 * time.Second
)

func newDetached(nc *nats.Conn, log *slog.Logger) (jetstream.JetStream, error) {
	return jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(detachedMaxPending),
		jetstream.WithPublishAsyncTimeout(detachedAckTimeout),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, m *nats.Msg, err error) {
			log.Warn("detached publish not stored", "subject", m.Subject, "msg_id", m.Header.Get(nats.MsgIdHdr), "err", err)
		}))
}

// PublishDetached queues o on JetStream and returns without waiting for the ack: for messages
// whose loss costs little and whose sender must never wait (a widget socket reporting a
// receipt). A message that cannot be queued is returned as an error; one that JetStream does
// not acknowledge later is logged and dropped.
func (b *Bus) PublishDetached(o Outgoing) error {
	if _, err := b.detached.PublishMsgAsync(o.msg()); err != nil {
		return fmt.Errorf("%w %s: %w", ErrPublish, o.Subject, err)
	}
	return nil
}

// Notify publishes payload on core NATS: ephemeral, delivered to whoever listens now.
func (b *Bus) Notify(subject string, payload []byte) error {
	if err := b.nc.Publish(subject, payload); err != nil {
		return fmt.Errorf("bus: notify %s: %w", subject, err)
	}
	return nil
}

// NotifyJSON marshals v and publishes it with Notify.
func (b *Bus) NotifyJSON(subject string, v any) error {
	payload, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("bus: notify %s: %w", subject, err)
	}
	return b.Notify(subject, payload)
}

// flushTimeout bounds a Flush whose ctx has no deadline.
const flushTimeout = 10 * time.Second

// Flush waits until the server processed everything published so far on this connection.
func (b *Bus) Flush(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, flushTimeout)
		defer cancel()
	}
	return b.nc.FlushWithContext(ctx)
}

// Subscribe subscribes ch to subject on core NATS and returns at once: the server may not know
// the interest yet (Flush waits for that). For a caller that must record the subscription
// before its first message can arrive; others use Listen.
func (b *Bus) Subscribe(subject string, ch chan *nats.Msg) (*nats.Subscription, error) {
	sub, err := b.nc.ChanSubscribe(subject, ch)
	if err != nil {
		return nil, fmt.Errorf("bus: listen %s: %w", subject, err)
	}
	return sub, nil
}

// Listen subscribes ch to subject on core NATS and returns once the server registered the
// subscription (so a Notify right after it is received). Unsubscribe the result when done.
func (b *Bus) Listen(ctx context.Context, subject string, ch chan *nats.Msg) (*nats.Subscription, error) {
	sub, err := b.Subscribe(subject, ch)
	if err != nil {
		return nil, err
	}
	if err := b.Flush(ctx); err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("bus: listen %s: %w", subject, err)
	}
	return sub, nil
}

// ListenFunc calls fn for every core NATS message on subject. With a queue name, each message
// goes to one listener of the group (one replica of a role), otherwise to every listener.
func (b *Bus) ListenFunc(subject, queue string, fn func(*nats.Msg)) (*nats.Subscription, error) {
	var (
		sub *nats.Subscription
		err error
	)
	if queue != "" {
		sub, err = b.nc.QueueSubscribe(subject, queue, fn)
	} else {
		sub, err = b.nc.Subscribe(subject, fn)
	}
	if err != nil {
		return nil, fmt.Errorf("bus: listen %s: %w", subject, err)
	}
	return sub, nil
}

// Closed reports whether the connection was closed for good (Close, or given up reconnecting).
func (b *Bus) Closed() bool { return b.nc.IsClosed() }

// Conn and JetStream hand out the raw connection and JetStream context for tests, benchmarks
// and fault injection. Roles never call them (internal/archtest enforces it): they use the
// methods above.
func (b *Bus) Conn() *nats.Conn { return b.nc }

// JetStream: see Conn.
func (b *Bus) JetStream() jetstream.JetStream { return b.js }
