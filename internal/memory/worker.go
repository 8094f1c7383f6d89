package memory

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/bus"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/llm"
)

// Worker consumes memory requests (one per end-user message, published by retrieve) and runs
// the extractor when it is worth a model call: once Every messages of the person are waiting,
// or when the person has been quiet for Idle after their latest message. A request for an
// older message than the latest is dropped (the latest one's request takes care of it), and an
// early request is deferred until the quiet time is over, so a burst of messages costs one
// extraction. It runs in the generate target: extraction is LLM work.
type Worker struct {
	Extractor *Extractor
	// Every is how many new messages of a person trigger an extraction at once; 0 disables
	// automatic extraction (profiles are then only what creators write).
	Every int
	// Idle is how long after a person's latest message the waiting messages are extracted.
	Idle     time.Duration
	Parallel int
	Log      *slog.Logger
}

// maxDeliver bounds the deliveries of one request: deferrals (normally one) and model failures.
const maxDeliver = 10

// Register adds the worker's consumer to the router.
func (w *Worker) Register(ctx context.Context, r *bus.Router) error {
	return r.Handle(ctx, events.ConsumerMemory, bus.ConsumerSpec{Stream: events.StreamMemory, Durable: events.ConsumerMemory, Filter: events.AnyCreator(events.StageMemory),
		AckWait: 2 * time.Minute, MaxDeliver: maxDeliver, Parallel: max(w.Parallel, 1), KeepAlive: true}, w.handle)
}

func (w *Worker) handle(msg *message.Message) error {
	ev, err := bus.Decode[events.MemoryRequested](msg)
	if err != nil {
		return err
	}
	if w.Every <= 0 || !llm.Usable(w.Extractor.LLM) {
		return nil // extraction is off, or there is no model to extract with
	}
	ctx := msg.Context()
	c, in := ev.CreatorID, ev.Data
	log := w.Log.With("creator_id", c, "correlation_id", ev.CorrelationID, "end_user_id", in.EndUserID)
	var state db.MemoryStateRow
	gseq := in.Gseq // the message's, when retrieve stored it; else read here
	readMessage := gseq == 0
	// The reads and the transaction in one round trip (InTenantOne with a pipeline).
	err = w.Extractor.Store.InTenantOne(ctx, c, func(q *db.Queries) error {
		var terr, serr error
		if err := q.Pipeline(ctx, func(q *db.Queries) error {
			if readMessage {
				var trigger db.Message
				trigger, terr = q.GetMessage(ctx, in.MessageID)
				gseq = trigger.Gseq
			}
			state, serr = q.MemoryState(ctx, in.EndUserID)
			return nil
		}); err != nil {
			return err
		}
		return cmp.Or(terr, serr)
	})
	if db.IsNotFound(err) {
		log.DebugContext(ctx, "memory request for a message that is gone: dropped", "message_id", in.MessageID)
		return nil
	}
	if err != nil {
		return fmt.Errorf("memory: state of end user %s: %w", in.EndUserID, err)
	}
	if state.ExtractedSeq >= gseq {
		return nil // already extracted, or erased after it
	}
	if state.LatestGseq < gseq {
		// The person's messages after the floor do not include it: the message is gone (an
		// erased end user or conversation), as a read of it would have found.
		log.DebugContext(ctx, "memory request for a message that is gone: dropped", "message_id", in.MessageID)
		return nil
	}
	if state.Pending < int64(w.Every) {
		if state.LatestGseq > gseq {
			return nil // the request of the person's latest message decides
		}
		if wait := w.Idle - time.Duration(state.QuietSeconds*float64(time.Second)); wait > 0 {
			bus.Defer(msg, wait)
			return nil
		}
	}
	p, err := w.Extractor.Extract(ctx, c, in.EndUserID)
	switch {
	case err == nil:
		log.InfoContext(ctx, "memory profile updated", "messages", state.Pending, "goals", len(p.Goals), "preferences", len(p.Preferences),
			"commitments", len(p.Commitments), "facts", len(p.Facts))
		return nil
	case errors.Is(err, ErrConflict):
		return err // read the changed profile again, now
	case errors.Is(err, ErrNoLLM):
		return nil
	default:
		return bus.Later(err) // the model may be back after a while
	}
}
