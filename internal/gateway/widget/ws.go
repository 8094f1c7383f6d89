package widget

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/time/rate"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/auth"
	"github.com/coachwire/coachwire/internal/bus"
	"github.com/coachwire/coachwire/internal/conversation"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/gateway/httpx"
	"github.com/coachwire/coachwire/internal/telemetry"
	textrule "github.com/coachwire/coachwire/internal/text"
)

// Widget socket limits.
const (
	wsSubprotocol  = "coachwire.v1"
	wsBearerPrefix = "bearer."
	wsMaxFrame     = 16 << 10
	wsMaxText      = 4000
	wsWriteTimeout = 10 * time.Second
	// wsSendQueue frames wait for one socket's writer: enough for a burst of deltas; a socket
	// that falls further behind has the rest of the turn's deltas dropped (the final message
	// replaces the draft). Small, because every idle socket holds one.
	wsSendQueue = 32
	// wsInbox frames may wait to be handled; a client that sends more is not a widget.
	wsInbox       = 64
	wsReplayLimit = 200
)

// clientFrame is anything a widget may send.
type clientFrame struct {
	Type    string `json:"type"`
	ID      string `json:"id,omitempty"`
	Text    string `json:"text,omitempty"`
	LastSeq int64  `json:"last_seq,omitempty"`
	// Seq of a seen frame: the highest seq the widget shows.
	Seq int64 `json:"seq,omitempty"`
}

// serverFrame is anything the gateway sends to a widget.
type serverFrame struct {
	Type    string           `json:"type"`
	ID      string           `json:"id,omitempty"`
	Seq     int64            `json:"seq,omitempty"`
	Turn    string           `json:"turn,omitempty"`
	Text    string           `json:"text,omitempty"`
	Reset   bool             `json:"reset,omitempty"`
	Role    string           `json:"role,omitempty"`
	Sources []events.Passage `json:"sources,omitempty"`
	ReplyTo string           `json:"reply_to,omitempty"`
	// ClientID is the id the widget gave an end user's message (replayed history): the tab
	// that sent it matches its own copy.
	ClientID  string     `json:"client_id,omitempty"`
	Code      string     `json:"code,omitempty"`
	Message   string     `json:"message,omitempty"`
	CreatedAt *time.Time `json:"created_at,omitempty"`

	// receipt is the message whose delivered receipt is published once this frame is written
	// to the socket; zero for none.
	receipt uuid.UUID
}

// tokenFromSubprotocols finds the session token the widget sends as "bearer.<jwt>" in
// Sec-WebSocket-Protocol: it never travels in the URL, so it never lands in access logs.
func tokenFromSubprotocols(r *http.Request) string {
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(h, ",") {
			if p = strings.TrimSpace(p); strings.HasPrefix(p, wsBearerPrefix) {
				return strings.TrimPrefix(p, wsBearerPrefix)
			}
		}
	}
	return ""
}

// Socket upgrades GET /api/v1/widget/ws to the widget WebSocket (subprotocol coachwire.v1)
// for the session token the widget sends as subprotocol bearer.<token>.
func (s *Server) Socket(w http.ResponseWriter, r *http.Request) error {
	tok := tokenFromSubprotocols(r)
	if tok == "" {
		return httpx.Unauthorized("missing session token (send it as WebSocket subprotocol bearer.<token>)")
	}
	claims, err := s.Auth.VerifyWidget(tok)
	if err != nil {
		return httpx.Unauthorized("invalid session token")
	}
	ctx := r.Context()
	wc, err := s.widgetCreator(ctx, claims.CreatorID)
	if err != nil {
		return err
	}
	if !s.originAllowed(r.Header.Get("Origin"), wc, r) {
		return httpx.Forbidden("origin not allowed for this widget")
	}
	release, err := s.acquireSocket(w, r, claims)
	if err != nil {
		return err
	}
	c, err := websocket.Accept(leanHijack{w}, r, &websocket.AcceptOptions{
		Subprotocols:    []string{wsSubprotocol},
		OriginPatterns:  originPatterns(wc.AllowedOrigins),
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		s.Log.Info("widget socket refused", "creator_id", claims.CreatorID, "err", err)
		release()
		return nil // Accept has written the response
	}
	c.SetReadLimit(wsMaxFrame)
	sess := &wsSession{
		srv:       s,
		conn:      c,
		claims:    claims,
		limit:     s.socketMessageLimiter(),
		seenLimit: rate.NewLimiter(rate.Every(wsSeenEvery), wsSeenBurst),
		log:       s.Log.With("creator_id", claims.CreatorID, "conversation_id", claims.ConversationID),
	}
	sess.resumedFrom.Store(-1)
	// The connection is hijacked: the session runs on a goroutine of its own and the HTTP
	// handler returns, so the server's connection goroutine (and the stack the handshake grew)
	// is not kept for the socket's lifetime.
	go func() {
		defer release()
		sess.run(context.WithoutCancel(ctx))
	}()
	return nil
}

// ShutdownReason is the reason of the close frame (status 1001, going away) every widget socket
// gets when its gateway shuts down.
const ShutdownReason = "server shutting down: reconnect"

type wsSession struct {
	srv    *Server
	conn   *websocket.Conn
	claims auth.WidgetClaims
	limit  *rate.Limiter
	log    *slog.Logger
	// laggingTurn is a turn whose deltas are being dropped (only touched by deliverLive, which
	// the hub calls from one goroutine).
	laggingTurn uuid.UUID
	ctx         context.Context
	cancel      func()
	// mu guards the live frames waiting for the writer and whether a writer runs, and the
	// frames read but not handled yet and whether a handler runs.
	mu       sync.Mutex
	queue    []*serverFrame
	writing  bool
	inbox    [][]byte
	handling bool
	// maxWritten is the highest seq of a message frame written to the socket; seenSeq the
	// highest seq reported seen (read loop only), seenLimit bounds them.
	maxWritten atomic.Int64
	// resumedFrom is the highest last_seq the widget resumed from (it has everything up to
	// it); -1 until its first resume.
	resumedFrom atomic.Int64
	seenSeq     int64
	seenLimit   *rate.Limiter
	// unconfirmed are message ids this socket counted against the rate limits but could not
	// confirm (a `retry` frame went out): their resends are not counted again. Made on the
	// first unconfirmed publish (an idle socket holds none); only the frame handler touches it.
	unconfirmed map[uuid.UUID]struct{}
}

// wsMaxUnconfirmed bounds the ids a socket remembers as counted but unconfirmed.
const wsMaxUnconfirmed = 32

func (ss *wsSession) run(parent context.Context) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	ss.ctx, ss.cancel = ctx, cancel
	// On shutdown the socket gets a close frame, 1001 going away (without one the client sees
	// 1006, an abnormal closure); the widget reconnects, to another replica, and resumes.
	goingAway := func() {
		_ = ss.conn.Close(websocket.StatusGoingAway, ShutdownReason)
		cancel()
	}
	unsubscribe, err := ss.srv.hub.join(ctx, ss.claims.CreatorID, ss.claims.ConversationID, ss.deliverLive, goingAway, ss.catchUp)
	if err != nil {
		ss.log.Error("widget socket: subscribe live", "err", err)
		ss.conn.Close(websocket.StatusInternalError, "try again")
		return
	}
	defer unsubscribe()
	ss.readLoop(ctx)
	cancel()
}

// An idle socket costs one goroutine, the one reading it (which also writes its own answers:
// acks, errors, replayed history). Live frames come from the hub's one dispatcher, which must
// never wait on a socket: they are queued here and written by a writer goroutine that exists
// only while the queue has frames (coder/websocket serialises concurrent writes).

// deliverLive queues a live frame from the hub. Deltas are best effort: when the socket cannot
// keep up, the rest of that turn's deltas are dropped and the final message replaces the draft.
// A final message that finds the queue full closes the socket (the client is too slow); the
// widget replays it on reconnect.
func (ss *wsSession) deliverLive(l events.Live) {
	f := &serverFrame{Type: l.Kind}
	switch l.Kind {
	case "delta":
		if l.Turn == ss.laggingTurn && !l.Reset {
			return
		}
		ss.laggingTurn = uuid.Nil
		f.Turn, f.Text, f.Reset = l.Turn.String(), l.Text, l.Reset
		if !ss.enqueue(f) {
			ss.laggingTurn = l.Turn
		}
		return
	case "message":
		f.ID, f.Seq, f.Role, f.Text, f.Sources = l.MessageID.String(), l.Seq, l.Role, l.Text, l.Sources
		if l.ReplyTo != uuid.Nil {
			f.ReplyTo = l.ReplyTo.String()
		}
		if l.Role == "assistant" || l.Role == "creator" {
			f.receipt = l.MessageID
		}
	case "typing":
	default:
		return
	}
	if !ss.enqueue(f) {
		ss.log.Info("widget socket too slow: closed", "queued", wsSendQueue)
		// Not here: the close handshake waits for the peer, and the hub's dispatcher must not.
		go ss.conn.Close(websocket.StatusTryAgainLater, "client too slow")
	}
}

// enqueue adds a live frame to the queue and starts the writer if none runs; false when the
// queue is full.
func (ss *wsSession) enqueue(f *serverFrame) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if len(ss.queue) >= wsSendQueue {
		return false
	}
	ss.queue = append(ss.queue, f)
	if !ss.writing {
		ss.writing = true
		go ss.drain()
	}
	return true
}

// drain writes queued live frames until the queue is empty, then ends.
func (ss *wsSession) drain() {
	for {
		ss.mu.Lock()
		if len(ss.queue) == 0 || ss.ctx.Err() != nil {
			ss.queue, ss.writing = nil, false
			ss.mu.Unlock()
			return
		}
		f := ss.queue[0]
		ss.queue[0] = nil
		ss.queue = ss.queue[1:]
		ss.mu.Unlock()
		if err := ss.write(ss.ctx, f); err != nil {
			ss.cancel()
		}
	}
}

// send writes a frame of the reading goroutine's own (an answer) at once.
func (ss *wsSession) send(ctx context.Context, f serverFrame) {
	if err := ss.write(ctx, &f); err != nil {
		ss.cancel()
	}
}

func (ss *wsSession) write(ctx context.Context, f *serverFrame) error {
	b, _ := json.Marshal(f)
	wctx, cancel := context.WithTimeout(ctx, wsWriteTimeout)
	defer cancel()
	if err := ss.conn.Write(wctx, websocket.MessageText, b); err != nil {
		return err
	}
	if f.Type == "message" {
		ss.written(*f)
	}
	return nil
}

// readLoop only reads: each frame is handed to handleFrames, so the goroutine an idle socket
// keeps has a shallow stack.
func (ss *wsSession) readLoop(ctx context.Context) {
	for {
		typ, b, err := ss.conn.Read(ctx)
		if err != nil {
			var ce websocket.CloseError
			if errors.As(err, &ce) || errors.Is(err, context.Canceled) {
				return
			}
			if websocket.CloseStatus(err) == -1 {
				ss.log.Debug("widget socket closed", "err", err)
			}
			return
		}
		if typ != websocket.MessageText {
			b = nil // answered as a bad frame, in order
		}
		ss.mu.Lock()
		if len(ss.inbox) >= wsInbox {
			ss.mu.Unlock()
			// Far more frames than the rate limits let through: not a widget.
			ss.conn.Close(websocket.StatusPolicyViolation, "too many frames")
			return
		}
		ss.inbox = append(ss.inbox, b)
		if !ss.handling {
			ss.handling = true
			go ss.handleFrames(ctx)
		}
		ss.mu.Unlock()
	}
}

// handleFrames handles the frames read so far, in order, and ends when there are none left.
func (ss *wsSession) handleFrames(ctx context.Context) {
	for {
		ss.mu.Lock()
		if len(ss.inbox) == 0 || ctx.Err() != nil {
			ss.inbox, ss.handling = nil, false
			ss.mu.Unlock()
			return
		}
		b := ss.inbox[0]
		ss.inbox = ss.inbox[1:]
		ss.mu.Unlock()
		ss.handleFrame(ctx, b)
	}
}

func (ss *wsSession) handleFrame(ctx context.Context, b []byte) {
	if b == nil {
		ss.sendError(ctx, "bad_frame", "frames must be JSON text")
		return
	}
	if !utf8.Valid(b) {
		// RFC 6455 §8.1: a text frame that is not UTF-8 fails the connection with 1007
		// (encoding/json would otherwise store U+FFFD in place of the bytes).
		ss.log.Info("widget socket: text frame is not UTF-8: closed")
		ss.conn.Close(websocket.StatusInvalidFramePayloadData, "text frame is not valid UTF-8")
		ss.cancel()
		return
	}
	var f clientFrame
	if err := json.Unmarshal(b, &f); err != nil {
		ss.log.Info("widget socket: malformed frame", "err", err)
		ss.sendError(ctx, "bad_frame", "malformed JSON frame")
		return
	}
	switch f.Type {
	case "resume":
		ss.replay(ctx, f.LastSeq)
	case "message":
		ss.receive(ctx, f)
	case "seen":
		ss.seen(ctx, f.Seq)
	case "ping":
		ss.send(ctx, serverFrame{Type: "pong"})
	default:
		ss.sendError(ctx, "bad_frame", "unknown frame type")
	}
}

func (ss *wsSession) sendError(ctx context.Context, code, msg string) {
	ss.send(ctx, serverFrame{Type: "error", Code: code, Message: msg})
}

// replay sends every message after lastSeq, the end user's own included (a new tab or device
// shows the whole conversation), so a reconnecting widget misses nothing; the widget drops what
// it already has by seq, and matches its own messages by client_id.
func (ss *wsSession) replay(ctx context.Context, lastSeq int64) {
	for cur := ss.resumedFrom.Load(); lastSeq > cur; cur = ss.resumedFrom.Load() {
		if ss.resumedFrom.CompareAndSwap(cur, lastSeq) {
			break
		}
	}
	ss.replayAfter(ctx, lastSeq, true)
}

// catchUp writes the messages after the last one this socket has (resumed from or written
// since): the hub calls it after a NATS reconnect, when live frames may have been dropped. The
// widget drops what it already has by seq. A socket that never resumed asked for no history.
func (ss *wsSession) catchUp() {
	from := ss.resumedFrom.Load()
	if from < 0 || ss.ctx.Err() != nil {
		return
	}
	ss.replayAfter(ss.ctx, max(from, ss.maxWritten.Load()), false)
}

// replayAfter writes every message after lastSeq; answer adds the frames a resume is answered
// with (ready, or the unavailable error that makes the widget resume again).
func (ss *wsSession) replayAfter(ctx context.Context, lastSeq int64, answer bool) {
	var msgs []db.Message
	err := ss.srv.Store.InTenant(ctx, ss.claims.CreatorID, func(q *db.Queries) error {
		var err error
		msgs, err = q.MessagesAfter(ctx, db.MessagesAfterParams{ConversationID: ss.claims.ConversationID, Seq: lastSeq, Limit: wsReplayLimit})
		return err
	})
	if err != nil {
		ss.log.Error("widget socket: replay", "err", err)
		if answer {
			ss.sendError(ctx, "unavailable", "could not load history, retrying later")
		}
		return
	}
	for _, m := range msgs {
		if m.Role == "system" {
			continue
		}
		l, err := conversation.LiveMessage(m)
		if err != nil {
			ss.log.Error("widget socket: replay", "message_id", m.ID, "err", err)
		}
		f := serverFrame{Type: "message", ID: m.ID.String(), Seq: m.Seq, Role: m.Role, Text: m.Body, Sources: l.Sources, CreatedAt: &m.CreatedAt}
		if l.ReplyTo != uuid.Nil {
			f.ReplyTo = l.ReplyTo.String()
		}
		if m.Role == "user" {
			if m.ProviderMessageID != nil {
				f.ClientID = *m.ProviderMessageID
			}
		} else if m.Status != "delivered" && m.Status != "read" {
			f.receipt = m.ID
		}
		ss.send(ctx, f)
	}
	if answer {
		ss.send(ctx, serverFrame{Type: "ready"})
	}
}

// receive validates an end user's message and publishes it; the ack tells the widget it is
// durable. The client's id is the deduplication key: a re-send after a reconnect is dropped by
// JetStream and, past its window, by the deterministic message id in Postgres.
func (ss *wsSession) receive(ctx context.Context, f clientFrame) {
	// The root of the turn's trace (internal/telemetry; a no-op span when tracing is off).
	ctx, span := telemetry.Tracer().Start(ctx, "widget message", trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("coachwire.creator_id", ss.claims.CreatorID.String()),
			attribute.String("coachwire.conversation_id", ss.claims.ConversationID.String())))
	defer span.End()
	id, err := uuid.Parse(f.ID)
	if err != nil {
		ss.sendError(ctx, "bad_frame", "message id must be a UUID")
		return
	}
	text := strings.TrimSpace(f.Text)
	if err := textrule.Check(text); err != nil {
		// Refused before the ack: nothing the gateway acknowledges can fail later on its content.
		ss.send(ctx, serverFrame{Type: "error", ID: f.ID, Code: "bad_message", Message: "message text: " + err.Error()})
		return
	}
	if text == "" || utf8.RuneCountInString(text) > wsMaxText {
		ss.send(ctx, serverFrame{Type: "error", ID: f.ID, Code: "bad_message", Message: "message must be 1 to 4000 characters of text"})
		return
	}
	if _, counted := ss.unconfirmed[id]; !counted && (!ss.limit.Allow() || !ss.srv.allowMessage(ctx, ss.claims)) {
		ss.send(ctx, serverFrame{Type: "error", ID: f.ID, Code: "rate_limited", Message: "too many messages, slow down"})
		return
	}
	c := ss.claims
	ev := widgetMessage(c, id, text, ss.srv.Now())
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	// The message id deduplicates per channel: "widget:<id>" keeps the widget's keys as they were.
	if err := bus.PublishEvent(pctx, ss.srv.Bus, events.InboundSubject(c.CreatorID, claimsChannel(c)), claimsChannel(c)+":"+id.String(), ev); err != nil {
		// Not confirmed is not refused: JetStream may have stored it (a publish buffered while
		// NATS reconnects is sent later). The widget resends it with the same id, which the
		// stream's deduplication (and the deterministic message id) make safe.
		ss.log.WarnContext(ctx, "widget message not confirmed: asked the widget to resend", "message", id, "correlation_id", ev.CorrelationID, "err", err)
		if ss.unconfirmed == nil {
			ss.unconfirmed = map[uuid.UUID]struct{}{}
		}
		if len(ss.unconfirmed) < wsMaxUnconfirmed {
			ss.unconfirmed[id] = struct{}{} // its resend is the same message: not counted again
		}
		ss.send(ctx, serverFrame{Type: "error", ID: f.ID, Code: "retry", Message: "message not confirmed yet, resend it with the same id"})
		return
	}
	delete(ss.unconfirmed, id)
	ss.log.DebugContext(ctx, "widget message accepted", "correlation_id", ev.CorrelationID, "message", id)
	ss.send(ctx, serverFrame{Type: "ack", ID: f.ID})
}

// claimsChannel is the channel a session token is for: the widget's or the app's (both use this
// socket).
func claimsChannel(c auth.WidgetClaims) string {
	if c.Channel == events.ChannelApp {
		return events.ChannelApp
	}
	return events.ChannelWidget
}

// widgetMessage is an end user's widget (or app) message as the inbound event: the client's
// message id is the provider message id (the turn's idempotency key), the session names the end
// user, the conversation and the channel.
func widgetMessage(c auth.WidgetClaims, id uuid.UUID, text string, now time.Time) events.Message[events.MessageReceived] {
	return events.New(c.CreatorID, events.MessageReceived{
		Channel:           claimsChannel(c),
		ProviderMessageID: id.String(),
		EndUserID:         c.EndUserID,
		ConversationID:    c.ConversationID,
		Text:              text,
		SentAt:            now.UTC().Format(time.RFC3339Nano),
	}, nil, now)
}
