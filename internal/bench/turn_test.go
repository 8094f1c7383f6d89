package bench

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/app"
	"github.com/coachwire/coachwire/internal/config"
	"github.com/coachwire/coachwire/internal/ids"
	"github.com/coachwire/coachwire/internal/llm/ollamatest"
	"github.com/coachwire/coachwire/internal/testenv"
)

const knowledgeDoc = `# Sleep basics

## Evening routine

Go to bed at the same time every night. Keep screens out of the bedroom for the last thirty
minutes before sleep and dim the lights after nine.

## Caffeine

Stop caffeine eight hours before bedtime; a late espresso keeps adenosine blocked for hours.

## Naps

Keep naps under twenty minutes and before three in the afternoon, or night sleep suffers.

## Exercise

Train in the morning or early evening; a hard session right before bed raises the heart rate.`

var questions = []string{
	"When should I stop drinking caffeine?",
	"How do I build an evening routine?",
	"Are naps bad for my sleep?",
	"Can I exercise right before bed?",
	"Why do screens keep me awake?",
}

const (
	// userGap keeps each end user under the widget's limit of 5 messages per 10 s (one token
	// every 2 s, burst 5), so no message is refused by the rate limiter.
	userGap     = 2100 * time.Millisecond
	turnTimeout = 30 * time.Second
	drainWait   = 30 * time.Second
	maxUsers    = 6000
)

// BenchmarkTurnOverhead measures a widget turn through a full coachwire process (gateway →
// retrieve → generate → dispatch → gateway, real Postgres, NATS and Weaviate, an instantly
// answering loopback Ollama): from the end user's message frame leaving the client to the
// final reply frame arriving on the same socket. Each step offers a fixed rate with an
// open-loop schedule spread over many end users, each waiting for its reply before sending
// again (per-conversation order) and staying under the widget rate limit.
func BenchmarkTurnOverhead(b *testing.B) {
	st := settings(b)
	// COACHWIRE_BENCH_SEARCH=bm25 serves no embedding model, so retrieval is BM25 only (to
	// separate the vector search's cost); the default is hybrid, as with a real Ollama.
	search, embedModels := "hybrid (BM25 + loopback embeddings)", []string{"nomic-embed-text"}
	switch os.Getenv("COACHWIRE_BENCH_SEARCH") {
	case "", "hybrid":
	case "bm25":
		search, embedModels = "BM25 only", []string{}
	default:
		b.Fatalf("COACHWIRE_BENCH_SEARCH=%q: want hybrid or bm25", os.Getenv("COACHWIRE_BENCH_SEARCH"))
	}
	ol := ollamatest.New(b, ollamatest.Options{
		ChatModels: []string{"llama3.2"}, EmbedModels: embedModels,
		Reply:     func(ollamatest.ChatRequest) string { return "Stop caffeine eight hours before bed." },
		ChunkSize: 1 << 10, DeltaDelay: 0,
	})
	d := testenv.Postgres(b)
	switch os.Getenv("COACHWIRE_BENCH_NO_ROLLUP") {
	case "":
	case "worker":
		noRollupWorker(b, d.OwnerURL) // the turns queue their messages; nothing applies them
	default:
		noRollup(b, d.OwnerURL) // the turn path without the analytics triggers, to compare
	}
	parallel := 8 // config's default COACHWIRE_WORKER_PARALLEL
	if v := os.Getenv("COACHWIRE_WORKER_PARALLEL"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			b.Fatalf("COACHWIRE_WORKER_PARALLEL=%q: %v", v, err)
		}
		parallel = n
	}
	env := map[string]string{
		"COACHWIRE_NATS_URL": testenv.NATS(b), "COACHWIRE_DATABASE_URL": d.AppURL, "COACHWIRE_MIGRATE_DATABASE_URL": d.OwnerURL,
		"COACHWIRE_WEAVIATE_URL": testenv.Weaviate(b), "COACHWIRE_WEAVIATE_GRPC_ADDR": testenv.WeaviateGRPC(b), "COACHWIRE_OLLAMA_URL": ol.URL, "COACHWIRE_DATA_DIR": b.TempDir(),
		"COACHWIRE_HTTP_ADDR": "127.0.0.1:0", "COACHWIRE_OPS_ADDR": "127.0.0.1:0", "COACHWIRE_BCRYPT_COST": "4", "COACHWIRE_WORKER_PARALLEL": strconv.Itoa(parallel),
		"COACHWIRE_WHATSAPP_API_URL": "http://127.0.0.1:9", "COACHWIRE_TELEGRAM_API_URL": "http://127.0.0.1:9",
		// The load driver is one client address minting every simulated person's session.
		"COACHWIRE_LIMIT_REGISTER_IP": "off", "COACHWIRE_LIMIT_WIDGET_SESSIONS_IP": "off", "COACHWIRE_LIMIT_WIDGET_SESSIONS_KEY": "off",
	}
	cfg, err := config.Parse(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	a, err := app.Start(ctx, cfg, app.Options{Log: testenv.Quiet()})
	cancel()
	if err != nil {
		b.Fatalf("start coachwire: %v", err)
	}
	b.Cleanup(a.Stop)
	if a.LLMMode() != config.LLMOllama {
		b.Fatalf("LLM mode %s, want ollama", a.LLMMode())
	}
	c := testenv.NewClient(a.URL)
	c.HTTP.Transport = &http.Transport{MaxIdleConnsPerHost: 32}
	cr := c.Register(b)
	c.SetWidget(b, cr, "You are Robin, a sleep coach.")
	c.AddDocument(b, cr, "Sleep basics", "markdown", knowledgeDoc)

	// Stage marks: JetStream publishes are also seen by core-NATS subscribers, so the time the
	// turn request (retrieve done) and the outbound event (generate done) were published is
	// observable from outside, keyed by their Nats-Msg-Id.
	nc, err := nats.Connect(testenv.NATS(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	var marks sync.Map
	for _, subj := range []string{"cw.*.generate", "cw.*.outbound.*"} {
		if _, err := nc.Subscribe(subj, func(m *nats.Msg) { marks.Store(m.Header.Get(nats.MsgIdHdr), time.Now()) }); err != nil {
			b.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		b.Fatal(err)
	}
	p := &userPool{marks: &marks, c: c, key: cr.WidgetKey, creator: cr.ID, ready: make(chan *endUser, maxUsers)}
	b.Cleanup(p.close)
	b.Logf("coachwire: WorkerParallel=%d, search=%s, reply=%d chars in 1 delta, steps %v × %s",
		parallel, search, len("Stop caffeine eight hours before bed."), st.Rates, st.Duration)

	// Warm up: connections, prepared statements, Weaviate caches. Not recorded.
	if err := p.grow(need(st.Rates[0])); err != nil {
		b.Fatal(err)
	}
	runTurns(p, min(st.Rates[0], 100), 3*time.Second)
	// Statistics as autovacuum keeps them in a running system. The database is minutes old, and
	// autovacuum's first pass comes a minute after start (autovacuum_naptime): until then every
	// table counts as empty, and the generic plans the connections' prepared statements settle
	// on read the creator's rows where a key would do (the creator's messages estimated at one
	// row: a widget send read every message of the creator, about 11,000 buffers at 5,000).
	analyze(b, d.OwnerURL)

	var results []Result
	for _, rate := range st.Rates {
		b.Run(fmt.Sprintf("rate=%g", rate), func(b *testing.B) {
			if err := p.grow(need(rate)); err != nil {
				b.Fatal(err)
			}
			r := runTurns(p, rate, st.Duration)
			results = append(results, r)
			if len(results) == len(st.Rates) { // the parent's log is not printed: the table goes with the last step
				b.Log(table("Turn overhead: widget message frame → final reply frame (full coachwire, instant LLM)", results))
			}
			report(b, r, "turns/s")
			b.Logf("rate %g: %d end users, achieved %.1f turns/s, p50 %.1f ms, p99 %.1f ms (from schedule %.1f ms), failed %d %v; cpu %s; stages: %s",
				rate, p.size(), r.Achieved, Ms(r.P50), Ms(r.P99), Ms(r.SchedP99), r.Failed, r.Errors, r.CPU, strings.Join(r.Stages, ", "))
		})
	}
}

// need is the number of end users a rate needs: each may send once per userGap, plus a
// latency allowance and headroom.
func need(rate float64) int {
	return min(maxUsers, int(math.Ceil(rate*(userGap+500*time.Millisecond).Seconds()*1.25))+16)
}

// runTurns offers rate turns/s for d and waits for the replies.
func runTurns(p *userPool, rate float64, d time.Duration) Result {
	cpu0 := ReadCPU()
	start := time.Now()
	rec := NewRecorder(start)
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	Schedule(ctx, start, rate, d, func(ctx context.Context, i int, due time.Time) bool {
		var u *endUser
		select {
		case u = <-p.ready:
		case <-ctx.Done():
			return false
		}
		go u.send(rec, due, questions[i%len(questions)], p)
		return true
	})
	WaitOutstanding(rec, drainWait)
	r := rec.Result(rate)
	r.CPU = ReadCPU().Sub(cpu0)
	r.Wall = time.Since(start)
	return r
}

// endUser is one widget session with its own socket. It has at most one message in flight.
type endUser struct {
	ws *testenv.WidgetConn

	creator uuid.UUID

	mu       sync.Mutex
	pending  string // the client's message id
	replyTo  string // the stored id of that message, which the reply names in reply_to
	due      time.Time
	sent     time.Time
	rec      *Recorder
	timer    *time.Timer
	lastSend time.Time
	dead     bool
}

func (u *endUser) send(rec *Recorder, due time.Time, text string, p *userPool) {
	id := uuid.NewString()
	u.mu.Lock()
	if wait := time.Until(u.lastSend.Add(userGap)); wait > 0 {
		// Cannot happen with the ready queue's gap, but never trip the rate limiter.
		u.mu.Unlock()
		time.Sleep(wait)
		u.mu.Lock()
	}
	now := time.Now()
	u.pending, u.due, u.sent, u.rec, u.lastSend = id, due, now, rec, now
	u.replyTo = ids.InboundMessage(u.creator, events.ChannelWidget, id).String()
	u.timer = time.AfterFunc(turnTimeout, func() { u.finish(id, "timeout", p) })
	u.mu.Unlock()
	rec.Issued(due, now)
	wctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := u.ws.SendJSON(wctx, map[string]string{"type": "message", "id": id, "text": text}); err != nil {
		u.finish(id, "send: "+err.Error(), p)
	}
}

// finish completes the in-flight message id: reason "" is a reply. A user whose message failed
// is retired (its conversation may still get a late reply).
func (u *endUser) finish(id, reason string, p *userPool) {
	done := time.Now()
	u.mu.Lock()
	if u.pending != id || id == "" {
		u.mu.Unlock()
		return
	}
	u.pending = ""
	if u.timer != nil {
		u.timer.Stop()
	}
	rec, due, sent, last, replyTo := u.rec, u.due, u.sent, u.lastSend, u.replyTo
	if reason != "" {
		u.dead = true
	}
	u.mu.Unlock()
	if reason != "" {
		rec.Fail(reason)
		return
	}
	rec.Done(due, sent, done)
	if msgID, err := uuid.Parse(replyTo); err == nil {
		tk, ok1 := p.marks.LoadAndDelete("turn:" + msgID.String())
		to, ok2 := p.marks.LoadAndDelete("out:" + ids.Reply(msgID).String())
		if ok1 && ok2 {
			rec.Stage("1 gateway+retrieve", tk.(time.Time).Sub(sent))
			rec.Stage("2 generate", to.(time.Time).Sub(tk.(time.Time)))
			rec.Stage("3 dispatch+push", done.Sub(to.(time.Time)))
		}
	}
	back := func() { p.ready <- u }
	if w := time.Until(last.Add(userGap)); w > 0 {
		time.AfterFunc(w, back)
	} else {
		back()
	}
}

func (u *endUser) read(p *userPool) {
	for f := range u.ws.Frames {
		switch {
		case testenv.IsReply(f):
			u.mu.Lock()
			id, replyTo := u.pending, u.replyTo
			u.mu.Unlock()
			if f.ReplyTo == replyTo {
				u.finish(id, "", p)
			}
		case f.Type == "error":
			u.mu.Lock()
			id := u.pending
			u.mu.Unlock()
			if f.ID == id || f.ID == "" {
				u.finish(id, "error "+f.Code, p)
			}
		}
	}
	u.mu.Lock()
	id := u.pending
	u.mu.Unlock()
	u.finish(id, "socket closed", p)
}

// userPool holds connected end users; idle ones wait in ready.
type userPool struct {
	c       *testenv.Client
	marks   *sync.Map
	key     string
	creator uuid.UUID
	mu      sync.Mutex
	users   []*endUser
	ready   chan *endUser
}

func (p *userPool) size() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.users)
}

// grow opens widget sessions and sockets until the pool has n end users.
func (p *userPool) grow(n int) error {
	add := n - p.size()
	if add <= 0 {
		return nil
	}
	var wg sync.WaitGroup
	errs := make(chan error, add)
	jobs := make(chan struct{}, add)
	for range add {
		jobs <- struct{}{}
	}
	close(jobs)
	for range 16 {
		wg.Go(func() {
			for range jobs {
				u, err := p.open()
				if err != nil {
					errs <- err
					return
				}
				p.mu.Lock()
				p.users = append(p.users, u)
				p.mu.Unlock()
				go u.read(p)
				p.ready <- u
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func (p *userPool) open() (*endUser, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var s testenv.WidgetSession
	st, raw, err := p.c.Do(ctx, "POST", "/api/v1/widget/session", "", map[string]string{"widget_key": p.key, "anon_id": "anon-" + uuid.NewString()}, &s)
	if err != nil || st != http.StatusOK {
		return nil, fmt.Errorf("widget session: status %d err %v: %s", st, err, raw)
	}
	ws, _, err := p.c.DialWidget(ctx, s, 0, nil)
	if err != nil {
		return nil, fmt.Errorf("dial widget: %w", err)
	}
	for {
		select {
		case f, ok := <-ws.Frames:
			if !ok {
				return nil, fmt.Errorf("widget socket closed before ready")
			}
			if f.Type == "ready" {
				return &endUser{ws: ws, creator: p.creator}, nil
			}
		case <-ctx.Done():
			ws.CloseNow()
			return nil, fmt.Errorf("widget socket: no ready frame")
		}
	}
}

func (p *userPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, u := range p.users {
		u.ws.CloseNow()
	}
}

// analyze updates the planner's statistics of every table (ANALYZE as the schema owner); the
// sessions' cached plans are made again.
func analyze(b *testing.B, ownerURL string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, ownerURL)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "ANALYZE"); err != nil {
		b.Fatal(err)
	}
}
