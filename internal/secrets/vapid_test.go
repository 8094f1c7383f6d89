package secrets_test

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/secrets"
)

func TestVAPIDGeneratedOnceAndKept(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "keys", "vapid.json")
	// Processes starting together agree on one pair.
	got := make([]secrets.VAPID, 8)
	var wg sync.WaitGroup
	for i := range got {
		wg.Go(func() {
			v, err := secrets.LoadOrCreateVAPID(path)
			require.NoError(t, err)
			got[i] = v
		})
	}
	wg.Wait()
	for _, v := range got[1:] {
		require.Equal(t, got[0], v)
	}
	require.NoError(t, got[0].Check())
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	again, err := secrets.LoadOrCreateVAPID(path)
	require.NoError(t, err)
	require.Equal(t, got[0], again)
	require.NotContains(t, again.String(), again.PrivateKey)

	other, err := secrets.GenerateVAPID()
	require.NoError(t, err)
	require.NotEqual(t, other.PublicKey, again.PublicKey)
	bad := secrets.VAPID{PublicKey: other.PublicKey, PrivateKey: again.PrivateKey}
	require.ErrorContains(t, bad.Check(), "does not belong")

	require.NoError(t, os.Chmod(path, 0o644))
	_, err = secrets.LoadOrCreateVAPID(path)
	require.ErrorContains(t, err, "chmod 600")
	require.True(t, strings.HasSuffix(secrets.VAPIDPath("", "/d"), "/d/keys/vapid.json"))
}
