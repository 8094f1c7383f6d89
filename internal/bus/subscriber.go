package bus

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"
)

// subscriber is a watermill Subscriber over one durable JetStream pull consumer.
//
// watermill-nats v2.1.3's jetstream subscriber (marked beta by its authors) closes its output
// channel while a delivery may still be sending on it (a data race the race detector reports,
// and a possible send-on-closed-channel panic at shutdown), drains the shared NATS connection
// in Close, and cannot extend a message's ack deadline. This one keeps the same contract with
// a shutdown order that is safe: stop pulling, let in-flight deliveries finish, then close the
// output. With keepAlive it tells JetStream a long handler is still working (InProgress), so a
// turn that streams longer than AckWait is not redelivered while it runs; a process that dies
// stops the heartbeats and the message is redelivered after AckWait.
type subscriber struct {
	consumer  jetstream.Consumer
	ackWait   time.Duration
	keepAlive bool
	inFlight  int
	nak       backoffDelay
	log       *slog.Logger

	closing   chan struct{}
	closeOnce sync.Once
	loops     sync.WaitGroup
}

// NakDelayMax is the longest a failed handler's message waits before it is delivered again
// (the redelivery backoff doubles from 250 ms per delivery up to it).
const NakDelayMax = 10 * time.Second

func newSubscriber(c jetstream.Consumer, ackWait time.Duration, keepAlive bool, inFlight int, log *slog.Logger) *subscriber {
	return &subscriber{consumer: c, ackWait: ackWait, keepAlive: keepAlive, inFlight: max(inFlight, 1), log: log,
		nak: backoffDelay{base: 250 * time.Millisecond, max: NakDelayMax}, closing: make(chan struct{})}
}

// Subscribe starts one pull loop; the topic is implied by the consumer.
func (s *subscriber) Subscribe(ctx context.Context, _ string) (<-chan *message.Message, error) {
	out := make(chan *message.Message)
	var (
		mu       sync.Mutex
		stopped  bool
		inflight sync.WaitGroup
	)
	// slots bounds the deliveries in flight: the pull callback blocks on it, so at most
	// inFlight messages are handed out and not yet settled (with 1, one at a time).
	slots := make(chan struct{}, s.inFlight)
	cc, err := s.consumer.Consume(func(m jetstream.Msg) {
		select {
		case slots <- struct{}{}:
		case <-s.closing:
			return // not acked: redelivered to another subscriber
		case <-ctx.Done():
			return
		}
		mu.Lock()
		if stopped {
			mu.Unlock()
			<-slots
			return
		}
		inflight.Add(1)
		mu.Unlock()
		if s.inFlight == 1 {
			defer func() { <-slots; inflight.Done() }()
			s.deliver(ctx, m, out)
			return
		}
		go func() {
			defer func() { <-slots; inflight.Done() }()
			s.deliver(ctx, m, out)
		}()
	}, jetstream.PullMaxMessages(max(2, s.inFlight)))
	if err != nil {
		return nil, err
	}
	s.loops.Add(1)
	go func() {
		defer s.loops.Done()
		select {
		case <-s.closing:
		case <-ctx.Done():
		}
		mu.Lock()
		stopped = true
		mu.Unlock()
		cc.Stop()
		inflight.Wait()
		close(out)
	}()
	return out, nil
}

// deliver hands one message to the router and settles it with JetStream.
func (s *subscriber) deliver(ctx context.Context, m jetstream.Msg, out chan<- *message.Message) {
	wm, err := unmarshaler{}.Unmarshal(m)
	if err != nil {
		s.log.Error("undecodable message headers: terminated", "subject", m.Subject(), "err", err)
		_ = m.Term()
		return
	}
	// The handler's context survives the router's shutdown signal so in-flight work can finish;
	// it ends when the delivery is settled or abandoned.
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	hctx = ExtractTrace(hctx, m.Headers()) // the publisher's span: the handler's span is its child
	wm.SetContext(hctx)
	select {
	case out <- wm:
	case <-s.closing:
		return
	case <-ctx.Done():
		return
	}
	var heartbeat <-chan time.Time
	var deadline <-chan time.Time
	if s.keepAlive {
		t := time.NewTicker(s.ackWait / 3)
		defer t.Stop()
		heartbeat = t.C
	} else {
		t := time.NewTimer(s.ackWait)
		defer t.Stop()
		deadline = t.C
	}
	closing := s.closing
	for {
		select {
		case <-wm.Acked():
			if d, err := strconv.ParseInt(wm.Metadata.Get(MetaRedeliverAfter), 10, 64); err == nil && d > 0 {
				if err := m.NakWithDelay(time.Duration(d)); err != nil {
					s.log.Warn("deferred redelivery failed: the message comes back after AckWait", "subject", m.Subject(), "err", err)
				}
				return
			}
			if err := m.Ack(); err != nil {
				s.log.Warn("ack failed: the message will be redelivered", "subject", m.Subject(), "err", err)
			}
			return
		case <-wm.Nacked():
			n := uint64(1)
			if md, err := m.Metadata(); err == nil {
				n = md.NumDelivered
			}
			_ = m.NakWithDelay(s.nak.WaitTime(n))
			return
		case <-heartbeat:
			_ = m.InProgress()
		case <-closing:
			// Shutting down: stop vouching for a long handler, so the message goes to another
			// replica if this one cannot finish within AckWait.
			closing, heartbeat = nil, nil
			t := time.NewTimer(s.ackWait)
			defer t.Stop()
			deadline = t.C
		case <-deadline:
			return // JetStream redelivers after AckWait; the handler's context ends here
		}
	}
}

// Close stops every pull loop after its in-flight deliveries are settled.
func (s *subscriber) Close() error {
	s.closeOnce.Do(func() { close(s.closing) })
	s.loops.Wait()
	return nil
}
