package secrets

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// VAPID is the deployment's Web Push application server key pair (RFC 8292): a P-256 key whose
// public half browsers subscribe with (PushManager.subscribe's applicationServerKey) and whose
// private half signs the VAPID JWT of every push. One pair per deployment: every gateway
// (which hands out the public key) and every dispatch process (which signs) must load the same
// file; a new pair invalidates every subscription made with the old one.
type VAPID struct {
	// PublicKey is the uncompressed point (65 bytes), base64url without padding.
	PublicKey string `json:"public_key"`
	// PrivateKey is the 32-byte scalar, base64url without padding.
	PrivateKey string `json:"private_key"`
}

// String never shows the private key.
func (v VAPID) String() string { return "VAPID(" + v.PublicKey + ")" }

// GoString never shows the private key.
func (v VAPID) GoString() string { return v.String() }

// VAPIDPath is the key file: file when set (COACHWIRE_VAPID_KEY_FILE), else
// <dataDir>/keys/vapid.json, beside the JWT signing keys and the secrets key.
func VAPIDPath(file, dataDir string) string {
	if file != "" {
		return file
	}
	return filepath.Join(dataDir, "keys", "vapid.json")
}

// GenerateVAPID makes a fresh P-256 key pair.
func GenerateVAPID() (VAPID, error) {
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return VAPID{}, fmt.Errorf("secrets: vapid key: %w", err)
	}
	return VAPID{PublicKey: base64.RawURLEncoding.EncodeToString(k.PublicKey().Bytes()),
		PrivateKey: base64.RawURLEncoding.EncodeToString(k.Bytes())}, nil
}

// LoadOrCreateVAPID reads the VAPID key pair at path, or generates one and writes it there
// (mode 0600; processes starting together agree on one pair) when the file
// does not exist. A file readable or writable by group or others is refused.
func LoadOrCreateVAPID(path string) (VAPID, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		v, err := GenerateVAPID()
		if err != nil {
			return VAPID{}, err
		}
		data, _ := json.MarshalIndent(v, "", "  ")
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return VAPID{}, fmt.Errorf("secrets: vapid key dir: %w", err)
		}
		// Written to a temporary file, then linked into place (link fails on an existing
		// name): no process ever reads a partial file, and racing processes agree on one pair.
		f, err := os.CreateTemp(filepath.Dir(path), ".vapid-*.tmp") // mode 0600
		if err != nil {
			return VAPID{}, fmt.Errorf("secrets: write vapid key file: %w", err)
		}
		tmp := f.Name()
		defer os.Remove(tmp)
		_, werr := f.Write(append(data, '\n'))
		serr := f.Sync()
		if err := errors.Join(werr, serr, f.Close()); err != nil {
			return VAPID{}, fmt.Errorf("secrets: write vapid key file: %w", err)
		}
		if err := os.Link(tmp, path); errors.Is(err, os.ErrExist) {
			return LoadOrCreateVAPID(path) // created concurrently by another process
		} else if err != nil {
			return VAPID{}, fmt.Errorf("secrets: create vapid key file %s: %w", path, err)
		}
		return v, nil
	}
	if err != nil {
		return VAPID{}, fmt.Errorf("secrets: read vapid key file %s: %w", path, err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return VAPID{}, fmt.Errorf("secrets: vapid key file %s is accessible by group or others (mode %v): chmod 600 it", path, fi.Mode().Perm())
	}
	var v VAPID
	if err := json.Unmarshal(b, &v); err != nil {
		return VAPID{}, fmt.Errorf("secrets: vapid key file %s: not {\"public_key\", \"private_key\"}", path)
	}
	if err := v.Check(); err != nil {
		return VAPID{}, fmt.Errorf("secrets: vapid key file %s: %w", path, err)
	}
	return v, nil
}

// Check verifies that the private key is a P-256 scalar whose public key is PublicKey.
func (v VAPID) Check() error {
	d, err := base64.RawURLEncoding.DecodeString(v.PrivateKey)
	if err != nil {
		return errors.New("private_key is not unpadded base64url")
	}
	k, err := ecdh.P256().NewPrivateKey(d)
	if err != nil {
		return errors.New("private_key is not a P-256 key")
	}
	pub, err := base64.RawURLEncoding.DecodeString(v.PublicKey)
	if err != nil || !bytes.Equal(pub, k.PublicKey().Bytes()) {
		return errors.New("public_key does not belong to private_key")
	}
	return nil
}
