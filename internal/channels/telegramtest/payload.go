package telegramtest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"
	"unicode/utf16"

	"github.com/coachwire/coachwire/internal/channels/telegram"
)

// UpdatePayload builds a private-chat text message update. message_id equals updateID.
func UpdatePayload(updateID int64, chatID, fromID int64, text string) []byte {
	return encode(updateID, "message", message(updateID, chatID, fromID, map[string]any{"text": text}))
}

// GroupUpdatePayload builds a text message in group chatID (negative; chatType "group" or
// "supergroup") from fromID. mention non-empty puts "@mention " in front of the text with its
// mention entity (offsets in UTF-16 code units, as Telegram counts them); replyToBot non-zero
// makes it a reply to a message sent by that bot id.
func GroupUpdatePayload(updateID int64, chatID int64, chatType string, fromID int64, text, mention string, replyToBot int64) []byte {
	extra := map[string]any{"text": text}
	if mention != "" {
		extra["text"] = "@" + mention + " " + text
		extra["entities"] = []map[string]any{{"type": "mention", "offset": 0, "length": len(utf16.Encode([]rune("@" + mention)))}}
	}
	if replyToBot != 0 {
		extra["reply_to_message"] = map[string]any{"message_id": updateID - 1, "date": time.Now().Unix(), "text": "Earlier answer",
			"chat": map[string]any{"id": chatID, "type": chatType}, "from": map[string]any{"id": replyToBot, "is_bot": true, "first_name": "Test Coach"}}
	}
	m := message(updateID, chatID, fromID, extra)
	m["chat"] = map[string]any{"id": chatID, "type": chatType, "title": "Test group"}
	return encode(updateID, "message", m)
}

// ChannelPostPayload builds a channel_post update (no sender) in channel chatID.
func ChannelPostPayload(updateID int64, chatID int64, text string) []byte {
	return encode(updateID, "channel_post", map[string]any{"message_id": updateID, "date": time.Now().Unix(), "text": text,
		"chat": map[string]any{"id": chatID, "type": "channel", "title": "Test channel"}, "sender_chat": map[string]any{"id": chatID, "type": "channel"}})
}

// EditedUpdatePayload builds an edited_message update.
func EditedUpdatePayload(updateID int64, chatID, fromID int64, text string) []byte {
	m := message(updateID, chatID, fromID, map[string]any{"text": text, "edit_date": time.Now().Unix()})
	return encode(updateID, "edited_message", m)
}

// MediaUpdatePayload builds a message update carrying media of kind (photo, voice, audio,
// video, document, sticker, location, ...) with an optional caption.
func MediaUpdatePayload(updateID int64, chatID, fromID int64, kind, caption string) []byte {
	extra := map[string]any{}
	switch kind {
	case "photo":
		extra["photo"] = []map[string]any{{"file_id": "F1", "file_unique_id": "U1", "width": 90, "height": 90}}
	case "location":
		extra["location"] = map[string]any{"latitude": 52.52, "longitude": 13.405}
	default:
		extra[kind] = map[string]any{"file_id": "F1", "file_unique_id": "U1"}
	}
	if caption != "" {
		extra["caption"] = caption
	}
	return encode(updateID, "message", message(updateID, chatID, fromID, extra))
}

// BlockedUpdatePayload builds the my_chat_member update Telegram sends when the user blocks the
// bot (new status "kicked").
func BlockedUpdatePayload(updateID int64, chatID, fromID int64) []byte {
	return encode(updateID, "my_chat_member", map[string]any{
		"chat":            map[string]any{"id": chatID, "type": "private"},
		"from":            map[string]any{"id": fromID, "is_bot": false, "first_name": "Test"},
		"date":            time.Now().Unix(),
		"old_chat_member": map[string]any{"status": "member", "user": map[string]any{"id": 1, "is_bot": true, "first_name": "Bot"}},
		"new_chat_member": map[string]any{"status": "kicked", "until_date": 0, "user": map[string]any{"id": 1, "is_bot": true, "first_name": "Bot"}},
	})
}

func message(messageID, chatID, fromID int64, extra map[string]any) map[string]any {
	chatType := "private"
	if chatID < 0 {
		chatType = "group"
	}
	m := map[string]any{
		"message_id": messageID,
		"from": map[string]any{"id": fromID, "is_bot": false, "first_name": "Test", "last_name": "User",
			"username": "test_user", "language_code": "en"},
		"chat": map[string]any{"id": chatID, "type": chatType, "first_name": "Test"},
		"date": time.Now().Unix(),
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func encode(updateID int64, kind string, v any) []byte {
	b, err := json.Marshal(map[string]any{"update_id": updateID, kind: v})
	if err != nil {
		panic(err)
	}
	return b
}

// NewWebhookRequest builds a webhook POST to url carrying payload with the secret header
// (secret "" omits the header).
func NewWebhookRequest(url, secret string, payload []byte) *http.Request {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		panic(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if secret != "" {
		req.Header.Set(telegram.SecretHeader, secret)
	}
	return req
}
