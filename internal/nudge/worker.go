package nudge

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/bus"
	"github.com/coachwire/coachwire/internal/clock"
	"github.com/coachwire/coachwire/internal/config"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/ops"
	"github.com/coachwire/coachwire/internal/proactive"
)

// Worker is the nudge target: the scheduler loops (occurrences, held decisions, program steps)
// and the recipient consumer that applies the policy and hands messages to dispatch.
type Worker struct {
	Store    *db.Store
	Bus      *bus.Bus
	Clock    clock.Clock
	Log      *slog.Logger
	Platform proactive.Platform
	// Tick is how often the scheduler looks for due work; Page is the audience page size;
	// Lease is how long a claimed occurrence is owned without progress.
	Tick  time.Duration
	Page  int
	Lease time.Duration
	// Batch is the most recipients decided in one transaction; Parallel is how many batches
	// run at once (each on its own database connection).
	Batch    int
	Parallel int
	// AckWait is how long a recipient event may stay unacknowledged before it is redelivered
	// (the recipients a dead replica had claimed).
	AckWait time.Duration
	// Owner identifies this replica's leases.
	Owner uuid.UUID
	// AfterPage, when set (tests), runs after each published audience page.
	AfterPage func(occurrence uuid.UUID, published int)
	// Metrics records occurrences, decisions and batch times (nil: none).
	Metrics *ops.Nudge

	once  sync.Once
	batch *groupCommit
}

// defaults fills the settings left zero, once: Submit may be called concurrently. The app
// passes config's values; a Worker built with zero fields (tests) takes config's defaults
// (config.NudgeDefaults), never values of its own.
func (w *Worker) defaults() {
	w.once.Do(func() {
		d := config.NudgeDefaults
		if w.Clock == nil {
			w.Clock = clock.Real{}
		}
		if w.Tick <= 0 {
			w.Tick = d.Tick
		}
		if w.Page <= 0 {
			w.Page = d.Page
		}
		if w.Lease <= 0 {
			w.Lease = d.Lease
		}
		if w.AckWait <= 0 {
			w.AckWait = d.AckWait
		}
		if w.Batch <= 0 {
			w.Batch = d.Batch
		}
		if w.Parallel <= 0 {
			w.Parallel = d.Parallel
		}
		if w.Owner == uuid.Nil {
			w.Owner = uuid.New()
		}
		w.batch = &groupCommit{max: w.Batch, maxLeaders: w.Parallel, linger: 2 * time.Millisecond, run: w.runBatch}
	})
}

// Register adds the recipient consumer to the router.
func (w *Worker) Register(ctx context.Context, r *bus.Router) error {
	return w.register(ctx, r, events.ConsumerNudge, events.AnyCreator(events.StageNudge))
}

// register adds the recipient consumer durable on filter (tests: one creator's subject).
func (w *Worker) register(ctx context.Context, r *bus.Router, durable, filter string) error {
	w.defaults()
	// Enough messages in flight for Parallel full batches, pulled by two subscribers.
	return r.Handle(ctx, durable, bus.ConsumerSpec{Stream: events.StreamNudge, Durable: durable, Filter: filter,
		AckWait: w.AckWait, MaxDeliver: 10, Parallel: 2, InFlight: max(1, w.Batch*w.Parallel/2)}, w.handle)
}

func (w *Worker) handle(msg *message.Message) error {
	ev, err := bus.Decode[proactive.RecipientEvent](msg)
	if err != nil {
		return err
	}
	return w.Submit(msg.Context(), ev.CreatorID, ev.Data, &ev.Envelope)
}

// Submit decides one (occurrence, recipient) with whatever else is being decided at the same
// moment (see batch.go), records the decision, and hands a sent message to dispatch (or an AI
// nudge to the generate target) before returning.
func (w *Worker) Submit(ctx context.Context, c uuid.UUID, r proactive.RecipientEvent, cause *events.Envelope) error {
	w.defaults()
	return w.batch.submit(ctx, &request{c: c, r: r, cause: cause, done: make(chan error, 1)})
}

// usesMemory reports whether content has a variable taken from the memory profile.
func usesMemory(c proactive.Content) bool {
	texts := []string{c.Text, c.Fallback}
	if c.Template != nil {
		texts = append(texts, c.Template.Params...)
	}
	for _, t := range texts {
		if proactive.UsesVar(t, "goal") {
			return true
		}
	}
	return false
}

var (
	errStopped = errors.New("nudge: campaign or program stopped")
	errPaused  = errors.New("nudge: campaign paused")
)

// contentOf is what r sends: its campaign's content or its program step's.
func contentOf(ctx context.Context, q *db.Queries, r proactive.RecipientEvent) (proactive.Content, error) {
	var c proactive.Content
	if r.CampaignID != uuid.Nil {
		cp, err := q.GetCampaign(ctx, r.CampaignID)
		if db.IsNotFound(err) {
			return c, errStopped
		}
		if err != nil {
			return c, err
		}
		switch cp.Status {
		case "cancelled":
			return c, errStopped
		case "paused":
			return c, errPaused
		}
		return c, json.Unmarshal(cp.Content, &c)
	}
	e, err := q.GetEnrollment(ctx, r.EnrollmentID)
	if db.IsNotFound(err) {
		return c, errStopped
	}
	if err != nil {
		return c, err
	}
	p, err := q.GetProgram(ctx, e.ProgramID)
	if err != nil {
		return c, err
	}
	switch {
	case e.Status == "cancelled" || p.Status == "archived":
		return c, errStopped
	case e.Status == "paused" || p.Status == "paused":
		return c, errPaused
	}
	var steps []proactive.Step
	if err := json.Unmarshal(p.Steps, &steps); err != nil || r.Step >= len(steps) {
		return c, errStopped
	}
	return steps[r.Step].Content, nil
}

func memoryOf(ctx context.Context, q *db.Queries, id uuid.UUID) (json.RawMessage, error) {
	m, err := q.GetMemory(ctx, id)
	if err != nil {
		return nil, err
	}
	return m.Profile, nil
}

// publishRecipients publishes one event per recipient asynchronously and waits for every ack.
func (w *Worker) publishRecipients(ctx context.Context, c uuid.UUID, evs []proactive.RecipientEvent, msgID func(proactive.RecipientEvent) string) error {
	pubs := make([]bus.Outgoing, 0, len(evs))
	now := w.Clock.Now()
	for _, r := range evs {
		o, err := bus.Event(proactive.Subject(c), msgID(r), events.New(c, r, nil, now))
		if err != nil {
			return err
		}
		pubs = append(pubs, o)
	}
	return w.publishAll(ctx, pubs)
}
