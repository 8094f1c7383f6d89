package whatsapptest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/coachwire/coachwire/internal/channels/whatsapp"
)

var payloadSeq atomic.Int64

// NewWAMID returns a unique wamid-looking id.
func NewWAMID() string {
	return fmt.Sprintf("wamid.HBgIN%016d", payloadSeq.Add(1))
}

// Msg is an inbound message for a payload. Empty WAMID gets a unique one, empty Type means
// "text", zero Timestamp means now. For media types Text is used as the caption.
type Msg struct {
	WAMID     string
	From      string
	Name      string
	Type      string
	Text      string
	Timestamp time.Time
}

// St is a delivery status for a payload. ErrorCode > 0 adds an errors[] entry.
type St struct {
	WAMID       string
	Status      string // sent, delivered, read, failed
	RecipientID string
	Timestamp   time.Time
	ErrorCode   int
	ErrorTitle  string
}

// Change is one entry.changes[] element.
type Change map[string]any

// Entry is one entry[] element.
type Entry struct {
	ID      string // WhatsApp Business Account id; default "WABA_TEST"
	Changes []Change
}

func ts(t time.Time) string {
	if t.IsZero() {
		t = time.Now()
	}
	return strconv.FormatInt(t.Unix(), 10)
}

func metadata(phoneNumberID string) map[string]any {
	return map[string]any{"display_phone_number": "15550000000", "phone_number_id": phoneNumberID}
}

// MessagesChange builds a "messages" change carrying msgs (with their contacts).
func MessagesChange(phoneNumberID string, msgs ...Msg) Change {
	var contacts, messages []map[string]any
	seen := map[string]bool{}
	for _, m := range msgs {
		if m.WAMID == "" {
			m.WAMID = NewWAMID()
		}
		if m.Type == "" {
			m.Type = "text"
		}
		if !seen[m.From] {
			seen[m.From] = true
			contacts = append(contacts, map[string]any{"profile": map[string]any{"name": m.Name}, "wa_id": m.From})
		}
		wm := map[string]any{"from": m.From, "id": m.WAMID, "timestamp": ts(m.Timestamp), "type": m.Type}
		switch m.Type {
		case "text":
			wm["text"] = map[string]any{"body": m.Text}
		case "image", "video", "document":
			media := map[string]any{"mime_type": "application/octet-stream", "sha256": "x", "id": "MEDIA" + m.WAMID}
			if m.Text != "" {
				media["caption"] = m.Text
			}
			wm[m.Type] = media
		case "audio", "sticker":
			wm[m.Type] = map[string]any{"mime_type": "application/octet-stream", "sha256": "x", "id": "MEDIA" + m.WAMID}
		case "location":
			wm["location"] = map[string]any{"latitude": 52.52, "longitude": 13.405}
		case "unsupported":
			wm["errors"] = []map[string]any{{"code": 131051, "title": "Message type unknown"}}
		}
		messages = append(messages, wm)
	}
	return Change{"field": "messages", "value": map[string]any{
		"messaging_product": "whatsapp",
		"metadata":          metadata(phoneNumberID),
		"contacts":          contacts,
		"messages":          messages,
	}}
}

// StatusesChange builds a "messages" change carrying delivery statuses.
func StatusesChange(phoneNumberID string, sts ...St) Change {
	var statuses []map[string]any
	for _, s := range sts {
		ws := map[string]any{"id": s.WAMID, "status": s.Status, "timestamp": ts(s.Timestamp), "recipient_id": s.RecipientID}
		if s.ErrorCode != 0 {
			title := s.ErrorTitle
			if title == "" {
				title = "Error " + strconv.Itoa(s.ErrorCode)
			}
			ws["errors"] = []map[string]any{{"code": s.ErrorCode, "title": title, "message": title,
				"error_data": map[string]any{"details": title}}}
		}
		statuses = append(statuses, ws)
	}
	return Change{"field": "messages", "value": map[string]any{
		"messaging_product": "whatsapp",
		"metadata":          metadata(phoneNumberID),
		"statuses":          statuses,
	}}
}

// Payload encodes a webhook body the way Meta sends it: object whatsapp_business_account, the
// given entries, and every non-ASCII character escaped as \uXXXX (see EscapeNonASCII).
func Payload(entries ...Entry) []byte {
	var es []map[string]any
	for _, e := range entries {
		if e.ID == "" {
			e.ID = "WABA_TEST"
		}
		cs := e.Changes
		if cs == nil {
			cs = []Change{}
		}
		es = append(es, map[string]any{"id": e.ID, "changes": cs})
	}
	b, err := json.Marshal(map[string]any{"object": whatsapp.ObjectType, "entry": es})
	if err != nil {
		panic(err)
	}
	return EscapeNonASCII(b)
}

// TextMessagePayload is a one-entry, one-change payload carrying msgs.
func TextMessagePayload(phoneNumberID string, msgs ...Msg) []byte {
	return Payload(Entry{Changes: []Change{MessagesChange(phoneNumberID, msgs...)}})
}

// StatusPayload is a one-entry, one-change payload carrying statuses.
func StatusPayload(phoneNumberID string, sts ...St) []byte {
	return Payload(Entry{Changes: []Change{StatusesChange(phoneNumberID, sts...)}})
}

// BatchPayload spreads msgs over entries of at most perEntry messages (one change each), like a
// multi-entry batch (Meta sends up to 1000 updates per POST).
func BatchPayload(phoneNumberID string, perEntry int, msgs ...Msg) []byte {
	if perEntry <= 0 {
		perEntry = 1
	}
	var entries []Entry
	for len(msgs) > 0 {
		n := min(perEntry, len(msgs))
		entries = append(entries, Entry{Changes: []Change{MessagesChange(phoneNumberID, msgs[:n]...)}})
		msgs = msgs[n:]
	}
	return Payload(entries...)
}

// EscapeNonASCII rewrites every non-ASCII character of a JSON document as \uXXXX (UTF-16
// surrogate pairs above U+FFFF), as Meta does. Non-ASCII can only occur inside strings, so the
// result is equivalent JSON.
func EscapeNonASCII(b []byte) []byte {
	var out bytes.Buffer
	for len(b) > 0 {
		r, w := utf8.DecodeRune(b)
		switch {
		case r < utf8.RuneSelf:
			out.WriteByte(b[0])
		case r > 0xFFFF:
			r -= 0x10000
			fmt.Fprintf(&out, `\u%04x\u%04x`, 0xD800+(r>>10), 0xDC00+(r&0x3FF))
		default:
			fmt.Fprintf(&out, `\u%04x`, r)
		}
		b = b[w:]
	}
	return out.Bytes()
}

// SignedRequest returns the body unchanged and its X-Hub-Signature-256 value.
func SignedRequest(appSecret string, payload []byte) (body []byte, signatureHeader string) {
	return payload, whatsapp.Sign(appSecret, payload)
}

// NewWebhookRequest builds a signed POST to url with payload (appSecret "" leaves it unsigned).
func NewWebhookRequest(url, appSecret string, payload []byte) *http.Request {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		panic(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if appSecret != "" {
		req.Header.Set(whatsapp.SignatureHeader, whatsapp.Sign(appSecret, payload))
	}
	return req
}
