package channels

import "encoding/json"

// Config is a channel's non-secret settings (channels.config). Its credentials are sealed
// apart (secrets.ChannelCredentials).
type Config struct {
	// WhatsApp
	PhoneNumberID string    `json:"phone_number_id,omitempty"`
	APIVersion    string    `json:"api_version,omitempty"`
	Template      *Template `json:"template,omitempty"`
	// DisplayPhoneNumber is the number people write to, when WhatsApp told it at connect time
	// (the app's wa.me link for linking a chat, internal/people).
	DisplayPhoneNumber string `json:"display_phone_number,omitempty"`
	// Telegram
	BotID       int64  `json:"bot_id,omitempty"`
	BotUsername string `json:"bot_username,omitempty"`
	// GroupsEnabled lets the bot answer in groups, supergroups and channels it was added to
	// (only when mentioned or replied to); off by default: group messages are ignored.
	GroupsEnabled bool `json:"groups_enabled,omitempty"`
	// Words (besides STOP / START) that opt an end user out of or back into proactive messages,
	// as given when the channel was connected (see proactive.ChannelWords).
	OptOutWords []string `json:"opt_out_words,omitempty"`
	OptInWords  []string `json:"opt_in_words,omitempty"`
	// OptOutList and OptInList, once the creator edited the words (PATCH /api/v1/channels/{id}),
	// are the channel's complete opt-out and opt-in words, replacing the defaults and the extra
	// words above (then cleared); nil: never edited. proactive.ChannelWords reads both forms.
	OptOutList []string `json:"opt_out_list,omitempty"`
	OptInList  []string `json:"opt_in_list,omitempty"`
}

// Template is the approved WhatsApp template sent when the 24-hour window is closed.
type Template struct {
	Name     string `json:"name"`
	Language string `json:"language"`
}

// ParseConfig reads channels.config: the one place a channel row's settings are decoded.
func ParseConfig(raw []byte) (Config, error) {
	var c Config
	if len(raw) == 0 {
		return c, nil
	}
	err := json.Unmarshal(raw, &c)
	return c, err
}
