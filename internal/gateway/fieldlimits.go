package gateway

import (
	"fmt"
	"unicode/utf8"

	"github.com/coachwire/coachwire/internal/channels/setup"
	"github.com/coachwire/coachwire/internal/memory"
	"github.com/coachwire/coachwire/internal/text"
)

// fieldLimit is the bound of one kind of text field, the same wherever the API takes it.
// Every string of every JSON body and query also passes package text's rule (readJSON,
// checkQuery); a limit adds the length and, for single-line fields, no tab or line break.
type fieldLimit struct {
	// Kind names the field kind in errors and docs.
	Kind string
	// Max is the most characters (Unicode code points); Bytes counts bytes instead.
	Max   int
	Bytes bool
	// Line: one line (no tab, line feed or carriage return).
	Line bool
	// Spec lists where the OpenAPI document states this limit as maxLength: "Schema.property"
	// of components/schemas, "Schema.property[]" for the items of an array property, or
	// "METHOD /path ?param" for a query parameter. TestFieldLimitsMatchOpenAPI keeps them equal.
	Spec []string
}

// The field limits of the whole API (docs/api.md, "Field limits", lists the same table).
var (
	limitName = fieldLimit{Kind: "name", Max: 200, Line: true, Spec: []string{
		"RegisterRequest.name", "AcceptInvitationRequest.name", "APIKeyIn.name", "WidgetSettings.name", "WidgetSettingsPatch.name", "CampaignIn.name", "ProgramIn.name", "ChannelIn.name"}}
	limitTitle   = fieldLimit{Kind: "title", Max: 300, Line: true, Spec: []string{"DocumentIn.title", "DocumentUpload.title", "ImportRequest.title"}}
	limitPersona = fieldLimit{Kind: "persona", Max: 4000, Spec: []string{"WidgetSettings.persona", "WidgetSettingsPatch.persona"}}
	limitURL     = fieldLimit{Kind: "URL", Max: 2048, Bytes: true, Line: true, Spec: []string{
		"ImportRequest.url", "WidgetSettings.allowed_origins[]", "WidgetSettingsPatch.allowed_origins[]",
		"WidgetSettings.avatar_url", "WidgetSettingsPatch.avatar_url"}}
	// limitWelcome bounds the widget's welcome message, limitSuggestion each suggested question.
	limitWelcome    = fieldLimit{Kind: "welcome message", Max: 1000, Spec: []string{"WidgetSettings.welcome", "WidgetSettingsPatch.welcome", "WidgetCoach.welcome"}}
	limitSuggestion = fieldLimit{Kind: "suggested question", Max: 120, Line: true, Spec: []string{
		"WidgetSettings.suggestions[]", "WidgetSettingsPatch.suggestions[]", "WidgetCoach.suggestions[]"}}
	// limitLauncher bounds the text beside the widget's bubble.
	limitLauncher = fieldLimit{Kind: "launcher text", Max: 40, Line: true, Spec: []string{"WidgetSettings.launcher_text", "WidgetSettingsPatch.launcher_text"}}
	limitTag      = fieldLimit{Kind: "tag", Max: 64, Line: true, Spec: []string{
		"TagsIn.tags[]", "Audience.tag", "Audience.tags[]", "Audience.any_tags[]", "Audience.exclude_tags[]", "GET /api/v1/end-users ?tag"}}
	limitKeyword = fieldLimit{Kind: "keyword", Max: 64, Line: true, Spec: []string{"ProgramIn.keyword"}}
	// limitContent bounds a campaign's or program step's text, brief, fallback and template
	// parameters.
	limitContent    = fieldLimit{Kind: "campaign text", Max: 4096, Spec: []string{"Content.text", "Content.brief", "Content.fallback", "Template.params[]"}}
	limitMemoryItem = fieldLimit{Kind: "memory item", Max: memory.MaxItemLen, Spec: []string{
		"Profile.goals[]", "Profile.preferences[]", "Profile.commitments[]", "Profile.facts[]"}}
	limitSearch         = fieldLimit{Kind: "search query", Max: 200, Line: true, Spec: []string{"GET /api/v1/documents ?q"}}
	limitCreatorMessage = fieldLimit{Kind: "creator message", Max: maxCreatorMessageChars, Spec: []string{"CreatorMessageIn.text"}}
	// The channel limits are enforced by package channels/setup (its constants); they are
	// listed here for the OpenAPI and docs tests.
	limitChannelField = fieldLimit{Kind: "channel setting", Max: setup.MaxSettingBytes, Bytes: true, Line: true, Spec: []string{
		"ChannelIn.phone_number_id", "ChannelIn.access_token", "ChannelIn.app_secret", "ChannelIn.verify_token", "ChannelIn.api_version", "ChannelIn.bot_token"}}
	limitOptWord = fieldLimit{Kind: "opt-out or opt-in word", Max: setup.MaxOptWordChars, Line: true, Spec: []string{"ChannelIn.opt_out_words[]", "ChannelIn.opt_in_words[]",
		"ChannelPatch.opt_out_words[]", "ChannelPatch.opt_in_words[]"}}
	// limitSchedule bounds each string of a campaign schedule (timezone, start, rrule, cron,
	// local_time).
	limitSchedule = fieldLimit{Kind: "schedule field", Max: 512, Line: true, Spec: []string{
		"Schedule.timezone", "Schedule.start", "Schedule.rrule", "Schedule.cron"}}
	// limitDocument is the JSON document API's content (file uploads: COACHWIRE_MAX_UPLOAD_BYTES).
	limitDocument = fieldLimit{Kind: "document", Max: maxDocumentChars, Bytes: true, Spec: []string{"DocumentIn.content"}}
)

// fieldLimits is every limit above, for the docs test.
var fieldLimits = []fieldLimit{limitName, limitTitle, limitPersona, limitURL, limitTag, limitKeyword, limitContent,
	limitMemoryItem, limitSearch, limitWelcome, limitSuggestion, limitLauncher, limitSchedule, limitCreatorMessage, limitChannelField, limitOptWord, limitDocument}

// Counts of list fields.
const (
	maxOriginsCount = 50
	// maxSuggestions is how many suggested first questions the widget shows.
	maxSuggestions = 4
	maxTagsCount   = 50
)

// check returns why v does not fit the limit (nil when it does); v has passed text.Check.
func (l fieldLimit) check(v string) error {
	n, unit := utf8.RuneCountInString(v), "characters"
	if l.Bytes {
		n, unit = len(v), "bytes"
	}
	if n > l.Max {
		return fmt.Errorf("at most %d %s (got %d)", l.Max, unit, n)
	}
	if err := text.Check(v); err != nil {
		return err
	}
	if l.Line {
		if err := text.CheckLine(v); err != nil {
			return fmt.Errorf("one line: %v", err)
		}
	}
	return nil
}

// field is check with the field named, as a 400 with code.
func (l fieldLimit) field(code, field, v string) error {
	if err := l.check(v); err != nil {
		return errBadRequest(code, field+": "+err.Error())
	}
	return nil
}
