package hub

import (
	"errors"
	"fmt"
)

// Application error codes. They are the values clients see in a GraphQL
// error's extensions.code; the transport translates them in one table.
const (
	EINVALID      = "BAD_USER_INPUT"
	EUNAUTHORIZED = "UNAUTHENTICATED"
	EFORBIDDEN    = "FORBIDDEN"
	ENOTFOUND     = "NOT_FOUND"
	ECONFLICT     = "CONFLICT"
	EOUTOFSTOCK   = "OUT_OF_STOCK"
	ERATELIMITED  = "RATE_LIMITED"
	EINTERNAL     = "INTERNAL"
)

// Error is the one application error type. Code is one of the E* constants;
// Message is safe to show to the caller. Err, when set, is a sentinel the
// error also matches with errors.Is (for example grid.ErrInvalidCell).
type Error struct {
	Code    string
	Message string
	Err     error
}

// Error implements the error interface.
func (e *Error) Error() string {
	return fmt.Sprintf("gridhub error: code=%s message=%s", e.Code, e.Message)
}

// Unwrap returns the sentinel the error carries, if any.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an application error with the given code and a formatted
// message. String arguments longer than MaxEcho characters are clipped and
// the message is cut to MaxMessage bytes, so an error never repeats a
// caller's whole input.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: sprintf(format, args...)}
}

// Wrapf is Errorf for an error that also carries a sentinel, for callers
// that check it with errors.Is.
func Wrapf(code string, sentinel error, format string, args ...any) *Error {
	return &Error{Code: code, Message: sprintf(format, args...), Err: sentinel}
}

// ErrorCode returns the code of the first application error in err's chain,
// or EINTERNAL for any other non-nil error, or "" for nil.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the message of the first application error in err's
// chain, or "internal error" for any other non-nil error. Internal details
// never reach a caller.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
