package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// fakeDaemon answers API routes with canned replies on a unix socket and
// records what the CLI sent, so commands run end to end without a daemon.
type fakeDaemon struct {
	t    *testing.T
	host string

	mu      sync.Mutex
	replies map[string]fakeReply // by "METHOD /path"
	bodies  map[string][]byte
	queries map[string][]url.Values
	n       int
}

type fakeReply struct {
	status int
	body   any
}

func newFakeDaemon(t *testing.T) *fakeDaemon {
	t.Helper()
	d := &fakeDaemon{t: t, replies: map[string]fakeReply{}, bodies: map[string][]byte{}, queries: map[string][]url.Values{}}
	path := filepath.Join(t.TempDir(), "d.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(d.serve)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(l)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	d.host = "unix://" + path
	return d
}

func (d *fakeDaemon) serve(w http.ResponseWriter, r *http.Request) {
	key := r.Method + " " + r.URL.Path
	b, _ := io.ReadAll(r.Body)
	d.mu.Lock()
	d.n++
	d.bodies[key] = b
	d.queries[key] = append(d.queries[key], r.URL.Query())
	rep, ok := d.replies[key]
	d.mu.Unlock()
	if !ok {
		rep = fakeReply{http.StatusNotFound, map[string]string{"message": "no such route " + key}}
	}
	if rep.body == nil {
		w.WriteHeader(rep.status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rep.status)
	_ = json.NewEncoder(w).Encode(rep.body)
}

// reply sets the answer to a route such as "GET /networks/n1".
func (d *fakeDaemon) reply(route string, status int, body any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.replies[route] = fakeReply{status, body}
}

// notFound makes a route answer 404 with msg.
func (d *fakeDaemon) notFound(route, msg string) {
	d.reply(route, http.StatusNotFound, map[string]string{"message": msg})
}

// body decodes the last request body sent to a route.
func (d *fakeDaemon) body(route string, v any) {
	d.t.Helper()
	d.mu.Lock()
	b, ok := d.bodies[route]
	d.mu.Unlock()
	if !ok {
		d.t.Fatalf("%s was not called", route)
	}
	if err := json.Unmarshal(b, v); err != nil {
		d.t.Fatalf("decode body of %s: %v", route, err)
	}
}

// query returns the queries sent to a route, in order.
func (d *fakeDaemon) query(route string) []url.Values {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.queries[route]
}

func (d *fakeDaemon) calls() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.n
}

// run runs the CLI against the daemon as Main does and returns its
// output and exit code.
func (d *fakeDaemon) run(stdin string, args ...string) (stdout, stderr string, code int) {
	var out, errOut bytes.Buffer
	e := &env{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errOut}
	root := newRoot(e)
	root.SetArgs(append([]string{"-H", d.host}, args...))
	err := root.ExecuteContext(context.Background())
	var ee exitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.code
	default:
		fmt.Fprintln(&errOut, "Error:", err)
		code = 1
	}
	return out.String(), errOut.String(), code
}
