package archtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// rawBusCalls are the methods of bus.Bus that hand out the raw NATS connection and JetStream
// context. They exist for tests, benchmarks and fault injection; roles and domain packages
// publish and listen through the bus API (internal/bus/publish.go) only.
var rawBusCalls = []string{"Conn", "JetStream"}

// rawBusUses reports every call X.Conn() / X.JetStream() (no arguments) in a file that imports
// internal/bus: the raw connection reached from a role (rule "bus-api").
func rawBusUses(fset *token.FileSet, f *ast.File) []string {
	imports := false
	for _, im := range f.Imports {
		if p, _ := strconv.Unquote(im.Path.Value); p == module+"/internal/bus" {
			imports = true
		}
	}
	if !imports {
		return nil
	}
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) != 0 {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		for _, name := range rawBusCalls {
			if sel.Sel.Name == name {
				out = append(out, fmt.Sprintf("%s: %s() reaches into the bus's raw connection; use the bus API (Publish, PublishBatch, PublishDetached, Notify, Listen)", fset.Position(call.Pos()), name))
			}
		}
		return true
	})
	return out
}

// TestRolesUseTheBusAPI: no role or domain package reaches the raw NATS connection or
// JetStream context of bus.Bus ("bus-api").
func TestRolesUseTheBusAPI(t *testing.T) {
	t.Parallel()
	cmd := exec.Command("go", "list", "-json=ImportPath,Dir,GoFiles", "./...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Dir = moduleRoot(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	checked := 0
	for {
		var p struct {
			ImportPath, Dir string
			GoFiles         []string
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if l, _ := layerOf(p.ImportPath); l != layerRoles && l != layerDomain {
			continue
		}
		fset := token.NewFileSet()
		for _, name := range p.GoFiles {
			f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			checked++
			for _, v := range rawBusUses(fset, f) {
				t.Errorf("[bus-api] %s", v)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no role or domain file was checked")
	}
}

// TestRawBusUseIsReported proves the bus-api check fails on a role that reaches into the bus.
func TestRawBusUseIsReported(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		src  string
		want int
	}{
		{`package r; import "` + module + `/internal/bus"; func f(b *bus.Bus) { b.Conn().Publish("x", nil) }`, 1},
		{`package r; import "` + module + `/internal/bus"; func f(b *bus.Bus) { _ = b.JetStream() }`, 1},
		{`package r; import "` + module + `/internal/bus"; func f(b *bus.Bus) { _ = b.Notify("x", nil) }`, 0},
		{`package r; func f(c interface{ Conn() int }) { _ = c.Conn() }`, 0}, // not the bus
	} {
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, "r.go", tc.src, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := rawBusUses(fset, f); len(got) != tc.want {
			t.Errorf("%s: %d reports %q, want %d", tc.src, len(got), got, tc.want)
		}
	}
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	return filepath.Dir(strings.TrimSpace(string(gomod)))
}
