// Package whatsapp is the WhatsApp Cloud API (Meta Graph API) adapter: webhook verification,
// signature checking and parsing, and a client for sending messages and typing indicators.
package whatsapp

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/coachwire/coachwire/internal/channels"
)

// SignatureHeader carries the HMAC-SHA256 of the raw body keyed by the app secret.
const SignatureHeader = "X-Hub-Signature-256"

// ObjectType is the "object" of every WhatsApp Business webhook.
const ObjectType = "whatsapp_business_account"

// VerifyHandshake answers Meta's subscription check
// (GET ?hub.mode=subscribe&hub.verify_token=..&hub.challenge=..). ok is true only for mode
// "subscribe", a non-empty configured token equal (constant time) to hub.verify_token, and a
// non-empty challenge; answer 200 with challenge as the body, otherwise 403.
func VerifyHandshake(q url.Values, verifyToken string) (challenge string, ok bool) {
	if verifyToken == "" || q.Get("hub.mode") != "subscribe" {
		return "", false
	}
	if subtle.ConstantTimeCompare([]byte(q.Get("hub.verify_token")), []byte(verifyToken)) != 1 {
		return "", false
	}
	c := q.Get("hub.challenge")
	if c == "" {
		return "", false
	}
	return c, true
}

// Sign returns the X-Hub-Signature-256 value for body: "sha256=<hex>".
func Sign(appSecret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(appSecret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// VerifySignature checks header ("sha256=<hex>") against the HMAC-SHA256 of the exact raw
// request bytes. Never re-encode the JSON before verifying: Meta signs the body it sent, with
// non-ASCII escaped as \uXXXX. An empty secret or header never verifies.
func VerifySignature(appSecret string, rawBody []byte, header string) bool {
	if appSecret == "" {
		return false
	}
	hexSig, found := strings.CutPrefix(strings.TrimSpace(header), "sha256=")
	if !found {
		return false
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil || len(got) != sha256.Size {
		return false
	}
	m := hmac.New(sha256.New, []byte(appSecret))
	m.Write(rawBody)
	return hmac.Equal(got, m.Sum(nil))
}

// Webhook is one webhook POST flattened: every message, status and preference update of every
// entry and change, in payload order.
type Webhook struct {
	Object      string
	Messages    []Message
	Statuses    []Status
	Preferences []Preference
	// Ignored counts changes whose field this adapter does not handle (not "messages" or
	// "user_preferences"); they are not errors.
	Ignored int
}

// Message is an inbound user message.
type Message struct {
	PhoneNumberID      string // the business number it was sent to (metadata.phone_number_id)
	DisplayPhoneNumber string
	WAMID              string // unique id; deduplicate on it
	From               string // wa_id of the sender
	Name               string // profile name from contacts, may be empty
	Timestamp          time.Time
	// Type is the provider's type: text, image, audio, video, document, sticker, location,
	// contacts, button, interactive, reaction, order, system, unsupported, ...
	Type string
	// Text is the text body (type text), the button text (button) or the reply title
	// (interactive); empty otherwise.
	Text string
	// Caption is the media caption (image, video, document), if any.
	Caption string
	// ContextWAMID is the message this one replies to, if any.
	ContextWAMID string
}

// Status is a delivery status of a message we sent.
type Status struct {
	PhoneNumberID string
	WAMID         string
	Status        string // sent, delivered, read, failed (also "deleted" in rare cases)
	RecipientID   string
	Timestamp     time.Time
	Errors        []StatusError
}

// StatusError is an entry of statuses[].errors (for status "failed").
type StatusError struct {
	Code    int
	Title   string
	Message string
	Details string // error_data.details
}

// Preference is a user_preferences update (marketing opt-out / opt-in).
type Preference struct {
	PhoneNumberID string
	WaID          string
	Category      string // e.g. marketing_messages
	Value         string // stop | resume
	Detail        string
	Timestamp     time.Time
}

// ErrNotWhatsApp is returned for a payload whose object is not whatsapp_business_account.
var ErrNotWhatsApp = errors.New("whatsapp: webhook object is not " + ObjectType)

// unixTime decodes Meta's timestamps: a string of Unix seconds (also accepts a number).
type unixTime time.Time

func (t *unixTime) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		*t = unixTime{}
		return nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil {
			return fmt.Errorf("timestamp %q: %w", s, err)
		}
		n = int64(f)
	}
	*t = unixTime(time.Unix(n, 0).UTC())
	return nil
}

type caption struct {
	Caption string `json:"caption"`
}

type wireMessage struct {
	ID        string   `json:"id"`
	From      string   `json:"from"`
	Timestamp unixTime `json:"timestamp"`
	Type      string   `json:"type"`
	Text      *struct {
		Body string `json:"body"`
	} `json:"text"`
	Image    *caption `json:"image"`
	Video    *caption `json:"video"`
	Document *caption `json:"document"`
	Button   *struct {
		Text    string `json:"text"`
		Payload string `json:"payload"`
	} `json:"button"`
	Interactive *struct {
		Type        string `json:"type"`
		ButtonReply *struct {
			ID    string `json:"id"`
			Title string `json:"title"`
		} `json:"button_reply"`
		ListReply *struct {
			ID    string `json:"id"`
			Title string `json:"title"`
		} `json:"list_reply"`
	} `json:"interactive"`
	Context *struct {
		ID string `json:"id"`
	} `json:"context"`
}

type wireStatus struct {
	ID          string   `json:"id"`
	Status      string   `json:"status"`
	Timestamp   unixTime `json:"timestamp"`
	RecipientID string   `json:"recipient_id"`
	Errors      []struct {
		Code      int    `json:"code"`
		Title     string `json:"title"`
		Message   string `json:"message"`
		ErrorData *struct {
			Details string `json:"details"`
		} `json:"error_data"`
	} `json:"errors"`
}

type wirePayload struct {
	Object string `json:"object"`
	Entry  []struct {
		ID      string `json:"id"`
		Changes []struct {
			Field string `json:"field"`
			Value struct {
				Metadata struct {
					DisplayPhoneNumber string `json:"display_phone_number"`
					PhoneNumberID      string `json:"phone_number_id"`
				} `json:"metadata"`
				Contacts []struct {
					WaID    string `json:"wa_id"`
					Profile struct {
						Name string `json:"name"`
					} `json:"profile"`
				} `json:"contacts"`
				Messages        []wireMessage `json:"messages"`
				Statuses        []wireStatus  `json:"statuses"`
				UserPreferences []struct {
					WaID      string   `json:"wa_id"`
					Detail    string   `json:"detail"`
					Category  string   `json:"category"`
					Value     string   `json:"value"`
					Timestamp unixTime `json:"timestamp"`
				} `json:"user_preferences"`
			} `json:"value"`
		} `json:"changes"`
	} `json:"entry"`
}

// ParseWebhook parses a webhook body (verify the signature first). Messages, statuses and
// preferences of every entry and change are flattened in order. A body that is not JSON, or
// whose object is not whatsapp_business_account, is an error.
func ParseWebhook(raw []byte) (*Webhook, error) {
	var p wirePayload
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("whatsapp: parse webhook: %w", err)
	}
	if p.Object != ObjectType {
		return nil, ErrNotWhatsApp
	}
	w := &Webhook{Object: p.Object}
	for _, e := range p.Entry {
		for _, c := range e.Changes {
			v := c.Value
			pnid := v.Metadata.PhoneNumberID
			switch c.Field {
			case "messages", "":
			case "user_preferences":
			default:
				w.Ignored++
				continue
			}
			for _, m := range v.Messages {
				msg := Message{
					PhoneNumberID:      pnid,
					DisplayPhoneNumber: v.Metadata.DisplayPhoneNumber,
					WAMID:              m.ID,
					From:               m.From,
					Timestamp:          time.Time(m.Timestamp),
					Type:               m.Type,
				}
				for _, ct := range v.Contacts {
					if ct.WaID == m.From {
						msg.Name = ct.Profile.Name
						break
					}
				}
				if msg.Name == "" && len(v.Contacts) == 1 && v.Contacts[0].WaID == "" {
					msg.Name = v.Contacts[0].Profile.Name
				}
				switch {
				case m.Text != nil:
					msg.Text = m.Text.Body
				case m.Button != nil:
					msg.Text = m.Button.Text
				case m.Interactive != nil && m.Interactive.ButtonReply != nil:
					msg.Text = m.Interactive.ButtonReply.Title
				case m.Interactive != nil && m.Interactive.ListReply != nil:
					msg.Text = m.Interactive.ListReply.Title
				}
				for _, c := range []*caption{m.Image, m.Video, m.Document} {
					if c != nil && c.Caption != "" {
						msg.Caption = c.Caption
					}
				}
				if m.Context != nil {
					msg.ContextWAMID = m.Context.ID
				}
				w.Messages = append(w.Messages, msg)
			}
			for _, s := range v.Statuses {
				st := Status{
					PhoneNumberID: pnid,
					WAMID:         s.ID,
					Status:        s.Status,
					RecipientID:   s.RecipientID,
					Timestamp:     time.Time(s.Timestamp),
				}
				for _, e := range s.Errors {
					se := StatusError{Code: e.Code, Title: e.Title, Message: e.Message}
					if e.ErrorData != nil {
						se.Details = e.ErrorData.Details
					}
					st.Errors = append(st.Errors, se)
				}
				w.Statuses = append(w.Statuses, st)
			}
			for _, u := range v.UserPreferences {
				w.Preferences = append(w.Preferences, Preference{
					PhoneNumberID: pnid, WaID: u.WaID, Category: u.Category, Value: u.Value,
					Detail: u.Detail, Timestamp: time.Time(u.Timestamp),
				})
			}
		}
	}
	return w, nil
}

// Inbound normalizes the message. Types map as: text, button and interactive → text; image;
// audio and voice → audio; video; document; sticker; location; everything else → other.
// For media, Text is the caption.
func (m Message) Inbound() channels.InboundMessage {
	in := channels.InboundMessage{
		ProviderMessageID: m.WAMID,
		ExternalUserID:    m.From,
		ChatID:            m.From,
		DisplayName:       m.Name,
		Timestamp:         m.Timestamp,
		Text:              m.Text,
	}
	switch m.Type {
	case "text", "button", "interactive":
		in.Type = channels.TypeText
		if in.Text == "" { // e.g. an interactive type we do not read
			in.Type = channels.TypeOther
		}
	case "image":
		in.Type = channels.TypeImage
	case "audio", "voice":
		in.Type = channels.TypeAudio
	case "video":
		in.Type = channels.TypeVideo
	case "document":
		in.Type = channels.TypeDocument
	case "sticker":
		in.Type = channels.TypeSticker
	case "location":
		in.Type = channels.TypeLocation
	default:
		in.Type = channels.TypeOther
	}
	if in.Type != channels.TypeText {
		in.Text = m.Caption
	}
	return in
}
