package auth

import (
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// LoginLimits configures a LoginLimiter. Zero fields take the defaults.
type LoginLimits struct {
	// PerEmail and EmailBurst limit attempts per lower-cased email (default 5/min, burst 5).
	PerEmail   rate.Limit
	EmailBurst int
	// PerIP and IPBurst limit attempts per client address, IPv6 per /64 (default 20/min, burst 20).
	PerIP   rate.Limit
	IPBurst int
	// MaxKeys bounds the keys tracked per dimension (default 100000). See LoginLimiter.
	MaxKeys int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// LoginLimiter limits login attempts per client IP and per email; an attempt must pass both.
// Every attempt counts, successful or not.
//
// It lives in process memory: limits are per replica, not global. Memory is bounded: a key is
// forgotten once it has been idle long enough for its bucket to refill completely (forgetting it
// then changes nothing), and at most MaxKeys keys are tracked per dimension. When that many keys
// are all active, attempts under new keys are refused until old ones go idle (fail closed: a
// flood of distinct addresses or emails must not buy a fresh budget).
type LoginLimiter struct {
	mu     sync.Mutex
	now    func() time.Time
	ips    *keyedLimiter
	emails *keyedLimiter
}

// NewLoginLimiter builds a limiter.
func NewLoginLimiter(l LoginLimits) *LoginLimiter {
	if l.PerEmail <= 0 {
		l.PerEmail = rate.Every(time.Minute / 5)
	}
	if l.EmailBurst <= 0 {
		l.EmailBurst = 5
	}
	if l.PerIP <= 0 {
		l.PerIP = rate.Every(time.Minute / 20)
	}
	if l.IPBurst <= 0 {
		l.IPBurst = 20
	}
	if l.MaxKeys <= 0 {
		l.MaxKeys = 100_000
	}
	if l.Now == nil {
		l.Now = time.Now
	}
	return &LoginLimiter{
		now:    l.Now,
		ips:    newKeyedLimiter(l.PerIP, l.IPBurst, l.MaxKeys),
		emails: newKeyedLimiter(l.PerEmail, l.EmailBurst, l.MaxKeys),
	}
}

// Allow records one login attempt from client address ip (host or host:port) for email. When
// either limit is exhausted it consumes nothing and returns false with the time to wait.
func (l *LoginLimiter) Allow(ip, email string) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()

	var rs []*rate.Reservation
	wait := time.Duration(0)
	for _, k := range []struct {
		kl  *keyedLimiter
		key string
	}{{l.ips, ipKey(ip)}, {l.emails, EmailKey(email)}} {
		if k.key == "" {
			continue
		}
		r := k.kl.reserve(now, k.key)
		if r == nil { // table full
			wait = max(wait, k.kl.refill)
			continue
		}
		rs = append(rs, r)
		if !r.OK() {
			wait = max(wait, k.kl.refill)
		} else {
			wait = max(wait, r.DelayFrom(now))
		}
	}
	if wait <= 0 {
		return true, 0
	}
	for _, r := range rs {
		r.CancelAt(now)
	}
	return false, wait
}

// EmailKey is the normalized form of an email for limiting and comparison.
func EmailKey(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// ipKey reduces a client address to what one client controls: the IPv4 address, or the /64 of
// an IPv6 address.
func ipKey(addr string) string {
	addr = strings.TrimSpace(addr)
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		addr = ap.Addr().String()
	}
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

type keyedLimiter struct {
	limit     rate.Limit
	burst     int
	maxKeys   int
	refill    time.Duration // time for an empty bucket to fill up
	m         map[string]*limEntry
	lastSweep time.Time
}

type limEntry struct {
	lim  *rate.Limiter
	last time.Time
}

func newKeyedLimiter(limit rate.Limit, burst, maxKeys int) *keyedLimiter {
	refill := time.Duration(float64(burst) / float64(limit) * float64(time.Second))
	return &keyedLimiter{limit: limit, burst: burst, maxKeys: maxKeys, refill: refill, m: map[string]*limEntry{}}
}

// reserve takes one token for key at now; nil means the table is full of active keys.
func (k *keyedLimiter) reserve(now time.Time, key string) *rate.Reservation {
	if now.Sub(k.lastSweep) >= k.refill || len(k.m) >= k.maxKeys {
		k.sweep(now)
	}
	e := k.m[key]
	if e == nil {
		if len(k.m) >= k.maxKeys {
			return nil
		}
		e = &limEntry{lim: rate.NewLimiter(k.limit, k.burst)}
		k.m[key] = e
	}
	e.last = now
	return e.lim.ReserveN(now, 1)
}

// sweep forgets keys idle for a full refill period: their buckets are full again, the same as a
// key never seen.
func (k *keyedLimiter) sweep(now time.Time) {
	k.lastSweep = now
	for key, e := range k.m {
		if now.Sub(e.last) >= k.refill {
			delete(k.m, key)
		}
	}
}

// size is the number of tracked keys (tests).
func (k *keyedLimiter) size() int { return len(k.m) }
