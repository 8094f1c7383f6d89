// Package channels holds what the WhatsApp and Telegram adapters share: the
// error classification every provider error is mapped to, the normalized
// inbound message, text splitting for the providers' 4096-character limit, and
// a channel's non-secret settings (Config, decoded from a row by ParseConfig).
// Connecting, changing and removing a channel are in channels/setup.
package channels

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// MaxTextRunes is the longest text body WhatsApp and Telegram accept (4096 characters).
const MaxTextRunes = 4096

// Class says what a caller should do with a failed provider call.
type Class int

const (
	// None is the class of a nil error.
	None Class = iota
	// Retryable: transport errors, timeouts and 5xx. Retry with backoff.
	Retryable
	// Permanent: the request is wrong or not allowed; retrying will not help. Record as failed.
	Permanent
	// RecipientGone: the end user cannot be reached any more (Telegram: blocked the bot or
	// deactivated; WhatsApp: 131026 undeliverable). Treat as opt-out; stop proactive sends.
	RecipientGone
	// WindowClosed: WhatsApp 131047, free-form message outside the 24-hour window. Use a template.
	WindowClosed
	// RateLimited: slow down; wait Error.RetryAfter when it is non-zero, else back off.
	RateLimited
)

func (c Class) String() string {
	switch c {
	case None:
		return "none"
	case Retryable:
		return "retryable"
	case Permanent:
		return "permanent"
	case RecipientGone:
		return "recipient_gone"
	case WindowClosed:
		return "window_closed"
	case RateLimited:
		return "rate_limited"
	}
	return fmt.Sprintf("class(%d)", int(c))
}

// Scope is what a rate limit applies to: a provider throttle is honoured by everything that
// shares it, not only by the call that met it.
type Scope int

const (
	// ScopeNone: not a rate limit.
	ScopeNone Scope = iota
	// ScopePair: one recipient of one sender (WhatsApp 131056 pair rate limit; a Telegram
	// group's own limit).
	ScopePair
	// ScopeNumber: every recipient of one sender (WhatsApp 130429 throughput of a business
	// number; a Telegram bot's overall limit).
	ScopeNumber
	// ScopeApp: every number of the app or business account (WhatsApp 4 application request
	// limit, 80007 WhatsApp Business Account rate limit).
	ScopeApp
)

func (s Scope) String() string {
	switch s {
	case ScopeNone:
		return "none"
	case ScopePair:
		return "pair"
	case ScopeNumber:
		return "number"
	case ScopeApp:
		return "app"
	}
	return fmt.Sprintf("scope(%d)", int(s))
}

// Error is a failed provider call. Code is the provider's code (Graph error code; Telegram
// error_code, which equals the HTTP status). Status is the HTTP status, 0 for transport errors.
type Error struct {
	Provider   string // "whatsapp" or "telegram"
	Status     int
	Code       int
	Message    string
	Class      Class
	RetryAfter time.Duration
	// Scope is what a RateLimited error applies to (ScopeNone for other classes).
	Scope Scope
	// Subcode is the Graph error_subcode (WhatsApp only).
	Subcode int
	// Err is the underlying transport error, if any (never contains credentials).
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", e.Provider, e.Class)
	if e.Status != 0 {
		fmt.Fprintf(&b, " (http %d", e.Status)
		if e.Code != 0 && e.Code != e.Status {
			fmt.Fprintf(&b, ", code %d", e.Code)
		}
		b.WriteString(")")
	} else if e.Code != 0 {
		fmt.Fprintf(&b, " (code %d)", e.Code)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Scope != ScopeNone {
		fmt.Fprintf(&b, " (%s limit)", e.Scope)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// ClassOf classifies err: None for nil, the Class of a wrapped *Error, Retryable for anything
// else (transport failures, timeouts, cancelled contexts).
func ClassOf(err error) Class {
	if err == nil {
		return None
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Class
	}
	return Retryable
}

// ScopeOf returns the scope of a rate-limit error: ScopeNone for anything else.
func ScopeOf(err error) Scope {
	var e *Error
	if errors.As(err, &e) && e.Class == RateLimited {
		return e.Scope
	}
	return ScopeNone
}

// RetryAfterOf returns the provider's requested wait, 0 when it gave none.
func RetryAfterOf(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// TransportError wraps a failure to reach the provider (Retryable). Note that the request may
// have been delivered: providers have no idempotency key, so callers keep their own send log.
func TransportError(provider, op string, err error) *Error {
	return &Error{Provider: provider, Class: Retryable, Message: op + ": " + err.Error(), Err: err}
}

// Message types of InboundMessage.Type.
const (
	TypeText     = "text"
	TypeImage    = "image"
	TypeAudio    = "audio"
	TypeVideo    = "video"
	TypeDocument = "document"
	TypeSticker  = "sticker"
	TypeLocation = "location"
	TypeOther    = "other"
)

// InboundMessage is a user message normalized across channels.
//
//   - ProviderMessageID: WhatsApp wamid; Telegram "<chat_id>:<message_id>". Unique per channel,
//     use it for deduplication (Nats-Msg-Id "<channel>:<ProviderMessageID>").
//   - ExternalUserID: WhatsApp wa_id; Telegram from.id (decimal).
//   - ChatID: where to reply: WhatsApp wa_id; Telegram chat.id (decimal).
//   - Text: the text for Type "text"; for media the caption, if any (answer media by Type,
//     not by whether Text is empty).
type InboundMessage struct {
	ProviderMessageID string
	ExternalUserID    string
	ChatID            string
	DisplayName       string
	Language          string
	Text              string
	Type              string
	Timestamp         time.Time
}

// SplitText splits text into parts of at most max runes (max <= 0 means MaxTextRunes),
// preferring paragraph breaks, then sentence ends, then line breaks, then spaces, and as a last
// resort cutting between two runes (never inside a UTF-8 sequence). Whitespace at the cut points
// is dropped, everything else is kept in order; parts are never empty. Text that is empty or
// only whitespace gives no parts.
func SplitText(text string, max int) []string {
	if max <= 0 {
		max = MaxTextRunes
	}
	var parts []string
	rest := strings.TrimSpace(text)
	for rest != "" {
		if utf8.RuneCountInString(rest) <= max {
			parts = append(parts, rest)
			break
		}
		cut := byteOffsetOfRune(rest, max) // rest[:cut] has exactly max runes
		at := splitPoint(rest, cut)
		part := strings.TrimRightFunc(rest[:at], unicode.IsSpace)
		if part == "" { // cannot happen (rest starts with non-space), but never loop forever
			at = cut
			part = rest[:cut]
		}
		parts = append(parts, part)
		rest = strings.TrimLeftFunc(rest[at:], unicode.IsSpace)
	}
	return parts
}

// byteOffsetOfRune returns the byte offset after the first n runes of s.
func byteOffsetOfRune(s string, n int) int {
	i := 0
	for k := 0; k < n && i < len(s); k++ {
		_, w := utf8.DecodeRuneInString(s[i:])
		i += w
	}
	return i
}

// splitPoint picks where to cut s so that s[:at] fits in s[:limit]. 0 < at <= limit.
func splitPoint(s string, limit int) int {
	min := limit / 3 // prefer structural breaks only if they keep parts reasonably full
	// Paragraph break: a blank line.
	window := s[:limit]
	if limit < len(s) && s[limit] == '\n' && strings.HasSuffix(window, "\n") {
		return limit
	}
	if i := strings.LastIndex(window, "\n\n"); i >= min && i > 0 {
		return i
	}
	// Sentence end: terminal punctuation (plus closing quotes/brackets) followed by space,
	// or a CJK full-width terminator.
	best := -1
	for i := 0; i < len(window); {
		r, w := utf8.DecodeRuneInString(window[i:])
		end := i + w
		i = end
		switch r {
		case '。', '！', '？', '｡':
			best = end
			continue
		case '.', '!', '?', '…', ';':
		default:
			continue
		}
		j := end
		for j < len(s) {
			r2, w2 := utf8.DecodeRuneInString(s[j:])
			if !strings.ContainsRune(`"')]»”’`, r2) {
				break
			}
			j += w2
		}
		if j > limit {
			continue
		}
		if j == len(s) {
			best = j
			continue
		}
		if r2, _ := utf8.DecodeRuneInString(s[j:]); unicode.IsSpace(r2) {
			best = j
		}
	}
	if best >= min && best > 0 {
		return best
	}
	// Line break, then any space. The rune just after the window counts too.
	if r, _ := utf8.DecodeRuneInString(s[limit:]); limit < len(s) && unicode.IsSpace(r) {
		return limit
	}
	if i := strings.LastIndexByte(window, '\n'); i >= min && i > 0 {
		return i
	}
	if i := lastSpace(window); i > 0 {
		return i
	}
	return limit
}

func lastSpace(s string) int {
	for i := len(s); i > 0; {
		r, w := utf8.DecodeLastRuneInString(s[:i])
		i -= w
		if unicode.IsSpace(r) {
			return i
		}
	}
	return -1
}
