// Package setup holds the rules of connecting, changing and removing a creator's WhatsApp and
// Telegram channels: which settings each type takes and requires, the WhatsApp defaults, the
// opt-out and opt-in words, sealing the credentials, and the Telegram Bot API calls (getMe,
// setWebhook, deleteWebhook) a channel's lifecycle makes. It is a subpackage of channels because
// it uses the provider adapters (channels/telegram, channels/whatsapp), which import channels.
//
// A refused request is an *Error saying how it was refused (Kind) and with which code; the
// gateway maps it to its HTTP answer.
package setup

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/internal/channels"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/secrets"
)

// Error is a channel request the rules refuse.
type Error struct {
	Kind    Kind
	Code    string
	Message string
	// Err is the provider's error behind a Telegram refusal (for logs; never shown).
	Err error
}

// Kind is the class of an Error.
type Kind int

// Kinds of Error.
const (
	// Invalid: the request breaks a rule, or the provider refused it for good (400).
	Invalid Kind = iota + 1
	// Conflict: the request does not fit the channel's current state (409).
	Conflict
	// NotFound: the creator has no such channel (404).
	NotFound
	// Unavailable: the provider did not answer or failed for now; trying again may work (502).
	Unavailable
)

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

func invalid(code, msg string) error { return &Error{Kind: Invalid, Code: code, Message: msg} }

// orNotFound turns "no such row in this tenant" into a NotFound channel.
func orNotFound(err error) error {
	if db.IsNotFound(err) {
		return &Error{Kind: NotFound, Code: "not_found", Message: "channel not found"}
	}
	return err
}

// providerError classifies a failed Bot API call: a permanent refusal (bad token, bad request)
// is Invalid telegram_rejected, anything else (transport, 5xx, rate limit) Unavailable
// telegram_unavailable.
// The message of a refusal ends with the provider's own words (say), so the creator sees why.
func providerError(err error, rejected, unavailable string) error {
	if channels.ClassOf(err) == channels.Permanent {
		return &Error{Kind: Invalid, Code: "telegram_rejected", Message: rejected + say(err), Err: err}
	}
	return &Error{Kind: Unavailable, Code: "telegram_unavailable", Message: unavailable, Err: err}
}

// whatsAppError classifies a failed Graph phone-number lookup: a refused token (code 190, HTTP
// 401) is Invalid whatsapp_token_rejected, another refusal (an id the token cannot see, code
// 100) Invalid whatsapp_number_rejected, anything else Unavailable whatsapp_unavailable.
func whatsAppError(err error) error {
	var ce *channels.Error
	if channels.ClassOf(err) != channels.Permanent || !errors.As(err, &ce) {
		return &Error{Kind: Unavailable, Code: "whatsapp_unavailable", Message: "WhatsApp did not answer the phone number lookup; try again", Err: err}
	}
	if ce.Code == 190 || ce.Status == http.StatusUnauthorized {
		return &Error{Kind: Invalid, Code: "whatsapp_token_rejected", Message: "WhatsApp refused the access token" + say(err), Err: err}
	}
	return &Error{Kind: Invalid, Code: "whatsapp_number_rejected", Message: "WhatsApp refused the phone number id" + say(err), Err: err}
}

// say is ": " and what the provider answered (its error description, without the adapter's
// "method: " prefix), or "" when it did not answer. Provider descriptions never carry the
// credentials (the adapters keep URLs with tokens out of their errors).
func say(err error) string {
	var ce *channels.Error
	if !errors.As(err, &ce) || ce.Status == 0 || ce.Message == "" {
		return ""
	}
	m := ce.Message
	if before, rest, ok := strings.Cut(m, ": "); ok && !strings.Contains(before, " ") {
		m = rest // "getMe: Unauthorized" → "Unauthorized"
	}
	const maxSay = 300
	if len(m) > maxSay {
		m = m[:maxSay] + "…"
	}
	return ": " + m
}

// Deps is what the channel rules need.
type Deps struct {
	Store *db.Store
	// Keys seals and opens channel credentials. Connect needs it; Remove without it skips the
	// Telegram deleteWebhook.
	Keys *secrets.Keyring
	// TelegramAPIURL is the Bot API base URL ("" means https://api.telegram.org).
	TelegramAPIURL string
	// WhatsAppAPIURL is the Graph API base URL ("" means https://graph.facebook.com).
	WhatsAppAPIURL string
	// HTTP calls the providers' APIs (nil: the adapter's default client).
	HTTP *http.Client
	// PublicURL is where the platform is reached from outside: webhook URLs start with it.
	PublicURL string
	// Log reports what is best effort (a Telegram deleteWebhook that failed); nil: not logged.
	Log *slog.Logger
}

// WebhookURL is the URL a provider calls for channel id of type typ.
func WebhookURL(publicURL, typ string, id uuid.UUID) string {
	return strings.TrimRight(publicURL, "/") + "/webhooks/" + typ + "/" + id.String()
}

// errNoKeyring: Connect was given no keyring to seal the credentials with.
var errNoKeyring = errors.New("channels/setup: no secrets keyring (Deps.Keys)")

func sealError(id uuid.UUID, err error) error { return fmt.Errorf("seal channel %s: %w", id, err) }
