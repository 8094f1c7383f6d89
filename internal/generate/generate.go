// Package generate is the generate worker: for a requested turn it builds the prompt (persona,
// fenced passages, history, within a token budget), streams the chat model's reply to the
// widget live, stores the reply with its sources and hands it to dispatch. One turn per
// conversation runs at a time (a lease in Postgres), and a reply is stored at most once.
// It never sends anything to an end user itself.
package generate

import (
	"cmp"
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

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/bus"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/ids"
	"github.com/coachwire/coachwire/internal/llm"
	"github.com/coachwire/coachwire/internal/memory"
	"github.com/coachwire/coachwire/internal/ops"
)

// Chatter streams a chat completion.
type Chatter interface {
	Chat(ctx context.Context, model string, msgs []llm.Message, onDelta func(string) error) (string, error)
}

// Worker is the generate target.
type Worker struct {
	Store *db.Store
	Bus   *bus.Bus
	// LLM is nil in passages mode (or llm.Optional: the mode may change; see llm.Usable).
	LLM           Chatter
	Model         string
	ContextTokens int
	Tokens        TokenCounter
	// Lease bounds how long one turn may hold a conversation; a crashed worker's turn is taken
	// over after it. It is also the consumer's AckWait.
	Lease    time.Duration
	Parallel int
	Log      *slog.Logger
	Now      func() time.Time
	// Metrics records the turn's latencies (nil: none).
	Metrics *ops.Turn
}

// StatusTruncated is the status of a stored reply the model stopped at the reply budget
// (Ollama's done_reason "length").
const StatusTruncated = "truncated"

// errBusy means another turn of the same conversation is running; the message is retried later.
var errBusy = errors.New("generate: conversation busy with another turn")

// errDropped rolls back a reply the creator's takeover came before.
var errDropped = errors.New("generate: conversation taken over: reply dropped")

const historyTurns = 20

// maxTurn bounds one turn, streaming included.
const maxTurn = 5 * time.Minute

// Register adds the worker's handler to the router.
func (w *Worker) Register(ctx context.Context, r *bus.Router) error {
	return r.Handle(ctx, events.ConsumerGenerate, bus.ConsumerSpec{
		Stream: events.StreamGenerate, Durable: events.ConsumerGenerate, Filter: events.AnyCreator(events.StageGenerate),
		AckWait: w.Lease, MaxDeliver: 10, Parallel: w.Parallel, KeepAlive: true,
	}, w.handle)
}

func (w *Worker) handle(msg *message.Message) error {
	ev, err := bus.Decode[events.TurnRequested](msg)
	if err != nil {
		return err
	}
	// A turn may stream for longer than AckWait: the consumer keeps it alive (KeepAlive) and
	// the conversation lease is renewed while deltas flow. maxTurn bounds a turn that hangs.
	ctx, cancel := context.WithTimeout(msg.Context(), maxTurn)
	defer cancel()
	c, turn := ev.CreatorID, ev.Data
	log := w.Log.With("creator_id", c, "correlation_id", ev.CorrelationID, "conversation_id", turn.ConversationID)

	owner := uuid.New()
	released := false
	defer func() {
		if released {
			return
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = w.Store.InTenant(rctx, c, func(q *db.Queries) error {
			return q.ReleaseTurnLease(rctx, db.ReleaseTurnLeaseParams{ID: turn.ConversationID, Owner: uuid.NullUUID{UUID: owner, Valid: true}})
		})
	}()

	var (
		trigger  db.Message
		answered *db.Message
		pending  []db.Message
		recent   []db.Message
		creator  db.Creator
		conv     db.Conversation
		profile  memory.Profile
	)
	// One transaction takes the lease and reads what the turn needs; it commits before the model
	// is asked, so the lease is visible to every replica while the reply is written.
	err = w.Store.InTenant(ctx, c, func(q *db.Queries) error {
		var err error
		if conv, err = acquire(ctx, q, turn.ConversationID, owner, w.Lease); err != nil {
			return err
		}
		// The trigger; every user message nothing answers yet, the trigger and any that came
		// after it (a fixed answer or a proactive message in between answers none of them); the
		// history; the profile; the creator: one round trip (db.TurnReads). The history's
		// limit assumes one pending message, as is usual; more read it again.
		rd, err := q.TurnReads(ctx, db.TurnReadsParams{MessageID: turn.MessageID, ConversationID: conv.ID, AnsweredSeq: conv.AnsweredSeq,
			EndUserID: conv.EndUserID, CreatorID: c, RecentLimit: historyTurns + 1})
		if err != nil {
			return err
		}
		trigger, pending, recent, creator = rd.Trigger, rd.Pending, rd.Recent, rd.Creator
		if trigger.AnsweredBy.Valid {
			r, err := q.GetMessage(ctx, trigger.AnsweredBy.UUID)
			answered = &r
			return err
		}
		if len(pending) > 1 {
			if recent, err = q.RecentMessages(ctx, db.RecentMessagesParams{ConversationID: conv.ID, Limit: historyTurns + int32(len(pending))}); err != nil {
				return err
			}
		}
		if rd.Memory != nil {
			profile = memory.Parse(rd.Memory.Profile)
		}
		return nil
	})
	if err != nil {
		released = true // the transaction that took the lease rolled back
		if db.IsNotFound(err) {
			return bus.Permanent(fmt.Errorf("generate: turn %s: %w", turn.MessageID, err))
		}
		return err
	}
	if answered != nil {
		// Folded into an earlier turn, or a redelivery after the reply was stored: make sure the
		// reply reached dispatch (deduplicated by its id) and stop.
		log.DebugContext(ctx, "turn already answered", "message_id", turn.MessageID, "reply_id", answered.ID)
		return w.publishOutbound(ctx, &ev.Envelope, *answered, conv)
	}
	if conv.Status != "bot" {
		log.InfoContext(ctx, "conversation taken over by the creator: no bot reply")
		return nil
	}
	if len(pending) == 0 {
		return nil
	}
	last := pending[len(pending)-1]
	replyID := ids.Reply(last.ID)

	history := make([]llm.Message, 0, len(recent))
	texts := make([]string, 0, len(pending))
	for _, m := range recent {
		if m.Seq >= pending[0].Seq {
			continue
		}
		role := "assistant"
		if m.Role == "user" {
			role = "user"
		}
		history = append(history, llm.Message{Role: role, Content: m.Body})
	}
	for _, m := range pending {
		texts = append(texts, m.Body)
	}
	prompt := BuildPrompt(creator.Persona, profile.Render(), turn.Passages, history, texts, w.ContextTokens, w.Tokens)
	if prompt.Query = turn.Query; prompt.Query == "" {
		prompt.Query = strings.Join(texts, "\n")
	} else {
		prompt.Expansions = turn.Expansions // the words the search used for this query's words
	}
	noSearch := turn.SearchMode == events.SearchUnavailable
	if noSearch {
		prompt.KnowledgeUnavailable()
	}

	live := events.LiveSubject(c, conv.ID)
	w.publishLive(live, events.Live{Kind: "typing"})
	w.publishTyping(c, conv, last)
	var firstToken time.Duration // message → first token, for the analytics rollup
	text, status, cited, err := w.compose(ctx, c, conv.ID, owner, live, replyID, prompt, noSearch, last.CreatedAt, &firstToken)
	if err != nil {
		return err
	}

	sources, _ := json.Marshal(sourcesOf(cited))
	var (
		reply   db.Message
		dropped bool
	)
	// The analytics rollup's row of this turn (migration 0017) gets the first-token time.
	var ftMs *int64
	if firstToken > 0 {
		v := firstToken.Milliseconds()
		ftMs = &v
	}
	// The reply records the messages it was built from as answered (and only those).
	covers := make([]uuid.UUID, len(pending))
	for i, m := range pending {
		covers[i] = m.ID
	}
	err = w.Store.InTenant(ctx, c, func(q *db.Queries) error {
		// A takeover commits on the conversation row: locked here first, either it came first
		// and the bot's reply is dropped (everything after the lock is rolled back), or the reply
		// is stored before the takeover and sent. The reply, its timing, the answer floor and
		// the end of the lease commit together; the four statements go in one round trip.
		var (
			cur                    db.Conversation
			r                      db.InsertReplyRow
			lerr, ierr, terr, ferr error
		)
		if err := q.Pipeline(ctx, func(q *db.Queries) error {
			cur, lerr = q.LockConversation(ctx, conv.ID)
			r, ierr = q.InsertReply(ctx, db.InsertReplyParams{
				ID: replyID, CreatorID: c, ConversationID: conv.ID, Body: text, Sources: sources,
				ReplyTo: uuid.NullUUID{UUID: last.ID, Valid: true}, Channel: conv.Channel, Status: status, Covers: covers,
			})
			terr = q.RecordTurnTiming(ctx, db.RecordTurnTimingParams{ReplyID: replyID, FirstTokenMs: ftMs, Mode: w.mode()})
			ferr = q.FinishTurn(ctx, db.FinishTurnParams{ID: conv.ID, AnsweredSeq: last.Seq, Owner: uuid.NullUUID{UUID: owner, Valid: true}})
			return nil
		}); err != nil {
			return err
		}
		if lerr != nil {
			return lerr
		}
		if cur.Status != "bot" {
			return errDropped
		}
		reply = db.Message(r)
		if db.IsNotFound(ierr) { // stored by an earlier attempt
			reply, ierr = q.GetMessage(ctx, replyID)
		}
		return cmp.Or(ierr, terr, ferr)
	})
	if errors.Is(err, errDropped) {
		dropped, err = true, nil
	}
	if err != nil {
		return err
	}
	released = !dropped
	if dropped {
		log.InfoContext(ctx, "conversation taken over during generation: bot reply dropped")
		return nil
	}
	w.activity(c, events.Activity{Kind: "message", ConversationID: conv.ID, Channel: conv.Channel, MessageID: reply.ID,
		Seq: reply.Seq, Role: reply.Role, Text: reply.Body, Status: reply.Status})
	w.Metrics.Reply(w.mode(), status, time.Since(last.CreatedAt))
	log.InfoContext(ctx, "reply stored", "reply_id", reply.ID, "covers", len(pending), "passages", len(prompt.Used), "search_mode", turn.SearchMode, "status", status)
	return w.publishOutbound(ctx, &ev.Envelope, reply, conv)
}

// mode is the turn metrics' mode label: ollama with a chat model, else passages.
func (w *Worker) mode() string {
	if !llm.Usable(w.LLM) {
		return "passages"
	}
	return "ollama"
}

// lease takes (or renews) the conversation's turn lease or reports errBusy.
func (w *Worker) lease(ctx context.Context, c, conv, owner uuid.UUID) error {
	return w.Store.InTenant(ctx, c, func(q *db.Queries) error {
		_, err := acquire(ctx, q, conv, owner, w.Lease)
		return err
	})
}

// acquire takes the conversation's turn lease (errBusy: another turn holds it) and returns the
// conversation.
func acquire(ctx context.Context, q *db.Queries, conv, owner uuid.UUID, lease time.Duration) (db.Conversation, error) {
	c, err := q.AcquireTurnLease(ctx, db.AcquireTurnLeaseParams{
		ID: conv, Owner: uuid.NullUUID{UUID: owner, Valid: true}, LeaseSeconds: lease.Seconds(),
	})
	if db.IsNotFound(err) {
		return c, errBusy
	}
	return c, err
}

// compose produces the reply text and its sources (the [n] of the text is the n-th source):
// streamed from the model (the sources are the passages it was given), or the passages answer
// without one (the sources are the passages it quotes). A model failure ends in an honest
// message plus the passages that answer, never in silence. noSearch: the knowledge base could
// not be searched; the passages answer says so (status search_unavailable) and the model was
// told so in its prompt.
func (w *Worker) compose(ctx context.Context, c, conv, owner uuid.UUID, live string, replyID uuid.UUID, p Prompt, noSearch bool, asked time.Time, firstToken *time.Duration) (string, string, []events.Passage, error) {
	if !llm.Usable(w.LLM) {
		defer func() { *firstToken = time.Since(asked); w.Metrics.FirstToken(w.mode(), *firstToken) }()
		text, cited := PassagesAnswerWith(p.Query, p.Expansions, p.Used)
		status := "generated"
		if noSearch {
			text, cited, status = SearchUnavailableAnswer, nil, "search_unavailable"
		}
		w.publishLive(live, events.Live{Kind: "delta", Turn: replyID, Text: text, Reset: true})
		return text, status, cited, nil
	}
	first := true
	var mu sync.Mutex
	renewEvery := w.Lease / 3
	lastRenew := time.Now()
	var usage llm.Usage
	cctx := llm.WithWork(ctx, llm.Work{Class: llm.Live, Creator: c, Usage: &usage})
	text, err := w.LLM.Chat(cctx, w.Model, p.Messages, func(delta string) error {
		mu.Lock()
		reset := first
		first = false
		mu.Unlock()
		if reset {
			*firstToken = time.Since(asked)
			w.Metrics.FirstToken(w.mode(), *firstToken)
		}
		w.publishLive(live, events.Live{Kind: "delta", Turn: replyID, Text: delta, Reset: reset})
		if time.Since(lastRenew) > renewEvery {
			lastRenew = time.Now()
			return w.lease(ctx, c, conv, owner)
		}
		return nil
	})
	if err == nil {
		if usage.Truncated() {
			// The reply reached the reply budget (COACHWIRE_REPLY_TOKENS): it is sent as it is,
			// marked so the creator and the operator can tell.
			w.Log.WarnContext(ctx, "reply truncated at the reply budget", "creator_id", c, "conversation_id", conv, "reply_id", replyID,
				"reply_tokens", usage.ReplyTokens, "prompt_tokens", usage.PromptTokens, "backend", usage.Backend)
			return text, StatusTruncated, p.Used, nil
		}
		return text, "generated", p.Used, nil
	}
	if ctx.Err() != nil || errors.Is(err, errBusy) {
		return "", "", nil, err
	}
	w.Log.ErrorContext(ctx, "chat model failed", "creator_id", c, "conversation_id", conv, "err", err)
	// Read by end users: no machinery named (the status llm_error and the log tell the creator).
	apology := "I'm sorry, I couldn't finish my answer right now. Please try again in a moment."
	var cited []events.Passage
	if noSearch {
		apology += " " + SearchUnavailableAnswer
	} else if found, c := PassagesAnswerWith(p.Query, p.Expansions, p.Used); len(c) > 0 {
		apology += "\n\n" + found
		cited = c
	}
	w.publishLive(live, events.Live{Kind: "delta", Turn: replyID, Text: apology, Reset: true})
	return apology, "llm_error", cited, nil
}

func (w *Worker) publishOutbound(ctx context.Context, cause *events.Envelope, reply db.Message, conv db.Conversation) error {
	out := events.New(conv.CreatorID, events.MessageOutbound{
		MessageID: reply.ID, ConversationID: conv.ID, EndUserID: conv.EndUserID, Channel: conv.Channel,
	}, cause, w.Now())
	return bus.PublishEvent(ctx, w.Bus, events.OutboundSubject(conv.CreatorID, conv.Channel), "out:"+reply.ID.String(), out)
}

// publishLive sends an ephemeral frame on core NATS; losing one is harmless (the stored reply
// is replayed), so errors are only logged.
func (w *Worker) publishLive(subject string, l events.Live) {
	if err := w.Bus.NotifyJSON(subject, l); err != nil {
		w.Log.Debug("live publish failed", "subject", subject, "err", err)
	}
}

// publishTyping asks dispatch to show a typing indicator on the end user's app while the reply
// is generated (core NATS, best effort).
func (w *Worker) publishTyping(c uuid.UUID, conv db.Conversation, trigger db.Message) {
	if conv.Channel == events.ChannelWidget || !conv.ChannelID.Valid {
		return
	}
	t := events.Typing{ConversationID: conv.ID, EndUserID: conv.EndUserID, Channel: conv.Channel, ChannelID: conv.ChannelID.UUID}
	if trigger.ProviderMessageID != nil {
		t.ProviderMessageID = *trigger.ProviderMessageID
	}
	if err := w.Bus.NotifyJSON(events.TypingSubject(c, conv.Channel), t); err != nil {
		w.Log.Debug("typing publish failed", "err", err)
	}
}

// activity publishes a live update for the creator's dashboard (best effort).
func (w *Worker) activity(c uuid.UUID, a events.Activity) {
	if err := w.Bus.NotifyJSON(events.ActivitySubject(c), a); err != nil {
		w.Log.Debug("activity publish failed", "err", err)
	}
}

func sourcesOf(ps []events.Passage) []events.Passage {
	out := make([]events.Passage, 0, len(ps))
	for _, p := range ps {
		p.Text = snippet(p.Text, 240)
		out = append(out, p)
	}
	return out
}
