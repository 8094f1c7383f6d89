package gateway

// Helpers shared by the creator API files (api_*.go).

import (
	"context"
	"errors"
	"net/http"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/internal/channels/setup"
	"github.com/coachwire/coachwire/internal/conversation"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/knowledge"
	"github.com/coachwire/coachwire/internal/proactive"
)

func pathID(r *http.Request, name string) (uuid.UUID, error) {
	id, err := uuid.Parse(r.PathValue(name))
	if err != nil {
		return uuid.Nil, errNotFound(name)
	}
	return id, nil
}

// domainError turns a rule a domain package refused into the API error it answers: the domain
// says how it was refused (invalid, conflict, not found) and with which code.
func domainError(err error) error {
	var (
		ae *apiError
		pe *proactive.Error
		ke *knowledge.Error
		ce *conversation.Error
		se *setup.Error
	)
	switch {
	case errors.As(err, &ae): // already an API answer (it may wrap a domain error)
		return err
	case errors.As(err, &ce):
		return &apiError{Status: http.StatusConflict, Code: ce.Code, Message: ce.Message}
	case errors.As(err, &pe):
		return &apiError{Status: proactiveStatus[pe.Kind], Code: pe.Code, Message: pe.Message}
	case errors.As(err, &ke):
		return &apiError{Status: knowledgeStatus[ke.Kind], Code: ke.Code, Message: ke.Message}
	case errors.As(err, &se):
		return &apiError{Status: channelStatus[se.Kind], Code: se.Code, Message: se.Message, Err: se.Err}
	}
	return err
}

var proactiveStatus = map[proactive.Kind]int{
	proactive.Invalid:  http.StatusBadRequest,
	proactive.Conflict: http.StatusConflict,
	proactive.NotFound: http.StatusNotFound,
}

var knowledgeStatus = map[knowledge.Kind]int{
	knowledge.Invalid:  http.StatusBadRequest,
	knowledge.Conflict: http.StatusConflict,
	knowledge.NotFound: http.StatusNotFound,
	knowledge.TooLarge: http.StatusRequestEntityTooLarge,
}

var channelStatus = map[setup.Kind]int{
	setup.Invalid:     http.StatusBadRequest,
	setup.Conflict:    http.StatusConflict,
	setup.NotFound:    http.StatusNotFound,
	setup.Unavailable: http.StatusBadGateway,
}

// writeList answers {key: [...]}: the rows list reads in the caller's workspace, each turned into
// its API form by to (an empty list, never null).
func writeList[R, O any](s *Server, w http.ResponseWriter, r *http.Request, a creatorAuth, key string,
	list func(context.Context, *db.Queries) ([]R, error), to func(R) O) error {
	ctx := r.Context()
	out := []O{}
	err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) error {
		rows, err := list(ctx, q)
		for _, row := range rows {
			out = append(out, to(row))
		}
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{key: out})
	return nil
}

// revokeByID answers 204 once revoke, run in the caller's workspace, changed the row the path's
// {id} names; 404 naming what when the id is malformed, and gone when nothing matched.
func revokeByID(s *Server, w http.ResponseWriter, r *http.Request, a creatorAuth, what, gone string,
	revoke func(context.Context, *db.Queries, uuid.UUID) (int64, error)) (uuid.UUID, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return id, errNotFound(what)
	}
	ctx := r.Context()
	var n int64
	if err := s.Store.InTenant(ctx, a.CreatorID, func(q *db.Queries) (err error) {
		n, err = revoke(ctx, q, id)
		return err
	}); err != nil {
		return id, err
	}
	if n == 0 {
		return id, errNotFound(gone)
	}
	w.WriteHeader(http.StatusNoContent)
	return id, nil
}
