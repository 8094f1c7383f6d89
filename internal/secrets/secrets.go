// Package secrets encrypts channel credentials at rest with AES-256-GCM. A Keyring holds one or
// more named 32-byte keys: the first encrypts, every key decrypts, so keys rotate by putting a
// new key first and keeping the old ones until every ciphertext was rewritten. Ciphertexts carry
// the id of the key that sealed them and are bound to a caller-chosen context (the row id), so a
// ciphertext copied to another row does not decrypt. It never logs or returns a key or plaintext
// in an error.
package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// KeySize is the AES-256 key length in bytes.
const KeySize = 32

// version prefixes every ciphertext: "v1.<key id>.<base64url(nonce | sealed)>".
const version = "v1"

// ErrDecrypt is returned for any ciphertext that does not open: unknown key, wrong context,
// tampered or malformed.
var ErrDecrypt = errors.New("secrets: cannot decrypt")

// Keyring encrypts with its first key and decrypts with any.
type Keyring struct {
	primary string
	keys    map[string]cipher.AEAD
}

// Parse reads a comma list of "<id>:<base64 of 32 bytes>" (standard or URL base64, padded or
// not). Ids are 1-32 characters of [A-Za-z0-9_-].
func Parse(spec string) (*Keyring, error) {
	k := &Keyring{keys: map[string]cipher.AEAD{}}
	for i, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		id, b64, ok := strings.Cut(item, ":")
		if !ok || !validID(id) {
			return nil, fmt.Errorf("secrets: key %d: want <id>:<base64 key> with an id of 1-32 characters [A-Za-z0-9_-]", i+1)
		}
		raw, err := decodeKey(b64)
		if err != nil || len(raw) != KeySize {
			return nil, fmt.Errorf("secrets: key %q: want base64 of exactly %d bytes", id, KeySize)
		}
		if _, dup := k.keys[id]; dup {
			return nil, fmt.Errorf("secrets: key id %q appears twice", id)
		}
		aead, err := newAEAD(raw)
		if err != nil {
			return nil, err
		}
		k.keys[id] = aead
		if k.primary == "" {
			k.primary = id
		}
	}
	if k.primary == "" {
		return nil, errors.New("secrets: no key given")
	}
	return k, nil
}

// LoadOrCreateFile reads a keyring spec from path, or generates one key and writes it there
// (mode 0600) when the file does not exist. It is the embedded default when no keys are
// configured; production sets COACHWIRE_SECRET_KEYS.
func LoadOrCreateFile(path string) (*Keyring, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return Parse(strings.TrimSpace(string(b)))
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("secrets: read key file %s: %w", path, err)
	}
	spec, err := GenerateSpec("k1")
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("secrets: key dir: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) { // created concurrently by another process
		return LoadOrCreateFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("secrets: create key file %s: %w", path, err)
	}
	if _, err := f.WriteString(spec + "\n"); err != nil {
		f.Close()
		return nil, fmt.Errorf("secrets: write key file %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("secrets: write key file %s: %w", path, err)
	}
	return Parse(spec)
}

// GenerateSpec returns "<id>:<base64 of 32 random bytes>".
func GenerateSpec(id string) (string, error) {
	raw := make([]byte, KeySize)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("secrets: random key: %w", err)
	}
	return id + ":" + base64.StdEncoding.EncodeToString(raw), nil
}

// PrimaryID is the id of the key new ciphertexts are sealed with.
func (k *Keyring) PrimaryID() string { return k.primary }

// Encrypt seals plaintext with the primary key, bound to context.
func (k *Keyring) Encrypt(plaintext, context []byte) (string, error) {
	aead := k.keys[k.primary]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("secrets: nonce: %w", err)
	}
	sealed := aead.Seal(nonce, nonce, plaintext, aad(k.primary, context))
	return version + "." + k.primary + "." + base64.RawURLEncoding.EncodeToString(sealed), nil
}

// Decrypt opens a ciphertext of Encrypt with the key it names.
func (k *Keyring) Decrypt(ciphertext string, context []byte) ([]byte, error) {
	parts := strings.SplitN(ciphertext, ".", 3)
	if len(parts) != 3 || parts[0] != version {
		return nil, ErrDecrypt
	}
	aead, ok := k.keys[parts[1]]
	if !ok {
		return nil, fmt.Errorf("%w: key %q is not in the keyring", ErrDecrypt, parts[1])
	}
	sealed, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sealed) < aead.NonceSize()+aead.Overhead() {
		return nil, ErrDecrypt
	}
	pt, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], aad(parts[1], context))
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// KeyID returns the id of the key that sealed ciphertext ("" when malformed); a rotation job
// re-encrypts rows whose key is not the primary.
func KeyID(ciphertext string) string {
	parts := strings.SplitN(ciphertext, ".", 3)
	if len(parts) != 3 || parts[0] != version {
		return ""
	}
	return parts[1]
}

func aad(keyID string, context []byte) []byte {
	b := make([]byte, 0, len(version)+len(keyID)+len(context)+2)
	b = append(b, version...)
	b = append(b, 0)
	b = append(b, keyID...)
	b = append(b, 0)
	return append(b, context...)
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secrets: %w", err)
	}
	return cipher.NewGCM(block)
}

func decodeKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("not base64")
}

func validID(id string) bool {
	if id == "" || len(id) > 32 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// Load returns the keyring of spec (COACHWIRE_SECRET_KEYS) or, when spec is empty, the one in
// <dataDir>/keys/secrets.key (created on first use). Every component of one deployment must
// load the same keys: set COACHWIRE_SECRET_KEYS whenever processes do not share a data dir.
func Load(spec, dataDir string) (*Keyring, error) {
	if strings.TrimSpace(spec) != "" {
		return Parse(spec)
	}
	if dataDir == "" {
		return nil, errors.New("secrets: neither COACHWIRE_SECRET_KEYS nor a data dir for a key file")
	}
	return LoadOrCreateFile(filepath.Join(dataDir, "keys", "secrets.key"))
}
