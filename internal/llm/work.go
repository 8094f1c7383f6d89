package llm

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// Class is a model call's priority class. The scheduler serves lower values first; inside a
// class it shares the slots fairly between creators.
type Class int

// The classes, highest priority first.
const (
	// Live is a reply an end user is waiting for (and its retries).
	Live Class = iota
	// LiveEmbed is the embedding of a live query (retrieval before a reply).
	LiveEmbed
	// Memory is memory-profile extraction after a conversation.
	Memory
	// IngestEmbed is the embedding of uploaded documents' chunks.
	IngestEmbed
	// Nudge is an AI-written proactive message (campaigns, programs).
	Nudge

	numClasses
)

// Classes lists every class, highest priority first.
var Classes = []Class{Live, LiveEmbed, Memory, IngestEmbed, Nudge}

func (c Class) String() string {
	switch c {
	case Live:
		return "live"
	case LiveEmbed:
		return "live_embed"
	case Memory:
		return "memory"
	case IngestEmbed:
		return "ingest_embed"
	case Nudge:
		return "nudge"
	}
	return "unknown"
}

// Work says whom a model call is for. Callers attach it to the call's context with WithWork;
// a call without one is scheduled as Live for no creator (health checks, tools).
type Work struct {
	Class   Class
	Creator uuid.UUID
	// Usage, when set, is filled in when the call returns (also on error, as far as known).
	Usage *Usage
}

// Usage is what one call cost and how it went.
type Usage struct {
	// Backend is the URL of the Ollama server that answered (the last one tried).
	Backend string
	// Queued is how long the call waited for a slot (all attempts).
	Queued time.Duration
	// FirstToken is the time from the call to its first streamed delta (queue included); zero
	// when nothing was streamed.
	FirstToken time.Duration
	// PromptTokens and ReplyTokens are Ollama's prompt_eval_count and eval_count (embeddings:
	// prompt_eval_count only).
	PromptTokens, ReplyTokens int
	// DoneReason is Ollama's done_reason of a chat: "stop", or "length" when the reply hit
	// num_predict (a truncated reply).
	DoneReason string
	// Attempts counts the requests made (one per server tried).
	Attempts int
}

// Tokens is the call's total token count (prompt and reply).
func (u *Usage) Tokens() int { return u.PromptTokens + u.ReplyTokens }

// Truncated reports whether the reply stopped at the reply budget (num_predict).
func (u *Usage) Truncated() bool { return u.DoneReason == "length" }

type workKey struct{}

// WithWork returns ctx carrying w: the scheduler orders the call by it.
func WithWork(ctx context.Context, w Work) context.Context {
	return context.WithValue(ctx, workKey{}, w)
}

// WorkOf returns the Work attached to ctx (zero: Live, no creator).
func WorkOf(ctx context.Context) Work {
	w, _ := ctx.Value(workKey{}).(Work)
	return w
}
