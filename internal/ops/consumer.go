package ops

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Consumer outcomes of one delivery, as the bus's router middleware sees them.
const (
	OutcomeHandled      = "handled"       // the handler succeeded: acked
	OutcomeFailed       = "failed"        // the handler failed: redelivered later
	OutcomeDeadLettered = "dead_lettered" // permanent failure or last delivery: moved to CW_DLQ
)

// Consumers are the metrics of every durable consumer a process runs (label consumer: the
// durable's name, e.g. retrieve, generate, dispatch-whatsapp).
type Consumers struct {
	handled, failed, retried, deadLettered *prometheus.CounterVec
	duration                               *prometheus.HistogramVec
	inFlight                               *prometheus.GaugeVec
}

// NewConsumers registers the consumer metrics on reg.
func NewConsumers(reg prometheus.Registerer) *Consumers {
	c := func(name, help string) *prometheus.CounterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "consumer", Name: name, Help: help}, []string{"consumer"})
		reg.MustRegister(v)
		return v
	}
	m := &Consumers{
		handled:      c("handled_total", "Deliveries whose handler succeeded (acked)."),
		failed:       c("failed_total", "Deliveries whose handler failed after its in-process retries; JetStream redelivers them."),
		retried:      c("retried_total", "In-process handler retries (the router's retry middleware)."),
		deadLettered: c("dead_lettered_total", "Messages moved to the dead-letter stream CW_DLQ (permanent failure, last delivery, or max deliveries reached)."),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Subsystem: "consumer", Name: "handler_seconds",
			Help:    "Time a delivery spent in its handler, retries included.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300}}, []string{"consumer"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Subsystem: "consumer", Name: "in_flight",
			Help: "Deliveries being handled now in this process."}, []string{"consumer"}),
	}
	reg.MustRegister(m.duration, m.inFlight)
	return m
}

// Start records a delivery entering consumer's handler; the returned function records its
// outcome (one of the Outcome constants). Safe on a nil *Consumers.
func (m *Consumers) Start(consumer string) func(outcome string) {
	if m == nil {
		return func(string) {}
	}
	t := time.Now()
	g := m.inFlight.WithLabelValues(consumer)
	g.Inc()
	return func(outcome string) {
		g.Dec()
		m.duration.WithLabelValues(consumer).Observe(time.Since(t).Seconds())
		switch outcome {
		case OutcomeHandled:
			m.handled.WithLabelValues(consumer).Inc()
		case OutcomeFailed:
			m.failed.WithLabelValues(consumer).Inc()
		case OutcomeDeadLettered:
			m.deadLettered.WithLabelValues(consumer).Inc()
		}
	}
}

// Init creates consumer's series at zero, so a rate or an alert sees it before its first
// delivery.
func (m *Consumers) Init(consumer string) {
	if m == nil {
		return
	}
	for _, v := range []*prometheus.CounterVec{m.handled, m.failed, m.retried, m.deadLettered} {
		v.WithLabelValues(consumer)
	}
	m.inFlight.WithLabelValues(consumer)
}

// Retried counts one in-process retry.
func (m *Consumers) Retried(consumer string) {
	if m != nil {
		m.retried.WithLabelValues(consumer).Inc()
	}
}

// DeadLettered counts a message dead-lettered outside a handler (the max-deliveries advisory).
func (m *Consumers) DeadLettered(consumer string) {
	if m != nil {
		m.deadLettered.WithLabelValues(consumer).Inc()
	}
}

// ConsumerState is what JetStream says of one durable consumer.
type ConsumerState struct {
	Stream, Consumer string
	// Exists is false when no process ever created the consumer.
	Exists bool
	// Pending are messages not yet delivered; AckPending delivered and not yet acked; Waiting
	// the pull requests waiting for messages (0 and nothing ack-pending: nobody is pulling).
	Pending, AckPending uint64
	Waiting             int
	Err                 error
}

// Pulled reports whether some process is pulling from the consumer (or holds its messages).
func (s ConsumerState) Pulled() bool {
	return s.Exists && s.Err == nil && (s.Waiting > 0 || s.AckPending > 0)
}

// Problem says why nobody is pulling from the consumer ("" when somebody is).
func (s ConsumerState) Problem() string {
	switch {
	case s.Err != nil:
		return fmt.Sprintf("consumer %s: %v", s.Consumer, s.Err)
	case !s.Exists:
		return fmt.Sprintf("consumer %s on %s does not exist: no %s process ever started", s.Consumer, s.Stream, s.Consumer)
	case !s.Pulled():
		return fmt.Sprintf("consumer %s on %s: nobody pulling (%d pending)", s.Consumer, s.Stream, s.Pending)
	}
	return ""
}

// ConsumerInfo exports JetStream's view of consumers at scrape time: pending, ack-pending and
// waiting pull requests, per consumer.
type ConsumerInfo struct {
	states                           func(ctx context.Context) []ConsumerState
	pending, ackPending, waiting, up *prometheus.Desc
}

// RegisterConsumerInfo registers a collector that asks states for the consumers' state at each
// scrape (2 s at most).
func RegisterConsumerInfo(reg prometheus.Registerer, states func(ctx context.Context) []ConsumerState) {
	l := []string{"consumer", "stream"}
	reg.MustRegister(&ConsumerInfo{states: states,
		pending:    prometheus.NewDesc(Namespace+"_consumer_pending_messages", "Messages of the consumer's stream not yet delivered (JetStream num_pending).", l, nil),
		ackPending: prometheus.NewDesc(Namespace+"_consumer_ack_pending_messages", "Messages delivered and not yet acked (JetStream num_ack_pending).", l, nil),
		waiting:    prometheus.NewDesc(Namespace+"_consumer_waiting_pulls", "Pull requests waiting for messages: 0 with nothing ack-pending means no process is pulling (JetStream num_waiting).", l, nil),
		up:         prometheus.NewDesc(Namespace+"_consumer_pulled", "1 when some process pulls from the consumer (waiting pulls or ack-pending messages), 0 when nobody does or it does not exist.", l, nil),
	})
}

// Describe implements prometheus.Collector.
func (c *ConsumerInfo) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.pending
	ch <- c.ackPending
	ch <- c.waiting
	ch <- c.up
}

// Collect implements prometheus.Collector.
func (c *ConsumerInfo) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, s := range c.states(ctx) {
		up := 0.0
		if s.Pulled() {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up, s.Consumer, s.Stream)
		if !s.Exists || s.Err != nil {
			continue
		}
		ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(s.Pending), s.Consumer, s.Stream)
		ch <- prometheus.MustNewConstMetric(c.ackPending, prometheus.GaugeValue, float64(s.AckPending), s.Consumer, s.Stream)
		ch <- prometheus.MustNewConstMetric(c.waiting, prometheus.GaugeValue, float64(s.Waiting), s.Consumer, s.Stream)
	}
}
