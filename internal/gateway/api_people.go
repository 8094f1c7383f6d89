package gateway

// One person, several channels (internal/people): the end users linked into one person, shown
// on the end user and conversation answers, and the creator's unlink.

import (
	"errors"
	"net/http"

	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/people"
)

// handleUnlinkEndUser answers DELETE /api/v1/end-users/{id}/link: the end user leaves the
// person it shares with others (it becomes its own person, with an empty memory profile; the
// others keep the shared one). 409 not_linked when it shares its person with nobody. It
// answers the end user as it is now.
func (s *Server) handleUnlinkEndUser(w http.ResponseWriter, r *http.Request, a creatorAuth) error {
	id, err := pathID(r, "id")
	if err != nil {
		return errNotFound("end user")
	}
	ctx := r.Context()
	var out endUserOut
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) error {
		if err := setActingUser(ctx, q, a); err != nil {
			return err
		}
		if _, err := people.Unlink(ctx, q, id); err != nil {
			return err
		}
		e, err := q.GetEndUser(ctx, id)
		if err != nil {
			return err
		}
		out = endUserOf(e)
		ids, _, err := people.Identities(ctx, q, id)
		out.Identities = ids[id]
		return err
	}); err != nil {
		if errors.Is(err, people.ErrNotLinked) {
			return errConflict("not_linked", "this end user is not linked with another channel")
		}
		return orNotFound(err, "end user")
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
