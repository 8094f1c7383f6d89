// Package check loads deploy/'s Prometheus rules and Grafana dashboard with Prometheus's own
// parsers. It is a module of its own so that the main module does not depend on Prometheus's
// (large) module; run it with `cd deploy/check && go test ./...`. internal/app checks, in the
// main module, that every metric both files use is one coachwire registers.
package check

import (
	"encoding/json"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// grafanaVars are the dashboard's variables as Grafana substitutes them before a query.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$job", ".*")

// TestAlertRulesLoad: the rules file loads as Prometheus loads it (unknown fields refused,
// every expression, duration, label and annotation template checked).
func TestAlertRulesLoad(t *testing.T) {
	p := parser.NewParser(parser.Options{})
	rgs, errs := rulefmt.ParseFile("../prometheus/alerts.yml", false, model.UTF8Validation, p, slog.Default())
	for _, err := range errs {
		t.Error(err)
	}
	if rgs == nil || len(rgs.Groups) == 0 || len(rgs.Groups[0].Rules) < 4 {
		t.Fatalf("want a group with at least the four alerts of docs/operations.md, got %+v", rgs)
	}
	for _, g := range rgs.Groups {
		for _, r := range g.Rules {
			if _, err := p.ParseExpr(r.Expr); err != nil {
				t.Errorf("%s: %v", r.Alert, err)
			}
		}
	}
}

// TestDashboardQueriesParse: every panel query of the dashboard is valid PromQL once Grafana's
// variables are substituted.
func TestDashboardQueriesParse(t *testing.T) {
	b, err := os.ReadFile("../grafana/coachwire.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ RefID, Expr string }
		}
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatal(err)
	}
	p := parser.NewParser(parser.Options{})
	n := 0
	for _, pn := range dash.Panels {
		for _, tg := range pn.Targets {
			n++
			if _, err := p.ParseExpr(grafanaVars.Replace(tg.Expr)); err != nil {
				t.Errorf("%s %s: %v", pn.Title, tg.RefID, err)
			}
		}
	}
	if n == 0 {
		t.Fatal("no queries")
	}
}
