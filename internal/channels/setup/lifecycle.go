package setup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/channels"
	"github.com/coachwire/coachwire/internal/channels/telegram"
	"github.com/coachwire/coachwire/internal/channels/whatsapp"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/proactive"
)

// telegramUpdates are the updates a connected bot's webhook receives.
var telegramUpdates = []string{"message", "my_chat_member"}

// telegramMaxConnections is the webhook's max_connections.
const telegramMaxConnections = 40

// deleteWebhookTimeout bounds Remove's best-effort deleteWebhook.
const deleteWebhookTimeout = 5 * time.Second

func (d Deps) telegram(token string) *telegram.Client {
	return telegram.NewClient(token, d.TelegramAPIURL, d.HTTP)
}

func (d Deps) whatsApp(cfg channels.Config, token string) *whatsapp.Client {
	return whatsapp.NewClient(whatsapp.Config{PhoneNumberID: cfg.PhoneNumberID, AccessToken: token, APIVersion: cfg.APIVersion,
		BaseURL: d.WhatsAppAPIURL}, d.HTTP)
}

// Connect connects a WhatsApp number or a Telegram bot for creator. The credentials are sealed
// before they reach the database. A Telegram bot is asked who it is (getMe: a group message is
// for the bot when it mentions it) and gets its webhook with a freshly generated secret token;
// when setWebhook fails the channel is removed again, since it would be useless without it.
func Connect(ctx context.Context, d Deps, creator uuid.UUID, in Input) (db.Channel, error) {
	p, err := validate(in)
	if err != nil {
		return db.Channel{}, err
	}
	if in.Type == events.ChannelTelegram {
		me, err := d.telegram(in.BotToken).GetMe(ctx)
		if err != nil {
			return db.Channel{}, providerError(err, "Telegram refused getMe (check the bot token)", "Telegram did not answer getMe; try again")
		}
		p.cfg.BotID, p.cfg.BotUsername = me.ID, me.Username
	}
	if in.Type == events.ChannelWhatsApp && in.Verify {
		pn, err := d.whatsApp(p.cfg, p.cred.AccessToken).PhoneNumber(ctx)
		if err != nil {
			return db.Channel{}, whatsAppError(err)
		}
		p.cfg.DisplayPhoneNumber = pn.DisplayPhoneNumber // the app's wa.me link (internal/people)
	}
	if d.Keys == nil {
		return db.Channel{}, errNoKeyring
	}
	id := uuid.Must(uuid.NewV7())
	sealed, err := d.Keys.SealChannel(id, p.cred)
	if err != nil {
		return db.Channel{}, sealError(id, err)
	}
	rawCfg, err := json.Marshal(p.cfg)
	if err != nil {
		return db.Channel{}, err
	}
	var ch db.Channel
	if err := d.Store.InTenant(ctx, creator, func(q *db.Queries) (err error) {
		// One channel per provider account in a workspace: a second would be a dead copy (and a
		// Telegram bot's webhook would move to it, leaving the first one deaf).
		if err := q.LockChannelAccount(ctx, db.LockChannelAccountParams{CreatorID: creator.String(), Type: in.Type, ExternalID: p.external}); err != nil {
			return err
		}
		switch dup, err := q.ChannelByAccount(ctx, db.ChannelByAccountParams{Type: in.Type, ExternalID: p.external}); {
		case err == nil:
			return alreadyConnected(in.Type, dup)
		case !db.IsNotFound(err):
			return err
		}
		ch, err = q.InsertChannel(ctx, db.InsertChannelParams{ID: id, CreatorID: creator, Type: in.Type, Name: in.Name,
			ExternalID: p.external, Config: rawCfg, Secrets: sealed})
		return err
	}); err != nil {
		return db.Channel{}, err
	}
	if in.Type == events.ChannelTelegram {
		err := d.telegram(p.cred.BotToken).SetWebhook(ctx, WebhookURL(d.PublicURL, ch.Type, ch.ID), p.cred.WebhookSecret,
			telegramUpdates, telegramMaxConnections)
		if err != nil {
			// Without its webhook the channel is useless: undo it.
			// Even when the client gave up: the row must not outlive its refusal.
			uctx := context.WithoutCancel(ctx)
			_ = d.Store.InTenant(uctx, creator, func(q *db.Queries) error {
				_, err := q.DeleteChannel(uctx, ch.ID)
				return err
			})
			return db.Channel{}, providerError(err, "Telegram refused setWebhook (check the bot token)", "Telegram did not accept the webhook; try again")
		}
	}
	return ch, nil
}

// alreadyConnected refuses a second channel of the provider account dup is connected to.
func alreadyConnected(typ string, dup db.Channel) error {
	what := "this WhatsApp phone number id"
	if typ == events.ChannelTelegram {
		what = "this Telegram bot"
	}
	return &Error{Kind: Conflict, Code: "channel_exists",
		Message: fmt.Sprintf("%s is already connected as channel %q (%s): use that channel, or remove it before adding it again", what, dup.Name, dup.ID)}
}

// Patch is a partial change of a channel's settings: a nil field keeps its value.
type Patch struct {
	// GroupsEnabled lets a Telegram bot answer in groups when mentioned or replied to.
	GroupsEnabled *bool
	// OptOutWords and OptInWords replace the channel's complete opt-out / opt-in word lists
	// (defaults included: what proactive.ChannelWords returns). The opt-out list must keep
	// STOP, the opt-in list must not be empty (checkWordList). Inbound messages read the
	// channel row each time: the next message sees the change.
	OptOutWords *[]string
	OptInWords  *[]string
}

// Change applies p to channel id of creator. Enabling groups needs the bot's identity, which
// channels connected before it was recorded lack (Conflict bot_identity_unknown).
func Change(ctx context.Context, d Deps, creator, id uuid.UUID, p Patch) (db.Channel, error) {
	var ch db.Channel
	err := d.Store.InTenant(ctx, creator, func(q *db.Queries) error {
		var err error
		if ch, err = q.GetChannel(ctx, id); err != nil {
			return orNotFound(err)
		}
		cfg, err := channels.ParseConfig(ch.Config)
		if err != nil {
			return err
		}
		if p.GroupsEnabled != nil {
			if ch.Type != events.ChannelTelegram {
				return invalid("bad_field", "groups_enabled is a Telegram setting")
			}
			if *p.GroupsEnabled && (cfg.BotID == 0 || cfg.BotUsername == "") {
				// Connected before the bot's identity was recorded: mentions and replies to the
				// bot could not be recognised, so every group message would be ignored.
				return &Error{Kind: Conflict, Code: "bot_identity_unknown",
					Message: "this Telegram channel was connected before coachwire recorded the bot's username; remove and add it again to enable groups"}
			}
			cfg.GroupsEnabled = *p.GroupsEnabled
		}
		if p.OptOutWords != nil || p.OptInWords != nil {
			// The first edit turns the defaults plus the extra words into the complete lists.
			optOut, optIn := proactive.ChannelWords(cfg)
			if p.OptOutWords != nil {
				if optOut, err = checkWordList("opt_out_words", *p.OptOutWords, true); err != nil {
					return err
				}
			}
			if p.OptInWords != nil {
				if optIn, err = checkWordList("opt_in_words", *p.OptInWords, false); err != nil {
					return err
				}
			}
			if w, ok := inBoth(optOut, optIn); ok {
				field := "opt_in_words"
				if p.OptInWords == nil {
					field = "opt_out_words"
				}
				return invalid("word_in_both", fmt.Sprintf("%s: %s is both a stop and a start word; a word can only do one", field, w))
			}
			cfg.OptOutList, cfg.OptInList, cfg.OptOutWords, cfg.OptInWords = optOut, optIn, nil, nil
		}
		raw, err := json.Marshal(cfg)
		if err != nil {
			return err
		}
		ch, err = q.UpdateChannelConfig(ctx, db.UpdateChannelConfigParams{ID: id, Config: raw})
		return err
	})
	if err != nil {
		return db.Channel{}, err
	}
	return ch, nil
}

// inBoth is the first word of a that is also in b.
func inBoth(a, b []string) (string, bool) {
	for _, w := range a {
		if slices.Contains(b, w) {
			return w, true
		}
	}
	return "", false
}

// Remove disconnects channel id of creator and returns the removed row. A Telegram bot's
// webhook is deleted too, best effort (bounded by deleteWebhookTimeout, a failure is logged):
// the channel is gone either way and its webhook answers no more.
func Remove(ctx context.Context, d Deps, creator, id uuid.UUID) (db.Channel, error) {
	var ch db.Channel
	if err := d.Store.InTenant(ctx, creator, func(q *db.Queries) error {
		var err error
		if ch, err = q.GetChannel(ctx, id); err != nil {
			return err
		}
		_, err = q.DeleteChannel(ctx, id)
		return err
	}); err != nil {
		return db.Channel{}, orNotFound(err)
	}
	if ch.Type == events.ChannelTelegram && d.Keys != nil {
		if cred, err := d.Keys.OpenChannel(ch.ID, ch.Secrets); err == nil {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deleteWebhookTimeout)
			if err := d.telegram(cred.BotToken).DeleteWebhook(dctx); err != nil && d.Log != nil {
				d.Log.Warn("telegram deleteWebhook failed", "channel_id", ch.ID, "err", err)
			}
			cancel()
		}
	}
	return ch, nil
}

// TestResult is what Test found: OK when the provider accepted the channel's stored
// credentials (and, for Telegram, the webhook points at this channel); Message says what was
// checked or what the provider answered.
type TestResult struct {
	OK      bool
	Message string
	// The provider's view of the channel: the bot's username (Telegram), the number and its
	// verified business name (WhatsApp).
	BotUsername        string
	DisplayPhoneNumber string
	VerifiedName       string
	// WebhookURL is where the provider delivers (Telegram: as getWebhookInfo reports it).
	WebhookURL string
}

// Test checks channel id of creator against its provider with the stored credentials, without
// sending anything: Telegram getMe and getWebhookInfo (the webhook must be this channel's),
// WhatsApp the Graph phone-number lookup. A provider's refusal is a TestResult with OK false;
// an error is a channel that does not exist or a provider that did not answer.
func Test(ctx context.Context, d Deps, creator, id uuid.UUID) (TestResult, error) {
	var ch db.Channel
	if err := d.Store.InTenant(ctx, creator, func(q *db.Queries) (err error) {
		ch, err = q.GetChannel(ctx, id)
		return err
	}); err != nil {
		return TestResult{}, orNotFound(err)
	}
	if d.Keys == nil {
		return TestResult{}, errNoKeyring
	}
	cred, err := d.Keys.OpenChannel(ch.ID, ch.Secrets)
	if err != nil {
		return TestResult{}, fmt.Errorf("open channel %s credentials: %w", ch.ID, err)
	}
	cfg, err := channels.ParseConfig(ch.Config)
	if err != nil {
		return TestResult{}, err
	}
	refused := func(err error, unavailable *Error) (TestResult, error) {
		if channels.ClassOf(err) == channels.Permanent {
			var se *Error
			if errors.As(err, &se) {
				return TestResult{Message: se.Message}, nil
			}
			return TestResult{Message: unavailable.Message}, nil
		}
		unavailable.Err = err
		return TestResult{}, unavailable
	}
	switch ch.Type {
	case events.ChannelTelegram:
		tg := d.telegram(cred.BotToken)
		me, err := tg.GetMe(ctx)
		if err != nil {
			return refused(providerError(err, "Telegram refused getMe (the bot token no longer works)", ""),
				&Error{Kind: Unavailable, Code: "telegram_unavailable", Message: "Telegram did not answer getMe; try again"})
		}
		info, err := tg.GetWebhookInfo(ctx)
		if err != nil {
			return refused(providerError(err, "Telegram refused getWebhookInfo", ""),
				&Error{Kind: Unavailable, Code: "telegram_unavailable", Message: "Telegram did not answer getWebhookInfo; try again"})
		}
		want := WebhookURL(d.PublicURL, ch.Type, ch.ID)
		r := TestResult{BotUsername: me.Username, WebhookURL: info.URL}
		switch {
		case info.URL != want:
			r.Message = fmt.Sprintf("@%s answers, but its webhook is %q, not this channel's %s: remove the channel and add it again", me.Username, info.URL, want)
		case info.LastErrorMessage != "":
			r.OK, r.Message = true, fmt.Sprintf("@%s answers and its webhook is set; Telegram's last delivery error: %s", me.Username, info.LastErrorMessage)
		default:
			r.OK, r.Message = true, fmt.Sprintf("@%s answers and its webhook is set", me.Username)
		}
		return r, nil
	case events.ChannelWhatsApp:
		pn, err := d.whatsApp(cfg, cred.AccessToken).PhoneNumber(ctx)
		if err != nil {
			return refused(whatsAppError(err), &Error{Kind: Unavailable, Code: "whatsapp_unavailable", Message: "WhatsApp did not answer the phone number lookup; try again"})
		}
		return TestResult{OK: true, DisplayPhoneNumber: pn.DisplayPhoneNumber, VerifiedName: pn.VerifiedName,
			Message: fmt.Sprintf("WhatsApp knows %s (%s) and accepts the access token", pn.DisplayPhoneNumber, pn.VerifiedName)}, nil
	}
	return TestResult{}, fmt.Errorf("channel %s: unknown type %q", ch.ID, ch.Type)
}
