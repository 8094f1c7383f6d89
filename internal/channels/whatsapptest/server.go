// Package whatsapptest is a loopback WhatsApp Cloud API (Graph API) for tests: the send
// endpoint POST /{version}/{phone-number-id}/messages with its error behaviours, the
// phone-number lookup GET /{version}/{phone-number-id}, and helpers that build signed webhook
// payloads the way Meta sends them.
package whatsapptest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/coachwire/coachwire/internal/channels/whatsapp"
)

// DefaultAccessToken is the bearer token the server accepts unless SetAccessToken changes it.
const DefaultAccessToken = "test-access-token"

// DefaultPhoneNumberID is used by Config.
const DefaultPhoneNumberID = "100000000000001"

// Sent is an accepted text or template message.
type Sent struct {
	PhoneNumberID string
	To            string
	Type          string // text | template
	Text          string // text body
	Template      string // template name
	TemplateLang  string
	Components    json.RawMessage // template components as sent, nil if none
	WAMID         string          // the id the server answered
	At            time.Time
}

// TypingCall is an accepted status update (read receipt, with or without typing indicator).
type TypingCall struct {
	PhoneNumberID string
	MessageID     string // the inbound wamid
	Indicator     string // "text" for a typing indicator, "" for a plain read receipt
	At            time.Time
}

// Request is what a Rule sees: one authenticated, well-formed call.
type Request struct {
	PhoneNumberID string
	Kind          string // "text", "template" or "status" (read / typing)
	To            string // recipient (text, template)
	Text          string
	Template      string
	MessageID     string // status: the inbound wamid
}

// Failure is an error answer in the Graph format.
type Failure struct {
	Status     int    // HTTP status
	Code       int    // Graph error code
	Subcode    int    // error_subcode, optional
	Message    string // default derived from the code
	RetryAfter int    // seconds; sent as a Retry-After header when > 0
}

// Call is one authenticated, well-formed send (text or template) as the server answered it.
type Call struct {
	PhoneNumberID string
	To            string
	Kind          string
	At            time.Time // when the answer was decided
	Status        int       // HTTP status answered
	Code          int       // Graph error code, 0 when accepted
}

// Throttle scopes (see LimitOnNext).
const (
	ScopeApp    = "app"    // every number of the app (codes 4, 80007)
	ScopeNumber = "number" // one business number (130429)
	ScopePair   = "pair"   // one recipient of one number (131056)
)

type limitWindow struct {
	scope, key string
	until      time.Time
	f          Failure
}

type armedLimit struct {
	match func(Request) bool
	scope string
	f     Failure
}

// Server is the loopback Graph API. Methods are safe for concurrent use.
type Server struct {
	*httptest.Server

	mu         sync.Mutex
	token      string
	failNext   []Failure
	rule       func(Request) *Failure
	windowFn   func(to string) bool
	windows    map[string]time.Time
	enforceWin bool
	rateLimit  int
	pairEvery  time.Duration
	lastTo     map[string]time.Time
	sent       []Sent
	typing     []TypingCall
	recent     map[string][]time.Time // per phone number id: accepted sends in the last second
	maxRate    int
	requests   int
	rejected   int
	seq        atomic.Int64
	notify     chan struct{}
	calls      []Call
	armed      []armedLimit
	limits     []limitWindow
	stall      func(Request) bool
	stallDone  chan struct{}
	stalled    int
}

// New starts a server closed at the end of the test.
func New(tb testing.TB) *Server {
	tb.Helper()
	s := &Server{
		token:   DefaultAccessToken,
		windows: map[string]time.Time{},
		lastTo:  map[string]time.Time{},
		recent:  map[string][]time.Time{},
		notify:  make(chan struct{}),
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	tb.Cleanup(s.Close)
	return s
}

// Config returns a whatsapp.Config pointing at this server with the accepted token.
func (s *Server) Config(phoneNumberID string) whatsapp.Config {
	if phoneNumberID == "" {
		phoneNumberID = DefaultPhoneNumberID
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return whatsapp.Config{PhoneNumberID: phoneNumberID, AccessToken: s.token, AppSecret: "test-app-secret",
		VerifyToken: "test-verify-token", APIVersion: whatsapp.DefaultAPIVersion, BaseURL: s.URL}
}

// Client returns a whatsapp.Client for Config(phoneNumberID).
func (s *Server) Client(phoneNumberID string) *whatsapp.Client {
	return whatsapp.NewClient(s.Config(phoneNumberID), s.Server.Client())
}

// SetAccessToken changes the accepted bearer token.
func (s *Server) SetAccessToken(t string) { s.mu.Lock(); s.token = t; s.mu.Unlock() }

// FailNext makes the next n text/template sends (not status calls) fail with the HTTP status
// and Graph code; retryAfter > 0 adds a Retry-After header (seconds).
func (s *Server) FailNext(n int, status int, code int, retryAfter int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failNext = append(s.failNext, Failure{Status: status, Code: code, RetryAfter: retryAfter})
	}
}

// SetRule installs a function consulted for every authenticated, well-formed call (sends and
// status calls) before FailNext, the window and the rate limits; a non-nil Failure is answered.
func (s *Server) SetRule(fn func(Request) *Failure) { s.mu.Lock(); s.rule = fn; s.mu.Unlock() }

// LimitOnNext arms a provider throttle the way Meta applies one: the next send matching match
// (nil: any) is refused with f, and so is every send in scope (ScopeApp: all numbers, as the
// double has one app; ScopeNumber: the same phone number id; ScopePair: the same number and
// recipient) until f.RetryAfter seconds (at least 1) have passed. The refusal carries the Graph
// error body with f.Code and a Retry-After header.
func (s *Server) LimitOnNext(match func(Request) bool, scope string, f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.armed = append(s.armed, armedLimit{match: match, scope: scope, f: f})
}

// Calls returns every send the server answered (accepted or refused), in order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// StallAfterAccept makes sends matching fn be accepted (recorded in Sent, as the provider
// would deliver them) but answered only when release is called or the client goes away: a
// provider call in flight when the caller dies. Stalled counts them.
func (s *Server) StallAfterAccept(fn func(Request) bool) (release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stall, s.stallDone = fn, make(chan struct{})
	done := s.stallDone
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			s.mu.Lock()
			s.stall = nil
			s.mu.Unlock()
		})
	}
}

// Stalled counts the sends accepted and held by StallAfterAccept.
func (s *Server) Stalled() int { s.mu.Lock(); defer s.mu.Unlock(); return s.stalled }

func limitKey(scope, pnid, to string) string {
	switch scope {
	case ScopeApp:
		return ""
	case ScopeNumber:
		return pnid
	}
	return pnid + "/" + to
}

// throttled applies armed and active throttles to a send (s.mu held).
func (s *Server) throttled(rq Request, now time.Time) *Failure {
	for _, l := range s.limits {
		if now.Before(l.until) && limitKey(l.scope, rq.PhoneNumberID, rq.To) == l.key {
			f := l.f
			f.RetryAfter = max(1, int(l.until.Sub(now).Round(time.Second)/time.Second))
			return &f
		}
	}
	for i, a := range s.armed {
		if a.match == nil || a.match(rq) {
			s.armed = append(s.armed[:i:i], s.armed[i+1:]...)
			f := a.f
			f.RetryAfter = max(1, f.RetryAfter)
			s.limits = append(s.limits, limitWindow{scope: a.scope, key: limitKey(a.scope, rq.PhoneNumberID, rq.To),
				until: now.Add(time.Duration(f.RetryAfter) * time.Second), f: a.f})
			return &f
		}
	}
	return nil
}

func (s *Server) record(rq Request, status, code int) {
	if rq.Kind == "status" || rq.Kind == "" {
		return
	}
	s.mu.Lock()
	s.calls = append(s.calls, Call{PhoneNumberID: rq.PhoneNumberID, To: rq.To, Kind: rq.Kind, At: time.Now(), Status: status, Code: code})
	s.mu.Unlock()
}

// SetWindowOpen installs the 24-hour window check: free-form text to a recipient for whom fn
// returns false fails with 400, code 131047. Templates are always allowed. nil removes it.
func (s *Server) SetWindowOpen(fn func(to string) bool) { s.mu.Lock(); s.windowFn = fn; s.mu.Unlock() }

// EnforceWindow turns on the built-in window tracking: text is allowed only to recipients
// opened with OpenWindow within the last 24 hours (SetWindowOpen takes precedence).
func (s *Server) EnforceWindow(on bool) { s.mu.Lock(); s.enforceWin = on; s.mu.Unlock() }

// OpenWindow records an inbound message from to (opens or refreshes its window now).
func (s *Server) OpenWindow(to string) { s.OpenWindowAt(to, time.Now()) }

// OpenWindowAt records an inbound message from to at t.
func (s *Server) OpenWindowAt(to string, t time.Time) { s.mu.Lock(); s.windows[to] = t; s.mu.Unlock() }

// CloseWindow forgets to's window.
func (s *Server) CloseWindow(to string) { s.mu.Lock(); delete(s.windows, to); s.mu.Unlock() }

// WindowOpen reports whether free-form text to to would be accepted now.
func (s *Server) WindowOpen(to string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.windowOpenLocked(to, time.Now())
}

func (s *Server) windowOpenLocked(to string, now time.Time) bool {
	if s.windowFn != nil {
		return s.windowFn(to)
	}
	if !s.enforceWin {
		return true
	}
	t, ok := s.windows[to]
	return ok && now.Sub(t) < 24*time.Hour
}

// EnforceRate limits accepted sends per phone number id to perSecond in any sliding second
// (0 turns it off; the real default is 80). Excess sends fail with 400, code 130429.
func (s *Server) EnforceRate(perSecond int) { s.mu.Lock(); s.rateLimit = perSecond; s.mu.Unlock() }

// EnforcePairRate rejects a send to the same recipient within every of the previous one
// (400, code 131056). 0 turns it off; the real limit is about 6 s.
func (s *Server) EnforcePairRate(every time.Duration) {
	s.mu.Lock()
	s.pairEvery = every
	s.mu.Unlock()
}

// Sent returns the accepted text and template messages in order.
func (s *Server) Sent() []Sent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Sent(nil), s.sent...)
}

// SentTo returns the accepted messages to one recipient.
func (s *Server) SentTo(to string) []Sent {
	var out []Sent
	for _, m := range s.Sent() {
		if m.To == to {
			out = append(out, m)
		}
	}
	return out
}

// Typing returns the accepted status calls (typing indicators and read receipts).
func (s *Server) Typing() []TypingCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]TypingCall(nil), s.typing...)
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
			tb.Fatalf("whatsapptest: %d messages sent, want %d within %s", len(s.Sent()), n, timeout)
			return nil
		}
	}
}

// MaxRatePerSecond is the most sends accepted for one phone number id within any sliding
// one-second window.
func (s *Server) MaxRatePerSecond() int { s.mu.Lock(); defer s.mu.Unlock(); return s.maxRate }

// Requests counts every request received; Rejected those answered with an error.
func (s *Server) Requests() (total, rejected int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests, s.rejected
}

// Reset forgets recorded calls, rates, failures and windows (not the token or settings).
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent, s.typing, s.failNext, s.calls, s.armed, s.limits = nil, nil, nil, nil, nil, nil
	s.recent, s.lastTo, s.windows = map[string][]time.Time{}, map[string]time.Time{}, map[string]time.Time{}
	s.maxRate, s.requests, s.rejected = 0, 0, 0
}

// phoneRE is the phone-number lookup GET /{version}/{phone-number-id}.
var phoneRE = regexp.MustCompile(`^/(v[0-9]+\.[0-9]+)/([0-9A-Za-z_-]+)$`)

// DisplayPhoneNumber and VerifiedName are what a phone-number lookup answers.
const (
	DisplayPhoneNumber = "+1 555-010-0001"
	VerifiedName       = "Test Coach"
)

// lookup answers GET /{version}/{phone-number-id} the way the Graph API does: a wrong token is
// 401 code 190; an id that is not a number (real ids are) does not exist, 400 code 100.
func (s *Server) lookup(w http.ResponseWriter, r *http.Request, pnid, token string) {
	if r.Header.Get("Authorization") != "Bearer "+token || token == "" {
		s.fail(w, Failure{Status: 401, Code: 190, Message: "Invalid OAuth access token - Cannot parse access token"})
		return
	}
	if strings.Trim(pnid, "0123456789") != "" {
		s.fail(w, Failure{Status: 400, Code: 100, Message: "Unsupported get request. Object with ID '" + pnid +
			"' does not exist, cannot be loaded due to missing permissions, or does not support this operation."})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": pnid, "display_phone_number": DisplayPhoneNumber, "verified_name": VerifiedName})
}

var pathRE = regexp.MustCompile(`^/(v[0-9]+\.[0-9]+)/([0-9A-Za-z_-]+)/messages$`)

type wireReq struct {
	MessagingProduct string `json:"messaging_product"`
	RecipientType    string `json:"recipient_type"`
	To               string `json:"to"`
	Type             string `json:"type"`
	Text             *struct {
		Body       string `json:"body"`
		PreviewURL *bool  `json:"preview_url"`
	} `json:"text"`
	Template *struct {
		Name     string `json:"name"`
		Language *struct {
			Code string `json:"code"`
		} `json:"language"`
		Components json.RawMessage `json:"components"`
	} `json:"template"`
	Status          string `json:"status"`
	MessageID       string `json:"message_id"`
	TypingIndicator *struct {
		Type string `json:"type"`
	} `json:"typing_indicator"`
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	token := s.token
	s.mu.Unlock()

	if pm := phoneRE.FindStringSubmatch(r.URL.Path); pm != nil && r.Method == http.MethodGet {
		s.lookup(w, r, pm[2], token)
		return
	}
	m := pathRE.FindStringSubmatch(r.URL.Path)
	if m == nil {
		s.fail(w, Failure{Status: 400, Code: 100, Message: "Unsupported post request. Object does not exist or path is wrong: " + r.URL.Path})
		return
	}
	if r.Method != http.MethodPost {
		s.fail(w, Failure{Status: 400, Code: 100, Message: "Unsupported " + r.Method + " request"})
		return
	}
	pnid := m[2]
	if r.Header.Get("Authorization") != "Bearer "+token || token == "" {
		s.fail(w, Failure{Status: 401, Code: 190, Message: "Invalid OAuth access token - Cannot parse access token"})
		return
	}
	var req wireReq
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	if err := dec.Decode(&req); err != nil {
		s.fail(w, Failure{Status: 400, Code: 100, Message: "(#100) Invalid JSON: " + err.Error()})
		return
	}
	if req.MessagingProduct != "whatsapp" {
		s.fail(w, Failure{Status: 400, Code: 100, Message: "(#100) The parameter messaging_product is required."})
		return
	}
	rq := Request{PhoneNumberID: pnid, To: req.To}
	switch {
	case req.Status != "":
		if req.Status != "read" || req.MessageID == "" {
			s.fail(w, Failure{Status: 400, Code: 100, Message: "(#100) status must be \"read\" with a message_id"})
			return
		}
		if req.TypingIndicator != nil && req.TypingIndicator.Type != "text" {
			s.fail(w, Failure{Status: 400, Code: 100, Message: "(#100) typing_indicator.type must be \"text\""})
			return
		}
		rq.Kind, rq.MessageID = "status", req.MessageID
	case req.Type == "text" || (req.Type == "" && req.Text != nil):
		switch n := utf8.RuneCountInString(textBody(req)); {
		case req.Text == nil || n == 0:
			s.fail(w, Failure{Status: 400, Code: 100, Message: "(#100) The parameter text['body'] is required."})
			return
		case n > 4096:
			s.fail(w, Failure{Status: 400, Code: 100, Message: "(#100) Param text['body'] must be at most 4096 characters long."})
			return
		}
		rq.Kind, rq.Text = "text", req.Text.Body
	case req.Type == "template":
		if req.Template == nil || req.Template.Name == "" || req.Template.Language == nil || req.Template.Language.Code == "" {
			s.fail(w, Failure{Status: 400, Code: 100, Message: "(#100) template requires name and language.code"})
			return
		}
		if len(req.Template.Components) > 0 {
			var comps []map[string]any
			if err := json.Unmarshal(req.Template.Components, &comps); err != nil {
				s.fail(w, Failure{Status: 400, Code: 100, Message: "(#100) template.components must be an array of objects"})
				return
			}
		}
		rq.Kind, rq.Template = "template", req.Template.Name
	default:
		s.fail(w, Failure{Status: 400, Code: 100, Message: fmt.Sprintf("(#100) type %q is not supported by the test server", req.Type)})
		return
	}
	if rq.Kind != "status" && req.To == "" {
		s.fail(w, Failure{Status: 400, Code: 100, Message: "(#100) The parameter to is required."})
		return
	}

	s.mu.Lock()
	rule := s.rule
	s.mu.Unlock()
	if rule != nil {
		if f := rule(rq); f != nil {
			s.failCall(w, rq, *f)
			return
		}
	}

	s.mu.Lock()
	now := time.Now()
	if rq.Kind != "status" {
		if f := s.throttled(rq, now); f != nil {
			s.mu.Unlock()
			s.failCall(w, rq, *f)
			return
		}
	}
	if rq.Kind == "status" {
		ind := ""
		if req.TypingIndicator != nil {
			ind = req.TypingIndicator.Type
		}
		s.typing = append(s.typing, TypingCall{PhoneNumberID: pnid, MessageID: req.MessageID, Indicator: ind, At: now})
		s.mu.Unlock()
		writeJSON(w, 200, map[string]any{"success": true})
		return
	}
	if len(s.failNext) > 0 {
		f := s.failNext[0]
		s.failNext = s.failNext[1:]
		s.mu.Unlock()
		s.failCall(w, rq, f)
		return
	}
	if rq.Kind == "text" && !s.windowOpenLocked(req.To, now) {
		s.mu.Unlock()
		s.failCall(w, rq, Failure{Status: 400, Code: whatsapp.CodeReengagement, Message: "(#131047) Re-engagement message"})
		return
	}
	recent := s.recent[pnid]
	for len(recent) > 0 && now.Sub(recent[0]) >= time.Second {
		recent = recent[1:]
	}
	if s.rateLimit > 0 && len(recent) >= s.rateLimit {
		s.recent[pnid] = recent
		s.mu.Unlock()
		s.failCall(w, rq, Failure{Status: 400, Code: whatsapp.CodeThroughput, Message: "(#130429) Rate limit hit"})
		return
	}
	if s.pairEvery > 0 {
		if t, ok := s.lastTo[pnid+"/"+req.To]; ok && now.Sub(t) < s.pairEvery {
			s.recent[pnid] = recent
			s.mu.Unlock()
			s.failCall(w, rq, Failure{Status: 400, Code: whatsapp.CodePairRateLimit, Message: "(#131056) (Business Account, Consumer Account) pair rate limit hit"})
			return
		}
	}
	s.lastTo[pnid+"/"+req.To] = now
	recent = append(recent, now)
	s.recent[pnid] = recent
	s.maxRate = max(s.maxRate, len(recent))
	wamid := fmt.Sprintf("wamid.TEST%012d", s.seq.Add(1))
	sent := Sent{PhoneNumberID: pnid, To: req.To, Type: rq.Kind, Text: rq.Text, WAMID: wamid, At: now}
	if req.Template != nil && rq.Kind == "template" {
		sent.Template, sent.TemplateLang = req.Template.Name, req.Template.Language.Code
		if len(req.Template.Components) > 0 {
			sent.Components = append(json.RawMessage(nil), req.Template.Components...)
		}
	}
	s.sent = append(s.sent, sent)
	s.calls = append(s.calls, Call{PhoneNumberID: pnid, To: req.To, Kind: rq.Kind, At: now, Status: 200})
	close(s.notify)
	s.notify = make(chan struct{})
	var stalled chan struct{}
	if s.stall != nil && s.stall(rq) {
		s.stalled++
		stalled = s.stallDone
	}
	s.mu.Unlock()
	if stalled != nil {
		select {
		case <-stalled:
		case <-r.Context().Done():
			return // the caller is gone; the message was accepted all the same
		}
	}

	writeJSON(w, 200, map[string]any{
		"messaging_product": "whatsapp",
		"contacts":          []map[string]any{{"input": req.To, "wa_id": strings.TrimPrefix(req.To, "+")}},
		"messages":          []map[string]any{{"id": wamid}},
	})
}

func textBody(r wireReq) string {
	if r.Text == nil {
		return ""
	}
	return r.Text.Body
}

var defaultMessages = map[int]string{
	4:      "(#4) Application request limit reached",
	80007:  "(#80007) Rate limit issues",
	130429: "(#130429) Rate limit hit",
	131056: "(#131056) (Business Account, Consumer Account) pair rate limit hit",
	131047: "(#131047) Re-engagement message",
	131026: "(#131026) Message Undeliverable",
	131030: "(#131030) Recipient phone number not in allowed list",
	131000: "(#131000) Something went wrong",
	100:    "(#100) Invalid parameter",
	190:    "Invalid OAuth access token",
}

func (s *Server) failCall(w http.ResponseWriter, rq Request, f Failure) {
	if f.Status == 0 {
		f.Status = 400
	}
	s.record(rq, f.Status, f.Code)
	s.fail(w, f)
}

func (s *Server) fail(w http.ResponseWriter, f Failure) {
	s.mu.Lock()
	s.rejected++
	s.mu.Unlock()
	if f.Status == 0 {
		f.Status = 400
	}
	msg := f.Message
	if msg == "" {
		msg = defaultMessages[f.Code]
	}
	if msg == "" {
		msg = http.StatusText(f.Status)
	}
	typ := "OAuthException"
	if f.Status >= 500 {
		typ = "GraphMethodException"
	}
	body := map[string]any{"message": msg, "type": typ, "code": f.Code,
		"fbtrace_id": "Atest" + strconv.FormatInt(s.seq.Add(1), 36)}
	if f.Subcode != 0 {
		body["error_subcode"] = f.Subcode
	}
	if f.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfter))
	}
	writeJSON(w, f.Status, map[string]any{"error": body})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
