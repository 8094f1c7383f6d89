package secrets

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"
)

// ChannelCredentials are a channel's secrets, stored only as Keyring ciphertext bound to the
// channel id (channels.secrets). Never returned by the API, never logged.
type ChannelCredentials struct {
	// WhatsApp
	AccessToken string `json:"access_token,omitempty"`
	AppSecret   string `json:"app_secret,omitempty"`
	VerifyToken string `json:"verify_token,omitempty"`
	// Telegram
	BotToken      string `json:"bot_token,omitempty"`
	WebhookSecret string `json:"webhook_secret,omitempty"`
}

// String keeps credentials out of logs and error messages.
func (ChannelCredentials) String() string { return "[channel credentials]" }

// GoString keeps credentials out of %#v.
func (c ChannelCredentials) GoString() string { return c.String() }

// SealChannel encrypts a channel's credentials for the row of channelID.
func (k *Keyring) SealChannel(channelID uuid.UUID, c ChannelCredentials) (string, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	return k.Encrypt(b, channelID[:])
}

// OpenChannel decrypts the credentials of the row of channelID.
func (k *Keyring) OpenChannel(channelID uuid.UUID, ciphertext string) (ChannelCredentials, error) {
	var c ChannelCredentials
	b, err := k.Decrypt(ciphertext, channelID[:])
	if err != nil {
		return c, fmt.Errorf("channel %s credentials: %w", channelID, err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("channel %s credentials: %w", channelID, ErrDecrypt)
	}
	return c, nil
}

// ChannelConfig is a channel's non-secret settings (channels.config).
type ChannelConfig struct {
	// WhatsApp
	PhoneNumberID string    `json:"phone_number_id,omitempty"`
	APIVersion    string    `json:"api_version,omitempty"`
	Template      *Template `json:"template,omitempty"`
	// Telegram
	BotID       int64  `json:"bot_id,omitempty"`
	BotUsername string `json:"bot_username,omitempty"`
	// GroupsEnabled lets the bot answer in groups, supergroups and channels it was added to
	// (only when mentioned or replied to); off by default: group messages are ignored.
	GroupsEnabled bool `json:"groups_enabled,omitempty"`
	// Words (besides STOP / START) that opt an end user out of or back into proactive messages.
	OptOutWords []string `json:"opt_out_words,omitempty"`
	OptInWords  []string `json:"opt_in_words,omitempty"`
}

// Template is the approved WhatsApp template sent when the 24-hour window is closed.
type Template struct {
	Name     string `json:"name"`
	Language string `json:"language"`
}

// ParseChannelConfig reads channels.config.
func ParseChannelConfig(raw []byte) (ChannelConfig, error) {
	var c ChannelConfig
	if len(raw) == 0 {
		return c, nil
	}
	err := json.Unmarshal(raw, &c)
	return c, err
}

// Default opt-out and opt-in keywords, matched on the whole message, case-insensitively.
var (
	DefaultOptOutWords = []string{"STOP", "UNSUBSCRIBE", "STOPALL", "CANCEL", "END", "QUIT"}
	DefaultOptInWords  = []string{"START", "UNSTOP", "SUBSCRIBE"}
)

// Keyword reports whether text is an opt-out ("stop") or opt-in ("start") keyword of this
// channel, or neither ("").
func (c ChannelConfig) Keyword(text string) string {
	t := strings.ToUpper(strings.Trim(strings.TrimSpace(text), ".!"))
	t = strings.TrimPrefix(t, "/") // Telegram commands: /stop, /start
	if t == "" || len(t) > 64 {
		return ""
	}
	match := func(words, defaults []string) bool {
		return slices.Contains(defaults, t) || slices.ContainsFunc(words, func(w string) bool { return strings.ToUpper(strings.TrimSpace(w)) == t })
	}
	switch {
	case match(c.OptOutWords, DefaultOptOutWords):
		return "stop"
	case match(c.OptInWords, DefaultOptInWords):
		return "start"
	}
	return ""
}
