package widget

// The installable app (issue 16, docs/app.md): /a/<slug>/ is a full-screen chat with the coach,
// installable on a phone's home screen (web app manifest, icons, service worker). Its end users
// are the channel "app"; their session is the widget's kind of token, so the widget socket
// serves the app unchanged.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"unicode"

	"github.com/google/uuid"
	"golang.org/x/text/unicode/norm"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/auth"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/gateway/httpx"
	"github.com/coachwire/coachwire/internal/gateway/widget/static"
	"github.com/coachwire/coachwire/internal/ratelimit"
)

// slugPattern is what a creator slug may be (migration 0024 checks the same): lower-case
// letters, digits and inner hyphens, 1 to 40 characters.
var slugPattern = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$`)

// ValidSlug reports whether s may be a creator's app slug.
func ValidSlug(s string) bool { return slugPattern.MatchString(s) }

// ErrSlugTaken is returned by SetAppSlug for a slug another creator has.
var ErrSlugTaken = errors.New("widget: app slug taken")

// SlugFromName turns a coach's name into a slug: accents dropped, lower case, runs of anything
// else one hyphen, at most 40 characters; "coach" when nothing is left.
func SlugFromName(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range norm.NFKD.String(name) {
		switch {
		case unicode.Is(unicode.Mn, r):
			continue // a combining accent: é → e
		case r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(unicode.ToLower(r))
		default:
			dash = true
		}
		if b.Len() >= 40 {
			break
		}
	}
	s := strings.Trim(b.String(), "-")
	if len(s) > 40 {
		s = strings.TrimRight(s[:40], "-")
	}
	if s == "" {
		return "coach"
	}
	return s
}

// EnsureAppSlug returns the creator's slug, generating it from the coach's name the first time
// (name, name-2, name-3, …, the first one free). q runs in the creator's tenant.
func EnsureAppSlug(ctx context.Context, q *db.Queries, c db.Creator) (string, error) {
	cur, err := q.AppSlugOf(ctx, c.ID)
	if err != nil || cur != "" {
		return cur, err
	}
	base := SlugFromName(c.Name)
	for i := 1; i <= 51; i++ {
		cand := base
		switch {
		case i == 51: // fifty coaches of the same name: a random suffix
			cand = strings.TrimRight(base[:min(len(base), 31)], "-") + "-" + uuid.NewString()[:8]
		case i > 1:
			suffix := fmt.Sprintf("-%d", i)
			cand = strings.TrimRight(base[:min(len(base), 40-len(suffix))], "-") + suffix
		}
		ok, err := q.SetAppSlug(ctx, db.SetAppSlugParams{CreatorID: c.ID, Slug: cand})
		if err != nil {
			return "", err
		}
		if ok {
			return cand, nil
		}
	}
	return "", errors.New("widget: no free app slug")
}

// SetAppSlug changes the creator's slug (already checked with ValidSlug); ErrSlugTaken when
// another creator has it.
func SetAppSlug(ctx context.Context, q *db.Queries, creator uuid.UUID, slug string) error {
	ok, err := q.SetAppSlug(ctx, db.SetAppSlugParams{CreatorID: creator, Slug: slug})
	if db.IsUniqueViolation(err) || (err == nil && !ok) {
		return ErrSlugTaken
	}
	return err
}

// appCreator finds the creator of a slug, current or retired (404 when none).
func (s *Server) appCreator(ctx context.Context, slug string) (widgetCreator, error) {
	wc, _, err := s.appCreatorAt(ctx, slug)
	return wc, err
}

// appCreatorAt is appCreator with the creator's current slug: another than slug when the
// creator has changed it since (slug is retired, still theirs).
func (s *Server) appCreatorAt(ctx context.Context, slug string) (widgetCreator, string, error) {
	if !ValidSlug(slug) {
		return widgetCreator{}, "", httpx.NotFound("app")
	}
	var row db.CreatorByAppSlugRow
	err := s.Store.Global(ctx, func(q *db.Queries) error {
		var err error
		row, err = q.CreatorByAppSlug(ctx, slug)
		return err
	})
	if err != nil || row.CreatorID == uuid.Nil {
		return widgetCreator{}, "", httpx.NotFound("app")
	}
	wc, err := s.widgetCreator(ctx, row.CreatorID)
	return wc, row.CurrentSlug, err
}

// movedApp redirects (308) a request for a retired slug to the same path under the creator's
// current slug, so installed apps and notifications of the old slug reach the same coach; it
// reports whether it did.
func movedApp(w http.ResponseWriter, r *http.Request, slug, current string) bool {
	if current == "" || current == slug {
		return false
	}
	to := "/a/" + current + strings.TrimPrefix(r.URL.Path, "/a/"+slug)
	if r.URL.RawQuery != "" {
		to += "?" + r.URL.RawQuery
	}
	http.Redirect(w, r, to, http.StatusPermanentRedirect)
	return true
}

// appCSP is the app's policy: like the widget preview's, plus its manifest and service worker,
// never framed.
const appCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https: http: data:; " +
	"connect-src 'self'; manifest-src 'self'; worker-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

var appShell = template.Must(template.ParseFS(static.App, "app/index.html"))

type appShellData struct {
	Slug, Name, Color, Lang string
}

// AppRedirect sends /a/<slug> to /a/<slug>/, the app's scope.
func (s *Server) AppRedirect(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, "/a/"+r.PathValue("slug")+"/", http.StatusMovedPermanently)
}

// AppShell serves the app's page (GET /a/{slug}/): a static shell the service worker caches;
// app.js opens the session and fills it.
func (s *Server) AppShell(w http.ResponseWriter, r *http.Request) error {
	wc, current, err := s.appCreatorAt(r.Context(), r.PathValue("slug"))
	if err != nil {
		return err
	}
	if movedApp(w, r, r.PathValue("slug"), current) {
		return nil
	}
	h := w.Header()
	h.Set("Content-Security-Policy", appCSP)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Type", "text/html; charset=utf-8")
	lang := wc.Coach.Look["lang"]
	if lang == "" {
		lang = "en"
	}
	return appShell.Execute(w, appShellData{Slug: r.PathValue("slug"), Name: wc.Coach.Name, Color: appColor(wc), Lang: lang})
}

// appAssets are app.js, app.css and sw.js, gzipped once per process.
var appAssets = sync.OnceValue(func() map[string]httpx.Asset {
	out := map[string]httpx.Asset{}
	for name, ct := range map[string]string{"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8",
		"sw.js": "text/javascript; charset=utf-8"} {
		b, err := fs.ReadFile(static.App, "app/"+name)
		if err != nil {
			panic(err) // embedded
		}
		out[name] = httpx.NewAsset(b, ct)
	}
	return out
})

// AppAsset serves the app's script, style sheet and service worker (GET /a/{slug}/app.js,
// app.css, sw.js). They are the same for every slug; under the slug so the service worker's
// scope is the app's and the shell's relative URLs work offline.
func (s *Server) AppAsset(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !ValidSlug(r.PathValue("slug")) {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		// no-cache: a new release reaches the app on its next start (the service worker checks).
		h.Set("Cache-Control", "no-cache")
		if name == "sw.js" {
			h.Set("Service-Worker-Allowed", "/a/"+r.PathValue("slug")+"/")
		}
		appAssets()[name].Serve(w, r)
	}
}

// appColor is the app's theme colour: the coach's accent, or the widget's default blue.
func appColor(wc widgetCreator) string {
	if c := wc.Coach.Look["color"]; c != "" {
		return c
	}
	return "#2563eb"
}

// manifestIcon is one icon of the web app manifest.
type manifestIcon struct {
	Src     string `json:"src"`
	Sizes   string `json:"sizes"`
	Type    string `json:"type"`
	Purpose string `json:"purpose,omitempty"`
}

// AppManifest serves the web app manifest (GET /a/{slug}/manifest.webmanifest), made from the
// coach settings.
func (s *Server) AppManifest(w http.ResponseWriter, r *http.Request) error {
	slug := r.PathValue("slug")
	wc, current, err := s.appCreatorAt(r.Context(), slug)
	if err != nil {
		return err
	}
	if movedApp(w, r, slug, current) {
		return nil
	}
	base := "/a/" + slug + "/"
	lang := wc.Coach.Look["lang"]
	if lang == "" {
		lang = "en"
	}
	bg := "#ffffff"
	if wc.Coach.Look["theme"] == "dark" {
		bg = "#1b1e22"
	}
	m := map[string]any{
		"id":               base,
		"name":             wc.Coach.Name,
		"short_name":       shortName(wc.Coach.Name),
		"description":      "Chat with " + wc.Coach.Name,
		"lang":             lang,
		"start_url":        base,
		"scope":            base,
		"display":          "standalone",
		"orientation":      "portrait",
		"theme_color":      appColor(wc),
		"background_color": bg,
		"icons": []manifestIcon{
			{Src: base + "icons/192.png", Sizes: "192x192", Type: "image/png", Purpose: "any"},
			{Src: base + "icons/512.png", Sizes: "512x512", Type: "image/png", Purpose: "any"},
			{Src: base + "icons/maskable-512.png", Sizes: "512x512", Type: "image/png", Purpose: "maskable"},
		},
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Type", "application/manifest+json")
	_, _ = w.Write(b)
	return nil
}

// shortName is the name under the home-screen icon: at most 12 characters (what launchers
// show), cut at a word when it can be.
func shortName(name string) string {
	r := []rune(strings.TrimSpace(name))
	if len(r) <= 12 {
		return string(r)
	}
	if f := strings.Fields(name); len(f) > 0 && len([]rune(f[0])) <= 12 {
		return f[0]
	}
	return string(r[:12])
}

// appSessionRequest is the app's session body: the slug instead of the widget key.
type appSessionRequest struct {
	Slug     string `json:"slug"`
	AnonID   string `json:"anon_id"`
	UserID   string `json:"user_id,omitempty"`
	UserHash string `json:"user_hash,omitempty"`
}

// AppSession starts (or resumes) an app end user's session (POST /api/v1/app/session): the same
// token and answer as the widget's session, for the channel "app". Only the app's own pages (the
// gateway's origin) may call it.
func (s *Server) AppSession(w http.ResponseWriter, r *http.Request) error {
	var req appSessionRequest
	if err := httpx.ReadJSON(w, r, &req); err != nil {
		return err
	}
	if err := httpx.Limit(w, r, s.RateLimit, "too many app sessions; retry later",
		ratelimit.Check{Key: "widget:session:ip:" + auth.IPKey(s.ClientIP(r)), Rule: s.Limits.SessionsPerIP},
		ratelimit.Check{Key: "app:session:slug:" + req.Slug, Rule: s.Limits.SessionsPerKey}); err != nil {
		return err
	}
	if o := r.Header.Get("Origin"); o != "" && !s.originAllowed(o, widgetCreator{}, r) {
		return &httpx.Error{Status: http.StatusForbidden, Code: "origin_not_allowed", Message: "the app's session is for the app's own pages"}
	}
	wc, err := s.appCreator(r.Context(), req.Slug)
	if err != nil {
		return err
	}
	external, verified, err := endUserIdentity(wc, widgetSessionRequest{AnonID: req.AnonID, UserID: req.UserID, UserHash: req.UserHash})
	if err != nil {
		return err
	}
	return s.openSession(w, r, wc, events.ChannelApp, external, verified)
}
