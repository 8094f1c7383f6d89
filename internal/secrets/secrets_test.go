package secrets_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/secrets"
)

func TestRoundTripAndRotation(t *testing.T) {
	old, err := secrets.GenerateSpec("old")
	require.NoError(t, err)
	next, err := secrets.GenerateSpec("new")
	require.NoError(t, err)

	k1, err := secrets.Parse(old)
	require.NoError(t, err)
	ct, err := k1.Encrypt([]byte("token-ü"), []byte("row-1"))
	require.NoError(t, err)
	require.NotContains(t, ct, "token")
	require.Equal(t, "old", secrets.KeyID(ct))

	// Rotated: the new key encrypts, the old one still decrypts.
	k2, err := secrets.Parse(next + "," + old)
	require.NoError(t, err)
	require.Equal(t, "new", k2.PrimaryID())
	pt, err := k2.Decrypt(ct, []byte("row-1"))
	require.NoError(t, err)
	require.Equal(t, "token-ü", string(pt))
	ct2, err := k2.Encrypt([]byte("x"), nil)
	require.NoError(t, err)
	require.Equal(t, "new", secrets.KeyID(ct2))

	// Wrong context, tampering, unknown key.
	_, err = k2.Decrypt(ct, []byte("row-2"))
	require.True(t, errors.Is(err, secrets.ErrDecrypt))
	tampered := ct[:len(ct)-2] + map[bool]string{true: "AA", false: "BB"}[!strings.HasSuffix(ct, "AA")]
	_, err = k2.Decrypt(tampered, []byte("row-1"))
	require.True(t, errors.Is(err, secrets.ErrDecrypt))
	k3, _ := secrets.Parse(next)
	_, err = k3.Decrypt(ct, []byte("row-1"))
	require.True(t, errors.Is(err, secrets.ErrDecrypt))
}

func TestParseRejects(t *testing.T) {
	for _, bad := range []string{"", "nokey", "a:short", "a b:AAAA", "k:" + strings.Repeat("A", 44) + ",k:" + strings.Repeat("A", 44)} {
		_, err := secrets.Parse(bad)
		require.Error(t, err, bad)
		require.NotContains(t, err.Error(), strings.Repeat("A", 10), "errors never echo key material")
	}
}

func TestLoadOrCreateFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", "secrets.key")
	k1, err := secrets.LoadOrCreateFile(path)
	require.NoError(t, err)
	ct, err := k1.Encrypt([]byte("s"), nil)
	require.NoError(t, err)
	k2, err := secrets.LoadOrCreateFile(path)
	require.NoError(t, err)
	pt, err := k2.Decrypt(ct, nil)
	require.NoError(t, err)
	require.Equal(t, "s", string(pt))
}
