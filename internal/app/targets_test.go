package app

import (
	"io"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/config"
)

func names(ms []module) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.name)
	}
	return out
}

// TestTargetsStartTheSameComponents pins, for each target, for `all` and for a few
// combinations, what a process starts and in which order (what Start ran before the table:
// services, bus, store, knowledge, LLM detection; the router whenever any target runs;
// ingest, retrieve, generate, dispatch, nudge; the router's consumers; the gateway last).
func TestTargetsStartTheSameComponents(t *testing.T) {
	base := []string{"ops", "services", "bus", "store", "knowledge", "llm", "router"}
	with := func(more ...string) []string { return append(slices.Clone(base), more...) }
	cases := []struct {
		targets []string
		want    []string
	}{
		{[]string{config.TargetAll}, with("ingest", "retrieve", "generate", "dispatch", "nudge", "consumers", "gateway")},
		{[]string{config.TargetGateway}, with("consumers", "gateway")},
		{[]string{config.TargetIngest}, with("ingest", "consumers")},
		{[]string{config.TargetRetrieve}, with("retrieve", "consumers")},
		{[]string{config.TargetGenerate}, with("generate", "consumers")},
		{[]string{config.TargetDispatch}, with("dispatch", "consumers")},
		{[]string{config.TargetNudge}, with("nudge", "consumers")},
		// The order is the table's, whatever the order of -target.
		{[]string{config.TargetNudge, config.TargetDispatch, config.TargetGateway}, with("dispatch", "nudge", "consumers", "gateway")},
		{[]string{config.TargetGateway, config.TargetRetrieve, config.TargetDispatch}, with("retrieve", "dispatch", "consumers", "gateway")},
		{[]string{config.TargetGateway, config.TargetGateway}, with("consumers", "gateway")},
		{[]string{config.TargetAll, config.TargetIngest}, with("ingest", "retrieve", "generate", "dispatch", "nudge", "consumers", "gateway")},
	}
	for _, tc := range cases {
		got, err := resolve(tc.targets)
		require.NoError(t, err, "%v", tc.targets)
		require.Equal(t, tc.want, names(got), "%v", tc.targets)
	}
	for _, bad := range [][]string{{"bogus"}, {"router"}, {"services"}, {config.TargetGateway, "consumers"}} {
		_, err := resolve(bad)
		require.ErrorContains(t, err, "unknown target", "%v", bad)
	}
}

// TestTargetsTableMatchesConfig: the targets of the table are exactly config's target names
// (config validates -target against config.WorkerTargets), in the same order, so `all`, the
// validation and `coachwire -h` can never disagree.
func TestTargetsTableMatchesConfig(t *testing.T) {
	var got []string
	for _, tg := range Targets() {
		got = append(got, tg.Name)
		require.NotEmpty(t, tg.Description, tg.Name)
	}
	want := slices.Clone(config.WorkerTargets)
	// The table starts the gateway last (after the consumers run); config lists it first.
	slices.Sort(got)
	slices.Sort(want)
	require.Equal(t, want, got)
	require.NotContains(t, got, config.TargetAll)

	all, err := resolve([]string{config.TargetAll})
	require.NoError(t, err)
	for _, tg := range config.WorkerTargets {
		c, err := config.Parse([]string{"-target", tg}, func(k string) string {
			return map[string]string{"COACHWIRE_NATS_URL": "nats://x:1", "COACHWIRE_DATABASE_URL": "postgres://x/y", "COACHWIRE_WEAVIATE_URL": "http://x"}[k]
		}, io.Discard)
		require.NoError(t, err, tg)
		require.True(t, slices.ContainsFunc(all, func(m module) bool { return m.name == tg }), "all runs %s", tg)
		require.True(t, c.Runs(tg))
	}
}

// TestTargetsTableIsOrdered: every module's deps come before it in the table and what it brings
// along (then) after it, every name it refers to exists, and names are unique.
func TestTargetsTableIsOrdered(t *testing.T) {
	pos := map[string]int{}
	for i, m := range modules {
		_, dup := pos[m.name]
		require.False(t, dup, "module %s twice", m.name)
		pos[m.name] = i
		require.NotNil(t, m.start, m.name)
	}
	for i, m := range modules {
		for _, d := range m.deps {
			j, ok := pos[d]
			require.True(t, ok, "%s depends on unknown %s", m.name, d)
			require.Less(t, j, i, "%s depends on %s, which comes later in the table", m.name, d)
		}
		for _, d := range m.then {
			j, ok := pos[d]
			require.True(t, ok, "%s brings unknown %s", m.name, d)
			require.Greater(t, j, i, "%s brings %s, which comes earlier in the table", m.name, d)
		}
		if m.desc != "" {
			require.Contains(t, m.deps, "router", "every target's consumers (or the gateway) need the router: %s", m.name)
			for _, p := range platform {
				require.Contains(t, m.deps, p, "%s", m.name)
			}
		}
	}
}

// TestConfigStreamReplicasReachTheBus: COACHWIRE_STREAM_REPLICAS is what the bus creates the
// streams with.
func TestConfigStreamReplicasReachTheBus(t *testing.T) {
	c, err := config.Parse(nil, func(string) string { return "" }, io.Discard)
	require.NoError(t, err)
	require.Equal(t, 1, busOptions(c).Replicas)
	c, err = config.Parse(nil, func(k string) string {
		return map[string]string{"COACHWIRE_STREAM_REPLICAS": "3"}[k]
	}, io.Discard)
	require.NoError(t, err)
	require.Equal(t, 3, busOptions(c).Replicas)
}
