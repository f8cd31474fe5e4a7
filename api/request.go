package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/patchbay/patchbay/api/types"
	"github.com/patchbay/patchbay/cnm"
)

// decode reads a JSON request body strictly: one JSON value of the
// request's type, no field that no Docker API version defines, no
// trailing data, at most MaxBodySize bytes, and a JSON content type if
// one is given.
func decode(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return cnm.Invalid("unsupported Content-Type header (%s): must be 'application/json'", ct)
		}
	}
	if r.Body == nil {
		return cnm.Invalid("invalid JSON: got EOF while reading request body")
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return bodyError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err != nil {
			return bodyError(err)
		}
		return cnm.Invalid("invalid JSON: unexpected content after the request body")
	}
	return nil
}

func bodyError(err error) error {
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return errStatus(http.StatusRequestEntityTooLarge, "request body is larger than %d bytes", tooBig.Limit)
	case errors.Is(err, io.EOF):
		return cnm.Invalid("invalid JSON: got EOF while reading request body")
	}
	return cnm.Invalid("invalid JSON: %v", strings.TrimPrefix(err.Error(), "json: "))
}

// checkVersion accepts the /vX.Y/ prefixes between MinAPIVersion and
// APIVersion, with Docker's messages for the others.
func checkVersion(v string) error {
	switch {
	case compareVersions(v, MinAPIVersion) < 0:
		return cnm.Invalid("client version %s is too old. Minimum supported API version is %s, please upgrade your client to a newer version", v, MinAPIVersion)
	case compareVersions(v, types.APIVersion) > 0:
		return cnm.Invalid("client version %s is too new. Maximum supported API version is %s", v, types.APIVersion)
	}
	return nil
}

// compareVersions compares dotted decimal versions ("1.41" < "1.100").
func compareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) || i < len(bs); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

// checkPath refuses paths with "." or ".." segments or empty inner
// segments, wherever they come from (an escaped "..%2F" in an ID
// included): no route needs them and cleaning them would make a request
// reach another route than the one it names.
func checkPath(p string) error {
	if !strings.HasPrefix(p, "/") {
		return cnm.Invalid("invalid path %q", p)
	}
	segs := strings.Split(p[1:], "/")
	for i, seg := range segs {
		if seg == "." || seg == ".." || (seg == "" && i != len(segs)-1) {
			return cnm.Invalid("invalid path %q: %s", p, segmentProblem(seg))
		}
		if strings.ContainsFunc(seg, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return cnm.Invalid("invalid path %q: control character", p)
		}
	}
	return nil
}

func segmentProblem(seg string) string {
	if seg == "" {
		return "empty segment"
	}
	return fmt.Sprintf("%q segment", seg)
}

// boolParam reads a query flag as Docker does: "", "0", "false" and
// "no" and "none" are false, any other value true.
func boolParam(r *http.Request, name string) bool {
	switch strings.ToLower(r.URL.Query().Get(name)) {
	case "", "0", "false", "no", "none":
		return false
	}
	return true
}

// strictBoolParam reads a query flag that must be a boolean if present.
func strictBoolParam(r *http.Request, name string) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, cnm.Invalid("invalid value for %s: %s", name, v)
	}
	return b, nil
}
