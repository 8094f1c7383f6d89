package gateway

// Channels (creator side): connect, list, change and remove WhatsApp and Telegram channels.
// The rules are in package channels/setup; these handlers parse, call it and encode.

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/channels"
	"github.com/coachwire/coachwire/internal/channels/setup"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/proactive"
)

type templateIn struct {
	Name     string `json:"name"`
	Language string `json:"language"`
}

type channelIn struct {
	Type string `json:"type"`
	Name string `json:"name"`
	// WhatsApp
	PhoneNumberID string      `json:"phone_number_id"`
	AccessToken   string      `json:"access_token"`
	AppSecret     string      `json:"app_secret"`
	VerifyToken   string      `json:"verify_token"`
	APIVersion    string      `json:"api_version"`
	Template      *templateIn `json:"template"`
	// Telegram
	BotToken string `json:"bot_token"`
	// GroupsEnabled lets a Telegram bot answer in groups when mentioned or replied to.
	GroupsEnabled bool `json:"groups_enabled"`
	// Extra opt-out / opt-in keywords besides STOP / START.
	OptOutWords []string `json:"opt_out_words"`
	OptInWords  []string `json:"opt_in_words"`
	// Verify checks WhatsApp credentials with the Graph phone-number lookup before saving (the
	// console always sets it; a Telegram bot token is always checked).
	Verify bool `json:"verify"`
}

// input is the request as the channel rules take it.
func (in channelIn) input() setup.Input {
	var tpl *channels.Template
	if in.Template != nil {
		tpl = &channels.Template{Name: in.Template.Name, Language: in.Template.Language}
	}
	return setup.Input{Type: in.Type, Name: in.Name, PhoneNumberID: in.PhoneNumberID, AccessToken: in.AccessToken,
		AppSecret: in.AppSecret, VerifyToken: in.VerifyToken, APIVersion: in.APIVersion, Template: tpl,
		BotToken: in.BotToken, GroupsEnabled: in.GroupsEnabled, OptOutWords: in.OptOutWords, OptInWords: in.OptInWords,
		Verify: in.Verify}
}

// channelOut never carries a secret.
type channelOut struct {
	ID            uuid.UUID          `json:"id"`
	Type          string             `json:"type"`
	Name          string             `json:"name"`
	WebhookURL    string             `json:"webhook_url"`
	PhoneNumberID string             `json:"phone_number_id,omitempty"`
	APIVersion    string             `json:"api_version,omitempty"`
	Template      *channels.Template `json:"template,omitempty"`
	BotUsername   string             `json:"bot_username,omitempty"`
	GroupsEnabled *bool              `json:"groups_enabled,omitempty"`
	OptOutWords   []string           `json:"opt_out_words"`
	OptInWords    []string           `json:"opt_in_words"`
	CreatedAt     time.Time          `json:"created_at"`
}

func (s *Server) channelOf(ch db.Channel) (channelOut, error) {
	cfg, err := channels.ParseConfig(ch.Config)
	if err != nil {
		return channelOut{}, fmt.Errorf("channel %s config: %w", ch.ID, err)
	}
	out := channelOut{ID: ch.ID, Type: ch.Type, Name: ch.Name, WebhookURL: s.webhookURL(ch.Type, ch.ID),
		PhoneNumberID: cfg.PhoneNumberID, APIVersion: cfg.APIVersion, Template: cfg.Template, BotUsername: cfg.BotUsername,
		CreatedAt: ch.CreatedAt}
	out.OptOutWords, out.OptInWords = proactive.ChannelWords(cfg)
	if ch.Type == events.ChannelTelegram {
		out.GroupsEnabled = &cfg.GroupsEnabled
	}
	return out, nil
}

// writeChannel answers with a channel.
func (s *Server) writeChannel(w http.ResponseWriter, status int, ch db.Channel) error {
	out, err := s.channelOf(ch)
	if err != nil {
		return err
	}
	writeJSON(w, status, out)
	return nil
}

func (s *Server) webhookURL(typ string, id uuid.UUID) string {
	return setup.WebhookURL(s.Config.PublicURL, typ, id)
}

// channelDeps are the channel rules' dependencies (package channels/setup).
func (s *Server) channelDeps() setup.Deps {
	return setup.Deps{Store: s.Store, Keys: s.Keys, TelegramAPIURL: s.Config.TelegramAPIURL, WhatsAppAPIURL: s.Config.WhatsAppAPIURL, HTTP: s.providerHTTP(),
		PublicURL: s.Config.PublicURL, Log: s.Log}
}

// handleCreateChannel connects a WhatsApp number or a Telegram bot (setup.Connect). Credentials
// are encrypted before they reach the database and never come back.
func (s *Server) handleCreateChannel(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	var in channelIn
	if err := readJSON(w, r, &in); err != nil {
		return err
	}
	if _, err := s.keyring(); err != nil {
		return err
	}
	in.Name = strings.TrimSpace(in.Name)
	if err := limitName.field("bad_name", "name", in.Name); err != nil {
		return err
	}
	auditChannel(r.Context(), in.Type, in.Name)
	ch, err := setup.Connect(r.Context(), s.channelDeps(), a.CreatorID, in.input())
	if err != nil {
		s.auditUndone(r.Context(), r, a, "channel.removed", "the provider refused the channel's webhook")
		return err
	}
	s.Log.Info("channel connected", "creator_id", a.CreatorID, "channel_id", ch.ID, "type", ch.Type)
	return s.writeChannel(w, http.StatusCreated, ch)
}

func (s *Server) handleListChannels(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	ctx := r.Context()
	var chs []db.Channel
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) (err error) {
		chs, err = q.ListChannels(ctx)
		return err
	}); err != nil {
		return err
	}
	out := make([]channelOut, 0, len(chs))
	for _, ch := range chs {
		o, err := s.channelOf(ch)
		if err != nil {
			return err
		}
		out = append(out, o)
	}
	writeJSON(w, http.StatusOK, map[string]any{"channels": out})
	return nil
}

// handleDeleteChannel disconnects a channel (setup.Remove): its webhook stops answering (at
// once on this replica, within webhooks.CacheTTL on others) and, for Telegram, the webhook is
// removed.
func (s *Server) handleDeleteChannel(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if _, err := setup.Remove(r.Context(), s.channelDeps(), a.CreatorID, id); err != nil {
		return err
	}
	s.webhooks.Forget(id)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// channelPatch is a partial update of a channel's settings: omitted fields keep their value.
type channelPatch struct {
	GroupsEnabled *bool `json:"groups_enabled"`
	// The complete opt-out / opt-in word lists (as GET returns them, defaults included).
	OptOutWords *[]string `json:"opt_out_words"`
	OptInWords  *[]string `json:"opt_in_words"`
}

// handleUpdateChannel changes a channel's settings (PATCH, setup.Change): groups_enabled of a
// Telegram channel, and the opt-out / opt-in words of any channel. Webhook replicas see
// groups_enabled within webhooks.CacheTTL (this one at once); the words are read from the
// channel row for each inbound message (retrieve), so the next message uses them. The audit
// entry (channel.updated) carries the new word lists.
func (s *Server) handleUpdateChannel(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in channelPatch
	if err := readJSON(w, r, &in); err != nil {
		return err
	}
	if in.OptOutWords != nil {
		auditDetail(r.Context(), "opt_out_words", *in.OptOutWords)
	}
	if in.OptInWords != nil {
		auditDetail(r.Context(), "opt_in_words", *in.OptInWords)
	}
	ch, err := setup.Change(r.Context(), s.channelDeps(), a.CreatorID, id, setup.Patch{GroupsEnabled: in.GroupsEnabled,
		OptOutWords: in.OptOutWords, OptInWords: in.OptInWords})
	if err != nil {
		return err
	}
	s.webhooks.Forget(id)
	return s.writeChannel(w, http.StatusOK, ch)
}

// channelTest is the answer of POST /api/v1/channels/{id}/test.
type channelTest struct {
	OK                 bool   `json:"ok"`
	Message            string `json:"message"`
	BotUsername        string `json:"bot_username,omitempty"`
	DisplayPhoneNumber string `json:"display_phone_number,omitempty"`
	VerifiedName       string `json:"verified_name,omitempty"`
	WebhookURL         string `json:"webhook_url,omitempty"`
}

// handleTestChannel checks a channel's stored credentials with its provider (setup.Test)
// without sending a message: 200 with ok false and the provider's words when it refuses them,
// 502 when it does not answer.
func (s *Server) handleTestChannel(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if _, err := s.keyring(); err != nil {
		return err
	}
	res, err := setup.Test(r.Context(), s.channelDeps(), a.CreatorID, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, channelTest{OK: res.OK, Message: res.Message, BotUsername: res.BotUsername,
		DisplayPhoneNumber: res.DisplayPhoneNumber, VerifiedName: res.VerifiedName, WebhookURL: res.WebhookURL})
	return nil
}
