package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"time"

	"github.com/google/uuid"
	"github.com/ollama/ollama/api"

	"github.com/coachwire/coachwire/internal/clock"
)

// Server is one Ollama server of a Pool.
type Server struct {
	URL string
	// Slots is how many calls of one model the server runs at once: its OLLAMA_NUM_PARALLEL
	// (which is per loaded model) divided by the number of coachwire processes that share it
	// (each process schedules its own share). Default 1.
	Slots int
}

// PoolOptions configures a Pool. Zero fields take the defaults noted.
type PoolOptions struct {
	Servers []Server
	// Client is the per-server client's options. MaxAttempts is the pool's: attempts per call
	// across servers (default 4); each server is asked once per attempt.
	Client Options
	// Request settings sent with every chat (see Settings).
	Settings Settings
	// CreatorCap is the most calls one creator may have running at once in a class
	// (0: no cap besides the slots). Used for AI nudges and ingestion embeddings.
	CreatorCap map[Class]int
	// Weight returns a creator's share inside a class (default 1 for everyone).
	Weight func(creator uuid.UUID) float64
	// Aging promotes a waiting call one class per Aging waited, so lower classes are never
	// starved forever (default 60 s).
	Aging time.Duration
	// Recheck is how often each server's model list is re-read (default 30 s); Probe how soon a
	// server taken out is tried again (default 2 s, doubling to 30 s while it keeps failing).
	Recheck, Probe time.Duration
	// Clock is the scheduler's clock (aging); default the real clock.
	Clock clock.Clock
	// Observe, when set, is told of every call when it returns (metrics): its class, usage,
	// duration and error.
	Observe func(class Class, u *Usage, took time.Duration, err error)
}

// Settings are the request options coachwire sends to Ollama.
type Settings struct {
	// NumCtx is Ollama's context window (options.num_ctx): the prompt budget plus the reply
	// budget. 0 leaves Ollama's default (4096 tokens), which truncates a longer prompt.
	NumCtx int
	// NumPredict is the reply budget (options.num_predict); a reply that reaches it ends with
	// done_reason "length". 0: no limit.
	NumPredict int
	// KeepAlive is how long Ollama keeps a model loaded after a call (keep_alive); 0 leaves
	// Ollama's default (5 minutes), negative keeps it loaded.
	KeepAlive time.Duration
	// Think asks thinking models to think first (think); false by default, since a live reply
	// waits for every token of the thinking. Models without thinking ignore it.
	Think bool
	// ModelOptions are Ollama options per model name ("llama3.2": {"temperature": 0.3}), applied
	// over NumCtx and NumPredict.
	ModelOptions map[string]map[string]any
}

// Pool schedules model calls over one or more Ollama servers: priority classes, fair sharing
// between creators inside a class, and a server chosen per call among the healthy ones that have
// the model, least loaded first. It is safe for concurrent use; Close stops its health checks.
type Pool struct {
	opts    PoolOptions
	servers []*backend
	sched   *scheduler
	cancel  context.CancelFunc
	done    chan struct{}
	stats   classStats
}

// ErrNoServer reports that no Ollama server is up (it matches ErrUnavailable).
var ErrNoServer = &Error{Op: "schedule", Kind: ErrUnavailable, Err: errors.New("no Ollama server is up")}

// NewPool builds a pool, reads every server's model list once (bounded by ctx) and starts the
// background health checks. A server that does not answer yet is taken out and probed.
func NewPool(ctx context.Context, opts PoolOptions) (*Pool, error) {
	if len(opts.Servers) == 0 {
		return nil, errors.New("llm: a pool needs at least one Ollama server")
	}
	if opts.Client.MaxAttempts <= 0 {
		opts.Client.MaxAttempts = 4
	}
	if opts.Client.Logger == nil {
		opts.Client.Logger = slog.Default()
	}
	if opts.Aging <= 0 {
		opts.Aging = 60 * time.Second
	}
	if opts.Recheck <= 0 {
		opts.Recheck = 30 * time.Second
	}
	if opts.Probe <= 0 {
		opts.Probe = 2 * time.Second
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	p := &Pool{opts: opts, done: make(chan struct{})}
	for _, s := range opts.Servers {
		co := opts.Client
		co.MaxAttempts = 1 // the pool retries, on another server when there is one
		c, err := New(s.URL, co)
		if err != nil {
			return nil, err
		}
		p.servers = append(p.servers, newBackend(c, max(s.Slots, 1)))
	}
	p.sched = newScheduler(p.servers, opts)
	p.refreshAll(ctx)
	rctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go p.health(rctx)
	return p, nil
}

// Close stops the health checks. Calls in flight finish.
func (p *Pool) Close() {
	if p.cancel != nil {
		p.cancel()
		<-p.done
	}
}

// URLs lists the servers' URLs in configuration order.
func (p *Pool) URLs() []string {
	out := make([]string, len(p.servers))
	for i, b := range p.servers {
		out[i] = b.client.URL()
	}
	return out
}

// HasModel reports whether a server that is up has the model.
func (p *Pool) HasModel(ctx context.Context, name string) (bool, error) {
	up := false
	for _, b := range p.servers {
		ok, isUp := b.has(name)
		if ok && isUp { // a server that never answered "may have it": not enough here
			return true, nil
		}
		up = up || isUp
	}
	if !up {
		return false, ErrNoServer
	}
	return false, nil
}

// Ping succeeds when at least one server answers.
func (p *Pool) Ping(ctx context.Context) error {
	var errs []error
	for _, b := range p.servers {
		err := b.client.Ping(ctx)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Chat is Client.Chat through the scheduler: the call waits for a slot on a server that has the
// model, in its class's order. Failures before the first delta are retried (on another server
// when one is up); once a delta was delivered nothing is retried and the error matches
// ErrInterrupted.
func (p *Pool) Chat(ctx context.Context, model string, msgs []Message, onDelta func(string) error) (string, error) {
	var out string
	err := p.do(ctx, "chat", model, func(ctx context.Context, c *Client, u *Usage, started time.Time) (bool, error) {
		delivered := false
		first := true
		text, err := c.chat(ctx, model, msgs, p.chatOptions(model), true, func(d string) error {
			if first {
				first = false
				u.FirstToken = time.Since(started)
			}
			if onDelta == nil {
				return nil // nobody saw it: a broken stream may still be retried, elsewhere too
			}
			delivered = true // the caller may have used it even if it errs
			return onDelta(d)
		}, u)
		out = text
		return delivered, err
	})
	return out, err
}

// ChatJSON is Client.ChatJSON through the scheduler.
func (p *Pool) ChatJSON(ctx context.Context, model string, msgs []Message, schema json.RawMessage, out any) error {
	var content string
	err := p.do(ctx, "chat", model, func(ctx context.Context, c *Client, u *Usage, _ time.Time) (bool, error) {
		req := p.chatOptions(model)
		req.format = schema
		text, err := c.chat(ctx, model, msgs, req, false, nil, u)
		content = text
		return false, err
	})
	if err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(content), out); err != nil {
		return fmt.Errorf("llm: structured reply is not the requested JSON: %w", err)
	}
	return nil
}

// Embed is Client.Embed through the scheduler.
func (p *Pool) Embed(ctx context.Context, model string, inputs []string) ([][]float32, error) {
	if len(inputs) == 0 {
		return nil, nil
	}
	var out [][]float32
	err := p.do(ctx, "embed", model, func(ctx context.Context, c *Client, u *Usage, _ time.Time) (bool, error) {
		v, err := c.embed(ctx, model, inputs, p.opts.Settings.KeepAlive, u)
		out = v
		return false, err
	})
	return out, err
}

// chatOptions builds a chat request's settings for model.
func (p *Pool) chatOptions(model string) chatReq {
	st := p.opts.Settings
	opts := map[string]any{}
	maps.Copy(opts, p.opts.Client.ChatOptions)
	if st.NumCtx > 0 {
		opts["num_ctx"] = st.NumCtx
	}
	if st.NumPredict > 0 {
		opts["num_predict"] = st.NumPredict
	}
	// "llama3.2" and "llama3.2:latest" name one model; the name as configured wins.
	for name, o := range st.ModelOptions {
		if name != model && withLatest(name) == withLatest(model) {
			maps.Copy(opts, o)
		}
	}
	maps.Copy(opts, st.ModelOptions[model])
	r := chatReq{options: opts, think: &api.ThinkValue{Value: st.Think}}
	if len(opts) == 0 {
		r.options = nil
	}
	if st.KeepAlive != 0 {
		r.keepAlive = &api.Duration{Duration: st.KeepAlive}
	}
	return r
}

// do runs one model call through the scheduler: a slot, the request, the slot back; transient
// failures are retried (attempt counts across servers) unless call delivered part of a reply.
func (p *Pool) do(ctx context.Context, op, model string, call func(ctx context.Context, c *Client, u *Usage, started time.Time) (delivered bool, err error)) (err error) {
	w := WorkOf(ctx)
	u := w.Usage
	if u == nil {
		u = &Usage{}
	}
	ctx, span := startSpan(ctx, op, model, w) // trace.go
	defer func() { endSpan(span, u, err) }()
	started := time.Now()
	defer func() {
		p.stats.record(w.Class, u, err)
		if p.opts.Observe != nil {
			p.opts.Observe(w.Class, u, time.Since(started), err)
		}
	}()
	backoff := p.opts.Client.InitialBackoff
	if backoff <= 0 {
		backoff = 250 * time.Millisecond
	}
	maxBackoff := p.opts.Client.MaxBackoff
	if maxBackoff <= 0 {
		maxBackoff = 4 * time.Second
	}
	var avoid *backend
	for n := 1; ; n++ {
		q := time.Now()
		b, err := p.sched.acquire(ctx, w, model, avoid)
		u.Queued += time.Since(q)
		if err != nil {
			if ctx.Err() != nil {
				return &Error{Op: op, Model: model, Attempts: n, Err: ctx.Err()}
			}
			return err
		}
		u.Backend = b.client.URL()
		u.Attempts++
		delivered, err := p.run(ctx, b, w, model, u, started, call)
		if err == nil {
			if b.succeeded() {
				p.sched.wake()
			}
			return nil
		}
		var cb callbackError
		if errors.As(err, &cb) {
			return cb.err
		}
		e := b.client.wrap(op, model, n, err)
		if ctx.Err() != nil {
			return b.client.wrap(op, model, n, ctx.Err())
		}
		var bad badAnswer
		switch {
		case e.Kind == ErrModelNotFound:
			// The server lost the model (or never had it): another server may have it.
			b.dropModel(model)
			p.sched.wake()
		case transient(err):
			if b.out(err, p.opts.Probe, time.Now()) {
				p.opts.Client.Logger.Warn("ollama server taken out", "url", b.client.URL(), "op", op, "model", model, "err", err)
			}
			p.sched.wake()
		default:
			return e
		}
		if delivered {
			// A reply already streaming is never moved to another server: the caller may have
			// shown it.
			if e.Kind != ErrModelNotFound {
				e.Kind = ErrInterrupted
			}
			return e
		}
		if errors.As(err, &bad) || n >= p.opts.Client.MaxAttempts {
			return e
		}
		avoid = b
		if !p.otherServer(model, b) {
			wait := jitter(backoff)
			p.opts.Client.Logger.WarnContext(ctx, "ollama request failed, retrying", "op", op, "model", model, "attempt", n, "wait", wait, "err", err)
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return b.client.wrap(op, model, n, fmt.Errorf("%w (last error: %v)", ctx.Err(), err))
			case <-t.C:
			}
			backoff = min(backoff*2, maxBackoff)
		}
	}
}

// run makes one call on b and gives its slot back, also when the call panics.
func (p *Pool) run(ctx context.Context, b *backend, w Work, model string, u *Usage, started time.Time,
	call func(ctx context.Context, c *Client, u *Usage, started time.Time) (bool, error)) (bool, error) {
	defer p.sched.release(b, w, model)
	return call(ctx, b.client, u, started)
}

// otherServer reports whether a server other than b is up and has model (a retry goes there at
// once, without a backoff).
func (p *Pool) otherServer(model string, b *backend) bool {
	for _, o := range p.servers {
		if o == b {
			continue
		}
		if has, up := o.has(model); has && up {
			return true
		}
	}
	return false
}
