package plugin

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/patchbay/patchbay/cnm"
)

// ErrNotImplemented is the kind of a call the plugin answered 404: it
// does not implement the method (tolerated for the optional ones).
var ErrNotImplemented = errors.New("not implemented by the plugin")

// Error is a failed plugin call, naming the plugin and the method.
type Error struct {
	Plugin string
	Method string
	// Status is the HTTP status of the reply; 0 when none came.
	Status int
	// Msg is what the plugin said, or what was wrong with its reply.
	Msg string
	// Remote is true when the plugin answered with an error.
	Remote bool
	// Cause is why no reply came (a connection failure, the context).
	Cause error
}

func (e *Error) Error() string {
	s := fmt.Sprintf("plugin %s: %s", e.Plugin, e.Method)
	switch {
	case e.Cause != nil && e.Msg != "":
		return s + ": " + e.Msg + ": " + e.Cause.Error()
	case e.Cause != nil:
		return s + ": " + e.Cause.Error()
	case e.Remote:
		return s + ": remote: " + e.Msg
	default:
		return s + ": " + e.Msg
	}
}

// Unwrap makes the cause (a context's error) and the kind reachable:
// cnm.ErrUnavailable when no reply came, ErrNotImplemented for a 404.
func (e *Error) Unwrap() []error {
	var out []error
	if e.Cause != nil {
		out = append(out, e.Cause, cnm.ErrUnavailable)
	}
	if e.Status == http.StatusNotFound {
		out = append(out, ErrNotImplemented)
	}
	return out
}
