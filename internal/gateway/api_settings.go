package gateway

// Creator settings: the send policy of proactive coaching (timezone, quiet hours, frequency
// caps) and the creator's profile as the widget shows it (name, persona, allowed origins).

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/coachwire/coachwire/internal/auth/perm"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/gateway/widget"
	"github.com/coachwire/coachwire/internal/proactive"
)

// nudgePolicy is the creator's send policy on the wire. Quiet hours are "HH:MM" in the
// recipient's local time (the database keeps minutes of the day); equal start and end mean no
// quiet hours, a start after the end spans midnight. Caps of 0 leave only the platform ceiling.
type nudgePolicy struct {
	Timezone   string `json:"timezone"`
	QuietStart string `json:"quiet_start"`
	QuietEnd   string `json:"quiet_end"`
	CapDay     int    `json:"cap_day"`
	CapWeek    int    `json:"cap_week"`
}

// nudgePolicyIn is a PUT body (every field) or a PATCH body (fields left out keep their value).
type nudgePolicyIn struct {
	Timezone   *string `json:"timezone"`
	QuietStart *string `json:"quiet_start"`
	QuietEnd   *string `json:"quiet_end"`
	CapDay     *int    `json:"cap_day"`
	CapWeek    *int    `json:"cap_week"`
}

func policyOf(p db.GetCreatorPolicyRow) nudgePolicy {
	return nudgePolicy{Timezone: p.Timezone, QuietStart: formatHHMM(int(p.QuietStart)), QuietEnd: formatHHMM(int(p.QuietEnd)),
		CapDay: int(p.NudgeCapDay), CapWeek: int(p.NudgeCapWeek)}
}

func formatHHMM(m int) string { return fmt.Sprintf("%02d:%02d", m/60, m%60) }

func (s *Server) handleGetNudgePolicy(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	ctx := r.Context()
	var p db.GetCreatorPolicyRow
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) (err error) {
		p, err = q.GetCreatorPolicy(ctx, a.CreatorID)
		return err
	}); err != nil {
		return orNotFound(err, "creator")
	}
	writeJSON(w, http.StatusOK, policyOf(p))
	return nil
}

// handlePutNudgePolicy replaces the policy: every field is required.
func (s *Server) handlePutNudgePolicy(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	return s.updateNudgePolicy(w, r, a, true)
}

// handlePatchNudgePolicy changes the fields given; the others keep their value.
func (s *Server) handlePatchNudgePolicy(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	return s.updateNudgePolicy(w, r, a, false)
}

func (s *Server) updateNudgePolicy(w http.ResponseWriter, r *http.Request, a creatorAuth, replace bool) error {
	var in nudgePolicyIn
	if err := readJSON(w, r, &in); err != nil {
		return err
	}
	if replace {
		if err := requireAll("policy", field{"timezone", in.Timezone != nil}, field{"quiet_start", in.QuietStart != nil},
			field{"quiet_end", in.QuietEnd != nil}, field{"cap_day", in.CapDay != nil}, field{"cap_week", in.CapWeek != nil}); err != nil {
			return err
		}
	}
	ctx := r.Context()
	var out db.SetCreatorPolicyRow
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) (err error) {
		out, err = proactive.UpdatePolicy(ctx, q, a.CreatorID, proactive.PolicyChange(in))
		return err
	}); err != nil {
		return orNotFound(err, "creator")
	}
	writeJSON(w, http.StatusOK, policyOf(db.GetCreatorPolicyRow(out)))
	return nil
}

type widgetSettings struct {
	Name             string   `json:"name"`
	Persona          string   `json:"persona"`
	AllowedOrigins   []string `json:"allowed_origins"`
	IdentityRequired bool     `json:"identity_required"`
	// The coach as the widget shows it (docs/widget.md): avatar image URL, welcome message,
	// suggested first questions and whether "powered by coachwire" shows.
	AvatarURL   string   `json:"avatar_url"`
	Welcome     string   `json:"welcome"`
	Suggestions []string `json:"suggestions"`
	Branding    bool     `json:"branding"`
	// LinkSources: a reply's sources link to the page their document was imported from.
	LinkSources bool `json:"link_sources"`
	// The widget's look (migration 0021): accent colour (#rrggbb), corner, theme, interface
	// language and launcher text; "" is the widget's default. A data- attribute on the page wins.
	Color        string `json:"color"`
	Position     string `json:"position"`
	Theme        string `json:"theme"`
	Language     string `json:"language"`
	LauncherText string `json:"launcher_text"`
	WidgetKey    string `json:"widget_key,omitempty"`
	// AppSlug names the creator's installable app, AppURL its address (/a/<slug>/, docs/app.md);
	// the slug is generated from the name on first read and may be changed.
	AppSlug string `json:"app_slug"`
	AppURL  string `json:"app_url"`
	// IdentitySecret keys the user_hash HMAC; shown to the creator only, for their server.
	IdentitySecret string `json:"identity_secret,omitempty"`
}

// widgetSettingsIn is a PUT or PATCH body. PUT replaces the settings and needs every field;
// PATCH changes the fields given (null counts as left out). The read-only widget_key and
// identity_secret may be sent back as GET returned them and are ignored.
type widgetSettingsIn struct {
	Name             *string   `json:"name"`
	Persona          *string   `json:"persona"`
	AllowedOrigins   *[]string `json:"allowed_origins"`
	IdentityRequired *bool     `json:"identity_required"`
	AvatarURL        *string   `json:"avatar_url"`
	Welcome          *string   `json:"welcome"`
	Suggestions      *[]string `json:"suggestions"`
	Branding         *bool     `json:"branding"`
	LinkSources      *bool     `json:"link_sources"`
	Color            *string   `json:"color"`
	Position         *string   `json:"position"`
	Theme            *string   `json:"theme"`
	Language         *string   `json:"language"`
	LauncherText     *string   `json:"launcher_text"`
	AppSlug          *string   `json:"app_slug"`
	AppURL           *string   `json:"app_url"`
	WidgetKey        *string   `json:"widget_key"`
	IdentitySecret   *string   `json:"identity_secret"`
}

// settingsOf is the widget settings caller sees. The identity secret signs user_hash: whoever
// holds it can open the widget as any end user and read their conversation, so it is shown only
// to a grant that may change the coach and read message content (owner, admin, an editor with
// the content grant).
func settingsOf(c db.Creator, a creatorAuth) widgetSettings {
	origins := c.AllowedOrigins
	if origins == nil {
		origins = []string{}
	}
	suggestions := c.WidgetSuggestions
	if suggestions == nil {
		suggestions = []string{}
	}
	out := widgetSettings{Name: c.Name, Persona: c.Persona, AllowedOrigins: origins,
		IdentityRequired: c.IdentityRequired, WidgetKey: c.WidgetKey,
		AvatarURL: c.WidgetAvatarUrl, Welcome: c.WidgetWelcome, Suggestions: suggestions, Branding: c.WidgetBranding,
		LinkSources: c.WidgetLinkSources, Color: c.WidgetColor, Position: c.WidgetPosition, Theme: c.WidgetTheme,
		Language: c.WidgetLanguage, LauncherText: c.WidgetLauncherText}
	if a.Grant.Allows(perm.CoachWrite) && a.Grant.Allows(perm.ContentRead) {
		out.IdentitySecret = c.WidgetSecret
	}
	return out
}

// slugRetry runs a settings transaction again (at most twice more) when the app slug it
// generated was taken meanwhile by another coach's transaction (the unique index refused it and
// aborted the transaction): the next run sees that slug taken and generates the next one.
func slugRetry(tx func() error) error {
	err := tx()
	for i := 0; i < 2 && db.IsUniqueViolation(err); i++ {
		err = tx()
	}
	return err
}

// withApp fills the app's slug (generating it the first time, in q's tenant transaction) and
// address.
func (s *Server) withApp(ctx context.Context, q *db.Queries, c *db.Creator, out *widgetSettings) error {
	slug, err := widget.EnsureAppSlug(ctx, q, *c)
	if err != nil {
		return err
	}
	out.AppSlug, out.AppURL = slug, s.Config.PublicURL+"/a/"+slug+"/"
	return nil
}

func (s *Server) handleGetWidgetSettings(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	ctx := r.Context()
	var out widgetSettings
	if err := slugRetry(func() error {
		return s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) error {
			c, err := q.GetCreator(ctx, a.CreatorID)
			if err != nil {
				return err
			}
			out = settingsOf(c, a)
			return s.withApp(ctx, q, &c, &out)
		})
	}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// handlePutWidgetSettings replaces the widget settings: every field is required.
func (s *Server) handlePutWidgetSettings(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	return s.updateWidgetSettings(w, r, a, true)
}

// handlePatchWidgetSettings changes the widget settings given; the others keep their value.
func (s *Server) handlePatchWidgetSettings(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	return s.updateWidgetSettings(w, r, a, false)
}

func (s *Server) updateWidgetSettings(w http.ResponseWriter, r *http.Request, a creatorAuth, replace bool) error {
	var in widgetSettingsIn
	if err := readJSON(w, r, &in); err != nil {
		return err
	}
	if replace {
		if err := requireAll("settings", field{"name", in.Name != nil}, field{"persona", in.Persona != nil},
			field{"allowed_origins", in.AllowedOrigins != nil}, field{"identity_required", in.IdentityRequired != nil}); err != nil {
			return err
		}
	}
	// The widget profile fields (avatar_url, welcome, suggestions, branding, link_sources) came later: a PUT
	// that leaves them out keeps them, so PUT bodies written before them still work.
	p := db.UpdateWidgetSettingsParams{ID: a.CreatorID, IdentityRequired: in.IdentityRequired, Branding: in.Branding, Welcome: in.Welcome,
		LinkSources: in.LinkSources}
	if in.Welcome != nil {
		if err := limitWelcome.field("welcome_too_long", "welcome", *in.Welcome); err != nil {
			return err
		}
	}
	if in.AvatarURL != nil {
		u, err := cleanAvatarURL(*in.AvatarURL)
		if err != nil {
			return err
		}
		p.AvatarUrl = &u
	}
	if in.Suggestions != nil {
		list, err := cleanSuggestions(*in.Suggestions)
		if err != nil {
			return err
		}
		p.Suggestions = list
	}
	if err := checkLook(&in, &p); err != nil {
		return err
	}
	if in.Name != nil {
		name := strings.TrimSpace(*in.Name)
		if err := limitName.field("invalid_name", "name", name); err != nil {
			return err
		}
		p.Name = &name
	}
	if in.Persona != nil {
		if err := limitPersona.field("persona_too_long", "persona", *in.Persona); err != nil {
			return err
		}
		p.Persona = in.Persona
	}
	if in.AllowedOrigins != nil {
		origins, err := cleanOrigins(*in.AllowedOrigins)
		if err != nil {
			return err
		}
		p.AllowedOrigins = origins
	}
	var slug string
	if in.AppSlug != nil {
		slug = strings.ToLower(strings.TrimSpace(*in.AppSlug))
		if !widget.ValidSlug(slug) {
			return errBadRequest("bad_app_slug", "app_slug must be 1 to 40 lower-case letters, digits and inner hyphens")
		}
	}
	ctx := r.Context()
	var out widgetSettings
	if err := slugRetry(func() error {
		return s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) error {
			c, err := q.UpdateWidgetSettings(ctx, p)
			if err != nil {
				return err
			}
			if slug != "" {
				if err := widget.SetAppSlug(ctx, q, c.ID, slug); err != nil {
					return err
				}
			}
			out = settingsOf(c, a)
			return s.withApp(ctx, q, &c, &out)
		})
	}); err != nil {
		if errors.Is(err, widget.ErrSlugTaken) {
			return errConflict("app_slug_taken", "another coach has this app_slug: choose another")
		}
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// The values of the widget's look; "" is the widget's default.
var (
	lookPositions = []string{"", "right", "left"}
	lookThemes    = []string{"", "light", "dark", "auto"}
	// lookLanguages are widget.js's catalogues.
	lookLanguages = []string{"", "en", "es", "pt", "fr", "de"}
	lookColor     = regexp.MustCompile(`^(#[0-9a-fA-F]{6})?$`)
)

// checkLook checks the look fields of a settings body into p (the widget's look: colour,
// corner, theme, language, launcher text).
func checkLook(in *widgetSettingsIn, p *db.UpdateWidgetSettingsParams) error {
	if in.Color != nil {
		c := strings.ToLower(strings.TrimSpace(*in.Color))
		if !lookColor.MatchString(c) {
			return errBadRequest("bad_color", "color must be #rrggbb (six hex digits), or empty for the default")
		}
		p.Color = &c
	}
	for _, f := range []struct {
		name   string
		v      *string
		values []string
		dst    **string
	}{{"position", in.Position, lookPositions, &p.Position}, {"theme", in.Theme, lookThemes, &p.Theme}, {"language", in.Language, lookLanguages, &p.Language}} {
		if f.v == nil {
			continue
		}
		if !slices.Contains(f.values, *f.v) {
			return errBadRequest("bad_"+f.name, f.name+" must be one of "+strings.Join(quoteAll(f.values), ", "))
		}
		*f.dst = f.v
	}
	if in.LauncherText != nil {
		t := strings.TrimSpace(*in.LauncherText)
		if err := limitLauncher.field("bad_launcher_text", "launcher_text", t); err != nil {
			return err
		}
		p.LauncherText = &t
	}
	return nil
}

func quoteAll(vs []string) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = strconv.Quote(v)
	}
	return out
}

// cleanOrigins checks allowed origins (scheme://host[:port] or "*") and lower-cases them; never
// nil, so an empty list clears them.
func cleanOrigins(in []string) ([]string, error) {
	if len(in) > maxOriginsCount {
		return nil, errBadRequest("too_many_origins", fmt.Sprintf("at most %d allowed origins", maxOriginsCount))
	}
	origins := make([]string, 0, len(in))
	for i, o := range in {
		if err := limitURL.field("bad_origin", fmt.Sprintf("allowed_origins[%d]", i), o); err != nil {
			return nil, err
		}
		if o == "*" {
			origins = append(origins, o)
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" ||
			u.User != nil || u.Fragment != "" {
			return nil, errBadRequest("bad_origin", "allowed origin "+strconv.Quote(o)+" must be scheme://host[:port]")
		}
		origins = append(origins, strings.ToLower(u.Scheme+"://"+u.Host))
	}
	return origins, nil
}

// cleanAvatarURL checks the coach's avatar: an https (or http) image URL, or "" for none.
func cleanAvatarURL(v string) (string, error) {
	v = strings.TrimSpace(v)
	if err := limitURL.field("bad_avatar_url", "avatar_url", v); err != nil || v == "" {
		return v, err
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return "", errBadRequest("bad_avatar_url", "avatar_url must be an http(s) URL")
	}
	return u.String(), nil
}

// cleanSuggestions checks the suggested first questions (trimmed, empty ones dropped); never
// nil, so an empty list clears them.
func cleanSuggestions(in []string) ([]string, error) {
	out := make([]string, 0, len(in))
	for i, q := range in {
		q = strings.TrimSpace(q)
		if err := limitSuggestion.field("bad_suggestion", fmt.Sprintf("suggestions[%d]", i), q); err != nil {
			return nil, err
		}
		if q != "" {
			out = append(out, q)
		}
	}
	if len(out) > maxSuggestions {
		return nil, errBadRequest("too_many_suggestions", fmt.Sprintf("at most %d suggestions", maxSuggestions))
	}
	return out, nil
}

// field is a body field of a PUT and whether the request gave it.
type field struct {
	name  string
	given bool
}

// requireAll refuses a PUT of what (the policy, the settings) that leaves out a field: PUT
// replaces every field, PATCH changes some.
func requireAll(what string, fields ...field) error {
	var missing []string
	for _, f := range fields {
		if !f.given {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return errBadRequest("missing_field", "PUT replaces the "+what+" and needs every field (PATCH changes some): missing "+strings.Join(missing, ", "))
	}
	return nil
}
