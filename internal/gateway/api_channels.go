package gateway

// Channels (creator side): connect, list, change and remove WhatsApp and Telegram channels.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/channels"
	"github.com/coachwire/coachwire/internal/channels/telegram"
	"github.com/coachwire/coachwire/internal/channels/whatsapp"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/proactive"
	"github.com/coachwire/coachwire/internal/secrets"
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
		OptOutWords: append(append([]string{}, proactive.DefaultOptOutWords...), cfg.OptOutWords...),
		OptInWords:  append(append([]string{}, proactive.DefaultOptInWords...), cfg.OptInWords...), CreatedAt: ch.CreatedAt}
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
	return strings.TrimRight(s.Config.PublicURL, "/") + "/webhooks/" + typ + "/" + id.String()
}

const maxChannelField = 512

func checkField(name, v string, required bool) error {
	if required && strings.TrimSpace(v) == "" {
		return errBadRequest("missing_"+name, name+" is required")
	}
	if err := limitChannelField.check(v); err != nil {
		return errBadRequest("bad_"+name, name+": "+err.Error())
	}
	return nil
}

func checkWords(words []string) ([]string, error) {
	if len(words) > maxOptWordsCount {
		return nil, errBadRequest("too_many_words", fmt.Sprintf("at most %d opt-out or opt-in words", maxOptWordsCount))
	}
	out := make([]string, 0, len(words))
	for _, w := range words {
		w = strings.TrimSpace(w)
		if w == "" || limitOptWord.check(w) != nil || strings.ContainsAny(w, " ") {
			return nil, errBadRequest("bad_word", "opt-out and opt-in words are single words of at most 32 characters")
		}
		out = append(out, strings.ToUpper(w))
	}
	return out, nil
}

// handleCreateChannel connects a WhatsApp number or a Telegram bot. Credentials are encrypted
// before they reach the database and never come back. For Telegram the platform registers its
// webhook with a freshly generated secret token.
func (s *Server) handleCreateChannel(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	var in channelIn
	if err := readJSON(w, r, &in); err != nil {
		return err
	}
	keys, err := s.keyring()
	if err != nil {
		return err
	}
	in.Name = strings.TrimSpace(in.Name)
	if err := limitName.field("bad_name", "name", in.Name); err != nil {
		return err
	}
	cfg := channels.Config{}
	if cfg.OptOutWords, err = checkWords(in.OptOutWords); err != nil {
		return err
	}
	if cfg.OptInWords, err = checkWords(in.OptInWords); err != nil {
		return err
	}
	var cred secrets.ChannelCredentials
	external := ""
	switch in.Type {
	case events.ChannelWhatsApp:
		for _, f := range []struct {
			name, v string
			req     bool
		}{{"phone_number_id", in.PhoneNumberID, true}, {"access_token", in.AccessToken, true}, {"app_secret", in.AppSecret, true},
			{"verify_token", in.VerifyToken, true}, {"api_version", in.APIVersion, false}} {
			if err := checkField(f.name, f.v, f.req); err != nil {
				return err
			}
		}
		if in.BotToken != "" || in.GroupsEnabled {
			return errBadRequest("bad_field", "bot_token and groups_enabled are Telegram settings")
		}
		cfg.PhoneNumberID, cfg.APIVersion = in.PhoneNumberID, in.APIVersion
		if cfg.APIVersion == "" {
			cfg.APIVersion = whatsapp.DefaultAPIVersion
		}
		if in.Template != nil {
			if err := checkField("template.name", in.Template.Name, true); err != nil {
				return err
			}
			if err := checkField("template.language", in.Template.Language, true); err != nil {
				return err
			}
			cfg.Template = &channels.Template{Name: in.Template.Name, Language: in.Template.Language}
		}
		cred = secrets.ChannelCredentials{AccessToken: in.AccessToken, AppSecret: in.AppSecret, VerifyToken: in.VerifyToken}
		external = in.PhoneNumberID
	case events.ChannelTelegram:
		if err := checkField("bot_token", in.BotToken, true); err != nil {
			return err
		}
		if in.PhoneNumberID != "" || in.AccessToken != "" || in.AppSecret != "" || in.VerifyToken != "" || in.Template != nil {
			return errBadRequest("bad_field", "WhatsApp settings given for a Telegram channel")
		}
		cred = secrets.ChannelCredentials{BotToken: in.BotToken, WebhookSecret: telegram.GenerateSecret()}
		if id, _, ok := strings.Cut(in.BotToken, ":"); ok {
			external = id // the bot id is the token's public prefix
		}
		// The bot's id and @username: a group message is for the bot when it mentions it.
		me, err := telegram.NewClient(in.BotToken, s.Config.TelegramAPIURL, s.providerHTTP()).GetMe(r.Context())
		if err != nil {
			if channels.ClassOf(err) == channels.Permanent {
				return &apiError{Status: http.StatusBadRequest, Code: "telegram_rejected", Message: "Telegram refused getMe (check the bot token)", Err: err}
			}
			return &apiError{Status: http.StatusBadGateway, Code: "telegram_unavailable", Message: "Telegram did not answer getMe; try again", Err: err}
		}
		cfg.BotID, cfg.BotUsername, cfg.GroupsEnabled = me.ID, me.Username, in.GroupsEnabled
	default:
		return errBadRequest("bad_type", "type must be whatsapp or telegram")
	}
	id := uuid.Must(uuid.NewV7())
	sealed, err := keys.SealChannel(id, cred)
	if err != nil {
		return err
	}
	rawCfg, _ := json.Marshal(cfg)
	ctx := r.Context()
	var ch db.Channel
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) (err error) {
		ch, err = q.InsertChannel(ctx, db.InsertChannelParams{ID: id, CreatorID: a.CreatorID, Type: in.Type, Name: in.Name,
			ExternalID: external, Config: rawCfg, Secrets: sealed})
		return err
	}); err != nil {
		return err
	}
	if in.Type == events.ChannelTelegram {
		tg := telegram.NewClient(cred.BotToken, s.Config.TelegramAPIURL, s.providerHTTP())
		err := tg.SetWebhook(ctx, s.webhookURL(ch.Type, ch.ID), cred.WebhookSecret, []string{"message", "my_chat_member"}, 40)
		if err != nil {
			// Without its webhook the channel is useless: undo it.
			_ = s.Store.InTenant(context.WithoutCancel(ctx), a.CreatorID, func(q *db.Queries) error {
				_, err := q.DeleteChannel(ctx, ch.ID)
				return err
			})
			if channels.ClassOf(err) == channels.Permanent {
				return &apiError{Status: http.StatusBadRequest, Code: "telegram_rejected", Message: "Telegram refused setWebhook (check the bot token)", Err: err}
			}
			return &apiError{Status: http.StatusBadGateway, Code: "telegram_unavailable", Message: "Telegram did not accept the webhook; try again", Err: err}
		}
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

// handleDeleteChannel disconnects a channel: its webhook stops answering (at once on this
// replica, within webhooks.CacheTTL on others) and, for Telegram, the webhook is removed.
func (s *Server) handleDeleteChannel(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	ctx := r.Context()
	var ch db.Channel
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) error {
		var err error
		if ch, err = q.GetChannel(ctx, id); err != nil {
			return err
		}
		_, err = q.DeleteChannel(ctx, id)
		return err
	}); err != nil {
		return orNotFound(err, "channel")
	}
	s.webhooks.Forget(id)
	if ch.Type == events.ChannelTelegram {
		if keys, err := s.keyring(); err == nil {
			if cred, err := keys.OpenChannel(ch.ID, ch.Secrets); err == nil {
				dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				if err := telegram.NewClient(cred.BotToken, s.Config.TelegramAPIURL, s.providerHTTP()).DeleteWebhook(dctx); err != nil {
					s.Log.Warn("telegram deleteWebhook failed", "channel_id", ch.ID, "err", err)
				}
				cancel()
			}
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// channelPatch is a partial update of a channel's settings: omitted fields keep their value.
type channelPatch struct {
	GroupsEnabled *bool `json:"groups_enabled"`
}

// handleUpdateChannel changes a channel's settings (PATCH): today groups_enabled of a Telegram
// channel. Webhook replicas see the change within webhooks.CacheTTL (this one at once).
func (s *Server) handleUpdateChannel(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in channelPatch
	if err := readJSON(w, r, &in); err != nil {
		return err
	}
	ctx := r.Context()
	var ch db.Channel
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) error {
		var err error
		if ch, err = q.GetChannel(ctx, id); err != nil {
			return orNotFound(err, "channel")
		}
		cfg, err := channels.ParseConfig(ch.Config)
		if err != nil {
			return err
		}
		if in.GroupsEnabled != nil {
			if ch.Type != events.ChannelTelegram {
				return errBadRequest("bad_field", "groups_enabled is a Telegram setting")
			}
			if *in.GroupsEnabled && (cfg.BotID == 0 || cfg.BotUsername == "") {
				// Connected before the bot's identity was recorded: mentions and replies to the
				// bot could not be recognised, so every group message would be ignored.
				return &apiError{Status: http.StatusConflict, Code: "bot_identity_unknown",
					Message: "this Telegram channel was connected before coachwire recorded the bot's username; remove and add it again to enable groups"}
			}
			cfg.GroupsEnabled = *in.GroupsEnabled
		}
		raw, _ := json.Marshal(cfg)
		ch, err = q.UpdateChannelConfig(ctx, db.UpdateChannelConfigParams{ID: id, Config: raw})
		return err
	}); err != nil {
		return err
	}
	s.webhooks.Forget(id)
	return s.writeChannel(w, http.StatusOK, ch)
}
