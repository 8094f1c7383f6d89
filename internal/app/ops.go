package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/bus"
	"github.com/coachwire/coachwire/internal/config"
	"github.com/coachwire/coachwire/internal/gateway"
	"github.com/coachwire/coachwire/internal/llm"
	"github.com/coachwire/coachwire/internal/ops"
)

// metrics are the process's metrics, one struct per role, all on its own registry (a role
// that does not run here records nothing, and its series never appear).
type metrics struct {
	consumers *ops.Consumers
	turn      *ops.Turn
	llm       *ops.LLM
	ingest    *ops.Ingest
	dispatch  *ops.Dispatch
	nudge     *ops.Nudge
	gateway   *ops.Gateway
}

// startOps starts the ops listener (COACHWIRE_OPS_ADDR) first, so /healthz answers while the
// rest starts; /readyz says "starting" until Start returns.
func (a *App) startOps(context.Context) error {
	reg := ops.NewRegistry()
	a.Registry = reg
	a.metrics = metrics{
		consumers: ops.NewConsumers(reg),
		turn:      ops.NewTurn(reg),
		llm:       ops.NewLLM(reg, a.Mode, a.llmServers, a.llmWaiting),
		ingest:    ops.NewIngest(reg),
		dispatch:  ops.NewDispatch(reg),
		nudge:     ops.NewNudge(reg),
		gateway:   ops.NewGateway(reg),
	}
	ops.RegisterConsumerInfo(reg, a.consumerStates)
	srv, err := ops.Listen(a.cfg.OpsAddr, reg, a.log)
	if err != nil {
		return err
	}
	a.ops = srv
	a.OpsAddr = srv.Addr()
	a.onStop(srv.Close)
	srv.AddCheck(ops.Check{Name: "started", Check: func(context.Context) error {
		switch {
		case a.stopping.Load():
			return errors.New("stopping")
		case !a.started.Load():
			return errors.New("starting")
		}
		return nil
	}})
	a.log.Info("ops listener", "addr", a.OpsAddr, "paths", "/metrics /healthz /readyz")
	return nil
}

// Mode is the process's current LLM mode (config.LLMOllama or config.LLMPassages; "" while
// starting), as the coachwire_llm_mode gauge reports it.
func (a *App) Mode() string {
	if !a.started.Load() {
		return ""
	}
	return a.LLMMode()
}

func (a *App) llmServers() map[string]bool {
	if !a.started.Load() || a.LLM == nil {
		return nil
	}
	out := map[string]bool{}
	for _, s := range a.LLM.Stats() {
		out[s.URL] = s.Up
	}
	return out
}

func (a *App) llmWaiting() map[string]int {
	if !a.started.Load() || a.LLM == nil {
		return nil
	}
	out := map[string]int{}
	for _, s := range a.LLM.ClassStats() {
		out[s.Class.String()] = s.Waiting
	}
	return out
}

// withLLMMetrics makes the pool report every model call to the LLM metrics.
func (a *App) withLLMMetrics(o llm.PoolOptions) llm.PoolOptions {
	m := a.metrics.llm
	o.Observe = func(class llm.Class, u *llm.Usage, took time.Duration, err error) {
		m.Call(ops.LLMCall{Class: class.String(), Queued: u.Queued, FirstToken: u.FirstToken, Took: took,
			PromptTokens: u.PromptTokens, ReplyTokens: u.ReplyTokens, Err: err})
	}
	return o
}

// consumerRef names a durable consumer.
type consumerRef struct{ stream, durable string }

// gatewayNeeds are the consumers the gateway's work waits on: a widget turn (retrieve,
// generate, the widget's dispatch) and document uploads (ingest).
var gatewayNeeds = []consumerRef{
	{events.StreamInbound, events.ConsumerRetrieve},
	{events.StreamGenerate, events.ConsumerGenerate},
	{events.StreamOutbound, events.ConsumerDispatchWidget},
	{events.StreamIngest, events.ConsumerIngest},
}

// consumerStates is JetStream's view of the consumers this process runs and, for a gateway,
// those it depends on (the coachwire_consumer_* gauges).
func (a *App) consumerStates(ctx context.Context) []ops.ConsumerState {
	refs, _ := a.watched.Load().([]consumerRef)
	out := make([]ops.ConsumerState, 0, len(refs))
	for _, r := range refs {
		out = append(out, a.Bus.ConsumerState(ctx, r.stream, r.durable))
	}
	return out
}

// readiness adds the checks of what this process started, once Start has started it all:
// NATS, PostgreSQL, Weaviate (for the targets that search or index), its own consumers, and
// for a gateway the consumers it depends on (optional: "degraded", with the missing ones named).
func (a *App) readiness() {
	if a.ops == nil {
		return
	}
	srv := a.ops
	if a.Bus != nil {
		srv.AddCheck(ops.Check{Name: "nats", Check: a.Bus.Ping})
	}
	if a.Store != nil {
		srv.AddCheck(ops.Check{Name: "postgres", Check: a.Store.Ping})
	}
	if a.Knowledge != nil && (a.runs(config.TargetIngest) || a.runs(config.TargetRetrieve) || a.runs(config.TargetGenerate) || a.runs(config.TargetGateway)) {
		srv.AddCheck(ops.Check{Name: "weaviate", Check: a.Knowledge.Ready})
	}
	var refs []consumerRef
	seen := map[string]bool{}
	if a.router != nil {
		own := a.router.Consumers()
		for _, s := range own {
			seen[s.Durable] = true
			refs = append(refs, consumerRef{s.Stream, s.Durable})
		}
		if len(own) > 0 {
			srv.AddCheck(ops.Check{Name: "consumers", Check: a.ownConsumers(own)})
		}
	}
	if a.runs(config.TargetGateway) {
		for _, r := range gatewayNeeds {
			if !seen[r.durable] {
				refs = append(refs, r)
			}
			srv.AddCheck(ops.Check{Name: "consumer:" + r.durable, Optional: true, Check: a.pulled(r)})
		}
	}
	a.watched.Store(refs)
}

func (a *App) runs(target string) bool { return a.cfg.Runs(target) }

// ownConsumers checks the router runs and every consumer it registered exists.
func (a *App) ownConsumers(specs []bus.ConsumerSpec) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		if a.router.IsClosed() {
			return errors.New("message router stopped")
		}
		var bad []string
		for _, s := range specs {
			if st := a.Bus.ConsumerState(ctx, s.Stream, s.Durable); st.Err != nil || !st.Exists {
				bad = append(bad, st.Problem())
			}
		}
		if len(bad) > 0 {
			return errors.New(strings.Join(bad, "; "))
		}
		return nil
	}
}

// pulled checks some process pulls from the consumer.
func (a *App) pulled(r consumerRef) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		if p := a.Bus.ConsumerState(ctx, r.stream, r.durable).Problem(); p != "" {
			return errors.New(p)
		}
		return nil
	}
}

// consumersHealth is the gateway's optional "consumers" health check (/health): degraded, with
// the consumers nobody pulls from named, when a turn or an upload would wait for a role that
// does not run.
func (a *App) consumersHealth() gateway.HealthCheck {
	return gateway.HealthCheck{Name: "consumers", Optional: true, Check: func(ctx context.Context) error {
		var bad []string
		for _, r := range gatewayNeeds {
			if p := a.Bus.ConsumerState(ctx, r.stream, r.durable).Problem(); p != "" {
				bad = append(bad, p)
			}
		}
		if len(bad) > 0 {
			return fmt.Errorf("%s", strings.Join(bad, "; "))
		}
		return nil
	}}
}
