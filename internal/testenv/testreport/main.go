// Command testreport reads `go test -json` on standard input and prints what `go test` prints
// without -json (each package's ok/FAIL line, every failing test's output in full, build
// errors), then the slowest tests, each package's wall time and, given -coverprofile, the total
// statement coverage of the project's non-generated code and each package's, lowest first. It
// exits 1 when a test, a package or a build failed. `make test` pipes into it:
//
//	go test -json -coverprofile=cover.out ./... | go run ./internal/testenv/testreport -coverprofile=cover.out
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

func main() {
	profile := flag.String("coverprofile", "", "coverage profile written by go test -coverprofile (optional)")
	slowest := flag.Int("slowest", 10, "how many of the slowest tests to list")
	flag.Parse()
	r := newReport(os.Stdout)
	if err := r.read(os.Stdin); err != nil {
		fmt.Fprintf(os.Stdout, "testreport: %v\n", err)
		os.Exit(2)
	}
	r.summary(*slowest)
	if len(r.packages) == 0 {
		// No package reported a result: go test did not run (or its output did not arrive).
		fmt.Fprintln(os.Stdout, "testreport: no package result on stdin")
		r.failed = true
	}
	if *profile != "" {
		if err := coverage(os.Stdout, *profile, modulePath(), "."); err != nil {
			fmt.Fprintf(os.Stdout, "testreport: coverage: %v\n", err)
			r.failed = true
		}
	}
	if r.failed {
		fmt.Fprintln(os.Stdout, "\nFAIL")
		os.Exit(1)
	}
}

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action     string
	Package    string
	Test       string
	Elapsed    float64
	Output     string
	ImportPath string // build-output, build-fail
}

type testTime struct {
	pkg, name string
	secs      float64
}

type report struct {
	out    io.Writer
	failed bool
	// running holds the output of each top-level test (with its subtests') until it ends.
	running map[string]map[string][]string
	// pkgOut holds a package's lines outside its tests until the package ends.
	pkgOut   map[string][]string
	tests    []testTime
	packages []testTime
	failures []string
	// failedPkgs failed as a whole (a failing test, a build failure, a dead test binary).
	failedPkgs []string
}

func newReport(out io.Writer) *report {
	return &report{out: out, running: map[string]map[string][]string{}, pkgOut: map[string][]string{}}
}

func (r *report) read(in io.Reader) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			// Not an event (go vet or build output on stdout): pass it through.
			fmt.Fprintf(r.out, "%s\n", line)
			continue
		}
		r.handle(e)
	}
	return sc.Err()
}

func (r *report) handle(e event) {
	switch e.Action {
	case "build-output":
		fmt.Fprint(r.out, e.Output)
		return
	case "build-fail":
		r.failed = true
		return
	}
	if e.Test == "" {
		r.packageEvent(e)
		return
	}
	top, _, _ := strings.Cut(e.Test, "/")
	pkg := r.running[e.Package]
	if pkg == nil {
		pkg = map[string][]string{}
		r.running[e.Package] = pkg
	}
	switch e.Action {
	case "output":
		pkg[top] = append(pkg[top], e.Output)
	case "pass", "skip":
		if e.Test == top {
			delete(pkg, top)
			if e.Action == "pass" {
				r.tests = append(r.tests, testTime{e.Package, e.Test, e.Elapsed})
			}
		}
	case "fail":
		if e.Test == top {
			r.failed = true
			r.failures = append(r.failures, e.Package+" "+e.Test)
			r.tests = append(r.tests, testTime{e.Package, e.Test, e.Elapsed})
			r.printLines(pkg[top])
			delete(pkg, top)
		}
	}
}

// packageEvent handles the lines and the end of a package's test binary.
func (r *report) packageEvent(e event) {
	switch e.Action {
	case "output":
		r.pkgOut[e.Package] = append(r.pkgOut[e.Package], e.Output)
	case "pass", "fail", "skip":
		// Like go test: a passing package shows its summary line, a failing one everything.
		for _, l := range r.pkgOut[e.Package] {
			if e.Action == "fail" || strings.HasPrefix(l, "ok  ") || strings.HasPrefix(l, "?   ") {
				fmt.Fprint(r.out, shortCoverage(l))
			}
		}
		delete(r.pkgOut, e.Package)
		if e.Action == "fail" {
			r.failed = true
			r.failedPkgs = append(r.failedPkgs, e.Package)
			// A binary that died (timeout, panic, os.Exit) leaves tests without an end:
			// their output explains it.
			names := make([]string, 0, len(r.running[e.Package]))
			for name := range r.running[e.Package] {
				names = append(names, name)
			}
			sort.Strings(names)
			for _, name := range names {
				fmt.Fprintf(r.out, "--- %s did not finish:\n", name)
				r.printLines(r.running[e.Package][name])
			}
		}
		delete(r.running, e.Package)
		if e.Action != "skip" {
			r.packages = append(r.packages, testTime{pkg: e.Package, secs: e.Elapsed})
		}
	}
}

// shortCoverage drops the package list (every -coverpkg package) from a summary line's
// "coverage: 12.9% of statements in a, b, ...".
func shortCoverage(l string) string {
	if i := strings.Index(l, " of statements in "); i >= 0 {
		return l[:i] + " of statements in -coverpkg\n"
	}
	return l
}

func (r *report) printLines(lines []string) {
	for _, l := range lines {
		if strings.HasPrefix(l, "=== PAUSE") || strings.HasPrefix(l, "=== CONT") {
			continue
		}
		fmt.Fprint(r.out, l)
	}
}

func (r *report) summary(n int) {
	w := r.out
	sort.SliceStable(r.tests, func(i, j int) bool { return r.tests[i].secs > r.tests[j].secs })
	fmt.Fprintf(w, "\n%d slowest tests:\n", min(n, len(r.tests)))
	for _, t := range r.tests[:min(n, len(r.tests))] {
		fmt.Fprintf(w, "  %7.1fs  %-45s %s\n", t.secs, t.name, t.pkg)
	}
	sort.SliceStable(r.packages, func(i, j int) bool { return r.packages[i].secs > r.packages[j].secs })
	fmt.Fprintln(w, "\npackage wall times:")
	for _, p := range r.packages {
		if p.secs >= 0.05 {
			fmt.Fprintf(w, "  %7.1fs  %s\n", p.secs, p.pkg)
		}
	}
	if len(r.failures) > 0 {
		fmt.Fprintln(w, "\nfailed tests:")
		for _, f := range r.failures {
			fmt.Fprintf(w, "  %s\n", f)
		}
	}
	if len(r.failedPkgs) > 0 {
		fmt.Fprintln(w, "\nfailed packages:")
		for _, p := range r.failedPkgs {
			fmt.Fprintf(w, "  %s\n", p)
		}
	}
}

// modulePath is the module path of go.mod in the working directory ("" without one).
func modulePath() string {
	b, err := os.ReadFile("go.mod")
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		if m, ok := strings.CutPrefix(strings.TrimSpace(l), "module "); ok {
			return strings.Trim(strings.TrimSpace(m), `"`)
		}
	}
	return ""
}

type block struct {
	stmts   int
	covered bool
}

// coverage prints the statement coverage in profile of the module's non-generated files: total,
// then per package, lowest first. A block counted by several test binaries (-coverpkg) is
// covered when any of them ran it.
func coverage(w io.Writer, profile, module, root string) error {
	f, err := os.Open(profile)
	if err != nil {
		return err
	}
	defer f.Close()
	blocks := map[string]map[string]*block{} // file -> position -> block
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "mode:") || line == "" {
			continue
		}
		// name.go:12.34,15.2 3 1
		colon := strings.LastIndex(line, ":")
		fields := strings.Fields(line[colon+1:])
		if colon < 0 || len(fields) != 3 {
			return fmt.Errorf("bad profile line %q", line)
		}
		stmts, err1 := strconv.Atoi(fields[1])
		count, err2 := strconv.ParseInt(fields[2], 10, 64)
		if err1 != nil || err2 != nil {
			return fmt.Errorf("bad profile line %q", line)
		}
		file := line[:colon]
		m := blocks[file]
		if m == nil {
			m = map[string]*block{}
			blocks[file] = m
		}
		b := m[fields[0]]
		if b == nil {
			b = &block{stmts: stmts}
			m[fields[0]] = b
		}
		b.covered = b.covered || count > 0
	}
	if err := sc.Err(); err != nil {
		return err
	}
	type sum struct{ stmts, covered int }
	pkgs := map[string]*sum{}
	var total sum
	skipped := 0
	for file, m := range blocks {
		if generated(file, module, root) {
			skipped++
			continue
		}
		pkg := filepath.ToSlash(filepath.Dir(file))
		s := pkgs[pkg]
		if s == nil {
			s = &sum{}
			pkgs[pkg] = s
		}
		for _, b := range m {
			s.stmts += b.stmts
			total.stmts += b.stmts
			if b.covered {
				s.covered += b.stmts
				total.covered += b.stmts
			}
		}
	}
	pct := func(s sum) float64 {
		if s.stmts == 0 {
			return 100
		}
		return 100 * float64(s.covered) / float64(s.stmts)
	}
	names := make([]string, 0, len(pkgs))
	for p := range pkgs {
		names = append(names, p)
	}
	sort.Slice(names, func(i, j int) bool {
		a, b := pct(*pkgs[names[i]]), pct(*pkgs[names[j]])
		if a != b {
			return a < b
		}
		return names[i] < names[j]
	})
	fmt.Fprintf(w, "\ncoverage per package (statements, %d generated files left out):\n", skipped)
	for _, p := range names {
		s := *pkgs[p]
		fmt.Fprintf(w, "  %5.1f%%  %6d  %s\n", pct(s), s.stmts, strings.TrimPrefix(strings.TrimPrefix(p, module), "/"))
	}
	fmt.Fprintf(w, "\ntotal statement coverage: %.1f%% of %d statements (non-generated, non-test code)\n", pct(total), total.stmts)
	return nil
}

var generatedHeader = regexp.MustCompile(`(?m)^// Code generated .* DO NOT EDIT\.$`)

// generated reports whether the profile's file (an import path) is generated: sqlc's output
// by name, anything else by the standard header before its package clause.
func generated(file, module, root string) bool {
	base := filepath.Base(file)
	if strings.HasSuffix(base, ".sql.go") || strings.HasPrefix(base, "sqlc_") {
		return true
	}
	rel, ok := strings.CutPrefix(file, module+"/")
	if module == "" || !ok {
		return false
	}
	b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
	if err != nil {
		return false
	}
	head := string(b)
	if i := strings.Index(head, "\npackage "); i >= 0 {
		head = head[:i]
	}
	return generatedHeader.MatchString(head)
}
