package dispatch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/coachwire/coachwire/internal/channels"
	"github.com/coachwire/coachwire/internal/config"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/ratelimit"
)

// Limits are the providers' send limits dispatch holds to. They are shared by every dispatch
// replica (buckets keyed by app, number, bot, recipient and chat in PostgreSQL, see limiters; a
// provider's rate-limit answer blocks the bucket of its scope for all, see channels.Scope), so
// any number of replicas together send at most these rates.
type Limits struct {
	// WhatsApp: messages per second per business number (80 by default; up to 1000 after an
	// upgrade), and the per-recipient pair limit (one message every PairEvery, PairBurst at once).
	WhatsAppPerNumber float64
	WhatsAppPairEvery time.Duration
	WhatsAppPairBurst int
	// Telegram: messages per second per bot and per chat.
	TelegramPerBot  float64
	TelegramPerChat float64
	// Margin scales every rate down a little (0.95: 5 % under the limit) so that scheduling
	// jitter never pushes a sliding second above the provider's limit.
	Margin float64
	// MaxWait is the longest a handler waits for a send slot or a provider's retry_after; a
	// longer wait gives the message back to JetStream (redelivered later, with backoff) so the
	// handler is free for other chats.
	MaxWait time.Duration
	// CallTimeout bounds one provider call (COACHWIRE_PROVIDER_CALL_TIMEOUT). A part recorded as sending for
	// longer than CallTimeout plus a margin belongs to an attempt that died mid-call.
	CallTimeout time.Duration
}

// DefaultLimits are the providers' documented defaults.
func DefaultLimits() Limits {
	return Limits{WhatsAppPerNumber: 80, WhatsAppPairEvery: 6 * time.Second, WhatsAppPairBurst: 3,
		TelegramPerBot: 30, TelegramPerChat: 1, Margin: 0.95, MaxWait: 10 * time.Second, CallTimeout: config.DefaultProviderCallTimeout}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.WhatsAppPerNumber <= 0 {
		l.WhatsAppPerNumber = d.WhatsAppPerNumber
	}
	if l.WhatsAppPairEvery <= 0 {
		l.WhatsAppPairEvery = d.WhatsAppPairEvery
	}
	if l.WhatsAppPairBurst <= 0 {
		l.WhatsAppPairBurst = d.WhatsAppPairBurst
	}
	if l.TelegramPerBot <= 0 {
		l.TelegramPerBot = d.TelegramPerBot
	}
	if l.TelegramPerChat <= 0 {
		l.TelegramPerChat = d.TelegramPerChat
	}
	if l.Margin <= 0 || l.Margin > 1 {
		l.Margin = d.Margin
	}
	if l.MaxWait <= 0 {
		l.MaxWait = d.MaxWait
	}
	if l.CallTimeout <= 0 {
		l.CallTimeout = d.CallTimeout
	}
	return l
}

// errThrottled means a send would have to wait longer than MaxWait: the message is retried
// later by JetStream instead of holding a handler.
var errThrottled = errors.New("dispatch: provider limit reached, send deferred")

// throttledError is errThrottled with the instant the send may be tried again: the channel
// handler hands the message back to JetStream until then (one delivery per pause, so a long
// provider throttle of a whole number or app does not use up every waiting reply's deliveries).
type throttledError struct {
	key   string
	until time.Time
}

func (e throttledError) Error() string {
	return fmt.Sprintf("%v: %s until %s", errThrottled, e.key, e.until.Format(time.RFC3339))
}

func (e throttledError) Is(target error) bool { return target == errThrottled }

// limiters are the send buckets of every dispatch replica, kept in PostgreSQL
// (internal/ratelimit: GCRA reservations, one transaction per send), so that two replicas
// together hold to a provider's limit, which is per number or bot, not per replica. A
// provider's retry_after is a mark on the bucket's block key, seen by every replica too.
type limiters struct {
	rl *ratelimit.Limiter
}

func newLimiters(store *db.Store) *limiters { return &limiters{rl: ratelimit.New(store, nil)} }

// blockKey is the key a provider's retry_after for bucket key is marked on.
func blockKey(key string) string { return "dispatch:block:" + key }

// slot is one bucket a send needs a place in; scope says which provider throttle it stands
// for, so a rate-limit error blocks the bucket of its scope.
type slot struct {
	key   string
	rate  rate.Limit
	burst int
	scope channels.Scope
}

// rule is the slot's rate as a GCRA rule: burst places every burst intervals (none: a slot
// with no rate of its own only carries blocks).
func (s slot) rule() ratelimit.Rule {
	if s.rate == rate.Inf || s.rate <= 0 {
		return ratelimit.Rule{}
	}
	b := max(s.burst, 1)
	return ratelimit.Rule{N: b, Per: time.Duration(float64(time.Second) / float64(s.rate) * float64(b))}
}

func split(slots []slot) ([]ratelimit.Check, []string) {
	checks := make([]ratelimit.Check, 0, len(slots))
	blocks := make([]string, 0, len(slots))
	for _, s := range slots {
		checks = append(checks, ratelimit.Check{Key: "dispatch:" + s.key, Rule: s.rule()})
		blocks = append(blocks, blockKey(s.key))
	}
	return checks, blocks
}

// unprefix turns a limiter key back into the slot key it was made from.
func unprefix(k string) string {
	k = strings.TrimPrefix(k, "dispatch:block:")
	return strings.TrimPrefix(k, "dispatch:")
}

// wait takes a place in every slot's bucket, in order (narrowest first, so a chat waiting for
// its own bucket does not hold a place of its bot, which would hold up every other chat of the
// bot meanwhile), sleeping until each place's instant. It never sends before any slot's
// retry_after (a block set by another send, in any replica, while this one waited is honoured
// too) and waits at most maxWait in total; a longer wait returns errThrottled.
func (l *limiters) wait(ctx context.Context, slots []slot, maxWait time.Duration) error {
	deadline := time.Now().Add(maxWait)
	checks, blocks := split(slots)
	waited := false
	for i, c := range checks {
		var bs []string
		if i == 0 {
			bs = blocks // the blocks are checked with the first reservation
		}
		if c.Rule.Off() && len(bs) == 0 {
			continue
		}
		r, err := l.rl.Reserve(ctx, time.Until(deadline), []ratelimit.Check{c}, bs)
		if err != nil {
			return err
		}
		if !r.OK {
			return throttledError{key: unprefix(r.Key), until: time.Now().Add(r.Wait)}
		}
		if r.Wait > 0 {
			waited = true
			if err := sleep(ctx, r.Wait); err != nil {
				return err
			}
		}
	}
	if !waited {
		return nil
	}
	// A provider throttle may have been reported while this send waited for its places.
	until, key, err := l.rl.MarkedUntil(ctx, blocks...)
	if err != nil || until.IsZero() {
		return err
	}
	if until.After(deadline) {
		return throttledError{key: unprefix(key), until: until}
	}
	return sleep(ctx, time.Until(until))
}

// allow takes a place in every slot only if all have one now (typing indicators and drafts:
// never delay or displace a message). A limiter error counts as no place.
func (l *limiters) allow(ctx context.Context, slots []slot) bool {
	checks, blocks := split(slots)
	r, err := l.rl.Reserve(ctx, 0, checks, blocks)
	return err == nil && r.OK
}

// block records a provider's retry_after for the slot of scope (the widest slot when none
// matches), for every replica, and returns its key.
func (l *limiters) block(ctx context.Context, slots []slot, scope channels.Scope, until time.Time) string {
	s := slots[len(slots)-1]
	for _, x := range slots {
		if x.scope == scope {
			s = x
			break
		}
	}
	if err := l.rl.Mark(context.WithoutCancel(ctx), blockKey(s.key), time.Until(until)); err != nil {
		// The send that got the 429 is retried after wait() anyway; others may hit it too.
		return s.key + " (not recorded: " + err.Error() + ")"
	}
	return s.key
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
