package secrets_test

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/secrets"
)

const token = "EAAG-very-secret-access-token"

// TestChannelCredentialsBoundToTheirRow: credentials sealed for one channel open only for that
// channel (a row copied onto another channel's id is refused), and the error names the channel,
// never the secret.
func TestChannelCredentialsBoundToTheirRow(t *testing.T) {
	k, err := secrets.Load("test1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "")
	require.NoError(t, err)
	a, b := uuid.New(), uuid.New()
	in := secrets.ChannelCredentials{AccessToken: token, AppSecret: "app", VerifyToken: "v", BotToken: "bot", WebhookSecret: "wh"}
	sealed, err := k.SealChannel(a, in)
	require.NoError(t, err)
	require.NotContains(t, sealed, token)
	out, err := k.OpenChannel(a, sealed)
	require.NoError(t, err)
	require.Equal(t, in, out)

	_, err = k.OpenChannel(b, sealed)
	require.ErrorIs(t, err, secrets.ErrDecrypt)
	require.Contains(t, err.Error(), b.String())
	require.NotContains(t, err.Error(), token)

	// Ciphertext of the right row that is not credentials: refused the same way.
	junk, err := k.Encrypt([]byte("not json"), a[:])
	require.NoError(t, err)
	_, err = k.OpenChannel(a, junk)
	require.ErrorIs(t, err, secrets.ErrDecrypt)
}

// TestChannelCredentialsNeverPrinted: every fmt verb and slog keep the secrets out of logs, also
// inside another value.
func TestChannelCredentialsNeverPrinted(t *testing.T) {
	c := secrets.ChannelCredentials{AccessToken: token, BotToken: token}
	wrapped := struct {
		ID    int
		Creds secrets.ChannelCredentials
	}{1, c}
	var sb strings.Builder
	slog.New(slog.NewTextHandler(&sb, nil)).Info("channel", "creds", c)
	slog.New(slog.NewJSONHandler(&sb, nil)).Info("channel", "creds", c)
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s", c, c, c, c), fmt.Sprintf("%v %+v", wrapped, wrapped), sb.String()} {
		require.NotContains(t, s, token)
	}
}

// TestLoad: the configured keys win; without them every process of a data dir shares one key
// file, created once with mode 0600; with neither, Load refuses.
func TestLoad(t *testing.T) {
	dir := t.TempDir()
	_, err := secrets.Load("", "")
	require.ErrorContains(t, err, "neither COACHWIRE_SECRET_KEYS nor a data dir")
	_, err = secrets.Load("  ", "")
	require.Error(t, err)

	k1, err := secrets.Load("", dir)
	require.NoError(t, err)
	fi, err := os.Stat(filepath.Join(dir, "keys", "secrets.key"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	ct, err := k1.Encrypt([]byte("s"), nil)
	require.NoError(t, err)
	k2, err := secrets.Load("", dir)
	require.NoError(t, err)
	pt, err := k2.Decrypt(ct, nil)
	require.NoError(t, err)
	require.Equal(t, "s", string(pt))

	spec, err := secrets.GenerateSpec("env")
	require.NoError(t, err)
	k3, err := secrets.Load(spec, dir)
	require.NoError(t, err)
	require.Equal(t, "env", k3.PrimaryID(), "COACHWIRE_SECRET_KEYS wins over the key file")
	_, err = k3.Decrypt(ct, nil)
	require.True(t, errors.Is(err, secrets.ErrDecrypt))
}

// TestLoadOrCreateFileFailures: a key path that cannot be read or created is an error naming
// the path; a key file with a bad spec is refused, never replaced.
func TestLoadOrCreateFileFailures(t *testing.T) {
	dir := t.TempDir()
	_, err := secrets.LoadOrCreateFile(dir) // a directory
	require.ErrorContains(t, err, "read key file "+dir)

	blocker := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(blocker, []byte("x"), 0o600))
	under := filepath.Join(blocker, "keys", "secrets.key")
	_, err = secrets.LoadOrCreateFile(under)
	require.ErrorContains(t, err, under)

	bad := filepath.Join(dir, "bad.key")
	require.NoError(t, os.WriteFile(bad, []byte("k1:short\n"), 0o600))
	_, err = secrets.LoadOrCreateFile(bad)
	require.Error(t, err)
	b, err := os.ReadFile(bad)
	require.NoError(t, err)
	require.Equal(t, "k1:short\n", string(b), "a bad key file is never overwritten")
}
