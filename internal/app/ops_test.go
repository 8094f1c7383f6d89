package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/coachwire/coachwire/internal/app"
	"github.com/coachwire/coachwire/internal/config"
	"github.com/coachwire/coachwire/internal/llm/ollamatest"
	"github.com/coachwire/coachwire/internal/ops"
	"github.com/coachwire/coachwire/internal/testenv"
)

// readyz is the body of an ops listener's /readyz.
type readyz struct {
	Status  string `json:"status"`
	Missing []string
	Checks  map[string]struct {
		Status, Error string
	}
}

func getReadyz(t *testing.T, a *app.App) (int, readyz) {
	t.Helper()
	resp, err := http.Get("http://" + a.OpsAddr + "/readyz")
	require.NoError(t, err)
	defer resp.Body.Close()
	var r readyz
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&r))
	return resp.StatusCode, r
}

// scrape reads a process's /metrics with Prometheus's text parser.
func scrape(t *testing.T, a *app.App) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + a.OpsAddr + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	require.NoError(t, err)
	return mfs
}

// series reports whether family name has a series with every label of want.
func series(mfs map[string]*dto.MetricFamily, name string, want ...string) bool {
	mf, ok := mfs[name]
	if !ok {
		return false
	}
	for _, m := range mf.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		match := true
		for i := 0; i+1 < len(want); i += 2 {
			if labels[want[i]] != want[i+1] {
				match = false
			}
		}
		if match {
			return true
		}
	}
	return false
}

// TestOpsListenerOnEveryTarget runs each target as its own App (as separate processes would),
// each with its ops listener on a port of its own: the gateway's /readyz names the consumers
// nobody pulls from before the workers start and after one stops; after a widget turn every
// target's /metrics has its series; the dashboard and alert rules use only metrics that exist.
func TestOpsListenerOnEveryTarget(t *testing.T) {
	t.Parallel()
	h := newHarness(t, ollamatest.Options{DeltaDelay: time.Millisecond})
	gw := h.start(h.config(config.TargetGateway))

	// Alive; ready for its own dependencies, degraded for the consumers it waits on.
	resp, err := http.Get("http://" + gw.OpsAddr + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	code, r := getReadyz(t, gw)
	require.Equal(t, http.StatusOK, code, "missing consumers degrade the gateway, they do not take it out")
	require.Equal(t, "degraded", r.Status)
	require.Equal(t, []string{"consumer:dispatch", "consumer:generate", "consumer:ingest", "consumer:retrieve"}, r.Missing)
	require.Contains(t, r.Checks["consumer:retrieve"].Error, "retrieve")
	for _, dep := range []string{"nats", "postgres", "weaviate", "started"} {
		require.Equal(t, "ok", r.Checks[dep].Status, dep)
	}
	resp, err = http.Get("http://" + gw.OpsAddr + "/readyz?strict=1")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	// The gateway's /health says so too (degraded, still 200).
	var health struct {
		Status string `json:"status"`
		Checks map[string]struct{ Status, Error string }
	}
	c := testenv.NewClient(gw.URL)
	st, _, err := c.Do(context.Background(), "GET", "/health", "", nil, &health)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, st)
	require.Equal(t, "degraded", health.Status)
	require.Contains(t, health.Checks["consumers"].Error, "consumer retrieve")

	apps := map[string]*app.App{config.TargetGateway: gw}
	for _, tg := range []string{config.TargetIngest, config.TargetRetrieve, config.TargetGenerate, config.TargetDispatch, config.TargetNudge} {
		apps[tg] = h.start(h.config(tg))
		code, r := getReadyz(t, apps[tg])
		require.Equal(t, http.StatusOK, code, "%s: %+v", tg, r)
		require.Equal(t, "ready", r.Status, "%s: %+v", tg, r)
		require.Equal(t, "ok", r.Checks["consumers"].Status, tg)
		_, usesWeaviate := r.Checks["weaviate"]
		require.Equal(t, tg != config.TargetDispatch && tg != config.TargetNudge, usesWeaviate, tg)
	}
	testenv.Eventually(t, 30*time.Second, func() bool {
		_, r := getReadyz(t, gw)
		return r.Status == "ready"
	}, "the gateway ready once every consumer it needs is pulled")

	// One document and one widget turn through the separate targets.
	cr := c.Register(t)
	c.AddDocument(t, cr, "Sleep basics", "markdown", sleepDoc)
	ctx := context.Background()
	sess := c.StartWidget(t, cr.WidgetKey, "anon-"+uuid.NewString())
	ws, _, err := c.DialWidget(ctx, sess, 0, nil)
	require.NoError(t, err)
	defer ws.CloseNow()
	_, err = ws.Say(ctx, "When should I stop caffeine?")
	require.NoError(t, err)
	reply := ws.Next(t, 60*time.Second, testenv.IsReply)
	require.Contains(t, reply.Text, "caffeine")

	want := map[string][][]string{
		config.TargetGateway: {
			{"coachwire_http_requests_total", "route", "POST /api/v1/widget/session", "status", "200"},
			{"coachwire_http_request_seconds", "route", "POST /api/v1/documents"},
			{"coachwire_widget_sockets_open"},
			{"coachwire_consumer_pending_messages", "consumer", "retrieve", "stream", "CW_INBOUND"},
			{"coachwire_consumer_pulled", "consumer", "generate"},
		},
		config.TargetRetrieve: {
			{"coachwire_consumer_handled_total", "consumer", "retrieve"},
			{"coachwire_consumer_failed_total", "consumer", "retrieve"},
			{"coachwire_consumer_retried_total", "consumer", "retrieve"},
			{"coachwire_consumer_dead_lettered_total", "consumer", "retrieve"},
			{"coachwire_consumer_handler_seconds", "consumer", "retrieve"},
			{"coachwire_consumer_in_flight", "consumer", "retrieve"},
			{"coachwire_consumer_pending_messages", "consumer", "retrieve"},
			{"coachwire_consumer_ack_pending_messages", "consumer", "retrieve"},
			{"coachwire_consumer_waiting_pulls", "consumer", "retrieve"},
			{"coachwire_llm_calls_total", "class", "live_embed"},
		},
		config.TargetGenerate: {
			{"coachwire_consumer_handled_total", "consumer", "generate"},
			{"coachwire_turn_first_token_seconds", "mode", "ollama"},
			{"coachwire_turn_reply_seconds", "mode", "ollama", "status", "generated"},
			{"coachwire_llm_first_token_seconds", "class", "live"},
			{"coachwire_llm_tokens_per_second", "class", "live"},
			{"coachwire_llm_errors_total", "class", "live"},
			{"coachwire_llm_mode", "mode", "ollama"},
			{"coachwire_llm_server_up", "server", h.ollama.URL},
			{"coachwire_llm_waiting_calls", "class", "live"},
		},
		config.TargetDispatch: {
			{"coachwire_consumer_handled_total", "consumer", "dispatch"},
			{"coachwire_dispatch_sends_total", "channel", "widget", "outcome", "sent"},
		},
		config.TargetIngest: {
			{"coachwire_consumer_handled_total", "consumer", "ingest"},
			{"coachwire_ingest_documents_total", "outcome", "indexed"},
			{"coachwire_ingest_bytes_total", "format", "markdown"},
			{"coachwire_ingest_chunks_total", "mode", "hybrid"},
			{"coachwire_ingest_extract_seconds", "format", "markdown"},
			{"coachwire_ingest_embed_batch_seconds", "outcome", "ok"},
		},
		config.TargetNudge: {
			{"coachwire_consumer_handled_total", "consumer", "nudge"},
		},
	}
	for tg, a := range apps {
		// Whatever a process runs: Go runtime, process, its LLM mode.
		checks := append(want[tg], []string{"go_goroutines"}, []string{"process_cpu_seconds_total"}, []string{"coachwire_llm_mode", "mode", "passages"})
		testenv.Eventually(t, 30*time.Second, func() bool {
			mfs := scrape(t, a)
			for _, w := range checks {
				if !series(mfs, w[0], w[1:]...) {
					t.Logf("%s: no %v yet", tg, w)
					return false
				}
			}
			return true
		}, "the %s target's series", tg)
	}
	mfs := scrape(t, apps[config.TargetGenerate])
	for _, m := range mfs["coachwire_llm_mode"].GetMetric() {
		if m.GetLabel()[0].GetValue() == "ollama" {
			require.Equal(t, 1.0, m.GetGauge().GetValue(), "generate runs in ollama mode")
		}
	}
	// No creator id in any label of any series.
	for tg, a := range apps {
		for name, mf := range scrape(t, a) {
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					require.NotEqual(t, "creator_id", l.GetName(), "%s %s", tg, name)
					require.NotContains(t, l.GetValue(), cr.ID.String(), "%s %s", tg, name)
				}
			}
		}
	}

	// The retrieve target stops: the gateway names the consumer nobody pulls from.
	apps[config.TargetRetrieve].Stop()
	testenv.Eventually(t, 60*time.Second, func() bool {
		_, r := getReadyz(t, gw)
		return r.Status == "degraded" && len(r.Missing) == 1 && r.Missing[0] == "consumer:retrieve" &&
			strings.Contains(r.Checks["consumer:retrieve"].Error, "nobody pulling")
	}, "the gateway's /readyz to name the retrieve consumer")
}

// TestOpsAllTarget: a process of every target is ready with all its consumers pulled and
// exports them; a second process on the same ops address does not start, naming the setting.
func TestOpsAllTarget(t *testing.T) {
	t.Parallel()
	h := newHarness(t, ollamatest.Options{})
	a := h.start(h.config())
	code, r := getReadyz(t, a)
	require.Equal(t, http.StatusOK, code, "%+v", r)
	require.Equal(t, "ready", r.Status, "%+v", r)
	for _, c := range []string{"consumers", "consumer:retrieve", "consumer:generate", "consumer:dispatch", "consumer:ingest", "weaviate"} {
		require.Equal(t, "ok", r.Checks[c].Status, c)
	}
	mfs := scrape(t, a)
	for _, consumer := range []string{"retrieve", "generate", "compose", "dispatch", "dispatch-whatsapp", "dispatch-telegram", "dispatch-app", "dispatch-delivery", "ingest", "nudge"} {
		require.True(t, series(mfs, "coachwire_consumer_pulled", "consumer", consumer), consumer)
		require.True(t, series(mfs, "coachwire_consumer_handled_total", "consumer", consumer), consumer)
	}

	cfg := h.config(config.TargetDispatch)
	cfg.OpsAddr = a.OpsAddr
	_, err := app.Start(context.Background(), cfg, app.Options{Log: testenv.Logger(t)})
	require.ErrorContains(t, err, "COACHWIRE_OPS_ADDR")
}

// metricRef finds the metric names a PromQL expression uses.
var metricRef = regexp.MustCompile(`\b((?:coachwire|go|process)_[a-z0-9_]+)\b`)

// registered are the names every collector of a process describes (a series appears in a scrape
// only once it has a value; the dashboard and the rules may use any registered one).
type registered map[string]bool

func (r registered) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc, 64)
	go func() { c.Describe(ch); close(ch) }()
	fq := regexp.MustCompile(`fqName: "([^"]+)"`)
	for d := range ch {
		if m := fq.FindStringSubmatch(d.String()); m != nil {
			r[m[1]] = true
		}
	}
	return nil
}

func (r registered) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		_ = r.Register(c)
	}
}

func (registered) Unregister(prometheus.Collector) bool { return true }

func registeredNames() registered {
	r := registered{}
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ops.NewConsumers(r)
	ops.NewTurn(r)
	ops.NewLLM(r, func() string { return "" }, func() map[string]bool { return nil }, func() map[string]int { return nil })
	ops.NewIngest(r)
	ops.NewDispatch(r)
	ops.NewNudge(r)
	ops.NewGateway(r)
	ops.RegisterConsumerInfo(r, nil)
	return r
}

// exists reports whether a referenced name is a registered metric or a histogram's series.
func (r registered) exists(name string) bool {
	if r[name] {
		return true
	}
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suf); ok && r[base] {
			return true
		}
	}
	return false
}

// grafanaVars are the dashboard's variables as Grafana substitutes them before querying.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$job", ".*")

// deployExprs are every PromQL expression of deploy/: "alerts.yml <alert>" or
// "coachwire.json <panel>" → expression.
func deployExprs(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	// The rules file, read strictly (an unknown field fails) in Prometheus's rule file layout.
	var rules struct {
		Groups []struct {
			Name     string `yaml:"name"`
			Interval string `yaml:"interval"`
			Rules    []struct {
				Alert       string            `yaml:"alert"`
				Record      string            `yaml:"record"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	f, err := os.Open("../../deploy/prometheus/alerts.yml")
	require.NoError(t, err)
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(&rules))
	require.NotEmpty(t, rules.Groups)
	for _, g := range rules.Groups {
		require.NotEmpty(t, g.Name)
		for _, r := range g.Rules {
			require.True(t, (r.Alert == "") != (r.Record == ""), "a rule is an alert or a recording rule: %+v", r)
			require.NotEmpty(t, r.Expr, r.Alert)
			if r.For != "" {
				_, err := model.ParseDuration(r.For)
				require.NoError(t, err, r.Alert)
			}
			out["alerts.yml "+r.Alert+r.Record] = r.Expr
		}
	}
	// The dashboard: Grafana's JSON model with a Prometheus data source variable.
	var dash struct {
		UID, Title    string
		SchemaVersion int
		Templating    struct{ List []struct{ Name, Type string } }
		Panels        []struct {
			ID      int
			Type    string
			Title   string
			GridPos struct{ H, W, X, Y int }
			Targets []struct{ RefID, Expr string }
		}
	}
	b, err := os.ReadFile("../../deploy/grafana/coachwire.json")
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &dash))
	require.Equal(t, "coachwire", dash.UID)
	require.NotZero(t, dash.SchemaVersion)
	ids := map[int]bool{}
	for _, p := range dash.Panels {
		require.False(t, ids[p.ID], "panel id %d twice", p.ID)
		ids[p.ID] = true
		require.NotEmpty(t, p.Title)
		require.LessOrEqual(t, p.GridPos.X+p.GridPos.W, 24, p.Title)
		if p.Type == "row" {
			continue
		}
		require.NotEmpty(t, p.Targets, p.Title)
		for _, tg := range p.Targets {
			require.NotEmpty(t, tg.RefID, p.Title)
			out[fmt.Sprintf("coachwire.json %s %s", p.Title, tg.RefID)] = grafanaVars.Replace(tg.Expr)
		}
	}
	return out
}

// TestDeployUsesRegisteredMetrics: every metric the dashboard and the alert rules use is one
// coachwire registers, and the rules alert on the four conditions docs/operations.md names.
// (deploy/check parses the same expressions with Prometheus's own parser.)
func TestDeployUsesRegisteredMetrics(t *testing.T) {
	t.Parallel()
	names := registeredNames()
	exprs := deployExprs(t)
	used := map[string]bool{}
	for where, e := range exprs {
		refs := metricRef.FindAllString(e, -1)
		require.NotEmpty(t, refs, "%s: %s", where, e)
		for _, n := range refs {
			require.True(t, names.exists(n), "%s uses %s, which no collector registers", where, n)
			used[n] = true
		}
	}
	for _, alert := range []string{"CoachwireDeadLettersGrowing", "CoachwireConsumerPendingGrowing", "CoachwireNoLLM", "CoachwireHandlerErrorRate"} {
		require.Contains(t, exprs, "alerts.yml "+alert)
	}
	// Every coachwire metric is on the dashboard and in docs/operations.md.
	doc, err := os.ReadFile("../../docs/operations.md")
	require.NoError(t, err)
	var missing []string
	for n := range names {
		if !strings.HasPrefix(n, "coachwire_") {
			continue
		}
		if !used[n] && !used[n+"_bucket"] && !used[n+"_sum"] {
			missing = append(missing, n+" (dashboard)")
		}
		if !strings.Contains(string(doc), "`"+n+"`") {
			missing = append(missing, n+" (docs/operations.md)")
		}
	}
	sort.Strings(missing)
	require.Empty(t, missing)
}
