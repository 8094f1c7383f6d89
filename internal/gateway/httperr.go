package gateway

import (
	"github.com/coachwire/coachwire/internal/gateway/httpx"
)

// The creator API's names for the shared HTTP plumbing (package httpx): errors become JSON
// responses in one place, httpx.WriteError.
type apiError = httpx.Error

var (
	errBadRequest        = httpx.BadRequest
	errNotFound          = httpx.NotFound
	errConflict          = httpx.Conflict
	errRateLimited       = httpx.RateLimited
	errLimitsUnavailable = httpx.LimitsUnavailable
	writeError           = httpx.WriteError
	writeJSON            = httpx.WriteJSON
	readJSON             = httpx.ReadJSON
	checkQuery           = httpx.CheckQuery
	orNotFound           = httpx.OrNotFound
)
