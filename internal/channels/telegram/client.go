package telegram

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coachwire/coachwire/internal/channels"
)

// DefaultBaseURL is the Bot API server.
const DefaultBaseURL = "https://api.telegram.org"

const provider = "telegram"

// Client calls the Bot API for one bot. Safe for concurrent use. The token is part of every
// request path; errors returned by the client never contain it.
type Client struct {
	token string
	base  string
	hc    *http.Client
}

// NewClient returns a client; baseURL "" means https://api.telegram.org, hc nil a client with a
// 30 s timeout.
func NewClient(token, baseURL string, hc *http.Client) *Client {
	if baseURL == "" {
		baseURL = DefaultBaseURL
	}
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{token: token, base: strings.TrimRight(baseURL, "/"), hc: hc}
}

// SendMessage sends text (1–4096 characters: split with channels.SplitText first) as plain
// text and returns the new message id.
func (c *Client) SendMessage(ctx context.Context, chatID int64, text string) (int64, error) {
	var res struct {
		MessageID int64 `json:"message_id"`
	}
	err := c.call(ctx, "sendMessage", map[string]any{"chat_id": chatID, "text": text}, &res)
	return res.MessageID, groupScope(chatID, err)
}

// groupScope narrows a 429 in a group, supergroup or channel (negative chat ids) to that chat:
// Telegram limits a bot to about 20 messages a minute in one group, apart from its overall
// limit. A 429 in a private chat is taken as the bot's overall limit (dispatch already keeps
// every private chat under its 1 message/s).
func groupScope(chatID int64, err error) error {
	var e *channels.Error
	if chatID < 0 && errors.As(err, &e) && e.Class == channels.RateLimited {
		e.Scope = channels.ScopePair
	}
	return err
}

// SendChatAction shows an action ("typing", ...) for up to 5 s or until the next message.
func (c *Client) SendChatAction(ctx context.Context, chatID int64, action string) error {
	return groupScope(chatID, c.call(ctx, "sendChatAction", map[string]any{"chat_id": chatID, "action": action}, nil))
}

// SendMessageDraft streams a partial reply as an ephemeral draft (private chats; draftID
// non-zero, the same for every update of one reply). Finish with SendMessage.
func (c *Client) SendMessageDraft(ctx context.Context, chatID int64, draftID int64, text string) error {
	return c.call(ctx, "sendMessageDraft", map[string]any{"chat_id": chatID, "draft_id": draftID, "text": text}, nil)
}

// SetWebhook registers url with secret (see GenerateSecret). allowedUpdates nil keeps
// Telegram's default; maxConnections 0 keeps the default (40), else 1–100.
func (c *Client) SetWebhook(ctx context.Context, url, secret string, allowedUpdates []string, maxConnections int) error {
	p := map[string]any{"url": url, "secret_token": secret}
	if allowedUpdates != nil {
		p["allowed_updates"] = allowedUpdates
	}
	if maxConnections > 0 {
		p["max_connections"] = maxConnections
	}
	return c.call(ctx, "setWebhook", p, nil)
}

// DeleteWebhook removes the webhook.
func (c *Client) DeleteWebhook(ctx context.Context) error {
	return c.call(ctx, "deleteWebhook", map[string]any{}, nil)
}

// WebhookInfo is the result of GetWebhookInfo (the fields coachwire reads).
type WebhookInfo struct {
	URL                  string `json:"url"`
	PendingUpdateCount   int    `json:"pending_update_count"`
	LastErrorDate        int64  `json:"last_error_date"`
	LastErrorMessage     string `json:"last_error_message"`
	MaxConnections       int    `json:"max_connections"`
	HasCustomCertificate bool   `json:"has_custom_certificate"`
}

// GetWebhookInfo returns the bot's current webhook (URL "" when none is set).
func (c *Client) GetWebhookInfo(ctx context.Context) (WebhookInfo, error) {
	var info WebhookInfo
	err := c.call(ctx, "getWebhookInfo", map[string]any{}, &info)
	return info, err
}

// User is the result of GetMe.
type User struct {
	ID        int64  `json:"id"`
	IsBot     bool   `json:"is_bot"`
	FirstName string `json:"first_name"`
	Username  string `json:"username"`
}

// GetMe checks the token and returns the bot.
func (c *Client) GetMe(ctx context.Context) (User, error) {
	var u User
	err := c.call(ctx, "getMe", map[string]any{}, &u)
	return u, err
}

type apiResponse struct {
	OK          bool            `json:"ok"`
	Result      json.RawMessage `json:"result"`
	ErrorCode   int             `json:"error_code"`
	Description string          `json:"description"`
	Parameters  *struct {
		RetryAfter      int   `json:"retry_after"`
		MigrateToChatID int64 `json:"migrate_to_chat_id"`
	} `json:"parameters"`
}

func (c *Client) call(ctx context.Context, method string, params any, out any) error {
	body, err := json.Marshal(params)
	if err != nil {
		return &channels.Error{Provider: provider, Class: channels.Permanent, Message: method + ": encode: " + err.Error()}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/bot"+c.token+"/"+method, bytes.NewReader(body))
	if err != nil {
		// the url.Error-free message of NewRequest may still quote the URL: do not pass it on
		return &channels.Error{Provider: provider, Class: channels.Permanent, Message: method + ": invalid base URL or token"}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error quotes the URL, which contains the token
		}
		return channels.TransportError(provider, method, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return channels.TransportError(provider, method+": read response", err)
	}
	var r apiResponse
	jerr := json.Unmarshal(raw, &r)
	if resp.StatusCode/100 == 2 && jerr == nil && r.OK {
		if out != nil && len(r.Result) > 0 {
			if err := json.Unmarshal(r.Result, out); err != nil {
				return &channels.Error{Provider: provider, Status: resp.StatusCode, Class: channels.Permanent,
					Message: method + ": decode result: " + err.Error()}
			}
		}
		return nil
	}
	return classify(method, resp.StatusCode, &r)
}

// classify maps a failed call: 429 → RateLimited, ScopeNumber (RetryAfter = parameters.retry_after);
// 5xx → Retryable; 403 "bot was blocked by the user", "user is deactivated", "bot was kicked",
// "bot can't initiate conversation" → RecipientGone; other 4xx → Permanent.
func classify(method string, status int, r *apiResponse) *channels.Error {
	code := r.ErrorCode
	if code == 0 {
		code = status
	}
	e := &channels.Error{Provider: provider, Status: status, Code: code, Message: method + ": " + r.Description}
	if r.Description == "" {
		e.Message = method + ": " + http.StatusText(status)
	}
	if r.Parameters != nil && r.Parameters.RetryAfter > 0 {
		e.RetryAfter = time.Duration(r.Parameters.RetryAfter) * time.Second
	}
	d := strings.ToLower(r.Description)
	switch {
	case code == http.StatusTooManyRequests || status == http.StatusTooManyRequests:
		// Telegram does not say which limit was hit: the bot's (ScopeNumber) unless the call
		// was to a group (see groupScope).
		e.Class, e.Scope = channels.RateLimited, channels.ScopeNumber
	case status >= 500 || code >= 500:
		e.Class = channels.Retryable
	case code == http.StatusForbidden && (strings.Contains(d, "bot was blocked by the user") ||
		strings.Contains(d, "user is deactivated") || strings.Contains(d, "bot was kicked") ||
		strings.Contains(d, "bot can't initiate conversation")):
		e.Class = channels.RecipientGone
	default: // other 4xx, or HTTP 200 with ok:false / an unreadable body
		e.Class = channels.Permanent
	}
	return e
}
