package ops

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Every struct here is safe to use as a nil pointer (a role built without metrics, as most
// unit tests build them, records nothing).

var (
	latencyBuckets = []float64{.05, .1, .25, .5, 1, 2, 3, 5, 8, 13, 20, 30, 60, 120}
	fastBuckets    = []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
)

func counter(reg prometheus.Registerer, sub, name, help string, labels ...string) *prometheus.CounterVec {
	v := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: sub, Name: name, Help: help}, labels)
	reg.MustRegister(v)
	return v
}

func histogram(reg prometheus.Registerer, sub, name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	v := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Subsystem: sub, Name: name, Help: help, Buckets: buckets}, labels)
	reg.MustRegister(v)
	return v
}

// Turn is the generate target's view of a turn: from the end user's message (stored by
// retrieve) to the first token of the reply and to the stored reply.
type Turn struct {
	firstToken, reply *prometheus.HistogramVec
}

// NewTurn registers the turn metrics.
func NewTurn(reg prometheus.Registerer) *Turn {
	return &Turn{
		firstToken: histogram(reg, "turn", "first_token_seconds", "End user's message stored → first token of the reply streamed (mode: ollama or passages).", latencyBuckets, "mode"),
		reply:      histogram(reg, "turn", "reply_seconds", "End user's message stored → reply stored (mode; status: generated, truncated, llm_error, search_unavailable).", latencyBuckets, "mode", "status"),
	}
}

// FirstToken records the time from the message to the reply's first token.
func (m *Turn) FirstToken(mode string, d time.Duration) {
	if m != nil {
		m.firstToken.WithLabelValues(mode).Observe(d.Seconds())
	}
}

// Reply records the time from the message to the stored reply.
func (m *Turn) Reply(mode, status string, d time.Duration) {
	if m != nil {
		m.reply.WithLabelValues(mode, status).Observe(d.Seconds())
	}
}

// LLM are the model calls of a process's pool (label class: live, live_embed, memory,
// ingest_embed, nudge).
type LLM struct {
	calls, errors            *prometheus.CounterVec
	tokens                   *prometheus.CounterVec
	firstToken, queued, rate *prometheus.HistogramVec
}

// NewLLM registers the LLM call metrics. mode returns the process's current LLM mode (ollama
// or passages); servers and waiting, when not nil, report the pool's servers (URL → up) and
// the calls waiting for a slot per class.
func NewLLM(reg prometheus.Registerer, mode func() string, servers func() map[string]bool, waiting func() map[string]int) *LLM {
	m := &LLM{
		calls:      counter(reg, "llm", "calls_total", "Model calls (chats and embeddings) by class.", "class"),
		errors:     counter(reg, "llm", "errors_total", "Model calls that failed after every attempt, by class.", "class"),
		tokens:     counter(reg, "llm", "tokens_total", "Tokens of model calls by class and kind (prompt, reply).", "class", "kind"),
		firstToken: histogram(reg, "llm", "first_token_seconds", "Chat call → first streamed token, queue wait included.", latencyBuckets, "class"),
		queued:     histogram(reg, "llm", "queue_seconds", "Time a model call waited for a server slot.", fastBuckets, "class"),
		rate: histogram(reg, "llm", "tokens_per_second", "Reply tokens per second of generation (after the first token) of chat calls.",
			[]float64{1, 2, 5, 10, 20, 30, 50, 75, 100, 150, 250, 500}, "class"),
	}
	for _, md := range []string{"ollama", "passages"} {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: Namespace, Subsystem: "llm", Name: "mode",
			Help:        "1 for the process's current LLM mode (ollama: replies by the chat model; passages: replies quote the knowledge base), 0 for the other.",
			ConstLabels: prometheus.Labels{"mode": md}}, func() float64 {
			if mode() == md {
				return 1
			}
			return 0
		}))
	}
	if servers != nil || waiting != nil {
		reg.MustRegister(&poolCollector{servers: servers, waiting: waiting,
			up:   prometheus.NewDesc(Namespace+"_llm_server_up", "1 when the Ollama server answers its health checks.", []string{"server"}, nil),
			wait: prometheus.NewDesc(Namespace+"_llm_waiting_calls", "Model calls waiting for a server slot now, by class.", []string{"class"}, nil)})
	}
	return m
}

type poolCollector struct {
	servers  func() map[string]bool
	waiting  func() map[string]int
	up, wait *prometheus.Desc
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.up; ch <- c.wait }

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	if c.servers != nil {
		for url, up := range c.servers() {
			v := 0.0
			if up {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, v, url)
		}
	}
	if c.waiting != nil {
		for class, n := range c.waiting() {
			ch <- prometheus.MustNewConstMetric(c.wait, prometheus.GaugeValue, float64(n), class)
		}
	}
}

// LLMCall is what one model call cost, as package llm reports it.
type LLMCall struct {
	Class                     string
	Queued, FirstToken, Took  time.Duration
	PromptTokens, ReplyTokens int
	Err                       error
}

// Call records one model call.
func (m *LLM) Call(c LLMCall) {
	if m == nil {
		return
	}
	m.calls.WithLabelValues(c.Class).Inc()
	errs := m.errors.WithLabelValues(c.Class) // at 0 from the class's first call: a rate sees it
	if c.Err != nil {
		errs.Inc()
	}
	m.queued.WithLabelValues(c.Class).Observe(c.Queued.Seconds())
	m.tokens.WithLabelValues(c.Class, "prompt").Add(float64(c.PromptTokens))
	m.tokens.WithLabelValues(c.Class, "reply").Add(float64(c.ReplyTokens))
	if c.FirstToken > 0 {
		m.firstToken.WithLabelValues(c.Class).Observe(c.FirstToken.Seconds())
		if gen := c.Took - c.FirstToken; c.Err == nil && c.ReplyTokens > 1 && gen > 0 {
			m.rate.WithLabelValues(c.Class).Observe(float64(c.ReplyTokens-1) / gen.Seconds())
		}
	}
}

// Ingest is the ingest target's document pipeline.
type Ingest struct {
	documents, bytes, chunks *prometheus.CounterVec
	extract, embed           *prometheus.HistogramVec
}

// Ingest outcomes of one processing of a document.
const (
	IngestIndexed = "indexed" // indexed
	IngestFailed  = "failed"  // failed for good (unreadable file, last attempt)
	IngestRetry   = "retry"   // a transient error: redelivered
	IngestWaiting = "waiting" // the creator's embedding budget is spent: resumes the next day
	IngestStale   = "stale"   // replaced or deleted meanwhile
)

// NewIngest registers the ingest metrics.
func NewIngest(reg prometheus.Registerer) *Ingest {
	return &Ingest{
		documents: counter(reg, "ingest", "documents_total", "Documents processed, by outcome (indexed, failed, retry, waiting, stale).", "outcome"),
		bytes:     counter(reg, "ingest", "bytes_total", "Bytes of originals (or inline text) extracted.", "format"),
		chunks:    counter(reg, "ingest", "chunks_total", "Chunks written to the knowledge index (search mode: hybrid or bm25).", "mode"),
		extract:   histogram(reg, "ingest", "extract_seconds", "Time to extract a document's text, by format.", fastBuckets, "format"),
		embed:     histogram(reg, "ingest", "embed_batch_seconds", "Time to embed one batch of chunks (COACHWIRE_EMBED_BATCH).", fastBuckets, "outcome"),
	}
}

// Document records one processing of a document.
func (m *Ingest) Document(outcome string) {
	if m != nil {
		m.documents.WithLabelValues(outcome).Inc()
	}
}

// Extracted records one extraction of n bytes of format.
func (m *Ingest) Extracted(format string, n int64, d time.Duration) {
	if m != nil {
		m.bytes.WithLabelValues(format).Add(float64(n))
		m.extract.WithLabelValues(format).Observe(d.Seconds())
	}
}

// Chunks records n chunks written in search mode.
func (m *Ingest) Chunks(mode string, n int) {
	if m != nil {
		m.chunks.WithLabelValues(mode).Add(float64(n))
	}
}

// EmbedBatch records one embedding call.
func (m *Ingest) EmbedBatch(d time.Duration, err error) {
	if m != nil {
		m.embed.WithLabelValues(okOrError(err)).Observe(d.Seconds())
	}
}

func okOrError(err error) string {
	if err != nil {
		return "error"
	}
	return "ok"
}

// Dispatch is the dispatch target's sends (label channel: widget, whatsapp, telegram, app).
type Dispatch struct {
	sends, rateLimited, windowClosed *prometheus.CounterVec
	provider, retryWait              *prometheus.HistogramVec
}

// NewDispatch registers the dispatch metrics.
func NewDispatch(reg prometheus.Registerer) *Dispatch {
	return &Dispatch{
		sends:        counter(reg, "dispatch", "sends_total", "Messages delivered or given up, by channel and outcome (the message's delivery status: sent, failed, window_closed, ...).", "channel", "outcome"),
		rateLimited:  counter(reg, "dispatch", "rate_limited_total", "Provider answers 429 / rate limited (retry_after honoured).", "channel"),
		windowClosed: counter(reg, "dispatch", "window_closed_total", "WhatsApp messages outside the 24-hour window (a template sent instead, or not sent).", "channel"),
		provider:     histogram(reg, "dispatch", "provider_seconds", "Provider API call latency, by channel and outcome (ok, error).", fastBuckets, "channel", "outcome"),
		retryWait:    histogram(reg, "dispatch", "retry_wait_seconds", "Waits before retrying a provider call (retry_after or backoff).", fastBuckets, "channel"),
	}
}

// Sent records a message's final delivery status.
func (m *Dispatch) Sent(channel, outcome string) {
	if m != nil {
		m.sends.WithLabelValues(channel, outcome).Inc()
	}
}

// ProviderCall records one provider API call.
func (m *Dispatch) ProviderCall(channel string, d time.Duration, err error) {
	if m != nil {
		m.provider.WithLabelValues(channel, okOrError(err)).Observe(d.Seconds())
	}
}

// RateLimited counts a provider's rate-limit answer.
func (m *Dispatch) RateLimited(channel string) {
	if m != nil {
		m.rateLimited.WithLabelValues(channel).Inc()
	}
}

// RetryWait records a wait before a retry.
func (m *Dispatch) RetryWait(channel string, d time.Duration) {
	if m != nil {
		m.retryWait.WithLabelValues(channel).Observe(d.Seconds())
	}
}

// WindowClosed counts a message outside the WhatsApp window.
func (m *Dispatch) WindowClosed(channel string) {
	if m != nil {
		m.windowClosed.WithLabelValues(channel).Inc()
	}
}

// Nudge is the nudge target's scheduler and send-policy decisions.
type Nudge struct {
	occurrences, decisions *prometheus.CounterVec
	batch                  prometheus.Histogram
}

// Occurrence outcomes.
const (
	OccurrenceDue      = "due"      // claimed by the scheduler to be expanded
	OccurrenceExpanded = "expanded" // its whole audience published
	OccurrenceMissed   = "missed"   // reached too late (later than MaxHold): not sent
)

// NewNudge registers the nudge metrics.
func NewNudge(reg prometheus.Registerer) *Nudge {
	m := &Nudge{
		occurrences: counter(reg, "nudge", "occurrences_total", "Campaign occurrences by outcome (due, expanded, missed).", "outcome"),
		decisions:   counter(reg, "nudge", "decisions_total", "Send-policy decisions by outcome (sent, skipped, held, ...) and reason.", "outcome", "reason"),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Subsystem: "nudge", Name: "batch_seconds",
			Help: "Time to decide and publish one batch of recipients (group commit).", Buckets: fastBuckets}),
	}
	reg.MustRegister(m.batch)
	return m
}

// Occurrences counts n occurrences with outcome.
func (m *Nudge) Occurrences(outcome string, n int) {
	if m != nil {
		m.occurrences.WithLabelValues(outcome).Add(float64(n))
	}
}

// Decision counts one decision.
func (m *Nudge) Decision(outcome, reason string) {
	if m != nil {
		if reason == "" {
			reason = "none"
		}
		m.decisions.WithLabelValues(outcome, reason).Inc()
	}
}

// Batch records one batch's time.
func (m *Nudge) Batch(d time.Duration) {
	if m != nil {
		m.batch.Observe(d.Seconds())
	}
}

// Gateway is the gateway's HTTP side.
type Gateway struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	sockets  prometheus.Gauge
	webhooks *prometheus.CounterVec
}

// NewGateway registers the gateway metrics.
func NewGateway(reg prometheus.Registerer) *Gateway {
	m := &Gateway{
		requests: counter(reg, "http", "requests_total", "HTTP requests by route pattern (\"GET /api/v1/documents/{id}\"; unmatched: none) and status code.", "route", "status"),
		duration: histogram(reg, "http", "request_seconds", "HTTP request duration by route pattern (a widget socket: its whole life).", fastBuckets, "route"),
		sockets: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Subsystem: "widget", Name: "sockets_open",
			Help: "Widget WebSockets open now on this gateway."}),
		webhooks: counter(reg, "webhook", "requests_total", "Provider webhook calls by channel (whatsapp, telegram) and outcome (accepted, rejected: 4xx, error: 5xx).", "channel", "outcome"),
	}
	reg.MustRegister(m.sockets)
	return m
}

// Request records one HTTP request.
func (m *Gateway) Request(route string, status int, d time.Duration) {
	if m == nil {
		return
	}
	if route == "" {
		route = "none"
	}
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route).Observe(d.Seconds())
}

// Sockets wraps the widget socket handler: a socket is open while its handler runs.
func (m *Gateway) Sockets(h func(http.ResponseWriter, *http.Request) error) func(http.ResponseWriter, *http.Request) error {
	if m == nil {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		m.sockets.Inc()
		defer m.sockets.Dec()
		return h(w, r)
	}
}

// Webhook records one webhook call's answer.
func (m *Gateway) Webhook(channel string, status int) {
	if m == nil {
		return
	}
	outcome := "accepted"
	switch {
	case status >= 500:
		outcome = "error"
	case status >= 400:
		outcome = "rejected"
	}
	m.webhooks.WithLabelValues(channel, outcome).Inc()
}
