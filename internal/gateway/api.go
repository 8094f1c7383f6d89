package gateway

// Helpers shared by the creator API files (api_*.go).

import (
	"errors"
	"net/http"

	"github.com/google/uuid"

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
	var pe *proactive.Error
	if errors.As(err, &pe) {
		return &apiError{Status: domainStatus[pe.Kind], Code: pe.Code, Message: pe.Message}
	}
	return err
}

var domainStatus = map[proactive.Kind]int{
	proactive.Invalid:  http.StatusBadRequest,
	proactive.Conflict: http.StatusConflict,
	proactive.NotFound: http.StatusNotFound,
}
