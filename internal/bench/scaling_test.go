package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coachwire/coachwire/internal/app"
	"github.com/coachwire/coachwire/internal/channels/telegramtest"
	"github.com/coachwire/coachwire/internal/config"
	"github.com/coachwire/coachwire/internal/dispatch"
	"github.com/coachwire/coachwire/internal/llm/ollamatest"
	"github.com/coachwire/coachwire/internal/testenv"
)

// scalingStage is one role made deliberately slow, and how.
type scalingStage struct {
	role string
	slow string
	// parallel is COACHWIRE_WORKER_PARALLEL of the role's replicas: with the delay, it bounds
	// one replica's throughput (retrieve: 2 at once × 100 ms search; generate: 2 LLM slots ×
	// 100 ms; dispatch: 4 × parallel channel handlers × 200 ms provider call).
	parallel int
	ollama   ollamatest.Options
	provider time.Duration
}

var scalingStages = []scalingStage{
	{role: config.TargetRetrieve, slow: "query embedding 100 ms (slow search)", parallel: 2, ollama: ollamatest.Options{EmbedDelay: 100 * time.Millisecond}},
	{role: config.TargetGenerate, slow: "LLM reply 100 ms", parallel: 2, ollama: ollamatest.Options{DeltaDelay: 100 * time.Millisecond}},
	{role: config.TargetDispatch, slow: "provider call 200 ms", parallel: 1, provider: 200 * time.Millisecond},
}

// BenchmarkReplicaScaling: with one stage deliberately slow, its throughput with 1 and with 2
// replicas of its role, each replica its own coachwire process (App: its own NATS connection,
// database pool and durable-consumer subscriptions), the other roles in one more process with
// capacity to spare. Telegram messages from distinct people go in through the webhook; the
// throughput is the replies the provider double receives per second between the 10th and
// 90th percentile of the run. Reported, never asserted (docs/operations.md has the numbers).
func BenchmarkReplicaScaling(b *testing.B) {
	const messages = 160
	for _, st := range scalingStages {
		var rates []float64
		for replicas := 1; replicas <= 2; replicas++ {
			b.Run(fmt.Sprintf("%s/replicas=%d", st.role, replicas), func(b *testing.B) {
				rate := runScaling(b, st, replicas, messages)
				rates = append(rates, rate)
				b.ReportMetric(0, "ns/op")
				b.ReportMetric(rate, "replies/s")
				if len(rates) == 2 { // the parent's log is not printed: the line goes with the second run
					b.Logf("%s, %s: 1 → 2 replicas: %.1f → %.1f replies/s (%.2f×)", st.role, st.slow, rates[0], rates[1], rates[1]/rates[0])
				}
			})
		}
	}
}

func runScaling(b *testing.B, st scalingStage, replicas, messages int) float64 {
	opts := st.ollama
	opts.ChatModels, opts.EmbedModels = []string{"llama3.2"}, []string{"nomic-embed-text"}
	opts.Reply = func(ollamatest.ChatRequest) string { return "Stop caffeine eight hours before bed." }
	opts.ChunkSize = 1 << 10 // one delta: DeltaDelay is the reply's time
	ol := ollamatest.New(b, opts)
	tg := telegramtest.New(b)
	if st.provider > 0 {
		tg.SetRule(func(r telegramtest.Request) *telegramtest.Failure {
			if r.Method == "sendMessage" {
				time.Sleep(st.provider)
			}
			return nil
		})
	}
	d := testenv.OwnDatabase(b)
	natsURL := testenv.OwnNATS(b)
	start := func(parallel, slots int, targets ...string) *app.App {
		env := map[string]string{
			"COACHWIRE_NATS_URL": natsURL, "COACHWIRE_DATABASE_URL": d.AppURL, "COACHWIRE_MIGRATE_DATABASE_URL": d.OwnerURL,
			"COACHWIRE_WEAVIATE_URL": testenv.Weaviate(b), "COACHWIRE_WEAVIATE_GRPC_ADDR": testenv.WeaviateGRPC(b), "COACHWIRE_OLLAMA_URL": ol.URL,
			"COACHWIRE_DATA_DIR": b.TempDir(), "COACHWIRE_HTTP_ADDR": "127.0.0.1:0", "COACHWIRE_BCRYPT_COST": "4",
			"COACHWIRE_WORKER_PARALLEL": strconv.Itoa(parallel), "COACHWIRE_OLLAMA_SLOTS": strconv.Itoa(slots),
			"COACHWIRE_SECRET_KEYS":      "bench1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
			"COACHWIRE_TELEGRAM_API_URL": tg.URL, "COACHWIRE_WHATSAPP_API_URL": "http://127.0.0.1:9",
			"COACHWIRE_MEMORY_EVERY": "0", "COACHWIRE_LIMIT_REGISTER_IP": "off",
		}
		cfg, err := config.Parse([]string{"-target", strings.Join(targets, ",")}, func(k string) string { return env[k] }, io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		// The bot's limit is not what is measured: far above the stage's capacity.
		a, err := app.Start(ctx, cfg, app.Options{Log: testenv.Quiet(), DispatchLimits: dispatch.Limits{TelegramPerBot: 10000}})
		if err != nil {
			b.Fatalf("start %v: %v", targets, err)
		}
		b.Cleanup(a.Stop)
		return a
	}
	var rest []string
	for _, t := range []string{config.TargetGateway, config.TargetIngest, config.TargetRetrieve, config.TargetGenerate, config.TargetDispatch} {
		if t != st.role {
			rest = append(rest, t)
		}
	}
	edge := start(16, 32, rest...)
	for range replicas {
		start(st.parallel, 2, st.role)
	}

	c := testenv.NewClient(edge.URL)
	cr := c.Register(b)
	c.AddDocument(b, cr, "Sleep basics", "markdown", knowledgeDoc) // passages, so every turn asks the LLM
	var ch struct {
		WebhookURL string `json:"webhook_url"`
	}
	status, raw, err := c.Do(context.Background(), "POST", "/api/v1/channels", cr.AccessToken,
		map[string]any{"type": "telegram", "bot_token": telegramtest.DefaultToken}, &ch)
	if err != nil || status != http.StatusCreated {
		b.Fatalf("telegram channel: %d %v %s", status, err, raw)
	}
	_, secret := tg.LastWebhook()

	// Warm up every replica's connections, then the measured run.
	post := func(from, n int) {
		var wg sync.WaitGroup
		sem := make(chan struct{}, 16)
		for i := from; i < from+n; i++ {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				upd := telegramtest.UpdatePayload(int64(i+1), int64(100000+i), int64(100000+i), questions[i%len(questions)])
				for {
					req, _ := http.NewRequest("POST", ch.WebhookURL, strings.NewReader(string(upd)))
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("X-Telegram-Bot-Api-Secret-Token", secret)
					resp, err := http.DefaultClient.Do(req)
					if err == nil {
						resp.Body.Close()
						if resp.StatusCode == http.StatusOK {
							return
						}
					}
					time.Sleep(100 * time.Millisecond)
				}
			})
		}
		wg.Wait()
	}
	const warm = 8
	post(0, warm)
	tg.WaitSent(b, warm, 2*time.Minute)
	post(warm, messages)
	sent := tg.WaitSent(b, warm+messages, 5*time.Minute)
	var at []time.Time
	for _, s := range sent[warm:] {
		at = append(at, s.At)
	}
	slices.SortFunc(at, func(x, y time.Time) int { return x.Compare(y) })
	lo, hi := len(at)/10, len(at)*9/10
	rate := float64(hi-lo) / at[hi].Sub(at[lo]).Seconds()
	b.Logf("%s ×%d: %.1f replies/s (%d replies, %s in all)", st.role, replicas, rate, len(at), at[len(at)-1].Sub(at[0]).Round(time.Millisecond))
	return rate
}
