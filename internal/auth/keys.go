package auth

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"time"
)

// keyEntry is one key in the key file: {"kid": "...", "seed": "<base64 32-byte Ed25519 seed>"}.
// A key that stopped signing carries the time it did ("retired_at"), so a later rotation can
// drop it once every token it signed has expired.
type keyEntry struct {
	KID     string     `json:"kid"`
	Seed    string     `json:"seed"`
	Retired *time.Time `json:"retired_at,omitempty"`
}

// keySet is the signing key (the key file's first entry) and every key that still verifies.
type keySet struct {
	signKID string
	sign    ed25519.PrivateKey
	verify  map[string]ed25519.PublicKey
}

const maxKIDLen = 64

// GenerateKeyFile writes a new key file at path holding one fresh key (0600, parent directories
// 0700). It fails when path exists.
func GenerateKeyFile(path string) error {
	e, err := newKeyEntry()
	if err != nil {
		return err
	}
	return createKeyFile(path, []keyEntry{e})
}

// RotateKeyFile puts a fresh key at the front of the key file at path, making it the signing key
// of every Service started afterwards; the older keys keep verifying. Restart (or roll) every
// replica after rotating, and remove a retired key only once the longest token lifetime has
// passed since the rotation. It returns the new key id. Concurrent rotations of the same file
// are not supported.
func RotateKeyFile(path string) (string, error) {
	r, err := RotateKeys(path, time.Now(), 0)
	return r.KID, err
}

// Rotation is what RotateKeys did: the new signing key, the older keys kept for verification and
// those dropped because every token they signed has expired.
type Rotation struct {
	KID     string
	Kept    []string
	Dropped []string
}

// RotateKeys puts a fresh signing key at the front of the key file at path and marks the key
// that signed until now retired at now. With keep > 0 it drops keys retired more than keep ago:
// keep is the longest lifetime of a token they signed, so none of their tokens is still valid.
// With keep 0 no key is dropped.
func RotateKeys(path string, now time.Time, keep time.Duration) (Rotation, error) {
	entries, err := readKeyFile(path)
	if err != nil {
		return Rotation{}, err
	}
	e, err := newKeyEntry()
	if err != nil {
		return Rotation{}, err
	}
	r := Rotation{KID: e.KID}
	out := []keyEntry{e}
	at := now.UTC()
	for _, old := range entries {
		if old.Retired == nil {
			// The key that signed until now; or an older key of a file written before
			// retirement times were kept: count from now, the safe side.
			old.Retired = &at
		}
		if keep > 0 && now.Sub(*old.Retired) > keep {
			r.Dropped = append(r.Dropped, old.KID)
			continue
		}
		r.Kept = append(r.Kept, old.KID)
		out = append(out, old)
	}
	data, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return Rotation{}, err
	}
	tmp, err := writeTemp(filepath.Dir(path), data)
	if err != nil {
		return Rotation{}, err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return Rotation{}, fmt.Errorf("auth: rotate key file %s: %w", path, err)
	}
	return r, nil
}

// PublicKeys returns every verifying key by key id (for publishing a JWKS or for tests).
func (s *Service) PublicKeys() map[string]ed25519.PublicKey {
	return maps.Clone(s.keys.verify)
}

// SigningKeyID is the key id new tokens are signed with.
func (s *Service) SigningKeyID() string { return s.keys.signKID }

func newKeyEntry() (keyEntry, error) {
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return keyEntry{}, fmt.Errorf("auth: generate key: %w", err)
	}
	pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	return keyEntry{KID: thumbprint(pub), Seed: base64.StdEncoding.EncodeToString(seed)}, nil
}

// thumbprint is a short stable id for a public key.
func thumbprint(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return base64.RawURLEncoding.EncodeToString(sum[:12])
}

func loadOrCreateKeyFile(path string) (*keySet, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		if err := GenerateKeyFile(path); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		// Created here, or by a concurrent process a moment ago: either way, load it.
	}
	entries, err := readKeyFile(path)
	if err != nil {
		return nil, err
	}
	return parseKeys(path, entries)
}

func readKeyFile(path string) ([]keyEntry, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("auth: key file: %w", err)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return nil, fmt.Errorf("auth: key file %s is writable by group or others (mode %v): chmod 600 it", path, fi.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: key file: %w", err)
	}
	var entries []keyEntry
	if err := json.Unmarshal(data, &entries); err != nil {
		// The decoder's message can quote file content; do not repeat it.
		return nil, fmt.Errorf("auth: key file %s: not a JSON list of {\"kid\", \"seed\"}", path)
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("auth: key file %s holds no keys", path)
	}
	return entries, nil
}

func parseKeys(path string, entries []keyEntry) (*keySet, error) {
	ks := &keySet{verify: make(map[string]ed25519.PublicKey, len(entries))}
	for i, e := range entries {
		if e.KID == "" || len(e.KID) > maxKIDLen {
			return nil, fmt.Errorf("auth: key file %s: key %d: kid must be 1..%d characters", path, i, maxKIDLen)
		}
		if _, dup := ks.verify[e.KID]; dup {
			return nil, fmt.Errorf("auth: key file %s: kid %q appears twice", path, e.KID)
		}
		seed, err := base64.StdEncoding.DecodeString(e.Seed)
		if err != nil || len(seed) != ed25519.SeedSize {
			return nil, fmt.Errorf("auth: key file %s: key %q: seed must be %d bytes of standard base64", path, e.KID, ed25519.SeedSize)
		}
		priv := ed25519.NewKeyFromSeed(seed)
		ks.verify[e.KID] = priv.Public().(ed25519.PublicKey)
		if i == 0 {
			ks.signKID, ks.sign = e.KID, priv
		}
	}
	return ks, nil
}

// createKeyFile writes entries to path atomically and only if path does not exist: the content
// goes to a temporary file first, which is then hard-linked into place (link fails on an
// existing name), so no reader ever sees a partial file and two racing creators agree.
func createKeyFile(path string, entries []keyEntry) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("auth: key file directory: %w", err)
	}
	data, err := json.MarshalIndent(entries, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := writeTemp(dir, data)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("auth: key file %s: %w", path, fs.ErrExist)
		}
		return fmt.Errorf("auth: create key file %s: %w", path, err)
	}
	return nil
}

func writeTemp(dir string, data []byte) (string, error) {
	f, err := os.CreateTemp(dir, ".jwtkeys-*.tmp") // CreateTemp uses mode 0600
	if err != nil {
		return "", fmt.Errorf("auth: write key file: %w", err)
	}
	name := f.Name()
	_, werr := f.Write(append(data, '\n'))
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		_ = os.Remove(name)
		return "", fmt.Errorf("auth: write key file: %w", err)
	}
	return name, nil
}
