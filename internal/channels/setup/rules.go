package setup

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/channels"
	"github.com/coachwire/coachwire/internal/channels/telegram"
	"github.com/coachwire/coachwire/internal/channels/whatsapp"
	"github.com/coachwire/coachwire/internal/proactive"
	"github.com/coachwire/coachwire/internal/secrets"
	"github.com/coachwire/coachwire/internal/text"
)

// Limits of a channel's settings (the gateway's field-limit table and the OpenAPI document
// state the same numbers).
const (
	// MaxSettingBytes bounds each provider setting: ids, tokens, secrets, API version and the
	// template's name and language.
	MaxSettingBytes = 512
	// MaxOptWordChars bounds one opt-out or opt-in word (characters).
	MaxOptWordChars = 32
	// MaxOptWords bounds each of the opt-out and opt-in word lists.
	MaxOptWords = 20
)

// Input is a channel to connect. Name has passed the API's name limit.
type Input struct {
	Type string
	Name string
	// WhatsApp
	PhoneNumberID string
	AccessToken   string
	AppSecret     string
	VerifyToken   string
	// APIVersion "" means whatsapp.DefaultAPIVersion.
	APIVersion string
	Template   *channels.Template
	// Telegram
	BotToken      string
	GroupsEnabled bool
	// Extra opt-out / opt-in words besides STOP / START.
	OptOutWords []string
	OptInWords  []string
	// Verify: look the WhatsApp phone number id up with the access token (Graph API) before
	// saving, refusing the channel when WhatsApp refuses them. A Telegram bot token is always
	// checked (getMe, setWebhook).
	Verify bool
}

// plan is a validated Input: what goes into the row before the provider is asked anything.
type plan struct {
	cfg      channels.Config
	cred     secrets.ChannelCredentials
	external string
}

// validate applies the rules of each channel type, in the order the API reports them: opt
// words, then the type's settings. The Telegram bot's identity (getMe) is not asked here.
func validate(in Input) (plan, error) {
	var p plan
	var err error
	if p.cfg.OptOutWords, err = checkWords(in.OptOutWords); err != nil {
		return p, err
	}
	if p.cfg.OptInWords, err = checkWords(in.OptInWords); err != nil {
		return p, err
	}
	switch in.Type {
	case events.ChannelWhatsApp:
		for _, f := range []struct {
			name, v string
			req     bool
		}{{"phone_number_id", in.PhoneNumberID, true}, {"access_token", in.AccessToken, true}, {"app_secret", in.AppSecret, true},
			{"verify_token", in.VerifyToken, true}, {"api_version", in.APIVersion, false}} {
			if err := checkSetting(f.name, f.v, f.req); err != nil {
				return p, err
			}
		}
		if in.BotToken != "" || in.GroupsEnabled {
			return p, invalid("bad_field", "bot_token and groups_enabled are Telegram settings")
		}
		p.cfg.PhoneNumberID, p.cfg.APIVersion = in.PhoneNumberID, in.APIVersion
		if p.cfg.APIVersion == "" {
			p.cfg.APIVersion = whatsapp.DefaultAPIVersion
		}
		if in.Template != nil {
			if err := checkSetting("template.name", in.Template.Name, true); err != nil {
				return p, err
			}
			if err := checkSetting("template.language", in.Template.Language, true); err != nil {
				return p, err
			}
			p.cfg.Template = &channels.Template{Name: in.Template.Name, Language: in.Template.Language}
		}
		p.cred = secrets.ChannelCredentials{AccessToken: in.AccessToken, AppSecret: in.AppSecret, VerifyToken: in.VerifyToken}
		p.external = in.PhoneNumberID
	case events.ChannelTelegram:
		if err := checkSetting("bot_token", in.BotToken, true); err != nil {
			return p, err
		}
		if in.PhoneNumberID != "" || in.AccessToken != "" || in.AppSecret != "" || in.VerifyToken != "" || in.Template != nil {
			return p, invalid("bad_field", "WhatsApp settings given for a Telegram channel")
		}
		p.cred = secrets.ChannelCredentials{BotToken: in.BotToken, WebhookSecret: telegram.GenerateSecret()}
		if id, _, ok := strings.Cut(in.BotToken, ":"); ok {
			p.external = id // the bot id is the token's public prefix
		}
		p.cfg.GroupsEnabled = in.GroupsEnabled
	case events.ChannelWidget, events.ChannelApp:
		// Channels of coachwire itself: every creator has them, with no provider account and
		// no credentials, so they are never rows of channels (issue 16).
		return p, invalid("bad_type", "the "+in.Type+" channel needs no setup: every coach has it; type must be whatsapp or telegram")
	default:
		return p, invalid("bad_type", "type must be whatsapp or telegram")
	}
	return p, nil
}

// checkSetting: a provider setting is one line of at most MaxSettingBytes, present when
// required.
func checkSetting(name, v string, required bool) error {
	if required && strings.TrimSpace(v) == "" {
		return invalid("missing_"+name, name+" is required")
	}
	var why error
	switch {
	case len(v) > MaxSettingBytes:
		why = fmt.Errorf("at most %d bytes (got %d)", MaxSettingBytes, len(v))
	case text.Check(v) != nil:
		why = text.Check(v)
	case text.CheckLine(v) != nil:
		why = fmt.Errorf("one line: %v", text.CheckLine(v))
	}
	if why != nil {
		return invalid("bad_"+name, name+": "+why.Error())
	}
	return nil
}

// checkWords: at most MaxOptWords single words of at most MaxOptWordChars, kept upper case.
func checkWords(words []string) ([]string, error) {
	if len(words) > MaxOptWords {
		return nil, invalid("too_many_words", fmt.Sprintf("at most %d opt-out or opt-in words", MaxOptWords))
	}
	out := make([]string, 0, len(words))
	for _, w := range words {
		w = strings.TrimSpace(w)
		if w == "" || utf8.RuneCountInString(w) > MaxOptWordChars || text.CheckLine(w) != nil || strings.ContainsAny(w, " ") {
			return nil, invalid("bad_word", fmt.Sprintf("opt-out and opt-in words are single words of at most %d characters", MaxOptWordChars))
		}
		out = append(out, strings.ToUpper(w))
	}
	return out, nil
}

// checkWordList validates the complete opt-out (optOut true) or opt-in word list of a channel
// that field names, as PATCH sets it: at most MaxOptWords single words of at most
// MaxOptWordChars, trimmed (and of what inbound matching ignores: '.', '!' and a leading '/'),
// kept upper case, unique ignoring case. The opt-out list must keep STOP: the law and the
// providers require STOP to work on every channel that sends proactive messages. The opt-in
// list must not be empty: a person who stopped needs a word to come back with.
func checkWordList(field string, words []string, optOut bool) ([]string, error) {
	if len(words) > MaxOptWords {
		return nil, invalid("too_many_words", fmt.Sprintf("%s: at most %d words (got %d)", field, MaxOptWords, len(words)))
	}
	out := make([]string, 0, len(words))
	for _, raw := range words {
		w := proactive.NormalizeWord(raw)
		switch {
		case w == "":
			return nil, invalid("bad_word", field+": a word is empty; remove it or type a word")
		case utf8.RuneCountInString(w) > MaxOptWordChars:
			return nil, invalid("bad_word", fmt.Sprintf("%s: %q is longer than %d characters", field, strings.TrimSpace(raw), MaxOptWordChars))
		case text.Check(w) != nil || text.CheckLine(w) != nil || strings.ContainsFunc(w, unicode.IsSpace):
			return nil, invalid("bad_word", fmt.Sprintf("%s: %q is not a single word (no spaces or line breaks)", field, strings.TrimSpace(raw)))
		case slices.Contains(out, w):
			return nil, invalid("duplicate_word", fmt.Sprintf("%s: %s is in the list twice (case is ignored)", field, w))
		}
		out = append(out, w)
	}
	switch {
	case optOut && !slices.Contains(out, StopWord):
		return nil, invalid("stop_required", field+": STOP must stay in the list: the law requires STOP to opt people out")
	case !optOut && len(out) == 0:
		return nil, invalid("missing_opt_in_words", field+": at least one word is needed, or people who stopped could not come back")
	}
	return out, nil
}

// StopWord is the opt-out word no channel may lose (checkWordList).
const StopWord = "STOP"
