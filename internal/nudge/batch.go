package nudge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/bus"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/proactive"
)

// Decisions are taken in batches (group commit): every recipient event handled at the same
// moment joins the batch being formed, and one transaction per creator decides the whole
// batch with set-based statements (lock the people, read their facts, upsert conversations,
// insert messages, record decisions), then the messages are handed to dispatch with
// asynchronous publishes. A per-recipient transaction costs ~11 round trips; a batch of 500
// costs ~8 in all.

// request is one recipient event waiting for its decision.
type request struct {
	c     uuid.UUID
	r     proactive.RecipientEvent
	cause *events.Envelope
	done  chan error // buffered: the leader never blocks on a follower
}

// groupCommit forms batches from concurrent submissions. A submitter that finds fewer than
// maxLeaders batches running becomes a leader: it waits linger for the batch to fill, takes up
// to max requests, runs them, and keeps leading while requests are pending. Other submitters
// just wait for their result. No goroutine outlives the submissions.
type groupCommit struct {
	max, maxLeaders int
	linger          time.Duration
	run             func(ctx context.Context, batch []*request)

	mu      sync.Mutex
	pending []*request
	leaders int
}

func (g *groupCommit) submit(ctx context.Context, req *request) error {
	g.mu.Lock()
	g.pending = append(g.pending, req)
	lead := g.leaders < g.maxLeaders
	if lead {
		g.leaders++
	}
	g.mu.Unlock()
	if lead {
		g.lead(ctx)
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *groupCommit) lead(ctx context.Context) {
	// The batch outlives a follower's cancelled context but not a stuck database.
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	for {
		g.mu.Lock()
		full := len(g.pending) >= g.max
		g.mu.Unlock()
		if !full && g.linger > 0 {
			time.Sleep(g.linger)
		}
		g.mu.Lock()
		if len(g.pending) == 0 {
			g.leaders--
			g.mu.Unlock()
			return
		}
		n := min(len(g.pending), g.max)
		batch := g.pending[:n:n]
		g.pending = slices.Clone(g.pending[n:])
		g.mu.Unlock()
		g.run(bctx, batch)
	}
}

// runBatch decides a batch, one transaction per creator, and settles every request.
func (w *Worker) runBatch(ctx context.Context, batch []*request) {
	defer func(t time.Time) { w.Metrics.Batch(time.Since(t)) }(time.Now())
	byCreator := map[uuid.UUID][]*request{}
	for _, r := range batch {
		byCreator[r.c] = append(byCreator[r.c], r)
	}
	for c, reqs := range byCreator {
		pubs, err := w.decideBatch(ctx, c, reqs)
		if err == nil {
			err = w.publishAll(ctx, pubs)
		}
		for _, r := range reqs {
			r.done <- err
		}
	}
}

// newPublication is one event for dispatch (a message) or for the generate target (an AI nudge).
func (w *Worker) newPublication(c uuid.UUID, subject, msgID string, data events.Event, cause *events.Envelope) (bus.Outgoing, error) {
	switch d := data.(type) {
	case events.MessageOutbound:
		return bus.Event(subject, msgID, events.New(c, d, cause, w.Clock.Now()))
	case events.NudgeCompose:
		return bus.Event(subject, msgID, events.New(c, d, cause, w.Clock.Now()))
	default:
		return bus.Outgoing{}, fmt.Errorf("nudge: cannot publish %T", data)
	}
}

// publishAcksWithin bounds the wait for a batch's acknowledgements.
const publishAcksWithin = 60 * time.Second

// publishAll publishes asynchronously and waits for every acknowledgement.
func (w *Worker) publishAll(ctx context.Context, pubs []bus.Outgoing) error {
	ctx, cancel := context.WithTimeout(ctx, publishAcksWithin)
	defer cancel()
	if err := w.Bus.PublishBatch(ctx, pubs); err != nil {
		return fmt.Errorf("nudge: %w", err)
	}
	return nil
}

// decideBatch decides every request of creator c in one transaction and returns what to
// publish once it committed. A request already decided for good is not decided again: a sent
// one returns its message again (a crash between commit and publish is repaired by the
// redelivery; dispatch's send log and the Nats-Msg-Id make the second publish harmless).
func (w *Worker) decideBatch(ctx context.Context, c uuid.UUID, reqs []*request) ([]bus.Outgoing, error) {
	now := w.Clock.Now()
	var pubs []bus.Outgoing
	var recorded db.RecordNudgeDecisionsParams // the committed attempt's decisions (metrics)
	err := w.Store.InTenant(ctx, c, func(q *db.Queries) error {
		pubs = pubs[:0]
		b, err := w.loadBatch(ctx, q, c, reqs, now)
		if err != nil {
			return err
		}
		dec := decisions{}
		conv := conversations{want: map[convKey]db.EndUser{}}
		type pendingSend struct {
			req     *request
			eu      db.EndUser
			content proactive.Content
			id      uuid.UUID
		}
		var sends []pendingSend
		seen := map[pair]bool{}
		for _, req := range reqs {
			r := req.r
			k := pair{r.OccurrenceID, r.EndUserID}
			if seen[k] { // the same recipient twice in one batch (a redelivery): decided once
				continue
			}
			seen[k] = true
			eu, ok := b.users[r.EndUserID]
			if !ok {
				continue // erased meanwhile
			}
			if r.EnrollmentID != uuid.Nil {
				eu = b.route(eu, now) // a program step goes to the person's latest channel
			}
			if r.CampaignID != uuid.Nil && b.sentToPerson(r.OccurrenceID, eu) {
				// One campaign message per person: another of their linked end users has it.
				if prev, ok := b.prev[k]; !ok || prev.Status == proactive.OutcomeHeld {
					dec.add(r, proactive.Decision{Outcome: proactive.OutcomeSkipped, Reason: proactive.ReasonSamePerson}, uuid.Nil)
				}
				continue
			}
			if prev, ok := b.prev[k]; ok && prev.Status != proactive.OutcomeHeld {
				if prev.Status == proactive.OutcomeSent && prev.MessageID.Valid {
					p, err := w.again(ctx, q, c, req, eu, prev.MessageID.UUID, b)
					if err != nil {
						return err
					}
					pubs = append(pubs, p...)
				}
				continue
			}
			content, err := b.content(ctx, q, r)
			switch {
			case errors.Is(err, errStopped):
				dec.add(r, proactive.Decision{Outcome: proactive.OutcomeSkipped, Reason: proactive.ReasonCancelled}, uuid.Nil)
				continue
			case errors.Is(err, errPaused):
				// Held until the campaign or program is resumed (ReleasePausedHolds), or until it is
				// too late to send: then it expires like any held message.
				expires := proactive.LaterOf(r.ScheduledAt, r.NotBefore).Add(w.Platform.MaxHold)
				if w.Platform.MaxHold > 0 && !now.Before(expires) {
					dec.add(r, proactive.Decision{Outcome: proactive.OutcomeSkipped, Reason: proactive.ReasonExpired}, uuid.Nil)
				} else {
					dec.add(r, proactive.Decision{Outcome: proactive.OutcomeHeld, Reason: proactive.ReasonPaused, HoldUntil: expires}, uuid.Nil)
				}
				continue
			case err != nil:
				return err
			}
			facts := b.facts(eu, now).For(content)
			facts.Awaited = r.EnrollmentID != uuid.Nil && r.Step == 0
			d := proactive.Decide(b.policy, facts, now, r.NotBefore, r.ScheduledAt)
			if d.Outcome != proactive.OutcomeSent {
				dec.add(r, d, uuid.Nil)
				continue
			}
			b.sent(eu) // caps count this send for the rest of the batch (the person's)
			b.sentOcc[pair{r.OccurrenceID, r.EndUserID}] = true
			id := proactive.MessageID(r.OccurrenceID, eu.ID)
			dec.add(r, d, id)
			conv.need(eu)
			sends = append(sends, pendingSend{req: req, eu: eu, content: content, id: id})
		}
		convs, err := conv.upsert(ctx, q, c)
		if err != nil {
			return err
		}
		var mem map[uuid.UUID]json.RawMessage
		for _, s := range sends {
			if usesMemory(s.content) {
				if mem, err = b.memories(ctx, q); err != nil {
					return err
				}
				break
			}
		}
		msgs := db.InsertNudgeMessagesParams{CreatorID: c}
		for _, s := range sends {
			convID := convs[convKey{s.eu.ID, s.eu.Channel}]
			vars := proactive.VarsFor(s.eu, b.creator.Name, mem[s.eu.ID])
			tpl := templateFor(s.content, s.eu, vars)
			if s.content.Kind == proactive.ContentAI {
				p, err := w.newPublication(c, events.ComposeSubject(c), "compose:"+s.id.String(), events.NudgeCompose{
					MessageID: s.id, ConversationID: convID, EndUserID: s.eu.ID, Channel: s.eu.Channel, OccurrenceID: s.req.r.OccurrenceID,
					Brief: s.content.Brief, Fallback: proactive.Render(s.content.Fallback, vars), Template: tpl}, s.req.cause)
				if err != nil {
					return err
				}
				pubs = append(pubs, p)
				continue
			}
			msgs.Ids = append(msgs.Ids, s.id)
			msgs.ConversationIds = append(msgs.ConversationIds, convID)
			msgs.Bodies = append(msgs.Bodies, proactive.Render(s.content.Text, vars))
			msgs.Channels = append(msgs.Channels, s.eu.Channel)
			stored, _ := json.Marshal(tpl) // JSON null for none: the column stays NULL
			msgs.Templates = append(msgs.Templates, stored)
			p, err := w.newPublication(c, events.OutboundSubject(c, s.eu.Channel), "out:"+s.id.String(), events.MessageOutbound{
				MessageID: s.id, ConversationID: convID, EndUserID: s.eu.ID, Channel: s.eu.Channel}, s.req.cause)
			if err != nil {
				return err
			}
			pubs = append(pubs, p)
		}
		if len(msgs.Ids) > 0 {
			if err := q.InsertNudgeMessages(ctx, msgs); err != nil {
				return err
			}
		}
		recorded = dec.p
		if len(dec.p.OccurrenceIds) > 0 {
			dec.p.CreatorID, dec.p.DecidedAt = c, now
			return q.RecordNudgeDecisions(ctx, dec.p)
		}
		return nil
	})
	if err == nil {
		for i, outcome := range recorded.Statuses {
			w.Metrics.Decision(outcome, recorded.Reasons[i])
		}
	}
	return pubs, err
}

// again returns the publication of a recipient already sent: its message, or, for an AI nudge
// not written yet, the request to write it.
func (w *Worker) again(ctx context.Context, q *db.Queries, c uuid.UUID, req *request, eu db.EndUser, id uuid.UUID, b *batchState) ([]bus.Outgoing, error) {
	m, err := q.GetMessage(ctx, id)
	if err == nil {
		p, err := w.newPublication(c, events.OutboundSubject(c, m.Channel), "out:"+m.ID.String(), events.MessageOutbound{
			MessageID: m.ID, ConversationID: m.ConversationID, EndUserID: eu.ID, Channel: m.Channel}, req.cause)
		return []bus.Outgoing{p}, err
	}
	if !db.IsNotFound(err) {
		return nil, err
	}
	content, err := b.content(ctx, q, req.r)
	if err != nil || content.Kind != proactive.ContentAI {
		return nil, nil // stopped since, or not an AI nudge: nothing to repair
	}
	conv, err := q.NudgeConversation(ctx, db.NudgeConversationParams{ID: uuid.Must(uuid.NewV7()), CreatorID: c, EndUserID: eu.ID,
		Channel: eu.Channel, ChannelID: eu.ChannelID})
	if err != nil {
		return nil, err
	}
	mem, _ := memoryOf(ctx, q, eu.ID)
	vars := proactive.VarsFor(eu, b.creator.Name, mem)
	p, err := w.newPublication(c, events.ComposeSubject(c), "compose:"+id.String(), events.NudgeCompose{
		MessageID: id, ConversationID: conv.ID, EndUserID: eu.ID, Channel: eu.Channel, OccurrenceID: req.r.OccurrenceID,
		Brief: content.Brief, Fallback: proactive.Render(content.Fallback, vars), Template: templateFor(content, eu, vars)}, req.cause)
	return []bus.Outgoing{p}, err
}

type pair struct{ occurrence, endUser uuid.UUID }

type convKey struct {
	endUser uuid.UUID
	channel string
}

// batchState is what one transaction read about a batch: the people (locked: the recipients and
// every end user linked with them), their recorded decisions and facts (caps and the last
// message are per person: sentDay, sentWeek and lastUser are keyed by person id), the
// creator's policy, and campaign contents.
type batchState struct {
	creator   db.GetCreatorPolicyRow
	policy    proactive.Policy
	users     map[uuid.UUID]db.EndUser
	prev      map[pair]db.NudgeDelivery
	lastUser  map[uuid.UUID]time.Time
	sentDay   map[uuid.UUID]int
	sentWeek  map[uuid.UUID]int
	templates map[uuid.UUID]bool // WhatsApp channel → has an approved template
	campaigns map[uuid.UUID]contentResult
	steps     map[uuid.UUID]contentResult // enrollment → its step's content
	ids       []uuid.UUID
	mem       map[uuid.UUID]json.RawMessage
	// sentOcc: the (occurrence, end user) pairs this batch decided to send.
	sentOcc map[pair]bool
}

type contentResult struct {
	c   proactive.Content
	err error
}

func (w *Worker) loadBatch(ctx context.Context, q *db.Queries, c uuid.UUID, reqs []*request, now time.Time) (*batchState, error) {
	b := &batchState{users: map[uuid.UUID]db.EndUser{}, prev: map[pair]db.NudgeDelivery{}, lastUser: map[uuid.UUID]time.Time{},
		sentDay: map[uuid.UUID]int{}, sentWeek: map[uuid.UUID]int{}, templates: map[uuid.UUID]bool{},
		campaigns: map[uuid.UUID]contentResult{}, steps: map[uuid.UUID]contentResult{}, sentOcc: map[pair]bool{}}
	var err error
	if b.creator, err = q.GetCreatorPolicy(ctx, c); err != nil {
		return nil, err
	}
	b.policy = w.Platform.PolicyFor(b.creator)
	occ := make([]uuid.UUID, 0, len(reqs))
	who := make([]uuid.UUID, 0, len(reqs))
	for _, r := range reqs {
		occ = append(occ, r.r.OccurrenceID)
		who = append(who, r.r.EndUserID)
	}
	ids := slices.Clone(who)
	slices.SortFunc(ids, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
	ids = slices.Compact(ids)
	users, err := q.LockEndUsers(ctx, ids)
	if err != nil {
		return nil, err
	}
	dayStarts := make([]time.Time, 0, len(users))
	for _, eu := range users {
		b.users[eu.ID] = eu
		b.ids = append(b.ids, eu.ID)
		dayStarts = append(dayStarts, proactive.DayStart(now.In(proactive.Zone(eu, b.creator))))
		if eu.Channel == events.ChannelWhatsApp && eu.ChannelID.Valid {
			if _, ok := b.templates[eu.ChannelID.UUID]; !ok {
				has, err := hasTemplate(ctx, q, eu.ChannelID.UUID)
				if err != nil {
					return nil, err
				}
				b.templates[eu.ChannelID.UUID] = has
			}
		}
	}
	if len(b.ids) == 0 {
		return b, nil
	}
	// A campaign's decisions for the recipients' linked end users too (one message per person).
	for _, r := range reqs {
		eu, ok := b.users[r.r.EndUserID]
		if !ok || r.r.CampaignID == uuid.Nil {
			continue
		}
		for _, o := range b.users {
			if o.PersonID == eu.PersonID && o.ID != eu.ID {
				occ, who = append(occ, r.r.OccurrenceID), append(who, o.ID)
			}
		}
	}
	prev, err := q.GetNudgeDeliveries(ctx, db.GetNudgeDeliveriesParams{OccurrenceIds: occ, EndUserIds: who})
	if err != nil {
		return nil, err
	}
	for _, p := range prev {
		b.prev[pair{p.OccurrenceID, p.EndUserID}] = p
	}
	facts, err := q.NudgeFacts(ctx, db.NudgeFactsParams{Ids: b.ids, DayStarts: dayStarts, WeekStart: now.Add(-7 * 24 * time.Hour)})
	if err != nil {
		return nil, err
	}
	for _, f := range facts {
		// The facts are the person's (every end user linked into it): kept by person.
		p := b.users[f.EndUserID].PersonID
		if f.LastUserAt.Unix() > 0 {
			b.lastUser[p] = f.LastUserAt
		}
		b.sentDay[p], b.sentWeek[p] = int(f.SentDay), int(f.SentWeek)
	}
	return b, nil
}

// hasTemplate reports whether a WhatsApp channel exists and has an approved template; a channel
// that is gone counts as none (the person is then skipped: no channel).
func hasTemplate(ctx context.Context, q *db.Queries, id uuid.UUID) (bool, error) {
	ch, err := q.GetChannel(ctx, id)
	if db.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return proactive.ChannelHasTemplate(ch.Config), nil
}

// facts is what the policy knows about eu, from the batch's reads.
func (b *batchState) facts(eu db.EndUser, now time.Time) proactive.Recipient {
	r := proactive.Recipient{Zone: proactive.Zone(eu, b.creator), Channel: eu.Channel, OptedOut: eu.OptedOutAt != nil, LastInboundAt: eu.LastInboundAt,
		SentDay: b.sentDay[eu.PersonID], SentWeek: b.sentWeek[eu.PersonID]}
	if last, ok := b.lastUser[eu.PersonID]; ok && (r.LastInboundAt == nil || last.After(*r.LastInboundAt)) {
		r.LastInboundAt = &last
	}
	switch eu.Channel {
	case events.ChannelWidget, events.ChannelApp: // coachwire's own: no provider account
		r.HasChannel = true
	default:
		r.HasChannel = eu.ChannelID.Valid && (eu.ChatID != "" || eu.ProviderUserID != "")
		if r.HasChannel && eu.Channel == events.ChannelWhatsApp {
			has, ok := b.templates[eu.ChannelID.UUID]
			r.HasChannel = ok
			r.HasTemplate = has
		}
	}
	return r
}

// sentToPerson reports whether occurrence occ went to another end user of eu's person: decided
// sent before (a recorded decision) or in this batch.
func (b *batchState) sentToPerson(occ uuid.UUID, eu db.EndUser) bool {
	for _, o := range b.users {
		if o.PersonID != eu.PersonID || o.ID == eu.ID {
			continue
		}
		if b.sentOcc[pair{occ, o.ID}] {
			return true
		}
		if p, ok := b.prev[pair{occ, o.ID}]; ok && p.Status == proactive.OutcomeSent {
			return true
		}
	}
	return false
}

func (b *batchState) sent(eu db.EndUser) {
	b.sentDay[eu.PersonID]++
	b.sentWeek[eu.PersonID]++
}

// route is the end user a program step for eu goes to: of the end users linked into eu's
// person (internal/people; LockEndUsers read them all), the one seen last that can be reached
// (a channel to send on), eu itself when no other can or it is alone.
func (b *batchState) route(eu db.EndUser, now time.Time) db.EndUser {
	best := eu
	for _, o := range b.users {
		if o.PersonID != eu.PersonID || o.ID == eu.ID || !o.LastSeenAt.After(best.LastSeenAt) {
			continue
		}
		if b.facts(o, now).HasChannel {
			best = o
		}
	}
	return best
}

// content is r's content, read once per campaign (or enrollment) per batch.
func (b *batchState) content(ctx context.Context, q *db.Queries, r proactive.RecipientEvent) (proactive.Content, error) {
	m, key := b.campaigns, r.CampaignID
	if r.CampaignID == uuid.Nil {
		m, key = b.steps, proactive.ProgramOccurrence(r.EnrollmentID, r.Step)
	}
	if cr, ok := m[key]; ok {
		return cr.c, cr.err
	}
	c, err := contentOf(ctx, q, r)
	m[key] = contentResult{c, err}
	return c, err
}

func (b *batchState) memories(ctx context.Context, q *db.Queries) (map[uuid.UUID]json.RawMessage, error) {
	if b.mem != nil {
		return b.mem, nil
	}
	rows, err := q.MemoriesOf(ctx, b.ids)
	if err != nil {
		return nil, err
	}
	b.mem = make(map[uuid.UUID]json.RawMessage, len(rows))
	for _, r := range rows {
		b.mem[r.EndUserID] = r.Profile
	}
	return b.mem, nil
}

// decisions collects a batch's decision rows as the columns of RecordNudgeDecisions.
type decisions struct{ p db.RecordNudgeDecisionsParams }

func (d *decisions) add(r proactive.RecipientEvent, dec proactive.Decision, msg uuid.UUID) {
	p := &d.p
	p.OccurrenceIds = append(p.OccurrenceIds, r.OccurrenceID)
	p.EndUserIds = append(p.EndUserIds, r.EndUserID)
	p.CampaignIds = append(p.CampaignIds, r.CampaignID)
	p.EnrollmentIds = append(p.EnrollmentIds, r.EnrollmentID)
	p.Statuses = append(p.Statuses, dec.Outcome)
	p.Reasons = append(p.Reasons, dec.Reason)
	p.Modes = append(p.Modes, dec.Mode)
	var hold time.Time
	if dec.Outcome == proactive.OutcomeHeld {
		hold = dec.HoldUntil
	}
	p.HoldUntils = append(p.HoldUntils, hold)
	p.MessageIds = append(p.MessageIds, msg)
	p.DueAts = append(p.DueAts, proactive.LaterOf(r.ScheduledAt, r.NotBefore))
	p.Steps = append(p.Steps, int32(r.Step))
}

// conversations collects the (person, channel) pairs that need a conversation.
type conversations struct{ want map[convKey]db.EndUser }

func (cs *conversations) need(eu db.EndUser) { cs.want[convKey{eu.ID, eu.Channel}] = eu }

func (cs *conversations) upsert(ctx context.Context, q *db.Queries, c uuid.UUID) (map[convKey]uuid.UUID, error) {
	out := make(map[convKey]uuid.UUID, len(cs.want))
	if len(cs.want) == 0 {
		return out, nil
	}
	p := db.UpsertNudgeConversationsParams{CreatorID: c}
	for k, eu := range cs.want {
		p.Ids = append(p.Ids, uuid.Must(uuid.NewV7()))
		p.EndUserIds = append(p.EndUserIds, k.endUser)
		p.Channels = append(p.Channels, k.channel)
		p.ChannelIds = append(p.ChannelIds, eu.ChannelID.UUID)
	}
	rows, err := q.UpsertNudgeConversations(ctx, p)
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		out[convKey{r.EndUserID, r.Channel}] = r.ID
	}
	return out, nil
}

// templateFor is the rendered template a WhatsApp message of content carries (nil when it has
// none: dispatch then falls back to the channel's template).
func templateFor(content proactive.Content, eu db.EndUser, vars map[string]string) *events.MessageTemplate {
	if content.Template == nil || eu.Channel != events.ChannelWhatsApp {
		return nil
	}
	t := content.Template.Rendered(vars)
	return &t
}
