package whatsapp_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coachwire/coachwire/internal/channels"
	"github.com/coachwire/coachwire/internal/channels/whatsapp"
	"github.com/coachwire/coachwire/internal/channels/whatsapptest"
)

const secret = "app-secret-123"

func TestVerifyHandshake(t *testing.T) {
	q := url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {"tok"}, "hub.challenge": {"1158201444"}}
	if c, ok := whatsapp.VerifyHandshake(q, "tok"); !ok || c != "1158201444" {
		t.Fatalf("ok handshake: %q %v", c, ok)
	}
	if _, ok := whatsapp.VerifyHandshake(q, "other"); ok {
		t.Fatal("wrong token accepted")
	}
	if _, ok := whatsapp.VerifyHandshake(q, ""); ok {
		t.Fatal("empty configured token accepted")
	}
	bad := url.Values{"hub.mode": {"unsubscribe"}, "hub.verify_token": {"tok"}, "hub.challenge": {"1"}}
	if _, ok := whatsapp.VerifyHandshake(bad, "tok"); ok {
		t.Fatal("wrong mode accepted")
	}
	noChallenge := url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {"tok"}}
	if _, ok := whatsapp.VerifyHandshake(noChallenge, "tok"); ok {
		t.Fatal("missing challenge accepted")
	}
}

func TestVerifySignature(t *testing.T) {
	payload := whatsapptest.TextMessagePayload("PN1", whatsapptest.Msg{From: "4915112345678", Name: "Ana", Text: "hello"})
	body, sig := whatsapptest.SignedRequest(secret, payload)
	if !whatsapp.VerifySignature(secret, body, sig) {
		t.Fatal("signed body rejected")
	}
	cases := map[string]struct {
		body   []byte
		header string
		secret string
	}{
		"unsigned":      {body, "", secret},
		"no prefix":     {body, strings.TrimPrefix(sig, "sha256="), secret},
		"sha1":          {body, "sha1=" + strings.TrimPrefix(sig, "sha256="), secret},
		"not hex":       {body, "sha256=zz", secret},
		"short":         {body, sig[:20], secret},
		"wrong secret":  {body, sig, "other"},
		"empty secret":  {body, whatsapp.Sign("", body), ""},
		"tampered body": {[]byte(strings.Replace(string(body), "hello", "hellO", 1)), sig, secret},
		"reencoded":     {append([]byte(" "), body...), sig, secret},
	}
	for name, c := range cases {
		if whatsapp.VerifySignature(c.secret, c.body, c.header) {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestSignatureNonASCII(t *testing.T) {
	// Meta sends non-ASCII escaped (\u00fc...) and signs exactly those bytes.
	escaped := whatsapptest.TextMessagePayload("PN1", whatsapptest.Msg{WAMID: "wamid.A", From: "49151", Name: "Jürgen", Text: "Grüße 😀 日本"})
	if strings.ContainsAny(string(escaped), "üß😀日") || !strings.Contains(string(escaped), `\u00fc`) || !strings.Contains(string(escaped), `\ud83d\ude00`) {
		t.Fatalf("payload not escaped like Meta's: %s", escaped)
	}
	sig := whatsapp.Sign(secret, escaped)
	if !whatsapp.VerifySignature(secret, escaped, sig) {
		t.Fatal("escaped body rejected")
	}
	w, err := whatsapp.ParseWebhook(escaped)
	if err != nil || len(w.Messages) != 1 || w.Messages[0].Text != "Grüße 😀 日本" || w.Messages[0].Name != "Jürgen" {
		t.Fatalf("parse escaped: %+v %v", w, err)
	}
	// The same document with raw UTF-8 is different bytes: the escaped signature must not
	// verify it (re-encoding breaks the signature), but its own signature does.
	raw := []byte(strings.NewReplacer(`\u00fc`, "ü", `\u00df`, "ß", `\ud83d\ude00`, "😀", `\u65e5`, "日", `\u672c`, "本").Replace(string(escaped)))
	if !strings.Contains(string(raw), "Grüße 😀 日本") {
		t.Fatalf("raw variant: %s", raw)
	}
	if whatsapp.VerifySignature(secret, raw, sig) {
		t.Fatal("signature of the escaped bytes verified the raw UTF-8 bytes")
	}
	if !whatsapp.VerifySignature(secret, raw, whatsapp.Sign(secret, raw)) {
		t.Fatal("raw UTF-8 body with its own signature rejected")
	}
	w2, err := whatsapp.ParseWebhook(raw)
	if err != nil || w2.Messages[0].Text != w.Messages[0].Text {
		t.Fatalf("parse raw: %+v %v", w2, err)
	}
}

func TestParseWebhookMessagesAndStatuses(t *testing.T) {
	ts := time.Unix(1700000000, 0).UTC()
	body := whatsapptest.Payload(
		whatsapptest.Entry{Changes: []whatsapptest.Change{
			whatsapptest.MessagesChange("PN1",
				whatsapptest.Msg{WAMID: "wamid.1", From: "111", Name: "One", Text: "hi", Timestamp: ts},
				whatsapptest.Msg{WAMID: "wamid.2", From: "222", Name: "Two", Type: "image", Text: "look", Timestamp: ts}),
			whatsapptest.StatusesChange("PN1",
				whatsapptest.St{WAMID: "wamid.out1", Status: "delivered", RecipientID: "111", Timestamp: ts},
				whatsapptest.St{WAMID: "wamid.out2", Status: "failed", RecipientID: "222", ErrorCode: 131047, ErrorTitle: "Re-engagement message"}),
		}},
		whatsapptest.Entry{ID: "WABA2", Changes: []whatsapptest.Change{
			whatsapptest.MessagesChange("PN2", whatsapptest.Msg{WAMID: "wamid.3", From: "333", Type: "audio"}),
			{"field": "account_update", "value": map[string]any{"event": "X"}},
		}},
	)
	w, err := whatsapp.ParseWebhook(body)
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Messages) != 3 || len(w.Statuses) != 2 || w.Ignored != 1 {
		t.Fatalf("got %d messages %d statuses %d ignored", len(w.Messages), len(w.Statuses), w.Ignored)
	}
	m := w.Messages[0]
	if m.PhoneNumberID != "PN1" || m.WAMID != "wamid.1" || m.From != "111" || m.Name != "One" || m.Text != "hi" || !m.Timestamp.Equal(ts) {
		t.Fatalf("message 0: %+v", m)
	}
	in := m.Inbound()
	if in.ProviderMessageID != "wamid.1" || in.ExternalUserID != "111" || in.ChatID != "111" || in.Type != channels.TypeText || in.DisplayName != "One" {
		t.Fatalf("inbound: %+v", in)
	}
	if in := w.Messages[1].Inbound(); in.Type != channels.TypeImage || in.Text != "look" || in.DisplayName != "Two" {
		t.Fatalf("image inbound: %+v", in)
	}
	if w.Messages[2].PhoneNumberID != "PN2" || w.Messages[2].Inbound().Type != channels.TypeAudio {
		t.Fatalf("second entry: %+v", w.Messages[2])
	}
	st := w.Statuses[1]
	if st.Status != "failed" || st.RecipientID != "222" || len(st.Errors) != 1 || st.Errors[0].Code != 131047 || st.Errors[0].Title != "Re-engagement message" {
		t.Fatalf("status: %+v", st)
	}
}

func TestParseWebhookRejects(t *testing.T) {
	for _, b := range []string{``, `{`, `[]`, `{"object":"page","entry":[]}`, `{"object":"whatsapp_business_account","entry":{}}`} {
		if _, err := whatsapp.ParseWebhook([]byte(b)); err == nil {
			t.Errorf("%q accepted", b)
		}
	}
	w, err := whatsapp.ParseWebhook([]byte(`{"object":"whatsapp_business_account","entry":[]}`))
	if err != nil || len(w.Messages) != 0 {
		t.Fatal(w, err)
	}
}

func TestParseWebhook1000Batch(t *testing.T) {
	msgs := make([]whatsapptest.Msg, 1000)
	for i := range msgs {
		msgs[i] = whatsapptest.Msg{WAMID: fmt.Sprintf("wamid.%04d", i), From: fmt.Sprintf("49%09d", i), Name: "Ü" + fmt.Sprint(i), Text: fmt.Sprintf("message %d ✓", i)}
	}
	body, sig := whatsapptest.SignedRequest(secret, whatsapptest.BatchPayload("PN1", 10, msgs...))
	if !whatsapp.VerifySignature(secret, body, sig) {
		t.Fatal("batch signature")
	}
	w, err := whatsapp.ParseWebhook(body)
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Messages) != 1000 {
		t.Fatalf("%d messages", len(w.Messages))
	}
	for i, m := range w.Messages {
		if m.WAMID != msgs[i].WAMID || m.Text != msgs[i].Text || m.Name != msgs[i].Name {
			t.Fatalf("message %d: %+v", i, m)
		}
	}
}

func BenchmarkParseWebhook1000(b *testing.B) {
	msgs := make([]whatsapptest.Msg, 1000)
	for i := range msgs {
		msgs[i] = whatsapptest.Msg{From: fmt.Sprint(i), Text: "hello there"}
	}
	body := whatsapptest.BatchPayload("PN1", 10, msgs...)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := whatsapp.ParseWebhook(body); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzParseWebhook(f *testing.F) {
	f.Add(whatsapptest.TextMessagePayload("PN1", whatsapptest.Msg{WAMID: "wamid.1", From: "1", Name: "Jürgen", Text: "hi 😀"}))
	f.Add(whatsapptest.StatusPayload("PN1", whatsapptest.St{WAMID: "wamid.1", Status: "failed", RecipientID: "1", ErrorCode: 131047}))
	f.Add([]byte(`{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"messages":[{"timestamp":1.5e3}]}}]}]}`))
	f.Add([]byte(`{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"user_preferences","value":{"user_preferences":[{"wa_id":"1","value":"stop"}]}}]}]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		w, err := whatsapp.ParseWebhook(raw)
		if err != nil {
			return
		}
		for _, m := range w.Messages {
			in := m.Inbound()
			if in.ProviderMessageID != m.WAMID || in.Type == "" {
				t.Fatalf("inbound %+v from %+v", in, m)
			}
		}
	})
}
