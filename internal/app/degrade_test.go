package app_test

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/bus"
	"github.com/coachwire/coachwire/internal/generate"
	"github.com/coachwire/coachwire/internal/llm/ollamatest"
	"github.com/coachwire/coachwire/internal/localdeps"
	"github.com/coachwire/coachwire/internal/testenv"
)

// freezeProxy is a TCP proxy in front of a real server that can be frozen: while frozen it
// accepts connections and reads what the client sends but forwards nothing either way, the way
// a SIGSTOPped server looks from the network (the kernel accepts, nothing answers).
type freezeProxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	cond   *sync.Cond
	frozen bool
	closed bool
	conns  []net.Conn
}

func newFreezeProxy(t *testing.T, target string) *freezeProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &freezeProxy{ln: ln, target: target}
	p.cond = sync.NewCond(&p.mu)
	go p.serve()
	t.Cleanup(p.close)
	return p
}

func (p *freezeProxy) Addr() string { return p.ln.Addr().String() }

func (p *freezeProxy) setFrozen(v bool) {
	p.mu.Lock()
	p.frozen = v
	p.cond.Broadcast()
	p.mu.Unlock()
}

// gate waits while the proxy is frozen; false once it is closed.
func (p *freezeProxy) gate() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.frozen && !p.closed {
		p.cond.Wait()
	}
	return !p.closed
}

func (p *freezeProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		_ = c.Close()
		return false
	}
	p.conns = append(p.conns, c)
	return true
}

func (p *freezeProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			return
		}
		go func() {
			if !p.gate() {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				_ = c.Close()
				return
			}
			if !p.track(up) {
				_ = c.Close()
				return
			}
			go p.pipe(up, c)
			p.pipe(c, up)
		}()
	}
}

// pipe copies src to dst, holding every chunk while the proxy is frozen.
func (p *freezeProxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.gate() {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *freezeProxy) close() {
	p.mu.Lock()
	p.closed, p.frozen = true, false
	p.cond.Broadcast()
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	_ = p.ln.Close()
	for _, c := range conns {
		_ = c.Close()
	}
}

// deadLettered returns the dead-letter entries of stream's consumers that concern creator.
func deadLettered(t *testing.T, b *bus.Bus, stream string, creator uuid.UUID) []string {
	t.Helper()
	ctx := context.Background()
	s, err := b.JetStream().Stream(ctx, "CW_DLQ")
	require.NoError(t, err)
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{events.DLQSubject(stream)}})
	require.NoError(t, err)
	var out []string
	for {
		batch, err := c.Fetch(100, jetstream.FetchMaxWait(300*time.Millisecond))
		require.NoError(t, err)
		n := 0
		for m := range batch.Messages() {
			n++
			if bytes.Contains(m.Data(), []byte(creator.String())) {
				out = append(out, string(m.Data()))
			}
		}
		if n == 0 {
			return out
		}
	}
}

// TestSearchUnavailableStillAnswered (issue 9, defect 14): with Weaviate frozen (both its REST
// and gRPC ports stop answering, as under SIGSTOP) a widget message is still answered, in
// passages mode with an honest "can't look that up right now", and nothing is dead-lettered.
func TestSearchUnavailableStillAnswered(t *testing.T) {
	t.Parallel()
	h := newHarness(t, ollamatest.Options{ChatModels: []string{}, EmbedModels: []string{}})
	rest := newFreezeProxy(t, strings.TrimPrefix(h.weaviate, "http://"))
	rpc := newFreezeProxy(t, h.wvGRPC)
	cfg := h.config()
	cfg.WeaviateURL, cfg.WeaviateGRPCAddr = "http://"+rest.Addr(), rpc.Addr()
	a := h.start(cfg)
	c := testenv.NewClient(a.URL)
	cr := c.Register(t)
	c.AddDocument(t, cr, "Sleep basics", "markdown", sleepDoc)
	ctx := context.Background()
	sess := c.StartWidget(t, cr.WidgetKey, "anon-"+uuid.NewString())
	ws, _, err := c.DialWidget(ctx, sess, 0, nil)
	require.NoError(t, err)
	defer ws.CloseNow()

	// Weaviate answers: the passages come back.
	_, err = ws.Say(ctx, "caffeine before bedtime")
	require.NoError(t, err)
	reply := ws.Next(t, 60*time.Second, testenv.IsReply)
	require.Contains(t, reply.Text, "espresso")

	rest.setFrozen(true)
	rpc.setFrozen(true)
	defer func() { rest.setFrozen(false); rpc.setFrozen(false) }()
	id, err := ws.Say(ctx, "how much caffeine is too much")
	require.NoError(t, err)
	ws.Next(t, 30*time.Second, func(f testenv.Frame) bool { return f.Type == "ack" && f.ID == id })
	reply = ws.Next(t, 90*time.Second, testenv.IsReply)
	require.Equal(t, generate.SearchUnavailableAnswer, reply.Text, "the reply says the search was unavailable")
	require.Empty(t, reply.Sources)

	// Stored once, and nothing of this creator was dead-lettered.
	var msgs struct {
		Messages []struct {
			Role string `json:"role"`
		} `json:"messages"`
	}
	st, raw, err := c.Do(ctx, "GET", "/api/v1/conversations/"+sess.ConversationID.String()+"/messages", cr.AccessToken, nil, &msgs)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, st, string(raw))
	assistants := 0
	for _, m := range msgs.Messages {
		if m.Role == "assistant" {
			assistants++
		}
	}

	require.Equal(t, 2, assistants, "one reply per message: %s", raw)
	b := testenv.BusAt(t, h.natsURL)
	for _, stream := range []string{"CW_INBOUND", "CW_GENERATE"} {
		require.Empty(t, deadLettered(t, b, stream, cr.ID), "dead-lettered from %s", stream)
	}
}

// natsServer is a dedicated embedded NATS server a test can stop and start again on the same
// port and store.
type natsServer struct {
	t    *testing.T
	dir  string
	port int
	ns   *server.Server
}

func startNATS(t *testing.T) *natsServer {
	t.Helper()
	port, err := localdeps.FreePort()
	require.NoError(t, err)
	n := &natsServer{t: t, dir: t.TempDir(), port: port}
	n.start()
	t.Cleanup(n.stop)
	return n
}

func (n *natsServer) start() {
	n.t.Helper()
	ns, err := bus.StartEmbedded(bus.EmbeddedOptions{StoreDir: n.dir, Port: n.port})
	require.NoError(n.t, err)
	n.ns = ns
}

func (n *natsServer) stop() {
	if n.ns != nil {
		n.ns.Shutdown()
		n.ns.WaitForShutdown()
		n.ns = nil
	}
}

func (n *natsServer) URL() string { return n.ns.ClientURL() }

// TestWidgetResendAfterNATSOutage (issue 9, defect 14): a widget message sent while NATS is down
// is not confirmed; the frame says so truthfully (code "retry": resend with the same id), and
// after NATS is back the message resent with its id is acked and answered exactly once,
// although the first publish, buffered by the client, reached JetStream too.
func TestWidgetResendAfterNATSOutage(t *testing.T) {
	t.Parallel()
	h := newHarness(t, ollamatest.Options{ChatModels: []string{}, EmbedModels: []string{}})
	n := startNATS(t)
	cfg := h.config()
	cfg.NATSURL = n.URL()
	a := h.start(cfg)
	c := testenv.NewClient(a.URL)
	cr := c.Register(t)
	ctx := context.Background()
	sess := c.StartWidget(t, cr.WidgetKey, "anon-"+uuid.NewString())
	ws, _, err := c.DialWidget(ctx, sess, 0, nil)
	require.NoError(t, err)
	defer ws.CloseNow()
	_, err = ws.Say(ctx, "first question")
	require.NoError(t, err)
	ws.Next(t, 60*time.Second, testenv.IsReply)

	n.stop()
	id := uuid.NewString()
	frame := map[string]string{"type": "message", "id": id, "text": "asked while NATS is down"}
	require.NoError(t, ws.SendJSON(ctx, frame))
	f := ws.Next(t, 60*time.Second, func(f testenv.Frame) bool { return f.ID == id })
	require.Equal(t, "error", f.Type, "%+v", f)
	require.Equal(t, "retry", f.Code, "a publish that was not confirmed asks for a resend, not 'not accepted': %+v", f)

	n.start()
	// Resend with the same id until the gateway confirms it (the first resends may still find
	// the connection reconnecting).
	acked := false
	for deadline := time.Now().Add(90 * time.Second); !acked; {
		require.True(t, time.Now().Before(deadline), "the resent message was never acked")
		require.NoError(t, ws.SendJSON(ctx, frame))
		f := ws.Next(t, 60*time.Second, func(f testenv.Frame) bool { return f.ID == id })
		switch {
		case f.Type == "ack":
			acked = true
		case f.Type == "error" && f.Code == "retry":
			time.Sleep(500 * time.Millisecond)
		default:
			t.Fatalf("unexpected frame for the resent message: %+v", f)
		}
	}
	reply := ws.Next(t, 60*time.Second, testenv.IsReply)
	t.Logf("reply to the resent message: %q", reply.Text)

	// One more turn: when it is answered, everything before it has been handled.
	_, err = ws.Say(ctx, "third question")
	require.NoError(t, err)
	last := ws.Next(t, 60*time.Second, testenv.IsReply)
	require.NotEqual(t, reply.ID, last.ID)

	var msgs struct {
		Messages []struct {
			Role string `json:"role"`
			Text string `json:"text"`
		} `json:"messages"`
	}
	st, raw, err := c.Do(ctx, "GET", "/api/v1/conversations/"+sess.ConversationID.String()+"/messages", cr.AccessToken, nil, &msgs)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, st, string(raw))
	users, assistants := 0, 0
	for _, m := range msgs.Messages {
		switch m.Role {
		case "user":
			users++
		case "assistant":
			assistants++
		}
	}
	require.Equal(t, 3, users, "each message stored once: %s", raw)
	require.Equal(t, 3, assistants, "each message answered once: %s", raw)
}
