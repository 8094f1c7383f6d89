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
}

// widgetJWT is the wire form of a widget session token: sub = end user, cid = creator,
// conv = conversation.
type widgetJWT struct {
	jwt.RegisteredClaims
	CreatorID      string `json:"cid"`
	ConversationID string `json:"conv"`
}

// IssueAccess signs a creator access token (aud coachwire-api) and returns it with its expiry.
func (s *Service) IssueAccess(creatorID uuid.UUID) (string, time.Time, error) {
	if creatorID == uuid.Nil {
		return "", time.Time{}, errors.New("auth: access token for the nil creator")
	}
	rc, exp := s.registered(creatorID.String(), AudienceAPI, s.opts.AccessTTL)
	tok, err := s.sign(rc)
	return tok, exp, err
}

// VerifyAccess checks a creator access token and returns the creator id it names. Every failure
// wraps ErrInvalidToken.
func (s *Service) VerifyAccess(token string) (uuid.UUID, error) {
	var c jwt.RegisteredClaims
	if err := s.parse(token, AudienceAPI, &c); err != nil {
		return uuid.Nil, err
	}
	id, err := parseID(c.Subject)
	if err != nil {
		return uuid.Nil, fmt.Errorf("%w: sub: %v", ErrInvalidToken, err)
	}
	return id, nil
}

// IssueWidget signs a widget session token (aud coachwire-widget) and returns it with its expiry.
func (s *Service) IssueWidget(wc WidgetClaims) (string, time.Time, error) {
	if wc.CreatorID == uuid.Nil || wc.EndUserID == uuid.Nil || wc.ConversationID == uuid.Nil {
		return "", time.Time{}, errors.New("auth: widget token needs creator, end user and conversation ids")
	}
	rc, exp := s.registered(wc.EndUserID.String(), AudienceWidget, s.opts.WidgetTTL)
	tok, err := s.sign(widgetJWT{RegisteredClaims: rc, CreatorID: wc.CreatorID.String(), ConversationID: wc.ConversationID.String()})
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

// parse verifies signature, algorithm, key id, issuer, audience (exactly aud), expiry and
// issued-at, then decodes claims.
func (s *Service) parse(token, aud string, claims jwt.Claims) error {
	if token == "" || len(token) > maxTokenLen {
		return fmt.Errorf("%w: empty or oversized", ErrInvalidToken)
	}
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(s.opts.Issuer),
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
