package auth

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// maxTokenLen bounds the tokens we are willing to parse.
const maxTokenLen = 4096

// WidgetClaims names the widget end user a session token was issued to.
type WidgetClaims struct {
	CreatorID      uuid.UUID
	EndUserID      uuid.UUID
	ConversationID uuid.UUID
	// Channel is the end user's channel: "" (or "widget" when issuing) for the widget, or "app",
	// the installable app, which uses the same session and socket.
	Channel string
}

// widgetJWT is the wire form of a widget session token: sub = end user, cid = creator,
// conv = conversation, ch = channel (absent: the widget).
type widgetJWT struct {
	jwt.RegisteredClaims
	CreatorID      string `json:"cid"`
	ConversationID string `json:"conv"`
	Channel        string `json:"ch,omitempty"`
}

// AccessClaims name who an access token was issued to: a person (UserID), in one workspace
// (CreatorID, the tenant every request runs in), through one membership (MemberID) with a role.
// The gateway checks the membership on every request, so a removed member's token stops working
// at once and a changed role takes effect at once; Role is what it was at issue.
type AccessClaims struct {
	UserID    uuid.UUID
	CreatorID uuid.UUID
	MemberID  uuid.UUID
	Role      string
	// SessionID is the session (refresh-token family) the token was issued in; the gateway
	// refuses the token once that session is revoked. uuid.Nil in tokens issued before sessions.
	SessionID uuid.UUID
}

// accessJWT is the wire form of an access token: sub = user, cid = workspace (creator),
// mid = membership, role, sid = session (absent in tokens issued before sessions).
type accessJWT struct {
	jwt.RegisteredClaims
	CreatorID string `json:"cid"`
	MemberID  string `json:"mid"`
	Role      string `json:"role"`
	SessionID string `json:"sid,omitempty"`
}

// IssueAccess signs an access token (aud coachwire-api) and returns it with its expiry.
func (s *Service) IssueAccess(ac AccessClaims) (string, time.Time, error) {
	if ac.UserID == uuid.Nil || ac.CreatorID == uuid.Nil || ac.MemberID == uuid.Nil || ac.Role == "" {
		return "", time.Time{}, errors.New("auth: access token needs user, creator, membership and role")
	}
	rc, exp := s.registered(ac.UserID.String(), AudienceAPI, s.opts.AccessTTL)
	j := accessJWT{RegisteredClaims: rc, CreatorID: ac.CreatorID.String(), MemberID: ac.MemberID.String(), Role: ac.Role}
	if ac.SessionID != uuid.Nil {
		j.SessionID = ac.SessionID.String()
	}
	tok, err := s.sign(j)
	return tok, exp, err
}

// VerifyAccess checks an access token and returns its claims. Every failure wraps
// ErrInvalidToken.
func (s *Service) VerifyAccess(token string) (AccessClaims, error) {
	var c accessJWT
	if err := s.parse(token, AudienceAPI, &c); err != nil {
		return AccessClaims{}, err
	}
	var (
		ac               AccessClaims
		errU, errC, errM error
	)
	ac.UserID, errU = parseID(c.Subject)
	ac.CreatorID, errC = parseID(c.CreatorID)
	ac.MemberID, errM = parseID(c.MemberID)
	if err := errors.Join(errU, errC, errM); err != nil {
		return AccessClaims{}, fmt.Errorf("%w: claims: %v", ErrInvalidToken, err)
	}
	if c.Role == "" {
		return AccessClaims{}, fmt.Errorf("%w: claims: no role", ErrInvalidToken)
	}
	ac.Role = c.Role
	if c.SessionID != "" {
		var err error
		if ac.SessionID, err = parseID(c.SessionID); err != nil {
			return AccessClaims{}, fmt.Errorf("%w: claims: session: %v", ErrInvalidToken, err)
		}
	}
	return ac, nil
}

// IssueWidget signs a widget session token (aud coachwire-widget) and returns it with its expiry.
func (s *Service) IssueWidget(wc WidgetClaims) (string, time.Time, error) {
	if wc.CreatorID == uuid.Nil || wc.EndUserID == uuid.Nil || wc.ConversationID == uuid.Nil {
		return "", time.Time{}, errors.New("auth: widget token needs creator, end user and conversation ids")
	}
	rc, exp := s.registered(wc.EndUserID.String(), AudienceWidget, s.opts.WidgetTTL)
	ch := wc.Channel
	if ch == "widget" {
		ch = "" // the default: widget tokens stay as they were
	}
	tok, err := s.sign(widgetJWT{RegisteredClaims: rc, CreatorID: wc.CreatorID.String(), ConversationID: wc.ConversationID.String(), Channel: ch})
	return tok, exp, err
}

// VerifyWidget checks a widget session token. Every failure wraps ErrInvalidToken.
func (s *Service) VerifyWidget(token string) (WidgetClaims, error) {
	var c widgetJWT
	if err := s.parse(token, AudienceWidget, &c); err != nil {
		return WidgetClaims{}, err
	}
	var (
		wc               WidgetClaims
		errU, errC, errV error
	)
	wc.EndUserID, errU = parseID(c.Subject)
	wc.CreatorID, errC = parseID(c.CreatorID)
	wc.ConversationID, errV = parseID(c.ConversationID)
	if err := errors.Join(errU, errC, errV); err != nil {
		return WidgetClaims{}, fmt.Errorf("%w: claims: %v", ErrInvalidToken, err)
	}
	switch c.Channel {
	case "":
	case "app":
		wc.Channel = "app"
	default:
		return WidgetClaims{}, fmt.Errorf("%w: claims: unknown channel %q", ErrInvalidToken, c.Channel)
	}
	return wc, nil
}

func (s *Service) registered(sub, aud string, ttl time.Duration) (jwt.RegisteredClaims, time.Time) {
	now := s.opts.Now()
	exp := now.Add(ttl)
	return jwt.RegisteredClaims{
		Issuer:    s.opts.Issuer,
		Subject:   sub,
		Audience:  jwt.ClaimStrings{aud},
		ExpiresAt: jwt.NewNumericDate(exp),
		IssuedAt:  jwt.NewNumericDate(now),
		ID:        uuid.NewString(),
	}, exp.Truncate(time.Second) // NumericDate has second precision
}

func (s *Service) sign(claims jwt.Claims) (string, error) {
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	t.Header["kid"] = s.keys.signKID
	tok, err := t.SignedString(s.keys.sign)
	if err != nil {
		return "", fmt.Errorf("auth: sign token: %w", err)
	}
	return tok, nil
}

// parse verifies signature, algorithm, key id, audience (exactly aud), expiry, issued-at and
// issuer (Options.Issuer or one of AcceptIssuers), then decodes claims.
func (s *Service) parse(token, aud string, claims jwt.Claims) error {
	if token == "" || len(token) > maxTokenLen {
		return fmt.Errorf("%w: empty or oversized", ErrInvalidToken)
	}
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithAudience(aud),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(leeway),
		jwt.WithTimeFunc(s.opts.Now),
	)
	_, err := p.ParseWithClaims(token, claims, s.keyFor)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	// jwt accepts any token whose aud list contains ours; we issue exactly one audience, so a
	// token naming several was not minted by us for this purpose.
	got, _ := claims.GetAudience()
	if !slices.Equal(got, jwt.ClaimStrings{aud}) {
		return fmt.Errorf("%w: audience", ErrInvalidToken)
	}
	if iat, _ := claims.GetIssuedAt(); iat == nil {
		return fmt.Errorf("%w: no iat", ErrInvalidToken)
	}
	if iss, _ := claims.GetIssuer(); iss != s.opts.Issuer && !slices.Contains(s.opts.AcceptIssuers, iss) {
		return fmt.Errorf("%w: issuer", ErrInvalidToken)
	}
	return nil
}

// keyFor resolves the verifying key by the header's kid. The algorithm is pinned by the parser
// and checked again here, so a key is never handed to another method (HS256 with the public key).
func (s *Service) keyFor(t *jwt.Token) (any, error) {
	if _, ok := t.Method.(*jwt.SigningMethodEd25519); !ok || t.Method.Alg() != jwt.SigningMethodEdDSA.Alg() {
		return nil, errors.New("unexpected signing method")
	}
	kid, ok := t.Header["kid"].(string)
	if !ok || kid == "" {
		return nil, errors.New("no kid")
	}
	key, ok := s.keys.verify[kid]
	if !ok {
		return nil, errors.New("unknown kid")
	}
	return ed25519.PublicKey(key), nil
}

func parseID(s string) (uuid.UUID, error) {
	id, err := uuid.Parse(s)
	if err != nil {
		return uuid.Nil, errors.New("not a uuid")
	}
	if id == uuid.Nil {
		return uuid.Nil, errors.New("nil uuid")
	}
	return id, nil
}
