package app_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/app"
	"github.com/coachwire/coachwire/internal/channels/telegramtest"
	"github.com/coachwire/coachwire/internal/llm/ollamatest"
	"github.com/coachwire/coachwire/internal/testenv"
)

// TestClusterNodeLossUnderLoad: two coachwire replicas (every target each) on a 3-node NATS
// cluster with COACHWIRE_STREAM_REPLICAS=3 answer Telegram messages while the server leading
// the inbound stream stops mid-run. Telegram repeats an update whose webhook did not answer 200
// (so does the load here); every person gets exactly one reply: none lost, none twice.
func TestClusterNodeLossUnderLoad(t *testing.T) {
	t.Parallel()
	cl := testenv.StartNATSCluster(t, 3)
	h := &harness{t: t, db: testenv.OwnDatabase(t), natsURL: cl.URL(), weaviate: testenv.Weaviate(t), wvGRPC: testenv.WeaviateGRPC(t),
		jwtKeys: filepath.Join(t.TempDir(), "keys", "jwt.json"),
		ollama: ollamatest.New(t, ollamatest.Options{ChatModels: []string{"llama3.2"}, EmbedModels: []string{"nomic-embed-text"},
			DeltaDelay: time.Millisecond})}
	tg := telegramtest.New(t)
	var replicas []*app.App
	for range 2 {
		cfg := h.config()
		cfg.TelegramAPIURL, cfg.SecretKeys, cfg.StreamReplicas = tg.URL, testSecretKeys, 3
		cfg.JWTKeyFile = h.jwtKeys // gateway replicas share one key file
		// A message the lost server had handed out and never heard back about is delivered
		// again after its consumer's AckWait: dispatch's is twice the call timeout plus 5 s.
		cfg.ProviderCallTimeout = 3 * time.Second
		replicas = append(replicas, h.start(cfg))
	}
	c := testenv.NewClient(replicas[0].URL)
	cr := c.Register(t)
	r := &channelRig{h: h, a: replicas[0], c: c, cr: cr, tg: tg}
	ch := r.addChannel(t, map[string]any{"type": "telegram", "bot_token": telegramtest.DefaultToken})
	_, secret := tg.LastWebhook()

	nc, err := nats.Connect(cl.URL())
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx := context.Background()
	st, err := js.Stream(ctx, events.StreamInbound)
	require.NoError(t, err)
	require.Equal(t, 3, st.CachedInfo().Config.Replicas)

	// The load: 60 people, one message each, spread over the two gateways; a webhook that
	// fails (its gateway's publish lost the stream leader) is repeated, as Telegram does.
	const people = 60
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		retried  int
		stopOnce sync.Once
	)
	stopLeader := func() {
		info, err := st.Info(ctx)
		require.NoError(t, err)
		i := cl.Index(info.Cluster.Leader)
		require.GreaterOrEqual(t, i, 0, "leader %q", info.Cluster.Leader)
		t.Logf("stopping %s, the leader of %s", info.Cluster.Leader, events.StreamInbound)
		cl.Stop(i)
	}
	for p := range people {
		if p == people/3 {
			stopOnce.Do(stopLeader)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			url := replicas[p%2].URL + "/webhooks/telegram/" + ch.ID.String()
			upd := telegramtest.UpdatePayload(int64(5000+p), int64(9000+p), int64(9000+p), fmt.Sprintf("Question %d: when should I stop caffeine?", p))
			for try := 0; ; try++ {
				code, _ := postQuiet(url, upd, "X-Telegram-Bot-Api-Secret-Token", secret)
				if code == http.StatusOK {
					return
				}
				mu.Lock()
				retried++
				mu.Unlock()
				if try > 60 {
					t.Errorf("update of person %d refused %d times (last %d)", p, try+1, code)
					return
				}
				time.Sleep(250 * time.Millisecond)
			}
		}()
		time.Sleep(40 * time.Millisecond)
	}
	wg.Wait()
	loaded := time.Now()

	// Within the longest AckWait (retrieve's 30 s) of the messages in flight on the lost server.
	tg.WaitSent(t, people, 60*time.Second)
	t.Logf("every person answered %s after the last message", time.Since(loaded).Round(time.Millisecond))
	quiet(t, 2*time.Second, people, func() int { return len(tg.Sent()) }, "no reply twice")
	for p := range people {
		require.Len(t, tg.SentTo(int64(9000+p)), 1, "person %d: one reply", p)
	}
	t.Logf("%d people answered once each; %d webhook calls repeated while the cluster lost a node", people, retried)
}

// postQuiet posts body to url and returns the status (0 when the request failed).
func postQuiet(url string, body []byte, header ...string) (int, error) {
	req, err := http.NewRequest("POST", url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
