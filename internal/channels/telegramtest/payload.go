package telegramtest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"

	"github.com/coachwire/coachwire/internal/channels/telegram"
)

// UpdatePayload builds a private-chat text message update. message_id equals updateID.
func UpdatePayload(updateID int64, chatID, fromID int64, text string) []byte {
	return encode(updateID, "message", message(updateID, chatID, fromID, map[string]any{"text": text}))
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
