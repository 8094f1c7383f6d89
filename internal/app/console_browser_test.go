package app_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/app"
	"github.com/coachwire/coachwire/internal/llm/ollamatest"
	"github.com/coachwire/coachwire/internal/testenv"
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

// consoleApp is the whole stack (every target, a database and a NATS server of its own, the
// package's Weaviate, a model double) that the console browser tests share: each test signs up
// or registers creators of its own (tenants), so they run in parallel on it. It starts with
// the first test that asks for it and stops after the last test (TestMain). Tests that need
// settings of their own (passages mode, provider doubles they inspect, fast nudge ticks) keep
// a harness of their own.
var consoleApp struct {
	once   sync.Once
	tb     *packageTB
	h      *harness
	a      *app.App
	banner string // what the app printed at start (its URLs)
	err    error
}

// sharedConsoleApp returns the shared console stack and its harness (h.db is its database),
// starting it on first use. If the test fails, the stack's log lines written while it ran
// are added to the test log.
func sharedConsoleApp(t *testing.T) (*app.App, *harness) {
	t.Helper()
	consoleApp.once.Do(func() {
		tb := newPackageTB("console-app")
		consoleApp.tb = tb
		defer testenv.OnStop(tb.cleanup) // after the package's PostgreSQL started: stopped before it
		consoleApp.err = tb.run(func() {
			// The inbox test watches a reply grow in the transcript: the model writes slowly.
			h := newHarness(tb, ollamatest.Options{DeltaDelay: 40 * time.Millisecond})
			cfg := h.config()
			cfg.SecretKeys = testSecretKeys
			cfg.Knowledge.ImportAllowPrivate = true // the knowledge test imports a page served on loopback
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			var banner strings.Builder
			a, err := app.Start(ctx, cfg, app.Options{Log: testenv.Logger(tb), Out: &banner})
			if err != nil {
				tb.Fatalf("start the console app: %v", err)
			}
			tb.Cleanup(a.Stop)
			consoleApp.h, consoleApp.a, consoleApp.banner = h, a, banner.String()
		})
	})
	if consoleApp.err != nil {
		t.Fatalf("the shared console app: %v", consoleApp.err)
	}
	from := consoleApp.tb.logSize()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the shared console app's log while the test ran (all its tests):\n%s", consoleApp.tb.logSince(from, 256<<10))
		}
	})
	return consoleApp.a, consoleApp.h
}

// packageTB is the testing.TB of a fixture that outlives the tests using it (testenv and the
// harness take a TB): its cleanups run when cleanup is called, its log goes to a buffer the
// tests read when they fail, and Fatalf ends the function run runs. Methods not defined here
// are not used by those helpers (the nil embedded TB would panic).
type packageTB struct {
	testing.TB
	name string
	root string

	mu       sync.Mutex
	cleanups []func()
	log      bytes.Buffer
	failed   bool
}

type packageTBFatal struct{ msg string }

func newPackageTB(name string) *packageTB {
	root, err := os.MkdirTemp("", "coachwire-"+name+"-")
	if err != nil {
		panic(err)
	}
	return &packageTB{name: name, root: root}
}

// run calls f; a Fatalf inside it returns as an error.
func (p *packageTB) run(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			fe, ok := r.(packageTBFatal)
			if !ok {
				panic(r)
			}
			err = errors.New(fe.msg)
		}
	}()
	f()
	return nil
}

func (p *packageTB) cleanup() {
	p.mu.Lock()
	fs := p.cleanups
	p.cleanups = nil
	p.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
	_ = os.RemoveAll(p.root)
}

func (p *packageTB) Helper()      {}
func (p *packageTB) Name() string { return p.name }
func (p *packageTB) Cleanup(f func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cleanups = append(p.cleanups, f)
}
func (p *packageTB) TempDir() string {
	d, err := os.MkdirTemp(p.root, "")
	if err != nil {
		p.Fatalf("temp dir: %v", err)
	}
	return d
}
func (p *packageTB) Failed() bool { p.mu.Lock(); defer p.mu.Unlock(); return p.failed }
func (p *packageTB) Logf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(&p.log, format, args...)
	if b := p.log.Bytes(); len(b) == 0 || b[len(b)-1] != '\n' {
		p.log.WriteByte('\n')
	}
}
func (p *packageTB) Log(args ...any) { p.Logf("%s", fmt.Sprint(args...)) }
func (p *packageTB) Errorf(format string, args ...any) {
	p.Logf("ERROR: "+format, args...)
	p.mu.Lock()
	p.failed = true
	p.mu.Unlock()
}
func (p *packageTB) Error(args ...any) { p.Errorf("%s", fmt.Sprint(args...)) }
func (p *packageTB) Fatalf(format string, args ...any) {
	p.Errorf(format, args...)
	panic(packageTBFatal{fmt.Sprintf(format, args...)})
}
func (p *packageTB) Fatal(args ...any) { p.Fatalf("%s", fmt.Sprint(args...)) }

func (p *packageTB) logSize() int { p.mu.Lock(); defer p.mu.Unlock(); return p.log.Len() }

// logSince returns the log written since offset from, at most its last max bytes.
func (p *packageTB) logSince(from, max int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.log.Bytes()
	if from > len(b) {
		from = len(b)
	}
	b = b[from:]
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}
