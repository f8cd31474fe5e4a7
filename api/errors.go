package api

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/patchbay/patchbay/cnm"
)

// StatusOf maps an error kind to an HTTP status, as Docker does.
func StatusOf(err error) int {
	switch {
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

// KindOf maps a status back to an error kind (used by the client).
func KindOf(status int) error {
	switch status {
	case http.StatusNotFound:
		return cnm.ErrNotFound
	case http.StatusBadRequest:
		return cnm.ErrInvalid
	case http.StatusConflict:
		return cnm.ErrConflict
	case http.StatusForbidden:
		return cnm.ErrForbidden
	case http.StatusServiceUnavailable:
		return cnm.ErrUnavailable
	}
	return nil
}

func writeError(w http.ResponseWriter, err error) {
	writeJSON(w, StatusOf(err), ErrorResponse{Message: err.Error()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
