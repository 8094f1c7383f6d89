// Package httpx is the HTTP plumbing every audience of the gateway shares (the creator API in
// package gateway, the widget, the provider webhooks): the error type and the one place errors
// become JSON responses, JSON bodies in and out, the query-string rule, the client address
// behind trusted proxies and the answers of the shared request limits.
package httpx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/text"
)

// Error is an error with the HTTP status and machine-readable code it maps to. Handlers
// return one; WriteError is the one place errors become responses.
type Error struct {
	Status  int
	Code    string
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %v", e.Message, e.Err)
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// BadRequest is a 400 with code.
func BadRequest(code, msg string) error { return &Error{Status: 400, Code: code, Message: msg} }

// Unauthorized is a 401.
func Unauthorized(msg string) error {
	return &Error{Status: 401, Code: "unauthorized", Message: msg}
}

// Forbidden is a 403.
func Forbidden(msg string) error { return &Error{Status: 403, Code: "forbidden", Message: msg} }

// NotFound is a 404 naming what was not found.
func NotFound(what string) error {
	return &Error{Status: 404, Code: "not_found", Message: what + " not found"}
}

// Conflict is a 409 with code.
func Conflict(code, msg string) error { return &Error{Status: 409, Code: code, Message: msg} }

// TooMany is a 429 rate_limited.
func TooMany(msg string) error { return &Error{Status: 429, Code: "rate_limited", Message: msg} }

// WriteError maps err to a status and a JSON body {"error":{"code","message"}} and logs it.
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var ae *Error
	switch {
	case errors.As(err, &ae):
	case db.IsNotFound(err):
		ae = &Error{Status: 404, Code: "not_found", Message: "not found"}
	case db.IsForeignKeyViolation(err):
		// Every tenant foreign key includes creator_id: the request named something that is
		// not (or no longer) the creator's own. Handlers check what they are given first; this
		// is what a reference deleted meanwhile, or one no handler checks, comes to.
		ae = &Error{Status: 422, Code: "invalid_reference", Message: "the request refers to something that does not exist"}
	case IsUnavailable(err):
		// PostgreSQL or NATS is down or did not answer: 503 with Retry-After, never a 500.
		ae = DependencyUnavailable(w, err).(*Error)
	default:
		ae = &Error{Status: 500, Code: "internal", Message: "internal error", Err: err}
	}
	level := slog.LevelInfo
	if ae.Status >= 500 {
		level = slog.LevelError
	}
	log.Log(r.Context(), level, "request failed", "method", r.Method, "path", r.URL.Path, "status", ae.Status, "code", ae.Code, "err", err)
	WriteJSON(w, ae.Status, map[string]any{"error": map[string]string{"code": ae.Code, "message": shorten(ae.Message, maxErrorMessage)}})
}

// WriteJSON answers status with v as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// maxJSONBody bounds every JSON request body.
const maxJSONBody = 1 << 20

// UnsupportedMedia answers a body that is not JSON where JSON is expected.
func UnsupportedMedia(want string) error {
	return &Error{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type", Message: "Content-Type must be " + want}
}

// isJSON reports whether a Content-Type is application/json or another +json type.
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// ReadJSON decodes a bounded JSON body into v, rejecting other content types, unknown fields,
// trailing data and text coachwire does not accept (package text: invalid UTF-8, NUL, control
// characters), wherever it is in the document, keys included.
func ReadJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if !isJSON(r.Header.Get("Content-Type")) {
		return UnsupportedMedia("application/json")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxJSONBody)
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return &Error{Status: 413, Code: "too_large", Message: fmt.Sprintf("body over %d bytes", maxJSONBody)}
		}
		return BadRequest("bad_body", "could not read the body")
	}
	if !utf8.Valid(raw) {
		// encoding/json would quietly turn the bad bytes into U+FFFD.
		return BadRequest("invalid_utf8", "the body is not valid UTF-8")
	}
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return &Error{Status: 400, Code: "malformed_json", Message: "malformed JSON body: " + err.Error()}
	}
	if _, ok := doc.(map[string]any); !ok {
		return BadRequest("malformed_json", "the body must be a JSON object")
	}
	if err := checkJSONText(doc, ""); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &Error{Status: 400, Code: "malformed_json", Message: "malformed JSON body: " + err.Error()}
	}
	if _, err := dec.Token(); err != io.EOF {
		return &Error{Status: 400, Code: "malformed_json", Message: "malformed JSON body: trailing data"}
	}
	return nil
}

// checkJSONText applies the text rule to every string (and key) of a decoded JSON document;
// the error names the field.
func checkJSONText(v any, path string) error {
	switch x := v.(type) {
	case string:
		if err := text.Check(x); err != nil {
			return errBadText(path, err)
		}
	case []any:
		for i, e := range x {
			if err := checkJSONText(e, path+"["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
		}
	case map[string]any:
		for k, e := range x {
			p := k
			if path != "" {
				p = path + "." + k
			}
			if err := text.CheckLine(k); err != nil {
				return errBadText(path, err)
			}
			if err := checkJSONText(e, p); err != nil {
				return err
			}
		}
	}
	return nil
}

// errBadText refuses a field whose text is not accepted (package text).
func errBadText(field string, err error) error {
	if field == "" {
		field = "body"
	}
	return BadRequest("bad_text", field+": "+err.Error())
}

// maxQueryValue bounds each query parameter (after decoding).
const maxQueryValue = 2048

// CheckQuery refuses a query string that is malformed, or has a parameter that is not one
// line of accepted text or is over maxQueryValue bytes: every route gets the same rule before
// its handler reads a parameter.
func CheckQuery(r *http.Request) error {
	if r.URL.RawQuery == "" {
		return nil
	}
	vals, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return BadRequest("bad_query", "malformed query string")
	}
	for k, vs := range vals {
		if err := text.CheckLine(k); err != nil {
			return errBadText("query parameter", err)
		}
		for _, v := range vs {
			if len(v) > maxQueryValue {
				return BadRequest("bad_query", fmt.Sprintf("query parameter %s: over %d bytes", k, maxQueryValue))
			}
			if err := text.CheckLine(v); err != nil {
				return errBadText("query parameter "+k, err)
			}
		}
	}
	return nil
}

// OrNotFound turns "no such row in this tenant" into a 404 naming what was looked for; another
// creator's id lands here too, indistinguishable from an unknown one.
func OrNotFound(err error, what string) error {
	if db.IsNotFound(err) {
		return NotFound(what)
	}
	return err
}

// maxErrorMessage bounds an error message: one that quotes a huge input value is cut.
const maxErrorMessage = 1000

// shorten cuts s to at most n bytes on a rune boundary, marking the cut.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}
