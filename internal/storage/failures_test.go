package storage

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// failingReader returns data, then an error: an upload cut off mid-body.
type failingReader struct {
	data []byte
	done bool
}

func (f *failingReader) Read(p []byte) (int, error) {
	if !f.done {
		f.done = true
		return copy(p, f.data), nil
	}
	return 0, errors.New("connection reset by peer")
}

func read(t *testing.T, d *Dir, c, k uuid.UUID) string {
	t.Helper()
	f, err := d.Open(c, k)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// leftovers lists the creator directory's entries other than want.
func leftovers(t *testing.T, d *Dir, c uuid.UUID, want ...uuid.UUID) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(d.Root, c.String()))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var out []string
next:
	for _, e := range entries {
		for _, w := range want {
			if e.Name() == w.String() {
				continue next
			}
		}
		out = append(out, e.Name())
	}
	return out
}

// TestPutSizeLimitBoundary: exactly the limit is stored; one byte more is refused; no limit
// stores anything.
func TestPutSizeLimitBoundary(t *testing.T) {
	d, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c := uuid.New()
	exact, over, free := uuid.New(), uuid.New(), uuid.New()
	if info, err := d.Put(c, exact, strings.NewReader("0123456789"), 10); err != nil || info.Size != 10 {
		t.Fatalf("exactly the limit: %+v %v", info, err)
	}
	if _, err := d.Put(c, over, strings.NewReader("0123456789A"), 10); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("one byte over: %v", err)
	}
	big := bytes.Repeat([]byte("x"), 3<<20)
	info, err := d.Put(c, free, bytes.NewReader(big), 0)
	if err != nil || info.Size != int64(len(big)) || info.SHA256 != sha256.Sum256(big) {
		t.Fatalf("no limit: %+v %v", info, err)
	}
	if l := leftovers(t, d, c, exact, free); len(l) != 0 {
		t.Fatalf("left behind: %v", l)
	}
}

// TestPutFailureKeepsThePreviousFile: an upload that fails mid-body (or is too large) under a
// key that exists leaves the existing file as it was and no temporary file behind; a successful
// one replaces it whole.
func TestPutFailureKeepsThePreviousFile(t *testing.T) {
	d, _ := New(t.TempDir())
	c, k := uuid.New(), uuid.New()
	if _, err := d.Put(c, k, strings.NewReader("version one"), 100); err != nil {
		t.Fatal(err)
	}
	_, err := d.Put(c, k, &failingReader{data: []byte("version tw")}, 100)
	if err == nil || !strings.Contains(err.Error(), "storage: write") || !strings.Contains(err.Error(), "connection reset") {
		t.Fatalf("err %v", err)
	}
	if _, err := d.Put(c, k, strings.NewReader(strings.Repeat("y", 101)), 100); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err %v", err)
	}
	if got := read(t, d, c, k); got != "version one" {
		t.Fatalf("after failed uploads: %q", got)
	}
	if l := leftovers(t, d, c, k); len(l) != 0 {
		t.Fatalf("left behind: %v", l)
	}
	if _, err := d.Put(c, k, strings.NewReader("version two"), 100); err != nil {
		t.Fatal(err)
	}
	if got := read(t, d, c, k); got != "version two" {
		t.Fatalf("after the replacement: %q", got)
	}
}

// TestCreatorsAreSeparate: the same file id of two creators is two files; one creator's delete
// never touches the other's.
func TestCreatorsAreSeparate(t *testing.T) {
	d, _ := New(t.TempDir())
	a, b, k := uuid.New(), uuid.New(), uuid.New()
	for _, c := range []uuid.UUID{a, b} {
		if _, err := d.Put(c, k, strings.NewReader("of "+c.String()), 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Delete(a, k); err != nil {
		t.Fatal(err)
	}
	if got := read(t, d, b, k); got != "of "+b.String() {
		t.Fatalf("b's file: %q", got)
	}
	if _, err := d.Open(a, k); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a's file: %v", err)
	}
}

// TestNilIDsAndBadRoots: nil ids are refused by every operation without touching the disk; a
// root that cannot be a directory is refused; a relative root is made absolute.
func TestNilIDsAndBadRoots(t *testing.T) {
	root := t.TempDir()
	d, _ := New(root)
	k := uuid.New()
	if _, err := d.Put(uuid.Nil, k, strings.NewReader("x"), 0); err == nil {
		t.Fatal("Put with a nil creator")
	}
	if _, err := d.Put(uuid.New(), uuid.Nil, strings.NewReader("x"), 0); err == nil {
		t.Fatal("Put with a nil key")
	}
	if _, err := d.Open(uuid.Nil, k); err == nil {
		t.Fatal("Open with a nil creator")
	}
	if err := d.Delete(uuid.New(), uuid.Nil); err == nil {
		t.Fatal("Delete with a nil key")
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Fatalf("nil ids wrote %v", entries)
	}

	if _, err := New(""); err == nil {
		t.Fatal("empty root accepted")
	}
	file := filepath.Join(root, "file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(filepath.Join(file, "sub")); err == nil || !strings.Contains(err.Error(), "storage: create") {
		t.Fatalf("root under a file: %v", err)
	}
	t.Chdir(root)
	rel, err := New("uploads")
	if err != nil {
		t.Fatal(err)
	}
	if rel.Root != filepath.Join(root, "uploads") {
		t.Fatalf("root %s", rel.Root)
	}

	// The creator's directory cannot be created (a file is in the way): an error, nothing written.
	c := uuid.New()
	if err := os.WriteFile(filepath.Join(d.Root, c.String()), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Put(c, k, strings.NewReader("x"), 0); err == nil {
		t.Fatal("Put into a creator path that is a file")
	}
	// A delete the filesystem refuses (the key's path is a non-empty directory) is an error.
	c2 := uuid.New()
	p, _ := d.Path(c2, k)
	if err := os.MkdirAll(filepath.Join(p, "x"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := d.Delete(c2, k); err == nil || !strings.Contains(err.Error(), "storage: delete") {
		t.Fatalf("delete of a non-empty directory: %v", err)
	}
}
