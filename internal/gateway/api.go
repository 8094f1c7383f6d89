package gateway

// Helpers shared by the creator API files (api_*.go).

import (
	"net/http"

	"github.com/google/uuid"
)

func pathID(r *http.Request, name string) (uuid.UUID, error) {
	id, err := uuid.Parse(r.PathValue(name))
	if err != nil {
		return uuid.Nil, errNotFound(name)
	}
	return id, nil
}
