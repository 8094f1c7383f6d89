package widget

// The app's icons, rendered here from the coach's avatar (PNG, JPEG or GIF, fetched with the
// gateway's URL-import client, which refuses private addresses) or, without one, from the
// coach's initials on the coach's colour: 192 and 512 pixels (any purpose: a rounded square on
// transparency), 512 maskable (full bleed, the initials inside the safe zone) and Apple's
// 180-pixel touch icon (opaque; iOS rounds it).

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"image"
	"image/color"
	"image/draw"
	_ "image/gif" // avatars
	_ "image/jpeg"
	"image/png"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	xdraw "golang.org/x/image/draw"
	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
	"golang.org/x/image/vector"

	"github.com/coachwire/coachwire/internal/gateway/httpx"
)

// iconKinds are the icons the app serves, by file name: size and whether it is full bleed.
var iconKinds = map[string]struct {
	size  int
	bleed bool
}{
	"192.png":              {192, false},
	"512.png":              {512, false},
	"maskable-512.png":     {512, true},
	"apple-touch-icon.png": {180, true},
}

// initials are the first letters of the name's first two words ("Maya Chen" → "MC").
func initials(name string) string {
	var out []rune
	for _, w := range strings.Fields(name) {
		for _, r := range w {
			if unicode.IsLetter(r) || unicode.IsDigit(r) {
				out = append(out, unicode.ToUpper(r))
				break
			}
		}
		if len(out) == 2 {
			break
		}
	}
	if len(out) == 0 {
		return "C"
	}
	return string(out)
}

// parseHex reads #rrggbb (the widget's colour setting); the default blue otherwise.
func parseHex(s string) color.NRGBA {
	c := color.NRGBA{0x25, 0x63, 0xeb, 0xff}
	if len(s) == 7 && s[0] == '#' {
		if v, err := strconv.ParseUint(s[1:], 16, 32); err == nil {
			c = color.NRGBA{uint8(v >> 16), uint8(v >> 8), uint8(v), 0xff}
		}
	}
	return c
}

// textColor is white or near-black, whichever reads better on bg (WCAG relative luminance).
func textColor(bg color.NRGBA) color.NRGBA {
	lin := func(v uint8) float64 {
		f := float64(v) / 255
		if f <= 0.03928 {
			return f / 12.92
		}
		return math.Pow((f+0.055)/1.055, 2.4)
	}
	l := 0.2126*lin(bg.R) + 0.7152*lin(bg.G) + 0.0722*lin(bg.B)
	if (1.05)/(l+0.05) >= 3 {
		return color.NRGBA{0xff, 0xff, 0xff, 0xff}
	}
	return color.NRGBA{0x11, 0x11, 0x11, 0xff}
}

var boldFont = sync.OnceValue(func() *opentype.Font {
	f, err := opentype.Parse(gobold.TTF)
	if err != nil {
		panic(err) // embedded
	}
	return f
})

// renderIcon draws the initials on the colour at size pixels; bleed fills the whole square
// (maskable, Apple), otherwise a rounded square on transparency.
func renderIcon(name, hex string, size int, bleed bool, avatar image.Image) ([]byte, error) {
	bg := parseHex(hex)
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	if avatar != nil {
		// The avatar, cropped to its centre square and scaled to the icon; rounded unless full
		// bleed. The colour shows through a transparent avatar.
		b := avatar.Bounds()
		side := min(b.Dx(), b.Dy())
		crop := image.Rect(b.Min.X+(b.Dx()-side)/2, b.Min.Y+(b.Dy()-side)/2, 0, 0)
		crop.Max = crop.Min.Add(image.Pt(side, side))
		sq := image.NewNRGBA(img.Bounds())
		draw.Draw(sq, sq.Bounds(), image.NewUniform(bg), image.Point{}, draw.Src)
		xdraw.CatmullRom.Scale(sq, sq.Bounds(), avatar, crop, draw.Over, nil)
		if bleed {
			draw.Draw(img, img.Bounds(), sq, image.Point{}, draw.Src)
		} else {
			roundedSquare(size).Draw(img, img.Bounds(), sq, image.Point{})
		}
		return encodePNG(img)
	}
	if bleed {
		draw.Draw(img, img.Bounds(), image.NewUniform(bg), image.Point{}, draw.Src)
	} else {
		roundedSquare(size).Draw(img, img.Bounds(), image.NewUniform(bg), image.Point{})
	}
	text := initials(name)
	// Maskable icons keep their content inside the central 80% circle: smaller letters.
	scale := 0.42
	if bleed && size > 180 {
		scale = 0.34
	}
	if len([]rune(text)) == 1 {
		scale *= 1.2
	}
	face, err := opentype.NewFace(boldFont(), &opentype.FaceOptions{Size: float64(size) * scale, DPI: 72, Hinting: font.HintingNone})
	if err != nil {
		return nil, err
	}
	defer face.Close()
	d := &font.Drawer{Dst: img, Src: image.NewUniform(textColor(bg)), Face: face}
	b, _ := d.BoundString(text)
	w := b.Max.X - b.Min.X
	h := b.Max.Y - b.Min.Y
	sz := fixed.I(size)
	d.Dot = fixed.Point26_6{X: (sz-w)/2 - b.Min.X, Y: (sz-h)/2 - b.Min.Y}
	d.DrawString(text)
	return encodePNG(img)
}

func encodePNG(img image.Image) ([]byte, error) {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// roundedSquare is the path of a size×size square with 22% rounded corners, antialiased.
func roundedSquare(size int) *vector.Rasterizer {
	z := vector.NewRasterizer(size, size)
	s, r := float32(size), float32(size)*0.22
	const k = 0.5523 // cubic Bézier circle constant
	z.MoveTo(r, 0)
	z.LineTo(s-r, 0)
	z.CubeTo(s-r+r*k, 0, s, r-r*k, s, r)
	z.LineTo(s, s-r)
	z.CubeTo(s, s-r+r*k, s-r+r*k, s, s-r, s)
	z.LineTo(r, s)
	z.CubeTo(r-r*k, s, 0, s-r+r*k, 0, s-r)
	z.LineTo(0, r)
	z.CubeTo(0, r-r*k, r-r*k, 0, r, 0)
	z.ClosePath()
	return z
}

// Avatars: fetched at most once an hour per URL (a failure is retried after ten minutes), at
// most 2 MiB and 4096×4096 pixels.
const (
	avatarTTL       = time.Hour
	avatarRetry     = 10 * time.Minute
	avatarMaxBytes  = 2 << 20
	avatarMaxPixels = 4096
	avatarTimeout   = 8 * time.Second
)

type avatarEntry struct {
	img   image.Image
	until time.Time
}

var avatars = struct {
	mu sync.Mutex
	m  map[string]avatarEntry
}{m: map[string]avatarEntry{}}

// avatar is the coach's avatar image, or nil (none, not an image the gateway decodes, or not
// reachable).
func (s *Server) avatar(ctx context.Context, u string) image.Image {
	if u == "" || s.AvatarHTTP == nil {
		return nil
	}
	now := s.Now()
	avatars.mu.Lock()
	e, ok := avatars.m[u]
	avatars.mu.Unlock()
	if ok && now.Before(e.until) {
		return e.img
	}
	img := s.fetchAvatar(ctx, u)
	e = avatarEntry{img: img, until: now.Add(avatarTTL)}
	if img == nil {
		e.until = now.Add(avatarRetry)
	}
	avatars.mu.Lock()
	if len(avatars.m) >= maxCachedIcons {
		clear(avatars.m)
	}
	avatars.m[u] = e
	avatars.mu.Unlock()
	return img
}

func (s *Server) fetchAvatar(ctx context.Context, u string) image.Image {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), avatarTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil
	}
	res, err := s.AvatarHTTP.Do(req)
	if err != nil {
		s.Log.Info("app icon: avatar not fetched: initials instead", "url", u, "err", err)
		return nil
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		s.Log.Info("app icon: avatar not fetched: initials instead", "url", u, "status", res.StatusCode)
		return nil
	}
	b, err := io.ReadAll(io.LimitReader(res.Body, avatarMaxBytes+1))
	if err != nil || len(b) > avatarMaxBytes {
		return nil
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil || cfg.Width > avatarMaxPixels || cfg.Height > avatarMaxPixels || cfg.Width == 0 || cfg.Height == 0 {
		return nil // SVG among others: the initials stand in
	}
	img, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		return nil
	}
	return img
}

// iconCache keeps rendered icons by name, colour and kind (a few per creator; bounded).
type iconCache struct {
	mu sync.Mutex
	m  map[string][]byte
}

const maxCachedIcons = 512

var icons = &iconCache{m: map[string][]byte{}}

func (c *iconCache) get(name, hex, kind, avatarURL string, avatar image.Image) ([]byte, error) {
	if avatar == nil {
		avatarURL = ""
	}
	key := kind + "\x00" + hex + "\x00" + name + "\x00" + avatarURL
	c.mu.Lock()
	b, ok := c.m[key]
	c.mu.Unlock()
	if ok {
		return b, nil
	}
	k := iconKinds[kind]
	b, err := renderIcon(name, hex, k.size, k.bleed, avatar)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.m) >= maxCachedIcons {
		clear(c.m)
	}
	c.m[key] = b
	c.mu.Unlock()
	return b, nil
}

// AppIcon serves one of the app's icons (GET /a/{slug}/icons/{name}) as image/png with an ETag:
// a browser revalidates it and gets 304 until the coach's name or colour changes.
func (s *Server) AppIcon(w http.ResponseWriter, r *http.Request) error {
	kind := r.PathValue("name")
	if _, ok := iconKinds[kind]; !ok {
		return httpx.NotFound("icon")
	}
	wc, err := s.appCreator(r.Context(), r.PathValue("slug"))
	if err != nil {
		return err
	}
	av := s.avatar(r.Context(), wc.Coach.AvatarURL)
	b, err := icons.get(wc.Coach.Name, appColor(wc), kind, wc.Coach.AvatarURL, av)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(b)
	etag := `"` + hex.EncodeToString(sum[:12]) + `"`
	h := w.Header()
	h.Set("ETag", etag)
	h.Set("Cache-Control", "public, max-age=300, must-revalidate")
	h.Set("X-Content-Type-Options", "nosniff")
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, etag) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	h.Set("Content-Type", "image/png")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
	return nil
}
