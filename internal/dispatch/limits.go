package dispatch

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/coachwire/coachwire/internal/channels"
	"github.com/coachwire/coachwire/internal/config"
)

// Limits are the providers' send limits dispatch holds to. They are enforced inside one
// dispatch process (golang.org/x/time/rate limiters keyed by app, number, bot, recipient and
// chat; a provider's rate-limit answer blocks the bucket of its scope, see channels.Scope):
// with several dispatch replicas each replica holds them, so run one dispatch replica per
// number/bot, or divide the rates by the replica count.
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

// limiters is a set of token buckets by key, with a "not before" per key set from a provider's
// retry_after. Idle buckets are forgotten.
type limiters struct {
	mu      sync.Mutex
	buckets map[string]*bucket
	sweep   time.Time
}

type bucket struct {
	lim       *rate.Limiter
	notBefore time.Time
	used      time.Time
}

func newLimiters() *limiters { return &limiters{buckets: map[string]*bucket{}} }

func (l *limiters) get(key string, r rate.Limit, burst int, now time.Time) *bucket {
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{lim: rate.NewLimiter(r, burst)}
		l.buckets[key] = b
	}
	b.used = now
	if now.Sub(l.sweep) > time.Minute {
		l.sweep = now
		for k, v := range l.buckets {
			if now.Sub(v.used) > 10*time.Minute && k != key {
				delete(l.buckets, k)
			}
		}
	}
	return b
}

// slot is one bucket a send needs a token from; scope says which provider throttle it stands
// for, so a rate-limit error blocks the bucket of its scope.
type slot struct {
	key   string
	rate  rate.Limit
	burst int
	scope channels.Scope
}

// wait takes one token from every slot, in order (narrowest first, so a busy chat does not
// burn a token of its bot while it waits). It never sends before any slot's retry_after (a
// block set by another send while this one waited for a token is honoured too) and waits at
// most maxWait in total; a longer wait returns errThrottled.
func (l *limiters) wait(ctx context.Context, slots []slot, maxWait time.Duration) error {
	deadline := time.Now().Add(maxWait)
	if err := l.waitUnblocked(ctx, slots, deadline); err != nil {
		return err
	}
	for _, s := range slots {
		l.mu.Lock()
		b := l.get(s.key, s.rate, s.burst, time.Now())
		l.mu.Unlock()
		res := b.lim.Reserve()
		d := res.Delay()
		if !res.OK() || time.Now().Add(d).After(deadline) {
			res.Cancel()
			if !res.OK() {
				d = maxWait // never allowed at this rate: try again later
			}
			return throttledError{key: s.key, until: time.Now().Add(d)}
		}
		if err := sleep(ctx, d); err != nil {
			res.Cancel()
			return err
		}
	}
	// A provider throttle may have been reported while this send waited for its tokens.
	return l.waitUnblocked(ctx, slots, deadline)
}

// waitUnblocked waits until no slot is blocked by a provider's retry_after.
func (l *limiters) waitUnblocked(ctx context.Context, slots []slot, deadline time.Time) error {
	for {
		var until time.Time
		key := ""
		l.mu.Lock()
		now := time.Now()
		for _, s := range slots {
			if b := l.get(s.key, s.rate, s.burst, now); b.notBefore.After(until) {
				until, key = b.notBefore, s.key
			}
		}
		l.mu.Unlock()
		if !until.After(now) {
			return nil
		}
		if until.After(deadline) {
			return throttledError{key: key, until: until}
		}
		if err := sleep(ctx, until.Sub(now)); err != nil {
			return err
		}
	}
}

// allow takes a token from every slot only if all have one now (typing indicators: never
// delay or displace a message).
func (l *limiters) allow(slots []slot) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	for _, s := range slots {
		b := l.get(s.key, s.rate, s.burst, now)
		if b.notBefore.After(now) || b.lim.TokensAt(now) < 1 {
			return false
		}
	}
	for _, s := range slots {
		l.buckets[s.key].lim.AllowN(now, 1)
	}
	return true
}

// block records a provider's retry_after for the slot of scope (the widest slot when none
// matches) and returns its key.
func (l *limiters) block(slots []slot, scope channels.Scope, until time.Time) string {
	s := slots[len(slots)-1]
	for _, x := range slots {
		if x.scope == scope {
			s = x
			break
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.get(s.key, s.rate, s.burst, time.Now())
	if until.After(b.notBefore) {
		b.notBefore = until
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
