package whatsapp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/coachwire/coachwire/internal/channels"
)

// Defaults for Config.
const (
	DefaultAPIVersion = "v21.0"
	DefaultBaseURL    = "https://graph.facebook.com"
	provider          = "whatsapp"
)

// Graph error codes the adapter classifies.
const (
	CodeAPITooManyCalls   = 4      // application request limit
	CodeRateLimit         = 80007  // WABA rate limit
	CodeThroughput        = 130429 // per-number throughput (80 msg/s default)
	CodePairRateLimit     = 131056 // per-recipient pair rate limit
	CodeReengagement      = 131047 // outside the 24-hour window
	CodeUndeliverable     = 131026 // recipient cannot receive (no WhatsApp, old client, ToS)
	CodeNotInAllowedList  = 131030 // test number: recipient not in the allowed list
	CodeInvalidParameter  = 100
	CodeAccessTokenExpire = 190
)

// PairRateRetryAfter is the wait used for 131056 (about one message per 6 s per recipient).
const PairRateRetryAfter = 6 * time.Second

// Config of one WhatsApp business number. AccessToken, AppSecret and VerifyToken are secrets.
type Config struct {
	PhoneNumberID string
	AccessToken   string
	AppSecret     string
	VerifyToken   string
	APIVersion    string // default "v21.0"
	BaseURL       string // default https://graph.facebook.com
}

// Client sends messages for one business number. Safe for concurrent use.
type Client struct {
	cfg Config
	hc  *http.Client
}

// NewClient returns a client; hc nil means a client with a 30 s timeout.
func NewClient(cfg Config, hc *http.Client) *Client {
	if cfg.APIVersion == "" {
		cfg.APIVersion = DefaultAPIVersion
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{cfg: cfg, hc: hc}
}

// SendText sends a free-form text message (allowed only inside the 24-hour window; outside it
// the error is WindowClosed). body must be at most 4096 characters: split with
// channels.SplitText first. Returns the wamid.
func (c *Client) SendText(ctx context.Context, to, body string) (string, error) {
	return c.send(ctx, map[string]any{
		"messaging_product": "whatsapp",
		"recipient_type":    "individual",
		"to":                to,
		"type":              "text",
		"text":              map[string]any{"preview_url": false, "body": body},
	})
}

// SendTemplate sends an approved template (allowed outside the window). components may be nil.
func (c *Client) SendTemplate(ctx context.Context, to, name, lang string, components []map[string]any) (string, error) {
	tpl := map[string]any{"name": name, "language": map[string]any{"code": lang}}
	if len(components) > 0 {
		tpl["components"] = components
	}
	return c.send(ctx, map[string]any{
		"messaging_product": "whatsapp",
		"recipient_type":    "individual",
		"to":                to,
		"type":              "template",
		"template":          tpl,
	})
}

// Typing marks the inbound message read and shows the typing indicator (until the reply is
// sent or 25 s pass).
func (c *Client) Typing(ctx context.Context, inboundWAMID string) error {
	return c.status(ctx, map[string]any{
		"messaging_product": "whatsapp",
		"status":            "read",
		"message_id":        inboundWAMID,
		"typing_indicator":  map[string]any{"type": "text"},
	})
}

// MarkRead marks the inbound message read without a typing indicator.
func (c *Client) MarkRead(ctx context.Context, inboundWAMID string) error {
	return c.status(ctx, map[string]any{
		"messaging_product": "whatsapp",
		"status":            "read",
		"message_id":        inboundWAMID,
	})
}

func (c *Client) status(ctx context.Context, payload map[string]any) error {
	var out struct {
		Success bool `json:"success"`
	}
	if err := c.post(ctx, payload, &out); err != nil {
		return err
	}
	if !out.Success {
		return &channels.Error{Provider: provider, Status: http.StatusOK, Class: channels.Permanent,
			Message: "status update not acknowledged (success false)"}
	}
	return nil
}

func (c *Client) send(ctx context.Context, payload map[string]any) (string, error) {
	var out struct {
		Messages []struct {
			ID string `json:"id"`
		} `json:"messages"`
	}
	if err := c.post(ctx, payload, &out); err != nil {
		return "", err
	}
	if len(out.Messages) == 0 || out.Messages[0].ID == "" {
		// Accepted (2xx) but no id: do not retry blindly, the message may be on its way.
		return "", &channels.Error{Provider: provider, Status: http.StatusOK, Class: channels.Permanent,
			Message: "response without a message id"}
	}
	return out.Messages[0].ID, nil
}

// PhoneNumber is the Graph API's view of a business phone number (GET /{version}/{phone-number-id}).
type PhoneNumber struct {
	ID                 string `json:"id"`
	DisplayPhoneNumber string `json:"display_phone_number"`
	VerifiedName       string `json:"verified_name"`
}

// PhoneNumber looks the configured phone number id up with the access token: it checks both
// before a channel is saved (a wrong token is Graph code 190, an id the token cannot see code
// 100) without sending anything.
func (c *Client) PhoneNumber(ctx context.Context) (PhoneNumber, error) {
	var out PhoneNumber
	u := c.cfg.BaseURL + "/" + url.PathEscape(c.cfg.APIVersion) + "/" + url.PathEscape(c.cfg.PhoneNumberID) +
		"?fields=id,display_phone_number,verified_name"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return out, &channels.Error{Provider: provider, Class: channels.Permanent, Message: "build request: invalid base URL or phone number id"}
	}
	req.Header.Set("Authorization", "Bearer "+c.cfg.AccessToken)
	resp, err := c.hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return out, channels.TransportError(provider, "GET phone number", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return out, channels.TransportError(provider, "read response", err)
	}
	if resp.StatusCode/100 != 2 {
		return out, ParseError(resp.StatusCode, resp.Header, raw)
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return out, &channels.Error{Provider: provider, Status: resp.StatusCode, Class: channels.Permanent,
			Message: "decode response: " + err.Error()}
	}
	return out, nil
}

func (c *Client) endpoint() string {
	return c.cfg.BaseURL + "/" + url.PathEscape(c.cfg.APIVersion) + "/" + url.PathEscape(c.cfg.PhoneNumberID) + "/messages"
}

func (c *Client) post(ctx context.Context, payload any, out any) error {
	body, err := json.Marshal(payload)
	if err != nil {
		return &channels.Error{Provider: provider, Class: channels.Permanent, Message: "encode request: " + err.Error()}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint(), bytes.NewReader(body))
	if err != nil {
		return &channels.Error{Provider: provider, Class: channels.Permanent, Message: "build request: " + err.Error()}
	}
	req.Header.Set("Authorization", "Bearer "+c.cfg.AccessToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return channels.TransportError(provider, "POST messages", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return channels.TransportError(provider, "read response", err)
	}
	if resp.StatusCode/100 != 2 {
		return ParseError(resp.StatusCode, resp.Header, raw)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return &channels.Error{Provider: provider, Status: resp.StatusCode, Class: channels.Permanent,
			Message: "decode response: " + err.Error()}
	}
	return nil
}

// GraphError is the body of a failed Graph API call.
type GraphError struct {
	Message      string `json:"message"`
	Type         string `json:"type"`
	Code         int    `json:"code"`
	ErrorSubcode int    `json:"error_subcode"`
	FBTraceID    string `json:"fbtrace_id"`
	ErrorData    *struct {
		Details string `json:"details"`
	} `json:"error_data"`
}

// ParseError maps a non-2xx Graph response to a *channels.Error:
//
//   - codes 4 (app request limit) and 80007 (business account limit) → RateLimited, ScopeApp:
//     every number of the app waits (RetryAfter from Retry-After, if given)
//   - 130429 throughput, or HTTP 429 with another code → RateLimited, ScopeNumber
//   - 131056 pair rate limit → RateLimited, ScopePair, RetryAfter 6 s (or Retry-After if longer)
//   - 131047 re-engagement → WindowClosed
//   - 131026 undeliverable → RecipientGone: the number cannot receive WhatsApp messages (not
//     on WhatsApp, old client, terms not accepted); stop sending like for an opt-out.
//   - 131030 not in allowed list → Permanent: a configuration problem of a test number, not
//     something the end user did, so the user is not marked gone.
//   - 5xx → Retryable; other 4xx → Permanent.
func ParseError(status int, h http.Header, body []byte) *channels.Error {
	var wrap struct {
		Error GraphError `json:"error"`
	}
	_ = json.Unmarshal(body, &wrap)
	g := wrap.Error
	e := &channels.Error{Provider: provider, Status: status, Code: g.Code, Subcode: g.ErrorSubcode, Message: g.Message}
	if e.Message == "" {
		e.Message = http.StatusText(status)
	}
	if g.ErrorData != nil && g.ErrorData.Details != "" {
		e.Message += ": " + g.ErrorData.Details
	}
	ra := retryAfter(h)
	switch {
	case g.Code == CodePairRateLimit:
		e.Class, e.Scope = channels.RateLimited, channels.ScopePair
		e.RetryAfter = max(ra, PairRateRetryAfter)
	case g.Code == CodeAPITooManyCalls || g.Code == CodeRateLimit:
		// The app's or the business account's limit: every number sending with it waits.
		e.Class, e.Scope = channels.RateLimited, channels.ScopeApp
		e.RetryAfter = ra
	case status == http.StatusTooManyRequests || g.Code == CodeThroughput:
		e.Class, e.Scope = channels.RateLimited, channels.ScopeNumber
		e.RetryAfter = ra
	case g.Code == CodeReengagement:
		e.Class = channels.WindowClosed
	case g.Code == CodeUndeliverable:
		e.Class = channels.RecipientGone
	case status >= 500:
		e.Class = channels.Retryable
		e.RetryAfter = ra
	default:
		e.Class = channels.Permanent
	}
	return e
}

func retryAfter(h http.Header) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d.Round(time.Second)
		}
	}
	return 0
}
