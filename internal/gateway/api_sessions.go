package gateway

// Browser sessions (issue 11): the console's cookie mode with its CSRF defence, and a person's
// sessions: list, revoke one, sign out everywhere, change the password.
//
// Cookie mode. API clients keep body-based refresh tokens. A browser opts in per request with
// the header "X-Coachwire-Session: cookie" on register, login, refresh, logout, switch and
// accepting an invitation: the refresh token then travels only in the cw_refresh cookie
// (HttpOnly, Secure, SameSite=Strict, Path=/api/v1/auth, never in a body), and the answer
// carries a CSRF token, also set as the readable cw_csrf cookie (Secure, SameSite=Strict,
// Path=/). The access token stays a bearer token the page keeps in memory: cookies never
// authenticate any other route (authenticate never reads them).
//
// CSRF. The cookie-authenticated requests are refresh and logout in cookie mode. They must
// carry X-CSRF-Token equal to the cw_csrf cookie (double submit: another site can neither read
// the cookie nor set the header), and a browser's Origin and Sec-Fetch-Site must say the
// request comes from the gateway's own origin. Every cookie-mode request (including login and
// registration, against login CSRF) gets the origin checks. Failures are 403 with
// csrf_token_missing, csrf_token_mismatch or csrf_cross_origin.
//
// Secure on http://127.0.0.1 and http://localhost: browsers treat loopback origins as
// potentially trustworthy (Secure Contexts; RFC 6265bis "secure protocol" is the user agent's
// notion of a trustworthy origin) and store Secure cookies set from them; Chromium does (the
// console browser test reads the cookie jar). So the cookies are always Secure; a deployment on
// plain http other than loopback cannot use cookie mode and must serve https.

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/internal/auth"
	"github.com/coachwire/coachwire/internal/db"
)

const (
	// sessionModeHeader opts a request into cookie mode ("cookie").
	sessionModeHeader = "X-Coachwire-Session"
	// csrfHeader carries the double-submitted CSRF token.
	csrfHeader = "X-CSRF-Token"
	// refreshCookie holds the refresh token; csrfCookie the CSRF token.
	refreshCookie     = "cw_refresh"
	csrfCookie        = "cw_csrf"
	refreshCookiePath = "/api/v1/auth"
	// maxUserAgent bounds the user agent kept with a session.
	maxUserAgent = 300
)

// sessionMeta is what a request says about the session it opens or uses: cookie mode, the
// client's user agent and address, and (cookie mode) the CSRF token it already holds.
type sessionMeta struct {
	cookie    bool
	userAgent string
	ip        string
	csrf      string
}

type sessionMetaKey struct{}

func sessionMetaOf(ctx context.Context) sessionMeta {
	m, _ := ctx.Value(sessionMetaKey{}).(sessionMeta)
	return m
}

// sessionMode wraps a public auth route: withSessionMode before the handler.
func (s *Server) sessionMode(h func(http.ResponseWriter, *http.Request) error) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		r, err := s.withSessionMode(r)
		if err != nil {
			return err
		}
		return h(w, r)
	}
}

// withSessionMode reads the session mode of r into its context (sessionMetaOf); a cookie-mode
// request must come from the gateway's own origin (checkSameOrigin).
func (s *Server) withSessionMode(r *http.Request) (*http.Request, error) {
	ua := strings.ToValidUTF8(r.UserAgent(), "")
	if len(ua) > maxUserAgent {
		ua = strings.ToValidUTF8(ua[:maxUserAgent], "")
	}
	m := sessionMeta{userAgent: ua, ip: s.clientIP(r)}
	switch v := r.Header.Get(sessionModeHeader); v {
	case "":
	case "cookie":
		if err := s.checkSameOrigin(r); err != nil {
			return nil, err
		}
		m.cookie = true
		if c, err := r.Cookie(csrfCookie); err == nil && validCSRF(c.Value) && r.URL.Path == "/api/v1/auth/refresh" {
			m.csrf = c.Value // checked by presentedRefresh; kept across rotations
		}
	default:
		return nil, errBadRequest("invalid_session_mode", sessionModeHeader+` must be "cookie" or absent`)
	}
	return r.WithContext(context.WithValue(r.Context(), sessionMetaKey{}, m)), nil
}

func errCSRF(code, msg string) error {
	return &apiError{Status: http.StatusForbidden, Code: code, Message: msg}
}

// checkSameOrigin refuses a browser request sent by another site: Sec-Fetch-Site other than
// same-origin, or an Origin other than the gateway's (its public URL, or the host the request
// was sent to). A client that sends neither (not a browser) passes; the CSRF token still binds it.
func (s *Server) checkSameOrigin(r *http.Request) error {
	if sfs := r.Header.Get("Sec-Fetch-Site"); sfs != "" && sfs != "same-origin" {
		return errCSRF("csrf_cross_origin", "cross-site request refused (Sec-Fetch-Site: "+sfs+"); use the console on its own address")
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	u, err := url.Parse(origin)
	if err == nil && u.Host != "" && (strings.EqualFold(u.Host, r.Host) || s.isPublicOrigin(u)) {
		return nil
	}
	return errCSRF("csrf_cross_origin", "cross-origin request refused (Origin "+origin+"); use the console on its own address")
}

func (s *Server) isPublicOrigin(u *url.URL) bool {
	p, err := url.Parse(s.Config.PublicURL)
	return err == nil && p.Host != "" && strings.EqualFold(p.Scheme, u.Scheme) && strings.EqualFold(p.Host, u.Host)
}

var errNoRefreshCookie = errAuthRefresh("invalid_token", "no session cookie: sign in again")

// presentedRefresh is the refresh token a refresh or logout presents: the body's, or in cookie
// mode the cw_refresh cookie's once the CSRF token checks out (a body token is then refused, so
// one request never mixes the two).
func (s *Server) presentedRefresh(r *http.Request, body string) (string, error) {
	if !sessionMetaOf(r.Context()).cookie {
		return body, nil
	}
	if body != "" {
		return "", errBadRequest("refresh_token_in_body", "in cookie mode the refresh token is the cookie's; send no refresh_token")
	}
	sent := r.Header.Get(csrfHeader)
	if sent == "" {
		return "", errCSRF("csrf_token_missing", "the "+csrfHeader+" header is missing: send the value of the "+csrfCookie+" cookie")
	}
	c, err := r.Cookie(csrfCookie)
	if err != nil || !validCSRF(c.Value) || subtle.ConstantTimeCompare([]byte(c.Value), []byte(sent)) != 1 {
		return "", errCSRF("csrf_token_mismatch", "the "+csrfHeader+" header does not match the "+csrfCookie+" cookie; reload the page")
	}
	rc, err := r.Cookie(refreshCookie)
	if err != nil || rc.Value == "" {
		return "", errNoRefreshCookie
	}
	return rc.Value, nil
}

func validCSRF(v string) bool {
	return len(v) == 43 && strings.Trim(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == ""
}

// setSessionCookies sets the refresh and CSRF cookies of a cookie-mode session answer and
// returns the CSRF token (csrf when the request held a valid one, else a new one).
func (s *Server) setSessionCookies(w http.ResponseWriter, refresh, csrf string) string {
	if csrf == "" {
		csrf = base64.RawURLEncoding.EncodeToString(authRandom(32))
	}
	age := int(s.Auth.RefreshTTL() / time.Second)
	http.SetCookie(w, &http.Cookie{Name: refreshCookie, Value: refresh, Path: refreshCookiePath, MaxAge: age,
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: csrf, Path: "/", MaxAge: age,
		Secure: true, SameSite: http.SameSiteStrictMode})
	return csrf
}

func clearSessionCookies(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: refreshCookie, Path: refreshCookiePath, MaxAge: -1, HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Path: "/", MaxAge: -1, Secure: true, SameSite: http.SameSiteStrictMode})
}

// touchSession records a refresh of ss's session (last use, expiry, client). A family older
// than sessions gets its session row now; a revoked session refuses the refresh.
func (s *Server) touchSession(ctx context.Context, q *db.Queries, ss session, now time.Time) error {
	expires := now.Add(s.Auth.RefreshTTL())
	revoked, err := q.TouchSession(ctx, db.TouchSessionParams{ID: ss.refresh.family, ExpiresAt: expires, UserAgent: ss.meta.userAgent, Ip: ss.meta.ip})
	if db.IsNotFound(err) {
		return q.InsertSession(ctx, db.InsertSessionParams{ID: ss.refresh.family, CreatorID: ss.creator.ID, UserID: ss.user.ID, MemberID: ss.member.ID,
			UserAgent: ss.meta.userAgent, Ip: ss.meta.ip, ExpiresAt: expires})
	}
	if err == nil && revoked != nil {
		return errAuthRefresh("invalid_token", "this session was signed out")
	}
	return err
}

// memberSession reads the membership an access token names and whether its session is open
// (always, for a token without a session).
func (s *Server) memberSession(ctx context.Context, creatorID, userID, sessionID uuid.UUID) (db.MemberSessionRow, error) {
	var m db.MemberSessionRow
	err := s.Store.InTenant(ctx, creatorID, func(q *db.Queries) error {
		var err error
		m, err = memberSessionQ(ctx, q, creatorID, userID, sessionID)
		return err
	})
	return m, err
}

func memberSessionQ(ctx context.Context, q *db.Queries, creatorID, userID, sessionID uuid.UUID) (db.MemberSessionRow, error) {
	if sessionID == uuid.Nil {
		m, err := q.GetMember(ctx, db.GetMemberParams{CreatorID: creatorID, UserID: userID})
		return db.MemberSessionRow{ID: m.ID, Role: m.Role, CanReadMessages: m.CanReadMessages, SessionOpen: true}, err
	}
	return q.MemberSession(ctx, db.MemberSessionParams{SessionID: sessionID, CreatorID: creatorID, UserID: userID})
}

type sessionOut struct {
	ID            uuid.UUID `json:"id"`
	WorkspaceID   uuid.UUID `json:"workspace_id"`
	WorkspaceName string    `json:"workspace_name"`
	UserAgent     string    `json:"user_agent"`
	IP            string    `json:"ip"`
	CreatedAt     time.Time `json:"created_at"`
	LastUsedAt    time.Time `json:"last_used_at"`
	ExpiresAt     time.Time `json:"expires_at"`
	Current       bool      `json:"current"`
}

// handleListSessions lists the signed-in person's open sessions in every workspace they belong
// to, the one the request comes from marked current.
func (s *Server) handleListSessions(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	if !a.person() {
		return errPersonOnly
	}
	ctx := r.Context()
	var rows []db.UserSessionsRow
	err := s.Store.AsUser(ctx, a.UserID, func(q *db.Queries) error {
		var err error
		rows, err = q.UserSessions(ctx, a.UserID)
		return err
	})
	if err != nil {
		return err
	}
	out := make([]sessionOut, 0, len(rows))
	for _, x := range rows {
		out = append(out, sessionOut{ID: x.ID, WorkspaceID: x.CreatorID, WorkspaceName: x.Workspace, UserAgent: x.UserAgent, IP: x.Ip,
			CreatedAt: x.CreatedAt.UTC(), LastUsedAt: x.LastUsedAt.UTC(), ExpiresAt: x.ExpiresAt.UTC(), Current: x.ID == a.SessionID})
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{"sessions": out})
	return nil
}

// handleRevokeSession signs one of the person's sessions out: its refresh tokens are revoked
// and its access tokens refused from the next request on. Another person's session is 404.
func (s *Server) handleRevokeSession(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	if !a.person() {
		return errPersonOnly
	}
	id, err := pathID(r, "id")
	if err != nil {
		return errNotFound("session")
	}
	ctx := r.Context()
	err = s.Store.AsUser(ctx, a.UserID, func(q *db.Queries) error {
		x, err := q.UserSession(ctx, db.UserSessionParams{ID: id, UserID: a.UserID})
		if db.IsNotFound(err) || (err == nil && x.RevokedAt != nil) {
			return errNotFound("session")
		}
		return err
	})
	if err != nil {
		return err
	}
	if err := s.revokeSessions(ctx, a.UserID, []uuid.UUID{id}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// revokeSessions revokes the sessions ids of userID and their refresh-token families.
func (s *Server) revokeSessions(ctx context.Context, userID uuid.UUID, ids []uuid.UUID) error {
	for _, id := range ids {
		var creatorID uuid.UUID
		err := s.Store.AsUser(ctx, userID, func(q *db.Queries) error {
			x, err := q.UserSession(ctx, db.UserSessionParams{ID: id, UserID: userID})
			creatorID = x.CreatorID
			return err
		})
		if db.IsNotFound(err) {
			continue
		}
		if err != nil {
			return err
		}
		err = s.Store.InTenant(ctx, creatorID, func(q *db.Queries) error {
			if err := q.LockRefreshFamily(ctx, id); err != nil {
				return err
			}
			if err := q.RevokeSession(ctx, id); err != nil {
				return err
			}
			return q.RevokeRefreshFamily(ctx, db.RevokeRefreshFamilyParams{CreatorID: creatorID, FamilyID: id})
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// signOutUser revokes every session of userID but keep (uuid.Nil: all), in every workspace,
// and every refresh token outside keep's family (those of families older than sessions too).
// The sessions are revoked first, in one transaction: from its commit on, their access tokens
// are refused and their refresh tokens cannot rotate, whatever happens to the rest.
func (s *Server) signOutUser(ctx context.Context, userID, keep uuid.UUID) error {
	var workspaces []uuid.UUID
	err := s.Store.AsUser(ctx, userID, func(q *db.Queries) error {
		k := uuid.NullUUID{UUID: keep, Valid: keep != uuid.Nil}
		if _, err := q.RevokeUserSessions(ctx, db.RevokeUserSessionsParams{UserID: userID, Keep: k}); err != nil {
			return err
		}
		ws, err := q.UserWorkspaces(ctx, userID)
		for _, w := range ws {
			workspaces = append(workspaces, w.CreatorID)
		}
		return err
	})
	if err != nil {
		return err
	}
	for _, c := range workspaces {
		err := s.Store.InTenant(ctx, c, func(q *db.Queries) error {
			return q.RevokeUserRefreshTokens(ctx, db.RevokeUserRefreshTokensParams{CreatorID: c, UserID: userID,
				Keep: uuid.NullUUID{UUID: keep, Valid: keep != uuid.Nil}})
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// handleSignOutEverywhere revokes every session of the signed-in person, this one included, in
// every workspace: refresh tokens stop rotating and access tokens are refused at once. In
// cookie mode the browser's session cookies are cleared too.
func (s *Server) handleSignOutEverywhere(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	if !a.person() {
		return errPersonOnly
	}
	mode := r.Header.Get(sessionModeHeader)
	if mode != "" && mode != "cookie" {
		return errBadRequest("invalid_session_mode", sessionModeHeader+` must be "cookie" or absent`)
	}
	auditTarget(r.Context(), a.UserID.String())
	if err := s.signOutUser(r.Context(), a.UserID, uuid.Nil); err != nil {
		return err
	}
	s.Log.Info("signed out everywhere", "user", a.UserID)
	if mode == "cookie" {
		clearSessionCookies(w)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleChangePassword changes the signed-in person's password: the current one is required
// (and counts against the login limits as a login would), and every other session of theirs
// is signed out; this one stays.
func (s *Server) handleChangePassword(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	if !a.person() {
		return errPersonOnly
	}
	var req struct {
		CurrentPassword string `json:"current_password"`
		NewPassword     string `json:"new_password"`
	}
	if err := readJSON(w, r, &req); err != nil {
		return err
	}
	if req.CurrentPassword == "" {
		return errBadRequest("missing_current_password", "current_password is required")
	}
	switch err := auth.ValidatePassword(req.NewPassword); {
	case errors.Is(err, auth.ErrPasswordTooShort):
		return errBadRequest("password_too_short", "the new password must be at least 8 characters")
	case errors.Is(err, auth.ErrPasswordTooLong):
		return errBadRequest("password_too_long", "the new password must be at most 72 bytes")
	case err != nil:
		return errBadRequest("invalid_password", "new password rejected")
	}
	ctx := r.Context()
	auditTarget(ctx, a.UserID.String())
	p, err := s.profileOf(ctx, a)
	if err != nil {
		return err
	}
	ip := s.clientIP(r)
	ok, wait, err := s.limits.logins.Allow(ctx, ip, p.Email)
	if err != nil {
		return errLimitsUnavailable(w, err)
	}
	if !ok {
		return errRateLimited(w, wait, "too many attempts; retry later")
	}
	var user db.UserByEmailRow
	if err := s.Store.Global(ctx, func(q *db.Queries) error {
		var err error
		user, err = q.UserByEmail(ctx, p.Email)
		return err
	}); err != nil {
		return err
	}
	if user.ID != a.UserID || !s.Auth.CheckPassword(user.PasswordHash, req.CurrentPassword) {
		return &apiError{Status: http.StatusForbidden, Code: "wrong_password", Message: "the current password is not right"}
	}
	hash, err := s.Auth.HashPassword(req.NewPassword)
	if err != nil {
		return err
	}
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) error {
		return q.SetPassword(ctx, db.SetPasswordParams{UserID: a.UserID, PasswordHash: hash})
	}); err != nil {
		return err
	}
	if err := s.signOutUser(ctx, a.UserID, a.SessionID); err != nil {
		return err
	}
	s.loginSucceeded(ctx, ip, p.Email)
	s.Log.Info("password changed", "user", a.UserID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
