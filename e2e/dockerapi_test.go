package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rawAPI sends requests to the daemon's socket exactly as given: paths
// are not cleaned or escaped, bodies not checked.
type rawAPI struct {
	t    *testing.T
	sock string
}

func (a rawAPI) do(method, path, body string, header ...string) (int, http.Header, []byte) {
	a.t.Helper()
	conn, err := net.DialTimeout("unix", a.sock, 5*time.Second)
	if err != nil {
		a.t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	var req bytes.Buffer
	req.WriteString(method + " " + path + " HTTP/1.1\r\nHost: patchbay\r\nConnection: close\r\n")
	for i := 0; i+1 < len(header); i += 2 {
		req.WriteString(header[i] + ": " + header[i+1] + "\r\n")
	}
	if body != "" {
		req.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n")
	}
	req.WriteString("\r\n")
	req.WriteString(body)
	go func() { _, _ = conn.Write(req.Bytes()) }() // the server may answer before reading it all
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatalf("%s %s: read reply: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header, b
}

// TestDockerAPIBadInput sends malformed, oversized, misrouted and
// conflicting requests to the Docker routes of a real daemon: each gets a
// clean 4xx (or 501) in Docker's {"message"} shape, and nothing changes.
func TestDockerAPIBadInput(t *testing.T) {
	d := startDaemon(t)
	d.ok("network", "create", "--subnet", "10.0.1.0/24", "taken")
	d.ok("run", "-d", "--name", "busy", "--network", "taken", "--", "sleep", "300")
	d.ok("sandbox", "create", "--name", "quiet", "--network", "none")
	d.ok("sandbox", "create", "--name", "spare")
	before := d.snapshot()
	a := rawAPI{t: t, sock: d.sock}
	js := []string{"Content-Type", "application/json"}
	huge := `{"Name": "` + strings.Repeat("a", 4<<20) + `"}`

	cases := []struct {
		name, method, path, body string
		header                   []string
		status                   int
		want                     string
	}{
		{"malformed create", "POST", "/v1.51/networks/create", `{"Name": "n1", "IPAM": {`, js, 400, "invalid JSON"},
		{"unknown field", "POST", "/v1.51/networks/create", `{"Name": "n1", "Subnet": "10.0.2.0/24"}`, js, 400, `unknown field "Subnet"`},
		{"huge create", "POST", "/v1.51/networks/create", huge, js, 413, "larger than"},
		{"huge sandbox create", "POST", "/sandboxes/create", huge, js, 413, "larger than"},
		{"duplicate name", "POST", "/v1.51/networks/create", `{"Name": "taken"}`, js, 409, "already exists"},
		{"bad subnet", "POST", "/v1.51/networks/create", `{"Name": "n1", "IPAM": {"Config": [{"Subnet": "10.0.300.0/24"}]}}`, js, 400, "10.0.300.0/24"},
		{"overlapping subnet", "POST", "/v1.51/networks/create", `{"Name": "n1", "IPAM": {"Config": [{"Subnet": "10.0.1.0/25"}]}}`, js, 409, "overlaps"},
		{"bad name", "POST", "/v1.51/networks/create", `{"Name": "../etc"}`, js, 400, "invalid network name"},
		{"unknown driver", "POST", "/v1.51/networks/create", `{"Name": "n1", "Driver": "warp"}`, js, 404, "warp"},
		{"remove default", "DELETE", "/v1.51/networks/bridge", ``, nil, 403, "pre-defined"},
		{"remove in use", "DELETE", "/v1.51/networks/taken", ``, nil, 403, "active endpoints"},
		{"remove missing", "DELETE", "/v1.51/networks/nosuchnet", ``, nil, 404, "not found"},
		{"connect missing container", "POST", "/v1.51/networks/taken/connect", `{"Container": "nosuchbox"}`, js, 404, "nosuchbox"},
		{"connect missing network", "POST", "/v1.51/networks/nosuchnet/connect", `{"Container": "quiet"}`, js, 404, "nosuchnet"},
		{"connect twice", "POST", "/v1.51/networks/taken/connect", `{"Container": "busy"}`, js, 403, "already connected"},
		{"connect bad ip", "POST", "/v1.51/networks/taken/connect", `{"Container": "/spare", "EndpointConfig": {"IPAMConfig": {"IPv4Address": "10.0.1.x"}}}`, js, 400, "10.0.1.x"},
		{"connect malformed", "POST", "/v1.51/networks/taken/connect", `{"Container": `, js, 400, "invalid JSON"},
		{"connect driver opts", "POST", "/v1.51/networks/taken/connect", `{"Container": "spare", "EndpointConfig": {"DriverOpts": {"a": "b"}}}`, js, 400, "driver options"},
		{"disconnect not connected", "POST", "/v1.51/networks/bridge/disconnect", `{"Container": "quiet"}`, js, 404, "not connected"},
		{"disconnect trailing data", "POST", "/v1.51/networks/taken/disconnect", `{"Container": "busy"}x`, js, 400, "invalid JSON"},
		{"wrong method", "PUT", "/v1.51/networks/taken", ``, nil, 405, "not allowed"},
		{"wrong method create", "GET", "/v1.51/networks/taken/connect", ``, nil, 405, "POST"},
		{"traversal in network id", "GET", "/v1.51/networks/..%2F..%2F..%2Fetc%2Fpasswd", ``, nil, 400, "invalid path"},
		{"traversal in path", "DELETE", "/v1.51/networks/../../sandboxes/busy", ``, nil, 400, "invalid path"},
		{"traversal in container id", "GET", "/v1.51/containers/..%2fbusy/json", ``, nil, 400, "invalid path"},
		{"slash in id", "GET", "/v1.51/networks/taken%2Fx", ``, nil, 404, "taken/x"},
		{"missing container", "GET", "/v1.51/containers/nosuchbox/json", ``, nil, 404, "No such container: nosuchbox"},
		{"bad status filter", "GET", `/v1.51/containers/json?filters={"status":{"sleepy":true}}`, ``, nil, 400, "status=sleepy"},
		{"unsupported container filter", "GET", `/v1.51/containers/json?filters={"ancestor":{"busybox":true}}`, ``, nil, 400, "ancestor"},
		{"bad limit", "GET", `/v1.51/containers/json?limit=many`, ``, nil, 400, "limit"},
		{"bad prune filter", "POST", `/v1.51/networks/prune?filters={"name":{"taken":true}}`, ``, nil, 400, "invalid filter 'name'"},
		{"too new version", "GET", "/v1.99/networks", ``, nil, 400, "too new"},
		{"docker run", "POST", "/v1.51/containers/create", `{"Image": "busybox"}`, js, 501, "patchbay does not provide"},
		{"docker rm of a running one", "DELETE", "/v1.51/containers/busy", ``, nil, 409, "running"},
		{"images", "POST", "/v1.51/images/create?fromImage=busybox", ``, nil, 501, "patchbay does not provide images"},
		{"unknown route", "GET", "/v1.51/whatever", ``, nil, 404, "page not found"},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			a.t = t
			status, h, body := a.do(tt.method, tt.path, tt.body, tt.header...)
			var e struct {
				Message string `json:"message"`
			}
			if err := json.Unmarshal(body, &e); err != nil || e.Message == "" || h.Get("Content-Type") != "application/json" {
				t.Fatalf("status %d, not Docker's error shape: %q", status, body)
			}
			if status != tt.status || !strings.Contains(e.Message, tt.want) {
				t.Errorf("%d %q, want %d and %q", status, e.Message, tt.status, tt.want)
			}
		})
	}
	a.t = t
	if after := d.snapshot(); after != before {
		t.Errorf("bad requests changed the daemon's state:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	// The daemon still serves: a body cut short by the client does not
	// wedge it, and a good request right after works.
	conn, err := net.Dial("unix", d.sock)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = conn.Write([]byte("POST /networks/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"Name\""))
	conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := d.client().NetworkList(ctx, nil); err != nil {
		t.Errorf("daemon does not answer after a cut-off request: %v", err)
	}
	if status, h, body := a.do("HEAD", "/v1.41/_ping", ""); status != 200 || h.Get("Api-Version") != "1.51" || len(body) != 0 {
		t.Errorf("HEAD /_ping: %d %v %q", status, h, body)
	}
	// patchbay version reads the same GET /version the docker CLI does.
	if out := d.ok("version"); !strings.Contains(out, "1.51 (minimum version 1.24)") {
		t.Errorf("patchbay version:\n%s", out)
	}
}
