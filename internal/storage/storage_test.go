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

func TestPutOpenDelete(t *testing.T) {
	d, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c, k := uuid.New(), uuid.New()
	data := []byte("hello world")
	info, err := d.Put(c, k, bytes.NewReader(data), 100)
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != int64(len(data)) || info.SHA256 != sha256.Sum256(data) {
		t.Fatalf("info %+v", info)
	}
	f, err := d.Open(c, k)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(f)
	f.Close()
	if !bytes.Equal(got, data) {
		t.Fatalf("got %q", got)
	}
	p, _ := d.Path(c, k)
	if filepath.Dir(filepath.Dir(p)) != d.Root || filepath.Base(filepath.Dir(p)) != c.String() {
		t.Fatalf("path %s outside the creator's directory", p)
	}
	if err := d.Delete(c, k); err != nil {
		t.Fatal(err)
	}
	if err := d.Delete(c, k); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := d.Open(c, k); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("open after delete: %v", err)
	}
}

func TestPutTooLargeLeavesNothing(t *testing.T) {
	d, _ := New(t.TempDir())
	c, k := uuid.New(), uuid.New()
	if _, err := d.Put(c, k, strings.NewReader(strings.Repeat("x", 11)), 10); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err %v", err)
	}
	entries, _ := os.ReadDir(filepath.Join(d.Root, c.String()))
	if len(entries) != 0 {
		t.Fatalf("left behind %v", entries)
	}
	if _, err := d.Path(uuid.Nil, k); err == nil {
		t.Fatal("nil creator accepted")
	}
}
