package bench

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Env variables that shape BenchmarkLLMCapacity (the LLM scheduler and pool against loopback
// Ollama doubles with realistic speed). Unset means the default noted in LLMSettings.
const (
	EnvLLMServers    = "COACHWIRE_BENCH_LLM_SERVERS"     // comma list of server counts, e.g. 1,2,3
	EnvLLMSlots      = "COACHWIRE_BENCH_LLM_SLOTS"       // slots per server (OLLAMA_NUM_PARALLEL)
	EnvLLMFirstToken = "COACHWIRE_BENCH_LLM_FIRST_TOKEN" // prompt processing before the first delta, ms
	EnvLLMTokensPerS = "COACHWIRE_BENCH_LLM_TOKENS_PER_S"
	EnvLLMEmbed      = "COACHWIRE_BENCH_LLM_EMBED_MS" // embedding time per input, ms; 0: no embedding before a live turn
	EnvLLMUsers      = "COACHWIRE_BENCH_LLM_USERS"    // widget users of each of creators B and C
	EnvLLMThink      = "COACHWIRE_BENCH_LLM_THINK"    // think time between a user's turns, "min-max" seconds
	EnvLLMCampaign   = "COACHWIRE_BENCH_LLM_CAMPAIGN" // recipients of creator A's AI-written campaign
	EnvLLMIdle       = "COACHWIRE_BENCH_LLM_IDLE"     // seconds of live traffic alone before the campaign
	EnvLLMWindow     = "COACHWIRE_BENCH_LLM_WINDOW"   // least seconds of live traffic measured during the campaign
	EnvLLMBaseline   = "COACHWIRE_BENCH_LLM_BASELINE" // 0: skip the "no scheduler" (FIFO) row
	EnvLLMLiveTokens = "COACHWIRE_BENCH_LLM_LIVE_TOKENS"
	EnvLLMNudgeToks  = "COACHWIRE_BENCH_LLM_NUDGE_TOKENS"
	EnvLLMNudgeCap   = "COACHWIRE_BENCH_LLM_NUDGE_CAP" // the pool's per-creator cap on running nudges (COACHWIRE_LLM_NUDGE_CONCURRENCY); 0: none
)

// IssueCampaign is the campaign size of the scenario the benchmark answers (issue 14).
const IssueCampaign = 10000

// LLMSettings is what the environment asks of BenchmarkLLMCapacity.
type LLMSettings struct {
	Servers         []int         // server counts to run, default 1, 2, 3
	Slots           int           // per server, default 2
	FirstToken      time.Duration // default 400 ms
	TokensPerSecond float64       // default 25
	EmbedPerInput   time.Duration // default 20 ms; 0: live turns do not embed first
	Users           int           // per live creator (B and C), default 50
	ThinkMin        time.Duration // default 150 s
	ThinkMax        time.Duration // default 250 s
	Campaign        int           // default 100 recipients
	Idle            time.Duration // default 60 s
	Window          time.Duration // default 90 s: creator A keeps sending nudges past Campaign until then
	Baseline        bool          // default true
	LiveTokens      int           // default 40
	NudgeTokens     int           // default 30
	NudgeWorkers    int           // the compose consumer's concurrency per process: 8
	NudgeCap        int           // PoolOptions.CreatorCap[llm.Nudge], default 0 (no cap)
}

// ReadLLMSettings parses the EnvLLM* variables; bad values are errors, not silently ignored.
func ReadLLMSettings(getenv func(string) string) (LLMSettings, error) {
	s := LLMSettings{
		Servers: []int{1, 2, 3}, Slots: 2, FirstToken: 400 * time.Millisecond, TokensPerSecond: 25,
		EmbedPerInput: 20 * time.Millisecond, Users: 50, ThinkMin: 150 * time.Second, ThinkMax: 250 * time.Second,
		Campaign: 100, Idle: 60 * time.Second, Window: 90 * time.Second, Baseline: true, LiveTokens: 40, NudgeTokens: 30, NudgeWorkers: 8,
	}
	num := func(name string, lo, hi float64, set func(float64)) error {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			return nil
		}
		n, err := strconv.ParseFloat(v, 64)
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("%s=%q: want a number in [%g, %g]", name, v, lo, hi)
		}
		set(n)
		return nil
	}
	ms := func(d *time.Duration) func(float64) {
		return func(n float64) { *d = time.Duration(n * float64(time.Millisecond)) }
	}
	integer := func(p *int) func(float64) { return func(n float64) { *p = int(n) } }
	if v := strings.TrimSpace(getenv(EnvLLMServers)); v != "" {
		s.Servers = nil
		for _, p := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(p))
			if err != nil || n < 1 || n > 16 {
				return s, fmt.Errorf("%s=%q: want a comma list of server counts in [1, 16]", EnvLLMServers, v)
			}
			s.Servers = append(s.Servers, n)
		}
	}
	if v := strings.TrimSpace(getenv(EnvLLMThink)); v != "" {
		lo, hi, ok := strings.Cut(v, "-")
		if !ok {
			hi = lo
		}
		a, err1 := strconv.ParseFloat(strings.TrimSpace(lo), 64)
		b, err2 := strconv.ParseFloat(strings.TrimSpace(hi), 64)
		if err1 != nil || err2 != nil || a < 0 || b < a || b > 3600 {
			return s, fmt.Errorf("%s=%q: want \"min-max\" seconds, 0 ≤ min ≤ max ≤ 3600", EnvLLMThink, v)
		}
		s.ThinkMin, s.ThinkMax = time.Duration(a*float64(time.Second)), time.Duration(b*float64(time.Second))
	}
	if v := strings.TrimSpace(getenv(EnvLLMBaseline)); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return s, fmt.Errorf("%s=%q: want a boolean", EnvLLMBaseline, v)
		}
		s.Baseline = b
	}
	idle, window := s.Idle.Seconds(), s.Window.Seconds()
	for _, f := range []error{
		num(EnvLLMSlots, 1, 64, integer(&s.Slots)),
		num(EnvLLMFirstToken, 0, 60000, ms(&s.FirstToken)),
		num(EnvLLMTokensPerS, 0.1, 10000, func(n float64) { s.TokensPerSecond = n }),
		num(EnvLLMEmbed, 0, 10000, ms(&s.EmbedPerInput)),
		num(EnvLLMUsers, 1, 5000, integer(&s.Users)),
		num(EnvLLMCampaign, 1, 1000000, integer(&s.Campaign)),
		num(EnvLLMIdle, 1, 3600, func(n float64) { idle = n }),
		num(EnvLLMWindow, 0, 3600, func(n float64) { window = n }),
		num(EnvLLMLiveTokens, 1, 4096, integer(&s.LiveTokens)),
		num(EnvLLMNudgeToks, 1, 4096, integer(&s.NudgeTokens)),
		num(EnvLLMNudgeCap, 0, 1024, integer(&s.NudgeCap)),
	} {
		if f != nil {
			return s, f
		}
	}
	s.Idle, s.Window = time.Duration(idle*float64(time.Second)), time.Duration(window*float64(time.Second))
	return s, nil
}

// Generation is how long the double takes to stream a reply of tokens once it has a slot: the
// first delta after FirstToken, the others paced at TokensPerSecond.
func (s LLMSettings) Generation(tokens int) time.Duration {
	return s.FirstToken + time.Duration(float64(max(tokens-1, 0))/s.TokensPerSecond*float64(time.Second))
}
