// Package capacity keeps the per-creator daily token budgets of the model work a creator starts
// in bulk: AI-written nudges and the embedding of uploaded documents (issue 14). Live replies,
// live retrieval and memory extraction are never budgeted.
//
// Usage is counted in PostgreSQL per creator, UTC day and kind (llm_usage: tokens and calls,
// added to after each model call), so every replica counts against one budget. A creator's limit
// is their own row in llm_budgets when it has a value, else the configured default; 0 is
// unlimited. The check is "today's usage is under the limit": calls that start under it may end
// over it (by the tokens of the calls in flight when it was reached, on every worker and
// replica); the next call is refused until the UTC day changes. A call is charged to the day it
// ends in. Days follow the injected clock.
package capacity

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/coachwire/coachwire/internal/clock"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/llm"
)

// Kind is what a budget counts.
type Kind string

// The budgeted kinds.
const (
	// Nudge is AI-written proactive messages (the compose worker's chat calls).
	Nudge Kind = "nudge"
	// Embed is the embedding of uploaded documents' chunks (the ingest worker).
	Embed Kind = "embed"
)

// The reasons a refused call records (on the nudge decision, on the waiting document).
const (
	ReasonNudge = "ai_budget_exhausted"
	ReasonEmbed = "embed_budget_exhausted"
)

// Reason is the reason a refusal of kind records.
func (k Kind) Reason() string {
	if k == Embed {
		return ReasonEmbed
	}
	return ReasonNudge
}

func (k Kind) valid() bool { return k == Nudge || k == Embed }

// Limits are the default daily token limits (COACHWIRE_LLM_NUDGE_DAILY_TOKENS,
// COACHWIRE_LLM_EMBED_DAILY_TOKENS); 0 is unlimited.
type Limits struct {
	NudgeDailyTokens int64
	EmbedDailyTokens int64
}

func (l Limits) of(k Kind) int64 {
	if k == Embed {
		return l.EmbedDailyTokens
	}
	return l.NudgeDailyTokens
}

// Decision is the outcome of Allow.
type Decision struct {
	Allowed bool
	// Reason is ReasonNudge or ReasonEmbed when refused, empty otherwise.
	Reason string
	// Used is the tokens used today; Limit the day's limit (0: unlimited).
	Used, Limit int64
	// ResetAt is when the day ends (the next UTC midnight): a refused call may try again then.
	ResetAt time.Time
}

// Budgets checks and records the daily budgets. A nil *Budgets allows everything and records
// nothing. It is safe for concurrent use.
type Budgets struct {
	store    *db.Store
	clock    clock.Clock
	defaults Limits
}

// New builds the budgets over store; clk tells the day (nil: the real clock).
func New(store *db.Store, clk clock.Clock, defaults Limits) *Budgets {
	if clk == nil {
		clk = clock.Real{}
	}
	return &Budgets{store: store, clock: clk, defaults: defaults}
}

// Day is the UTC day of t, as stored.
func Day(t time.Time) pgtype.Date {
	y, m, d := t.UTC().Date()
	return pgtype.Date{Time: time.Date(y, m, d, 0, 0, 0, 0, time.UTC), Valid: true}
}

// NextDay is the UTC midnight after t: when t's budgets reset.
func NextDay(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
}

// Allow reports whether creator may start one more call of kind today: whether today's usage is
// under the limit.
func (b *Budgets) Allow(ctx context.Context, creator uuid.UUID, kind Kind) (Decision, error) {
	if b == nil {
		return Decision{Allowed: true}, nil
	}
	if !kind.valid() {
		return Decision{}, fmt.Errorf("capacity: unknown kind %q", kind)
	}
	now := b.clock.Now()
	dec := Decision{ResetAt: NextDay(now), Limit: b.defaults.of(kind)}
	var st db.LLMBudgetStateRow
	err := b.store.InTenant(ctx, creator, func(q *db.Queries) (err error) {
		st, err = q.LLMBudgetState(ctx, db.LLMBudgetStateParams{CreatorID: creator, Kind: string(kind), Day: Day(now)})
		return err
	})
	if err != nil {
		return Decision{}, fmt.Errorf("capacity: %w", err)
	}
	if st.DailyTokens != nil {
		dec.Limit = *st.DailyTokens
	}
	dec.Used = st.Tokens
	dec.Allowed = dec.Limit <= 0 || dec.Used < dec.Limit
	if !dec.Allowed {
		dec.Reason = kind.Reason()
	}
	return dec, nil
}

// Record adds one call's tokens to creator's usage of kind today. A call that used no tokens
// (it failed before the model answered) is not counted.
func (b *Budgets) Record(ctx context.Context, creator uuid.UUID, kind Kind, u llm.Usage) error {
	return b.RecordTokens(ctx, creator, kind, int64(u.Tokens()))
}

// RecordTokens adds one call of tokens to creator's usage of kind today.
func (b *Budgets) RecordTokens(ctx context.Context, creator uuid.UUID, kind Kind, tokens int64) error {
	if b == nil || tokens <= 0 {
		return nil
	}
	if !kind.valid() {
		return fmt.Errorf("capacity: unknown kind %q", kind)
	}
	err := b.store.InTenant(ctx, creator, func(q *db.Queries) error {
		return q.AddLLMUsage(ctx, db.AddLLMUsageParams{CreatorID: creator, Day: Day(b.clock.Now()), Kind: string(kind), Tokens: tokens})
	})
	if err != nil {
		return fmt.Errorf("capacity: record: %w", err)
	}
	return nil
}

// SetLimit sets creator's own daily limit of kind: nil returns to the default, 0 is unlimited.
func (b *Budgets) SetLimit(ctx context.Context, creator uuid.UUID, kind Kind, dailyTokens *int64) error {
	if !kind.valid() {
		return fmt.Errorf("capacity: unknown kind %q", kind)
	}
	if dailyTokens != nil && *dailyTokens < 0 {
		return fmt.Errorf("capacity: a daily limit is 0 (unlimited) or more, not %d", *dailyTokens)
	}
	err := b.store.InTenant(ctx, creator, func(q *db.Queries) error {
		return q.SetLLMBudget(ctx, db.SetLLMBudgetParams{CreatorID: creator, Kind: string(kind), DailyTokens: dailyTokens})
	})
	if err != nil {
		return fmt.Errorf("capacity: set limit: %w", err)
	}
	return nil
}

// Usage is creator's usage of kind on the UTC day of t.
func (b *Budgets) Usage(ctx context.Context, creator uuid.UUID, kind Kind, t time.Time) (tokens, calls int64, err error) {
	var st db.LLMBudgetStateRow
	err = b.store.InTenant(ctx, creator, func(q *db.Queries) (err error) {
		st, err = q.LLMBudgetState(ctx, db.LLMBudgetStateParams{CreatorID: creator, Kind: string(kind), Day: Day(t)})
		return err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("capacity: usage: %w", err)
	}
	return st.Tokens, st.Calls, nil
}
