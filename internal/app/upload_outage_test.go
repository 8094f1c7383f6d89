package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/llm/ollamatest"
	"github.com/coachwire/coachwire/internal/testenv"
)

// outageProxy is a TCP proxy in front of a real server that can fail in the two ways a server
// that dies looks from a client: lost (every byte on the open connections is dropped, as when
// the server was killed with a request in flight and the client has not noticed yet) or down
// (open connections are closed and new ones are closed at once). restore closes what is open so
// clients reconnect to the real server.
type outageProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	state string // "", "lost" or "down"
	gen   int
	conns []net.Conn
}

func newOutageProxy(t *testing.T, target string) *outageProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &outageProxy{ln: ln, target: target}
	go p.serve()
	t.Cleanup(func() {
		_ = ln.Close()
		p.closeConns()
	})
	return p
}

func (p *outageProxy) Addr() string { return p.ln.Addr().String() }

func (p *outageProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		state, gen := p.state, p.gen
		p.mu.Unlock()
		if state != "" {
			_ = c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go p.pipe(up, c, gen)
		go p.pipe(c, up, gen)
	}
}

func (p *outageProxy) pipe(dst, src net.Conn, gen int) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			drop := p.state != "" || p.gen != gen
			p.mu.Unlock()
			if !drop {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *outageProxy) closeConns() {
	p.mu.Lock()
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

func (p *outageProxy) set(state string) {
	p.mu.Lock()
	p.state = state
	p.gen++
	p.mu.Unlock()
	if state != "lost" {
		p.closeConns()
	}
}

// TestUploadDuringOutage (issue 9, chaos follow-up): a document upload (JSON text, multipart
// file, URL import) while NATS or PostgreSQL is down is answered 503 with Retry-After and the
// JSON error shape, never 500; and an upload whose row was stored but whose ingest event was
// lost (NATS died with the publish in flight) is indexed once the client's retry is acked — the
// retry's "duplicate" answer re-publishes the event instead of leaving the document queued.
func TestUploadDuringOutage(t *testing.T) {
	t.Parallel()
	h := newHarness(t, ollamatest.Options{})
	nu, err := url.Parse(h.natsURL)
	require.NoError(t, err)
	natsP := newOutageProxy(t, nu.Host)
	pu, err := url.Parse(h.db.AppURL)
	require.NoError(t, err)
	pgP := newOutageProxy(t, pu.Host)
	pu.Host = pgP.Addr()

	pages := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "Imported page %s\n\nWalk for ten minutes after lunch; it steadies the afternoon.\n", r.URL.Path)
	}))
	t.Cleanup(pages.Close)

	cfg := h.config()
	cfg.NATSURL = "nats://" + natsP.Addr()
	cfg.DatabaseURL = pu.String()
	cfg.Knowledge.ImportAllowPrivate = true
	a := h.start(cfg)
	c := testenv.NewClient(a.URL)
	cr := c.Register(t)

	// post sends one upload of kind with content n (the same n is the same document).
	post := func(kind string, n int) (int, http.Header, []byte) {
		var (
			body io.Reader
			ct   string
			path = "/api/v1/documents"
		)
		switch kind {
		case "json":
			b, _ := json.Marshal(map[string]string{"title": fmt.Sprintf("Notes %d", n), "format": "markdown",
				"content": fmt.Sprintf("# Evening %d\n\nDim the lights an hour before bed.\n", n)})
			body, ct = bytes.NewReader(b), "application/json"
		case "file":
			var buf bytes.Buffer
			mw := multipart.NewWriter(&buf)
			fw, _ := mw.CreateFormFile("file", fmt.Sprintf("plan-%d.txt", n))
			fmt.Fprintf(fw, "Plan %d\n\nKeep naps under twenty minutes and before 3 pm.\n", n)
			_ = mw.Close()
			body, ct = &buf, mw.FormDataContentType()
		case "url":
			b, _ := json.Marshal(map[string]string{"url": fmt.Sprintf("%s/page-%d.txt", pages.URL, n)})
			body, ct, path = bytes.NewReader(b), "application/json", "/api/v1/documents/import"
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, "POST", a.URL+path, body)
		require.NoError(t, err)
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Authorization", "Bearer "+cr.AccessToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, nil, []byte(err.Error())
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, raw
	}
	// refused checks an answer during an outage: 503, Retry-After, {"error":{"code":"unavailable"}}.
	refused := func(what string, st int, hdr http.Header, raw []byte) {
		t.Helper()
		if !assert.Equal(t, http.StatusServiceUnavailable, st, "%s: %s", what, raw) {
			return
		}
		assert.NotEmpty(t, hdr.Get("Retry-After"), "%s: Retry-After", what)
		var e struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		assert.NoError(t, json.Unmarshal(raw, &e), "%s: %s", what, raw)
		assert.Equal(t, "unavailable", e.Error.Code, "%s: %s", what, raw)
	}
	// accepted retries an upload the way a client does until it is acknowledged (2xx).
	accepted := func(kind string, n int) uuid.UUID {
		t.Helper()
		var last string
		for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
			st, _, raw := post(kind, n)
			last = fmt.Sprintf("%d %s", st, raw)
			if st == http.StatusAccepted || st == http.StatusOK {
				var d struct {
					ID uuid.UUID `json:"id"`
				}
				require.NoError(t, json.Unmarshal(raw, &d))
				return d.ID
			}
		}
		t.Fatalf("%s upload %d never acknowledged; last answer %s", kind, n, last)
		return uuid.Nil
	}
	indexed := func(ids map[string]uuid.UUID) {
		t.Helper()
		for kind, id := range ids {
			var status string
			testenv.Eventually(t, 90*time.Second, func() bool {
				var d struct {
					Status string `json:"status"`
				}
				if st, _, err := c.Do(context.Background(), "GET", "/api/v1/documents/"+id.String(), cr.AccessToken, nil, &d); err != nil || st != http.StatusOK {
					return false
				}
				status = d.Status
				return status == "indexed" || status == "failed"
			}, "%s document %s acknowledged after the outage to be indexed", kind, id)
			require.Equal(t, "indexed", status, kind)
		}
	}
	kinds := []string{"json", "file", "url"}

	t.Run("NATS", func(t *testing.T) {
		const page = 1
		natsP.set("lost") // the rows are stored, the ingest events are lost on the way
		for _, k := range kinds {
			st, hdr, raw := post(k, page)
			refused("NATS down: "+k, st, hdr, raw)
		}
		natsP.set("")
		ids := map[string]uuid.UUID{}
		for _, k := range kinds {
			ids[k] = accepted(k, page)
		}
		indexed(ids)
	})

	t.Run("PostgreSQL", func(t *testing.T) {
		const page = 2
		pgP.set("down")
		for _, k := range kinds {
			st, hdr, raw := post(k, page)
			refused("PostgreSQL down: "+k, st, hdr, raw)
		}
		pgP.set("")
		ids := map[string]uuid.UUID{}
		for _, k := range kinds {
			ids[k] = accepted(k, page)
		}
		indexed(ids)
	})
}
