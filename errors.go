package poblysh

import (
	"errors"
	"fmt"
)

// Domain error codes understood by every layer. The api package maps each to
// one HTTP status in a single table.
const (
	EINVALID    = "invalid_request"
	EVALIDATION = "validation_failed"
	// EINVALIDCONFIG: a connection config names something the connection's
	// own token cannot read (HTTP 422).
	EINVALIDCONFIG = "invalid_config"
	ENOTFOUND      = "not_found"
	ECONFLICT      = "conflict"
	EUNAUTHORIZED  = "unauthorized"
	// EBADGATEWAY: a provider failed while serving the request (HTTP 502).
	EBADGATEWAY  = "bad_gateway"
	EUNAVAILABLE = "unavailable"
	EINTERNAL    = "internal"
	// ETOOLARGE: the request body is over the size limit (HTTP 413).
	ETOOLARGE = "payload_too_large"
	// EMEDIATYPE: the request body is not JSON (HTTP 415).
	EMEDIATYPE = "unsupported_media_type"
	// EMETHOD: the path exists, the method does not (HTTP 405).
	EMETHOD = "method_not_allowed"
)

// Error is a domain error with a code safe to show to API clients.
// Message must never contain a secret.
type Error struct {
	Code    string
	Message string
	// Details carries field-level problems for invalid/validation errors.
	Details map[string]string
	// Err is the underlying cause; it is logged, never shown.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an *Error with a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid builds an invalid_request error with field details.
func Invalid(msg string, details map[string]string) *Error {
	return &Error{Code: EINVALID, Message: msg, Details: details}
}

// NotFound builds a not_found error for a resource kind.
func NotFound(what string) *Error {
	return &Error{Code: ENOTFOUND, Message: what + " not found"}
}

// Unavailable wraps a dependency failure (Postgres, Temporal down).
func Unavailable(what string, err error) *Error {
	return &Error{Code: EUNAVAILABLE, Message: what + " is unavailable", Err: err}
}

// ErrorCode returns the code of the first *Error in err's chain, or EINTERNAL.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the client-safe message of err, hiding internals.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
