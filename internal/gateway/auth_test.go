package gateway_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"gopkg.in/yaml.v3"

	"github.com/coachwire/coachwire/internal/auth"
	"github.com/coachwire/coachwire/internal/config"
	"github.com/coachwire/coachwire/internal/gateway"
	"github.com/coachwire/coachwire/internal/storage"
	"github.com/coachwire/coachwire/internal/testenv"
)

// TestMain starts (once) and stops the real dependencies of the whole gateway test binary.
// Most tests wait on PostgreSQL and HTTP round trips, not the CPU: 4 at once.
func TestMain(m *testing.M) { testenv.MainParallel(m, 4) }

const testIssuer = "http://gateway.test"

type env struct {
	ts      *httptest.Server
	auth    *auth.Service
	keyFile string
}

type envOpts struct {
	now     func() time.Time
	tenants func(context.Context, uuid.UUID) error
	// limits replace the defaults (zero: per-address limits off, since every test's client is
	// 127.0.0.1 and the limit store is shared by the whole test binary).
	limits *config.Limits
}

// testFiles is a document store in a temporary directory.
func testFiles(t *testing.T) *storage.Dir {
	t.Helper()
	files, err := storage.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func newEnv(t *testing.T, o envOpts) *env {
	t.Helper()
	keyFile := filepath.Join(t.TempDir(), "keys", "jwt.json")
	svc, err := auth.New(auth.Options{KeyFile: keyFile, Issuer: testIssuer, BcryptCost: 4})
	if err != nil {
		t.Fatal(err)
	}
	off := config.Rate{N: -1}
	limits := config.Limits{RegistrationsPerIP: off, LoginsPerIP: off, WidgetSessionsPerIP: off}
	if o.limits != nil {
		limits = *o.limits
	}
	srv := gateway.New(gateway.Deps{
		Config:  &gateway.Settings{PublicURL: testIssuer, Limits: limits},
		Files:   testFiles(t),
		Store:   testenv.Store(t),
		Auth:    svc,
		Log:     testenv.Logger(t),
		Now:     o.now,
		Tenants: o.tenants,
	})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return &env{ts: ts, auth: svc, keyFile: keyFile}
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func (r resp) code(t *testing.T) string {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	r.json(t, &e)
	return e.Error.Code
}

// do sends body (a string is sent verbatim, anything else as JSON) with the given headers.
func (e *env) do(t *testing.T, method, path string, body any, hdr ...string) resp {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, e.ts.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	res, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp{status: res.StatusCode, header: res.Header, body: data}
}

type session struct {
	Creator struct {
		ID        uuid.UUID `json:"id"`
		Email     string    `json:"email"`
		Name      string    `json:"name"`
		WidgetKey string    `json:"widget_key"`
	} `json:"creator"`
	AccessToken  string    `json:"access_token"`
	TokenType    string    `json:"token_type"`
	ExpiresAt    time.Time `json:"expires_at"`
	RefreshToken string    `json:"refresh_token"`
}

type me struct {
	ID               uuid.UUID `json:"id"`
	Email            string    `json:"email"`
	Name             string    `json:"name"`
	WidgetKey        string    `json:"widget_key"`
	Persona          string    `json:"persona"`
	AllowedOrigins   []string  `json:"allowed_origins"`
	IdentityRequired bool      `json:"identity_required"`
	CreatedAt        time.Time `json:"created_at"`
}

func uniqueEmail() string { return "c-" + uuid.NewString()[:13] + "@example.test" }

const goodPassword = "correct horse battery"

func (e *env) register(t *testing.T, email string) session {
	t.Helper()
	r := e.do(t, "POST", "/api/v1/auth/register", map[string]string{"email": email, "password": goodPassword, "name": "Coach " + email})
	if r.status != http.StatusCreated {
		t.Fatalf("register %s: %d %s", email, r.status, r.body)
	}
	var s session
	r.json(t, &s)
	return s
}

func (e *env) refresh(t *testing.T, token string) resp {
	t.Helper()
	return e.do(t, "POST", "/api/v1/auth/refresh", map[string]string{"refresh_token": token})
}

func (e *env) me(t *testing.T, access string) resp {
	t.Helper()
	return e.do(t, "GET", "/api/v1/auth/me", nil, "Authorization", "Bearer "+access)
}

func checkSession(t *testing.T, s session) {
	t.Helper()
	if s.Creator.ID == uuid.Nil || s.Creator.ID.Version() != 7 {
		t.Errorf("creator id %v: want a UUIDv7", s.Creator.ID)
	}
	if !strings.HasPrefix(s.Creator.WidgetKey, "wk_") || len(s.Creator.WidgetKey) != 3+32 {
		t.Errorf("widget key %q", s.Creator.WidgetKey)
	}
	if s.TokenType != "Bearer" || s.AccessToken == "" {
		t.Errorf("token_type %q access %q", s.TokenType, s.AccessToken)
	}
	if d := time.Until(s.ExpiresAt); d < 10*time.Minute || d > 16*time.Minute {
		t.Errorf("expires_at in %v", d)
	}
	if id, _, err := auth.ParseRefreshToken(s.RefreshToken); err != nil || id != s.Creator.ID {
		t.Errorf("refresh token %q: %v %v", s.RefreshToken, id, err)
	}
}

func TestAuthHappyPath(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	email := uniqueEmail()

	reg := e.register(t, "  "+email+" ")
	checkSession(t, reg)
	if reg.Creator.Email != email || reg.Creator.Name != strings.TrimSpace("Coach   "+email+" ") {
		t.Errorf("creator %+v: want email and name trimmed", reg.Creator)
	}

	t.Run("me", func(t *testing.T) {
		r := e.me(t, reg.AccessToken)
		if r.status != http.StatusOK {
			t.Fatalf("me: %d %s", r.status, r.body)
		}
		var m me
		r.json(t, &m)
		if m.ID != reg.Creator.ID || m.Email != email || m.WidgetKey != reg.Creator.WidgetKey || m.AllowedOrigins == nil || m.IdentityRequired || m.CreatedAt.IsZero() {
			t.Fatalf("me = %+v", m)
		}
		if strings.Contains(string(r.body), "secret") || strings.Contains(string(r.body), "password") {
			t.Fatalf("me leaks a secret: %s", r.body)
		}
		if lower := e.do(t, "GET", "/api/v1/auth/me", nil, "Authorization", "bearer "+reg.AccessToken); lower.status != http.StatusOK {
			t.Fatalf("lower-case scheme: %d", lower.status)
		}
	})

	t.Run("login", func(t *testing.T) {
		r := e.do(t, "POST", "/api/v1/auth/login", map[string]string{"email": strings.ToUpper(email), "password": goodPassword})
		if r.status != http.StatusOK {
			t.Fatalf("login: %d %s", r.status, r.body)
		}
		if cc := r.header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control %q", cc)
		}
		var s session
		r.json(t, &s)
		checkSession(t, s)
		if s.Creator.ID != reg.Creator.ID || s.RefreshToken == reg.RefreshToken {
			t.Fatalf("login session %+v", s)
		}
	})

	t.Run("refresh and logout", func(t *testing.T) {
		r := e.refresh(t, reg.RefreshToken)
		if r.status != http.StatusOK {
			t.Fatalf("refresh: %d %s", r.status, r.body)
		}
		var s session
		r.json(t, &s)
		checkSession(t, s)
		if s.RefreshToken == reg.RefreshToken || s.Creator.ID != reg.Creator.ID {
			t.Fatal("refresh did not rotate")
		}
		if r := e.me(t, s.AccessToken); r.status != http.StatusOK {
			t.Fatalf("me with refreshed access token: %d", r.status)
		}
		if r := e.do(t, "POST", "/api/v1/auth/logout", map[string]string{"refresh_token": s.RefreshToken}); r.status != http.StatusNoContent {
			t.Fatalf("logout: %d %s", r.status, r.body)
		}
		if r := e.refresh(t, s.RefreshToken); r.status != http.StatusUnauthorized || r.code(t) != "invalid_token" {
			t.Fatalf("refresh after logout: %d %s", r.status, r.body)
		}
		// Logging out twice, or with an unknown token, is fine.
		if r := e.do(t, "POST", "/api/v1/auth/logout", map[string]string{"refresh_token": s.RefreshToken}); r.status != http.StatusNoContent {
			t.Fatalf("second logout: %d", r.status)
		}
		if r := e.do(t, "POST", "/api/v1/auth/logout", map[string]string{"refresh_token": "junk"}); r.status != http.StatusBadRequest || r.code(t) != "invalid_refresh_token" {
			t.Fatalf("logout junk: %d %s", r.status, r.body)
		}
		if r := e.do(t, "POST", "/api/v1/auth/logout", map[string]string{}); r.status != http.StatusBadRequest {
			t.Fatalf("logout without token: %d", r.status)
		}
	})
}

func TestRegisterRejects(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	taken := uniqueEmail()
	e.register(t, taken)
	cases := []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"malformed json", `{"email":`, 400, "malformed_json"},
		{"not an object", `[]`, 400, "malformed_json"},
		{"unknown field", map[string]any{"email": uniqueEmail(), "password": goodPassword, "admin": true}, 400, "malformed_json"},
		{"trailing data", `{"email":"a@b.test","password":"12345678"}{}`, 400, "malformed_json"},
		{"too large", `{"name":"` + strings.Repeat("a", 1<<20) + `"}`, 413, "too_large"},
		{"no email", map[string]string{"password": goodPassword}, 400, "invalid_email"},
		{"not an email", map[string]string{"email": "nope", "password": goodPassword}, 400, "invalid_email"},
		{"display name", map[string]string{"email": "Ana <ana@example.test>", "password": goodPassword}, 400, "invalid_email"},
		{"two addresses", map[string]string{"email": "a@example.test, b@example.test", "password": goodPassword}, 400, "invalid_email"},
		{"too long email", map[string]string{"email": strings.Repeat("a", 250) + "@x.test", "password": goodPassword}, 400, "invalid_email"},
		{"short password", map[string]string{"email": uniqueEmail(), "password": "1234567"}, 400, "password_too_short"},
		{"long password", map[string]string{"email": uniqueEmail(), "password": strings.Repeat("p", 73)}, 400, "password_too_long"},
		{"long name", map[string]string{"email": uniqueEmail(), "password": goodPassword, "name": strings.Repeat("n", 201)}, 400, "invalid_name"},
		{"NUL in name", map[string]string{"email": uniqueEmail(), "password": goodPassword, "name": "a\x00b"}, 400, "bad_text"},
		{"line break in name", map[string]string{"email": uniqueEmail(), "password": goodPassword, "name": "a\nb"}, 400, "invalid_name"},
		{"duplicate email", map[string]string{"email": taken, "password": goodPassword}, 409, "email_taken"},
		{"duplicate email other case", map[string]string{"email": strings.ToUpper(taken), "password": goodPassword}, 409, "email_taken"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := e.do(t, "POST", "/api/v1/auth/register", c.body)
			if r.status != c.status || r.code(t) != c.code {
				t.Fatalf("got %d %s, want %d %s", r.status, r.body, c.status, c.code)
			}
		})
	}
	if r := e.do(t, "GET", "/api/v1/auth/register", nil); r.status != http.StatusMethodNotAllowed {
		t.Fatalf("GET register: %d", r.status)
	}
}

func TestRegisterTenantFailureIsRetrySafe(t *testing.T) {
	t.Parallel()
	var fail atomic.Bool
	fail.Store(true)
	var mu sync.Mutex
	var created []uuid.UUID
	e := newEnv(t, envOpts{tenants: func(ctx context.Context, id uuid.UUID) error {
		if fail.Load() {
			return errors.New("weaviate down")
		}
		mu.Lock()
		created = append(created, id)
		mu.Unlock()
		return nil
	}})
	email := uniqueEmail()
	body := map[string]string{"email": email, "password": goodPassword}
	r := e.do(t, "POST", "/api/v1/auth/register", body)
	if r.status != http.StatusServiceUnavailable || r.code(t) != "knowledge_unavailable" || r.header.Get("Retry-After") == "" {
		t.Fatalf("register with the index down: %d %v %s", r.status, r.header, r.body)
	}
	// Nothing was kept: the account cannot log in, and the retry succeeds.
	if r := e.do(t, "POST", "/api/v1/auth/login", body); r.status != http.StatusUnauthorized {
		t.Fatalf("login after failed register: %d %s", r.status, r.body)
	}
	fail.Store(false)
	s := e.register(t, email)
	mu.Lock()
	defer mu.Unlock()
	if len(created) != 1 || created[0] != s.Creator.ID {
		t.Fatalf("tenants created %v, want [%v]", created, s.Creator.ID)
	}
}

func TestLoginRejects(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	email := uniqueEmail()
	e.register(t, email)

	t.Run("bad credentials", func(t *testing.T) {
		var msgs []string
		for _, body := range []map[string]string{
			{"email": email, "password": "wrong password"},
			{"email": uniqueEmail(), "password": goodPassword},
			{"email": "", "password": ""},
		} {
			r := e.do(t, "POST", "/api/v1/auth/login", body)
			if r.status != http.StatusUnauthorized || r.code(t) != "invalid_credentials" {
				t.Fatalf("login %v: %d %s", body, r.status, r.body)
			}
			msgs = append(msgs, string(r.body))
		}
		if msgs[0] != msgs[1] {
			t.Fatalf("wrong password and unknown email answer differently: %s vs %s", msgs[0], msgs[1])
		}
		if r := e.do(t, "POST", "/api/v1/auth/login", `{"email":1}`); r.status != http.StatusBadRequest {
			t.Fatalf("malformed login: %d", r.status)
		}
	})

	t.Run("rate limited per email", func(t *testing.T) {
		target := uniqueEmail()
		e.register(t, target)
		body := map[string]string{"email": target, "password": "wrong password"}
		for i := range 5 {
			if r := e.do(t, "POST", "/api/v1/auth/login", body); r.status != http.StatusUnauthorized {
				t.Fatalf("attempt %d: %d %s", i+1, r.status, r.body)
			}
		}
		// Even the right password is refused now, and so is another spelling of the email.
		for _, em := range []string{target, strings.ToUpper(target)} {
			r := e.do(t, "POST", "/api/v1/auth/login", map[string]string{"email": em, "password": goodPassword})
			if r.status != http.StatusTooManyRequests || r.code(t) != "rate_limited" {
				t.Fatalf("6th attempt: %d %s", r.status, r.body)
			}
			if ra := r.header.Get("Retry-After"); ra == "" || ra == "0" {
				t.Fatalf("Retry-After %q", ra)
			}
		}
	})
}

// signingKey reads the signing key back from the service's key file (what an attacker must not have).
func (e *env) signingKey(t *testing.T) (string, ed25519.PrivateKey) {
	t.Helper()
	data, err := os.ReadFile(e.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	var keys []struct{ KID, Seed string }
	if err := json.Unmarshal(data, &keys); err != nil {
		t.Fatal(err)
	}
	seed, err := base64.StdEncoding.DecodeString(keys[0].Seed)
	if err != nil {
		t.Fatal(err)
	}
	return keys[0].KID, ed25519.NewKeyFromSeed(seed)
}

func TestAccessTokenAttacks(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	victim := e.register(t, uniqueEmail())
	va := accessClaimsOf(t, victim.AccessToken)
	sub := va.Subject
	kid, priv := e.signingKey(t)
	pub := e.auth.PublicKeys()[kid]

	claims := func(f func(*jwt.RegisteredClaims)) accessClaims {
		now := time.Now()
		c := accessClaims{RegisteredClaims: jwt.RegisteredClaims{Issuer: testIssuer, Subject: sub, Audience: jwt.ClaimStrings{auth.AudienceAPI},
			ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)), IssuedAt: jwt.NewNumericDate(now), ID: uuid.NewString()},
			CID: va.CID, MID: va.MID, Role: va.Role}
		if f != nil {
			f(&c.RegisteredClaims)
		}
		return c
	}
	sign := func(m jwt.SigningMethod, key any, c jwt.Claims, kid string) string {
		tok := jwt.NewWithClaims(m, c)
		tok.Header["kid"] = kid
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	other := func(o auth.Options) *auth.Service {
		if o.KeyFile == "" {
			o.KeyFile = e.keyFile
		}
		if o.Issuer == "" {
			o.Issuer = testIssuer
		}
		o.BcryptCost = 4
		s, err := auth.New(o)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	issue := func(s *auth.Service) string {
		tok, _, err := s.IssueAccess(auth.AccessClaims{UserID: uuid.MustParse(va.Subject), CreatorID: uuid.MustParse(va.CID),
			MemberID: uuid.MustParse(va.MID), Role: va.Role})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	widgetTok, _, err := e.auth.IssueWidget(auth.WidgetClaims{CreatorID: victim.Creator.ID, EndUserID: uuid.New(), ConversationID: uuid.New()})
	if err != nil {
		t.Fatal(err)
	}
	tampered := func() string {
		p := strings.Split(victim.AccessToken, ".")
		sig, _ := base64.RawURLEncoding.DecodeString(p[2])
		sig[len(sig)-1] ^= 0x80
		return p[0] + "." + p[1] + "." + base64.RawURLEncoding.EncodeToString(sig)
	}

	// Sanity: a token forged with the real key and valid claims does pass, so each case below
	// fails for the one reason it names.
	if r := e.me(t, sign(jwt.SigningMethodEdDSA, priv, claims(nil), kid)); r.status != http.StatusOK {
		t.Fatalf("control token refused: %d %s", r.status, r.body)
	}

	cases := []struct {
		name string
		tok  string
	}{
		{"alg none", sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(nil), kid)},
		{"HS256 signed with the public key", sign(jwt.SigningMethodHS256, []byte(pub), claims(nil), kid)},
		{"HS256 signed with the public key base64", sign(jwt.SigningMethodHS256, []byte(base64.StdEncoding.EncodeToString(pub)), claims(nil), kid)},
		{"widget token as access token", widgetTok},
		{"wrong audience", sign(jwt.SigningMethodEdDSA, priv, claims(func(c *jwt.RegisteredClaims) { c.Audience = jwt.ClaimStrings{auth.AudienceWidget} }), kid)},
		{"wrong issuer", issue(other(auth.Options{Issuer: "http://evil.test"}))},
		{"missing exp", sign(jwt.SigningMethodEdDSA, priv, claims(func(c *jwt.RegisteredClaims) { c.ExpiresAt = nil }), kid)},
		{"expired", issue(other(auth.Options{Now: func() time.Time { return time.Now().Add(-time.Hour) }}))},
		{"unknown kid", issue(other(auth.Options{KeyFile: filepath.Join(t.TempDir(), "other.json")}))},
		{"kid of ours, other key", sign(jwt.SigningMethodEdDSA, ed25519.NewKeyFromSeed(make([]byte, 32)), claims(nil), kid)},
		{"tampered signature", tampered()},
		{"garbage", "a.b.c"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := e.me(t, c.tok)
			if r.status != http.StatusUnauthorized {
				t.Fatalf("me: %d %s", r.status, r.body)
			}
			if h := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(h, "Bearer ") || !strings.Contains(h, `error="invalid_token"`) {
				t.Fatalf("WWW-Authenticate %q", h)
			}
			if strings.Contains(string(r.body), victim.Creator.Email) {
				t.Fatal("leaked creator data")
			}
		})
	}

	// Credentials anywhere but the Authorization header are ignored.
	elsewhere := []struct {
		name string
		path string
		hdr  []string
	}{
		{"query access_token", "/api/v1/auth/me?access_token=" + victim.AccessToken, nil},
		{"query token", "/api/v1/auth/me?token=" + victim.AccessToken, nil},
		{"cookie", "/api/v1/auth/me", []string{"Cookie", "access_token=" + victim.AccessToken}},
		{"no scheme", "/api/v1/auth/me", []string{"Authorization", victim.AccessToken}},
		{"basic scheme", "/api/v1/auth/me", []string{"Authorization", "Basic " + victim.AccessToken}},
		{"two headers", "/api/v1/auth/me", []string{"Authorization", "Bearer " + victim.AccessToken, "Authorization", "Bearer " + victim.AccessToken}},
	}
	for _, c := range elsewhere {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := e.do(t, "GET", c.path, nil, c.hdr...)
			if r.status != http.StatusUnauthorized || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("got %d %v %s", r.status, r.header, r.body)
			}
		})
	}
}

// accessClaims is the payload of an access token (package auth's wire form).
type accessClaims struct {
	jwt.RegisteredClaims
	CID  string `json:"cid"`
	MID  string `json:"mid"`
	Role string `json:"role"`
}

// accessClaimsOf decodes an access token's payload without verifying it.
func accessClaimsOf(t *testing.T, tok string) accessClaims {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("access token %q", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c accessClaims
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRefreshReuseRevokesFamily(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	email := uniqueEmail()
	reg := e.register(t, email)
	// A second, independent login (another device).
	var other session
	lr := e.do(t, "POST", "/api/v1/auth/login", map[string]string{"email": email, "password": goodPassword})
	lr.json(t, &other)

	rotate := func(tok string) session {
		t.Helper()
		r := e.refresh(t, tok)
		if r.status != http.StatusOK {
			t.Fatalf("refresh: %d %s", r.status, r.body)
		}
		var s session
		r.json(t, &s)
		return s
	}
	r1 := rotate(reg.RefreshToken)
	r2 := rotate(r1.RefreshToken)

	// The stolen first token is replayed.
	r := e.refresh(t, reg.RefreshToken)
	if r.status != http.StatusUnauthorized || r.code(t) != "token_reused" {
		t.Fatalf("reuse: %d %s", r.status, r.body)
	}
	// The newest token of the family is dead too, and so is the intermediate one.
	for name, tok := range map[string]string{"newest": r2.RefreshToken, "intermediate": r1.RefreshToken} {
		if r := e.refresh(t, tok); r.status != http.StatusUnauthorized {
			t.Fatalf("%s token after reuse: %d %s", name, r.status, r.body)
		}
	}
	// The other login's family is untouched.
	rotate(other.RefreshToken)
}

func TestConcurrentRefreshCountsAsReuse(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	reg := e.register(t, uniqueEmail())
	const n = 4
	results := make([]resp, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { results[i] = e.refresh(t, reg.RefreshToken) })
	}
	wg.Wait()
	ok, reused := 0, 0
	var issued []string
	for _, r := range results {
		switch {
		case r.status == http.StatusOK:
			ok++
			var s session
			r.json(t, &s)
			issued = append(issued, s.RefreshToken)
		case r.status == http.StatusUnauthorized && r.code(t) == "token_reused":
			reused++
		case r.status == http.StatusUnauthorized: // arrived after the family was revoked
		default:
			t.Fatalf("unexpected %d %s", r.status, r.body)
		}
	}
	if ok != 1 || reused < 1 {
		t.Fatalf("%d succeeded, %d saw reuse; want exactly one success and a reuse", ok, reused)
	}
	for _, tok := range issued {
		if r := e.refresh(t, tok); r.status != http.StatusUnauthorized {
			t.Fatalf("token issued by the winning refresh survived the reuse: %d", r.status)
		}
	}
}

// A replayed token racing the legitimate client's rotation must not leave the rotation's new
// token alive.
func TestReuseRacingRotationRevokesEverything(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	for i := range 8 {
		s0 := e.register(t, uniqueEmail())
		r := e.refresh(t, s0.RefreshToken)
		var s1 session
		r.json(t, &s1)

		var legit, replay resp
		var wg sync.WaitGroup
		wg.Go(func() { legit = e.refresh(t, s1.RefreshToken) })
		wg.Go(func() { replay = e.refresh(t, s0.RefreshToken) })
		wg.Wait()
		if replay.status != http.StatusUnauthorized {
			t.Fatalf("replay: %d %s", replay.status, replay.body)
		}
		if legit.status == http.StatusOK {
			var s2 session
			legit.json(t, &s2)
			if r := e.refresh(t, s2.RefreshToken); r.status != http.StatusUnauthorized {
				t.Fatalf("round %d: token rotated during the reuse survived: %d", i, r.status)
			}
		}
	}
}

func TestRefreshRejects(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	a := e.register(t, uniqueEmail())
	b := e.register(t, uniqueEmail())
	_, secretA, _ := strings.Cut(a.RefreshToken, ".")

	// A gateway whose clock runs 31 days behind issues refresh tokens that, on the real clock,
	// expired a day ago (the default refresh lifetime is 30 days).
	past := newEnv(t, envOpts{now: func() time.Time { return time.Now().Add(-31 * 24 * time.Hour) }})
	d := past.register(t, uniqueEmail())

	cases := []struct {
		name, token string
	}{
		{"empty", ""},
		{"garbage", "garbage"},
		{"unknown token", a.Creator.ID.String() + "." + base64.RawURLEncoding.EncodeToString(make([]byte, 32))},
		{"A's secret under B's id", b.Creator.ID.String() + "." + secretA},
		{"expired", d.RefreshToken},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := e.refresh(t, tc.token)
			if r.status != http.StatusUnauthorized || r.code(t) != "invalid_token" {
				t.Fatalf("got %d %s", r.status, r.body)
			}
		})
	}
	// A's token still works after the attempts above (none of them touched its family).
	if r := e.refresh(t, a.RefreshToken); r.status != http.StatusOK {
		t.Fatalf("A's own refresh: %d %s", r.status, r.body)
	}
}

func TestCreatorsSeeOnlyThemselves(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	a := e.register(t, uniqueEmail())
	b := e.register(t, uniqueEmail())
	for _, c := range []struct {
		s     session
		other session
	}{{a, b}, {b, a}} {
		r := e.me(t, c.s.AccessToken)
		if r.status != http.StatusOK {
			t.Fatalf("me: %d", r.status)
		}
		var m me
		r.json(t, &m)
		if m.ID != c.s.Creator.ID || m.Email != c.s.Creator.Email || m.WidgetKey != c.s.Creator.WidgetKey {
			t.Fatalf("me = %+v, want creator %+v", m, c.s.Creator)
		}
		if strings.Contains(string(r.body), c.other.Creator.Email) || strings.Contains(string(r.body), c.other.Creator.ID.String()) {
			t.Fatalf("creator sees the other's data: %s", r.body)
		}
	}
	// B's refresh token cannot be used to log A out: it only revokes B's own family.
	if r := e.do(t, "POST", "/api/v1/auth/logout", map[string]string{"refresh_token": b.RefreshToken}); r.status != http.StatusNoContent {
		t.Fatalf("logout: %d", r.status)
	}
	if r := e.refresh(t, a.RefreshToken); r.status != http.StatusOK {
		t.Fatalf("A's refresh after B's logout: %d %s", r.status, r.body)
	}
}

// routePattern matches the route registrations in gateway.go's Handler.
var routePattern = regexp.MustCompile(`(?:route|public|creator|mux\.HandleFunc)\("([A-Z]+) (/[^"]*)"`)

func TestOpenAPICoversRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	r := e.do(t, "GET", "/openapi.yaml", nil)
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/yaml" {
		t.Fatalf("GET /openapi.yaml: %d %v", r.status, r.header)
	}
	var doc struct {
		OpenAPI string                    `yaml:"openapi"`
		Paths   map[string]map[string]any `yaml:"paths"`
		Comps   map[string]any            `yaml:"components"`
	}
	if err := yaml.Unmarshal(r.body, &doc); err != nil {
		t.Fatalf("openapi.yaml is not YAML: %v", err)
	}
	if doc.OpenAPI != "3.1.0" || len(doc.Paths) == 0 {
		t.Fatalf("openapi %q, %d paths", doc.OpenAPI, len(doc.Paths))
	}
	src, err := os.ReadFile("gateway.go")
	if err != nil {
		t.Fatal(err)
	}
	skip := map[string]bool{"/healthz": true, "/readyz": true, "/widget.js": true, "/widget/preview": true, "/widget/preview.js": true, "/demo": true, "/openapi.yaml": true}
	routes := routePattern.FindAllStringSubmatch(string(src), -1)
	if len(routes) < 10 {
		t.Fatalf("found only %d routes in gateway.go: the pattern is stale", len(routes))
	}
	for _, m := range routes {
		method, path := m[1], m[2]
		if skip[path] || method == "OPTIONS" || strings.HasPrefix(path, "/a/") { // the app's pages (docs/app.md)
			continue
		}
		ops, ok := doc.Paths[path]
		if !ok {
			t.Errorf("route %s %s has no path in openapi.yaml", method, path)
			continue
		}
		if _, ok := ops[strings.ToLower(method)]; !ok {
			t.Errorf("route %s %s: path in openapi.yaml has no %s operation", method, path, strings.ToLower(method))
		}
	}
	// Every $ref points at something that exists.
	for _, ref := range regexp.MustCompile(`\$ref: '#/components/([a-zA-Z]+)/([A-Za-z]+)'`).FindAllStringSubmatch(string(r.body), -1) {
		section, _ := doc.Comps[ref[1]].(map[string]any)
		if _, ok := section[ref[2]]; !ok {
			t.Errorf("dangling $ref %s", ref[0])
		}
	}
}
