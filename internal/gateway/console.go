package gateway

// The creator console: a single-page app (sources in web/console, built by `make console`) whose
// bundle is committed in console/static and embedded here, so running coachwire needs no
// Node.js. /console and every /console/* path that is not an asset answer index.html (the app
// routes on the client); assets are content-hashed and cached for good.

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"

	"github.com/coachwire/coachwire/internal/gateway/httpx"
)

//go:embed console/static
var consoleFiles embed.FS

// consoleCSP allows only the console's own files: no inline script or style, no eval, no
// framing; API calls and the event stream go to the same origin. The one frame is the widget
// preview (/widget/preview, same origin).
const consoleCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; " +
	"connect-src 'self'; manifest-src 'self'; frame-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// consoleRoutes adds the console's routes to mux.
func (s *Server) consoleRoutes(mux *http.ServeMux) {
	h := consoleOnce()
	mux.Handle("GET /console", h)
	mux.Handle("GET /console/{path...}", h)
}

// consoleTypes are the types of the built files (not left to the system's MIME table).
var consoleTypes = map[string]string{
	".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".map": "application/json",
	".svg": "image/svg+xml", ".png": "image/png", ".woff2": "font/woff2", ".txt": "text/plain; charset=utf-8",
}

// consoleOnce builds the console handler (and gzips its files) once per process.
var consoleOnce = sync.OnceValue(consoleHandler)

// consoleHandler serves the embedded console.
func consoleHandler() http.Handler {
	static, err := fs.Sub(consoleFiles, "console/static")
	if err != nil {
		panic(err) // the embed pattern guarantees the directory
	}
	index, err := fs.ReadFile(static, "index.html")
	if err != nil {
		panic("gateway: the console build is missing index.html: run `make console`")
	}
	assets := map[string]httpx.Asset{}
	_ = fs.WalkDir(static, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(static, p)
		if err != nil {
			return err
		}
		ct := consoleTypes[path.Ext(p)]
		if ct == "" {
			ct = "application/octet-stream"
		}
		a := httpx.NewAsset(b, ct)
		assets[strings.TrimPrefix(p, "assets/")] = a
		return nil
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", consoleCSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		rel := strings.TrimPrefix(r.URL.Path, "/console")
		if name, ok := strings.CutPrefix(rel, "/assets/"); ok {
			a, ok := assets[name]
			if !ok {
				http.Error(w, "404 page not found", http.StatusNotFound)
				return
			}
			// The name carries the content hash: the file never changes, cache it for a year.
			h.Set("Cache-Control", "public, max-age=31536000, immutable")
			a.Serve(w, r)
			return
		}
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Length", strconv.Itoa(len(index)))
		if r.Method != http.MethodHead {
			_, _ = w.Write(index)
		}
	})
}
