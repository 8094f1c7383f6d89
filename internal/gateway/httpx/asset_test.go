package httpx

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestAssetServe: the gzip form goes to clients that accept it (q=0 refuses), the plain bytes
// to the others, both with the same strong ETag; If-None-Match with it answers 304 without a
// body; HEAD sends the headers only.
func TestAssetServe(t *testing.T) {
	body := []byte(strings.Repeat("function coach() { return 'hello'; }\n", 200))
	a := NewAsset(body, "text/javascript; charset=utf-8")
	get := func(method string, hdr map[string]string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, "/widget.js", nil)
		for k, v := range hdr {
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		a.Serve(w, r)
		return w
	}

	gz := get("GET", map[string]string{"Accept-Encoding": "br, gzip;q=0.8"})
	if gz.Code != 200 || gz.Header().Get("Content-Encoding") != "gzip" || gz.Header().Get("Vary") != "Accept-Encoding" {
		t.Fatalf("gzip: %d %v", gz.Code, gz.Header())
	}
	zr, err := gzip.NewReader(gz.Body)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(zr)
	if !bytes.Equal(plain, body) || gz.Body.Len() >= len(body) {
		t.Fatalf("gzip body: %d bytes for %d", gz.Body.Len(), len(body))
	}
	etag := gz.Header().Get("ETag")
	if !strings.HasPrefix(etag, `"`) {
		t.Fatalf("etag %q", etag)
	}

	for _, ae := range []string{"", "gzip;q=0", "identity"} {
		w := get("GET", map[string]string{"Accept-Encoding": ae})
		if w.Header().Get("Content-Encoding") != "" || !bytes.Equal(w.Body.Bytes(), body) || w.Header().Get("ETag") != etag {
			t.Fatalf("Accept-Encoding %q: %v, %d bytes", ae, w.Header(), w.Body.Len())
		}
	}

	nm := get("GET", map[string]string{"If-None-Match": `"other", ` + etag})
	if nm.Code != http.StatusNotModified || nm.Body.Len() != 0 {
		t.Fatalf("If-None-Match: %d, %d bytes", nm.Code, nm.Body.Len())
	}
	if w := get("GET", map[string]string{"If-None-Match": `"other"`}); w.Code != 200 {
		t.Fatalf("a stale ETag: %d", w.Code)
	}
	head := get("HEAD", map[string]string{"Accept-Encoding": "gzip"})
	if head.Body.Len() != 0 || head.Header().Get("Content-Length") != gz.Header().Get("Content-Length") {
		t.Fatalf("HEAD: %v, %d bytes", head.Header(), head.Body.Len())
	}
}
