package app_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/channels/telegramtest"
	"github.com/coachwire/coachwire/internal/llm/ollamatest"
	"github.com/coachwire/coachwire/internal/testenv"
)

// span is one span an OTLP receiver got.
type span struct {
	Service, Name, TraceID, SpanID, Parent string
	Attrs                                  map[string]string
}

// otlpReceiver is a loopback OTLP/HTTP traces endpoint (what a collector serves on :4318):
// it decodes every export request with the OTLP protobuf definitions and keeps the spans.
type otlpReceiver struct {
	*httptest.Server
	mu    sync.Mutex
	spans []span
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	r := &otlpReceiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/v1/traces" || req.Method != http.MethodPost {
			http.NotFound(w, req)
			return
		}
		var body io.Reader = req.Body
		if req.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(req.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = zr
		}
		raw, err := io.ReadAll(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var export coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(raw, &export); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		for _, rs := range export.ResourceSpans {
			service := ""
			for _, kv := range rs.GetResource().GetAttributes() {
				if kv.Key == "service.name" {
					service = kv.GetValue().GetStringValue()
				}
			}
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					sp := span{Service: service, Name: s.Name, TraceID: hex.EncodeToString(s.TraceId), SpanID: hex.EncodeToString(s.SpanId),
						Parent: hex.EncodeToString(s.ParentSpanId), Attrs: map[string]string{}}
					for _, kv := range s.Attributes {
						sp.Attrs[kv.Key] = kv.GetValue().GetStringValue()
					}
					r.spans = append(r.spans, sp)
				}
			}
		}
		r.mu.Unlock()
		b, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(b)
	}))
	t.Cleanup(r.Close)
	return r
}

// trace is the spans of the trace whose root span is named root and has attribute key=value
// (nil until such a root arrived).
func (r *otlpReceiver) trace(root, key, value string) []span {
	r.mu.Lock()
	defer r.mu.Unlock()
	id := ""
	for _, s := range r.spans {
		if s.Name == root && s.Attrs[key] == value {
			id = s.TraceID
		}
	}
	if id == "" {
		return nil
	}
	var out []span
	for _, s := range r.spans {
		if s.TraceID == id {
			out = append(out, s)
		}
	}
	return out
}

// connected reports whether spans form one tree: one root (no parent), every other span's
// parent among them, and every name of want present (with the service that wrote it).
func connected(spans []span, want map[string]string) error {
	ids := map[string]bool{}
	for _, s := range spans {
		ids[s.SpanID] = true
	}
	var roots, orphans, names []string
	have := map[string]string{}
	for _, s := range spans {
		names = append(names, s.Service+"/"+s.Name)
		have[s.Name] = s.Service
		switch {
		case s.Parent == "":
			roots = append(roots, s.Name)
		case !ids[s.Parent]:
			orphans = append(orphans, s.Name)
		}
	}
	sort.Strings(names)
	for name, service := range want {
		if have[name] != service {
			return fmt.Errorf("no span %s of %s in %v", name, service, names)
		}
	}
	if len(roots) != 1 || len(orphans) > 0 {
		return fmt.Errorf("roots %v, spans whose parent is missing %v, in %v", roots, orphans, names)
	}
	return nil
}

// TestTraceAcrossProcesses: with OTEL_EXPORTER_OTLP_ENDPOINT set, one turn is one connected
// trace across the separate processes (gateway, retrieve, generate, dispatch): from the
// Telegram webhook (or the widget frame) through the retrieve consumer, the knowledge search,
// the generate consumer, the LLM call, the dispatch consumer and the provider call, every span
// the child of the one before it across the bus; and the turn's log lines carry its trace_id.
func TestTraceAcrossProcesses(t *testing.T) {
	t.Parallel()
	recv := newOTLPReceiver(t)
	tg := telegramtest.New(t)
	h := newHarness(t, ollamatest.Options{})
	base, procs := startCluster(t, h, "OTEL_EXPORTER_OTLP_ENDPOINT="+recv.URL, "OTEL_BSP_SCHEDULE_DELAY=50",
		"COACHWIRE_TELEGRAM_API_URL="+tg.URL)
	c := testenv.NewClient(base)
	cr := c.Register(t)
	ctx := context.Background()

	var ch channelResp
	st, raw, err := c.Do(ctx, "POST", "/api/v1/channels", cr.AccessToken, map[string]any{"type": "telegram", "bot_token": telegramtest.DefaultToken}, &ch)
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, st, string(raw))
	_, secret := tg.LastWebhook()
	st, body := post(t, ch.WebhookURL, telegramtest.UpdatePayload(1, 555, 555, "When should I stop drinking caffeine?"),
		"X-Telegram-Bot-Api-Secret-Token", secret)
	require.Equal(t, http.StatusOK, st, body)
	tg.WaitSent(t, 1, 60*time.Second)

	const (
		gw, re, ge, di = "coachwire-gateway", "coachwire-retrieve", "coachwire-generate", "coachwire-dispatch"
	)
	want := map[string]string{
		"webhook telegram": gw, events.ConsumerRetrieve: re, "knowledge search": re, events.ConsumerGenerate: ge,
		"llm chat": ge, events.ConsumerDispatch(events.ChannelTelegram): di, "provider send telegram": di,
	}
	var spans []span
	testenv.Eventually(t, 30*time.Second, func() bool {
		spans = recv.trace("webhook telegram", "coachwire.channel", events.ChannelTelegram)
		return connected(spans, want) == nil
	}, "one connected trace from the webhook to the provider call")
	require.NoError(t, connected(spans, want))
	traceID, correlation := spans[0].TraceID, ""
	for _, s := range spans {
		if s.Name == events.ConsumerRetrieve {
			correlation = s.Attrs["messaging.message.conversation_id"]
		}
	}
	require.NotEmpty(t, correlation)

	// The turn's log lines in the worker processes: each one that names the turn's correlation
	// id carries its trace id, and each worker wrote at least one.
	for _, name := range []string{"retrieve", "generate", "dispatch"} {
		n := 0
		for _, l := range logLines(t, procs[name]) {
			if l["correlation_id"] != correlation {
				continue
			}
			n++
			require.Equal(t, traceID, l["trace_id"], "%s: %v", name, l)
			require.NotEmpty(t, l["span_id"], "%s: %v", name, l)
		}
		require.NotZero(t, n, "%s logged nothing of the turn", name)
	}

	// The widget: one trace from the frame to the dispatch consumer.
	sess := c.StartWidget(t, cr.WidgetKey, "anon-"+uuid.NewString())
	ws, _, err := c.DialWidget(ctx, sess, 0, nil)
	require.NoError(t, err)
	defer ws.CloseNow()
	_, err = ws.Say(ctx, "When should I stop caffeine?")
	require.NoError(t, err)
	ws.Next(t, 60*time.Second, testenv.IsReply)
	want = map[string]string{
		"widget message": gw, events.ConsumerRetrieve: re, "knowledge search": re, events.ConsumerGenerate: ge,
		"llm chat": ge, events.ConsumerDispatch(events.ChannelWidget): di,
	}
	testenv.Eventually(t, 30*time.Second, func() bool {
		spans = recv.trace("widget message", "coachwire.conversation_id", sess.ConversationID.String())
		return connected(spans, want) == nil
	}, "one connected trace from the widget frame to dispatch")
}

// logLines are p's JSON log lines so far.
func logLines(t *testing.T, p *proc) []map[string]any {
	t.Helper()
	p.mu.Lock()
	raw := p.stderr.String()
	p.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(raw, "\n") {
		var m map[string]any
		if json.NewDecoder(bytes.NewReader([]byte(l))).Decode(&m) == nil {
			out = append(out, m)
		}
	}
	return out
}
