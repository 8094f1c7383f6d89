// Package retrieve is the retrieve worker: it records each inbound end-user message (once, by
// its deterministic id), searches the creator's knowledge for it and asks generate for a turn.
// Messages that need no model (opt-out keywords, memory commands, program keywords, media) are
// answered here with fixed text, handed to dispatch like any reply. It never calls the chat
// model and never writes outside the message's creator tenant.
package retrieve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/bus"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/ids"
	"github.com/coachwire/coachwire/internal/knowledge"
	"github.com/coachwire/coachwire/internal/llm"
	"github.com/coachwire/coachwire/internal/passages"
	"github.com/coachwire/coachwire/internal/proactive"
)

// Searcher finds passages in a creator's knowledge.
type Searcher interface {
	Search(ctx context.Context, creatorID uuid.UUID, query string, queryVector []float32, limit int) ([]knowledge.Passage, error)
}

// ExpandedSearcher is a Searcher that also tells the words it used for the query's words
// (knowledge.Store): the turn carries them so the passages-mode reply counts them.
type ExpandedSearcher interface {
	SearchExpanded(ctx context.Context, creatorID uuid.UUID, query string, queryVector []float32, limit int) ([]knowledge.Passage, *events.Expansions, error)
}

// Embedder turns queries into vectors; nil means BM25 only.
type Embedder interface {
	Embed(ctx context.Context, model string, inputs []string) ([][]float32, error)
}

// Worker is the retrieve target.
type Worker struct {
	Store      *db.Store
	Bus        *bus.Bus
	Search     Searcher
	Embedder   Embedder
	EmbedModel string
	Passages   int
	// SearchTimeout bounds the knowledge search of one message (default DefaultSearchTimeout):
	// when it cannot finish in time the turn is answered without passages, never dropped.
	SearchTimeout time.Duration
	// Memory: each message the person writes is announced to the memory extractor (off when
	// the platform's extraction is off: COACHWIRE_MEMORY_EVERY=0).
	Memory   bool
	Parallel int
	Log      *slog.Logger
	Now      func() time.Time
}

// DefaultSearchTimeout bounds one message's knowledge search (embedding included). It is well
// under the consumer's AckWait, so a frozen or unreachable Weaviate costs a turn a few seconds,
// not its answer.
const DefaultSearchTimeout = 5 * time.Second

// Register adds the worker's handlers to the router.
func (w *Worker) Register(ctx context.Context, r *bus.Router) error {
	if w.Passages == 0 {
		w.Passages = 5
	}
	if w.SearchTimeout <= 0 {
		w.SearchTimeout = DefaultSearchTimeout
	}
	return r.Handle(ctx, events.ConsumerRetrieve, bus.ConsumerSpec{
		Stream: events.StreamInbound, Durable: events.ConsumerRetrieve, Filter: events.AnyCreator(events.StageInbound, "*"),
		AckWait: 30 * time.Second, MaxDeliver: 8, Parallel: w.Parallel,
	}, w.handle)
}

func (w *Worker) handle(msg *message.Message) error {
	ev, err := bus.Decode[events.MessageReceived](msg)
	if err != nil {
		return err
	}
	ctx := msg.Context()
	var sanitized bool
	if ev.Data, sanitized = sanitizeInbound(ev.Data); sanitized {
		w.Log.WarnContext(ctx, "retrieve: inbound message carried text coachwire does not accept: stored sanitised",
			"creator_id", ev.CreatorID, "correlation_id", ev.CorrelationID)
	}
	c, in := ev.CreatorID, ev.Data
	log := w.Log.With("creator_id", c, "correlation_id", ev.CorrelationID)
	if in.ChannelID != uuid.Nil {
		return w.handleChannel(msg, ev)
	}
	if in.ProviderMessageID == "" || in.Text == "" {
		return bus.Permanent(fmt.Errorf("retrieve: %w: message without provider id or text", events.ErrMalformed))
	}
	msgID := ids.InboundMessage(c, in.Channel, in.ProviderMessageID)
	var (
		conv     db.Conversation
		inserted bool
		stored   db.Message
		answer   *db.Message
	)
	// The text's program keyword lookup, when the text can be one (answerCommand), is read
	// with the statements that store the message.
	var ahead *programLookup
	kw := ""
	if proactive.Keyword(in.Text, nil, nil) == "" && MatchCommand(in.Text) == NoCommand {
		kw = ProgramKeyword(in.Text)
	}
	err = w.Store.InTenant(ctx, c, func(q *db.Queries) error {
		insert := func(q *db.Queries, convID uuid.UUID) error {
			var err error
			stored, err = q.InsertMessage(ctx, db.InsertMessageParams{
				ID: msgID, CreatorID: c, ConversationID: convID, Role: "user", Body: in.Text,
				Sources: json.RawMessage("[]"), Channel: in.Channel,
				ProviderMessageID: &in.ProviderMessageID, Status: "received",
			})
			return err
		}
		var err error
		if in.ConversationID != uuid.Nil {
			// The conversation, the message and the keyword lookup in one round trip: a
			// conversation that is not the sender's fails the transaction, message included.
			var cerr error
			perr := q.Pipeline(ctx, func(q *db.Queries) error {
				conv, cerr = q.TouchAndGetConversation(ctx, in.ConversationID)
				err = insert(q, in.ConversationID)
				if kw != "" {
					ahead = &programLookup{}
					ahead.p, ahead.err = q.ProgramByKeyword(ctx, kw)
				}
				return nil
			})
			if perr != nil {
				return perr
			}
			if cerr != nil {
				return cerr
			}
			if err := checkConversation(conv, in); err != nil {
				return err
			}
		} else {
			if conv, err = w.conversation(ctx, q, c, in); err != nil {
				return err
			}
			err = insert(q, conv.ID)
		}
		switch {
		case err == nil:
			inserted = true
		case db.IsNotFound(err): // already recorded: a redelivery
		default:
			return err
		}
		// The app (it gets proactive messages as notifications) takes STOP/START like the
		// provider channels: the end user is opted out or back in and told so, without the model.
		if kw := proactive.Keyword(in.Text, nil, nil); kw != "" && in.Channel == events.ChannelApp {
			answer, err = w.answerOptKeyword(ctx, q, c, conv, msgID, kw)
			return err
		}
		// Opt-out words are not commands on the widget either: they keep going to the coach, and
		// no program keyword can shadow them.
		if proactive.Keyword(in.Text, nil, nil) == "" {
			if answer, err = w.answerCommandWith(ctx, q, conv, msgID, in.Text, false, ahead); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		if db.IsNotFound(err) {
			return bus.Permanent(fmt.Errorf("retrieve: conversation %s of creator %s: %w", in.ConversationID, c, err))
		}
		return err
	}
	if !inserted {
		log.DebugContext(ctx, "inbound message already recorded", "message_id", msgID)
	}
	if answer != nil {
		return w.publishAnswer(ctx, ev, conv, *answer)
	}
	return w.requestTurn(ctx, ev, conv, msgID, stored.Gseq, in)
}

// publishAnswer hands an answer stored without the model to dispatch, deduplicated by its id
// (a redelivered message republishes the same answer, which the bus drops).
func (w *Worker) publishAnswer(ctx context.Context, ev events.Message[events.MessageReceived], conv db.Conversation, answer db.Message) error {
	c := ev.CreatorID
	w.activity(c, events.Activity{Kind: "message", ConversationID: conv.ID, Channel: conv.Channel, MessageID: answer.ID,
		Seq: answer.Seq, Role: answer.Role, Text: answer.Body, Status: answer.Status})
	out := events.New(c, events.MessageOutbound{MessageID: answer.ID, ConversationID: conv.ID, EndUserID: conv.EndUserID, Channel: conv.Channel}, &ev.Envelope, w.Now())
	return bus.PublishEvent(ctx, w.Bus, events.OutboundSubject(c, conv.Channel), "out:"+answer.ID.String(), out)
}

// requestTurn searches the knowledge for the message and asks generate for a reply, unless the
// creator holds the conversation, and tells the memory extractor the person wrote. Both go out
// as one batch (the turn first, so the reply is not kept waiting behind the memory request),
// acknowledged together: one wait for JetStream instead of two in a row. Both are deduplicated
// by the message's id, so a redelivery after a partly stored batch publishes the rest. gseq is
// the message's gseq when this delivery stored it (0 on a redelivery that found it stored).
func (w *Worker) requestTurn(ctx context.Context, ev events.Message[events.MessageReceived], conv db.Conversation, msgID uuid.UUID, gseq int64, in events.MessageReceived) error {
	c := ev.CreatorID
	log := w.Log.With("creator_id", c, "correlation_id", ev.CorrelationID)
	var (
		out    []bus.Outgoing
		logged func()
	)
	if conv.Status == "bot" {
		passages, expansions, mode, err := w.search(ctx, c, in.Text)
		if err != nil {
			if ctx.Err() != nil {
				return err // the handler itself is ending: redelivered
			}
			// A search that cannot run must not cost the person their answer: the turn goes
			// on without passages and generate says the knowledge base is unavailable.
			log.WarnContext(ctx, "knowledge search unavailable: answering without passages",
				"conversation_id", conv.ID, "message_id", msgID, "err", err)
			passages, expansions, mode = nil, nil, events.SearchUnavailable
		}
		turn, err := bus.Event(events.GenerateSubject(c), "turn:"+msgID.String(), events.New(c, events.TurnRequested{
			ConversationID: conv.ID, MessageID: msgID, Channel: in.Channel,
			Query: in.Text, Passages: passages, SearchMode: mode, Expansions: expansions,
		}, &ev.Envelope, w.Now()))
		if err != nil {
			return err
		}
		out = append(out, turn)
		logged = func() {
			log.DebugContext(ctx, "turn requested", "conversation_id", conv.ID, "message_id", msgID, "passages", len(passages), "search_mode", mode)
		}
	} else {
		log.InfoContext(ctx, "conversation held by the creator: no bot turn", "conversation_id", conv.ID)
	}
	if w.Memory {
		mem, err := bus.Event(events.MemorySubject(c), "memory:"+msgID.String(),
			events.New(c, events.MemoryRequested{EndUserID: conv.EndUserID, ConversationID: conv.ID, MessageID: msgID, Gseq: gseq}, &ev.Envelope, w.Now()))
		if err != nil {
			return err
		}
		out = append(out, mem)
	}
	if err := w.publish(ctx, out); err != nil {
		return err
	}
	if logged != nil {
		logged()
	}
	return nil
}

// publish sends out: one message with Publish, several as one batch.
func (w *Worker) publish(ctx context.Context, out []bus.Outgoing) error {
	switch len(out) {
	case 0:
		return nil
	case 1:
		return w.Bus.Publish(ctx, out[0].Subject, out[0].MsgID, out[0].Payload, out[0].Header)
	}
	return w.Bus.PublishBatch(ctx, out)
}

// conversation finds the message's conversation, creating end user and conversation for
// channels whose adapters only know the channel's user id.
func (w *Worker) conversation(ctx context.Context, q *db.Queries, c uuid.UUID, in events.MessageReceived) (db.Conversation, error) {
	if in.ConversationID != uuid.Nil {
		conv, err := q.TouchAndGetConversation(ctx, in.ConversationID)
		if err != nil {
			return conv, err
		}
		return conv, checkConversation(conv, in)
	}
	if in.ExternalUserID == "" {
		return db.Conversation{}, bus.Permanent(fmt.Errorf("retrieve: %w: neither conversation nor external user id", events.ErrMalformed))
	}
	eu, err := q.UpsertEndUser(ctx, db.UpsertEndUserParams{ID: ids.EndUser(c, in.Channel, in.ExternalUserID), CreatorID: c,
		Channel: in.Channel, ExternalID: in.ExternalUserID, DisplayName: in.DisplayName})
	if err != nil {
		return db.Conversation{}, err
	}
	return q.UpsertConversation(ctx, db.UpsertConversationParams{ID: ids.Conversation(c, eu.ID, in.Channel), CreatorID: c, EndUserID: eu.ID, Channel: in.Channel})
}

// checkConversation refuses a message naming a conversation that is not its sender's.
func checkConversation(conv db.Conversation, in events.MessageReceived) error {
	if conv.EndUserID != in.EndUserID || conv.Channel != in.Channel {
		return bus.Permanent(fmt.Errorf("retrieve: %w: conversation %s does not belong to end user %s on %s",
			events.ErrMalformed, conv.ID, in.EndUserID, in.Channel))
	}
	return nil
}

// Retrieve is the retrieval of a turn for text in creator c's knowledge, nothing else: the
// passages a turn would be given (best first), the words the search used for the question's
// words (what a turn hands generate, for the same answer threshold) and the search mode. The
// console's "try a question" calls it through the gateway (package app wires it).
func (w *Worker) Retrieve(ctx context.Context, c uuid.UUID, text string) ([]events.Passage, *events.Expansions, string, error) {
	if w.Passages == 0 {
		w.Passages = 5
	}
	return w.search(ctx, c, text)
}

// search returns the best passages for text, and the words the search used for its words
// (when the Searcher tells them): hybrid when the query can be embedded, BM25 otherwise. A creator without a knowledge tenant yet simply has no passages. Embedding and
// search together get SearchTimeout; a search that fails fast (Weaviate restarting) is retried
// within it with a short backoff.
func (w *Worker) search(ctx context.Context, c uuid.UUID, text string) ([]events.Passage, *events.Expansions, string, error) {
	timeout := w.SearchTimeout
	if timeout <= 0 {
		timeout = DefaultSearchTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var vec []float32
	mode := "bm25"
	if w.Embedder != nil {
		// The embedding gets at most half the budget: without it, BM25 still answers.
		ectx, ecancel := context.WithTimeout(llm.WithWork(ctx, llm.Work{Class: llm.LiveEmbed, Creator: c}), timeout/2)
		vs, err := w.Embedder.Embed(ectx, w.EmbedModel, []string{llm.QueryPrefix + text})
		ecancel()
		if err == nil && len(vs) == 1 {
			vec, mode = vs[0], "hybrid"
		} else if err != nil {
			w.Log.WarnContext(ctx, "query embedding failed, searching BM25 only", "creator_id", c, "err", err)
		}
	}
	var (
		hits []knowledge.Passage
		x    *events.Expansions
		err  error
	)
	xs, expanded := w.Search.(ExpandedSearcher)
	for wait := 100 * time.Millisecond; ; wait *= 2 {
		// A larger pool than the turn uses: passages.Clean drops duplicates and diversifies.
		if expanded {
			hits, x, err = xs.SearchExpanded(ctx, c, text, vec, passages.Candidates(w.Passages))
		} else {
			hits, err = w.Search.Search(ctx, c, text, vec, passages.Candidates(w.Passages))
		}
		if err == nil || errors.Is(err, knowledge.ErrTenantNotFound) || ctx.Err() != nil {
			break
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
		if ctx.Err() != nil {
			break
		}
	}
	if errors.Is(err, knowledge.ErrTenantNotFound) {
		return nil, nil, mode, nil
	}
	if err != nil {
		return nil, nil, mode, fmt.Errorf("retrieve: search (within %s): %w", timeout, err)
	}
	out := make([]events.Passage, 0, len(hits))
	for _, h := range hits {
		out = append(out, events.Passage{DocumentID: h.DocumentID, Title: h.Title, Heading: h.Heading, Page: h.Page, Text: h.Text, Score: h.Score})
	}
	return passages.Clean(out, w.Passages), x, mode, nil
}

// answerOptKeyword opts the app's end user out of (STOP) or back into (START) proactive
// messages and stores the confirmation, derived from the message's id (a redelivery stores
// nothing new).
func (w *Worker) answerOptKeyword(ctx context.Context, q *db.Queries, c uuid.UUID, conv db.Conversation, msgID uuid.UUID, kw string) (*db.Message, error) {
	if _, err := q.SetEndUserOptOut(ctx, db.SetEndUserOptOutParams{ID: conv.EndUserID, OptedOut: kw == proactive.OptOut}); err != nil {
		return nil, err
	}
	text := optInAnswer
	if kw == proactive.OptOut {
		text = optOutAnswer
	}
	a, err := q.InsertReply(ctx, db.InsertReplyParams{
		ID: ids.Reply(msgID), CreatorID: c, ConversationID: conv.ID, Body: text, Sources: json.RawMessage("[]"),
		ReplyTo: uuid.NullUUID{UUID: msgID, Valid: true}, Channel: conv.Channel, Status: "queued", Covers: []uuid.UUID{msgID},
	})
	m := db.Message(a)
	if db.IsNotFound(err) {
		m, err = q.GetMessage(ctx, ids.Reply(msgID))
	}
	return &m, err
}
