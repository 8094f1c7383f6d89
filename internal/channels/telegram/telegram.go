// Package telegram is the Telegram Bot API adapter: webhook secret checking, update parsing and
// a client for sendMessage, sendChatAction, sendMessageDraft, setWebhook and deleteWebhook.
package telegram

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/coachwire/coachwire/internal/channels"
)

// SecretHeader carries the secret_token given to setWebhook on every webhook call.
const SecretHeader = "X-Telegram-Bot-Api-Secret-Token"

// VerifySecret compares the webhook header with the configured secret in constant time. An empty
// secret never verifies.
func VerifySecret(header, secret string) bool {
	if secret == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(header), []byte(secret)) == 1
}

const secretAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"

// GenerateSecret returns a random 64-character secret_token from A-Za-z0-9_- (384 bits).
func GenerateSecret() string {
	var b [64]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("telegram: crypto/rand: " + err.Error())
	}
	for i := range b {
		b[i] = secretAlphabet[b[i]&63] // 64 symbols: no modulo bias
	}
	return string(b[:])
}

// ValidSecret reports whether s is an acceptable secret_token (1–256 of A-Za-z0-9_-).
func ValidSecret(s string) bool {
	if len(s) < 1 || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(secretAlphabet, s[i]) < 0 {
			return false
		}
	}
	return true
}

// Update kinds.
const (
	KindMessage       = "message"
	KindEditedMessage = "edited_message"
	KindChannelPost   = "channel_post"
	KindEditedChannel = "edited_channel_post"
	KindCallbackQuery = "callback_query"
	KindMyChatMember  = "my_chat_member"
	KindOther         = "other"
)

// Update is one webhook update. Message is set for message, edited_message, channel_post and
// edited_channel_post (Kind tells which; Edited is true for the edited kinds). Only Kind
// "message" is a new user message (see Inbound).
type Update struct {
	UpdateID int64
	Kind     string
	Edited   bool
	Message  *Message
	// ChatMember is set for my_chat_member: NewStatus "kicked" in a private chat means the user
	// blocked the bot, "member" that they unblocked/restarted it.
	ChatMember *ChatMemberUpdate
}

// Message is a Telegram message.
type Message struct {
	MessageID    int64
	ChatID       int64
	ChatType     string // private, group, supergroup, channel
	FromID       int64  // 0 for channel posts
	IsBot        bool
	FirstName    string
	LastName     string
	Username     string
	LanguageCode string
	Date         time.Time
	Text         string
	Caption      string
	HasMedia     bool
	// MediaType is the first media field present: photo, voice, audio, video, video_note,
	// animation, document, sticker, location, venue, contact, poll, dice; "" for plain text.
	MediaType string
	// Mentions are the @usernames (without @) of the text's or caption's mention entities, and
	// MentionIDs the user ids of its text_mention entities.
	Mentions   []string
	MentionIDs []int64
	// ReplyToFromID is the sender of the message this one replies to (0: not a reply).
	ReplyToFromID int64
}

// Group reports whether the message was written in a group, supergroup or channel.
func (m *Message) Group() bool { return m.ChatType != "private" }

// Addressed reports whether a group message is meant for the bot: it mentions the bot
// (@username entity, or a text_mention of its id), replies to one of the bot's messages, or is
// a command addressed to it (/command@username).
// username is compared without case and without a leading @.
func (m *Message) Addressed(botID int64, username string) bool {
	username = strings.TrimPrefix(username, "@")
	if botID != 0 && m.ReplyToFromID == botID {
		return true
	}
	for _, u := range m.Mentions {
		if username != "" && strings.EqualFold(u, username) {
			return true
		}
	}
	for _, id := range m.MentionIDs {
		if botID != 0 && id == botID {
			return true
		}
	}
	// A command meant for this bot: "/memory@coach_bot".
	if cmd, _, _ := strings.Cut(strings.TrimSpace(m.Text), " "); strings.HasPrefix(cmd, "/") {
		if _, to, ok := strings.Cut(cmd, "@"); ok && username != "" && strings.EqualFold(to, username) {
			return true
		}
	}
	return false
}

// WithoutMention returns text with the bot's @username mentions removed and spaces trimmed
// ("@coach_bot how do I sleep?" → "how do I sleep?").
func WithoutMention(text, username string) string {
	username = strings.TrimPrefix(username, "@")
	if username == "" {
		return text
	}
	lower, at := strings.ToLower(text), "@"+strings.ToLower(username)
	var b strings.Builder
	for {
		i := strings.Index(lower, at)
		if i < 0 {
			b.WriteString(text)
			break
		}
		end := i + len(at)
		if end < len(text) && isUsernameByte(text[end]) {
			b.WriteString(text[:end]) // @coach_bot2 is another bot
		} else {
			b.WriteString(text[:i])
		}
		text, lower = text[end:], lower[end:]
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

func isUsernameByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// ChatMemberUpdate is the bot's own membership change in a chat.
type ChatMemberUpdate struct {
	ChatID    int64
	ChatType  string
	FromID    int64
	OldStatus string
	NewStatus string
	Date      time.Time
}

type wireUser struct {
	ID           int64  `json:"id"`
	IsBot        bool   `json:"is_bot"`
	FirstName    string `json:"first_name"`
	LastName     string `json:"last_name"`
	Username     string `json:"username"`
	LanguageCode string `json:"language_code"`
}

type wireChat struct {
	ID   int64  `json:"id"`
	Type string `json:"type"`
}

type wireEntity struct {
	Type   string    `json:"type"`
	Offset int       `json:"offset"` // UTF-16 code units
	Length int       `json:"length"`
	User   *wireUser `json:"user"` // text_mention
}

type wireMessage struct {
	MessageID       int64        `json:"message_id"`
	From            *wireUser    `json:"from"`
	Chat            wireChat     `json:"chat"`
	Date            int64        `json:"date"`
	Text            string       `json:"text"`
	Caption         string       `json:"caption"`
	Entities        []wireEntity `json:"entities"`
	CaptionEntities []wireEntity `json:"caption_entities"`
	ReplyTo         *struct {
		From *wireUser `json:"from"`
	} `json:"reply_to_message"`
}

// entityText cuts an entity out of text; offsets and lengths count UTF-16 code units.
func entityText(text string, off, n int) string {
	u := utf16.Encode([]rune(text))
	if off < 0 || n <= 0 || off+n > len(u) {
		return ""
	}
	return string(utf16.Decode(u[off : off+n]))
}

var mediaFields = []string{"photo", "voice", "audio", "video", "video_note", "animation", "document",
	"sticker", "location", "venue", "contact", "poll", "dice"}

func parseMessage(raw json.RawMessage) (*Message, error) {
	var wm wireMessage
	if err := json.Unmarshal(raw, &wm); err != nil {
		return nil, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, err
	}
	m := &Message{
		MessageID: wm.MessageID,
		ChatID:    wm.Chat.ID,
		ChatType:  wm.Chat.Type,
		Date:      time.Unix(wm.Date, 0).UTC(),
		Text:      wm.Text,
		Caption:   wm.Caption,
	}
	if wm.From != nil {
		m.FromID = wm.From.ID
		m.IsBot = wm.From.IsBot
		m.FirstName = wm.From.FirstName
		m.LastName = wm.From.LastName
		m.Username = wm.From.Username
		m.LanguageCode = wm.From.LanguageCode
	}
	if wm.ReplyTo != nil && wm.ReplyTo.From != nil {
		m.ReplyToFromID = wm.ReplyTo.From.ID
	}
	for _, src := range []struct {
		text string
		ents []wireEntity
	}{{wm.Text, wm.Entities}, {wm.Caption, wm.CaptionEntities}} {
		for _, e := range src.ents {
			switch e.Type {
			case "mention":
				if t := entityText(src.text, e.Offset, e.Length); strings.HasPrefix(t, "@") {
					m.Mentions = append(m.Mentions, t[1:])
				}
			case "text_mention":
				if e.User != nil {
					m.MentionIDs = append(m.MentionIDs, e.User.ID)
				}
			}
		}
	}
	for _, f := range mediaFields {
		if v, ok := fields[f]; ok && string(v) != "null" {
			m.HasMedia = true
			m.MediaType = f
			break
		}
	}
	return m, nil
}

// ParseUpdate parses a webhook body. Every update with an update_id parses; unknown kinds get
// Kind "other". Malformed JSON, or a body without update_id, is an error.
func ParseUpdate(raw []byte) (*Update, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, fmt.Errorf("telegram: parse update: %w", err)
	}
	idRaw, ok := fields["update_id"]
	if !ok {
		return nil, fmt.Errorf("telegram: parse update: no update_id")
	}
	var u Update
	if err := json.Unmarshal(idRaw, &u.UpdateID); err != nil {
		return nil, fmt.Errorf("telegram: parse update: update_id: %w", err)
	}
	u.Kind = KindOther
	for _, k := range []string{KindMessage, KindEditedMessage, KindChannelPost, KindEditedChannel} {
		v, ok := fields[k]
		if !ok || string(v) == "null" {
			continue
		}
		m, err := parseMessage(v)
		if err != nil {
			return nil, fmt.Errorf("telegram: parse update: %s: %w", k, err)
		}
		u.Kind, u.Message = k, m
		u.Edited = k == KindEditedMessage || k == KindEditedChannel
		return &u, nil
	}
	if v, ok := fields[KindMyChatMember]; ok && string(v) != "null" {
		var cm struct {
			Chat          wireChat  `json:"chat"`
			From          *wireUser `json:"from"`
			Date          int64     `json:"date"`
			OldChatMember struct {
				Status string `json:"status"`
			} `json:"old_chat_member"`
			NewChatMember struct {
				Status string `json:"status"`
			} `json:"new_chat_member"`
		}
		if err := json.Unmarshal(v, &cm); err != nil {
			return nil, fmt.Errorf("telegram: parse update: my_chat_member: %w", err)
		}
		u.Kind = KindMyChatMember
		u.ChatMember = &ChatMemberUpdate{ChatID: cm.Chat.ID, ChatType: cm.Chat.Type,
			OldStatus: cm.OldChatMember.Status, NewStatus: cm.NewChatMember.Status,
			Date: time.Unix(cm.Date, 0).UTC()}
		if cm.From != nil {
			u.ChatMember.FromID = cm.From.ID
		}
		return &u, nil
	}
	if _, ok := fields[KindCallbackQuery]; ok {
		u.Kind = KindCallbackQuery
	}
	return &u, nil
}

// Inbound normalizes a new user message. ok is false for anything else: edited messages,
// channel posts, non-message updates, messages without a sender or sent by a bot.
// ProviderMessageID is "<chat_id>:<message_id>" (message ids are unique per chat only);
// ExternalUserID is from.id, ChatID is chat.id (reply there). For media, Text is the caption.
func (u *Update) Inbound() (channels.InboundMessage, bool) {
	if u == nil || u.Kind != KindMessage || u.Message == nil || u.Message.FromID == 0 || u.Message.IsBot {
		return channels.InboundMessage{}, false
	}
	m := u.Message
	in := channels.InboundMessage{
		ProviderMessageID: strconv.FormatInt(m.ChatID, 10) + ":" + strconv.FormatInt(m.MessageID, 10),
		ExternalUserID:    strconv.FormatInt(m.FromID, 10),
		ChatID:            strconv.FormatInt(m.ChatID, 10),
		DisplayName:       strings.TrimSpace(m.FirstName + " " + m.LastName),
		Language:          m.LanguageCode,
		Text:              m.Text,
		Timestamp:         m.Date,
	}
	if in.DisplayName == "" {
		in.DisplayName = m.Username
	}
	switch m.MediaType {
	case "":
		in.Type = channels.TypeText
		if m.Text == "" {
			in.Type = channels.TypeOther // service message (join, pin, ...)
		}
	case "photo":
		in.Type = channels.TypeImage
	case "voice", "audio":
		in.Type = channels.TypeAudio
	case "video", "video_note", "animation":
		in.Type = channels.TypeVideo
	case "document":
		in.Type = channels.TypeDocument
	case "sticker":
		in.Type = channels.TypeSticker
	case "location", "venue":
		in.Type = channels.TypeLocation
	default:
		in.Type = channels.TypeOther
	}
	if in.Type != channels.TypeText {
		in.Text = m.Caption
	}
	return in, true
}
