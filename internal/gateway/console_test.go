package gateway

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// consoleInitialBudget is the most JavaScript the console's first load may fetch, gzipped
// (web/console/build.mjs enforces it too when it builds).
const consoleInitialBudget = 250 << 10

var (
	consoleScriptTag = regexp.MustCompile(`<script\b[^>]*>`)
	consoleAssetRef  = regexp.MustCompile(`(?:src|href)="(/console/assets/[^"]+)"`)
	consoleChunkRef  = regexp.MustCompile(`"\./([A-Za-z0-9_-]+\.js)"`)
)

func consoleServer(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	(&Server{}).consoleRoutes(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func consoleGet(t *testing.T, url string, gz bool) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	if gz {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	// A transport of its own: the default one would ask for gzip and decode it silently.
	resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, b
}

// TestConsoleServesApp checks the console's routes: index.html for /console and every client
// route, with a CSP that allows no inline script; every asset the page and its chunks reference
// is served (gzipped on request) with its type and a long cache; the first load stays within the
// JavaScript budget.
func TestConsoleServesApp(t *testing.T) {
	t.Parallel()
	srv := consoleServer(t)

	resp, index := consoleGet(t, srv.URL+"/console", false)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
	require.Equal(t, "no-cache", resp.Header.Get("Cache-Control"))
	csp := resp.Header.Get("Content-Security-Policy")
	require.Contains(t, csp, "script-src 'self';")
	require.Contains(t, csp, "default-src 'none'")
	require.Contains(t, csp, "frame-ancestors 'none'")
	require.NotContains(t, csp, "unsafe")
	require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	require.Contains(t, string(index), `<div id="root">`)

	for _, p := range []string{"/console/", "/console/knowledge", "/console/sign-in", "/console/some/deep/route"} {
		resp, b := consoleGet(t, srv.URL+p, false)
		require.Equal(t, http.StatusOK, resp.StatusCode, p)
		require.Equal(t, index, b, "%s answers index.html", p)
		require.Equal(t, csp, resp.Header.Get("Content-Security-Policy"), p)
	}

	// No inline script or style: every script has a src, no style attribute or element.
	tags := consoleScriptTag.FindAllString(string(index), -1)
	require.NotEmpty(t, tags)
	for _, tag := range tags {
		require.Contains(t, tag, ` src="/console/assets/`, "inline script in index.html: %s", tag)
	}
	require.NotContains(t, string(index), "style=")
	require.NotContains(t, string(index), "<style")

	// Walk every asset from index.html and the chunks the scripts import.
	refs := consoleAssetRef.FindAllStringSubmatch(string(index), -1)
	require.GreaterOrEqual(t, len(refs), 2, "a script and a stylesheet")
	seen := map[string]bool{}
	queue := []string{}
	for _, m := range refs {
		queue = append(queue, m[1])
	}
	initialGz := 0
	initial := map[string]bool{}
	for _, m := range regexp.MustCompile(`<(?:script|link rel="modulepreload")[^>]*(?:src|href)="([^"]+)"`).FindAllStringSubmatch(string(index), -1) {
		initial[m[1]] = true
	}
	require.NotEmpty(t, initial)
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if seen[p] {
			continue
		}
		seen[p] = true
		resp, plain := consoleGet(t, srv.URL+p, false)
		require.Equal(t, http.StatusOK, resp.StatusCode, p)
		require.Equal(t, "public, max-age=31536000, immutable", resp.Header.Get("Cache-Control"), p)
		switch {
		case strings.HasSuffix(p, ".js"):
			require.Equal(t, "text/javascript; charset=utf-8", resp.Header.Get("Content-Type"), p)
			for _, m := range consoleChunkRef.FindAllStringSubmatch(string(plain), -1) {
				queue = append(queue, "/console/assets/"+m[1])
			}
		case strings.HasSuffix(p, ".css"):
			require.Equal(t, "text/css; charset=utf-8", resp.Header.Get("Content-Type"), p)
		}
		resp, gz := consoleGet(t, srv.URL+p, true)
		require.Equal(t, http.StatusOK, resp.StatusCode, p)
		if resp.Header.Get("Content-Encoding") == "" { // a file too small to gain from gzip is sent as it is
			var buf bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
			_, _ = zw.Write(plain)
			require.NoError(t, zw.Close())
			require.GreaterOrEqual(t, buf.Len(), len(plain), "%s: sent without gzip, which would have made it smaller", p)
			require.Equal(t, plain, gz, p)
			if initial[p] {
				initialGz += len(gz)
			}
			continue
		}
		require.Equal(t, "gzip", resp.Header.Get("Content-Encoding"), p)
		zr, err := gzip.NewReader(bytes.NewReader(gz))
		require.NoError(t, err)
		unzipped, err := io.ReadAll(zr)
		require.NoError(t, err)
		require.Equal(t, plain, unzipped, "%s: the gzip form is the same file", p)
		if initial[p] {
			initialGz += len(gz)
		}
	}
	require.Greater(t, len(seen), len(refs), "the lazy-loaded pages are chunks of their own")
	require.LessOrEqual(t, initialGz, consoleInitialBudget, "initial JavaScript, gzipped")
	t.Logf("console: %d assets; initial JavaScript %.1f KB gzipped", len(seen), float64(initialGz)/1024)

	for _, p := range []string{"/console/assets/missing.js", "/console/assets/", "/console/assets/sub/../index.html"} {
		resp, _ := consoleGet(t, srv.URL+p, false)
		require.NotEqual(t, http.StatusOK, resp.StatusCode, p)
	}
}
