package auth

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"golang.org/x/crypto/bcrypt"
)

const testIssuer = "https://coachwire.test"

func newService(t *testing.T, mod func(*Options)) *Service {
	t.Helper()
	o := Options{KeyFile: filepath.Join(t.TempDir(), "keys", "jwt.json"), Issuer: testIssuer, BcryptCost: bcrypt.MinCost}
	if mod != nil {
		mod(&o)
	}
	s, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

// signWith signs claims with the service's signing key and the given header changes.
func signWith(t *testing.T, s *Service, claims jwt.Claims, hdr map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	tok.Header["kid"] = s.keys.signKID
	for k, v := range hdr {
		if v == nil {
			delete(tok.Header, k)
		} else {
			tok.Header[k] = v
		}
	}
	out, err := tok.SignedString(s.keys.sign)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func validClaims(s *Service, sub string) accessJWT {
	now := s.Now()
	return accessJWT{RegisteredClaims: jwt.RegisteredClaims{
		Issuer: testIssuer, Subject: sub, Audience: jwt.ClaimStrings{AudienceAPI},
		ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)), IssuedAt: jwt.NewNumericDate(now), ID: "x",
	}, CreatorID: uuid.NewString(), MemberID: uuid.NewString(), Role: "owner"}
}

// claimsFor are access claims for user id in a fresh workspace.
func claimsFor(id uuid.UUID) AccessClaims {
	return AccessClaims{UserID: id, CreatorID: uuid.New(), MemberID: uuid.New(), Role: "owner"}
}

func TestNewCreatesKeyFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "a", "b", "jwt.json")
	s1, err := New(Options{KeyFile: path, Issuer: testIssuer, BcryptCost: 4})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	if di, _ := os.Stat(filepath.Dir(path)); di.Mode().Perm() != 0o700 {
		t.Errorf("key dir mode %v, want 0700", di.Mode().Perm())
	}
	var entries []keyEntry
	data, _ := os.ReadFile(path)
	if err := json.Unmarshal(data, &entries); err != nil || len(entries) != 1 || entries[0].KID != s1.SigningKeyID() {
		t.Fatalf("key file %s: %v %+v", data, err, entries)
	}
	// A second service on the same file loads the same key: tokens verify across replicas.
	s2, err := New(Options{KeyFile: path, Issuer: testIssuer, BcryptCost: 4})
	if err != nil {
		t.Fatal(err)
	}
	id := uuid.New()
	tok, _, err := s1.IssueAccess(claimsFor(id))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s2.VerifyAccess(tok); err != nil || got.UserID != id {
		t.Fatalf("VerifyAccess on second service = %v, %v", got, err)
	}
	if matches, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".jwtkeys-*")); len(matches) != 0 {
		t.Errorf("temporary files left behind: %v", matches)
	}
}

func TestNewConcurrentCreateAgrees(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "jwt.json")
	const n = 8
	kids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			s, err := New(Options{KeyFile: path, Issuer: testIssuer, BcryptCost: 4})
			if err != nil {
				t.Error(err)
				return
			}
			kids[i] = s.SigningKeyID()
		})
	}
	wg.Wait()
	for _, k := range kids {
		if k != kids[0] {
			t.Fatalf("racing services disagree on the key: %v", kids)
		}
	}
}

func TestKeyRotation(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "jwt.json")
	if err := GenerateKeyFile(path); err != nil {
		t.Fatal(err)
	}
	if err := GenerateKeyFile(path); !errors.Is(err, os.ErrExist) {
		t.Fatalf("GenerateKeyFile over an existing file = %v, want ErrExist", err)
	}
	old, err := New(Options{KeyFile: path, Issuer: testIssuer, BcryptCost: 4})
	if err != nil {
		t.Fatal(err)
	}
	id := uuid.New()
	oldTok, _, _ := old.IssueAccess(claimsFor(id))

	kid, err := RotateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("rotated key file mode %v", fi.Mode().Perm())
	}
	cur, err := New(Options{KeyFile: path, Issuer: testIssuer, BcryptCost: 4})
	if err != nil {
		t.Fatal(err)
	}
	if cur.SigningKeyID() != kid || kid == old.SigningKeyID() {
		t.Fatalf("signing kid %q, rotated %q, old %q", cur.SigningKeyID(), kid, old.SigningKeyID())
	}
	if len(cur.PublicKeys()) != 2 {
		t.Fatalf("want 2 verifying keys, got %d", len(cur.PublicKeys()))
	}
	if got, err := cur.VerifyAccess(oldTok); err != nil || got.UserID != id {
		t.Fatalf("token of the retired key no longer verifies: %v", err)
	}
	newTok, _, _ := cur.IssueAccess(claimsFor(id))
	if _, err := old.VerifyAccess(newTok); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("a service without the new key accepted its token: %v", err)
	}
}

func TestKeyFileRejected(t *testing.T) {
	t.Parallel()
	seed := base64.StdEncoding.EncodeToString(make([]byte, 32))
	cases := []struct {
		name    string
		content string
		mode    os.FileMode
		want    string
	}{
		{"not json", "{", 0o600, "not a JSON list"},
		{"empty list", "[]", 0o600, "holds no keys"},
		{"short seed", `[{"kid":"a","seed":"AAAA"}]`, 0o600, "seed must be"},
		{"no kid", `[{"kid":"","seed":"` + seed + `"}]`, 0o600, "kid must be"},
		{"duplicate kid", `[{"kid":"a","seed":"` + seed + `"},{"kid":"a","seed":"` + seed + `"}]`, 0o600, "appears twice"},
		{"group writable", `[{"kid":"a","seed":"` + seed + `"}]`, 0o620, "writable by group or others"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "jwt.json")
			if err := os.WriteFile(path, []byte(c.content), c.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, c.mode); err != nil {
				t.Fatal(err)
			}
			_, err := New(Options{KeyFile: path, Issuer: testIssuer, BcryptCost: 4})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("New = %v, want error containing %q", err, c.want)
			}
			if strings.Contains(err.Error(), seed) {
				t.Fatalf("error leaks the seed: %v", err)
			}
		})
	}
}

func TestNewOptions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, o := range []Options{
		{Issuer: testIssuer},
		{KeyFile: filepath.Join(dir, "k.json")},
		{KeyFile: filepath.Join(dir, "k.json"), Issuer: testIssuer, BcryptCost: 3},
		{KeyFile: filepath.Join(dir, "k.json"), Issuer: testIssuer, BcryptCost: 32},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) succeeded", o)
		}
	}
}

func TestAccessToken(t *testing.T) {
	t.Parallel()
	s := newService(t, nil)
	id := uuid.New()
	tok, exp, err := s.IssueAccess(claimsFor(id))
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(exp); d < 14*time.Minute || d > 15*time.Minute+time.Second {
		t.Errorf("expiry in %v, want ~15m", d)
	}
	got, err := s.VerifyAccess(tok)
	if err != nil || got.UserID != id || got.Role != "owner" || got.CreatorID == uuid.Nil || got.MemberID == uuid.Nil {
		t.Fatalf("VerifyAccess = %v, %v", got, err)
	}
	hdr, claims := decode(t, tok)
	if hdr["alg"] != "EdDSA" || hdr["kid"] != s.SigningKeyID() {
		t.Errorf("header %v", hdr)
	}
	for _, k := range []string{"sub", "iss", "aud", "exp", "iat", "jti", "cid", "mid", "role"} {
		if _, ok := claims[k]; !ok {
			t.Errorf("claim %s missing: %v", k, claims)
		}
	}
	if _, _, err := s.IssueAccess(claimsFor(uuid.Nil)); err == nil {
		t.Error("issued a token for the nil user")
	}
	for _, ac := range []AccessClaims{{UserID: id, MemberID: id, Role: "owner"}, {UserID: id, CreatorID: id, Role: "owner"}, {UserID: id, CreatorID: id, MemberID: id}} {
		if _, _, err := s.IssueAccess(ac); err == nil {
			t.Errorf("issued a token with claims %+v", ac)
		}
	}
}

func decode(t *testing.T, tok string) (map[string]any, map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	var h, c map[string]any
	for i, v := range []*map[string]any{&h, &c} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatal(err)
		}
	}
	return h, c
}

func TestVerifyAccessRejects(t *testing.T) {
	t.Parallel()
	s := newService(t, nil)
	other := newService(t, nil)
	sub := uuid.NewString()
	good, _, _ := s.IssueAccess(claimsFor(uuid.MustParse(sub)))
	widget, _, _ := s.IssueWidget(WidgetClaims{CreatorID: uuid.MustParse(sub), EndUserID: uuid.New(), ConversationID: uuid.New()})

	var pub ed25519.PublicKey
	for _, k := range s.PublicKeys() {
		pub = k
	}
	hsWithPub := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, validClaims(s, sub))
		tok.Header["kid"] = s.SigningKeyID()
		out, err := tok.SignedString([]byte(pub))
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	none := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodNone, validClaims(s, sub))
		tok.Header["kid"] = s.SigningKeyID()
		out, err := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	with := func(f func(*jwt.RegisteredClaims)) accessJWT {
		c := validClaims(s, sub)
		f(&c.RegisteredClaims)
		return c
	}
	withAccess := func(f func(*accessJWT)) accessJWT {
		c := validClaims(s, sub)
		f(&c)
		return c
	}
	otherKid, _, _ := other.IssueAccess(claimsFor(uuid.MustParse(sub)))
	// Same kid as ours, signed by another key.
	forgedKid := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, validClaims(s, sub))
		tok.Header["kid"] = s.SigningKeyID()
		out, _ := tok.SignedString(other.keys.sign)
		return out
	}
	tampered := func() string {
		p := strings.Split(good, ".")
		sig, _ := base64.RawURLEncoding.DecodeString(p[2])
		sig[0] ^= 1
		return p[0] + "." + p[1] + "." + base64.RawURLEncoding.EncodeToString(sig)
	}
	swappedPayload := func() string {
		// Our header and signature around a payload naming another creator.
		c := validClaims(s, uuid.NewString())
		b, _ := json.Marshal(c)
		p := strings.Split(good, ".")
		return p[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + p[2]
	}

	cases := []struct{ name, tok string }{
		{"empty", ""},
		{"garbage", "not.a.jwt"},
		{"oversized", strings.Repeat("a", maxTokenLen+1)},
		{"alg none", none()},
		{"HS256 keyed with the public key", hsWithPub()},
		{"widget token as access token", widget},
		{"wrong audience", signWith(t, s, with(func(c *jwt.RegisteredClaims) { c.Audience = jwt.ClaimStrings{"other"} }), nil)},
		{"two audiences", signWith(t, s, with(func(c *jwt.RegisteredClaims) { c.Audience = jwt.ClaimStrings{AudienceAPI, AudienceWidget} }), nil)},
		{"no audience", signWith(t, s, with(func(c *jwt.RegisteredClaims) { c.Audience = nil }), nil)},
		{"wrong issuer", signWith(t, s, with(func(c *jwt.RegisteredClaims) { c.Issuer = "https://evil.test" }), nil)},
		{"no issuer", signWith(t, s, with(func(c *jwt.RegisteredClaims) { c.Issuer = "" }), nil)},
		{"no exp", signWith(t, s, with(func(c *jwt.RegisteredClaims) { c.ExpiresAt = nil }), nil)},
		{"expired beyond leeway", signWith(t, s, with(func(c *jwt.RegisteredClaims) { c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-leeway - time.Second)) }), nil)},
		{"issued in the future", signWith(t, s, with(func(c *jwt.RegisteredClaims) { c.IssuedAt = jwt.NewNumericDate(time.Now().Add(time.Hour)) }), nil)},
		{"no iat", signWith(t, s, with(func(c *jwt.RegisteredClaims) { c.IssuedAt = nil }), nil)},
		{"sub not a uuid", signWith(t, s, with(func(c *jwt.RegisteredClaims) { c.Subject = "admin" }), nil)},
		{"sub nil uuid", signWith(t, s, with(func(c *jwt.RegisteredClaims) { c.Subject = uuid.Nil.String() }), nil)},
		{"no creator", signWith(t, s, withAccess(func(c *accessJWT) { c.CreatorID = "" }), nil)},
		{"creator not a uuid", signWith(t, s, withAccess(func(c *accessJWT) { c.CreatorID = "x" }), nil)},
		{"no membership", signWith(t, s, withAccess(func(c *accessJWT) { c.MemberID = "" }), nil)},
		{"no role", signWith(t, s, withAccess(func(c *accessJWT) { c.Role = "" }), nil)},
		{"no kid", signWith(t, s, validClaims(s, sub), map[string]any{"kid": nil})},
		{"kid not a string", signWith(t, s, validClaims(s, sub), map[string]any{"kid": 1})},
		{"unknown kid", signWith(t, s, validClaims(s, sub), map[string]any{"kid": "nope"})},
		{"other keyset", otherKid},
		{"our kid, other key", forgedKid()},
		{"tampered signature", tampered()},
		{"swapped payload", swappedPayload()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			id, err := s.VerifyAccess(c.tok)
			if !errors.Is(err, ErrInvalidToken) || id != (AccessClaims{}) {
				t.Fatalf("VerifyAccess = %v, %v; want ErrInvalidToken", id, err)
			}
		})
	}
}

func TestExpiryUsesClock(t *testing.T) {
	t.Parallel()
	now := time.Now()
	path := filepath.Join(t.TempDir(), "jwt.json")
	past, err := New(Options{KeyFile: path, Issuer: testIssuer, BcryptCost: 4, Now: func() time.Time { return now.Add(-time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{KeyFile: path, Issuer: testIssuer, BcryptCost: 4, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	tok, _, _ := past.IssueAccess(claimsFor(uuid.New()))
	if _, err := s.VerifyAccess(tok); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("expired token accepted: %v", err)
	}
	// Within leeway: a token that expired 5s ago still passes.
	justNow, _ := New(Options{KeyFile: path, Issuer: testIssuer, BcryptCost: 4, AccessTTL: time.Minute,
		Now: func() time.Time { return now.Add(-time.Minute - 5*time.Second) }})
	tok, _, _ = justNow.IssueAccess(claimsFor(uuid.New()))
	if _, err := s.VerifyAccess(tok); err != nil {
		t.Fatalf("token within leeway rejected: %v", err)
	}
}

func TestWidgetToken(t *testing.T) {
	t.Parallel()
	s := newService(t, nil)
	wc := WidgetClaims{CreatorID: uuid.New(), EndUserID: uuid.New(), ConversationID: uuid.New()}
	tok, exp, err := s.IssueWidget(wc)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(exp); d < 29*time.Minute || d > 30*time.Minute+time.Second {
		t.Errorf("widget expiry in %v", d)
	}
	got, err := s.VerifyWidget(tok)
	if err != nil || got != wc {
		t.Fatalf("VerifyWidget = %+v, %v", got, err)
	}
	if _, err := s.VerifyAccess(tok); !errors.Is(err, ErrInvalidToken) {
		t.Fatal("widget token passed as access token")
	}
	access, _, _ := s.IssueAccess(claimsFor(wc.CreatorID))
	if _, err := s.VerifyWidget(access); !errors.Is(err, ErrInvalidToken) {
		t.Fatal("access token passed as widget token")
	}
	// An access-audience token carrying widget claims is still not a widget token, and a
	// widget-audience token missing its claims is refused.
	rc := validClaims(s, wc.EndUserID.String())
	rc.Audience = jwt.ClaimStrings{AudienceWidget}
	if _, err := s.VerifyWidget(signWith(t, s, rc, nil)); !errors.Is(err, ErrInvalidToken) {
		t.Fatal("widget token without creator/conversation accepted")
	}
	if _, _, err := s.IssueWidget(WidgetClaims{CreatorID: wc.CreatorID}); err == nil {
		t.Fatal("issued a widget token with missing ids")
	}
	// The app's sessions are the same kind of token, for the channel "app".
	app := wc
	app.Channel = "app"
	tok, _, err = s.IssueWidget(app)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.VerifyWidget(tok); err != nil || got != app {
		t.Fatalf("VerifyWidget(app) = %+v, %v", got, err)
	}
}

func TestPasswords(t *testing.T) {
	t.Parallel()
	s := newService(t, nil)
	cases := []struct {
		pw   string
		want error
	}{
		{"", ErrPasswordTooShort},
		{"1234567", ErrPasswordTooShort},
		{"12345678", nil},
		{"ééééééé", ErrPasswordTooShort}, // 7 characters, 14 bytes
		{"éééééééé", nil},
		{strings.Repeat("a", 72), nil},
		{strings.Repeat("a", 73), ErrPasswordTooLong},
		{strings.Repeat("é", 37), ErrPasswordTooLong}, // 74 bytes
	}
	for _, c := range cases {
		if err := ValidatePassword(c.pw); !errors.Is(err, c.want) {
			t.Errorf("ValidatePassword(%q) = %v, want %v", c.pw, err, c.want)
		}
		if _, err := s.HashPassword(c.pw); !errors.Is(err, c.want) {
			t.Errorf("HashPassword(%q) = %v, want %v", c.pw, err, c.want)
		}
	}
	h, err := s.HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if cost, _ := bcrypt.Cost([]byte(h)); cost != bcrypt.MinCost {
		t.Errorf("cost %d", cost)
	}
	if !s.CheckPassword(h, "correct horse") {
		t.Error("right password refused")
	}
	for _, wrong := range []string{"correct horsE", "", strings.Repeat("x", 200)} {
		if s.CheckPassword(h, wrong) {
			t.Errorf("wrong password %q accepted", wrong)
		}
	}
	// No account: compared against the dummy hash, never true.
	if s.CheckPassword("", "correct horse") || s.CheckPassword("", "") {
		t.Error("empty hash matched")
	}
	if cost, _ := bcrypt.Cost(s.dummyHash); cost != s.opts.BcryptCost {
		t.Errorf("dummy hash cost %d, want %d: unknown emails would answer faster", cost, s.opts.BcryptCost)
	}
}

func TestRefreshTokens(t *testing.T) {
	t.Parallel()
	id := uuid.New()
	raw, hash := NewRefreshToken(id)
	prefix, secret, _ := strings.Cut(raw, ".")
	if prefix != id.String() || len(secret) != 43 {
		t.Fatalf("raw token %q", raw)
	}
	raw2, hash2 := NewRefreshToken(id)
	if raw2 == raw || string(hash2) == string(hash) {
		t.Fatal("two refresh tokens are equal")
	}
	gotID, gotHash, err := ParseRefreshToken(raw)
	if err != nil || gotID != id || string(gotHash) != string(hash) || len(hash) != 32 {
		t.Fatalf("ParseRefreshToken = %v, %x, %v", gotID, gotHash, err)
	}
	if strings.Contains(string(hash), secret) {
		t.Fatal("hash contains the secret")
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	valid := base64.RawURLEncoding.EncodeToString(b)
	for _, bad := range []string{
		"",
		id.String(),
		id.String() + ".",
		"." + valid,
		"not-a-uuid-not-a-uuid-not-a-uuid-xxxx." + valid,
		uuid.Nil.String() + "." + valid,
		strings.ToUpper(id.String()) + "." + valid,
		id.String() + "." + valid[:42],
		id.String() + "." + valid + "A",
		id.String() + "." + base64.StdEncoding.EncodeToString(b),
		id.String() + "." + valid + ".x",
	} {
		if _, _, err := ParseRefreshToken(bad); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("ParseRefreshToken(%q) = %v", bad, err)
		}
	}
}

func TestIPKey(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"10.0.0.1:80":             "10.0.0.1",
		"10.0.0.1":                "10.0.0.1",
		"[::ffff:10.0.0.1]:80":    "10.0.0.1",
		"[2001:db8::1]:80":        "2001:db8::/64",
		"[fe80::1%eth0]:80":       "fe80::/64",
		"2001:db8:0:0:1:2:3:4":    "2001:db8::/64",
		"unix-socket-or-whatever": "unix-socket-or-whatever",
	} {
		if got := IPKey(in); got != want {
			t.Errorf("IPKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestInvitationAndAPIKeyTokens(t *testing.T) {
	t.Parallel()
	creator := uuid.New()
	inv, hash := NewInvitationToken(creator)
	got, h, err := ParseInvitationToken(inv)
	if err != nil || got != creator || !bytes.Equal(h, hash) {
		t.Fatalf("ParseInvitationToken = %v, %x, %v", got, h, err)
	}
	// A refresh token is not an invitation and an invitation is not a refresh token.
	refresh, _ := NewRefreshToken(creator)
	if _, _, err := ParseInvitationToken(refresh); !errors.Is(err, ErrInvalidToken) {
		t.Fatal("refresh token parsed as an invitation")
	}
	if _, _, err := ParseRefreshToken(inv); !errors.Is(err, ErrInvalidToken) {
		t.Fatal("invitation parsed as a refresh token")
	}
	for _, bad := range []string{"", "cwi_", "cwi_" + creator.String(), "cwi_" + creator.String() + ".short", inv + "x"} {
		if _, _, err := ParseInvitationToken(bad); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("ParseInvitationToken(%q) accepted", bad)
		}
	}

	key, prefix, khash := NewAPIKey()
	if !IsAPIKey(key) || !strings.HasPrefix(key, prefix) || len(prefix) != 12 {
		t.Fatalf("key %q prefix %q", key, prefix)
	}
	if h, err := ParseAPIKey(key); err != nil || !bytes.Equal(h, khash) {
		t.Fatalf("ParseAPIKey = %x, %v", h, err)
	}
	if other, _, _ := NewAPIKey(); other == key {
		t.Fatal("two keys alike")
	}
	for _, bad := range []string{"", "cwk_", key[:len(key)-1], key + "A", "cwk_" + strings.Repeat("*", 43), "xwk_" + key[4:]} {
		if _, err := ParseAPIKey(bad); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("ParseAPIKey(%q) accepted", bad)
		}
	}
}

// TestAcceptIssuers: a token naming an issuer in AcceptIssuers (what an older version signed
// with) verifies; one naming any other issuer does not, and new tokens name Issuer.
func TestAcceptIssuers(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "jwt.json")
	old, err := New(Options{KeyFile: path, Issuer: "http://127.0.0.1:8080", BcryptCost: 4})
	if err != nil {
		t.Fatal(err)
	}
	other, err := New(Options{KeyFile: path, Issuer: "http://10.0.0.7:8080", BcryptCost: 4})
	if err != nil {
		t.Fatal(err)
	}
	cur, err := New(Options{KeyFile: path, Issuer: Issuer, AcceptIssuers: []string{"http://127.0.0.1:8080"}, BcryptCost: 4})
	if err != nil {
		t.Fatal(err)
	}
	c := claimsFor(uuid.New())
	tok, _, _ := old.IssueAccess(c)
	if _, err := cur.VerifyAccess(tok); err != nil {
		t.Errorf("token of the accepted old issuer: %v", err)
	}
	tok, _, _ = other.IssueAccess(c)
	if _, err := cur.VerifyAccess(tok); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("token of another issuer: %v, want ErrInvalidToken", err)
	}
	tok, _, _ = cur.IssueAccess(c)
	if _, err := old.VerifyAccess(tok); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("new tokens name Issuer, not an accepted one: %v", err)
	}
	var rc jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(tok, &rc); err != nil || rc.Issuer != Issuer {
		t.Errorf("iss %q, %v; want %q", rc.Issuer, err, Issuer)
	}
}
