package gateway

// API keys: workspace credentials for automation, each with a role (never owner) and a name.
// The secret is shown once, at creation; the database keeps its SHA-256 and the prefix lists
// show. A key is used as "Authorization: Bearer <key>" on the creator API (authenticate) with its
// role's permissions, and stops working the moment it is revoked.

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/internal/auth"
	"github.com/coachwire/coachwire/internal/db"
)

type apiKeyOut struct {
	ID         uuid.UUID  `json:"id"`
	Name       string     `json:"name"`
	Role       string     `json:"role"`
	Prefix     string     `json:"prefix"`
	CreatedBy  *uuid.UUID `json:"created_by,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func toAPIKeyOut(k db.ApiKey) apiKeyOut {
	out := apiKeyOut{ID: k.ID, Name: k.Name, Role: k.Role, Prefix: k.Prefix, CreatedAt: k.CreatedAt.UTC(),
		LastUsedAt: utcPtr(k.LastUsedAt), RevokedAt: utcPtr(k.RevokedAt)}
	if k.CreatedBy.Valid {
		out.CreatedBy = &k.CreatedBy.UUID
	}
	return out
}

// handleListAPIKeys lists the workspace's keys, newest first, revoked ones included.
func (s *Server) handleListAPIKeys(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	return writeList(s, w, r, a, "api_keys", func(ctx context.Context, q *db.Queries) ([]db.ApiKey, error) {
		return q.ListAPIKeys(ctx, a.CreatorID)
	}, toAPIKeyOut)
}

// handleCreateAPIKey creates a key and answers its secret, once.
func (s *Server) handleCreateAPIKey(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	var req struct {
		Name string `json:"name"`
		Role string `json:"role"`
	}
	if err := readJSON(w, r, &req); err != nil {
		return err
	}
	name := strings.TrimSpace(req.Name)
	if name == "" {
		return errBadRequest("invalid_name", "name is required")
	}
	if err := limitName.field("invalid_name", "name", name); err != nil {
		return err
	}
	role, err := parseRole(req.Role)
	if err != nil {
		return err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	raw, prefix, hash := auth.NewAPIKey()
	ctx := r.Context()
	auditTarget(ctx, id)
	auditDetail(ctx, "name", name)
	auditDetail(ctx, "role", role)
	var k db.ApiKey
	err = s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) error {
		if a.person() {
			// Serialized with the member changes: a removal that began after this request was
			// authenticated either revokes this key (it commits after) or refuses it here.
			if err := q.LockWorkspaceMembers(ctx, a.CreatorID); err != nil {
				return err
			}
			m, err := q.GetMember(ctx, db.GetMemberParams{CreatorID: a.CreatorID, UserID: a.UserID})
			if db.IsNotFound(err) || (err == nil && m.ID != a.MemberID) {
				w.Header().Set("WWW-Authenticate", authBearerRealm+`, error="invalid_token"`)
				return &apiError{Status: http.StatusUnauthorized, Code: "invalid_token", Message: "invalid or expired access token"}
			}
			if err != nil {
				return err
			}
		}
		var err error
		k, err = q.InsertAPIKey(ctx, db.InsertAPIKeyParams{ID: id, CreatorID: a.CreatorID, Name: name, Role: string(role), Prefix: prefix,
			TokenHash: hash, CreatedBy: uuid.NullUUID{UUID: a.UserID, Valid: a.person()}})
		if err != nil {
			return err
		}
		return q.RegisterAPIKey(ctx, db.RegisterAPIKeyParams{CreatorID: a.CreatorID, TokenHash: hash})
	})
	if err != nil {
		return err
	}
	s.Log.Info("API key created", "creator", a.CreatorID, "key", id, "role", role)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, struct {
		apiKeyOut
		Key string `json:"key"`
	}{toAPIKeyOut(k), raw})
	return nil
}

// handleRevokeAPIKey revokes a key: the next request with it is refused.
func (s *Server) handleRevokeAPIKey(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	id, err := revokeByID(s, w, r, a, "API key", "API key", func(ctx context.Context, q *db.Queries, id uuid.UUID) (int64, error) {
		return q.RevokeAPIKey(ctx, db.RevokeAPIKeyParams{CreatorID: a.CreatorID, ID: id})
	})
	if err == nil {
		s.Log.Info("API key revoked", "creator", a.CreatorID, "key", id)
	}
	return err
}
