package nudge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/bus"
	"github.com/coachwire/coachwire/internal/clock"
	"github.com/coachwire/coachwire/internal/db"
)

// Writer writes an AI-personalized nudge from a brief (an LLM); nil sends the brief rendered as
// text.
type Writer interface {
	Write(ctx context.Context, brief string, eu db.EndUser, memory json.RawMessage, recent []db.Message) (string, error)
}

// Worker is the nudge target: the scheduler loops (occurrences, held decisions, program steps)
// and the recipient consumer that applies the policy and hands messages to dispatch.
type Worker struct {
	Store    *db.Store
	Bus      *bus.Bus
	Clock    clock.Clock
	Log      *slog.Logger
	Platform Platform
	Writer   Writer
	// Tick is how often the scheduler looks for due work; Page is the audience page size;
	// Lease is how long a claimed occurrence is owned without progress; Parallel is recipient
	// handlers at once.
	Tick     time.Duration
	Page     int
	Lease    time.Duration
	Parallel int
	// Owner identifies this replica's leases.
	Owner uuid.UUID
	// AfterPage, when set (tests), runs after each published audience page.
	AfterPage func(occurrence uuid.UUID, published int)

	kinds sync.Map // campaign id → kindEntry: its content kind, as last read
}

func (w *Worker) defaults() {
	if w.Clock == nil {
		w.Clock = clock.Real{}
	}
	if w.Tick <= 0 {
		w.Tick = time.Second
	}
	if w.Page <= 0 {
		w.Page = 1000
	}
	if w.Lease <= 0 {
		w.Lease = 30 * time.Second
	}
	if w.Parallel <= 0 {
		w.Parallel = 8
	}
	if w.Owner == uuid.Nil {
		w.Owner = uuid.New()
	}
}

// Register adds the recipient consumer to the router.
func (w *Worker) Register(ctx context.Context, r *bus.Router) error {
	w.defaults()
	return r.Handle(ctx, "nudge", bus.ConsumerSpec{Stream: "CW_NUDGE", Durable: "nudge", Filter: "cw.*." + events.StageNudge,
		AckWait: 60 * time.Second, MaxDeliver: 10, Parallel: w.Parallel}, w.handle)
}

func (w *Worker) handle(msg *message.Message) error {
	ev, err := bus.Decode[RecipientEvent](msg)
	if err != nil {
		return err
	}
	out, err := w.Decide(msg.Context(), ev.CreatorID, ev.Data, &ev.Envelope)
	if err != nil || out == nil {
		return err
	}
	return w.publishOutbound(msg.Context(), ev.CreatorID, *out, &ev.Envelope)
}

// Decide applies the policy to one (occurrence, recipient) and records the decision; when the
// decision is to send, the message is stored in the same transaction and returned for dispatch.
// A recipient already decided for good is not decided again (its stored message is returned
// again when it was sent, so a crash between commit and publish is repaired by a redelivery;
// dispatch's send log makes the second publish harmless).
func (w *Worker) Decide(ctx context.Context, c uuid.UUID, r RecipientEvent, cause *events.Envelope) (*events.MessageOutbound, error) {
	now := w.Clock.Now()
	var (
		ai    *Content
		aiTxt string
	)
	// Pass 1, without locks: is this an AI nudge that will be sent? Only then is the LLM called.
	// A campaign known (within kindTTL) to send fixed text skips it: one transaction less per
	// recipient.
	if w.Writer != nil && w.mayBeAI(r, now) {
		var eu db.EndUser
		var mem json.RawMessage
		var recent []db.Message
		var d Decision
		var content Content
		err := w.Store.InTenant(ctx, c, func(q *db.Queries) error {
			var err error
			content, err = w.content(ctx, q, r)
			if err != nil || content.Kind != ContentAI {
				return err
			}
			if eu, err = q.GetEndUser(ctx, r.EndUserID); err != nil {
				return err
			}
			cp, err := q.GetCreatorPolicy(ctx, c)
			if err != nil {
				return err
			}
			facts, err := Facts(ctx, q, eu, cp, now)
			if err != nil {
				return err
			}
			d = Decide(w.Platform.PolicyFor(cp), facts, now, r.NotBefore, r.ScheduledAt)
			if d.Outcome == OutcomeSent {
				mem, recent = w.context(ctx, q, eu)
			}
			return nil
		})
		if err != nil && !db.IsNotFound(err) {
			return nil, err
		}
		if err == nil && content.Kind != "" {
			w.noteKind(r, content.Kind, now)
		}
		if content.Kind == ContentAI && d.Outcome == OutcomeSent {
			ai = &content
			if txt, err := w.Writer.Write(ctx, content.Brief, eu, mem, recent); err == nil {
				aiTxt = txt
			} else {
				w.Log.Warn("AI nudge not written: sending the brief as text", "creator_id", c, "err", err)
			}
		}
	}
	var out *events.MessageOutbound
	err := w.Store.InTenant(ctx, c, func(q *db.Queries) error {
		eu, err := q.LockEndUser(ctx, r.EndUserID)
		if db.IsNotFound(err) {
			return nil // erased meanwhile
		}
		if err != nil {
			return err
		}
		prev, err := q.GetNudgeDelivery(ctx, db.GetNudgeDeliveryParams{OccurrenceID: r.OccurrenceID, EndUserID: eu.ID})
		switch {
		case err == nil && prev.Status == OutcomeSent && prev.MessageID.Valid:
			m, err := q.GetMessage(ctx, prev.MessageID.UUID)
			if err != nil {
				return err
			}
			out = &events.MessageOutbound{MessageID: m.ID, ConversationID: m.ConversationID, EndUserID: eu.ID, Channel: m.Channel}
			return nil
		case err == nil && prev.Status != OutcomeHeld:
			return nil // skipped for good
		case err != nil && !db.IsNotFound(err):
			return err
		}
		content, err := w.content(ctx, q, r)
		if errors.Is(err, errStopped) {
			return w.record(ctx, q, c, r, Decision{Outcome: OutcomeSkipped, Reason: "cancelled"}, uuid.NullUUID{}, now)
		}
		if errors.Is(err, errPaused) {
			return w.record(ctx, q, c, r, Decision{Outcome: OutcomeHeld, Reason: "paused", HoldUntil: now.Add(5 * time.Minute)}, uuid.NullUUID{}, now)
		}
		if err != nil {
			return err
		}
		cp, err := q.GetCreatorPolicy(ctx, c)
		if err != nil {
			return err
		}
		facts, err := Facts(ctx, q, eu, cp, now)
		if err != nil {
			return err
		}
		d := Decide(w.Platform.PolicyFor(cp), facts, now, r.NotBefore, r.ScheduledAt)
		if d.Outcome != OutcomeSent {
			return w.record(ctx, q, c, r, d, uuid.NullUUID{}, now)
		}
		var text string
		switch {
		case ai != nil && aiTxt != "":
			text = aiTxt
		case content.Kind == ContentAI:
			mem, _ := memoryOf(ctx, q, eu.ID)
			text = Render(content.Brief, VarsFor(eu, cp.Name, mem))
		default:
			var mem json.RawMessage
			if usesMemory(content.Text) { // the memory profile is read only for {{goal}}
				mem, _ = memoryOf(ctx, q, eu.ID)
			}
			text = Render(content.Text, VarsFor(eu, cp.Name, mem))
		}
		w.noteKind(r, content.Kind, now)
		conv, err := q.NudgeConversation(ctx, db.NudgeConversationParams{ID: uuid.Must(uuid.NewV7()), CreatorID: c, EndUserID: eu.ID,
			Channel: eu.Channel, ChannelID: eu.ChannelID})
		if err != nil {
			return err
		}
		id := MessageID(r.OccurrenceID, eu.ID)
		if _, err := q.InsertMessage(ctx, db.InsertMessageParams{ID: id, CreatorID: c, ConversationID: conv.ID, Role: "assistant",
			Body: text, Sources: json.RawMessage("[]"), Channel: eu.Channel, Status: "queued"}); err != nil && !db.IsNotFound(err) {
			return err
		}
		if err := w.record(ctx, q, c, r, d, uuid.NullUUID{UUID: id, Valid: true}, now); err != nil {
			return err
		}
		out = &events.MessageOutbound{MessageID: id, ConversationID: conv.ID, EndUserID: eu.ID, Channel: eu.Channel}
		return nil
	})
	return out, err
}

// kindTTL is how long a campaign's content kind is trusted without reading it again: an edit
// from text to AI content takes effect for pass 1 within it.
const kindTTL = 5 * time.Second

type kindEntry struct {
	kind string
	at   time.Time
}

// mayBeAI reports whether r's content may be AI-personalized (unknown counts as maybe).
func (w *Worker) mayBeAI(r RecipientEvent, now time.Time) bool {
	if r.CampaignID == uuid.Nil {
		return true
	}
	v, ok := w.kinds.Load(r.CampaignID)
	if !ok {
		return true
	}
	e := v.(kindEntry)
	return e.kind == ContentAI || now.Sub(e.at) > kindTTL || now.Before(e.at)
}

func (w *Worker) noteKind(r RecipientEvent, kind string, now time.Time) {
	if r.CampaignID != uuid.Nil && kind != "" {
		w.kinds.Store(r.CampaignID, kindEntry{kind: kind, at: now})
	}
}

// usesMemory reports whether a text template has a variable taken from the memory profile.
func usesMemory(text string) bool {
	return strings.Contains(text, "goal")
}

var (
	errStopped = errors.New("nudge: campaign or program stopped")
	errPaused  = errors.New("nudge: campaign paused")
)

// content is what r sends: its campaign's content or its program step's.
func (w *Worker) content(ctx context.Context, q *db.Queries, r RecipientEvent) (Content, error) {
	var c Content
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
	if e.Status == "cancelled" {
		return c, errStopped
	}
	p, err := q.GetProgram(ctx, e.ProgramID)
	if err != nil {
		return c, err
	}
	var steps []Step
	if err := json.Unmarshal(p.Steps, &steps); err != nil || r.Step >= len(steps) {
		return c, errStopped
	}
	return steps[r.Step].Content, nil
}

func (w *Worker) record(ctx context.Context, q *db.Queries, c uuid.UUID, r RecipientEvent, d Decision, msgID uuid.NullUUID, now time.Time) error {
	var hold *time.Time
	if d.Outcome == OutcomeHeld {
		h := d.HoldUntil
		hold = &h
	}
	p := db.RecordNudgeDecisionParams{OccurrenceID: r.OccurrenceID, EndUserID: r.EndUserID, CreatorID: c, Status: d.Outcome,
		Reason: d.Reason, Mode: d.Mode, HoldUntil: hold, MessageID: msgID, DecidedAt: now}
	if r.CampaignID != uuid.Nil {
		p.CampaignID = uuid.NullUUID{UUID: r.CampaignID, Valid: true}
	}
	if r.EnrollmentID != uuid.Nil {
		p.EnrollmentID = uuid.NullUUID{UUID: r.EnrollmentID, Valid: true}
	}
	return q.RecordNudgeDecision(ctx, p)
}

func (w *Worker) context(ctx context.Context, q *db.Queries, eu db.EndUser) (json.RawMessage, []db.Message) {
	mem, _ := memoryOf(ctx, q, eu.ID)
	conv, err := q.NudgeConversation(ctx, db.NudgeConversationParams{ID: uuid.Must(uuid.NewV7()), CreatorID: eu.CreatorID,
		EndUserID: eu.ID, Channel: eu.Channel, ChannelID: eu.ChannelID})
	if err != nil {
		return mem, nil
	}
	recent, _ := q.RecentMessages(ctx, db.RecentMessagesParams{ConversationID: conv.ID, Limit: 10})
	return mem, recent
}

func memoryOf(ctx context.Context, q *db.Queries, id uuid.UUID) (json.RawMessage, error) {
	m, err := q.GetMemory(ctx, id)
	if err != nil {
		return nil, err
	}
	return m.Profile, nil
}

func (w *Worker) publishOutbound(ctx context.Context, c uuid.UUID, out events.MessageOutbound, cause *events.Envelope) error {
	ev := events.New(c, out, cause, w.Clock.Now())
	return bus.PublishEvent(ctx, w.Bus, events.OutboundSubject(c, out.Channel), "out:"+out.MessageID.String(), ev)
}

// publishRecipients publishes one event per recipient asynchronously and waits for every ack.
func (w *Worker) publishRecipients(ctx context.Context, c uuid.UUID, evs []RecipientEvent, msgID func(RecipientEvent) string) error {
	futures := make([]jetstream.PubAckFuture, 0, len(evs))
	now := w.Clock.Now()
	for _, r := range evs {
		ev := events.New(c, r, nil, now)
		b, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		m := &nats.Msg{Subject: Subject(c), Data: b, Header: nats.Header{}}
		m.Header.Set(bus.HeaderCorrelationID, ev.CorrelationID)
		f, err := w.Bus.JS.PublishMsgAsync(m, jetstream.WithMsgID(msgID(r)))
		if err != nil {
			return fmt.Errorf("nudge: publish: %w", err)
		}
		futures = append(futures, f)
	}
	select {
	case <-w.Bus.JS.PublishAsyncComplete():
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(60 * time.Second):
		return errors.New("nudge: publish acks did not arrive within 60s")
	}
	for _, f := range futures {
		select {
		case err := <-f.Err():
			return fmt.Errorf("nudge: publish: %w", err)
		case <-f.Ok():
		}
	}
	return nil
}
