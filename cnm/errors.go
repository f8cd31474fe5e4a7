// Package cnm holds patchbay's plain value types (networks, endpoints,
// sandboxes) and its error kinds. It does no I/O.
package cnm

import (
	"errors"
	"fmt"
)

// Error kinds. Wrap them with %w and test with errors.Is; only the API
// layer turns them into status codes.
var (
	ErrNotFound    = errors.New("not found")
	ErrConflict    = errors.New("conflict")
	ErrInvalid     = errors.New("invalid argument")
	ErrForbidden   = errors.New("forbidden")
	ErrUnavailable = errors.New("unavailable")
)

// kindError carries a message of its own and an error kind for errors.Is.
type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

// NotFound returns an error of kind ErrNotFound with a formatted message.
func NotFound(format string, a ...any) error { return newKind(ErrNotFound, format, a...) }

// Conflict returns an error of kind ErrConflict with a formatted message.
func Conflict(format string, a ...any) error { return newKind(ErrConflict, format, a...) }

// Invalid returns an error of kind ErrInvalid with a formatted message.
func Invalid(format string, a ...any) error { return newKind(ErrInvalid, format, a...) }

// Forbidden returns an error of kind ErrForbidden with a formatted message.
func Forbidden(format string, a ...any) error { return newKind(ErrForbidden, format, a...) }

// Unavailable returns an error of kind ErrUnavailable with a formatted message.
func Unavailable(format string, a ...any) error { return newKind(ErrUnavailable, format, a...) }

func newKind(kind error, format string, a ...any) error {
	// Keep any %w chains of the arguments reachable too.
	err := fmt.Errorf(format, a...)
	if u := errors.Unwrap(err); u != nil {
		return &wrapKindError{kindError{kind: kind, msg: err.Error()}, u}
	}
	return &kindError{kind: kind, msg: err.Error()}
}

type wrapKindError struct {
	kindError
	cause error
}

func (e *wrapKindError) Unwrap() []error { return []error{e.kind, e.cause} }
