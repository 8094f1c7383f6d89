package httpx

import (
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/realclientip/realclientip-go"

	"github.com/coachwire/coachwire/internal/ratelimit"
)

// ClientAddr finds the address of the client that sent a request, trusting X-Forwarded-For
// only from the given proxies.
type ClientAddr struct {
	proxies []netip.Prefix
	xff     realclientip.Strategy
}

// NewClientAddr trusts X-Forwarded-For from peers in proxies (none: never).
func NewClientAddr(proxies []netip.Prefix) *ClientAddr {
	c := &ClientAddr{proxies: proxies}
	if len(proxies) > 0 {
		nets := make([]net.IPNet, 0, len(proxies))
		for _, p := range proxies {
			nets = append(nets, net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())})
		}
		c.xff = realclientip.Must(realclientip.NewRightmostTrustedRangeStrategy("X-Forwarded-For", nets))
	}
	return c
}

// Of is the address of the client that sent r: the peer, or, when the peer is a trusted proxy,
// the rightmost X-Forwarded-For address that is not a trusted proxy. X-Forwarded-For from any
// other peer is ignored (anyone can write it).
func (c *ClientAddr) Of(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || c.xff == nil {
		return host
	}
	peer = peer.Unmap().WithZone("")
	for _, p := range c.proxies {
		if p.Contains(peer) {
			if ip := c.xff.ClientIP(r.Header, r.RemoteAddr); ip != "" {
				return ip
			}
			return host
		}
	}
	return host
}

// RateLimited is the 429 for a refused request, with Retry-After in whole seconds.
func RateLimited(w http.ResponseWriter, wait time.Duration, msg string) error {
	w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(max(wait, time.Second).Seconds()))))
	return TooMany(msg)
}

// LimitsUnavailable is the answer when the shared limit store cannot be reached: the request
// is not served unlimited.
func LimitsUnavailable(w http.ResponseWriter, err error) error {
	w.Header().Set("Retry-After", "5")
	return &Error{Status: http.StatusServiceUnavailable, Code: "unavailable", Message: "temporarily unavailable, retry shortly", Err: err}
}

// Limit counts r against checks (all or none) in rl and returns the 429 or 503 to answer when
// it may not proceed.
func Limit(w http.ResponseWriter, r *http.Request, rl *ratelimit.Limiter, msg string, checks ...ratelimit.Check) error {
	d, err := rl.Allow(r.Context(), checks...)
	if err != nil {
		return LimitsUnavailable(w, err)
	}
	if !d.Allowed {
		return RateLimited(w, d.RetryAfter, msg)
	}
	return nil
}
