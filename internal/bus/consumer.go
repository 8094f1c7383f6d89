package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmjs "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/jetstream"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/ops"
)

// Metadata keys the subscriber adds to every watermill message.
const (
	MetaSubject   = "cw_subject"
	MetaDelivered = "cw_delivered"
	MetaStreamSeq = "cw_stream_seq"
	// MetaMsgID is the message's deduplication id (Nats-Msg-Id), which watermill's header
	// mapping leaves out; log lines name the message by it.
	MetaMsgID = "cw_msg_id"
	// MetaRedeliverAfter, set by Defer, turns the handler's success into a redelivery later.
	MetaRedeliverAfter  = "cw_redeliver_after"
	HeaderCorrelationID = "correlation_id"
	// ReasonHeader and SourceHeader describe a dead-lettered message.
	ReasonHeader = middleware.ReasonForPoisonedKey
	SourceHeader = "cw_source_subject"
	// SourceMsgIDHeader keeps a dead-lettered message's original Nats-Msg-Id, so `coachwire dlq
	// replay` can publish it again under that id.
	SourceMsgIDHeader = "cw_source_msg_id"
)

// ConsumerSpec declares one durable consumer shared by every replica of a target.
type ConsumerSpec struct {
	Stream  string
	Durable string
	Filter  string
	// AckWait is how long a handler may run before JetStream redelivers the message.
	AckWait time.Duration
	// MaxDeliver bounds redeliveries; the last one goes to the dead-letter stream.
	MaxDeliver int
	// Parallel is the number of watermill subscribers; each handles InFlight messages at once.
	Parallel int
	// InFlight is how many messages one subscriber hands to its handler concurrently (default
	// 1: one at a time). Handlers that group work (the nudge decider's group commit) need many
	// messages in flight to form batches.
	InFlight int
	// KeepAlive extends the ack deadline while a handler runs (long LLM turns); without it a
	// handler still running at AckWait loses its context and the message is redelivered.
	KeepAlive bool
}

// Permanent marks an error that no retry can fix; the message goes to the dead-letter stream at
// once.
func Permanent(err error) error { return permanentError{err} }

type permanentError struct{ error }

func (e permanentError) Unwrap() error { return e.error }

// Later marks an error worth retrying only after a while, by redelivery with backoff, not at
// once in this process (a model that is down will not be back in a second).
func Later(err error) error { return laterError{err} }

type laterError struct{ error }

func (e laterError) Unwrap() error { return e.error }

// Defer asks for msg to be delivered again after d instead of being acked: a handler that waits
// for something to settle (a conversation to go quiet) calls it and returns nil. It is not a
// failure (nothing is logged as an error, no in-process retry), but it is a delivery: it counts
// toward the consumer's MaxDeliver.
func Defer(msg *message.Message, d time.Duration) {
	msg.Metadata.Set(MetaRedeliverAfter, strconv.FormatInt(int64(max(d, time.Millisecond)), 10))
}

// IsPermanent reports whether err can never succeed on retry.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p) || errors.Is(err, events.ErrMalformed)
}

// Router runs handlers on durable consumers under one middleware stack: correlation id →
// dead-letter (poison) queue → retry with backoff → panic recoverer.
type Router struct {
	*message.Router
	bus    *Bus
	log    *slog.Logger
	wmlog  watermill.LoggerAdapter
	dlqPub message.Publisher
	subs   []*nats.Subscription
	// metrics and specs: metrics.go.
	metrics *ops.Consumers
	specs   []ConsumerSpec
}

// Close stops watching advisories and closes the router, draining in-flight handlers.
func (r *Router) Close() error {
	for _, s := range r.subs {
		_ = s.Unsubscribe()
	}
	return r.Router.Close()
}

// NewRouter builds the router. Handlers are added with Handle and run by Run.
func NewRouter(b *Bus, log *slog.Logger) (*Router, error) {
	wmlog := quietHandlerErrors{watermill.NewSlogLoggerWithLevelMapping(log, map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug})}
	r, err := message.NewRouter(message.RouterConfig{CloseTimeout: 30 * time.Second}, wmlog)
	if err != nil {
		return nil, err
	}
	return &Router{Router: r, bus: b, log: log, wmlog: wmlog, dlqPub: dlqPublisher{b, log}}, nil
}

// Handle registers fn on the durable consumer described by spec, creating the consumer with
// explicit settings. The creator token of the subject is checked against the envelope by the
// typed helpers in this package (see Typed).
func (r *Router) Handle(ctx context.Context, name string, spec ConsumerSpec, fn func(*message.Message) error) error {
	if spec.MaxDeliver == 0 {
		spec.MaxDeliver = 8
	}
	if spec.Parallel == 0 {
		spec.Parallel = 1
	}
	if spec.InFlight <= 0 {
		spec.InFlight = 1
	}
	cfg := jetstream.ConsumerConfig{
		Durable:       spec.Durable,
		FilterSubject: spec.Filter,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       spec.AckWait,
		MaxDeliver:    spec.MaxDeliver,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		MaxAckPending: max(1000, 2*spec.Parallel*spec.InFlight),
	}
	stream, err := r.bus.js.Stream(ctx, spec.Stream)
	if err != nil {
		return fmt.Errorf("bus: stream %s for consumer %s: %w", spec.Stream, spec.Durable, err)
	}
	consumer, err := stream.CreateOrUpdateConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("bus: consumer %s: %w", spec.Durable, err)
	}
	if err := r.watchMaxDeliveries(spec); err != nil {
		return err
	}
	r.specs = append(r.specs, spec)
	r.metrics.Init(spec.Durable)
	sub := newSubscriber(consumer, spec.AckWait, spec.KeepAlive, spec.InFlight, r.log)
	poison, err := middleware.PoisonQueueWithFilter(r.dlqPub, events.DLQSubject(spec.Stream), func(err error) bool {
		return IsPermanent(err)
	})
	if err != nil {
		return err
	}
	maxDeliver := spec.MaxDeliver
	lastDelivery := func(h message.HandlerFunc) message.HandlerFunc {
		// On the final delivery a failure is dead-lettered instead of redelivered forever.
		return func(msg *message.Message) ([]*message.Message, error) {
			out, err := h(msg)
			if err != nil && !IsPermanent(err) {
				if n, _ := strconv.Atoi(msg.Metadata.Get(MetaDelivered)); n >= maxDeliver {
					return out, Permanent(fmt.Errorf("gave up after %d deliveries: %w", n, err))
				}
			}
			return out, err
		}
	}
	retry := middleware.Retry{
		MaxRetries:      3,
		InitialInterval: 50 * time.Millisecond,
		MaxInterval:     time.Second,
		Multiplier:      3,
		Logger:          r.wmlog,
		OnRetryHook:     func(int, time.Duration) { r.metrics.Retried(spec.Durable) },
		ShouldRetry: func(p middleware.RetryParams) bool {
			var later laterError
			return !IsPermanent(p.Err) && !errors.As(p.Err, &later)
		},
	}
	for i := range spec.Parallel {
		h := r.AddConsumerHandler(fmt.Sprintf("%s-%d", name, i), spec.Durable, sub, func(msg *message.Message) error {
			return fn(msg)
		})
		h.AddMiddleware(tracing(spec.Durable), logHandlerErrors(r.log, spec.Durable), middleware.CorrelationID, poison,
			r.measure(spec.Durable), lastDelivery, withRetryLog(retry, r.log, spec.Durable), middleware.Recoverer)
	}
	return nil
}

type backoffDelay struct{ base, max time.Duration }

func (d backoffDelay) WaitTime(n uint64) time.Duration {
	w := d.base << min(n, 10)
	return min(w, d.max)
}

// unmarshaler keeps the JetStream subject and delivery count, which handlers and the poison
// filter need, next to watermill's default header mapping.
type unmarshaler struct{}

func (unmarshaler) Unmarshal(msg jetstream.Msg) (*message.Message, error) {
	m, err := wmjs.DefaultUnmarshaler{}.Unmarshal(msg)
	if err != nil {
		return nil, err
	}
	if m.UUID == "" {
		m.UUID = watermill.NewUUID()
	}
	m.Metadata.Set(MetaSubject, msg.Subject())
	if id := msg.Headers().Get(nats.MsgIdHdr); id != "" {
		m.Metadata.Set(MetaMsgID, id)
	}
	if md, err := msg.Metadata(); err == nil {
		m.Metadata.Set(MetaDelivered, strconv.FormatUint(md.NumDelivered, 10))
		m.Metadata.Set(MetaStreamSeq, strconv.FormatUint(md.Sequence.Stream, 10))
	}
	if c := msg.Headers().Get(HeaderCorrelationID); c != "" {
		middleware.SetCorrelationID(c, m)
	}
	if id := msg.Headers().Get(nats.MsgIdHdr); id != "" {
		m.Metadata.Set(SourceMsgIDHeader, id)
	}
	return m, nil
}

// dlqPublisher writes dead-lettered messages to the DLQ stream with their reason and origin,
// and logs one warning line for each.
type dlqPublisher struct {
	b   *Bus
	log *slog.Logger
}

func (p dlqPublisher) Publish(topic string, msgs ...*message.Message) error {
	for _, m := range msgs {
		h := nats.Header{}
		for k, v := range m.Metadata {
			h.Set(k, v)
		}
		h.Set(SourceHeader, m.Metadata.Get(MetaSubject))
		id := "dlq:" + topic + ":" + m.Metadata.Get(MetaStreamSeq)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := p.b.Publish(ctx, topic, id, m.Payload, h)
		cancel()
		if err != nil {
			return err
		}
		p.log.WarnContext(m.Context(), "message dead-lettered", append([]any{"dlq", topic, "reason", m.Metadata.Get(ReasonHeader),
			"handler", m.Metadata.Get(middleware.PoisonedHandlerKey)}, msgAttrs(m)...)...)
	}
	return nil
}

func (dlqPublisher) Close() error { return nil }

// Decode checks a delivered message: its payload must be a well-formed event of an accepted
// type, and the envelope's creator must equal the subject's creator token.
func Decode[T events.Event](msg *message.Message, accepted ...string) (events.Message[T], error) {
	ev, err := events.Decode[T](msg.Payload, accepted...)
	if err != nil {
		return ev, err
	}
	subjCreator, err := events.CreatorFromSubject(msg.Metadata.Get(MetaSubject))
	if err != nil {
		return ev, err
	}
	if subjCreator != ev.CreatorID {
		return ev, fmt.Errorf("%w: envelope creator %s on subject of creator %s", events.ErrMalformed, ev.CreatorID, subjCreator)
	}
	return ev, nil
}

func marshal(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("bus: marshal event: %w", err)
	}
	return b, nil
}

// watchMaxDeliveries dead-letters messages that JetStream gave up on without a handler ever
// failing cleanly: the process died or hung on every delivery (kill -9, OOM, a stuck call).
// The server announces them on an advisory subject; one replica per consumer (queue group)
// copies the message to the DLQ under the same id the poison path would use, so a message is
// dead-lettered once whichever path sees it.
func (r *Router) watchMaxDeliveries(spec ConsumerSpec) error {
	subject := "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES." + spec.Stream + "." + spec.Durable
	sub, err := r.bus.nc.QueueSubscribe(subject, "cw-maxdeliver-"+spec.Durable, func(m *nats.Msg) {
		var adv struct {
			Stream     string `json:"stream"`
			StreamSeq  uint64 `json:"stream_seq"`
			Deliveries uint64 `json:"deliveries"`
		}
		if err := json.Unmarshal(m.Data, &adv); err != nil || adv.Stream != spec.Stream {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		stream, err := r.bus.js.Stream(ctx, adv.Stream)
		if err != nil {
			r.log.Error("max deliveries: stream", "stream", adv.Stream, "err", err)
			return
		}
		raw, err := stream.GetMsg(ctx, adv.StreamSeq)
		if err != nil {
			r.log.Error("max deliveries: load message", "stream", adv.Stream, "seq", adv.StreamSeq, "err", err)
			return
		}
		h := nats.Header{}
		for k, v := range raw.Header {
			if k != nats.MsgIdHdr {
				h[k] = v
			}
		}
		h.Set(ReasonHeader, fmt.Sprintf("consumer %s reached max deliveries (%d) without a result: the handler crashed or timed out on every attempt", spec.Durable, adv.Deliveries))
		h.Set(SourceHeader, raw.Subject)
		if id := raw.Header.Get(nats.MsgIdHdr); id != "" {
			h.Set(SourceMsgIDHeader, id)
		}
		id := "dlq:" + events.DLQSubject(adv.Stream) + ":" + strconv.FormatUint(adv.StreamSeq, 10)
		if err := r.bus.Publish(ctx, events.DLQSubject(adv.Stream), id, raw.Data, h); err != nil {
			r.log.Error("max deliveries: dead-letter", "stream", adv.Stream, "seq", adv.StreamSeq, "err", err)
			return
		}
		r.metrics.DeadLettered(spec.Durable)
		attrs := []any{"dlq", events.DLQSubject(adv.Stream), "reason", h.Get(ReasonHeader), "stream", adv.Stream, "seq", adv.StreamSeq,
			"subject", raw.Subject, "delivered", adv.Deliveries}
		if c, err := events.CreatorFromSubject(raw.Subject); err == nil {
			attrs = append(attrs, "creator_id", c.String())
		}
		attrs = append(attrs, "message_id", raw.Header.Get(nats.MsgIdHdr), "correlation_id", raw.Header.Get(HeaderCorrelationID))
		r.log.WarnContext(ExtractTrace(ctx, raw.Header), "message dead-lettered", attrs...)
	})
	if err != nil {
		return fmt.Errorf("bus: watch max deliveries of %s: %w", spec.Durable, err)
	}
	r.subs = append(r.subs, sub)
	return nil
}
