package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/internal/llm"
	"github.com/coachwire/coachwire/internal/llm/ollamatest"
	"github.com/coachwire/coachwire/internal/testenv"
)

const (
	llmChatModel  = "llama3.2"
	llmEmbedModel = "nomic-embed-text"
	// nudgeSystem marks a campaign prompt, so the double answers it with a nudge-sized reply.
	nudgeSystem = "Write a short, friendly check-in for this end user."
)

var (
	creatorA = uuid.MustParse("00000000-0000-4000-8000-00000000000a") // the campaign
	creatorB = uuid.MustParse("00000000-0000-4000-8000-00000000000b") // live widget users
	creatorC = uuid.MustParse("00000000-0000-4000-8000-00000000000c") // live widget users
)

// BenchmarkLLMCapacity answers issue 14's scenario through the real llm.Pool (scheduler, fair
// share, least-loaded server choice) and real HTTP to loopback Ollama doubles that behave like a
// CPU Ollama: a few slots per server (FIFO beyond), a time to first token and a token rate.
//
// Creators B and C each have widget users chatting at a steady rate: a live turn is an embedding
// of the question (class LiveEmbed) then a streamed reply (class Live), then the user thinks for
// a while. After an idle phase (live traffic alone) creator A starts an AI-written campaign: its
// nudges are streamed chats of class Nudge, issued by as many workers as the compose consumer
// runs per process. The run prints, per number of servers, the live turns' time to first token
// (from the turn's start, embedding included) idle and during the campaign, and how long the
// campaign took. A last row runs one server with every call in one FIFO line (same class and
// creator): what the scheduler buys.
//
// Nothing is asserted; the campaign is scaled down from the issue's 10,000 recipients (see
// COACHWIRE_BENCH_LLM_CAMPAIGN and the other EnvLLM* variables).
func BenchmarkLLMCapacity(b *testing.B) {
	st, err := ReadLLMSettings(os.Getenv)
	if err != nil {
		b.Fatal(err)
	}
	type config struct {
		servers int
		fifo    bool
	}
	var cfgs []config
	for _, n := range st.Servers {
		cfgs = append(cfgs, config{servers: n})
	}
	if st.Baseline {
		cfgs = append(cfgs, config{servers: 1, fifo: true})
	}
	liveLoad := float64(2*st.Users) / (st.ThinkMin + st.ThinkMax).Seconds() * 2 // turns/s
	b.Logf("double: %d slots/server, first token %s, %.0f tokens/s, embed %s/input; live: 2 creators × %d users, think %s–%s (≈%.2f turns/s, ≈%.1f busy slots), reply %d tokens (%s); campaign: %d nudges of %d tokens (%s) by %d workers, per-creator nudge cap %s (issue: %d)",
		st.Slots, st.FirstToken, st.TokensPerSecond, st.EmbedPerInput, st.Users, st.ThinkMin, st.ThinkMax,
		liveLoad, liveLoad*st.Generation(st.LiveTokens).Seconds(), st.LiveTokens, st.Generation(st.LiveTokens),
		st.Campaign, st.NudgeTokens, st.Generation(st.NudgeTokens), st.NudgeWorkers, capString(st.NudgeCap), IssueCampaign)

	var rows []llmRow
	for i, c := range cfgs {
		name := fmt.Sprintf("servers=%d", c.servers)
		if c.fifo {
			name += "/fifo"
		}
		b.Run(name, func(b *testing.B) {
			r := runLLMCapacity(b, st, c.servers, c.fifo)
			rows = append(rows, r)
			b.ReportMetric(0, "ns/op")
			if !c.fifo {
				b.ReportMetric(Ms(r.idleP50), "idle-ttft-p50-ms")
				b.ReportMetric(Ms(r.idleP95), "idle-ttft-p95-ms")
			}
			b.ReportMetric(Ms(r.campP50), "campaign-ttft-p50-ms")
			b.ReportMetric(Ms(r.campP95), "campaign-ttft-p95-ms")
			b.ReportMetric(r.campaign.Seconds(), "campaign-s")
			b.ReportMetric(r.nudgesPerS, "nudges/s")
			if r.liveFails+r.nudgeFails > 0 {
				b.ReportMetric(float64(r.liveFails+r.nudgeFails), "failed")
			}
			b.Logf("%s: %s", name, r)
			if i == len(cfgs)-1 {
				// The parent's log is not printed and a step's is cut at 10 lines: the table goes
				// to stdout with the last step.
				fmt.Print(llmTable(st, rows))
			}
		})
	}
}

// llmRow is one configuration's outcome. TTFTs are a live turn's, from its start (before the
// embedding) to the reply's first delta.
type llmRow struct {
	servers int
	fifo    bool

	idleN, campN       int
	idleP50, idleP95   time.Duration
	campP50, campP95   time.Duration
	campP95B, campP95C time.Duration
	chatCampP95        time.Duration // the chat call's own first token (u.FirstToken), during the campaign
	gen                time.Duration // a live reply's generation once it has a slot (median, measured)
	campaign           time.Duration
	nudgesPerS         float64
	liveFails          int
	nudgeFails         int
	maxInFlight        int // the busiest server's most requests at once (≤ slots)
}

func (r llmRow) String() string {
	return fmt.Sprintf("idle %d turns TTFT p50 %.0f / p95 %.0f ms; during campaign %d turns p50 %.0f / p95 %.0f ms (B %.0f, C %.0f; chat call alone %.0f); generation %.0f ms; campaign %.1f s (%.2f nudges/s); failed live %d, nudges %d; max in flight %d",
		r.idleN, Ms(r.idleP50), Ms(r.idleP95), r.campN, Ms(r.campP50), Ms(r.campP95), Ms(r.campP95B), Ms(r.campP95C),
		Ms(r.chatCampP95), Ms(r.gen), r.campaign.Seconds(), r.nudgesPerS, r.liveFails, r.nudgeFails, r.maxInFlight)
}

type liveTurn struct {
	creator       int // 0: B, 1: C
	start         time.Time
	ttft, chatTTF time.Duration
	gen           time.Duration
}

func runLLMCapacity(b *testing.B, st LLMSettings, n int, fifo bool) llmRow {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reply := func(req ollamatest.ChatRequest) string {
		tokens := st.LiveTokens
		for _, m := range req.Messages {
			if m.Role == "system" && m.Content == nudgeSystem {
				tokens = st.NudgeTokens
			}
		}
		return strings.Repeat("tok ", tokens) // one 4-rune delta per token
	}
	doubles := ollamatest.NewCluster(b, n, ollamatest.Options{
		ChatModels: []string{llmChatModel}, EmbedModels: []string{llmEmbedModel}, Reply: reply, ChunkSize: 4,
		Slots: st.Slots, FirstToken: st.FirstToken, TokensPerSecond: st.TokensPerSecond, EmbedPerInput: st.EmbedPerInput,
	})
	var servers []llm.Server
	for _, u := range ollamatest.URLs(doubles) {
		servers = append(servers, llm.Server{URL: u, Slots: st.Slots})
	}
	popts := llm.PoolOptions{Servers: servers, Client: llm.Options{Logger: testenv.Quiet()}}
	if st.NudgeCap > 0 {
		popts.CreatorCap = map[llm.Class]int{llm.Nudge: st.NudgeCap}
	}
	pool, err := llm.NewPool(ctx, popts)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()

	// label attaches the call's class and creator; the FIFO baseline puts every call in one line.
	label := func(ctx context.Context, c llm.Class, creator uuid.UUID, u *llm.Usage) context.Context {
		if fifo {
			c, creator = llm.Live, uuid.Nil
		}
		return llm.WithWork(ctx, llm.Work{Class: c, Creator: creator, Usage: u})
	}

	var (
		mu        sync.Mutex
		turns     []liveTurn
		liveFails int
		users     sync.WaitGroup
		stop      = make(chan struct{})
	)
	turn := func(ci int, creator uuid.UUID, q string) {
		start := time.Now()
		if st.EmbedPerInput > 0 {
			if _, err := pool.Embed(label(ctx, llm.LiveEmbed, creator, nil), llmEmbedModel, []string{llm.QueryPrefix + q}); err != nil {
				mu.Lock()
				liveFails++
				mu.Unlock()
				return
			}
		}
		var u llm.Usage
		var first time.Duration
		chatStart := time.Now()
		_, err := pool.Chat(label(ctx, llm.Live, creator, &u), llmChatModel, []llm.Message{
			{Role: "system", Content: "You are a sleep coach. Answer from the sources."},
			{Role: "user", Content: q},
		}, func(string) error {
			if first == 0 {
				first = time.Since(start)
			}
			return nil
		})
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			liveFails++
			return
		}
		turns = append(turns, liveTurn{creator: ci, start: start, ttft: first, chatTTF: u.FirstToken, gen: time.Since(chatStart) - u.Queued})
	}
	think := func(r *rand.Rand) time.Duration {
		return st.ThinkMin + time.Duration(r.Float64()*float64(st.ThinkMax-st.ThinkMin))
	}
	t0 := time.Now()
	for ci, creator := range []uuid.UUID{creatorB, creatorC} {
		for u := range st.Users {
			users.Add(1)
			go func() {
				defer users.Done()
				r := rand.New(rand.NewPCG(uint64(ci), uint64(u)))
				// Start somewhere inside a think time, so the arrivals are steady from the start.
				wait := time.Duration(r.Float64() * float64(think(r)))
				for i := 0; ; i++ {
					t := time.NewTimer(wait)
					select {
					case <-stop:
						t.Stop()
						return
					case <-t.C:
					}
					turn(ci, creator, questions[(u+i)%len(questions)])
					wait = think(r)
				}
			}()
		}
	}

	// Idle phase: live traffic alone. The baseline's idle phase is the one-server row's (the
	// same calls in one line): it only runs the campaign.
	if !fifo {
		time.Sleep(st.Idle)
	}

	// Creator A's campaign: the compose consumer's workers, one nudge each at a time. The campaign
	// is done when Campaign nudges have been written; A keeps the workers busy with more nudges
	// until the live turns have been measured for Window (a small campaign on many servers would
	// otherwise give too few samples).
	campStart := time.Now()
	windowEnd := campStart.Add(st.Window)
	var next, written, nudgeFails atomic.Int64
	var campDone atomic.Int64 // nanoseconds since campStart when the Campaign-th nudge was written
	var workers sync.WaitGroup
	for w := range st.NudgeWorkers {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for i := next.Add(1); i <= int64(st.Campaign) || time.Now().Before(windowEnd); i = next.Add(1) {
				_, err := pool.Chat(label(ctx, llm.Nudge, creatorA, nil), llmChatModel, []llm.Message{
					{Role: "system", Content: nudgeSystem},
					{Role: "user", Content: fmt.Sprintf("Recipient %d (worker %d): last active three days ago, goal: sleep by 23:00.", i, w)},
				}, nil)
				if err != nil {
					nudgeFails.Add(1)
				}
				if written.Add(1) == int64(st.Campaign) {
					campDone.Store(int64(time.Since(campStart)))
				}
			}
		}()
	}
	workers.Wait()
	campEnd := time.Now()
	close(stop)
	users.Wait() // turns in flight finish

	row := llmRow{servers: n, fifo: fifo, campaign: time.Duration(campDone.Load()), liveFails: liveFails, nudgeFails: int(nudgeFails.Load())}
	if row.campaign > 0 {
		row.nudgesPerS = float64(st.Campaign) / row.campaign.Seconds()
	}
	for _, d := range doubles {
		row.maxInFlight = max(row.maxInFlight, d.MaxInFlight())
	}
	// A turn counts as idle when it started early enough to end before the campaign began.
	idleEnd := campStart.Add(-2 * st.Generation(st.LiveTokens))
	var idle, during, duringChat, gens []time.Duration
	var per [2][]time.Duration
	for _, t := range turns {
		switch {
		case !fifo && t.start.After(t0) && t.start.Before(idleEnd):
			idle = append(idle, t.ttft)
			gens = append(gens, t.gen)
		case !t.start.Before(campStart) && t.start.Before(campEnd):
			during = append(during, t.ttft)
			duringChat = append(duringChat, t.chatTTF)
			per[t.creator] = append(per[t.creator], t.ttft)
		}
	}
	for _, s := range [][]time.Duration{idle, during, duringChat, gens, per[0], per[1]} {
		slices.Sort(s)
	}
	row.idleN, row.campN = len(idle), len(during)
	row.idleP50, row.idleP95 = pct(idle, 0.5), pct(idle, 0.95)
	row.campP50, row.campP95 = pct(during, 0.5), pct(during, 0.95)
	row.campP95B, row.campP95C = pct(per[0], 0.95), pct(per[1], 0.95)
	row.chatCampP95 = pct(duringChat, 0.95)
	row.gen = pct(gens, 0.5)
	if len(gens) == 0 {
		row.gen = st.Generation(st.LiveTokens)
	}
	return row
}

func llmTable(st LLMSettings, rows []llmRow) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "\nLLM capacity: live TTFT (widget turn start → first delta, embedding included) of creators B and C, idle vs during creator A's AI campaign\n")
	fmt.Fprintf(&sb, "double: %d slots/server, first token %s, %.0f tokens/s, embed %s/input; live reply %d tokens = %s generation; nudge %d tokens = %s\n",
		st.Slots, st.FirstToken, st.TokensPerSecond, st.EmbedPerInput, st.LiveTokens, st.Generation(st.LiveTokens), st.NudgeTokens, st.Generation(st.NudgeTokens))
	fmt.Fprintf(&sb, "live: 2 creators × %d users, think %s–%s; campaign: %d recipients (scaled down from %d: \"10k time\" = %d ÷ measured nudges/s), %d compose workers, per-creator nudge cap %s;\n"+
		"live turns are measured for at least %s of campaign (A keeps sending nudges past the campaign until then)\n",
		st.Users, st.ThinkMin, st.ThinkMax, st.Campaign, IssueCampaign, IssueCampaign, st.NudgeWorkers, capString(st.NudgeCap), st.Window)
	fmt.Fprintf(&sb, "%-14s %6s %9s %9s %6s %9s %9s %9s %9s %8s %8s %7s %10s %9s %9s %7s %6s %s\n",
		"config", "idle-n", "idle-p50", "idle-p95", "camp-n", "camp-p50", "camp-p95", "B-p95", "C-p95", "chat-p95",
		"Δp95", "gen-ms", "campaign-s", "nudges/s", "10k-time", "target", "inflt", "failed")
	var ref *llmRow
	for i := range rows {
		if rows[i].servers == 1 && !rows[i].fifo {
			ref = &rows[i]
		}
	}
	for _, r := range rows {
		name := fmt.Sprintf("%d server(s)", r.servers)
		idleN, idle50, idle95 := fmt.Sprint(r.idleN), fmt.Sprintf("%.0f", Ms(r.idleP50)), fmt.Sprintf("%.0f", Ms(r.idleP95))
		base, gen := r.idleP95, r.gen
		if r.fifo {
			name = "1 no-sched"
			idleN, idle50, idle95 = "-", "-", "-"
			if ref != nil {
				base, gen = ref.idleP95, ref.gen
			}
		}
		delta := r.campP95 - base
		target := "yes"
		if delta > gen {
			target = "no"
		}
		tenK := "-"
		if r.nudgesPerS > 0 {
			tenK = fmt.Sprintf("%.1fh", float64(IssueCampaign)/r.nudgesPerS/3600)
		}
		fmt.Fprintf(&sb, "%-14s %6s %9s %9s %6d %9.0f %9.0f %9.0f %9.0f %9.0f %8.0f %7.0f %10.1f %9.2f %9s %7s %6d %d/%d\n",
			name, idleN, idle50, idle95, r.campN, Ms(r.campP50), Ms(r.campP95), Ms(r.campP95B), Ms(r.campP95C), Ms(r.chatCampP95),
			Ms(delta), Ms(gen), r.campaign.Seconds(), r.nudgesPerS, tenK, target, r.maxInFlight, r.liveFails, r.nudgeFails)
	}
	fmt.Fprintf(&sb, "(ms unless noted; Δp95 = camp-p95 − idle-p95 (no-sched: against the 1-server idle), target: Δp95 ≤ one live generation (gen-ms); chat-p95: the chat call's own first token, after the embedding; inflt: most requests one double ran at once; failed: live/nudge)\n")
	return sb.String()
}

func capString(n int) string {
	if n <= 0 {
		return "none"
	}
	return fmt.Sprint(n)
}
