package widget_test

import (
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/gateway"
	"github.com/coachwire/coachwire/internal/gateway/widget"
	"github.com/coachwire/coachwire/internal/testenv"
)

func TestSlugFromName(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]string{
		"Maya Chen":                "maya-chen",
		"  Lucía  Romero!! ":       "lucia-romero",
		"Dr. Zoë O'Brien-Smith":    "dr-zoe-o-brien-smith",
		"教练":                       "coach",
		"":                         "coach",
		strings.Repeat("abc ", 20): "abc-abc-abc-abc-abc-abc-abc-abc-abc-abc",
	} {
		got := widget.SlugFromName(name)
		require.Equal(t, want, got, "name %q", name)
		require.True(t, widget.ValidSlug(got), "%q is a valid slug", got)
	}
	for _, bad := range []string{"", "-maya", "maya-", "Maya", "maya chen", "maya_chen", strings.Repeat("a", 41), "a/b"} {
		require.False(t, widget.ValidSlug(bad), "%q", bad)
	}
}

// TestAppSessionAndSelfService: the app's session is the widget's kind of token for the channel
// app (its socket publishes on the app's inbound subject), only the app's own origin may ask for
// one, and the token opens the end user's self-service routes and nothing else.
func TestAppSessionAndSelfService(t *testing.T) {
	t.Parallel()
	base := newGateway(t, offPerIP)
	c := testenv.NewClient(base)
	cr := c.Register(t)
	ctx := context.Background()
	var ws struct {
		AppSlug string `json:"app_slug"`
	}
	_, _, err := c.Do(ctx, "GET", "/api/v1/widget/settings", cr.AccessToken, nil, &ws)
	require.NoError(t, err)
	require.NotEmpty(t, ws.AppSlug)

	st, _, err := c.Do(ctx, "POST", "/api/v1/app/session", "", map[string]string{"slug": "no-such-app", "anon_id": "anon-12345678"}, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusNotFound, st)
	st, _, err = c.Do(ctx, "POST", "/api/v1/app/session", "", map[string]string{"slug": ws.AppSlug, "anon_id": "anon-12345678"}, nil, "Origin", "https://evil.example")
	require.NoError(t, err)
	require.Equal(t, http.StatusForbidden, st, "another site cannot open app sessions")

	var s testenv.WidgetSession
	st, raw, err := c.Do(ctx, "POST", "/api/v1/app/session", "", map[string]string{"slug": ws.AppSlug, "anon_id": "anon-12345678"}, &s)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, st, string(raw))

	// The socket serves the app unchanged; its messages are the channel app's.
	got := make(chan events.Message[events.MessageReceived], 1)
	sub, err := testenv.Bus(t).ListenFunc(events.InboundSubject(cr.ID, events.ChannelApp), "app-test-"+s.ConversationID.String(), func(m *nats.Msg) {
		var ev events.Message[events.MessageReceived]
		if json.Unmarshal(m.Data, &ev) == nil {
			got <- ev
		}
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	conn, _, err := c.DialWidget(ctx, s, 0, nil)
	require.NoError(t, err)
	id, err := conn.Say(ctx, "hello from the app")
	require.NoError(t, err)
	conn.Next(t, 10*time.Second, func(f testenv.Frame) bool { return f.Type == "ack" && f.ID == id })
	select {
	case ev := <-got:
		require.Equal(t, events.ChannelApp, ev.Data.Channel)
		require.Equal(t, s.EndUserID, ev.Data.EndUserID)
		require.Equal(t, "hello from the app", ev.Data.Text)
	case <-time.After(10 * time.Second):
		t.Fatal("no message on the app's inbound subject")
	}

	// Self-service with the session token.
	var me struct {
		Channel  string `json:"channel"`
		OptedOut bool   `json:"opted_out"`
		Timezone string `json:"timezone"`
		Programs []any  `json:"programs"`
		Upcoming []any  `json:"upcoming"`
	}
	st, raw, err = c.Do(ctx, "GET", "/api/v1/app/me", s.Token, nil, &me)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, st, string(raw))
	require.Equal(t, "app", me.Channel)
	require.NotNil(t, me.Programs)
	require.NotNil(t, me.Upcoming)
	st, _, err = c.Do(ctx, "PATCH", "/api/v1/app/me", s.Token, map[string]string{"timezone": "Mars/Olympus"}, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusBadRequest, st)
	st, _, err = c.Do(ctx, "PATCH", "/api/v1/app/me", s.Token, map[string]string{"timezone": "Europe/Madrid"}, &me)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, st)
	require.Equal(t, "Europe/Madrid", me.Timezone)
	// Enrolled in a program: it shows with its next step, which is upcoming.
	var prog struct {
		ID string `json:"id"`
	}
	st, raw, err = c.Do(ctx, "POST", "/api/v1/programs", cr.AccessToken, map[string]any{"name": "Sleep reset", "steps": []any{
		map[string]any{"day": 1, "content": map[string]any{"kind": "text", "text": "Day one"}},
		map[string]any{"day": 3, "content": map[string]any{"kind": "text", "text": "Day three"}}}}, &prog)
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, st, string(raw))
	st, raw, err = c.Do(ctx, "POST", "/api/v1/programs/"+prog.ID+"/enrollments", cr.AccessToken, map[string]any{"end_user_id": s.EndUserID}, nil)
	require.NoError(t, err)
	require.Less(t, st, 300, string(raw))
	var withProgram struct {
		Programs []struct {
			Name   string `json:"name"`
			Status string `json:"status"`
			Step   int    `json:"step"`
			Steps  int    `json:"steps"`
		} `json:"programs"`
		Upcoming []struct {
			Program string    `json:"program"`
			Step    int       `json:"step"`
			At      time.Time `json:"at"`
		} `json:"upcoming"`
	}
	st, raw, err = c.Do(ctx, "GET", "/api/v1/app/me", s.Token, nil, &withProgram)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, st)
	require.Len(t, withProgram.Programs, 1, "%s", raw)
	require.Equal(t, "Sleep reset", withProgram.Programs[0].Name)
	require.Equal(t, "active", withProgram.Programs[0].Status)
	require.Equal(t, 1, withProgram.Programs[0].Step)
	require.Equal(t, 2, withProgram.Programs[0].Steps)
	require.Len(t, withProgram.Upcoming, 1, "%s", raw)
	require.Equal(t, "Sleep reset", withProgram.Upcoming[0].Program)
	require.True(t, withProgram.Upcoming[0].At.After(time.Now()), "the first step is due later")

	var mem struct {
		Profile map[string][]string `json:"profile"`
	}
	st, _, err = c.Do(ctx, "GET", "/api/v1/app/memory", s.Token, nil, &mem)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, st)
	require.Equal(t, []string{}, mem.Profile["goals"])
	st, _, err = c.Do(ctx, "DELETE", "/api/v1/app/memory", s.Token, nil, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusNoContent, st)

	// Without the session token, or with a creator's token: refused.
	for _, tok := range []string{"", cr.AccessToken, "not-a-token"} {
		st, _, err = c.Do(ctx, "GET", "/api/v1/app/me", tok, nil, nil)
		require.NoError(t, err)
		require.Equal(t, http.StatusUnauthorized, st)
	}
}

// TestAppIcons: the icons are PNGs at their sizes, drawn from the coach's avatar when it is an
// image the gateway can fetch and decode (a PNG on the test's server here) and from the initials
// on the coach's colour otherwise; the ETag changes with them.
func TestAppIcons(t *testing.T) {
	t.Parallel()
	avatar := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		img := image.NewNRGBA(image.Rect(0, 0, 64, 48))
		draw.Draw(img, img.Bounds(), image.NewUniform(color.NRGBA{200, 10, 10, 255}), image.Point{}, draw.Src)
		w.Header().Set("Content-Type", "image/png")
		_ = png.Encode(w, img)
	}))
	t.Cleanup(avatar.Close)
	base := newGatewayWith(t, gateway.Settings{PublicURL: "http://gateway.test", Limits: offPerIP, ImportAllowPrivate: true})
	c := testenv.NewClient(base)
	cr := c.Register(t)
	ctx := context.Background()
	var ws struct {
		AppSlug string `json:"app_slug"`
	}
	st, raw, err := c.Do(ctx, "PATCH", "/api/v1/widget/settings", cr.AccessToken, map[string]any{"name": "Ana Ruiz", "color": "#0f766e"}, &ws)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, st, string(raw))
	icon := func(name string) (image.Image, string) {
		t.Helper()
		res, err := http.Get(base + "/a/" + ws.AppSlug + "/icons/" + name)
		require.NoError(t, err)
		defer res.Body.Close()
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Equal(t, "image/png", res.Header.Get("Content-Type"))
		img, err := png.Decode(res.Body)
		require.NoError(t, err)
		return img, res.Header.Get("ETag")
	}
	rgba := func(img image.Image, x, y int) [4]uint32 {
		r, g, b, a := img.At(x, y).RGBA()
		return [4]uint32{r >> 8, g >> 8, b >> 8, a >> 8}
	}
	teal := [4]uint32{0x0f, 0x76, 0x6e, 255}
	img, initialsTag := icon("192.png")
	require.Equal(t, 192, img.Bounds().Dx())
	require.Equal(t, uint32(0), rgba(img, 0, 0)[3], "a rounded square: transparent corner")
	require.Equal(t, teal, rgba(img, 20, 96), "the coach's colour around the initials")
	img, _ = icon("maskable-512.png")
	require.Equal(t, 512, img.Bounds().Dx())
	require.Equal(t, teal, rgba(img, 0, 0), "maskable: full bleed")
	img, _ = icon("apple-touch-icon.png")
	require.Equal(t, 180, img.Bounds().Dx())
	res, err := http.Get(base + "/a/" + ws.AppSlug + "/icons/favicon.ico")
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusNotFound, res.StatusCode)

	st, _, err = c.Do(ctx, "PATCH", "/api/v1/widget/settings", cr.AccessToken, map[string]any{"avatar_url": avatar.URL + "/a.png"}, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, st)
	img, avatarTag := icon("512.png")
	require.NotEqual(t, initialsTag, avatarTag)
	require.Equal(t, [4]uint32{200, 10, 10, 255}, rgba(img, 256, 256), "the avatar fills the icon")
	require.Equal(t, uint32(0), rgba(img, 0, 0)[3])
	img, _ = icon("maskable-512.png")
	require.Equal(t, [4]uint32{200, 10, 10, 255}, rgba(img, 2, 2))
}

// TestAppSlugRetired: a changed slug stays its coach's. /a/<old>/ (and its manifest) redirects
// permanently to the current slug, the app opens a session under the old one, another coach's
// claim of it is refused like a taken slug (409 app_slug_taken), and the coach may take it back.
func TestAppSlugRetired(t *testing.T) {
	t.Parallel()
	base := newGateway(t, offPerIP)
	c := testenv.NewClient(base)
	ctx := context.Background()
	a, b := c.Register(t), c.Register(t)
	suffix := strings.ReplaceAll(time.Now().Format("150405.000000000"), ".", "")
	old, cur := "old-"+suffix, "new-"+suffix
	setSlug := func(cr testenv.Creator, slug string) (int, string) {
		t.Helper()
		var body struct {
			AppSlug string `json:"app_slug"`
			Error   struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		st, raw, err := c.Do(ctx, "PATCH", "/api/v1/widget/settings", cr.AccessToken, map[string]any{"app_slug": slug}, &body)
		require.NoError(t, err)
		if st == http.StatusOK {
			require.Equal(t, slug, body.AppSlug)
		}
		return st, string(raw)
	}
	st, raw := setSlug(a, old)
	require.Equal(t, http.StatusOK, st, raw)
	st, raw = setSlug(a, cur)
	require.Equal(t, http.StatusOK, st, raw)

	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) *http.Response {
		t.Helper()
		res, err := noFollow.Get(base + path)
		require.NoError(t, err)
		res.Body.Close()
		return res
	}
	res := get("/a/" + old + "/")
	require.Equal(t, http.StatusPermanentRedirect, res.StatusCode)
	require.Equal(t, "/a/"+cur+"/", res.Header.Get("Location"))
	res = get("/a/" + old + "/manifest.webmanifest")
	require.Equal(t, http.StatusPermanentRedirect, res.StatusCode)
	require.Equal(t, "/a/"+cur+"/manifest.webmanifest", res.Header.Get("Location"))
	require.Equal(t, http.StatusOK, get("/a/"+cur+"/").StatusCode)
	var s testenv.WidgetSession
	st, raw2, err := c.Do(ctx, "POST", "/api/v1/app/session", "", map[string]string{"slug": old, "anon_id": "anon-12345678"}, &s)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, st, string(raw2))

	// Another coach can claim neither the current nor the retired slug.
	for _, slug := range []string{cur, old} {
		st, raw = setSlug(b, slug)
		require.Equal(t, http.StatusConflict, st, "%s: %s", slug, raw)
		require.Contains(t, raw, "app_slug_taken")
	}
	// The coach takes the old slug back: the newer one is now the retired one.
	st, raw = setSlug(a, old)
	require.Equal(t, http.StatusOK, st, raw)
	require.Equal(t, http.StatusOK, get("/a/"+old+"/").StatusCode)
	res = get("/a/" + cur + "/")
	require.Equal(t, http.StatusPermanentRedirect, res.StatusCode)
	require.Equal(t, "/a/"+old+"/", res.Header.Get("Location"))
}
