package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/coachwire/coachwire/internal/db"
)

// apiError is an error with the HTTP status and machine-readable code it maps to. Handlers
// return one; writeError is the one place errors become responses.
type apiError struct {
	Status  int
	Code    string
	Message string
	Err     error
}

func (e *apiError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %v", e.Message, e.Err)
	}
	return e.Message
}

func (e *apiError) Unwrap() error { return e.Err }

func errBadRequest(code, msg string) error { return &apiError{Status: 400, Code: code, Message: msg} }
func errUnauthorized(msg string) error {
	return &apiError{Status: 401, Code: "unauthorized", Message: msg}
}
func errForbidden(msg string) error { return &apiError{Status: 403, Code: "forbidden", Message: msg} }
func errNotFound(what string) error {
	return &apiError{Status: 404, Code: "not_found", Message: what + " not found"}
}
func errConflict(code, msg string) error { return &apiError{Status: 409, Code: code, Message: msg} }
func errTooMany(msg string) error        { return &apiError{Status: 429, Code: "rate_limited", Message: msg} }

// writeError maps err to a status and a JSON body {"error":{"code","message"}} and logs it.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
	case db.IsNotFound(err):
		ae = &apiError{Status: 404, Code: "not_found", Message: "not found"}
	case db.IsForeignKeyViolation(err):
		// Every tenant foreign key includes creator_id: the request named something that is
		// not (or no longer) the creator's own. Handlers check what they are given first; this
		// is what a reference deleted meanwhile, or one no handler checks, comes to.
		ae = &apiError{Status: 422, Code: "invalid_reference", Message: "the request refers to something that does not exist"}
	default:
		ae = &apiError{Status: 500, Code: "internal", Message: "internal error", Err: err}
	}
	level := slog.LevelInfo
	if ae.Status >= 500 {
		level = slog.LevelError
	}
	log.Log(r.Context(), level, "request failed", "method", r.Method, "path", r.URL.Path, "status", ae.Status, "code", ae.Code, "err", err)
	writeJSON(w, ae.Status, map[string]any{"error": map[string]string{"code": ae.Code, "message": ae.Message}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// maxJSONBody bounds every JSON request body.
const maxJSONBody = 1 << 20

// readJSON decodes a bounded JSON body into v, rejecting unknown fields and trailing data.
func readJSON(w http.ResponseWriter, r *http.Request, v any) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxJSONBody)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return &apiError{Status: 413, Code: "too_large", Message: fmt.Sprintf("body over %d bytes", maxJSONBody)}
		}
		return &apiError{Status: 400, Code: "malformed_json", Message: "malformed JSON body: " + err.Error()}
	}
	if _, err := dec.Token(); err != io.EOF {
		return &apiError{Status: 400, Code: "malformed_json", Message: "malformed JSON body: trailing data"}
	}
	return nil
}

// orNotFound turns "no such row in this tenant" into a 404 naming what was looked for; another
// creator's id lands here too, indistinguishable from an unknown one.
func orNotFound(err error, what string) error {
	if db.IsNotFound(err) {
		return errNotFound(what)
	}
	return err
}
