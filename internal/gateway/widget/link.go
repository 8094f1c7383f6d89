package widget

// Linking the app (or the widget) to the person's WhatsApp or Telegram chat with the same coach
// (internal/people): POST /api/v1/app/link issues a one-time code, the person sends
// "LINK <code>" in the chat (retrieve redeems it), GET lists the linked channels and
// DELETE /api/v1/app/link/{channel} unlinks. Authenticated by the app's (or widget's) session
// token as a Bearer header; everything runs in the token's creator's tenant.

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/auth"
	"github.com/coachwire/coachwire/internal/channels"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/gateway/httpx"
	"github.com/coachwire/coachwire/internal/people"
)

// linkClaims are the session of a link request: its Authorization: Bearer token.
func (s *Server) linkClaims(r *http.Request) (auth.WidgetClaims, error) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || strings.TrimSpace(tok) == "" {
		return auth.WidgetClaims{}, httpx.Unauthorized("missing session token (Authorization: Bearer <token>)")
	}
	c, err := s.Auth.VerifyWidget(strings.TrimSpace(tok))
	if err != nil {
		return auth.WidgetClaims{}, httpx.Unauthorized("invalid session token")
	}
	return c, nil
}

// linkCodeOut is the answer of POST /api/v1/app/link.
type linkCodeOut struct {
	Code        string    `json:"code"`
	ExpiresAt   time.Time `json:"expires_at"`
	Message     string    `json:"message"`
	WhatsAppURL *string   `json:"whatsapp_url"`
	TelegramURL *string   `json:"telegram_url"`
}

// CreateLink answers POST /api/v1/app/link: a new code for the session's end user, and where
// to send it: the Telegram deep link (t.me/<bot>?start=link_<code>) when the creator has a
// Telegram bot, the WhatsApp chat link (wa.me/<number>?text=LINK <code>) when the WhatsApp
// channel's number is known (channels.Config.DisplayPhoneNumber); null otherwise.
func (s *Server) CreateLink(w http.ResponseWriter, r *http.Request) error {
	claims, err := s.linkClaims(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	var out linkCodeOut
	err = s.Store.InTenant(ctx, claims.CreatorID, func(q *db.Queries) error {
		if _, err := q.GetEndUser(ctx, claims.EndUserID); err != nil {
			return err
		}
		code, err := people.NewCode(ctx, q, claims.CreatorID, claims.EndUserID, s.Now())
		if err != nil {
			return err
		}
		out = linkCodeOut{Code: code.Code, ExpiresAt: code.ExpiresAt,
			Message: "Send LINK " + code.Code + " in your WhatsApp or Telegram chat with us within 10 minutes."}
		chs, err := q.ListChannels(ctx)
		if err != nil {
			return err
		}
		for _, ch := range chs {
			cfg, err := channels.ParseConfig(ch.Config)
			if err != nil {
				continue
			}
			switch {
			case ch.Type == events.ChannelTelegram && cfg.BotUsername != "" && out.TelegramURL == nil:
				u := "https://t.me/" + url.PathEscape(cfg.BotUsername) + "?start=link_" + code.Code
				out.TelegramURL = &u
			case ch.Type == events.ChannelWhatsApp && cfg.DisplayPhoneNumber != "" && out.WhatsAppURL == nil:
				if n := waDigits(cfg.DisplayPhoneNumber); n != "" {
					u := "https://wa.me/" + n + "?text=" + url.QueryEscape("LINK "+code.Code)
					out.WhatsAppURL = &u
				}
			}
		}
		return nil
	})
	switch {
	case errors.Is(err, people.ErrTooManyCodes):
		return httpx.RateLimited(w, time.Hour/people.CodesPerHour, "too many link codes; retry later")
	case err != nil:
		return httpx.OrNotFound(err, "end user")
	}
	w.Header().Set("Cache-Control", "no-store")
	httpx.WriteJSON(w, http.StatusCreated, out)
	return nil
}

// ListLinks answers GET /api/v1/app/link: the end users linked into the session's person
// (the session's own included).
func (s *Server) ListLinks(w http.ResponseWriter, r *http.Request) error {
	claims, err := s.linkClaims(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	var ids map[uuid.UUID][]people.Identity
	err = s.Store.InTenant(ctx, claims.CreatorID, func(q *db.Queries) error {
		var err error
		ids, _, err = people.Identities(ctx, q, claims.EndUserID)
		return err
	})
	if err != nil {
		return err
	}
	list := ids[claims.EndUserID]
	if list == nil {
		return httpx.NotFound("end user")
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"identities": list})
	return nil
}

// Unlink answers DELETE /api/v1/app/link/{channel}: every end user of the session's person on
// that channel (other than the session's own) becomes its own person again. 404 not_linked when
// there is none.
func (s *Server) Unlink(w http.ResponseWriter, r *http.Request) error {
	claims, err := s.linkClaims(r)
	if err != nil {
		return err
	}
	channel := r.PathValue("channel")
	ctx := r.Context()
	n := 0
	err = s.Store.InTenant(ctx, claims.CreatorID, func(q *db.Queries) error {
		got, _, err := people.Identities(ctx, q, claims.EndUserID)
		if err != nil {
			return err
		}
		for _, id := range got[claims.EndUserID] {
			if id.Channel != channel || id.EndUserID == claims.EndUserID {
				continue
			}
			if _, err := people.Unlink(ctx, q, id.EndUserID); err != nil && !errors.Is(err, people.ErrNotLinked) {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return err
	}
	if n == 0 {
		return &httpx.Error{Status: http.StatusNotFound, Code: "not_linked", Message: "no " + channel + " chat is linked with this app"}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// waDigits is a phone number as wa.me wants it: its digits, "" when it has not 8 to 15.
func waDigits(phone string) string {
	d := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, phone)
	if len(d) < 8 || len(d) > 15 {
		return ""
	}
	return d
}
