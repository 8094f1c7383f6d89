// Package telegramtest is a loopback Telegram Bot API for tests: sendMessage, sendChatAction,
// sendMessageDraft, setWebhook, deleteWebhook, getMe and getWebhookInfo with their error
// behaviours, rate measurement, and helpers that build webhook updates.
package telegramtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/coachwire/coachwire/internal/channels/telegram"
)

// DefaultToken is the bot token the server accepts unless SetToken changes it.
const DefaultToken = "123456789:TEST-bot-token_0123456789abcdefghij"

// Sent is an accepted sendMessage.
type Sent struct {
	ChatID    int64
	Text      string
	MessageID int64
	At        time.Time
}

// Action is an accepted sendChatAction.
type Action struct {
	ChatID int64
	Action string
	At     time.Time
}

// Draft is an accepted sendMessageDraft.
type Draft struct {
	ChatID  int64
	DraftID int64
	Text    string
	At      time.Time
}

// Request is what a Rule sees: one authenticated, well-formed call.
type Request struct {
	Method string
	ChatID int64
	Text   string
	Action string
}

// Failure is an error answer: {"ok":false,"error_code":Status,"description":...,
// "parameters":{"retry_after":RetryAfter}}.
type Failure struct {
	Status      int
	Description string
	RetryAfter  int
}

// BlockedDescription is Telegram's answer when the user blocked the bot.
const BlockedDescription = "Forbidden: bot was blocked by the user"

// Server is the loopback Bot API. Methods are safe for concurrent use.
type Server struct {
	*httptest.Server

	mu         sync.Mutex
	token      string
	failNext   []Failure
	rule       func(Request) *Failure
	blocked    map[int64]bool
	noDrafts   map[int64]bool
	perChat    int
	overall    int
	sent       []Sent
	actions    []Action
	drafts     []Draft
	chatRecent map[int64][]time.Time
	allRecent  []time.Time
	maxPerChat int
	maxOverall int
	nextMsgID  map[int64]int64
	webhookURL string
	secret     string
	allowed    []string
	maxConns   int
	requests   int
	rejected   int
	notify     chan struct{}
	calls      []Call
	flood      *floodArm
	floodChat  int64 // 0: the whole bot
	floodUntil time.Time
}

// Call is one sendMessage the server answered (accepted or refused).
type Call struct {
	ChatID int64
	At     time.Time
	Status int // HTTP status answered
}

type floodArm struct {
	chat       int64 // 0: any chat
	retryAfter int
}

// New starts a server closed at the end of the test.
func New(tb testing.TB) *Server {
	tb.Helper()
	s := &Server{
		token:      DefaultToken,
		blocked:    map[int64]bool{},
		noDrafts:   map[int64]bool{},
		chatRecent: map[int64][]time.Time{},
		nextMsgID:  map[int64]int64{},
		notify:     make(chan struct{}),
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	tb.Cleanup(s.Close)
	return s
}

// Token returns the accepted bot token.
func (s *Server) Token() string { s.mu.Lock(); defer s.mu.Unlock(); return s.token }

// SetToken changes the accepted bot token.
func (s *Server) SetToken(t string) { s.mu.Lock(); s.token = t; s.mu.Unlock() }

// Client returns a telegram.Client for this server and token.
func (s *Server) Client() *telegram.Client {
	return telegram.NewClient(s.Token(), s.URL, s.Server.Client())
}

// FailNext makes the next n sendMessage calls fail with status (description defaults to the
// Bot API's wording for the status; retryAfter > 0 adds parameters.retry_after).
func (s *Server) FailNext(n int, status int, description string, retryAfter int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failNext = append(s.failNext, Failure{Status: status, Description: description, RetryAfter: retryAfter})
	}
}

// SetRule installs a function consulted for every authenticated, well-formed call before
// FailNext, blocks and rate limits; a non-nil Failure is answered.
func (s *Server) SetRule(fn func(Request) *Failure) { s.mu.Lock(); s.rule = fn; s.mu.Unlock() }

// Block makes every send to chatID fail with 403 "Forbidden: bot was blocked by the user".
func (s *Server) Block(chatID int64) { s.mu.Lock(); s.blocked[chatID] = true; s.mu.Unlock() }

// Unblock undoes Block.
func (s *Server) Unblock(chatID int64) { s.mu.Lock(); delete(s.blocked, chatID); s.mu.Unlock() }

// DisableDrafts makes sendMessageDraft to chatID fail with 400 (drafts are for private chats;
// the server also refuses them for negative, i.e. group, chat ids).
func (s *Server) DisableDrafts(chatID int64) { s.mu.Lock(); s.noDrafts[chatID] = true; s.mu.Unlock() }

// EnforceLimits answers 429 with retry_after 1 when a sendMessage would exceed perChat messages
// to one chat or overall messages in any sliding second (0 = no limit). Telegram's guidance is
// about 1/s per chat (bursts tolerated) and 30/s overall.
func (s *Server) EnforceLimits(perChat, overall int) {
	s.mu.Lock()
	s.perChat, s.overall = perChat, overall
	s.mu.Unlock()
}

// Sent returns accepted sendMessage calls in order.
func (s *Server) Sent() []Sent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Sent(nil), s.sent...)
}

// SentTo returns accepted sendMessage calls to one chat.
func (s *Server) SentTo(chatID int64) []Sent {
	var out []Sent
	for _, m := range s.Sent() {
		if m.ChatID == chatID {
			out = append(out, m)
		}
	}
	return out
}

// Actions returns accepted sendChatAction calls.
func (s *Server) Actions() []Action {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Action(nil), s.actions...)
}

// Drafts returns accepted sendMessageDraft calls.
func (s *Server) Drafts() []Draft {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Draft(nil), s.drafts...)
}

// WaitSent waits until at least n messages were accepted and returns them; it fails the test
// after timeout.
func (s *Server) WaitSent(tb testing.TB, n int, timeout time.Duration) []Sent {
	tb.Helper()
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		if len(s.sent) >= n {
			out := append([]Sent(nil), s.sent...)
			s.mu.Unlock()
			return out
		}
		ch := s.notify
		s.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			tb.Fatalf("telegramtest: %d messages sent, want %d within %s", len(s.Sent()), n, timeout)
			return nil
		}
	}
}

// MaxPerChatPerSecond is the most messages accepted for one chat in any sliding second.
func (s *Server) MaxPerChatPerSecond() int { s.mu.Lock(); defer s.mu.Unlock(); return s.maxPerChat }

// MaxPerSecond is the most messages accepted overall in any sliding second.
func (s *Server) MaxPerSecond() int { s.mu.Lock(); defer s.mu.Unlock(); return s.maxOverall }

// LastWebhook returns the url and secret_token of the last setWebhook ("" after deleteWebhook).
func (s *Server) LastWebhook() (url, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.webhookURL, s.secret
}

// WebhookOptions returns allowed_updates and max_connections of the last setWebhook.
func (s *Server) WebhookOptions() (allowedUpdates []string, maxConnections int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.allowed...), s.maxConns
}

// Requests counts every request received; rejected those answered with an error.
func (s *Server) Requests() (total, rejected int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests, s.rejected
}

// Reset forgets recorded calls, rates and pending failures (not token, blocks or limits).
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent, s.actions, s.drafts, s.failNext, s.calls, s.flood, s.floodUntil = nil, nil, nil, nil, nil, nil, time.Time{}
	s.chatRecent, s.allRecent = map[int64][]time.Time{}, nil
	s.maxPerChat, s.maxOverall, s.requests, s.rejected = 0, 0, 0, 0
}

// params reads a Bot API call's parameters from the query, a JSON body, an urlencoded form or a
// multipart form, like the real server. Values are kept as strings (JSON scalars unquoted,
// arrays/objects as JSON text).
func params(r *http.Request) (map[string]string, error) {
	out := map[string]string{}
	for k, v := range r.URL.Query() {
		out[k] = v[0]
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(body)) == 0 {
			return out, nil
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(body, &m); err != nil {
			return nil, err
		}
		for k, v := range m {
			var s string
			if json.Unmarshal(v, &s) == nil {
				out[k] = s
			} else {
				out[k] = string(v)
			}
		}
	case "application/x-www-form-urlencoded", "multipart/form-data":
		if err := r.ParseMultipartForm(1 << 20); err != nil && err != http.ErrNotMultipart {
			return nil, err
		}
		for k, v := range r.PostForm {
			out[k] = v[0]
		}
	}
	return out, nil
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	token := s.token
	s.mu.Unlock()
	rest, ok := strings.CutPrefix(r.URL.Path, "/bot")
	if !ok {
		s.fail(w, Failure{Status: 404, Description: "Not Found"})
		return
	}
	tok, method, ok := strings.Cut(rest, "/")
	if !ok || tok != token || token == "" {
		s.fail(w, Failure{Status: 401, Description: "Unauthorized"})
		return
	}
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		s.fail(w, Failure{Status: 405, Description: "Method Not Allowed"})
		return
	}
	p, err := params(r)
	if err != nil {
		s.fail(w, Failure{Status: 400, Description: "Bad Request: can't parse request: " + err.Error()})
		return
	}
	switch strings.ToLower(method) {
	case "sendmessage":
		s.sendMessage(w, p)
	case "sendchataction":
		s.sendChatAction(w, p)
	case "sendmessagedraft":
		s.sendMessageDraft(w, p)
	case "setwebhook":
		s.setWebhook(w, p)
	case "deletewebhook":
		s.mu.Lock()
		s.webhookURL, s.secret, s.allowed, s.maxConns = "", "", nil, 0
		s.mu.Unlock()
		ok200(w, true)
	case "getwebhookinfo":
		s.mu.Lock()
		info := map[string]any{"url": s.webhookURL, "has_custom_certificate": false, "pending_update_count": 0,
			"max_connections": s.maxConns, "allowed_updates": s.allowed}
		s.mu.Unlock()
		ok200(w, info)
	case "getme":
		ok200(w, map[string]any{"id": botID(token), "is_bot": true, "first_name": "Test Coach", "username": "test_coach_bot"})
	default:
		s.fail(w, Failure{Status: 404, Description: "Not Found: method not found"})
	}
}

func botID(token string) int64 {
	id, _ := strconv.ParseInt(strings.SplitN(token, ":", 2)[0], 10, 64)
	return id
}

func chatID(p map[string]string) (int64, *Failure) {
	v, ok := p["chat_id"]
	if !ok || v == "" {
		return 0, &Failure{Status: 400, Description: "Bad Request: chat_id is empty"}
	}
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id == 0 {
		return 0, &Failure{Status: 400, Description: "Bad Request: chat not found"}
	}
	return id, nil
}

func checkText(t string) *Failure {
	switch n := utf8.RuneCountInString(strings.TrimSpace(t)); {
	case n == 0:
		return &Failure{Status: 400, Description: "Bad Request: message text is empty"}
	case utf8.RuneCountInString(t) > 4096:
		return &Failure{Status: 400, Description: "Bad Request: message is too long"}
	}
	if !utf8.ValidString(t) {
		return &Failure{Status: 400, Description: "Bad Request: text must be encoded in UTF-8"}
	}
	return nil
}

// check runs the rule and the per-chat block for a call; the lock is not held.
func (s *Server) check(rq Request) *Failure {
	s.mu.Lock()
	rule := s.rule
	blocked := s.blocked[rq.ChatID]
	s.mu.Unlock()
	if rule != nil {
		if f := rule(rq); f != nil {
			return f
		}
	}
	if blocked {
		return &Failure{Status: 403, Description: BlockedDescription}
	}
	return nil
}

// FloodWait arms Telegram's flood control: the next sendMessage to chat (0: any chat) is
// answered 429 with parameters.retry_after, and so is every sendMessage the limit covers until
// retryAfter seconds have passed: the whole bot when the chat is private, that chat when it is a
// group (negative id).
func (s *Server) FloodWait(chat int64, retryAfter int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flood = &floodArm{chat: chat, retryAfter: max(1, retryAfter)}
}

// Calls returns every sendMessage answered, in order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// flooded applies FloodWait to a sendMessage to id (s.mu held).
func (s *Server) flooded(id int64, now time.Time) *Failure {
	if now.Before(s.floodUntil) && (s.floodChat == 0 || s.floodChat == id) {
		return &Failure{Status: 429, RetryAfter: max(1, int(s.floodUntil.Sub(now).Round(time.Second)/time.Second))}
	}
	if a := s.flood; a != nil && (a.chat == 0 || a.chat == id) {
		s.flood = nil
		s.floodChat, s.floodUntil = 0, now.Add(time.Duration(a.retryAfter)*time.Second)
		if id < 0 {
			s.floodChat = id
		}
		return &Failure{Status: 429, RetryAfter: a.retryAfter}
	}
	return nil
}

func (s *Server) sendMessage(w http.ResponseWriter, p map[string]string) {
	id, f := chatID(p)
	if f == nil {
		f = checkText(p["text"])
	}
	if f == nil {
		f = s.check(Request{Method: "sendMessage", ChatID: id, Text: p["text"]})
	}
	if f != nil {
		s.fail(w, *f)
		return
	}
	s.mu.Lock()
	if f := s.flooded(id, time.Now()); f != nil {
		s.calls = append(s.calls, Call{ChatID: id, At: time.Now(), Status: 429})
		s.mu.Unlock()
		s.fail(w, *f)
		return
	}
	if len(s.failNext) > 0 {
		f := s.failNext[0]
		s.failNext = s.failNext[1:]
		s.mu.Unlock()
		s.fail(w, f)
		return
	}
	now := time.Now()
	chat := prune(s.chatRecent[id], now)
	all := prune(s.allRecent, now)
	if (s.perChat > 0 && len(chat) >= s.perChat) || (s.overall > 0 && len(all) >= s.overall) {
		s.chatRecent[id], s.allRecent = chat, all
		s.mu.Unlock()
		s.fail(w, Failure{Status: 429, RetryAfter: 1})
		return
	}
	chat, all = append(chat, now), append(all, now)
	s.chatRecent[id], s.allRecent = chat, all
	s.maxPerChat = max(s.maxPerChat, len(chat))
	s.maxOverall = max(s.maxOverall, len(all))
	s.nextMsgID[id]++
	mid := s.nextMsgID[id]
	s.sent = append(s.sent, Sent{ChatID: id, Text: p["text"], MessageID: mid, At: now})
	s.calls = append(s.calls, Call{ChatID: id, At: now, Status: 200})
	close(s.notify)
	s.notify = make(chan struct{})
	s.mu.Unlock()
	chatType := "private"
	if id < 0 {
		chatType = "group"
	}
	ok200(w, map[string]any{"message_id": mid, "date": now.Unix(), "text": p["text"],
		"chat": map[string]any{"id": id, "type": chatType},
		"from": map[string]any{"id": botID(s.Token()), "is_bot": true, "first_name": "Test Coach"}})
}

func prune(ts []time.Time, now time.Time) []time.Time {
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= time.Second {
		i++
	}
	return ts[i:]
}

var validActions = map[string]bool{"typing": true, "upload_photo": true, "record_video": true, "upload_video": true,
	"record_voice": true, "upload_voice": true, "upload_document": true, "choose_sticker": true,
	"find_location": true, "record_video_note": true, "upload_video_note": true}

func (s *Server) sendChatAction(w http.ResponseWriter, p map[string]string) {
	id, f := chatID(p)
	if f == nil && !validActions[p["action"]] {
		f = &Failure{Status: 400, Description: "Bad Request: wrong parameter action in request"}
	}
	if f == nil {
		f = s.check(Request{Method: "sendChatAction", ChatID: id, Action: p["action"]})
	}
	if f != nil {
		s.fail(w, *f)
		return
	}
	s.mu.Lock()
	s.actions = append(s.actions, Action{ChatID: id, Action: p["action"], At: time.Now()})
	s.mu.Unlock()
	ok200(w, true)
}

func (s *Server) sendMessageDraft(w http.ResponseWriter, p map[string]string) {
	id, f := chatID(p)
	draftID, err := strconv.ParseInt(p["draft_id"], 10, 64)
	if f == nil && (err != nil || draftID == 0) {
		f = &Failure{Status: 400, Description: "Bad Request: draft_id must be non-zero"}
	}
	if f == nil {
		f = checkText(p["text"])
	}
	if f == nil {
		s.mu.Lock()
		no := s.noDrafts[id] || id < 0
		s.mu.Unlock()
		if no {
			f = &Failure{Status: 400, Description: "Bad Request: message drafts are not available in this chat"}
		}
	}
	if f == nil {
		f = s.check(Request{Method: "sendMessageDraft", ChatID: id, Text: p["text"]})
	}
	if f != nil {
		s.fail(w, *f)
		return
	}
	s.mu.Lock()
	s.drafts = append(s.drafts, Draft{ChatID: id, DraftID: draftID, Text: p["text"], At: time.Now()})
	s.mu.Unlock()
	ok200(w, true)
}

func (s *Server) setWebhook(w http.ResponseWriter, p map[string]string) {
	u := p["url"]
	if u != "" {
		pu, err := url.Parse(u)
		if err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" {
			s.fail(w, Failure{Status: 400, Description: "Bad Request: bad webhook: invalid URL"})
			return
		}
	}
	secret, hasSecret := p["secret_token"]
	if hasSecret && !telegram.ValidSecret(secret) {
		s.fail(w, Failure{Status: 400, Description: "Bad Request: secret token contains unallowed characters"})
		return
	}
	var allowed []string
	if v := p["allowed_updates"]; v != "" {
		if err := json.Unmarshal([]byte(v), &allowed); err != nil {
			s.fail(w, Failure{Status: 400, Description: "Bad Request: can't parse allowed updates"})
			return
		}
	}
	maxConns := 40
	if v := p["max_connections"]; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			s.fail(w, Failure{Status: 400, Description: "Bad Request: bad webhook: max_connections must be 1-100"})
			return
		}
		maxConns = n
	}
	s.mu.Lock()
	s.webhookURL, s.secret, s.allowed, s.maxConns = u, secret, allowed, maxConns
	if u == "" {
		s.secret, s.allowed, s.maxConns = "", nil, 0
	}
	s.mu.Unlock()
	desc := "Webhook was set"
	if u == "" {
		desc = "Webhook was deleted"
	}
	writeJSON(w, 200, map[string]any{"ok": true, "result": true, "description": desc})
}

var defaultDescriptions = map[int]string{
	400: "Bad Request",
	401: "Unauthorized",
	403: "Forbidden",
	404: "Not Found",
	429: "Too Many Requests",
	500: "Internal Server Error",
	502: "Bad Gateway",
}

func (s *Server) fail(w http.ResponseWriter, f Failure) {
	s.mu.Lock()
	s.rejected++
	s.mu.Unlock()
	if f.Status == 0 {
		f.Status = 400
	}
	d := f.Description
	if d == "" {
		d = defaultDescriptions[f.Status]
		if f.Status == 429 {
			d = fmt.Sprintf("Too Many Requests: retry after %d", f.RetryAfter)
		}
	}
	body := map[string]any{"ok": false, "error_code": f.Status, "description": d}
	if f.RetryAfter > 0 {
		body["parameters"] = map[string]any{"retry_after": f.RetryAfter}
	}
	writeJSON(w, f.Status, body)
}

func ok200(w http.ResponseWriter, result any) {
	writeJSON(w, 200, map[string]any{"ok": true, "result": result})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
