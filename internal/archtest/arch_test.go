package archtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// module is the import path of this repository.
const module = "github.com/coachwire/coachwire"

// Layer names, top to bottom, exactly as docs/architecture.md ("Layers") writes them.
const (
	layerCmd         = "cmd"
	layerApp         = "app"
	layerRoles       = "roles"
	layerDomain      = "domain"
	layerInfra       = "infrastructure"
	layerContract    = "contract"
	layerTestSupport = "test support"
)

// layers places every package of the module, top layer first. An entry is a path relative to
// the module and covers its subpackages too (internal/gateway covers internal/gateway/widget).
// A package imports only packages of its own layer or of a lower one. A new package that no
// entry covers fails TestArchitecture: add it here and to docs/architecture.md.
var layers = []struct {
	name string
	pkgs []string
}{
	{layerCmd, []string{"cmd"}},
	{layerApp, []string{"internal/app", "internal/opscli"}},
	{layerRoles, roles},
	{layerDomain, []string{
		"internal/analysis", "internal/analytics", "internal/auth", "internal/capacity", "internal/channels", "internal/conversation", "internal/extract", "internal/knowledge", "internal/memory",
		"internal/passages", "internal/people", "internal/thesaurus",
		"internal/proactive", "internal/ratelimit", "internal/text", "internal/tokens",
	}},
	{layerInfra, []string{
		"internal/bus", "internal/clock", "internal/config", "internal/db", "internal/ids", "internal/llm",
		"internal/localdeps", "internal/ops", "internal/secrets", "internal/storage", "internal/telemetry", "migrations",
	}},
	{layerContract, []string{"events"}},
}

// roles are the role packages, one per target that does work (a role's subpackages belong to
// it: internal/gateway/widget is gateway).
var roles = []string{
	"internal/dispatch", "internal/gateway", "internal/generate", "internal/ingest", "internal/nudge", "internal/retrieve",
}

// testSupport are the packages only tests (and the bench and chaos suites, which are tests)
// use: environments, loopback doubles of providers, suites. Besides these, every package whose
// name ends in "test" (whatsapptest, ollamatest, memorytest, ...) is test support. Test
// support may import any layer; no other package imports it.
var testSupport = []string{
	"internal/archtest", "internal/bench", "internal/chaos", "internal/deploytest", "internal/eval", "internal/testenv",
}

// busPackages are the import paths (and their subpackages) internal/db must not import: the
// store knows nothing of the bus.
var busPackages = []string{module + "/internal/bus", "github.com/nats-io", "github.com/ThreeDotsLabs/watermill"}

// knownViolations are imports that break a rule today and are being fixed elsewhere (the
// gateway split and the bus API), e.g.
//
//	{Rule: ruleRoles, From: module + "/internal/gateway", To: module + "/internal/nudge"},
//
// They are reported in the test log, not failed; an entry that no longer occurs fails the
// test, so that it is removed. The list is empty and must stay so: fix a violation instead of
// listing it.
var knownViolations = []violation{}

// Rule names, as docs/architecture.md writes them.
const (
	ruleEvents       = "events"
	ruleRoles        = "roles"
	ruleDBBus        = "db-bus"
	ruleRoleBuilders = "role-builders"
	ruleLayers       = "layers"
)

// graph maps a package's import path to its non-test imports (import paths).
type graph map[string][]string

// violation is one import that breaks a rule. From and To are import paths.
type violation struct {
	Rule, From, To string
	Why            string
}

func (v violation) String() string {
	if v.To == "" {
		return fmt.Sprintf("[%s] %s: %s", v.Rule, rel(v.From), v.Why)
	}
	return fmt.Sprintf("[%s] %s imports %s: %s", v.Rule, rel(v.From), rel(v.To), v.Why)
}

func (v violation) key() violation { v.Why = ""; return v }

// rel is p relative to the module ("internal/db"), or p for packages outside it.
func rel(p string) string {
	if p == module {
		return "."
	}
	if r, ok := strings.CutPrefix(p, module+"/"); ok {
		return r
	}
	return p
}

// under reports whether path p is dir or inside it.
func under(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }

// longest returns the longest entry of dirs that p (relative) is under, or "".
func longest(p string, dirs []string) string {
	best := ""
	for _, d := range dirs {
		if under(p, d) && len(d) > len(best) {
			best = d
		}
	}
	return best
}

// roleOf is the role package p belongs to ("internal/gateway"), or "".
func roleOf(p string) string {
	if !strings.HasPrefix(p, module+"/") {
		return ""
	}
	return longest(rel(p), roles)
}

// isTestSupport reports whether p is a test support package.
func isTestSupport(p string) bool {
	r := rel(p)
	return strings.HasPrefix(p, module+"/") && (longest(r, testSupport) != "" || strings.HasSuffix(r[strings.LastIndex(r, "/")+1:], "test"))
}

// layerOf returns the layer of module package p and its rank (0 the bottom), or "" when no
// entry places it.
func layerOf(p string) (string, int) {
	if isTestSupport(p) {
		return layerTestSupport, -1
	}
	r, bestLen, name, rank := rel(p), -1, "", -1
	for i, l := range layers {
		if d := longest(r, l.pkgs); d != "" && len(d) > bestLen {
			bestLen, name, rank = len(d), l.name, len(layers)-1-i
		}
	}
	return name, rank
}

// check returns every import of g that breaks a rule, sorted.
func check(g graph) []violation {
	var out []violation
	add := func(rule, from, to, why string, args ...any) {
		out = append(out, violation{Rule: rule, From: from, To: to, Why: fmt.Sprintf(why, args...)})
	}
	for from, imports := range g {
		if !strings.HasPrefix(from, module+"/") && from != module {
			continue
		}
		fromLayer, fromRank := layerOf(from)
		if fromLayer == "" {
			add(ruleLayers, from, "", "package is in no layer; place it in a layer in internal/archtest (layers or testSupport) and in docs/architecture.md, \"Layers\"")
		}
		for _, to := range imports {
			if under(rel(from), "events") && strings.HasPrefix(to, module+"/internal/") {
				add(ruleEvents, from, to, "events/ is the wire contract and imports nothing under internal/")
			}
			if under(rel(from), "internal/db") && slices.ContainsFunc(busPackages, func(b string) bool { return under(to, b) }) {
				add(ruleDBBus, from, to, "internal/db imports no bus package (internal/bus, NATS, watermill)")
			}
			if !strings.HasPrefix(to, module+"/") {
				continue
			}
			fromRole, toRole := roleOf(from), roleOf(to)
			if fromRole != "" && toRole != "" && fromRole != toRole {
				add(ruleRoles, from, to, "role %s imports role %s: no role package imports another; move the shared rule into a domain package", fromRole, toRole)
			}
			if toRole != "" && fromRole == "" && fromLayer != layerCmd && fromLayer != layerApp && fromLayer != layerTestSupport {
				add(ruleRoleBuilders, from, to, "only internal/app (and cmd/...) imports role packages and builds their dependencies")
			}
			toLayer, toRank := layerOf(to)
			switch {
			case fromLayer == layerTestSupport:
				// test support may import anything
			case toLayer == layerTestSupport:
				add(ruleLayers, from, to, "%s is test support: only tests, bench and chaos use it", rel(to))
			case fromLayer != "" && toLayer != "" && toRank > fromRank:
				add(ruleLayers, from, to, "layer %s imports the higher layer %s (%s)", fromLayer, toLayer, strings.Join(layerNames(), " → "))
			}
		}
	}
	slices.SortFunc(out, func(a, b violation) int { return strings.Compare(a.String(), b.String()) })
	return out
}

func layerNames() []string {
	var names []string
	for _, l := range layers {
		names = append(names, l.name)
	}
	return names
}

// loadGraph lists every package of the module with `go list` and returns its non-test imports.
func loadGraph(t *testing.T) graph {
	t.Helper()
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	cmd := exec.Command("go", "list", "-e", "-json=ImportPath,Imports,Error", "./...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	g := graph{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			ImportPath string
			Imports    []string
			Error      *struct{ Err string }
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		if p.Error != nil {
			t.Fatalf("go list %s: %s", p.ImportPath, p.Error.Err)
		}
		g[p.ImportPath] = p.Imports
	}
	return g
}

// TestArchitecture checks the module's real import graph against the rules.
func TestArchitecture(t *testing.T) {
	t.Parallel()
	g := loadGraph(t)
	for _, p := range []string{module + "/events", module + "/internal/app", module + "/internal/db", module + "/internal/gateway", module + "/cmd/coachwire"} {
		if _, ok := g[p]; !ok {
			t.Fatalf("go list did not list %s: the graph is incomplete", p)
		}
	}
	// Every entry of the lists names packages that exist, so the lists (and the docs that
	// repeat them) stay true.
	var entries []string
	for _, l := range layers {
		entries = append(entries, l.pkgs...)
	}
	for _, d := range append(entries, testSupport...) {
		found := false
		for p := range g {
			found = found || under(rel(p), d)
		}
		if !found {
			t.Errorf("internal/archtest places %s, which is no package of the module: remove it from the lists and from docs/architecture.md", d)
		}
	}
	found := map[violation]bool{}
	for _, v := range check(g) {
		if slices.Contains(knownViolations, v.key()) {
			found[v.key()] = true
			t.Logf("known violation (to be fixed; then remove it from knownViolations): %s", v)
			continue
		}
		t.Error(v)
	}
	for _, k := range knownViolations {
		if !found[k] {
			t.Errorf("knownViolations lists [%s] %s imports %s, which no longer occurs: remove it", k.Rule, rel(k.From), rel(k.To))
		}
	}
}

// TestCheckReportsEachRule feeds check a graph that breaks one rule at a time and asserts
// that exactly that violation is reported, naming the offending import.
func TestCheckReportsEachRule(t *testing.T) {
	t.Parallel()
	m := func(p string) string { return module + "/" + p }
	// clean is a small graph that keeps every rule.
	clean := graph{
		m("cmd/coachwire"):           {m("internal/app"), m("internal/config"), "fmt"},
		m("internal/app"):            {m("internal/gateway"), m("internal/nudge"), m("internal/tokens"), m("internal/bus")},
		m("internal/gateway"):        {m("internal/gateway/widget"), m("internal/proactive"), m("internal/db"), m("events")},
		m("internal/gateway/widget"): nil,
		m("internal/nudge"):          {m("internal/proactive"), m("internal/bus")},
		m("internal/proactive"):      {m("internal/db"), m("internal/secrets"), m("events")},
		m("internal/channels/sms"):   {m("internal/channels")},
		m("internal/channels"):       nil,
		m("internal/db"):             {m("migrations"), "github.com/jackc/pgx/v5"},
		m("migrations"):              nil,
		m("internal/bus"):            {m("events"), "github.com/nats-io/nats.go", "github.com/ThreeDotsLabs/watermill"},
		m("events"):                  {"encoding/json"},
		m("internal/testenv"):        {m("internal/bus"), m("internal/db")},
		m("internal/llm/ollamatest"): {m("internal/llm")},
		m("internal/llm"):            nil,
		m("internal/eval"):           {m("internal/ingest"), m("internal/testenv")},
		m("internal/ingest"):         {m("internal/tokens")},
		m("internal/tokens"):         nil,
		m("internal/secrets"):        nil,
		m("internal/config"):         nil,
		"github.com/nats-io/nats.go": {"github.com/nats-io/nkeys"},
	}
	if v := check(clean); len(v) != 0 {
		t.Fatalf("clean graph reported %v", v)
	}
	for _, tc := range []struct {
		name     string
		from, to string // the import added to the clean graph
		rules    []string
	}{
		{"events imports internal", "events", "internal/db", []string{ruleEvents, ruleLayers}},
		{"events subpackage imports internal", "events/v2", "internal/ids", []string{ruleEvents, ruleLayers}},
		{"role imports role", "internal/gateway", "internal/nudge", []string{ruleRoles}},
		{"role subpackage imports another role", "internal/gateway/widget", "internal/ingest", []string{ruleRoles}},
		{"db imports internal/bus", "internal/db", "internal/bus", []string{ruleDBBus}},
		{"db imports nats", "internal/db", "github.com/nats-io/nats.go/jetstream", []string{ruleDBBus}},
		{"db imports watermill", "internal/db", "github.com/ThreeDotsLabs/watermill/message", []string{ruleDBBus}},
		{"domain imports a role", "internal/proactive", "internal/nudge", []string{ruleRoleBuilders, ruleLayers}},
		{"infrastructure imports a role", "internal/config", "internal/gateway/widget", []string{ruleRoleBuilders, ruleLayers}},
		{"infrastructure imports domain", "internal/db", "internal/proactive", []string{ruleLayers}},
		{"contract imports infrastructure", "events", "migrations", []string{ruleLayers}},
		{"role imports app", "internal/nudge", "internal/app", []string{ruleLayers}},
		{"app imports cmd", "internal/app", "cmd/coachwire", []string{ruleLayers}},
		{"production imports test support", "internal/gateway", "internal/testenv", []string{ruleLayers}},
		{"production imports a test double", "internal/app", "internal/llm/ollamatest", []string{ruleLayers}},
		{"unplaced package", "internal/newthing", "internal/db", []string{ruleLayers}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := graph{}
			for k, v := range clean {
				g[k] = slices.Clone(v)
			}
			to := tc.to
			if !strings.Contains(to, ".") {
				to = m(to)
			}
			g[m(tc.from)] = append(g[m(tc.from)], to)
			var rules []string
			for _, v := range check(g) {
				if v.From != m(tc.from) || (v.To != to && v.To != "") {
					t.Errorf("unexpected violation %s", v)
				}
				if v.To != "" && !strings.Contains(v.String(), rel(to)) {
					t.Errorf("message %q does not name the import %s", v, rel(to))
				}
				rules = append(rules, v.Rule)
			}
			slices.Sort(rules)
			want := slices.Sorted(slices.Values(tc.rules))
			if !slices.Equal(rules, want) {
				t.Errorf("rules reported %v, want %v", rules, want)
			}
		})
	}
}

// TestDocsNameTheLayers checks that docs/architecture.md, "Layers", uses the test's words: every
// layer name, rule name and placed package.
func TestDocsNameTheLayers(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Layers\n")
	if !ok {
		t.Fatal(`docs/architecture.md has no "## Layers" section`)
	}
	if i := strings.Index(section, "\n## "); i >= 0 {
		section = section[:i]
	}
	words := []string{layerTestSupport, ruleEvents, ruleRoles, ruleDBBus, ruleRoleBuilders, ruleLayers, "knownViolations"}
	for _, l := range layers {
		words = append(words, l.name)
		for _, p := range l.pkgs {
			words = append(words, "`"+p+"`")
		}
	}
	for _, p := range testSupport {
		words = append(words, "`"+p+"`")
	}
	for _, w := range words {
		if !strings.Contains(section, w) {
			t.Errorf("docs/architecture.md, \"Layers\", does not name %s as internal/archtest does", w)
		}
	}
}
