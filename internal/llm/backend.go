package llm

import (
	"context"
	"errors"
	"sync"
	"time"
)

// errNotOnAnyServer: the servers that answered do not list the model.
var errNotOnAnyServer = errors.New("no server that is up has the model")

// backend is one server of a pool and what the pool knows of it.
type backend struct {
	client *Client
	slots  int

	mu       sync.Mutex
	inflight map[string]int // calls running per model (with its tag): slots are per model, as in Ollama
	up       bool
	models   map[string]bool // nil until the model list was read once
	checked  time.Time       // last model list read
	retry    time.Time       // a server that is out is probed again from then
	wait     time.Duration   // the probe interval while it stays out
	served   int64
	failed   int64
	lastErr  string
}

func newBackend(c *Client, slots int) *backend {
	return &backend{client: c, slots: slots, inflight: map[string]int{}}
}

// take and give count a call of model starting and ending on the server.
func (b *backend) take(model string) {
	b.mu.Lock()
	b.inflight[withLatest(model)]++
	b.mu.Unlock()
}

func (b *backend) give(model string) {
	b.mu.Lock()
	m := withLatest(model)
	if b.inflight[m]--; b.inflight[m] <= 0 {
		delete(b.inflight, m)
	}
	b.mu.Unlock()
}

// has reports whether the server has model as far as known, and whether it is up. A server that
// is out and whose list was never read may have it.
func (b *backend) has(model string) (has, up bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.models == nil {
		return !b.up, b.up // never answered: it may have it
	}
	return b.models[withLatest(model)], b.up
}

// free returns the server's load (in-flight calls of model / slots) when it has a slot free for
// model and is what the caller looks for: up with the model listed, or, when out is true (no
// server that is up has the model), out and possibly having it: a call then tries the servers
// that are out rather than fail unasked.
func (b *backend) free(model string, out bool) (float64, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := withLatest(model)
	if b.up == out || b.inflight[m] >= b.slots {
		return 0, false
	}
	if has := b.models[m]; !has && (!out || b.models != nil) {
		return 0, false
	}
	return float64(b.inflight[m]) / float64(b.slots), true
}

// setModels records a successful model list read: the server is up.
func (b *backend) setModels(names []string, now time.Time) {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[withLatest(n)] = true
	}
	b.mu.Lock()
	b.models, b.checked, b.up = m, now, true // wait stays: it resets on a call answered
	b.mu.Unlock()
}

// succeeded records an answered call: a server that was out is back.
func (b *backend) succeeded() (cameBack bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.served++
	b.wait = 0
	cameBack = !b.up && b.models != nil
	if cameBack {
		b.up = true
	}
	return cameBack
}

// out takes the server out until a probe succeeds; it reports whether it was up.
func (b *backend) out(err error, probe time.Duration, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failed++
	b.lastErr = err.Error()
	wasUp := b.up
	b.up = false
	// The probe interval doubles until the server answers a call again, so a server that
	// answers its model list but fails every call is tried less and less often.
	if b.wait == 0 {
		b.wait = probe
	} else {
		b.wait = min(b.wait*2, maxProbe)
	}
	b.retry = now.Add(b.wait)
	return wasUp
}

// dropModel forgets model on the server (it answered 404 for it).
func (b *backend) dropModel(model string) {
	b.mu.Lock()
	if b.models != nil {
		delete(b.models, withLatest(model))
	}
	b.mu.Unlock()
}

const maxProbe = 30 * time.Second

// ServerStats is a server's state as the pool sees it.
type ServerStats struct {
	URL      string
	Up       bool
	Slots    int // per model
	InFlight int // every model
	Models   []string
	Served   int64 // calls answered
	Failed   int64 // calls that failed on it (transport, 5xx, 429)
	LastErr  string
}

func (b *backend) stats() ServerStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := ServerStats{URL: b.client.URL(), Up: b.up, Slots: b.slots, Served: b.served, Failed: b.failed, LastErr: b.lastErr}
	for _, n := range b.inflight {
		s.InFlight += n
	}
	for m := range b.models {
		s.Models = append(s.Models, m)
	}
	return s
}

// refresh reads the server's model list; on failure the server is taken out.
func (p *Pool) refresh(ctx context.Context, b *backend) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	list, err := b.client.api.List(ctx)
	if err != nil {
		if b.out(err, p.opts.Probe, time.Now()) {
			p.opts.Client.Logger.Warn("ollama server taken out", "url", b.client.URL(), "err", err)
		}
		return
	}
	names := make([]string, 0, 2*len(list.Models))
	for _, m := range list.Models {
		names = append(names, m.Name, m.Model)
	}
	b.mu.Lock()
	wasUp := b.up
	b.mu.Unlock()
	b.setModels(names, time.Now())
	if !wasUp {
		p.opts.Client.Logger.Info("ollama server in", "url", b.client.URL(), "models", len(list.Models))
	}
	p.sched.wake()
}

func (p *Pool) refreshAll(ctx context.Context) {
	var wg sync.WaitGroup
	for _, b := range p.servers {
		wg.Add(1)
		go func() { defer wg.Done(); p.refresh(ctx, b) }()
	}
	wg.Wait()
}

// health re-reads the model lists of the servers that are up every Recheck and probes the
// servers that are out when their probe is due.
func (p *Pool) health(ctx context.Context) {
	defer close(p.done)
	tick := time.NewTicker(min(p.opts.Probe, p.opts.Recheck, time.Second))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			for _, b := range p.servers {
				b.mu.Lock()
				due := (!b.up && !now.Before(b.retry)) || (b.up && now.Sub(b.checked) >= p.opts.Recheck)
				b.mu.Unlock()
				if due {
					p.refresh(ctx, b)
				}
			}
		}
	}
}

// Stats returns every server's state, in configuration order.
func (p *Pool) Stats() []ServerStats {
	out := make([]ServerStats, len(p.servers))
	for i, b := range p.servers {
		out[i] = b.stats()
	}
	return out
}
