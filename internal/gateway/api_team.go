package gateway

// The team of a workspace: members and their roles, invitations (single-use, expiring links),
// accepting one (as a new or an existing person), and transferring ownership.
//
// Every change to a workspace's members runs in one tenant transaction holding the workspace's
// members lock, so an audit record can later be written in the same transaction.

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/internal/auth"
	"github.com/coachwire/coachwire/internal/auth/perm"
	"github.com/coachwire/coachwire/internal/db"
)

// invitationTTL is how long an invitation link stays valid.
const invitationTTL = 7 * 24 * time.Hour

type memberOut struct {
	UserID          uuid.UUID `json:"user_id"`
	Email           string    `json:"email"`
	Name            string    `json:"name"`
	Role            string    `json:"role"`
	CanReadMessages bool      `json:"can_read_messages"`
	JoinedAt        time.Time `json:"joined_at"`
}

func toMemberOut(m db.Member, p db.MemberProfileRow) memberOut {
	return memberOut{UserID: m.UserID, Email: p.Email, Name: p.Name, Role: m.Role, CanReadMessages: m.CanReadMessages,
		JoinedAt: m.CreatedAt.UTC()}
}

// memberOutOf reads the profile of m (in m's tenant).
func memberOutOf(ctx context.Context, q *db.Queries, m db.Member) (memberOut, error) {
	p, err := q.MemberProfile(ctx, m.UserID)
	if err != nil {
		return memberOut{}, err
	}
	return toMemberOut(m, db.MemberProfileRow(p)), nil
}

// handleListMembers lists the workspace's members, oldest first.
func (s *Server) handleListMembers(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	ctx := r.Context()
	out := []memberOut{}
	err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) error {
		ms, err := q.ListMembers(ctx, a.CreatorID)
		if err != nil {
			return err
		}
		ps, err := q.MemberProfiles(ctx)
		if err != nil {
			return err
		}
		byID := make(map[uuid.UUID]db.MemberProfilesRow, len(ps))
		for _, p := range ps {
			byID[p.ID] = p
		}
		for _, m := range ms {
			out = append(out, toMemberOut(m, db.MemberProfileRow(byID[m.UserID])))
		}
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"members": out})
	return nil
}

// parseRole reads a role a member or key may be given: any but owner (ownership is
// transferred, never assigned).
func parseRole(v string) (perm.Role, error) {
	r := perm.Role(v)
	if r == perm.Owner {
		return "", errBadRequest("invalid_role", "the owner role cannot be given: transfer ownership instead")
	}
	if !r.Valid() {
		return "", errBadRequest("invalid_role", "role must be admin, editor, agent or viewer")
	}
	return r, nil
}

// lockedMember takes the workspace's members lock and reads the member userID (404 when not one).
func lockedMember(ctx context.Context, q *db.Queries, creatorID, userID uuid.UUID) (db.Member, error) {
	if err := q.LockWorkspaceMembers(ctx, creatorID); err != nil {
		return db.Member{}, err
	}
	m, err := q.GetMemberForUpdate(ctx, db.GetMemberForUpdateParams{CreatorID: creatorID, UserID: userID})
	if db.IsNotFound(err) {
		return m, errNotFound("member")
	}
	return m, err
}

// handleUpdateMember changes a member's role or message-content grant. The owner's role changes
// only by transferring ownership.
func (s *Server) handleUpdateMember(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	userID, err := pathID(r, "user_id")
	if err != nil {
		return errNotFound("member")
	}
	var req struct {
		Role            *string `json:"role"`
		CanReadMessages *bool   `json:"can_read_messages"`
	}
	if err := readJSON(w, r, &req); err != nil {
		return err
	}
	if req.Role != nil {
		if _, err := parseRole(*req.Role); err != nil {
			return err
		}
	}
	ctx := r.Context()
	var out memberOut
	err = s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) error {
		m, err := lockedMember(ctx, q, a.CreatorID, userID)
		if err != nil {
			return err
		}
		auditDetail(ctx, "from", map[string]any{"role": m.Role, "can_read_messages": m.CanReadMessages})
		if m.Role == string(perm.Owner) && req.Role != nil && *req.Role != m.Role {
			return errConflict("owner_role", "the owner's role changes only by transferring ownership to another member")
		}
		if m, err = q.UpdateMember(ctx, db.UpdateMemberParams{Role: req.Role, CanReadMessages: req.CanReadMessages,
			CreatorID: a.CreatorID, UserID: userID}); err != nil {
			return err
		}
		// Keys go with the right to manage them: a member who can no longer manage keys keeps
		// none of those they made (an admin demoted to editor would otherwise keep an admin key).
		if !(perm.Grant{Role: perm.Role(m.Role)}).Allows(perm.KeysManage) {
			n, err := q.RevokeMemberAPIKeys(ctx, db.RevokeMemberAPIKeysParams{CreatorID: a.CreatorID, UserID: userID})
			if err != nil {
				return err
			}
			if n > 0 {
				auditDetail(ctx, "revoked_api_keys", n)
			}
		}
		auditDetail(ctx, "to", map[string]any{"role": m.Role, "can_read_messages": m.CanReadMessages})
		out, err = memberOutOf(ctx, q, m)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// handleRemoveMember removes a member: their refresh tokens for the workspace and the API keys
// they created are revoked in the same transaction, and their access tokens stop working on the
// next request (authenticate reads the membership every time). The owner cannot be removed.
//
// The keys go with the person: a key is made by someone who could manage keys then, and a
// person who has left must not keep a way in through automation they set up (a key's secret
// was shown to them). Automation that must outlive a member is given a key made by someone who
// stays; the Team page says how many keys a removal revokes before it is confirmed.
func (s *Server) handleRemoveMember(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	userID, err := pathID(r, "user_id")
	if err != nil {
		return errNotFound("member")
	}
	ctx := r.Context()
	var keys int64
	err = s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) error {
		m, err := lockedMember(ctx, q, a.CreatorID, userID)
		if err != nil {
			return err
		}
		if m.Role == string(perm.Owner) {
			return errConflict("owner_cannot_be_removed", "the owner cannot be removed: transfer ownership first")
		}
		if _, err := q.DeleteMember(ctx, db.DeleteMemberParams{CreatorID: a.CreatorID, UserID: userID}); err != nil {
			return err
		}
		if keys, err = q.RevokeMemberAPIKeys(ctx, db.RevokeMemberAPIKeysParams{CreatorID: a.CreatorID, UserID: userID}); err != nil {
			return err
		}
		return q.RevokeMemberRefreshTokens(ctx, db.RevokeMemberRefreshTokensParams{CreatorID: a.CreatorID, UserID: userID})
	})
	if err != nil {
		return err
	}
	s.Log.Info("member removed", "creator", a.CreatorID, "user", userID, "keys_revoked", keys)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleTransferOwnership makes another member the owner; the owner who asked becomes an admin.
func (s *Server) handleTransferOwnership(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	userID, err := pathID(r, "user_id")
	if err != nil {
		return errNotFound("member")
	}
	if !a.person() {
		return errPersonOnly
	}
	if userID == a.UserID {
		return errConflict("already_owner", "you already own this workspace")
	}
	ctx := r.Context()
	var out memberOut
	err = s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) error {
		target, err := lockedMember(ctx, q, a.CreatorID, userID)
		if err != nil {
			return err
		}
		me, err := q.GetMemberForUpdate(ctx, db.GetMemberForUpdateParams{CreatorID: a.CreatorID, UserID: a.UserID})
		if err != nil {
			return err
		}
		if me.Role != string(perm.Owner) { // demoted since authenticate read it
			return &apiError{Status: http.StatusForbidden, Code: "forbidden", Message: "only the owner may transfer ownership"}
		}
		admin, owner := string(perm.Admin), string(perm.Owner)
		if _, err := q.UpdateMember(ctx, db.UpdateMemberParams{Role: &admin, CreatorID: a.CreatorID, UserID: a.UserID}); err != nil {
			return err
		}
		if target, err = q.UpdateMember(ctx, db.UpdateMemberParams{Role: &owner, CreatorID: a.CreatorID, UserID: target.UserID}); err != nil {
			return err
		}
		out, err = memberOutOf(ctx, q, target)
		return err
	})
	if err != nil {
		return err
	}
	s.Log.Info("ownership transferred", "creator", a.CreatorID, "from", a.UserID, "to", userID)
	writeJSON(w, http.StatusOK, out)
	return nil
}

type invitationOut struct {
	ID              uuid.UUID  `json:"id"`
	Email           string     `json:"email"`
	Role            string     `json:"role"`
	CanReadMessages bool       `json:"can_read_messages"`
	InvitedBy       *uuid.UUID `json:"invited_by,omitempty"`
	ExpiresAt       time.Time  `json:"expires_at"`
	CreatedAt       time.Time  `json:"created_at"`
}

func toInvitationOut(i db.Invitation) invitationOut {
	out := invitationOut{ID: i.ID, Email: i.Email, Role: i.Role, CanReadMessages: i.CanReadMessages,
		ExpiresAt: i.ExpiresAt.UTC(), CreatedAt: i.CreatedAt.UTC()}
	if i.InvitedBy.Valid {
		out.InvitedBy = &i.InvitedBy.UUID
	}
	return out
}

// handleListInvitations lists the pending invitations (not accepted, revoked or expired).
func (s *Server) handleListInvitations(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	return writeList(s, w, r, a, "invitations", func(ctx context.Context, q *db.Queries) ([]db.Invitation, error) {
		return q.ListPendingInvitations(ctx, a.CreatorID)
	}, toInvitationOut)
}

// handleInvite invites an email address with a role. The answer carries the invitation token
// (and a console link holding it) once; only its hash is kept. Sending it is up to the inviter.
func (s *Server) handleInvite(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	var req struct {
		Email           string `json:"email"`
		Role            string `json:"role"`
		CanReadMessages bool   `json:"can_read_messages"`
	}
	if err := readJSON(w, r, &req); err != nil {
		return err
	}
	email, ok := validCreatorEmail(req.Email)
	if !ok {
		return errBadRequest("invalid_email", "email must be a plain address such as ana@example.com")
	}
	role, err := parseRole(req.Role)
	if err != nil {
		return err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	raw, hash := auth.NewInvitationToken(a.CreatorID)
	invitedBy := uuid.NullUUID{UUID: a.UserID, Valid: a.person()}
	ctx := r.Context()
	auditTarget(ctx, id)
	auditDetail(ctx, "email", email)
	auditDetail(ctx, "role", role)
	var inv db.Invitation
	err = s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) error {
		ps, err := q.MemberProfiles(ctx)
		if err != nil {
			return err
		}
		for _, p := range ps {
			if strings.EqualFold(p.Email, email) {
				return errConflict("already_member", "a member of this workspace already has this email")
			}
		}
		inv, err = q.InsertInvitation(ctx, db.InsertInvitationParams{ID: id, CreatorID: a.CreatorID, Email: email, Role: string(role),
			CanReadMessages: req.CanReadMessages, TokenHash: hash, InvitedBy: invitedBy, ExpiresAt: s.Now().Add(invitationTTL)})
		return err
	})
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, map[string]any{
		"invitation": toInvitationOut(inv),
		"token":      raw,
		"link":       strings.TrimRight(s.Config.PublicURL, "/") + "/console/accept-invitation#token=" + raw,
	})
	return nil
}

// handleRevokeInvitation withdraws a pending invitation.
func (s *Server) handleRevokeInvitation(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	_, err := revokeByID(s, w, r, a, "invitation", "pending invitation", func(ctx context.Context, q *db.Queries, id uuid.UUID) (int64, error) {
		return q.RevokeInvitation(ctx, db.RevokeInvitationParams{CreatorID: a.CreatorID, ID: id})
	})
	return err
}

var errInvitationNotFound = &apiError{Status: http.StatusNotFound, Code: "invitation_not_found",
	Message: "no such invitation: it was revoked, or the link is wrong; ask for a new one"}

// handleAcceptInvitation accepts an invitation and answers a session in the inviting workspace.
//
//   - With "Authorization: Bearer <access token>": the signed-in person joins; their email must be
//     the invited one.
//   - Without: the invited email's account joins when one exists (its password is checked), else
//     an account is created with the given password and name.
//
// The invitation is single use: accepted, it cannot be accepted again; expired or revoked, never.
func (s *Server) handleAcceptInvitation(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Token    string `json:"token"`
		Password string `json:"password"`
		Name     string `json:"name"`
	}
	if err := readJSON(w, r, &req); err != nil {
		return err
	}
	if req.Token == "" {
		return errBadRequest("missing_token", "token is required")
	}
	name := strings.TrimSpace(req.Name)
	if err := limitName.field("invalid_name", "name", name); err != nil {
		return err
	}
	creatorID, hash, err := auth.ParseInvitationToken(req.Token)
	if err != nil {
		return errInvitationNotFound
	}
	ctx := r.Context()
	var caller *invitationCaller
	if len(r.Header.Values("Authorization")) > 0 {
		a, err := s.authenticate(w, r)
		if err != nil {
			return err
		}
		if !a.person() {
			return errPersonOnly
		}
		p, err := s.profileOf(ctx, a)
		if err != nil {
			return err
		}
		caller = &invitationCaller{userID: a.UserID, email: p.Email}
	}
	ip := s.clientIP(r)
	if caller == nil && req.Password != "" {
		// A password checked here counts against the login limits of the invited email, as a
		// login would.
		var email string
		err := s.Store.InTenant(ctx, creatorID, func(q *db.Queries) error {
			inv, err := q.InvitationByHash(ctx, hash)
			if db.IsNotFound(err) {
				return nil
			}
			email = inv.Email
			return err
		})
		if err != nil {
			return err
		}
		if email != "" {
			ok, wait, err := s.limits.logins.Allow(ctx, ip, email)
			if err != nil {
				return errLimitsUnavailable(w, err)
			}
			if !ok {
				return errRateLimited(w, wait, "too many attempts; retry later")
			}
		}
	}
	var ss session
	ctx = s.auditFor(ctx, r, creatorID, routeAudit["POST /api/v1/invitations/accept"])
	err = s.Store.InTenant(ctx, creatorID, func(q *db.Queries) error {
		inv, err := q.InvitationByHash(ctx, hash)
		switch {
		case db.IsNotFound(err) || (err == nil && inv.RevokedAt != nil):
			return errInvitationNotFound
		case err != nil:
			return err
		case inv.AcceptedAt != nil:
			return &apiError{Status: http.StatusGone, Code: "invitation_used", Message: "this invitation was already accepted; ask for a new one"}
		case !s.Now().Before(inv.ExpiresAt):
			return &apiError{Status: http.StatusGone, Code: "invitation_expired", Message: "this invitation has expired; ask for a new one"}
		}
		userID, err := s.invitee(ctx, q, inv, caller, req.Password, name)
		if err != nil {
			return err
		}
		auditActor(ctx, "user", userID, "")
		auditTarget(ctx, inv.ID)
		auditDetail(ctx, "role", inv.Role)
		if _, err := q.GetMember(ctx, db.GetMemberParams{CreatorID: creatorID, UserID: userID}); err == nil {
			return errConflict("already_member", "you already belong to this workspace")
		} else if !db.IsNotFound(err) {
			return err
		}
		memberID, err := uuid.NewV7()
		if err != nil {
			return err
		}
		if err := q.LockWorkspaceMembers(ctx, creatorID); err != nil {
			return err
		}
		if _, err := q.InsertMember(ctx, db.InsertMemberParams{ID: memberID, CreatorID: creatorID, UserID: userID, Role: inv.Role,
			CanReadMessages: inv.CanReadMessages}); err != nil {
			return err
		}
		if err := q.AcceptInvitation(ctx, db.AcceptInvitationParams{ID: inv.ID, AcceptedBy: uuid.NullUUID{UUID: userID, Valid: true}}); err != nil {
			return err
		}
		if ss, err = loadSession(ctx, q, creatorID, userID); err != nil {
			return err
		}
		ss.refresh, err = s.newRefresh(ctx, q, creatorID, userID)
		return err
	})
	if err != nil {
		return err
	}
	s.Log.Info("invitation accepted", "creator", creatorID, "user", ss.user.ID)
	if caller == nil {
		s.loginSucceeded(ctx, ip, ss.user.Email)
	}
	return s.writeSession(w, http.StatusOK, ss)
}

// invitationCaller is the signed-in person accepting an invitation.
type invitationCaller struct {
	userID uuid.UUID
	email  string
}

// invitee is the person accepting inv: the signed-in caller (whose email must be the invited
// one), the existing account of the invited email (password checked), or a new account.
func (s *Server) invitee(ctx context.Context, q *db.Queries, inv db.Invitation, caller *invitationCaller, password, name string) (uuid.UUID, error) {
	if caller != nil {
		if !strings.EqualFold(caller.email, inv.Email) {
			return uuid.Nil, &apiError{Status: http.StatusForbidden, Code: "invitation_email_mismatch",
				Message: "this invitation is for another email address; sign in with that address's account"}
		}
		return caller.userID, nil
	}
	if password == "" {
		return uuid.Nil, errBadRequest("missing_password", "password is required: the password of your account, or the one to create it with")
	}
	u, err := q.UserByEmail(ctx, inv.Email)
	if err != nil && !db.IsNotFound(err) {
		return uuid.Nil, err
	}
	if err == nil {
		if !s.Auth.CheckPassword(u.PasswordHash, password) {
			return uuid.Nil, errInvalidCredentials
		}
		return u.ID, nil
	}
	hash, err := s.Auth.HashPassword(password)
	switch {
	case errors.Is(err, auth.ErrPasswordTooShort):
		return uuid.Nil, errBadRequest("password_too_short", "password must be at least 8 characters")
	case errors.Is(err, auth.ErrPasswordTooLong):
		return uuid.Nil, errBadRequest("password_too_long", "password must be at most 72 bytes")
	case err != nil:
		return uuid.Nil, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.Nil, err
	}
	err = q.CreateUser(ctx, db.CreateUserParams{ID: id, Email: inv.Email, PasswordHash: hash, Name: name})
	if db.IsUniqueViolation(err) {
		// Created by a concurrent acceptance a moment ago: the client retries and signs in.
		return uuid.Nil, errConflict("email_taken", "an account with this email was just created; retry")
	}
	return id, err
}

// profileOf reads the signed-in person's profile, in their own workspace.
func (s *Server) profileOf(ctx context.Context, a creatorAuth) (db.MemberProfileRow, error) {
	var p db.MemberProfileRow
	err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) error {
		var err error
		p, err = q.MemberProfile(ctx, a.UserID)
		return err
	})
	return p, err
}
