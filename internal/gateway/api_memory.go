package gateway

// End-user memory: the profile the bot keeps about a person, as the creator sees and edits it.

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/memory"
)

func (s *Server) handleGetMemory(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	ctx := r.Context()
	var m db.EndUserMemory
	err = s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) error {
		if _, err := q.GetEndUser(ctx, id); err != nil {
			return err
		}
		m, err = q.GetMemory(ctx, id)
		if db.IsNotFound(err) {
			m, err = db.EndUserMemory{EndUserID: id, Profile: json.RawMessage(`{}`)}, nil
		}
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"end_user_id": id, "profile": memory.Parse(m.Profile), "edited_by_creator": m.EditedByCreator, "updated_at": m.UpdatedAt})
	return nil
}

func (s *Server) handlePutMemory(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in struct {
		Profile *memory.Profile `json:"profile"`
	}
	if err := readJSON(w, r, &in); err != nil {
		return err
	}
	if in.Profile == nil {
		return errBadRequest("missing_field", "profile is required (an empty profile erases: use DELETE)")
	}
	for name, l := range map[string][]string{"goals": in.Profile.Goals, "preferences": in.Profile.Preferences,
		"commitments": in.Profile.Commitments, "facts": in.Profile.Facts} {
		for i, item := range l {
			if err := limitMemoryItem.field("invalid_profile", fmt.Sprintf("profile.%s[%d]", name, i), item); err != nil {
				return err
			}
		}
	}
	if err := in.Profile.Validate(); err != nil {
		return errBadRequest("invalid_profile", err.Error())
	}
	b, _ := json.Marshal(in.Profile.Clean())
	ctx := r.Context()
	var m db.EndUserMemory
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) error {
		if _, err := q.GetEndUser(ctx, id); err != nil {
			return err
		}
		m, err = q.PutMemory(ctx, db.PutMemoryParams{EndUserID: id, CreatorID: a.CreatorID, Profile: b})
		return err
	}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"end_user_id": id, "profile": m.Profile, "edited_by_creator": true, "updated_at": m.UpdatedAt})
	return nil
}

func (s *Server) handleDeleteMemory(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	ctx := r.Context()
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) error {
		if _, err := q.GetEndUser(ctx, id); err != nil {
			return err
		}
		_, err := memory.Erase(ctx, q, a.CreatorID, id)
		return err
	}); err != nil {
		if errors.Is(err, db.ErrNotFound) || db.IsNotFound(err) {
			return errNotFound("end user")
		}
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
