package dispatch

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/channels"
)

// Telegram streaming: while generate streams a reply to a Telegram private chat, the dispatch
// replica that received the turn's typing request (queue group "dispatch": exactly one replica
// per turn) owns the conversation's drafts. Every replica subscribes to the live deltas
// (cw.*.live.*, not a queue group: a queue group would split one turn's deltas between
// replicas), but only the owner accumulates them; a ticker sends the accumulated text with
// sendMessageDraft at most once per second per chat, taking tokens from the same per-chat and
// per-bot buckets as messages, and never waiting for one. The turn ends when generate reports
// the stored reply (activity "message"), when dispatch sends it, on a takeover, or when the
// deltas stop. Chats where drafts fail (not private, not supported) fall back to the final
// message alone.

const (
	draftTick     = 250 * time.Millisecond
	draftIdle     = 30 * time.Second // a turn without deltas for this long is forgotten
	draftOwnerTTL = 6 * time.Minute  // longer than generate's maxTurn
	draftOffTTL   = time.Hour        // a chat that refused a draft is not tried again for this long
	draftTimeout  = 5 * time.Second
)

type draftConv struct {
	creator uuid.UUID
	since   time.Time
	acct    *account // nil until handleTyping resolved the channel; then a Telegram private chat
	chat    int64
	skip    bool // resolved, and drafts are not possible (not a private chat, drafts off)
}

type draftTurn struct {
	conv     uuid.UUID
	text     strings.Builder
	dirty    bool
	last     time.Time
	flushing chan struct{} // closed when the draft in flight returns; nil when none
	drafts   int
}

type drafter struct {
	mu    sync.Mutex
	convs map[uuid.UUID]*draftConv
	turns map[uuid.UUID]*draftTurn
	off   map[string]time.Time
}

func newDrafter() *drafter {
	return &drafter{convs: map[uuid.UUID]*draftConv{}, turns: map[uuid.UUID]*draftTurn{}, off: map[string]time.Time{}}
}

// draftID derives a stable, positive Bot API draft id from the turn (the reply's message id).
func draftID(turn uuid.UUID) int64 {
	id := int64(binary.BigEndian.Uint64(turn[8:]) >> 1)
	if id == 0 {
		id = 1
	}
	return id
}

// own makes this replica the drafts owner of a conversation (called synchronously on the
// typing request, before its first delta can be handled).
func (d *drafter) own(creator, conv uuid.UUID) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, t := range d.turns { // a new turn: forget an unfinished earlier one
		if t.conv == conv {
			delete(d.turns, id)
		}
	}
	d.convs[conv] = &draftConv{creator: creator, since: time.Now()}
}

// resolve records where the conversation's drafts go; a nil account disables them.
func (d *drafter) resolve(conv uuid.UUID, a *account, chat int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, ok := d.convs[conv]
	if !ok {
		return
	}
	if a == nil || chat <= 0 || d.isOff(offKey(a, chat), time.Now()) {
		c.skip = true
		return
	}
	c.acct, c.chat = a, chat
}

func offKey(a *account, chat int64) string { return a.id.String() + "/" + strconv.FormatInt(chat, 10) }

func (d *drafter) isOff(key string, now time.Time) bool {
	until, ok := d.off[key]
	if ok && now.After(until) {
		delete(d.off, key)
		return false
	}
	return ok
}

// delta applies a live frame of a conversation this replica owns.
func (d *drafter) delta(conv uuid.UUID, data []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, ok := d.convs[conv]
	if !ok || c.skip {
		return
	}
	var l events.Live
	if json.Unmarshal(data, &l) != nil || l.Kind != "delta" || l.Turn == uuid.Nil {
		return
	}
	t, ok := d.turns[l.Turn]
	if !ok {
		if !l.Reset {
			return // joined mid-turn: the beginning is missing, no drafts for this turn
		}
		t = &draftTurn{conv: conv}
		d.turns[l.Turn] = t
	}
	if l.Reset {
		t.text.Reset()
	}
	t.text.WriteString(l.Text)
	t.dirty, t.last = true, time.Now()
}

// finish ends a turn (its reply is stored or being sent) and waits for a draft in flight, so
// that the final message is never overtaken by a draft of the same turn.
func (d *drafter) finish(ctx context.Context, turn uuid.UUID) {
	d.mu.Lock()
	t, ok := d.turns[turn]
	if ok {
		delete(d.turns, turn)
	}
	var wait chan struct{}
	if ok {
		wait = t.flushing
	}
	d.mu.Unlock()
	if wait != nil {
		select {
		case <-wait:
		case <-ctx.Done():
		}
	}
}

// drop forgets a conversation and its turns (taken over, closed).
func (d *drafter) drop(conv uuid.UUID) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.convs, conv)
	for id, t := range d.turns {
		if t.conv == conv {
			delete(d.turns, id)
		}
	}
}

type draftJob struct {
	turn uuid.UUID
	a    *account
	chat int64
	text string
	done chan struct{}
}

// due collects the drafts to send now and forgets stale state.
func (d *drafter) due(now time.Time) []draftJob {
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, c := range d.convs {
		if now.Sub(c.since) > draftOwnerTTL {
			delete(d.convs, id)
		}
	}
	var jobs []draftJob
	for id, t := range d.turns {
		c, ok := d.convs[t.conv]
		if !ok || c.skip || now.Sub(t.last) > draftIdle {
			delete(d.turns, id)
			continue
		}
		if !t.dirty || t.flushing != nil || c.acct == nil {
			continue
		}
		text := strings.TrimSpace(t.text.String())
		if text == "" {
			continue
		}
		if r := []rune(text); len(r) > channels.MaxTextRunes {
			text = string(r[:channels.MaxTextRunes])
		}
		t.flushing = make(chan struct{})
		jobs = append(jobs, draftJob{turn: id, a: c.acct, chat: c.chat, text: text, done: t.flushing})
	}
	return jobs
}

// flushed records the outcome of a draft job.
func (d *drafter) flushed(j draftJob, sent, disable bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	close(j.done)
	t, ok := d.turns[j.turn]
	if ok {
		t.flushing = nil
		if sent {
			t.drafts++
			// Still dirty when deltas arrived during the call.
			t.dirty = strings.TrimSpace(t.text.String()) != j.text && len([]rune(j.text)) < channels.MaxTextRunes
		}
	}
	if disable {
		d.off[offKey(j.a, j.chat)] = time.Now().Add(draftOffTTL)
		if ok {
			if c, cok := d.convs[t.conv]; cok {
				c.skip = true
			}
			delete(d.turns, j.turn)
		}
	}
}

// registerDrafts subscribes to live deltas and creator activity and starts the draft ticker.
// Like the subscriptions, the ticker lives as long as the NATS connection (Register's context
// only bounds start-up).
func (w *Worker) registerDrafts() error {
	w.drafts = newDrafter()
	if _, err := w.Bus.ListenFunc(events.AnyCreator(events.StageLive, "*"), "", func(m *nats.Msg) {
		i := strings.LastIndexByte(m.Subject, '.')
		conv, err := uuid.Parse(m.Subject[i+1:])
		if err != nil {
			return
		}
		w.drafts.delta(conv, m.Data)
	}); err != nil {
		return err
	}
	if _, err := w.Bus.ListenFunc(events.AnyCreator(events.StageActivity), "", func(m *nats.Msg) {
		var a events.Activity
		if json.Unmarshal(m.Data, &a) != nil || a.Channel != events.ChannelTelegram {
			return
		}
		switch {
		case a.Kind == "message" && a.Role == "assistant" && a.MessageID != uuid.Nil:
			// Generate stored the reply: the final message follows, no more drafts.
			go w.drafts.finish(context.Background(), a.MessageID)
		case a.Kind == "conversation" && a.Status != "bot":
			w.drafts.drop(a.ConversationID)
		}
	}); err != nil {
		return err
	}
	go func() {
		tick := time.NewTicker(draftTick)
		defer tick.Stop()
		for now := range tick.C {
			if w.Bus.Closed() {
				return
			}
			for _, j := range w.drafts.due(now) {
				go w.sendDraft(j)
			}
		}
	}()
	return nil
}

// sendDraft sends one draft if the chat's and bot's buckets have a token now; a rate limit
// skips this tick, any other refusal turns drafts off for the chat.
func (w *Worker) sendDraft(j draftJob) {
	recipient := strconv.FormatInt(j.chat, 10)
	slots := w.slots(j.a, recipient)
	ctx, cancel := context.WithTimeout(context.Background(), draftTimeout)
	defer cancel()
	if !w.lim.allow(ctx, slots) {
		w.drafts.flushed(j, false, false)
		return
	}
	err := j.a.tg.SendMessageDraft(ctx, j.chat, draftID(j.turn), j.text)
	if err == nil {
		w.drafts.flushed(j, true, false)
		return
	}
	switch channels.ClassOf(err) {
	case channels.RateLimited:
		if wait := channels.RetryAfterOf(err); wait > 0 {
			// Drafts are optional: a draft's 429 pauses that chat's drafts and sends only,
			// never every chat of the bot.
			w.lim.block(ctx, slots[:1], slots[0].scope, time.Now().Add(wait))
		}
		w.drafts.flushed(j, false, false)
	case channels.Retryable:
		w.drafts.flushed(j, false, false)
	default:
		w.Log.DebugContext(ctx, "telegram drafts unavailable for chat, final message only", "channel_id", j.a.id, "err", err)
		w.drafts.flushed(j, false, true)
	}
}
