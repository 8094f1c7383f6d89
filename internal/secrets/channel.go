package secrets

import (
	"encoding/json"
	"fmt"

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
