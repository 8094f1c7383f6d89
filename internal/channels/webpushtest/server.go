// Package webpushtest is a loopback Web Push service for tests (issue 16). It is the checker of
// what coachwire sends: every push must carry a VAPID JWT (RFC 8292) signed with ES256 by the
// deployment's key, with aud the origin of the endpoint, an exp at most 24 hours ahead and a
// mailto: or https: sub, and a body encrypted per RFC 8291 (aes128gcm) to the subscription's
// keys, which the server decrypts itself (HKDF, ECDH and AES-GCM from the standard library
// and x/crypto, independently of the sender's library). It records the messages and can be
// told to answer 201, 404, 410, 413 or 429 with Retry-After.
package webpushtest

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/hkdf"
)

// Payload is the app channel's notification payload as the service worker would read it.
type Payload struct {
	Title          string `json:"title"`
	Body           string `json:"body"`
	ConversationID string `json:"conversation_id"`
	Seq            int64  `json:"seq"`
	URL            string `json:"url"`
}

// Message is an accepted (201) push, decrypted.
type Message struct {
	Subscription string // Sub.ID
	Plain        []byte
	Payload      Payload
	RecordSize   int
	BodyLen      int
	TTL          int
	Urgency      string
	At           time.Time
}

// Request is any well-formed push that reached the service, whatever it was answered.
type Request struct {
	Subscription string
	Status       int
	BodyLen      int
	At           time.Time
}

// Answer is a scripted answer: Status (404, 410, 413, 429, 500...) with an optional
// Retry-After header value.
type Answer struct {
	Status     int
	RetryAfter string
}

// Sub is a subscription made at the server, as a browser would make it: a P-256 key pair and a
// 16-byte auth secret. Endpoint, P256dh and Auth are what the browser would POST.
type Sub struct {
	ID       string
	Endpoint string
	P256dh   string
	Auth     string

	priv *ecdh.PrivateKey
	auth []byte
}

// Server is the loopback push service. Methods are safe for concurrent use.
type Server struct {
	*httptest.Server
	t testing.TB

	mu       sync.Mutex
	vapid    string // the public key pushes must be signed with ("" accept any)
	subs     map[string]*Sub
	script   map[string][]Answer
	gone     map[string]int
	maxBody  int
	messages []Message
	requests []Request
	problems []string
	done     bool
}

// New starts a server that accepts pushes signed with the VAPID public key vapidPublic
// (base64url; "" accepts any key, still checking the signature against the k= it names).
func New(t testing.TB, vapidPublic string) *Server {
	s := &Server{t: t, vapid: vapidPublic, subs: map[string]*Sub{}, script: map[string][]Answer{}, gone: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		s.mu.Lock()
		s.done = true
		problems := s.problems
		s.mu.Unlock()
		s.Close()
		for _, p := range problems {
			t.Errorf("webpushtest: %s", p)
		}
	})
	return s
}

// SetVAPID sets the public key pushes must be signed with.
func (s *Server) SetVAPID(public string) { s.mu.Lock(); s.vapid = public; s.mu.Unlock() }

// Subscribe makes a subscription at the server (keys generated here, as a browser would).
func (s *Server) Subscribe() *Sub {
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	auth := make([]byte, 16)
	_, _ = rand.Read(auth)
	idb := make([]byte, 12)
	_, _ = rand.Read(idb)
	id := base64.RawURLEncoding.EncodeToString(idb)
	sub := &Sub{ID: id, Endpoint: s.URL + "/push/" + id, P256dh: base64.RawURLEncoding.EncodeToString(priv.PublicKey().Bytes()),
		Auth: base64.RawURLEncoding.EncodeToString(auth), priv: priv, auth: auth}
	s.mu.Lock()
	s.subs[id] = sub
	s.mu.Unlock()
	return sub
}

// JSON is the subscription as PushSubscription.toJSON gives it, with a device name: the body of
// POST /api/v1/app/push/subscriptions.
func (sub *Sub) JSON(device string) map[string]any {
	return map[string]any{"endpoint": sub.Endpoint, "keys": map[string]string{"p256dh": sub.P256dh, "auth": sub.Auth}, "device": device}
}

// Then queues answers for sub's next pushes (then 201 again).
func (s *Server) Then(sub *Sub, answers ...Answer) {
	s.mu.Lock()
	s.script[sub.ID] = append(s.script[sub.ID], answers...)
	s.mu.Unlock()
}

// Gone makes every further push to sub answer status (404 or 410).
func (s *Server) Gone(sub *Sub, status int) { s.mu.Lock(); s.gone[sub.ID] = status; s.mu.Unlock() }

// MaxBody makes the server answer 413 to a push whose body is longer than n bytes (0: none).
func (s *Server) MaxBody(n int) { s.mu.Lock(); s.maxBody = n; s.mu.Unlock() }

// Messages returns the accepted pushes to sub (every subscription's with nil).
func (s *Server) Messages(sub *Sub) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, m := range s.messages {
		if sub == nil || m.Subscription == sub.ID {
			out = append(out, m)
		}
	}
	return out
}

// Requests returns every push to sub that reached the server, with its answer.
func (s *Server) Requests(sub *Sub) []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Request
	for _, r := range s.requests {
		if sub == nil || r.Subscription == sub.ID {
			out = append(out, r)
		}
	}
	return out
}

// Problems returns and forgets what the server refused as malformed so far (a push with a bad
// VAPID JWT, encoding or encryption). Left unread, they fail the test at its end.
func (s *Server) Problems() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.problems
	s.problems = nil
	return p
}

func (s *Server) problem(w http.ResponseWriter, status int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.mu.Lock()
	if !s.done {
		s.problems = append(s.problems, msg)
	}
	s.mu.Unlock()
	http.Error(w, msg, status)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	id, ok := strings.CutPrefix(r.URL.Path, "/push/")
	if r.Method != http.MethodPost || !ok {
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	sub := s.subs[id]
	s.mu.Unlock()
	if sub == nil {
		http.Error(w, "no such subscription", http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "read", http.StatusBadRequest)
		return
	}
	if err := s.checkVAPID(r); err != nil {
		s.problem(w, http.StatusUnauthorized, "push to %s: VAPID: %v", id, err)
		return
	}
	if r.Header.Get("Content-Encoding") != "aes128gcm" {
		s.problem(w, http.StatusUnsupportedMediaType, "push to %s: Content-Encoding %q, want aes128gcm", id, r.Header.Get("Content-Encoding"))
		return
	}
	ttl, err := strconv.Atoi(r.Header.Get("TTL"))
	if err != nil || ttl < 0 {
		s.problem(w, http.StatusBadRequest, "push to %s: TTL header %q", id, r.Header.Get("TTL"))
		return
	}
	// Answers that refuse the push come before decryption, as a push service's would.
	s.mu.Lock()
	status, retry := 0, ""
	if g := s.gone[id]; g != 0 {
		status = g
	} else if q := s.script[id]; len(q) > 0 {
		status, retry = q[0].Status, q[0].RetryAfter
		s.script[id] = q[1:]
	} else if s.maxBody > 0 && len(body) > s.maxBody {
		status = http.StatusRequestEntityTooLarge
	}
	s.requests = append(s.requests, Request{Subscription: id, Status: max(status, http.StatusCreated), BodyLen: len(body), At: time.Now()})
	s.mu.Unlock()
	if status != 0 && status != http.StatusCreated {
		if retry != "" {
			w.Header().Set("Retry-After", retry)
		}
		http.Error(w, http.StatusText(status), status)
		return
	}
	plain, rs, err := Decrypt(sub, body)
	if err != nil {
		s.problem(w, http.StatusBadRequest, "push to %s: %v", id, err)
		return
	}
	m := Message{Subscription: id, Plain: plain, RecordSize: rs, BodyLen: len(body), TTL: ttl, Urgency: r.Header.Get("Urgency"), At: time.Now()}
	if err := json.Unmarshal(plain, &m.Payload); err != nil {
		s.problem(w, http.StatusBadRequest, "push to %s: payload is not JSON: %q", id, plain)
		return
	}
	s.mu.Lock()
	s.messages = append(s.messages, m)
	n := len(s.messages)
	s.mu.Unlock()
	w.Header().Set("Location", s.URL+"/message/"+strconv.Itoa(n))
	w.WriteHeader(http.StatusCreated)
}

// checkVAPID verifies "Authorization: vapid t=<jwt>, k=<public key>" (RFC 8292 §3).
func (s *Server) checkVAPID(r *http.Request) error {
	h := r.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(h, "vapid ")
	if !ok {
		return fmt.Errorf("header Authorization %q is not the vapid scheme", h)
	}
	var tok, key string
	for _, p := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		switch k {
		case "t":
			tok = v
		case "k":
			key = v
		}
	}
	if tok == "" || key == "" {
		return errors.New("t= or k= missing")
	}
	s.mu.Lock()
	want := s.vapid
	s.mu.Unlock()
	if want != "" && key != want {
		return fmt.Errorf("k=%s is not the deployment's public key %s", key, want)
	}
	raw, err := base64.RawURLEncoding.DecodeString(key)
	if err != nil {
		return errors.New("k= is not base64url")
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), raw)
	if err != nil {
		return fmt.Errorf("k= is not a P-256 point: %v", err)
	}
	origin := s.URL // the endpoint's origin: scheme://host:port
	claims := jwt.MapClaims{}
	_, err = jwt.ParseWithClaims(tok, claims, func(*jwt.Token) (any, error) { return pub, nil },
		jwt.WithValidMethods([]string{"ES256"}), jwt.WithAudience(origin), jwt.WithExpirationRequired())
	if err != nil {
		return fmt.Errorf("JWT: %v", err)
	}
	exp, _ := claims.GetExpirationTime()
	if exp == nil || exp.After(time.Now().Add(24*time.Hour)) {
		return fmt.Errorf("exp %v is more than 24 hours ahead", exp)
	}
	subj, _ := claims["sub"].(string)
	if !(strings.HasPrefix(subj, "mailto:") && strings.Contains(subj, "@")) && !strings.HasPrefix(subj, "https://") {
		return fmt.Errorf("sub %q is neither a mailto: address nor an https URL", subj)
	}
	if strings.HasPrefix(subj, "mailto:mailto:") {
		return fmt.Errorf("sub %q", subj)
	}
	return nil
}

// Decrypt opens an aes128gcm body (RFC 8188) encrypted to sub per RFC 8291 and returns the
// plaintext without its padding, and the record size the sender chose.
func Decrypt(sub *Sub, body []byte) ([]byte, int, error) {
	if len(body) < 21 {
		return nil, 0, errors.New("body shorter than the aes128gcm header")
	}
	salt := body[:16]
	rs := int(binary.BigEndian.Uint32(body[16:20]))
	idlen := int(body[20])
	if idlen != 65 || len(body) < 21+idlen {
		return nil, 0, fmt.Errorf("keyid of %d bytes, want the sender's 65-byte public key", idlen)
	}
	asPub := body[21 : 21+idlen]
	ct := body[21+idlen:]
	if rs < 18 || len(ct) > rs || len(ct) < 17 {
		return nil, 0, fmt.Errorf("one record of %d bytes for a record size of %d: want a single record", len(ct), rs)
	}
	as, err := ecdh.P256().NewPublicKey(asPub)
	if err != nil {
		return nil, 0, fmt.Errorf("sender key: %v", err)
	}
	secret, err := sub.priv.ECDH(as)
	if err != nil {
		return nil, 0, fmt.Errorf("ecdh: %v", err)
	}
	// RFC 8291 §3.4: IKM from the ECDH secret and the auth secret.
	info := append(append([]byte("WebPush: info\x00"), sub.priv.PublicKey().Bytes()...), asPub...)
	ikm := make([]byte, 32)
	if _, err := io.ReadFull(hkdf.New(sha256.New, secret, sub.auth, info), ikm); err != nil {
		return nil, 0, err
	}
	// RFC 8188 §2.2-2.3: content encryption key and nonce from the salt.
	prk := hkdf.Extract(sha256.New, ikm, salt)
	cek := make([]byte, 16)
	nonce := make([]byte, 12)
	if _, err := io.ReadFull(hkdf.Expand(sha256.New, prk, []byte("Content-Encoding: aes128gcm\x00")), cek); err != nil {
		return nil, 0, err
	}
	if _, err := io.ReadFull(hkdf.Expand(sha256.New, prk, []byte("Content-Encoding: nonce\x00")), nonce); err != nil {
		return nil, 0, err
	}
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, 0, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, 0, err
	}
	plain, err := gcm.Open(nil, nonce, ct, nil) // record sequence number 0: the nonce as derived
	if err != nil {
		return nil, 0, errors.New("does not decrypt with the subscription's keys")
	}
	// The last record: content, the delimiter 0x02, then zero padding.
	i := len(plain) - 1
	for i >= 0 && plain[i] == 0 {
		i--
	}
	if i < 0 || plain[i] != 2 {
		return nil, 0, errors.New("no last-record delimiter (0x02) before the padding")
	}
	return plain[:i], rs, nil
}
