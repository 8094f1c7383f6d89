package widget

import (
	"compress/gzip"
	"io"
	"io/fs"
	"net/http/httptest"
	"testing"

	"github.com/coachwire/coachwire/internal/gateway/widget/static"
)

// TestScriptServedGzipped: /widget.js goes out gzipped to browsers (its budget is a gzipped
// size), cacheable, readable from any origin, and decodes to the embedded file.
func TestScriptServedGzipped(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest("GET", "/widget.js", nil)
	r.Header.Set("Accept-Encoding", "gzip, deflate, br")
	w := httptest.NewRecorder()
	(&Server{}).Script(w, r)
	h := w.Header()
	if w.Code != 200 || h.Get("Content-Encoding") != "gzip" || h.Get("Content-Type") != "text/javascript; charset=utf-8" ||
		h.Get("Access-Control-Allow-Origin") != "*" || h.Get("Cache-Control") == "" || h.Get("ETag") == "" {
		t.Fatalf("%d %v", w.Code, h)
	}
	sent := w.Body.Len()
	zr, err := gzip.NewReader(w.Body)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(zr)
	want, _ := fs.ReadFile(static.Files, "widget.js")
	if string(got) != string(want) {
		t.Fatalf("decoded %d bytes, the file has %d", len(got), len(want))
	}
	t.Logf("widget.js: %d bytes, %d sent gzipped", len(want), sent)
}
