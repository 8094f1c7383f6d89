package bench

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/coachwire/coachwire/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func settings(b *testing.B) Settings {
	b.Helper()
	s, err := ReadSettings(os.Getenv)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// report publishes a step's numbers as benchmark metrics (never asserted on).
func report(b *testing.B, r Result, unit string) {
	b.ReportMetric(0, "ns/op") // the step's wall time says nothing; hide it
	b.ReportMetric(Ms(r.P50), "p50-ms")
	b.ReportMetric(Ms(r.P99), "p99-ms")
	b.ReportMetric(r.Achieved, unit)
	if r.Failed > 0 {
		b.ReportMetric(float64(r.Failed), "failed")
	}
}

func table(title string, rs []Result) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n%s\n", title)
	fmt.Fprintf(&sb, "%8s %9s %7s %7s %6s %8s %8s %8s %8s %10s %9s  %s\n",
		"offered", "achieved", "issued", "done", "failed", "p50-ms", "p90-ms", "p99-ms", "max-ms", "sched-p99", "late-p99", "cpu")
	for _, r := range rs {
		fmt.Fprintf(&sb, "%8.0f %9.1f %7d %7d %6d %8.1f %8.1f %8.1f %8.1f %10.1f %9.1f  %s\n",
			r.Offered, r.Achieved, r.Issued, r.Done, r.Failed, Ms(r.P50), Ms(r.P90), Ms(r.P99), Ms(r.Max), Ms(r.SchedP99), Ms(r.LateP99), r.CPU)
		if len(r.Errors) > 0 {
			fmt.Fprintf(&sb, "%8s errors: %v\n", "", r.Errors)
		}
	}
	return sb.String()
}
