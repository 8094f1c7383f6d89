package proactive

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/db"
)

// TypeRecipient is the event type of one recipient of one occurrence.
const TypeRecipient = events.TypeNudgeRecipient

// RecipientEvent is the wire event (events.NudgeRecipient) under its name in this package.
type RecipientEvent = events.NudgeRecipient

// Subject is where recipient events of creator c travel.
func Subject(c uuid.UUID) string { return events.NudgeSubject(c) }

// MsgID is the deduplication id of a recipient event: one per (occurrence, recipient).
func MsgID(occurrence, endUser uuid.UUID) string { return occurrence.String() + ":" + endUser.String() }

// Audience is a campaign's composable filters; every given filter must match (AND), and the
// tag filters combine tags with all-of, any-of and none-of.
type Audience struct {
	All     bool   `json:"all,omitempty"`
	Channel string `json:"channel,omitempty"`
	// Tag is one tag the person must have (kept for existing campaigns; Tags is the general form).
	Tag string `json:"tag,omitempty"`
	// Tags: every one of them; AnyTags: at least one; ExcludeTags: none of them.
	Tags        []string `json:"tags,omitempty"`
	AnyTags     []string `json:"any_tags,omitempty"`
	ExcludeTags []string `json:"exclude_tags,omitempty"`
	// InactiveDays: the person has not been seen for at least that many days; ActiveWithinDays:
	// they were seen within that many days.
	InactiveDays     int        `json:"inactive_days,omitempty"`
	ActiveWithinDays int        `json:"active_within_days,omitempty"`
	JoinedAfter      *time.Time `json:"joined_after,omitempty"`
	ProgramID        *uuid.UUID `json:"program_id,omitempty"`
}

// Validate checks the filters.
func (a Audience) Validate() error {
	switch a.Channel {
	case "", events.ChannelWidget, events.ChannelWhatsApp, events.ChannelTelegram, events.ChannelApp:
	default:
		return fmt.Errorf("audience.channel %q: want widget, whatsapp, telegram or app", a.Channel)
	}
	if a.InactiveDays < 0 || a.ActiveWithinDays < 0 {
		return errors.New("audience.inactive_days and audience.active_within_days must not be negative")
	}
	for name, l := range map[string][]string{"tags": a.Tags, "any_tags": a.AnyTags, "exclude_tags": a.ExcludeTags} {
		if len(l) > 50 {
			return fmt.Errorf("audience.%s: at most 50 tags", name)
		}
		for _, t := range l {
			if strings.TrimSpace(t) == "" || len(t) > 64 {
				return fmt.Errorf("audience.%s: tags of 1 to 64 characters", name)
			}
		}
	}
	if !a.All && a.Channel == "" && a.Tag == "" && len(a.Tags) == 0 && len(a.AnyTags) == 0 && len(a.ExcludeTags) == 0 &&
		a.InactiveDays == 0 && a.ActiveWithinDays == 0 && a.JoinedAfter == nil && a.ProgramID == nil {
		return errors.New("audience: give all=true or at least one filter")
	}
	return nil
}

// PageParams is the keyset page query for the audience at now.
func (a Audience) PageParams(after uuid.UUID, limit int, now time.Time) db.AudiencePageParams {
	p := db.AudiencePageParams{AfterID: after, MaxRows: int32(limit)}
	if a.Channel != "" {
		p.Channel = &a.Channel
	}
	all := a.Tags
	if a.Tag != "" {
		all = append([]string{a.Tag}, all...)
	}
	if len(all) > 0 {
		p.Tags = all
	}
	if len(a.AnyTags) > 0 {
		p.AnyTags = a.AnyTags
	}
	if len(a.ExcludeTags) > 0 {
		p.ExcludeTags = a.ExcludeTags
	}
	if a.InactiveDays > 0 {
		t := now.Add(-time.Duration(a.InactiveDays) * 24 * time.Hour)
		p.InactiveBefore = &t
	}
	if a.ActiveWithinDays > 0 {
		t := now.Add(-time.Duration(a.ActiveWithinDays) * 24 * time.Hour)
		p.ActiveSince = &t
	}
	p.JoinedAfter = a.JoinedAfter
	if a.ProgramID != nil {
		p.ProgramID = uuid.NullUUID{UUID: *a.ProgramID, Valid: true}
	}
	return p
}

// CountParams is the count query of the audience at now: PageParams' filters, so the count
// and the pages agree.
func (a Audience) CountParams(now time.Time) db.CountAudienceParams {
	p := a.PageParams(uuid.Nil, 0, now)
	return db.CountAudienceParams{Channel: p.Channel, Tags: p.Tags, AnyTags: p.AnyTags, ExcludeTags: p.ExcludeTags,
		InactiveBefore: p.InactiveBefore, ActiveSince: p.ActiveSince, JoinedAfter: p.JoinedAfter, ProgramID: p.ProgramID}
}

// Content kinds.
const (
	ContentText = "text" // Text with {{variables}}
	ContentAI   = "ai"   // Brief: written per person by the LLM
)

// Content is what a campaign or program step sends.
type Content struct {
	Kind  string `json:"kind"`
	Text  string `json:"text,omitempty"`
	Brief string `json:"brief,omitempty"`
	// Fallback (AI content, optional) is a text with variables sent when no chat model can
	// write the message; without it such a message fails and is counted as failed.
	Fallback string `json:"fallback,omitempty"`
	// Template (optional) is the approved WhatsApp template sent instead to someone outside
	// the 24-hour window, with its body parameters ({{variables}} allowed); without it the
	// channel's default template is sent, or the person is skipped (no_template).
	Template *Template `json:"template,omitempty"`
}

// Template is an approved WhatsApp message template and the values of its body parameters
// ({{1}}, {{2}}, … in Meta's template, in order).
type Template struct {
	Name     string   `json:"name"`
	Language string   `json:"language"`
	Params   []string `json:"params,omitempty"`
}

// Rendered fills the template's parameters for one person.
func (t *Template) Rendered(vars map[string]string) events.MessageTemplate {
	out := events.MessageTemplate{Name: t.Name, Language: t.Language, Params: make([]string, len(t.Params))}
	for i, p := range t.Params {
		out.Params[i] = Render(p, vars)
		if out.Params[i] == "" {
			out.Params[i] = "-" // WhatsApp refuses an empty parameter
		}
	}
	return out
}

// Validate checks the content.
func (c Content) Validate() error {
	switch c.Kind {
	case ContentText:
		if strings.TrimSpace(c.Text) == "" {
			return errors.New("content.text is required")
		}
		if bad := unknownVars(c.Text); len(bad) > 0 {
			return fmt.Errorf("content.text: unknown variables %v (known: %v)", bad, Variables)
		}
	case ContentAI:
		if strings.TrimSpace(c.Brief) == "" {
			return errors.New("content.brief is required for AI-personalized content")
		}
		if bad := unknownVars(c.Fallback); len(bad) > 0 {
			return fmt.Errorf("content.fallback: unknown variables %v (known: %v)", bad, Variables)
		}
	default:
		return fmt.Errorf("content.kind %q: want text or ai", c.Kind)
	}
	if t := c.Template; t != nil {
		if !templateNameRE.MatchString(t.Name) {
			return errors.New("content.template.name: the template's name as approved (lower case, digits, underscores)")
		}
		if !templateLangRE.MatchString(t.Language) {
			return errors.New("content.template.language: a language code such as en or en_US")
		}
		if len(t.Params) > 20 {
			return errors.New("content.template.params: at most 20")
		}
		for _, p := range t.Params {
			if bad := unknownVars(p); len(bad) > 0 {
				return fmt.Errorf("content.template.params: unknown variables %v (known: %v)", bad, Variables)
			}
		}
	}
	return nil
}

var (
	templateNameRE = regexp.MustCompile(`^[a-z0-9_]{1,512}$`)
	templateLangRE = regexp.MustCompile(`^[a-z]{2,3}(_[A-Z]{2})?$`)
)

// Variables a text may use.
var Variables = []string{"first_name", "name", "coach_name", "goal"}

var varRE = regexp.MustCompile(`\{\{\s*([a-z_]+)\s*\}\}`)

func unknownVars(s string) []string {
	var bad []string
	for _, m := range varRE.FindAllStringSubmatch(s, -1) {
		ok := false
		for _, v := range Variables {
			ok = ok || v == m[1]
		}
		if !ok {
			bad = append(bad, m[1])
		}
	}
	return bad
}

// UsesVar reports whether text uses the variable name.
func UsesVar(text, name string) bool {
	for _, m := range varRE.FindAllStringSubmatch(text, -1) {
		if m[1] == name {
			return true
		}
	}
	return false
}

// Render fills {{variables}}; a variable with no value becomes "" (first_name falls back to
// "there" so "Hi {{first_name}}" still reads well).
func Render(text string, vars map[string]string) string {
	out := varRE.ReplaceAllStringFunc(text, func(m string) string {
		name := varRE.FindStringSubmatch(m)[1]
		if v := vars[name]; v != "" {
			return v
		}
		if name == "first_name" {
			return "there"
		}
		return ""
	})
	return strings.TrimSpace(out)
}

// VarsFor builds the variables of one person.
func VarsFor(eu db.EndUser, coach string, memory json.RawMessage) map[string]string {
	first := strings.TrimSpace(eu.DisplayName)
	if i := strings.IndexAny(first, " \t"); i > 0 {
		first = first[:i]
	}
	vars := map[string]string{"first_name": first, "name": strings.TrimSpace(eu.DisplayName), "coach_name": coach}
	var p struct {
		Goals []string `json:"goals"`
	}
	if len(memory) > 0 && json.Unmarshal(memory, &p) == nil && len(p.Goals) > 0 {
		vars["goal"] = p.Goals[0]
	}
	return vars
}

// MessageID is the deterministic id of the proactive message of (occurrence, recipient).
func MessageID(occurrence, endUser uuid.UUID) uuid.UUID {
	return uuid.NewSHA1(occurrence, []byte("nudge:"+endUser.String()))
}

// ProgramOccurrence is the occurrence id of step of an enrollment.
func ProgramOccurrence(enrollment uuid.UUID, step int) uuid.UUID {
	return uuid.NewSHA1(enrollment, []byte(fmt.Sprintf("step:%d", step)))
}

// ScheduleFollowing inserts the campaign's next occurrence after after, from the campaign's
// schedule as it is now, unless one is already pending (an edit made during the expansion
// scheduled it from the new schedule). The campaign row is locked, as an edit locks it, so the
// two never both insert one.
func ScheduleFollowing(ctx context.Context, q *db.Queries, c, campaign uuid.UUID, after time.Time) error {
	cp, err := q.LockCampaign(ctx, campaign)
	if err != nil {
		return err
	}
	if cp.Status == "cancelled" || cp.Status == "completed" {
		return nil
	}
	if pending, err := q.HasPendingOccurrence(ctx, campaign); err != nil || pending {
		return err
	}
	var sched Schedule
	if err := json.Unmarshal(cp.Schedule, &sched); err != nil {
		return fmt.Errorf("nudge: campaign %s schedule: %w", campaign, err)
	}
	return ScheduleNext(ctx, q, c, campaign, sched, after)
}

// ScheduleNext inserts the campaign's first occurrence after after (idempotent), or marks a
// finished one-off campaign completed.
func ScheduleNext(ctx context.Context, q *db.Queries, c, campaign uuid.UUID, s Schedule, after time.Time) error {
	next, ok := s.Next(after)
	if !ok {
		_, err := q.SetCampaignStatus(ctx, db.SetCampaignStatusParams{ID: campaign, Status: "completed"})
		return err
	}
	p := db.InsertOccurrenceParams{ID: uuid.Must(uuid.NewV7()), CreatorID: c, CampaignID: campaign, ScheduledAt: next.At, LocalAt: next.LocalTime}
	if next.LocalDate != "" {
		d, _ := time.Parse(DateLayout, next.LocalDate)
		p.LocalDate = pgtype.Date{Time: d, Valid: true}
	}
	return q.InsertOccurrence(ctx, p)
}
