package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/patchbay/patchbay/api/types"
	"github.com/patchbay/patchbay/cnm"
)

// httpError is an error of the HTTP layer itself (a body too large, a
// route patchbay does not provide) that has no cnm kind.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func errStatus(status int, format string, a ...any) error {
	return &httpError{status: status, msg: fmt.Sprintf(format, a...)}
}

// StatusOf maps an error kind to an HTTP status, as Docker does.
func StatusOf(err error) int {
	var he *httpError
	switch {
	case errors.As(err, &he):
		return he.status
	case errors.Is(err, cnm.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, cnm.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, cnm.ErrConflict):
		return http.StatusConflict
	case errors.Is(err, cnm.ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, cnm.ErrUnavailable):
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

func writeError(w http.ResponseWriter, err error) {
	writeJSON(w, StatusOf(err), types.ErrorResponse{Message: err.Error()})
}

// writeJSON writes v as Docker does: no HTML escaping, so `docker
// network inspect` (which indents the raw reply) and `patchbay network
// inspect` (which re-encodes it) print the same bytes.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
