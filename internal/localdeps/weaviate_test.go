package localdeps

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func writeExec(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestFindWeaviateBin(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()

	explicit := filepath.Join(dir, "explicit", "weaviate-server")
	writeExec(t, explicit)
	got, err := FindWeaviateBin(envMap(map[string]string{"COACHWIRE_WEAVIATE_BIN": explicit, "HOME": "/nonexistent"}))
	if err != nil || got != explicit {
		t.Fatalf("explicit: got %q, %v", got, err)
	}

	xdg := filepath.Join(dir, "xdg")
	want := filepath.Join(xdg, "coachwire", "weaviate-v1.35.2", "weaviate-server")
	writeExec(t, want)
	got, err = FindWeaviateBin(envMap(map[string]string{"XDG_CACHE_HOME": xdg, "HOME": "/nonexistent"}))
	if err != nil || got != want {
		t.Fatalf("xdg: got %q, %v; want %q", got, err, want)
	}

	home := filepath.Join(dir, "home")
	want = filepath.Join(home, ".cache", "coachwire", "weaviate-v1.35.2", "weaviate-server")
	writeExec(t, want)
	got, err = FindWeaviateBin(envMap(map[string]string{"HOME": home}))
	if err != nil || got != want {
		t.Fatalf("home: got %q, %v; want %q", got, err, want)
	}
}

func TestFindWeaviateBinMissingNamesBuildCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, err := FindWeaviateBin(envMap(map[string]string{"XDG_CACHE_HOME": dir}))
	if err == nil {
		t.Fatal("want error for missing binary")
	}
	msg := err.Error()
	wantDir := filepath.Join(dir, "coachwire", "weaviate-v1.35.2")
	for _, want := range []string{"make weaviate", "GOBIN=" + wantDir, "go install github.com/weaviate/weaviate/cmd/weaviate-server@v1.35.2"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}

	_, err = FindWeaviateBin(envMap(map[string]string{"COACHWIRE_WEAVIATE_BIN": filepath.Join(dir, "nope")}))
	if err == nil || !strings.Contains(err.Error(), "COACHWIRE_WEAVIATE_BIN") {
		t.Fatalf("explicit missing: got %v", err)
	}

	_, err = FindWeaviateBin(envMap(nil))
	if err == nil {
		t.Fatal("no env: want error")
	}
}

func TestStartWeaviateValidatesOptions(t *testing.T) {
	t.Parallel()
	if _, err := StartWeaviate(context.Background(), WeaviateOptions{DataDir: t.TempDir()}); err == nil {
		t.Fatal("want error for empty Bin")
	}
	if _, err := StartWeaviate(context.Background(), WeaviateOptions{Bin: "/bin/true"}); err == nil {
		t.Fatal("want error for empty DataDir")
	}
}

func TestStartWeaviateChildExitsEarly(t *testing.T) {
	t.Parallel()
	// A "server" that exits at once must be reported promptly, not after the
	// whole readiness deadline.
	dir := t.TempDir()
	start := time.Now()
	_, err := StartWeaviate(context.Background(), WeaviateOptions{Bin: "/bin/false", DataDir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err == nil {
		t.Fatal("want error")
	}
	if time.Since(start) > 10*time.Second {
		t.Fatalf("took %v to notice the exit", time.Since(start))
	}
	if _, err := os.Stat(filepath.Join(dir, "weaviate.log")); err != nil {
		t.Fatalf("log file: %v", err)
	}
}

// weaviateBinForTest returns the real binary, or skips the test when it is
// not built (fails instead under CI, where `make weaviate` must have run).
func weaviateBinForTest(t *testing.T) string {
	t.Helper()
	bin, err := FindWeaviateBin(os.Getenv)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	return bin
}

func TestStartWeaviateReal(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts a real Weaviate")
	}
	bin := weaviateBinForTest(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	w, err := StartWeaviate(ctx, WeaviateOptions{Bin: bin, DataDir: dir, Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = w.Stop()
		}
	}()

	if !strings.HasPrefix(w.URL(), "http://127.0.0.1:") || !strings.HasPrefix(w.GRPCAddr(), "127.0.0.1:") {
		t.Fatalf("addresses: %s %s", w.URL(), w.GRPCAddr())
	}
	resp, err := http.Get(w.URL() + "/v1/meta")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/v1/meta: %d", resp.StatusCode)
	}
	if _, err := os.Stat(filepath.Join(dir, "weaviate.log")); err != nil {
		t.Fatalf("log file: %v", err)
	}

	pid := w.cmd.Process.Pid
	if err := w.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	stopped = true
	if err := w.Stop(); err != nil {
		t.Fatalf("second stop: %v", err)
	}
	select {
	case <-w.Done():
	default:
		t.Fatal("Done not closed after Stop")
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("process %d still exists after Stop (kill 0: %v)", pid, err)
	}
}
