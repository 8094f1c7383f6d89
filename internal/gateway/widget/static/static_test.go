package static

import (
	"bytes"
	"compress/gzip"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestEmbedContainsAssets(t *testing.T) {
	for _, name := range []string{"widget.js", "demo.html"} {
		b, err := fs.ReadFile(Files, name)
		if err != nil {
			t.Fatalf("read %s: %v", name, err)
		}
		if len(b) == 0 {
			t.Fatalf("%s is empty", name)
		}
	}
	js, _ := fs.ReadFile(Files, "widget.js")
	for _, want := range []string{
		"coachwire-widget", "attachShadow({ mode: 'open' })", "/api/v1/widget/session",
		"/api/v1/widget/ws", "'coachwire.v1'", "'bearer.' +", "window.coachwire",
	} {
		if !bytes.Contains(js, []byte(want)) {
			t.Errorf("widget.js does not contain %q", want)
		}
	}
	// The session token is used in exactly one place: the WebSocket subprotocol list.
	var uses []string
	for _, line := range strings.Split(string(js), "\n") {
		if strings.Contains(line, "session.token") {
			uses = append(uses, strings.TrimSpace(line))
		}
	}
	if len(uses) != 1 || !strings.Contains(uses[0], "new WebSocket(wsURL, [PROTOCOL, 'bearer.' + st.session.token])") {
		t.Errorf("session token used outside the WebSocket subprotocol: %q", uses)
	}
}

func TestDemoPageEscapesKey(t *testing.T) {
	var buf bytes.Buffer
	key := `wk_"><script>alert(1)</script>`
	if err := DemoPage(&buf, key, "https://gw.example/widget.js"); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if strings.Contains(out, "<script>alert(1)</script>") {
		t.Fatalf("key not escaped:\n%s", out)
	}
	if !strings.Contains(out, `data-widget-key="wk_&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"`) {
		t.Errorf("escaped key attribute not found:\n%s", out)
	}
	if !strings.Contains(out, `<script src="https://gw.example/widget.js"`) {
		t.Errorf("script src not rendered:\n%s", out)
	}
	if !strings.Contains(out, "<title>coachwire demo</title>") || !strings.Contains(out, "<h1>coachwire demo</h1>") {
		t.Errorf("heading/title missing:\n%s", out)
	}
}

func TestDemoPagePlainKey(t *testing.T) {
	var buf bytes.Buffer
	if err := DemoPage(&buf, "wk_abc123", "/widget.js"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `<script src="/widget.js" data-widget-key="wk_abc123" async></script>`) {
		t.Errorf("unexpected script tag:\n%s", buf.String())
	}
}

func TestDemoPageRejectsUnsafeScriptURL(t *testing.T) {
	var buf bytes.Buffer
	if err := DemoPage(&buf, "wk_x", "javascript:alert(1)"); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "javascript:") {
		t.Errorf("unsafe script URL rendered:\n%s", buf.String())
	}
}

// TestWidgetParses runs `node --check` on the embedded widget when node is installed.
func TestWidgetParses(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed")
	}
	js, _ := fs.ReadFile(Files, "widget.js")
	path := filepath.Join(t.TempDir(), "widget.js")
	if err := os.WriteFile(path, js, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(node, "--check", path).CombinedOutput(); err != nil {
		t.Fatalf("node --check widget.js: %v\n%s", err, out)
	}
}

// widgetBudget is the most widget.js may weigh gzipped (issue 17: 25 KB, here 25 KiB): every
// page that embeds the widget downloads it, and the gateway sends it gzipped
// (widget.TestScriptServedGzipped).
const widgetBudget = 25 << 10

// TestWidgetSizeBudget: widget.js, gzipped, stays within its budget.
func TestWidgetSizeBudget(t *testing.T) {
	js, err := fs.ReadFile(Files, "widget.js")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if _, err := zw.Write(js); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("widget.js: %d bytes, %d gzipped (budget %d)", len(js), buf.Len(), widgetBudget)
	if buf.Len() > widgetBudget {
		t.Errorf("widget.js is %d bytes gzipped, over its budget of %d", buf.Len(), widgetBudget)
	}
}
