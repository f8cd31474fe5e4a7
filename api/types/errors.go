package types

import (
	"net/http"

	"github.com/patchbay/patchbay/cnm"
)

// ErrorResponse is the body of every error reply.
type ErrorResponse struct {
	Message string `json:"message"`
}

// KindOf maps a status back to an error kind (used by the client).
func KindOf(status int) error {
	switch status {
	case http.StatusNotFound:
		return cnm.ErrNotFound
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
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
