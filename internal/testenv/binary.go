package testenv

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// The tests of four packages (app, chaos, deploytest, cmd/coachwire) run the coachwire binary
// as OS processes. Each built it into a temporary directory: a link of about 4.5 s of CPU per
// package on every run, since go build caches compiled packages but not the linked binary.
// BuildCoachwire builds it instead into one place in the user cache per checkout, where go
// build finds it up to date and does not link it again (about 0.7 s), under a file lock so test
// binaries running at once do not write it at the same time, and gives each test binary a copy
// of its own (a later rebuild never changes the file a running test executes).
// COACHWIRE_TEST_BIN_CACHE=off builds into the test's own path as before.

// BuildCoachwire builds the coachwire binary from this checkout's sources into out (a path
// whose directory exists): the test may execute it and change it; a later build never touches
// it. It does not need a test's goroutine (it returns the error).
func BuildCoachwire(out string) error {
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	module := filepath.Dir(strings.TrimSpace(string(gomod)))
	cache, err := binCacheDir(module)
	if err == nil {
		err = os.MkdirAll(cache, 0o755)
	}
	if err != nil {
		// No user cache: a build of this test's own.
		return goBuild(module, out)
	}
	lock, err := os.OpenFile(filepath.Join(cache, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("lock %s: %w", lock.Name(), err)
	}
	defer func() { _ = syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) }()
	cached := filepath.Join(cache, "coachwire")
	if err := goBuild(module, cached); err != nil {
		return err
	}
	return copyExecutable(cached, out)
}

// binCacheDir is the user cache's directory for the binary of the checkout at module.
func binCacheDir(module string) (string, error) {
	if os.Getenv("COACHWIRE_TEST_BIN_CACHE") == "off" {
		return "", errors.New("off")
	}
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		base = filepath.Join(home, ".cache")
	}
	h := sha256.Sum256([]byte(module))
	return filepath.Join(base, "coachwire", "testbin", hex.EncodeToString(h[:])[:16]), nil
}

func goBuild(module, out string) error {
	cmd := exec.Command("go", "build", "-o", out, "./cmd/coachwire")
	cmd.Dir = module
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v: %s", err, b)
	}
	return nil
}

func copyExecutable(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
