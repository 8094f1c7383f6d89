package app_test

import (
	"context"
	"os"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// What the console's browser tests share (console_*_test.go): Chromium and axe-core first, then
// a browser that fails on CSP violations and shows where the page was when the test failed.

// consoleAxe checks that Chromium is installed and returns the axe-core script.
func consoleAxe(t *testing.T) []byte {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("the console browser test needs Chromium at %s (%v): run `make deps-test`", chromiumPath, err)
	}
	axe, err := os.ReadFile(axeScript)
	require.NoError(t, err, "axe-core copy (make console)")
	return axe
}

// newConsoleBrowser opens a browser that records CSP violations (cspWatch) and, if the test
// fails, logs who's page as state: a JavaScript expression whose value is JSON-encoded (e.g.
// the path and the visible text).
func newConsoleBrowser(t *testing.T, who, state string) *browser {
	t.Helper()
	b := newBrowser(t)
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		defer cancel()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(`+state+`)`))
		t.Logf("%s at failure: %s (err %v)", who, s, err)
	})
	b.do(t, "watch CSP violations", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspWatch})
		return err
	}))
	return b
}

// allowDownloads lets the page download files and returns the directory they land in.
func (b *browser) allowDownloads(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	b.do(t, "allow downloads", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
			Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir, BrowserContextID: b.browserContext()})
		return err
	}))
	return dir
}
