// Package deploytest keeps the deployment files honest: compose.yaml cannot run here (no Docker
// engine), so it is loaded and validated with the Compose specification's own loader.
package deploytest

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/stretchr/testify/require"
)

func TestComposeFileIsValid(t *testing.T) {
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	opts, err := cli.NewProjectOptions([]string{filepath.Join(root, "compose.yaml")},
		cli.WithWorkingDirectory(root), cli.WithName("coachwire"), cli.WithResolvedPaths(true))
	require.NoError(t, err)
	p, err := opts.LoadProject(context.Background())
	require.NoError(t, err)
	for _, name := range []string{"nats", "postgres", "weaviate", "ollama", "migrate", "gateway", "ingest", "retrieve", "generate", "dispatch", "nudge"} {
		require.Contains(t, p.ServiceNames(), name)
	}
	targets := map[string]string{}
	for _, name := range []string{"gateway", "ingest", "retrieve", "generate", "dispatch", "nudge"} {
		s := p.Services[name]
		v := s.Environment["COACHWIRE_TARGET"]
		require.NotNil(t, v, "%s has COACHWIRE_TARGET", name)
		targets[name] = *v
		for _, k := range []string{"COACHWIRE_NATS_URL", "COACHWIRE_DATABASE_URL", "COACHWIRE_WEAVIATE_URL"} {
			require.NotNil(t, s.Environment[k], "%s sets %s", name, k)
		}
		require.True(t, slices.Contains(slices.Collect(func(yield func(string) bool) {
			for d := range s.DependsOn {
				if !yield(d) {
					return
				}
			}
		}), "migrate"), "%s waits for migrations", name)
	}
	for name, target := range targets {
		require.Equal(t, name, target)
	}
	require.Equal(t, []string{"migrate"}, []string(p.Services["migrate"].Command))
}
