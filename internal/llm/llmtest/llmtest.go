// Package llmtest holds a test helper for code that calls the model: Recorder wraps a model
// client and records the llm.Work (class and creator) each call carries, so a test can check how
// a role labels its calls for the scheduler.
package llmtest

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/coachwire/coachwire/internal/llm"
)

// Recorder wraps Next (an *llm.Client, *llm.Pool or anything with the methods called) and
// records the llm.Work of every call before passing it on. Safe for concurrent use.
type Recorder struct {
	Next any

	mu  sync.Mutex
	got []llm.Work
}

type (
	chatter interface {
		Chat(ctx context.Context, model string, msgs []llm.Message, onDelta func(string) error) (string, error)
	}
	jsonChatter interface {
		ChatJSON(ctx context.Context, model string, msgs []llm.Message, schema json.RawMessage, out any) error
	}
	embedder interface {
		Embed(ctx context.Context, model string, inputs []string) ([][]float32, error)
	}
)

func (r *Recorder) record(ctx context.Context) {
	r.mu.Lock()
	r.got = append(r.got, llm.WorkOf(ctx))
	r.mu.Unlock()
}

// Chat records the call's Work and passes it on.
func (r *Recorder) Chat(ctx context.Context, model string, msgs []llm.Message, onDelta func(string) error) (string, error) {
	r.record(ctx)
	return r.Next.(chatter).Chat(ctx, model, msgs, onDelta)
}

// ChatJSON records the call's Work and passes it on.
func (r *Recorder) ChatJSON(ctx context.Context, model string, msgs []llm.Message, schema json.RawMessage, out any) error {
	r.record(ctx)
	return r.Next.(jsonChatter).ChatJSON(ctx, model, msgs, schema, out)
}

// Embed records the call's Work and passes it on.
func (r *Recorder) Embed(ctx context.Context, model string, inputs []string) ([][]float32, error) {
	r.record(ctx)
	return r.Next.(embedder).Embed(ctx, model, inputs)
}

// Works returns the Work of every call so far, in order.
func (r *Recorder) Works() []llm.Work {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]llm.Work(nil), r.got...)
}
