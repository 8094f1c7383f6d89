package bench

import (
	"slices"
	"testing"
	"time"
)

func TestReadLLMSettings(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	s, err := ReadLLMSettings(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Servers, []int{1, 2, 3}) || s.Slots != 2 || s.FirstToken != 400*time.Millisecond || s.TokensPerSecond != 25 ||
		s.NudgeWorkers != 8 || !s.Baseline || s.NudgeCap != 0 {
		t.Errorf("defaults: %+v", s)
	}
	if g := s.Generation(40); g != 400*time.Millisecond+1560*time.Millisecond {
		t.Errorf("Generation(40) = %s, want 1.96s (first delta after 400ms, 39 more at 25/s)", g)
	}
	s, err = ReadLLMSettings(env(map[string]string{
		EnvLLMServers: "1, 4", EnvLLMThink: "20-30", EnvLLMCampaign: "10000", EnvLLMBaseline: "false",
		EnvLLMEmbed: "0", EnvLLMFirstToken: "250", EnvLLMNudgeCap: "2", EnvLLMIdle: "1.5",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Servers, []int{1, 4}) || s.ThinkMin != 20*time.Second || s.ThinkMax != 30*time.Second || s.Campaign != 10000 ||
		s.Baseline || s.EmbedPerInput != 0 || s.FirstToken != 250*time.Millisecond || s.NudgeCap != 2 || s.Idle != 1500*time.Millisecond {
		t.Errorf("overrides: %+v", s)
	}
	for k, v := range map[string]string{
		EnvLLMServers: "0", EnvLLMThink: "30-20", EnvLLMSlots: "two", EnvLLMTokensPerS: "0", EnvLLMBaseline: "maybe", EnvLLMCampaign: "-1",
	} {
		if _, err := ReadLLMSettings(env(map[string]string{k: v})); err == nil {
			t.Errorf("%s=%q accepted", k, v)
		}
	}
}
