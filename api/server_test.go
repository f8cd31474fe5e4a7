package api

import (
	"encoding/json"
	"github.com/patchbay/patchbay/api/types"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// These requests are all refused before the engine is involved, so the
// server runs without one; the e2e tests send them to a real daemon too.

func serve(t *testing.T, method, target, body string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	s := NewServer(nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, "http://patchbay"+target, rd)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w
}

func TestPing(t *testing.T) {
	for _, m := range []string{http.MethodGet, http.MethodHead} {
		for _, path := range []string{"/_ping", "/v1.41/_ping", "/v1.51/_ping"} {
			w := serve(t, m, path, "")
			h := w.Result().Header
			if w.Code != http.StatusOK || h.Get("API-Version") != types.APIVersion || h.Get("OSType") != "linux" ||
				h.Get("Docker-Experimental") != "false" || h.Get("Swarm") != "inactive" {
				t.Errorf("%s %s: %d %v", m, path, w.Code, h)
			}
			if want := map[string]string{"GET": "OK", "HEAD": ""}[m]; w.Body.String() != want {
				t.Errorf("%s %s: body %q", m, path, w.Body)
			}
		}
	}
}

func TestVersionRoute(t *testing.T) {
	w := serve(t, http.MethodGet, "/v1.44/version", "")
	var v types.VersionResponse
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil || w.Code != http.StatusOK {
		t.Fatalf("%d %s %v", w.Code, w.Body, err)
	}
	if v.Platform.Name != "patchbay" || v.Components[0].Name != "patchbay" || v.APIVersion != types.APIVersion || v.MinAPIVersion != MinAPIVersion {
		t.Errorf("version %+v", v)
	}
}

// TestRefusedRequests checks every kind of bad request gets a status and
// Docker's {"message"} body naming the problem.
func TestRefusedRequests(t *testing.T) {
	json := []string{"Content-Type", "application/json"}
	tests := []struct {
		name, method, path, body string
		header                   []string
		status                   int
		want                     string
	}{
		{"malformed body", "POST", "/networks/create", `{"Name": "x"`, json, 400, "invalid JSON"},
		{"not an object", "POST", "/networks/create", `["x"]`, json, 400, "invalid JSON"},
		{"wrong field type", "POST", "/networks/create", `{"Name": 5}`, json, 400, "Name"},
		{"unknown field", "POST", "/networks/create", `{"Name": "x", "Colour": "red"}`, json, 400, `unknown field "Colour"`},
		{"unknown nested field", "POST", "/networks/create", `{"Name": "x", "IPAM": {"Pools": []}}`, json, 400, `unknown field "Pools"`},
		{"trailing data", "POST", "/networks/create", `{"Name": "x"} {"Name": "y"}`, json, 400, "unexpected content"},
		{"empty body", "POST", "/networks/create", ``, json, 400, "EOF"},
		{"form content type", "POST", "/networks/create", `Name=x`, []string{"Content-Type", "application/x-www-form-urlencoded"}, 400, "Content-Type"},
		{"huge body", "POST", "/networks/create", `{"Name": "` + strings.Repeat("a", 2<<20) + `"}`, json, 413, "larger than"},
		{"huge connect", "POST", "/networks/x/connect", `{"Container": "` + strings.Repeat("a", 2<<20) + `"}`, json, 413, "larger than"},
		{"connect unknown field", "POST", "/networks/x/connect", `{"Container": "c", "Endpoint": {}}`, json, 400, `unknown field "Endpoint"`},
		{"connect links", "POST", "/networks/x/connect", `{"Container": "c", "EndpointConfig": {"Links": ["a:b"]}}`, json, 400, "links"},
		{"connect no container", "POST", "/networks/x/connect", `{}`, json, 400, "no container"},
		{"disconnect bad force", "POST", "/networks/x/disconnect", `{"Container": "c", "Force": "yes"}`, json, 400, "Force"},
		{"create ipv6 only", "POST", "/networks/create", `{"Name": "x", "EnableIPv4": false}`, json, 400, "IPv6-only"},
		{"create swarm scope", "POST", "/networks/create", `{"Name": "x", "Scope": "swarm"}`, json, 400, "scope"},
		{"create ingress", "POST", "/networks/create", `{"Name": "x", "Ingress": true}`, json, 400, "ingress"},
		{"create config-from", "POST", "/networks/create", `{"Name": "x", "ConfigFrom": {"Network": "y"}}`, json, 400, "config-from"},
		{"wrong method", "PUT", "/networks/create", `{}`, json, 405, "not allowed"},
		{"wrong method on id", "PATCH", "/networks/abc", ``, nil, 405, "GET, HEAD, DELETE"},
		{"get on post route", "GET", "/v1.41/networks/x/connect", ``, nil, 405, "not allowed"},
		{"dot-dot in id", "GET", "/networks/..%2F..%2Fetc%2Fpasswd", ``, nil, 400, "invalid path"},
		{"dot-dot segments", "GET", "/v1.41/networks/../../etc/passwd", ``, nil, 400, "invalid path"},
		{"dot segment", "DELETE", "/networks/./x", ``, nil, 400, "invalid path"},
		{"empty segment", "GET", "/networks//json", ``, nil, 400, "invalid path"},
		{"escaped dot-dot container", "GET", "/containers/%2e%2e/json", ``, nil, 400, "invalid path"},
		{"control character", "GET", "/networks/a%00b", ``, nil, 400, "control character"},
		{"version too new", "GET", "/v1.99/networks", ``, nil, 400, "too new"},
		{"version too old", "GET", "/v1.12/networks", ``, nil, 400, "too old"},
		{"bad filters", "GET", "/networks?filters=%7Bnope", ``, nil, 400, "invalid filters"},
		{"unknown filter", "GET", "/networks?filters=" + `%7B%22color%22%3A%7B%22red%22%3Atrue%7D%7D`, ``, nil, 400, "invalid filter 'color'"},
		{"bad dangling", "GET", "/networks?filters=" + `%7B%22dangling%22%3A%5B%22maybe%22%5D%7D`, ``, nil, 400, "dangling"},
		{"bad type", "GET", "/networks?filters=" + `%7B%22type%22%3A%5B%22odd%22%5D%7D`, ``, nil, 400, "type"},
		{"bad verbose", "GET", "/networks/x?verbose=perhaps", ``, nil, 400, "verbose"},
		{"prune unknown filter", "POST", "/networks/prune?filters=" + `%7B%22driver%22%3A%5B%22bridge%22%5D%7D`, ``, nil, 400, "invalid filter 'driver'"},
		{"prune bad until", "POST", "/networks/prune?filters=" + `%7B%22until%22%3A%5B%22soon%22%5D%7D`, ``, nil, 400, "invalid timestamp"},
		{"container list bad filters", "GET", "/containers/json?filters=%5B", ``, nil, 400, "invalid filters"},
		{"images", "POST", "/v1.51/images/create?fromImage=busybox", ``, nil, 501, "patchbay does not provide images"},
		{"image inspect", "GET", "/v1.51/images/busybox/json", ``, nil, 404, "No such image: busybox"},
		{"docker run", "POST", "/v1.51/containers/create?name=x", `{"Image": "busybox"}`, json, 501, "patchbay does not provide containers"},
		{"container pause", "POST", "/containers/abc/pause", ``, nil, 501, "not supported"},
		{"build", "POST", "/build", `x`, nil, 501, "image builds"},
		{"swarm", "GET", "/swarm", ``, nil, 503, "This node is not a swarm manager"},
		{"swarm leave", "POST", "/swarm/leave?force=1", ``, nil, 503, "This node is not part of a swarm"},
		{"swarm services", "GET", "/services", ``, nil, 503, "not a swarm manager"},
		{"swarm init", "POST", "/swarm/init", `{}`, nil, 501, "swarm"},
		{"events", "GET", "/events", ``, nil, 501, "events"},
		{"unknown path", "GET", "/nonsense", ``, nil, 404, "page not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := serve(t, tt.method, tt.path, tt.body, tt.header...)
			var e types.ErrorResponse
			if err := jsonDecode(w.Body.Bytes(), &e); err != nil || e.Message == "" {
				t.Fatalf("%s %s: status %d, body not Docker's error shape: %q", tt.method, tt.path, w.Code, w.Body)
			}
			if w.Code != tt.status || !strings.Contains(e.Message, tt.want) {
				t.Errorf("%s %s: %d %q, want %d and %q", tt.method, tt.path, w.Code, e.Message, tt.status, tt.want)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("content type %q", ct)
			}
		})
	}
}

func jsonDecode(b []byte, v any) error { return json.Unmarshal(b, v) }

func TestCompareVersions(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{{"1.41", "1.41", 0}, {"1.9", "1.41", -1}, {"1.100", "1.51", 1}, {"2.0", "1.99", 1}, {"1.4", "1.40", -1}} {
		if got := compareVersions(tt.a, tt.b); got != tt.want {
			t.Errorf("compare(%s, %s) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestCheckPath(t *testing.T) {
	for p, ok := range map[string]bool{
		"/networks": true, "/networks/": true, "/networks/abc/connect": true, "/_ping": true,
		"/networks/..": false, "/networks/../x": false, "/./x": false, "/a//b": false, "x": false,
	} {
		if err := checkPath(p); (err == nil) != ok {
			t.Errorf("checkPath(%q) = %v", p, err)
		}
	}
}
