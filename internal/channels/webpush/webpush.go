// Package webpush is the Web Push adapter of the app channel (issue 16): subscription checks,
// the notification payload, and sending through a push service with
// github.com/SherClockHolmes/webpush-go (RFC 8291 aes128gcm encryption, RFC 8292 VAPID), with
// the push service's answers classified like the other providers' errors (channels.Error).
package webpush

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	wp "github.com/SherClockHolmes/webpush-go"
	"github.com/google/uuid"

	"github.com/coachwire/coachwire/internal/channels"
	"github.com/coachwire/coachwire/internal/secrets"
)

// Provider is the name of the push channel's provider in errors, metrics and logs.
const Provider = "webpush"

// Limits of what an end user may register.
const (
	MaxEndpointLen = 2048
	MaxDeviceLen   = 120
	// MaxPerEndUser is how many devices one end user keeps: registering another drops the one
	// registered (or refreshed) longest ago.
	MaxPerEndUser = 10
)

// Record sizes: every push is padded to its record size (RFC 8291), so the push service sees
// the same length for every notification. RecordSize is the usual 4096 bytes, the largest push
// services accept; ShortRecordSize is the retry after a 413 (payload too large).
const (
	RecordSize      = 4096
	ShortRecordSize = 1024
	// overhead is what the aes128gcm header (86 bytes), the padding delimiter and the GCM tag
	// take of a record.
	overhead = 86 + 1 + 16
	// ShortBodyRunes is the body of a shortened payload.
	ShortBodyRunes = 140
)

// Subscription is a browser's PushSubscription: the endpoint at its push service and the keys
// the payload is encrypted to (base64url, as PushSubscription.toJSON gives them).
type Subscription struct {
	Endpoint string
	P256dh   string
	Auth     string
}

// ErrInvalid wraps every reason a subscription is refused.
var ErrInvalid = errors.New("invalid push subscription")

// Validate checks a subscription an end user registers: an https endpoint (or one under an
// origin of allow, for loopback test services) without credentials in it, a P-256 public key
// (65-byte uncompressed point on the curve) and a 16-byte auth secret.
func Validate(s Subscription, allow []string) error {
	if s.Endpoint == "" || len(s.Endpoint) > MaxEndpointLen {
		return fmt.Errorf("%w: endpoint must be 1 to %d characters", ErrInvalid, MaxEndpointLen)
	}
	u, err := url.Parse(s.Endpoint)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" {
		return fmt.Errorf("%w: endpoint must be an absolute URL without credentials", ErrInvalid)
	}
	if !allowed(u, allow) {
		if u.Scheme != "https" {
			return fmt.Errorf("%w: endpoint must be https", ErrInvalid)
		}
		if internalHost(u.Hostname()) {
			return fmt.Errorf("%w: endpoint must be a public push service, not %s", ErrInvalid, u.Hostname())
		}
	}
	pub, err := decodeKey(s.P256dh)
	if err != nil || len(pub) != 65 || pub[0] != 4 {
		return fmt.Errorf("%w: keys.p256dh must be a 65-byte uncompressed P-256 point (base64url)", ErrInvalid)
	}
	if _, err := ecdh.P256().NewPublicKey(pub); err != nil {
		return fmt.Errorf("%w: keys.p256dh is not a point of P-256", ErrInvalid)
	}
	if a, err := decodeKey(s.Auth); err != nil || len(a) != 16 {
		return fmt.Errorf("%w: keys.auth must be 16 bytes (base64url)", ErrInvalid)
	}
	return nil
}

// allowed reports whether u's origin is one of allow (COACHWIRE_PUSH_ALLOW_ORIGINS: push
// services reached over plain http, for tests and loopback doubles only).
func allowed(u *url.URL, allow []string) bool {
	origin := u.Scheme + "://" + u.Host
	for _, a := range allow {
		if strings.EqualFold(strings.TrimRight(a, "/"), origin) {
			return true
		}
	}
	return false
}

// ErrBlockedAddress: a push endpoint whose name leads to an address that is not public (the
// sending client refuses to connect: an end user chooses the endpoint).
var ErrBlockedAddress = errors.New("webpush: push endpoint address is not public")

// internalHost reports whether an endpoint's host names the deployment's inside: localhost, or
// a literal IP address that is not public.
func internalHost(host string) bool {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(h)
	return err == nil && !publicAddr(ip)
}

// specialPrefixes are address ranges outside IsPrivate and friends that are not public either.
var specialPrefixes = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{"0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "192.0.2.0/24", "198.18.0.0/15",
		"198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4", "64:ff9b::/96", "64:ff9b:1::/48", "2001:db8::/32", "2002::/16", "fec0::/10"} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// publicAddr reports whether ip is a public unicast address.
func publicAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsGlobalUnicast() || ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() {
		return false
	}
	for _, p := range specialPrefixes {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// Client is the HTTP client pushes are sent with: every connection is checked after DNS
// resolution and refused (ErrBlockedAddress) when it leads to an address that is not public,
// except to the origins of allow (COACHWIRE_PUSH_ALLOW_ORIGINS: loopback test services). No
// proxy from the environment, no redirects (a push service answers 201).
func Client(timeout time.Duration, allow []string) *http.Client {
	open := map[string]bool{}
	for _, a := range allow {
		u, err := url.Parse(strings.TrimRight(a, "/"))
		if err != nil || u.Host == "" {
			continue
		}
		port := u.Port()
		if port == "" {
			port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
		}
		open[net.JoinHostPort(u.Hostname(), port)] = true
	}
	plain := &net.Dialer{Timeout: 10 * time.Second}
	guarded := &net.Dialer{Timeout: 10 * time.Second, Control: func(_, address string, _ syscall.RawConn) error {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return err
		}
		ip, err := netip.ParseAddr(host)
		if err != nil || !publicAddr(ip) {
			return fmt.Errorf("%w: %s", ErrBlockedAddress, host)
		}
		return nil
	}}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	t.MaxIdleConns, t.MaxIdleConnsPerHost = 256, 128
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if open[addr] {
			return plain.DialContext(ctx, network, addr)
		}
		return guarded.DialContext(ctx, network, addr)
	}
	return &http.Client{Timeout: timeout, Transport: t,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func decodeKey(s string) ([]byte, error) {
	s = strings.TrimRight(strings.TrimSpace(s), "=")
	if b, err := base64.RawURLEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawStdEncoding.DecodeString(s)
}

// Payload is what the app's service worker gets: the notification's title and body, and where
// to open the conversation (its seq lets the app resume from it).
type Payload struct {
	Title          string    `json:"title"`
	Body           string    `json:"body"`
	ConversationID uuid.UUID `json:"conversation_id"`
	Seq            int64     `json:"seq"`
	URL            string    `json:"url"`
}

// Encode returns p as JSON of at most max bytes: the body (then the title) is cut at a rune
// boundary and ends with "…" when it had to be shortened. The whole message is in the
// conversation; the notification is its preview.
func (p Payload) Encode(max int) ([]byte, error) {
	b, err := json.Marshal(p)
	if err != nil || len(b) <= max {
		return b, err
	}
	for _, field := range []*string{&p.Body, &p.Title} {
		for len(b) > max && *field != "" {
			over := len(b) - max
			*field = cut(*field, over+len("…")+8)
			if b, err = json.Marshal(p); err != nil {
				return nil, err
			}
		}
	}
	if len(b) > max {
		return nil, fmt.Errorf("webpush: payload does not fit %d bytes", max)
	}
	return b, nil
}

// Shorten is p with its body cut to n runes (the payload sent again after a 413).
func (p Payload) Shorten(n int) Payload {
	if utf8.RuneCountInString(p.Body) > n {
		r := []rune(p.Body)
		p.Body = strings.TrimSpace(string(r[:n])) + "…"
	}
	return p
}

// cut drops at least n bytes of s (and a trailing "…" of an earlier cut), keeping whole runes,
// and ends it with "…".
func cut(s string, n int) string {
	s = strings.TrimSuffix(s, "…")
	keep := len(s) - n
	if keep <= 0 {
		return ""
	}
	for keep > 0 && !utf8.RuneStart(s[keep]) {
		keep--
	}
	return strings.TrimSpace(s[:keep]) + "…"
}

// MaxPayload is the largest plaintext payload of a record of size rs.
func MaxPayload(rs int) int { return rs - overhead }

// Sender sends notifications with the deployment's VAPID key pair.
type Sender struct {
	VAPID secrets.VAPID
	// Subject is the VAPID "sub": a mailto: or https: URL where the push service can reach the
	// operator (COACHWIRE_VAPID_SUBJECT).
	Subject string
	HTTP    *http.Client
	// TTL is how long the push service keeps a notification for an offline device (default
	// 24 h).
	TTL time.Duration
	// Now is the clock of Retry-After dates (default time.Now).
	Now func() time.Time
}

// Send encrypts payload to s and posts it to its push service, padded to a record of size rs.
// It returns the push service's id of the message (the Location header) or a *channels.Error:
// 429 RateLimited with the service's Retry-After (scope: everything sent to that service,
// channels.ScopeNumber), 404 and 410 RecipientGone (the subscription expired or was
// withdrawn: remove it), 413 Permanent with Status 413 (send a shorter payload), 5xx and
// transport errors Retryable, any other answer Permanent.
func (s *Sender) Send(ctx context.Context, sub Subscription, payload []byte, rs int) (string, error) {
	if len(payload) > MaxPayload(rs) {
		return "", &channels.Error{Provider: Provider, Class: channels.Permanent, Status: http.StatusRequestEntityTooLarge,
			Code: http.StatusRequestEntityTooLarge, Message: "payload larger than the record"}
	}
	ttl := s.TTL
	if ttl <= 0 {
		ttl = 24 * time.Hour
	}
	// webpush-go writes "mailto:" itself in front of anything that is not an https URL.
	subject := strings.TrimPrefix(s.Subject, "mailto:")
	res, err := wp.SendNotificationWithContext(ctx, payload, &wp.Subscription{Endpoint: sub.Endpoint, Keys: wp.Keys{Auth: sub.Auth, P256dh: sub.P256dh}},
		&wp.Options{HTTPClient: s.HTTP, RecordSize: uint32(rs), Subscriber: subject, TTL: int(ttl.Seconds()), Urgency: wp.UrgencyNormal,
			VAPIDPublicKey: s.VAPID.PublicKey, VAPIDPrivateKey: s.VAPID.PrivateKey})
	if err != nil {
		if errors.Is(err, ErrBlockedAddress) {
			// The endpoint leads inside the deployment (Client): never retried.
			return "", &channels.Error{Provider: Provider, Class: channels.Permanent, Message: err.Error()}
		}
		if ctx.Err() == nil && res == nil && !isTransport(err) {
			// Refused before sending: keys that do not encrypt (checked at registration, so
			// only a damaged row), or the payload.
			return "", &channels.Error{Provider: Provider, Class: channels.Permanent, Message: "encrypt: " + err.Error()}
		}
		return "", channels.TransportError(Provider, "send", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 512))
	msg := strings.TrimSpace(string(bytes.ToValidUTF8(body, nil)))
	switch st := res.StatusCode; {
	case st >= 200 && st < 300:
		return res.Header.Get("Location"), nil
	case st == http.StatusTooManyRequests:
		return "", &channels.Error{Provider: Provider, Status: st, Code: st, Class: channels.RateLimited, Message: msg,
			RetryAfter: retryAfter(res.Header.Get("Retry-After"), s.now()), Scope: channels.ScopeNumber}
	case st == http.StatusNotFound || st == http.StatusGone:
		return "", &channels.Error{Provider: Provider, Status: st, Code: st, Class: channels.RecipientGone, Message: "subscription gone: " + msg}
	case st >= 500:
		return "", &channels.Error{Provider: Provider, Status: st, Code: st, Class: channels.Retryable, Message: msg,
			RetryAfter: retryAfter(res.Header.Get("Retry-After"), s.now())}
	default:
		return "", &channels.Error{Provider: Provider, Status: st, Code: st, Class: channels.Permanent, Message: msg}
	}
}

func (s *Sender) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// isTransport tells a failed HTTP exchange from an error webpush-go returned before it.
func isTransport(err error) bool {
	var ue *url.Error
	return errors.As(err, &ue)
}

// retryAfter reads a Retry-After header: delay-seconds or an HTTP date (0 when absent).
func retryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if n, err := strconv.Atoi(h); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// Origin is the push service of an endpoint (the VAPID JWT's audience).
func Origin(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// CheckSubject validates a VAPID subject: a mailto: address or an https URL (RFC 8292 §2.1).
func CheckSubject(s string) error {
	switch {
	case strings.HasPrefix(s, "mailto:") && strings.Contains(s, "@"):
		return nil
	case strings.HasPrefix(s, "https://") && len(s) > len("https://"):
		return nil
	}
	return fmt.Errorf("webpush: VAPID subject %q must be a mailto: address or an https:// URL", s)
}
