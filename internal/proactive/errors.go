package proactive

import "github.com/coachwire/coachwire/internal/db"

// Error is a request the proactive rules refuse. Kind says how (the API maps it to a status);
// Code is the machine-readable code the API answers with.
type Error struct {
	Kind    Kind
	Code    string
	Message string
}

// Kind is the class of an Error.
type Kind int

// Kinds of Error.
const (
	// Invalid: the request breaks a rule whatever the state (400).
	Invalid Kind = iota + 1
	// Conflict: the request does not fit the current state (409).
	Conflict
	// NotFound: the request names something the creator does not have (404).
	NotFound
)

func (e *Error) Error() string { return e.Message }

func invalid(code, msg string) error  { return &Error{Kind: Invalid, Code: code, Message: msg} }
func conflict(code, msg string) error { return &Error{Kind: Conflict, Code: code, Message: msg} }
func notFound(what string) error {
	return &Error{Kind: NotFound, Code: "not_found", Message: what + " not found"}
}

// orNotFound turns "no such row in this tenant" into a NotFound naming what was looked for.
func orNotFound(err error, what string) error {
	if db.IsNotFound(err) {
		return notFound(what)
	}
	return err
}
