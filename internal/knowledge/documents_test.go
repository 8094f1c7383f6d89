package knowledge_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/knowledge"
)

// The document rules that need PostgreSQL (identical content, quota, replace) are exercised
// through the creator API in internal/gateway (edges_test.go, badinput_test.go) and
// internal/app (knowledge_test.go).

func TestCheckChunking(t *testing.T) {
	t.Parallel()
	for _, ok := range []struct{ tokens, overlap int32 }{{0, -1}, {0, 5000}, {50, 24}, {8000, 3999}, {500, -1}} {
		require.NoError(t, knowledge.CheckChunking(ok.tokens, ok.overlap), "%d/%d", ok.tokens, ok.overlap)
	}
	for _, bad := range []struct{ tokens, overlap int32 }{{49, 0}, {8001, 0}, {100, 50}, {-1, 0}} {
		err := knowledge.CheckChunking(bad.tokens, bad.overlap)
		var e *knowledge.Error
		require.True(t, errors.As(err, &e), "%d/%d: %v", bad.tokens, bad.overlap, err)
		require.Equal(t, knowledge.Invalid, e.Kind)
		require.Equal(t, "bad_chunking", e.Code)
	}
}
