package gateway

// Creator authentication: registration, login, refresh-token rotation, logout, the current
// creator and the middleware that guards every creator route.
//
// Tokens: a short-lived EdDSA access JWT (Authorization: Bearer, never a cookie or a query
// parameter) and a long-lived opaque refresh token "<creator id>.<random>" stored only as its
// SHA-256. Refresh tokens rotate on every use inside a family; presenting a used one revokes the
// family (it was stolen, or the client is confused: either way everybody logs in again).

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/mail"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/internal/auth"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/ratelimit"
)

const (
	authMaxEmailLen   = 254
	authTenantTimeout = 15 * time.Second
	authBearerRealm   = `Bearer realm="coachwire"`
)

// creatorAuth is what requireCreator hands a creator route: the authenticated creator.
type creatorAuth struct{ CreatorID uuid.UUID }

// requireCreator accepts only "Authorization: Bearer <access token>". Cookies and query
// parameters are never looked at.
func (s *Server) requireCreator(h func(http.ResponseWriter, *http.Request, creatorAuth) error) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		vals := r.Header.Values("Authorization")
		if len(vals) == 0 {
			// RFC 6750 §3.1: no error code when the request carried no credentials.
			w.Header().Set("WWW-Authenticate", authBearerRealm)
			return &apiError{Status: http.StatusUnauthorized, Code: "unauthorized", Message: "missing bearer access token"}
		}
		invalid := func(err error) error {
			w.Header().Set("WWW-Authenticate", authBearerRealm+`, error="invalid_token"`)
			return &apiError{Status: http.StatusUnauthorized, Code: "invalid_token", Message: "invalid or expired access token", Err: err}
		}
		if len(vals) > 1 {
			return invalid(errors.New("several Authorization headers"))
		}
		scheme, tok, ok := strings.Cut(vals[0], " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return invalid(errors.New("not a bearer token"))
		}
		id, err := s.Auth.VerifyAccess(strings.TrimSpace(tok))
		if err != nil {
			return invalid(err)
		}
		return domainError(h(w, r, creatorAuth{CreatorID: id}))
	}
}

type creatorSummary struct {
	ID        uuid.UUID `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	WidgetKey string    `json:"widget_key"`
}

// sessionResponse is the body of register, login and refresh.
type sessionResponse struct {
	Creator      creatorSummary `json:"creator"`
	AccessToken  string         `json:"access_token"`
	TokenType    string         `json:"token_type"`
	ExpiresAt    time.Time      `json:"expires_at"`
	RefreshToken string         `json:"refresh_token"`
}

func (s *Server) writeSession(w http.ResponseWriter, status int, c db.Creator, refresh string) error {
	access, exp, err := s.Auth.IssueAccess(c.ID)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, sessionResponse{
		Creator:      creatorSummary{ID: c.ID, Email: c.Email, Name: c.Name, WidgetKey: c.WidgetKey},
		AccessToken:  access,
		TokenType:    "Bearer",
		ExpiresAt:    exp.UTC(),
		RefreshToken: refresh,
	})
	return nil
}

// newRefresh stores a fresh refresh token of family for creatorID and returns the raw token.
func (s *Server) newRefresh(ctx context.Context, q *db.Queries, creatorID, family uuid.UUID) (string, error) {
	return auth.StoreRefresh(ctx, q, creatorID, family, s.Now().Add(s.Auth.RefreshTTL()))
}

// handleRegister creates a creator with credentials, a widget key, a knowledge-index tenant and a
// first session.
//
// Retry safety: everything happens in one tenant transaction, and the Weaviate tenant is created
// inside it, just before commit. If the index is unreachable the transaction rolls back and the
// client gets 503 with Retry-After: nothing was kept, so retrying the same request is safe (it
// cannot hit email_taken because of a half-finished attempt). If the commit fails after the
// tenant was made, an empty tenant named by an unused id remains, which is harmless.
func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Email    string `json:"email"`
		Password string `json:"password"`
		Name     string `json:"name"`
	}
	if err := readJSON(w, r, &req); err != nil {
		return err
	}
	email, ok := validCreatorEmail(req.Email)
	if !ok {
		return errBadRequest("invalid_email", "email must be a plain address such as ana@example.com")
	}
	name := strings.TrimSpace(req.Name)
	if err := limitName.field("invalid_name", "name", name); err != nil {
		return err
	}
	switch err := auth.ValidatePassword(req.Password); {
	case errors.Is(err, auth.ErrPasswordTooShort):
		return errBadRequest("password_too_short", "password must be at least 8 characters")
	case errors.Is(err, auth.ErrPasswordTooLong):
		return errBadRequest("password_too_long", "password must be at most 72 bytes")
	case err != nil:
		return errBadRequest("invalid_password", "password rejected")
	}
	ip := s.clientIP(r)
	if err := s.limitHTTP(w, r, "too many registrations from this address; retry later",
		ratelimit.Check{Key: "register:ip:" + auth.IPKey(ip), Rule: s.limits.cfg.RegistrationsPerIP}); err != nil {
		return err
	}
	hash, err := s.Auth.HashPassword(req.Password)
	if err != nil {
		return err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	family, err := uuid.NewV7()
	if err != nil {
		return err
	}
	widgetKey := "wk_" + base64.RawURLEncoding.EncodeToString(authRandom(24))
	widgetSecret := hex.EncodeToString(authRandom(32))

	ctx := r.Context()
	var (
		c       db.Creator
		refresh string
	)
	err = s.Store.InTenant(ctx, id, func(q *db.Queries) error {
		var err error
		c, err = q.InsertCreator(ctx, db.InsertCreatorParams{
			ID: id, Name: name, Email: email, WidgetKey: widgetKey, WidgetSecret: widgetSecret,
			AllowedOrigins: []string{},
		})
		if err != nil {
			return err
		}
		err = q.RegisterAccount(ctx, db.RegisterAccountParams{CreatorID: id, Email: email, PasswordHash: hash})
		if db.IsUniqueViolation(err) {
			return errConflict("email_taken", "an account with this email already exists")
		}
		if err != nil {
			return err
		}
		if err := q.RegisterWidgetKey(ctx, db.RegisterWidgetKeyParams{CreatorID: id, WidgetKey: widgetKey}); err != nil {
			return err
		}
		if refresh, err = s.newRefresh(ctx, q, id, family); err != nil {
			return err
		}
		if s.Tenants != nil {
			tctx, cancel := context.WithTimeout(ctx, authTenantTimeout)
			defer cancel()
			if err := s.Tenants(tctx, id); err != nil {
				s.Log.Error("register: create knowledge tenant", "creator", id, "err", err)
				w.Header().Set("Retry-After", "5")
				return &apiError{Status: http.StatusServiceUnavailable, Code: "knowledge_unavailable",
					Message: "the knowledge index is unavailable; nothing was created, retry shortly", Err: err}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.Log.Info("creator registered", "creator", id)
	s.loginSucceeded(ctx, ip, email)
	return s.writeSession(w, http.StatusCreated, c, refresh)
}

var errInvalidCredentials = &apiError{Status: http.StatusUnauthorized, Code: "invalid_credentials", Message: "invalid email or password"}

// handleLogin checks credentials and opens a new refresh family. An unknown email and a wrong
// password answer identically and take the same time (bcrypt against a dummy hash).
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	if err := readJSON(w, r, &req); err != nil {
		return err
	}
	ctx := r.Context()
	ip := s.clientIP(r)
	ok, wait, err := s.limits.logins.Allow(ctx, ip, req.Email)
	if err != nil {
		return errLimitsUnavailable(w, err)
	}
	if !ok {
		return errRateLimited(w, wait, "too many login attempts; retry later")
	}
	email := strings.TrimSpace(req.Email)
	var acct db.AccountByEmailRow
	if email != "" && len(email) <= authMaxEmailLen {
		err := s.Store.Global(ctx, func(q *db.Queries) error {
			var err error
			acct, err = q.AccountByEmail(ctx, email)
			return err
		})
		if err != nil && !db.IsNotFound(err) {
			return err
		}
	}
	// An empty hash (no account) is compared against the dummy hash and never matches.
	if !s.Auth.CheckPassword(acct.PasswordHash, req.Password) || acct.CreatorID == uuid.Nil {
		return errInvalidCredentials
	}
	family, err := uuid.NewV7()
	if err != nil {
		return err
	}
	var (
		c       db.Creator
		refresh string
	)
	err = s.Store.InTenant(ctx, acct.CreatorID, func(q *db.Queries) error {
		var err error
		if c, err = q.GetCreator(ctx, acct.CreatorID); err != nil {
			return err
		}
		refresh, err = s.newRefresh(ctx, q, acct.CreatorID, family)
		return err
	})
	if err != nil {
		return err
	}
	s.loginSucceeded(ctx, ip, email)
	return s.writeSession(w, http.StatusOK, c, refresh)
}

// loginSucceeded exempts the client's address from the email's global login limit (see
// auth.LoginLimiter); failing to record it only costs the exemption.
func (s *Server) loginSucceeded(ctx context.Context, ip, email string) {
	if err := s.limits.logins.Succeeded(ctx, ip, email); err != nil {
		s.Log.Warn("login: trusted address not recorded", "err", err)
	}
}

func errAuthRefresh(code, msg string) error {
	return &apiError{Status: http.StatusUnauthorized, Code: code, Message: msg}
}

// handleRefresh rotates a refresh token (auth.RotateRefresh) and returns the new one with a new
// access token.
func (s *Server) handleRefresh(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := readJSON(w, r, &req); err != nil {
		return err
	}
	creatorID, hash, err := auth.ParseRefreshToken(req.RefreshToken)
	if err != nil {
		return errAuthRefresh("invalid_token", "invalid refresh token")
	}
	ctx := r.Context()
	now := s.Now()
	var (
		c       db.Creator
		refresh string
		refused *auth.RefreshRefused
	)
	err = s.Store.InTenant(ctx, creatorID, func(q *db.Queries) error {
		var err error
		if refresh, refused, err = auth.RotateRefresh(ctx, q, creatorID, hash, now, s.Auth.RefreshTTL()); err != nil || refused != nil {
			return err // a refusal commits (a reused token's family is revoked), then answers 401
		}
		c, err = q.GetCreator(ctx, creatorID)
		return err
	})
	if err != nil {
		return err
	}
	if refused != nil {
		if refused.Code == "token_reused" {
			s.Log.Warn("refresh token reused: revoking its family", "creator", creatorID, "family", refused.Family)
		}
		return errAuthRefresh(refused.Code, refused.Message)
	}
	return s.writeSession(w, http.StatusOK, c, refresh)
}

// handleLogout revokes the family of the presented refresh token. It answers 204 whether or not
// the token was known (logging out twice is fine, and nothing is learned about tokens).
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := readJSON(w, r, &req); err != nil {
		return err
	}
	if req.RefreshToken == "" {
		return errBadRequest("missing_refresh_token", "refresh_token is required")
	}
	creatorID, hash, err := auth.ParseRefreshToken(req.RefreshToken)
	if err != nil {
		// Not a refresh token at all (known or not, a real one always parses).
		return errBadRequest("invalid_refresh_token", "refresh_token is not a refresh token")
	}
	ctx := r.Context()
	err = s.Store.InTenant(ctx, creatorID, func(q *db.Queries) error {
		return auth.RevokeRefresh(ctx, q, creatorID, hash)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type meResponse struct {
	ID               uuid.UUID `json:"id"`
	Email            string    `json:"email"`
	Name             string    `json:"name"`
	WidgetKey        string    `json:"widget_key"`
	Persona          string    `json:"persona"`
	AllowedOrigins   []string  `json:"allowed_origins"`
	IdentityRequired bool      `json:"identity_required"`
	CreatedAt        time.Time `json:"created_at"`
}

// handleMe returns the authenticated creator.
func (s *Server) handleMe(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	ctx := r.Context()
	var c db.Creator
	err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) error {
		var err error
		c, err = q.GetCreator(ctx, a.CreatorID)
		return err
	})
	if db.IsNotFound(err) {
		// A valid token for a creator that no longer exists.
		w.Header().Set("WWW-Authenticate", authBearerRealm+`, error="invalid_token"`)
		return &apiError{Status: http.StatusUnauthorized, Code: "invalid_token", Message: "unknown creator"}
	}
	if err != nil {
		return err
	}
	origins := c.AllowedOrigins
	if origins == nil {
		origins = []string{}
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, meResponse{
		ID: c.ID, Email: c.Email, Name: c.Name, WidgetKey: c.WidgetKey, Persona: c.Persona,
		AllowedOrigins: origins, IdentityRequired: c.IdentityRequired, CreatedAt: c.CreatedAt.UTC(),
	})
	return nil
}

// validCreatorEmail accepts a bare address (no display name, no angle brackets) and returns it trimmed.
func validCreatorEmail(raw string) (string, bool) {
	e := strings.TrimSpace(raw)
	if e == "" || len(e) > authMaxEmailLen {
		return "", false
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Name != "" || a.Address != e {
		return "", false
	}
	local, domain, ok := strings.Cut(e, "@")
	if !ok || local == "" || domain == "" || strings.ContainsAny(e, " \t\r\n") {
		return "", false
	}
	return e, true
}

func authRandom(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error
	return b
}
