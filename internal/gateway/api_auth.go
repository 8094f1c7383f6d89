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
	"fmt"
	"net/http"
	"net/mail"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/internal/auth"
	"github.com/coachwire/coachwire/internal/auth/perm"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/ratelimit"
)

const (
	authMaxEmailLen   = 254
	authTenantTimeout = 15 * time.Second
	authBearerRealm   = `Bearer realm="coachwire"`
)

// creatorAuth is what requireCreator hands a creator route: the workspace the request acts in
// (CreatorID, the tenant of every query) and who acts: a member (UserID, MemberID) or an API key
// (KeyID), with the grant the route's permission was checked against.
type creatorAuth struct {
	CreatorID uuid.UUID
	UserID    uuid.UUID // uuid.Nil for an API key
	MemberID  uuid.UUID // uuid.Nil for an API key
	KeyID     uuid.UUID // uuid.Nil for a person
	// SessionID is the session the access token was issued in (uuid.Nil for an API key or a
	// token issued before sessions).
	SessionID uuid.UUID
	Grant     perm.Grant
	// perm is the permission the route required.
	perm perm.Perm
}

// person reports whether a member (not an API key) is acting.
func (a creatorAuth) person() bool { return a.UserID != uuid.Nil }

var errPersonOnly = &apiError{Status: http.StatusForbidden, Code: "person_required",
	Message: "this route is for signed-in people, not API keys"}

// requireCreator authenticates the request (authenticate), then checks that the grant holds the
// route's permission p: the one permission check of the creator API. Row-level security keeps
// every query in the workspace either way; the role decides what may be done there.
func (s *Server) requireCreator(p perm.Perm, h func(http.ResponseWriter, *http.Request, creatorAuth) error) func(http.ResponseWriter, *http.Request) error {
	if p == "" {
		panic("gateway: creator route without a permission")
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		a, err := s.authenticate(w, r)
		if err != nil {
			return err
		}
		a.perm = p
		if !a.Grant.Allows(p) {
			return &apiError{Status: http.StatusForbidden, Code: "forbidden",
				Message: fmt.Sprintf("the %s role may not do this (it needs the %s permission); ask an owner or admin of the workspace", a.Grant.Role, p)}
		}
		return domainError(h(w, r, a))
	}
}

// authenticate accepts only "Authorization: Bearer <credential>", where the credential is an
// access token or an API key. Cookies and query parameters are never looked at. The membership
// named by an access token (or the key) is read on every request: a removed member or a revoked
// key is refused at once, and the role is the current one.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (creatorAuth, error) {
	vals := r.Header.Values("Authorization")
	if len(vals) == 0 {
		// RFC 6750 §3.1: no error code when the request carried no credentials.
		w.Header().Set("WWW-Authenticate", authBearerRealm)
		return creatorAuth{}, &apiError{Status: http.StatusUnauthorized, Code: "unauthorized", Message: "missing bearer access token"}
	}
	invalid := func(err error) (creatorAuth, error) {
		w.Header().Set("WWW-Authenticate", authBearerRealm+`, error="invalid_token"`)
		return creatorAuth{}, &apiError{Status: http.StatusUnauthorized, Code: "invalid_token", Message: "invalid or expired access token", Err: err}
	}
	if len(vals) > 1 {
		return invalid(errors.New("several Authorization headers"))
	}
	scheme, tok, ok := strings.Cut(vals[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return invalid(errors.New("not a bearer token"))
	}
	tok = strings.TrimSpace(tok)
	ctx := r.Context()
	if auth.IsAPIKey(tok) {
		hash, err := auth.ParseAPIKey(tok)
		if err != nil {
			return invalid(err)
		}
		var creatorID uuid.UUID
		err = s.Store.Global(ctx, func(q *db.Queries) error {
			var err error
			creatorID, err = q.APIKeyCreator(ctx, hash)
			return err
		})
		if err != nil || creatorID == uuid.Nil {
			if err == nil || db.IsNotFound(err) {
				return invalid(errors.New("unknown API key"))
			}
			return creatorAuth{}, err
		}
		var key db.ApiKey
		err = s.Store.InTenant(ctx, creatorID, func(q *db.Queries) error {
			var err error
			if key, err = q.APIKeyByHash(ctx, hash); err != nil || key.RevokedAt != nil {
				return err
			}
			return q.TouchAPIKey(ctx, key.ID)
		})
		if db.IsNotFound(err) || (err == nil && key.RevokedAt != nil) {
			return invalid(errors.New("unknown or revoked API key"))
		}
		if err != nil {
			return creatorAuth{}, err
		}
		return creatorAuth{CreatorID: creatorID, KeyID: key.ID, Grant: perm.Grant{Role: perm.Role(key.Role), Key: true}}, nil
	}
	claims, err := s.Auth.VerifyAccess(tok)
	if err != nil {
		return invalid(err)
	}
	m, err := s.memberSession(ctx, claims.CreatorID, claims.UserID, claims.SessionID)
	if db.IsNotFound(err) || (err == nil && m.ID != claims.MemberID) {
		// Removed from the workspace (and perhaps invited again: a new membership).
		return invalid(errors.New("no longer a member of the workspace"))
	}
	if err == nil && !m.SessionOpen {
		// Signed out: the session was revoked (one session, everywhere, or a password change).
		return invalid(errors.New("session revoked"))
	}
	if err != nil {
		return creatorAuth{}, err
	}
	return creatorAuth{CreatorID: claims.CreatorID, UserID: claims.UserID, MemberID: m.ID, SessionID: claims.SessionID,
		Grant: perm.Grant{Role: perm.Role(m.Role), ReadContent: m.CanReadMessages}}, nil
}

// stillAllowed re-reads the membership (or the key) a was authenticated with and reports whether
// it still holds the route's permission. Long-lived responses (the event streams) call it on
// every heartbeat, so the stream of a removed member, a demoted one or a revoked key ends within
// one heartbeat. A database error keeps the stream (the next heartbeat asks again).
func (s *Server) stillAllowed(ctx context.Context, a creatorAuth) bool {
	var g perm.Grant
	err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) error {
		if !a.person() {
			k, err := q.GetAPIKey(ctx, a.KeyID)
			if err == nil && k.RevokedAt != nil {
				return db.ErrNotFound
			}
			g = perm.Grant{Role: perm.Role(k.Role), Key: true}
			return err
		}
		m, err := memberSessionQ(ctx, q, a.CreatorID, a.UserID, a.SessionID)
		if err == nil && (m.ID != a.MemberID || !m.SessionOpen) {
			return db.ErrNotFound
		}
		g = perm.Grant{Role: perm.Role(m.Role), ReadContent: m.CanReadMessages}
		return err
	})
	if db.IsNotFound(err) {
		return false
	}
	return err != nil || g.Allows(a.perm)
}

type creatorSummary struct {
	ID        uuid.UUID `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	WidgetKey string    `json:"widget_key"`
}

type userSummary struct {
	ID    uuid.UUID `json:"id"`
	Email string    `json:"email"`
	Name  string    `json:"name"`
}

// sessionResponse is the body of register, login, refresh, switch and accepting an invitation:
// tokens for one person in one workspace (creator).
type sessionResponse struct {
	Creator     creatorSummary `json:"creator"`
	User        userSummary    `json:"user"`
	Role        string         `json:"role"`
	AccessToken string         `json:"access_token"`
	TokenType   string         `json:"token_type"`
	ExpiresAt   time.Time      `json:"expires_at"`
	// RefreshToken is absent in cookie mode (the cw_refresh cookie holds it), CSRFToken present
	// only there.
	RefreshToken string `json:"refresh_token,omitempty"`
	CSRFToken    string `json:"csrf_token,omitempty"`
}

// session is what a session answer is made of, read in the workspace's tenant.
type session struct {
	creator db.Creator
	user    userSummary
	member  db.Member
	refresh issuedRefresh
	// meta is the request's session mode and client (sessionMeta), read from its context.
	meta sessionMeta
}

// loadSession reads the workspace, the member and their profile for a session answer, and
// records the workspace as the user's last one. It answers 401 invalid_token when the user is
// not (or no longer) a member.
func loadSession(ctx context.Context, q *db.Queries, creatorID, userID uuid.UUID) (session, error) {
	var (
		ss  session
		err error
	)
	if ss.member, err = q.GetMember(ctx, db.GetMemberParams{CreatorID: creatorID, UserID: userID}); db.IsNotFound(err) {
		return ss, errAuthRefresh("invalid_token", "not a member of this workspace")
	} else if err != nil {
		return ss, err
	}
	if ss.creator, err = q.GetCreator(ctx, creatorID); err != nil {
		return ss, err
	}
	p, err := q.MemberProfile(ctx, userID)
	if err != nil {
		return ss, err
	}
	ss.user = userSummary{ID: p.ID, Email: p.Email, Name: p.Name}
	ss.meta = sessionMetaOf(ctx)
	return ss, q.SetLastWorkspace(ctx, userID)
}

func (s *Server) writeSession(w http.ResponseWriter, status int, ss session) error {
	access, exp, err := s.Auth.IssueAccess(auth.AccessClaims{UserID: ss.user.ID, CreatorID: ss.creator.ID, MemberID: ss.member.ID, Role: ss.member.Role,
		SessionID: ss.refresh.family})
	if err != nil {
		return err
	}
	c := ss.creator
	out := sessionResponse{
		Creator:     creatorSummary{ID: c.ID, Email: c.Email, Name: c.Name, WidgetKey: c.WidgetKey},
		User:        ss.user,
		Role:        ss.member.Role,
		AccessToken: access,
		TokenType:   "Bearer",
		ExpiresAt:   exp.UTC(),
	}
	if ss.meta.cookie {
		out.CSRFToken = s.setSessionCookies(w, ss.refresh.raw, ss.meta.csrf)
	} else {
		out.RefreshToken = ss.refresh.raw
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, out)
	return nil
}

// issuedRefresh is a refresh token for the client and its family (the session's id).
type issuedRefresh struct {
	raw    string
	family uuid.UUID
}

// newRefresh opens a session for userID (a member) in workspace creatorID: it stores the first
// refresh token of a new family, and the session row with the client (sessionMetaOf(ctx)).
func (s *Server) newRefresh(ctx context.Context, q *db.Queries, creatorID, userID uuid.UUID) (issuedRefresh, error) {
	family, err := uuid.NewV7()
	if err != nil {
		return issuedRefresh{}, err
	}
	m, err := q.GetMember(ctx, db.GetMemberParams{CreatorID: creatorID, UserID: userID})
	if err != nil {
		return issuedRefresh{}, err
	}
	expires := s.Now().Add(s.Auth.RefreshTTL())
	meta := sessionMetaOf(ctx)
	if err := q.InsertSession(ctx, db.InsertSessionParams{ID: family, CreatorID: creatorID, UserID: userID, MemberID: m.ID,
		UserAgent: meta.userAgent, Ip: meta.ip, ExpiresAt: expires}); err != nil {
		return issuedRefresh{}, err
	}
	raw, err := auth.StoreRefresh(ctx, q, creatorID, userID, family, expires)
	return issuedRefresh{raw: raw, family: family}, err
}

// handleRegister creates a person (user) with credentials and a workspace (creator) they own,
// with a widget key, a knowledge-index tenant and a first session.
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
	userID, err := uuid.NewV7()
	if err != nil {
		return err
	}
	memberID, err := uuid.NewV7()
	if err != nil {
		return err
	}
	widgetKey := "wk_" + base64.RawURLEncoding.EncodeToString(authRandom(24))
	widgetSecret := hex.EncodeToString(authRandom(32))

	ctx := s.auditFor(r.Context(), r, id, routeAudit["POST /api/v1/auth/register"])
	auditActor(ctx, "user", userID, email)
	auditTarget(ctx, id)
	var ss session
	err = s.Store.InTenant(ctx, id, func(q *db.Queries) error {
		_, err := q.InsertCreator(ctx, db.InsertCreatorParams{
			ID: id, Name: name, Email: email, WidgetKey: widgetKey, WidgetSecret: widgetSecret,
			AllowedOrigins: []string{},
		})
		if err != nil {
			return err
		}
		err = q.CreateUser(ctx, db.CreateUserParams{ID: userID, Email: email, PasswordHash: hash, Name: name})
		if db.IsUniqueViolation(err) {
			return errConflict("email_taken", "an account with this email already exists")
		}
		if err != nil {
			return err
		}
		if _, err := q.InsertMember(ctx, db.InsertMemberParams{ID: memberID, CreatorID: id, UserID: userID, Role: string(perm.Owner)}); err != nil {
			return err
		}
		if err := q.RegisterWidgetKey(ctx, db.RegisterWidgetKeyParams{CreatorID: id, WidgetKey: widgetKey}); err != nil {
			return err
		}
		if ss, err = loadSession(ctx, q, id, userID); err != nil {
			return err
		}
		if ss.refresh, err = s.newRefresh(ctx, q, id, userID); err != nil {
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
	s.Log.Info("creator registered", "creator", id, "user", userID)
	s.loginSucceeded(ctx, ip, email)
	return s.writeSession(w, http.StatusCreated, ss)
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
	var user db.UserByEmailRow
	if email != "" && len(email) <= authMaxEmailLen {
		err := s.Store.Global(ctx, func(q *db.Queries) error {
			var err error
			user, err = q.UserByEmail(ctx, email)
			return err
		})
		if err != nil && !db.IsNotFound(err) {
			return err
		}
	}
	// An empty hash (no account) is compared against the dummy hash and never matches.
	if !s.Auth.CheckPassword(user.PasswordHash, req.Password) || user.ID == uuid.Nil {
		if user.ID != uuid.Nil {
			// Recorded after the answer, so a wrong password for an existing account takes as
			// long as one for an unknown email.
			uid := user.ID
			s.background(func() { s.auditFailedSignIn(context.WithoutCancel(ctx), ip, uid, email) })
		}
		return errInvalidCredentials
	}
	creatorID, err := s.loginWorkspace(ctx, user.ID, user.LastCreatorID)
	if err != nil {
		return err
	}
	ctx = s.auditFor(ctx, r, creatorID, routeAudit["POST /api/v1/auth/login"])
	auditActor(ctx, "user", user.ID, "")
	auditTarget(ctx, user.ID)
	var ss session
	err = s.Store.InTenant(ctx, creatorID, func(q *db.Queries) error {
		var err error
		if ss, err = loadSession(ctx, q, creatorID, user.ID); err != nil {
			return err
		}
		ss.refresh, err = s.newRefresh(ctx, q, creatorID, user.ID)
		return err
	})
	if err != nil {
		return err
	}
	s.loginSucceeded(ctx, ip, email)
	return s.writeSession(w, http.StatusOK, ss)
}

// loginWorkspace is the workspace a login signs in to: the one the user last used when they
// still belong to it, else the oldest they belong to. A user who belongs to none is refused.
func (s *Server) loginWorkspace(ctx context.Context, userID, last uuid.UUID) (uuid.UUID, error) {
	var ws []db.UserWorkspacesRow
	err := s.Store.AsUser(ctx, userID, func(q *db.Queries) error {
		var err error
		ws, err = q.UserWorkspaces(ctx, userID)
		return err
	})
	if err != nil {
		return uuid.Nil, err
	}
	if len(ws) == 0 {
		return uuid.Nil, &apiError{Status: http.StatusForbidden, Code: "no_workspace",
			Message: "this account belongs to no workspace any more; accept an invitation to join one"}
	}
	for _, w := range ws {
		if w.CreatorID == last {
			return last, nil
		}
	}
	return ws[0].CreatorID, nil
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
	raw, err := s.presentedRefresh(r, req.RefreshToken)
	if err != nil {
		return err
	}
	creatorID, hash, err := auth.ParseRefreshToken(raw)
	if err != nil {
		return errAuthRefresh("invalid_token", "invalid refresh token")
	}
	ctx := r.Context()
	now := s.Now()
	var (
		ss      session
		refused *auth.RefreshRefused
	)
	err = s.Store.InTenant(ctx, creatorID, func(q *db.Queries) error {
		refresh, userID, family, refusal, err := auth.RotateRefresh(ctx, q, creatorID, hash, now, s.Auth.RefreshTTL())
		if refused = refusal; err != nil || refused != nil {
			return err // a refusal commits (a reused token's family is revoked), then answers 401
		}
		// A member removed from the workspace has no refresh token left; a failure here rolls
		// the rotation back.
		if ss, err = loadSession(ctx, q, creatorID, userID); err != nil {
			return err
		}
		ss.refresh = issuedRefresh{raw: refresh, family: family}
		return s.touchSession(ctx, q, ss, now)
	})
	if err != nil {
		return err
	}
	if refused != nil {
		if refused.Code == "token_reused" {
			s.Log.Warn("refresh token reused: revoking its family", "creator", creatorID, "family", refused.Family)
		}
		if sessionMetaOf(ctx).cookie {
			clearSessionCookies(w)
		}
		return errAuthRefresh(refused.Code, refused.Message)
	}
	return s.writeSession(w, http.StatusOK, ss)
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
	cookie := sessionMetaOf(r.Context()).cookie
	raw, err := s.presentedRefresh(r, req.RefreshToken)
	if cookie && err != nil && !errors.Is(err, errNoRefreshCookie) {
		return err
	}
	if cookie {
		// Signing out always ends the browser's session, known token or not.
		clearSessionCookies(w)
		if raw == "" {
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
	} else if raw == "" {
		return errBadRequest("missing_refresh_token", "refresh_token is required")
	}
	creatorID, hash, err := auth.ParseRefreshToken(raw)
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
	// Who is asking: a member (User) or an API key (APIKeyID), their role and permissions.
	User        *userSummary `json:"user,omitempty"`
	APIKeyID    *uuid.UUID   `json:"api_key_id,omitempty"`
	Role        string       `json:"role"`
	Permissions []perm.Perm  `json:"permissions"`
}

// handleMe returns the authenticated workspace (creator) and who is acting in it.
func (s *Server) handleMe(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	ctx := r.Context()
	var (
		c    db.Creator
		user *userSummary
	)
	err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) error {
		var err error
		if c, err = q.GetCreator(ctx, a.CreatorID); err != nil || !a.person() {
			return err
		}
		p, err := q.MemberProfile(ctx, a.UserID)
		user = &userSummary{ID: p.ID, Email: p.Email, Name: p.Name}
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
	var keyID *uuid.UUID
	if !a.person() {
		keyID = &a.KeyID
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, meResponse{
		ID: c.ID, Email: c.Email, Name: c.Name, WidgetKey: c.WidgetKey, Persona: c.Persona,
		AllowedOrigins: origins, IdentityRequired: c.IdentityRequired, CreatedAt: c.CreatedAt.UTC(),
		User: user, APIKeyID: keyID, Role: string(a.Grant.Role), Permissions: a.Grant.Perms(),
	})
	return nil
}

type workspaceOut struct {
	CreatorID       uuid.UUID `json:"creator_id"`
	Name            string    `json:"name"`
	Role            string    `json:"role"`
	CanReadMessages bool      `json:"can_read_messages"`
	Current         bool      `json:"current"`
	JoinedAt        time.Time `json:"joined_at"`
}

// handleWorkspaces lists the workspaces the signed-in person belongs to.
func (s *Server) handleWorkspaces(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	if !a.person() {
		return errPersonOnly
	}
	ctx := r.Context()
	var ws []db.UserWorkspacesRow
	err := s.Store.AsUser(ctx, a.UserID, func(q *db.Queries) error {
		var err error
		ws, err = q.UserWorkspaces(ctx, a.UserID)
		return err
	})
	if err != nil {
		return err
	}
	out := make([]workspaceOut, 0, len(ws))
	for _, x := range ws {
		out = append(out, workspaceOut{CreatorID: x.CreatorID, Name: x.Name, Role: x.Role, CanReadMessages: x.CanReadMessages,
			Current: x.CreatorID == a.CreatorID, JoinedAt: x.CreatedAt.UTC()})
	}
	writeJSON(w, http.StatusOK, map[string]any{"workspaces": out})
	return nil
}

// handleSwitch issues a session (a new refresh family) for another workspace the signed-in
// person belongs to. A workspace they do not belong to is 404, as if it did not exist. In
// cookie mode the session the request came from is closed (the cookie is replaced).
func (s *Server) handleSwitch(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	if !a.person() {
		return errPersonOnly
	}
	var req struct {
		CreatorID string `json:"creator_id"`
	}
	if err := readJSON(w, r, &req); err != nil {
		return err
	}
	r, err := s.withSessionMode(r)
	if err != nil {
		return err
	}
	target, err := uuid.Parse(req.CreatorID)
	if err != nil || target == uuid.Nil {
		return errBadRequest("invalid_creator_id", "creator_id must be the UUID of a workspace you belong to")
	}
	ctx := r.Context()
	var ss session
	err = s.Store.InTenant(ctx, target, func(q *db.Queries) error {
		var err error
		if ss, err = loadSession(ctx, q, target, a.UserID); err != nil {
			var ae *apiError
			if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized {
				return errNotFound("workspace")
			}
			return err
		}
		ss.refresh, err = s.newRefresh(ctx, q, target, a.UserID)
		return err
	})
	if err != nil {
		return err
	}
	if ss.meta.cookie && a.SessionID != uuid.Nil {
		// The browser's cookie now holds the new session: the one it replaces is closed, so
		// switching back and forth does not pile up sessions.
		if err := s.revokeSessions(ctx, a.UserID, []uuid.UUID{a.SessionID}); err != nil {
			return err
		}
	}
	return s.writeSession(w, http.StatusOK, ss)
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
