package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
)

// Client speaks coachwire's public HTTP and WebSocket API the way a creator's tools and the
// widget do. Tests and the load driver use it; it knows nothing of the server's internals.
type Client struct {
	Base string
	HTTP *http.Client
}

// NewClient returns a client for the gateway at base.
func NewClient(base string) *Client {
	return &Client{Base: strings.TrimRight(base, "/"), HTTP: &http.Client{Timeout: 30 * time.Second}}
}

// Do sends a JSON request and decodes a JSON answer into out (when non-nil and 2xx).
func (c *Client) Do(ctx context.Context, method, path, token string, body, out any, header ...string) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, raw, fmt.Errorf("decode %s %s: %w: %s", method, path, err, raw)
		}
	}
	return resp.StatusCode, raw, nil
}

// Creator is a registered creator's session.
type Creator struct {
	ID          uuid.UUID
	Email       string
	AccessToken string
	WidgetKey   string
}

// Register creates a creator with a unique email and returns its session.
func (c *Client) Register(tb testing.TB) Creator {
	tb.Helper()
	email := "coach-" + uuid.NewString()[:12] + "@example.com"
	var out struct {
		AccessToken string `json:"access_token"`
		Creator     struct {
			ID        uuid.UUID `json:"id"`
			WidgetKey string    `json:"widget_key"`
		} `json:"creator"`
	}
	st, raw, err := c.Do(context.Background(), "POST", "/api/v1/auth/register", "", map[string]string{"email": email, "password": "correct horse battery", "name": "Coach"}, &out)
	if err != nil || st != http.StatusCreated {
		tb.Fatalf("register: status %d err %v: %s", st, err, raw)
	}
	return Creator{ID: out.Creator.ID, Email: email, AccessToken: out.AccessToken, WidgetKey: out.Creator.WidgetKey}
}

// SetWidget changes a creator's persona and allowed origins (PATCH: the name and the identity
// setting keep their value).
func (c *Client) SetWidget(tb testing.TB, cr Creator, persona string, origins ...string) {
	tb.Helper()
	if origins == nil {
		origins = []string{}
	}
	st, raw, err := c.Do(context.Background(), "PATCH", "/api/v1/widget/settings", cr.AccessToken, map[string]any{"persona": persona, "allowed_origins": origins}, nil)
	if err != nil || st != http.StatusOK {
		tb.Fatalf("widget settings: status %d err %v: %s", st, err, raw)
	}
}

// AddDocument adds a document and waits until it is indexed.
func (c *Client) AddDocument(tb testing.TB, cr Creator, title, format, content string) uuid.UUID {
	tb.Helper()
	var doc struct {
		ID uuid.UUID `json:"id"`
	}
	st, raw, err := c.Do(context.Background(), "POST", "/api/v1/documents", cr.AccessToken, map[string]string{"title": title, "format": format, "content": content}, &doc)
	if err != nil || st != http.StatusAccepted {
		tb.Fatalf("add document: status %d err %v: %s", st, err, raw)
	}
	var status, errText string
	Eventually(tb, 60*time.Second, func() bool {
		var d struct {
			Status string `json:"status"`
			Error  string `json:"error"`
		}
		if _, _, err := c.Do(context.Background(), "GET", "/api/v1/documents/"+doc.ID.String(), cr.AccessToken, nil, &d); err != nil {
			return false
		}
		status, errText = d.Status, d.Error
		return d.Status == "indexed" || d.Status == "failed"
	}, "document %s to be indexed", doc.ID)
	if status != "indexed" {
		tb.Fatalf("document %s: status %s: %s", doc.ID, status, errText)
	}
	return doc.ID
}

// WidgetSession is an end user's widget session.
type WidgetSession struct {
	Token          string    `json:"token"`
	ConversationID uuid.UUID `json:"conversation_id"`
	EndUserID      uuid.UUID `json:"end_user_id"`
}

// StartWidget opens a widget session for an anonymous end user.
func (c *Client) StartWidget(tb testing.TB, widgetKey, anonID string) WidgetSession {
	tb.Helper()
	var s WidgetSession
	st, raw, err := c.Do(context.Background(), "POST", "/api/v1/widget/session", "", map[string]string{"widget_key": widgetKey, "anon_id": anonID}, &s)
	if err != nil || st != http.StatusOK {
		tb.Fatalf("widget session: status %d err %v: %s", st, err, raw)
	}
	return s
}

// Frame is a server frame of the widget protocol.
type Frame struct {
	Type    string `json:"type"`
	ID      string `json:"id"`
	Seq     int64  `json:"seq"`
	Turn    string `json:"turn"`
	Text    string `json:"text"`
	Reset   bool   `json:"reset"`
	Role    string `json:"role"`
	ReplyTo string `json:"reply_to"`
	// ClientID is the widget's own id of a replayed end-user message.
	ClientID string `json:"client_id"`
	Code     string `json:"code"`
	Message  string `json:"message"`
	Sources  []struct {
		DocumentID uuid.UUID `json:"document_id"`
		Title      string    `json:"title"`
		Heading    string    `json:"heading"`
		Text       string    `json:"text"`
	} `json:"sources"`
}

// WidgetConn is a widget's socket.
type WidgetConn struct {
	*websocket.Conn
	Frames chan Frame
	// ReadErr is the error that ended the read loop; valid once Frames is closed.
	ReadErr error
}

// DialWidget opens the widget socket with the session token as subprotocol, then resumes
// after lastSeq. Frames are read in the background into Frames.
func (c *Client) DialWidget(ctx context.Context, s WidgetSession, lastSeq int64, header http.Header) (*WidgetConn, *http.Response, error) {
	url := "ws" + strings.TrimPrefix(c.Base, "http") + "/api/v1/widget/ws"
	conn, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{
		Subprotocols: []string{"coachwire.v1", "bearer." + s.Token},
		HTTPHeader:   header,
	})
	if err != nil {
		return nil, resp, err
	}
	wc := &WidgetConn{Conn: conn, Frames: make(chan Frame, 1024)}
	go func() {
		defer close(wc.Frames)
		for {
			_, b, err := conn.Read(context.Background())
			if err != nil {
				wc.ReadErr = err
				return
			}
			var f Frame
			if json.Unmarshal(b, &f) == nil {
				wc.Frames <- f
			}
		}
	}()
	if err := wc.SendJSON(ctx, map[string]any{"type": "resume", "last_seq": lastSeq}); err != nil {
		return nil, resp, err
	}
	return wc, resp, nil
}

// SendJSON writes one frame.
func (w *WidgetConn) SendJSON(ctx context.Context, v any) error {
	b, _ := json.Marshal(v)
	return w.Write(ctx, websocket.MessageText, b)
}

// Say sends a user message and returns its client id.
func (w *WidgetConn) Say(ctx context.Context, text string) (string, error) {
	id := uuid.NewString()
	return id, w.SendJSON(ctx, map[string]string{"type": "message", "id": id, "text": text})
}

// Next returns the next frame matching keep, or fails after timeout.
func (w *WidgetConn) Next(tb testing.TB, timeout time.Duration, keep func(Frame) bool) Frame {
	tb.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case f, ok := <-w.Frames:
			if !ok {
				tb.Fatalf("widget socket closed while waiting for a frame: %v", w.ReadErr)
			}
			if keep(f) {
				return f
			}
		case <-deadline:
			tb.Fatalf("no matching widget frame within %s", timeout)
		}
	}
}

// IsReply matches final assistant messages.
func IsReply(f Frame) bool { return f.Type == "message" && f.Role == "assistant" }
