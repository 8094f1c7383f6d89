// Package storage keeps the originals of creators' uploaded documents on a filesystem (a local
// disk or a shared volume mounted by every gateway and ingest replica). Each creator has a
// directory named after their id and every file a generated name: a user-supplied filename never
// reaches a path. Writes are atomic (temporary file, fsync, rename).
package storage

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/google/uuid"
)

// ErrTooLarge is returned by Put when the content exceeds the limit.
var ErrTooLarge = errors.New("storage: file exceeds the size limit")

// Dir is a storage root.
type Dir struct {
	Root string
}

// New returns the storage under root, creating it.
func New(root string) (*Dir, error) {
	if root == "" {
		return nil, errors.New("storage: empty root directory")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	if err := os.MkdirAll(abs, 0o750); err != nil {
		return nil, fmt.Errorf("storage: create %s: %w", abs, err)
	}
	return &Dir{Root: abs}, nil
}

// Path is where the file key of creatorID lives. Both parts are UUIDs, so the path never leaves
// the creator's directory.
func (d *Dir) Path(creatorID, key uuid.UUID) (string, error) {
	if creatorID == uuid.Nil || key == uuid.Nil {
		return "", errors.New("storage: nil creator or file id")
	}
	return filepath.Join(d.Root, creatorID.String(), key.String()), nil
}

// Info describes a stored file.
type Info struct {
	Size   int64
	SHA256 [32]byte
}

// Put stores r as the file key of creatorID, reading at most max bytes (max ≤ 0: no limit). It
// returns the size and SHA-256 of the content. On any error nothing is left behind; more than
// max bytes is ErrTooLarge.
func (d *Dir) Put(creatorID, key uuid.UUID, r io.Reader, max int64) (Info, error) {
	dst, err := d.Path(creatorID, key)
	if err != nil {
		return Info{}, err
	}
	dir := filepath.Dir(dst)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return Info{}, fmt.Errorf("storage: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".upload-*")
	if err != nil {
		return Info{}, fmt.Errorf("storage: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	src := r
	if max > 0 {
		src = io.LimitReader(r, max+1)
	}
	n, err := io.Copy(io.MultiWriter(tmp, h), src)
	if err != nil {
		return Info{}, fmt.Errorf("storage: write: %w", err)
	}
	if max > 0 && n > max {
		return Info{}, ErrTooLarge
	}
	if err := tmp.Sync(); err != nil {
		return Info{}, fmt.Errorf("storage: sync: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return Info{}, fmt.Errorf("storage: close: %w", err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return Info{}, fmt.Errorf("storage: rename: %w", err)
	}
	ok = true
	var info Info
	info.Size = n
	copy(info.SHA256[:], h.Sum(nil))
	syncDir(dir)
	return info, nil
}

func syncDir(dir string) {
	if f, err := os.Open(dir); err == nil {
		_ = f.Sync()
		f.Close()
	}
}

// Open opens the file key of creatorID.
func (d *Dir) Open(creatorID, key uuid.UUID) (*os.File, error) {
	p, err := d.Path(creatorID, key)
	if err != nil {
		return nil, err
	}
	return os.Open(p)
}

// Delete removes the file key of creatorID; a missing file is not an error.
func (d *Dir) Delete(creatorID, key uuid.UUID) error {
	p, err := d.Path(creatorID, key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("storage: delete: %w", err)
	}
	return nil
}
