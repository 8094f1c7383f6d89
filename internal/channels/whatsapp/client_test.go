package whatsapp_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coachwire/coachwire/internal/channels"
	"github.com/coachwire/coachwire/internal/channels/whatsapp"
	"github.com/coachwire/coachwire/internal/channels/whatsapptest"
)

func TestClientSendTextTemplateTyping(t *testing.T) {
	srv := whatsapptest.New(t)
	c := srv.Client("PN1")
	ctx := context.Background()
	id, err := c.SendText(ctx, "4915112345678", "Hallo Jürgen 😀")
	if err != nil || !strings.HasPrefix(id, "wamid.") {
		t.Fatalf("SendText: %q %v", id, err)
	}
	comps := []map[string]any{{"type": "body", "parameters": []map[string]any{{"type": "text", "text": "Ana"}}}}
	id2, err := c.SendTemplate(ctx, "4915112345678", "coach_followup", "de", comps)
	if err != nil || id2 == id {
		t.Fatalf("SendTemplate: %q %v", id2, err)
	}
	if err := c.Typing(ctx, "wamid.IN1"); err != nil {
		t.Fatalf("Typing: %v", err)
	}
	if err := c.MarkRead(ctx, "wamid.IN2"); err != nil {
		t.Fatalf("MarkRead: %v", err)
	}
	sent := srv.Sent()
	if len(sent) != 2 || sent[0].Type != "text" || sent[0].Text != "Hallo Jürgen 😀" || sent[0].PhoneNumberID != "PN1" || sent[0].WAMID != id {
		t.Fatalf("sent: %+v", sent)
	}
	if sent[1].Type != "template" || sent[1].Template != "coach_followup" || sent[1].TemplateLang != "de" {
		t.Fatalf("template: %+v", sent[1])
	}
	var gotComps []map[string]any
	if err := json.Unmarshal(sent[1].Components, &gotComps); err != nil || len(gotComps) != 1 || gotComps[0]["type"] != "body" {
		t.Fatalf("components: %s %v", sent[1].Components, err)
	}
	ty := srv.Typing()
	if len(ty) != 2 || ty[0].MessageID != "wamid.IN1" || ty[0].Indicator != "text" || ty[1].Indicator != "" {
		t.Fatalf("typing: %+v", ty)
	}
}

func wantClass(t *testing.T, err error, class channels.Class, code int, retryAfter time.Duration) {
	t.Helper()
	var e *channels.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not *channels.Error", err, err)
	}
	if e.Class != class || channels.ClassOf(err) != class || (code != 0 && e.Code != code) || e.RetryAfter != retryAfter || e.Provider != "whatsapp" {
		t.Fatalf("got %+v (%v), want class %v code %d retry %v", e, e, class, code, retryAfter)
	}
}

func TestClientErrorClasses(t *testing.T) {
	srv := whatsapptest.New(t)
	c := srv.Client("PN1")
	ctx := context.Background()
	cases := []struct {
		name                string
		status, code, retry int
		class               channels.Class
		wantRetry           time.Duration
	}{
		{"http 429 retry-after", 429, 4, 7, channels.RateLimited, 7 * time.Second},
		{"130429 throughput", 400, 130429, 0, channels.RateLimited, 0},
		{"80007", 400, 80007, 2, channels.RateLimited, 2 * time.Second},
		{"131056 pair", 400, 131056, 0, channels.RateLimited, 6 * time.Second},
		{"5xx", 500, 131000, 0, channels.Retryable, 0},
		{"503 retry-after", 503, 2, 3, channels.Retryable, 3 * time.Second},
		{"131047 window", 400, 131047, 0, channels.WindowClosed, 0},
		{"131026 undeliverable", 400, 131026, 0, channels.RecipientGone, 0},
		{"131030 not allowed", 400, 131030, 0, channels.Permanent, 0},
		{"400 invalid param", 400, 100, 0, channels.Permanent, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv.FailNext(1, tc.status, tc.code, tc.retry)
			_, err := c.SendText(ctx, "111", "hello")
			wantClass(t, err, tc.class, tc.code, tc.wantRetry)
		})
	}
	if n := len(srv.Sent()); n != 0 {
		t.Fatalf("%d messages recorded for failed sends", n)
	}
	if _, err := c.SendText(ctx, "111", "after failures"); err != nil {
		t.Fatalf("FailNext leaked: %v", err)
	}
}

func TestClientAuthAndValidation(t *testing.T) {
	srv := whatsapptest.New(t)
	cfg := srv.Config("PN1")
	cfg.AccessToken = "wrong"
	_, err := whatsapp.NewClient(cfg, nil).SendText(context.Background(), "111", "hi")
	wantClass(t, err, channels.Permanent, 190, 0)
	if strings.Contains(err.Error(), "wrong") {
		t.Fatalf("token in error: %v", err)
	}
	var e *channels.Error
	errors.As(err, &e)
	if e.Status != 401 {
		t.Fatalf("status %d", e.Status)
	}

	c := srv.Client("PN1")
	_, err = c.SendText(context.Background(), "111", strings.Repeat("x", 4097))
	wantClass(t, err, channels.Permanent, 100, 0)
	_, err = c.SendText(context.Background(), "111", "")
	wantClass(t, err, channels.Permanent, 100, 0)
	_, err = c.SendTemplate(context.Background(), "111", "", "en", nil)
	wantClass(t, err, channels.Permanent, 100, 0)
	_, err = c.SendText(context.Background(), "", "x")
	wantClass(t, err, channels.Permanent, 100, 0)
	if _, err := c.SendText(context.Background(), "111", strings.Repeat("ü", 4096)); err != nil {
		t.Fatalf("4096 runes rejected: %v", err)
	}
}

func TestClientWindow(t *testing.T) {
	srv := whatsapptest.New(t)
	srv.EnforceWindow(true)
	c := srv.Client("PN1")
	ctx := context.Background()
	_, err := c.SendText(ctx, "111", "free form")
	wantClass(t, err, channels.WindowClosed, whatsapp.CodeReengagement, 0)
	if _, err := c.SendTemplate(ctx, "111", "reengage", "en", nil); err != nil {
		t.Fatalf("template outside window: %v", err)
	}
	srv.OpenWindow("111")
	if _, err := c.SendText(ctx, "111", "now open"); err != nil {
		t.Fatal(err)
	}
	srv.OpenWindowAt("222", time.Now().Add(-25*time.Hour))
	_, err = c.SendText(ctx, "222", "expired")
	wantClass(t, err, channels.WindowClosed, whatsapp.CodeReengagement, 0)
	srv.SetWindowOpen(func(to string) bool { return to == "222" })
	if _, err := c.SendText(ctx, "222", "hook says open"); err != nil {
		t.Fatal(err)
	}
}

func TestClientRateLimitsAndRule(t *testing.T) {
	srv := whatsapptest.New(t)
	srv.EnforceRate(5)
	c := srv.Client("PN1")
	ctx := context.Background()
	var mu sync.Mutex
	var limited int
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			_, err := c.SendText(ctx, "r"+string(rune('a'+i)), "hi")
			if channels.ClassOf(err) == channels.RateLimited {
				var e *channels.Error
				errors.As(err, &e)
				if e.Code != whatsapp.CodeThroughput {
					t.Errorf("code %d", e.Code)
				}
				mu.Lock()
				limited++
				mu.Unlock()
			} else if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if limited != 15 || srv.MaxRatePerSecond() != 5 {
		t.Fatalf("limited %d, max rate %d", limited, srv.MaxRatePerSecond())
	}

	srv.EnforceRate(0)
	srv.EnforcePairRate(time.Hour)
	if _, err := c.SendText(ctx, "pair", "1"); err != nil {
		t.Fatal(err)
	}
	_, err := c.SendText(ctx, "pair", "2")
	wantClass(t, err, channels.RateLimited, whatsapp.CodePairRateLimit, whatsapp.PairRateRetryAfter)
	srv.EnforcePairRate(0)

	srv.SetRule(func(r whatsapptest.Request) *whatsapptest.Failure {
		if r.To == "gone" {
			return &whatsapptest.Failure{Status: 400, Code: whatsapp.CodeUndeliverable}
		}
		if r.Kind == "status" {
			return &whatsapptest.Failure{Status: 500, Code: 131000}
		}
		return nil
	})
	_, err = c.SendText(ctx, "gone", "x")
	wantClass(t, err, channels.RecipientGone, whatsapp.CodeUndeliverable, 0)
	wantClass(t, c.Typing(ctx, "wamid.X"), channels.Retryable, 131000, 0)
}

func TestClientTransportError(t *testing.T) {
	srv := whatsapptest.New(t)
	cfg := srv.Config("PN1")
	srv.Close()
	_, err := whatsapp.NewClient(cfg, nil).SendText(context.Background(), "111", "x")
	if channels.ClassOf(err) != channels.Retryable || strings.Contains(err.Error(), cfg.AccessToken) {
		t.Fatalf("transport: %v", err)
	}
}

func TestWebhookRequestHelper(t *testing.T) {
	payload := whatsapptest.TextMessagePayload("PN1", whatsapptest.Msg{From: "1", Text: "x"})
	req := whatsapptest.NewWebhookRequest("http://example.invalid/wh", secret, payload)
	if !whatsapp.VerifySignature(secret, payload, req.Header.Get(whatsapp.SignatureHeader)) {
		t.Fatal("helper signature")
	}
}

// TestRateLimitScopes: app- and account-level limits (4, 80007) apply to every number of the
// app, 130429 to the number, 131056 to the pair (issue 9, defect 10).
func TestRateLimitScopes(t *testing.T) {
	srv := whatsapptest.New(t)
	c := srv.Client("PN1")
	for _, tc := range []struct {
		status, code int
		want         channels.Scope
	}{
		{429, whatsapp.CodeAPITooManyCalls, channels.ScopeApp},
		{400, whatsapp.CodeAPITooManyCalls, channels.ScopeApp},
		{429, whatsapp.CodeRateLimit, channels.ScopeApp},
		{400, whatsapp.CodeThroughput, channels.ScopeNumber},
		{429, 0, channels.ScopeNumber},
		{400, whatsapp.CodePairRateLimit, channels.ScopePair},
		{500, 131000, channels.ScopeNone},
	} {
		srv.FailNext(1, tc.status, tc.code, 1)
		_, err := c.SendText(context.Background(), "111", "hello")
		if got := channels.ScopeOf(err); got != tc.want {
			t.Fatalf("http %d code %d: scope %v, want %v (%v)", tc.status, tc.code, got, tc.want, err)
		}
	}
}
