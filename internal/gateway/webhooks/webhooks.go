// Package webhooks is the gateway's provider side: the WhatsApp Cloud API and Telegram Bot API
// webhooks of the creators' channels. Each request is authenticated by the provider's signature
// or secret token for its channel (the channel's credentials opened with the keyring it is
// given), turned into inbound and delivery-status events (inbound.go) and answered once
// JetStream holds them. Package gateway registers its handlers in the one route table.
package webhooks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/bus"
	"github.com/coachwire/coachwire/internal/channels/telegram"
	"github.com/coachwire/coachwire/internal/channels/whatsapp"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/gateway/httpx"
	"github.com/coachwire/coachwire/internal/secrets"
	"github.com/coachwire/coachwire/internal/telemetry"
)

// Deps is what the webhooks need, given by package gateway.
type Deps struct {
	Store *db.Store
	Bus   *bus.Bus
	// Keys opens the channels' sealed credentials (built by package app; nil: every webhook
	// answers 500).
	Keys *secrets.Keyring
	Log  *slog.Logger
	Now  func() time.Time
}

// Server serves the provider webhooks.
type Server struct {
	Deps
	channels channelCache
}

// New builds the webhooks' side of the gateway.
func New(d Deps) *Server {
	if d.Now == nil {
		d.Now = time.Now
	}
	return &Server{Deps: d, channels: channelCache{cache: map[uuid.UUID]cachedChannel{}}}
}

// maxWebhookBody bounds a provider webhook body: WhatsApp batches reach about 3 MB.
const maxWebhookBody = 3 << 20

// webhookAckTimeout bounds the wait for JetStream to store a webhook's messages; past it the
// provider gets a 503 and delivers again (deduplicated).
const webhookAckTimeout = 10 * time.Second

// readWebhookBody reads the raw body (signatures are computed over these exact bytes).
func readWebhookBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	r.Body = http.MaxBytesReader(w, r.Body, maxWebhookBody)
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, &httpx.Error{Status: http.StatusRequestEntityTooLarge, Code: "too_large", Message: fmt.Sprintf("webhook body over %d bytes", maxWebhookBody)}
		}
		return nil, httpx.BadRequest("bad_body", "could not read the body")
	}
	return raw, nil
}

// WhatsAppVerify answers Meta's subscription handshake with the channel's verify token
// (GET /webhooks/whatsapp/{channel}).
func (s *Server) WhatsAppVerify(w http.ResponseWriter, r *http.Request) error {
	ch, err := s.channel(r.Context(), r, events.ChannelWhatsApp)
	if err != nil {
		return err
	}
	challenge, ok := whatsapp.VerifyHandshake(r.URL.Query(), ch.Cred.VerifyToken)
	if !ok {
		return httpx.Forbidden("verification failed")
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, challenge)
	return nil
}

// WhatsApp (POST /webhooks/whatsapp/{channel}) checks X-Hub-Signature-256 over the raw body,
// then publishes every message of the batch to the inbound stream and every status to the
// delivery stream, and answers 200 once JetStream holds them all. Nothing is published for a
// body that is not signed with the channel's app secret.
func (s *Server) WhatsApp(w http.ResponseWriter, r *http.Request) error {
	ctx, span := webhookSpan(r, events.ChannelWhatsApp)
	defer span.End()
	ch, err := s.channel(ctx, r, events.ChannelWhatsApp)
	if err != nil {
		return err
	}
	raw, err := readWebhookBody(w, r)
	if err != nil {
		return err
	}
	sig := r.Header.Get("X-Hub-Signature-256")
	if sig == "" {
		return httpx.Unauthorized("missing X-Hub-Signature-256")
	}
	if !whatsapp.VerifySignature(ch.Cred.AppSecret, raw, sig) {
		return httpx.Forbidden("signature mismatch")
	}
	hook, err := whatsapp.ParseWebhook(raw)
	if err != nil {
		return httpx.BadRequest("bad_payload", "not a WhatsApp webhook payload")
	}
	msgs, err := whatsAppEvents(ch, hook, s.Now())
	if err != nil {
		return err
	}
	if err := s.publishAll(ctx, msgs); err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]int{"accepted": len(msgs)})
	return nil
}

// Telegram (POST /webhooks/telegram/{channel}) checks X-Telegram-Bot-Api-Secret-Token and
// publishes the update's new message. Updates that are not new user messages are acknowledged
// and dropped.
func (s *Server) Telegram(w http.ResponseWriter, r *http.Request) error {
	ctx, span := webhookSpan(r, events.ChannelTelegram)
	defer span.End()
	ch, err := s.channel(ctx, r, events.ChannelTelegram)
	if err != nil {
		return err
	}
	raw, err := readWebhookBody(w, r)
	if err != nil {
		return err
	}
	secret := r.Header.Get("X-Telegram-Bot-Api-Secret-Token")
	if secret == "" {
		return httpx.Unauthorized("missing X-Telegram-Bot-Api-Secret-Token")
	}
	if !telegram.VerifySecret(secret, ch.Cred.WebhookSecret) {
		return httpx.Forbidden("secret token mismatch")
	}
	u, err := telegram.ParseUpdate(raw)
	if err != nil {
		return httpx.BadRequest("bad_payload", "not a Telegram update")
	}
	in, ok := telegramInbound(ch, u, s.Log)
	if !ok {
		httpx.WriteJSON(w, http.StatusOK, map[string]int{"accepted": 0})
		return nil
	}
	nm, err := inboundMsg(ch, in, events.ChannelTelegram, telegramMsgID(ch, u), s.Now())
	if err != nil {
		return err
	}
	if err := s.publishAll(ctx, []bus.Outgoing{nm}); err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]int{"accepted": 1})
	return nil
}

// publishAll publishes asynchronously and waits until JetStream acknowledged every message (a
// duplicate id is acknowledged too), so a 1000-message batch costs one round trip, not 1000.
func (s *Server) publishAll(ctx context.Context, msgs []bus.Outgoing) error {
	ctx, cancel := context.WithTimeout(ctx, webhookAckTimeout)
	defer cancel()
	if err := s.Bus.PublishBatch(ctx, msgs); err != nil {
		msg := "could not queue the webhook; retry"
		if errors.Is(err, context.DeadlineExceeded) {
			msg = "queueing the webhook timed out; retry"
		}
		return &httpx.Error{Status: http.StatusServiceUnavailable, Code: "unavailable", Message: msg, Err: err}
	}
	return nil
}

// webhookSpan starts the span of one provider webhook request: the root of the trace of the
// turns its messages start (a no-op span when tracing is off).
func webhookSpan(r *http.Request, channel string) (context.Context, trace.Span) {
	return telemetry.Tracer().Start(r.Context(), "webhook "+channel, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("coachwire.channel", channel), attribute.String("http.route", r.Pattern)))
}
