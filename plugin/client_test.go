package plugin

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/plugin/wire"
)

// serveUnix serves h on a unix socket at path until the test ends.
func serveUnix(t *testing.T, path string, h http.Handler) *http.Server {
	t.Helper()
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

// fake answers each method with a fixed status and body, and records
// the Accept header it got.
type fake struct {
	replies map[string]reply
	accept  chan string
}

type reply struct {
	status int
	body   string
	delay  chan struct{} // closed to let a slow reply go
}

func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	select {
	case f.accept <- r.Header.Get("Accept"):
	default:
	}
	rep, ok := f.replies[strings.TrimPrefix(r.URL.Path, "/")]
	if !ok || r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	if rep.delay != nil {
		select {
		case <-rep.delay:
		case <-r.Context().Done():
			return
		}
	}
	w.WriteHeader(rep.status)
	_, _ = io.WriteString(w, rep.body)
}

func newFake(t *testing.T, replies map[string]reply) (*Client, *fake) {
	t.Helper()
	dir := t.TempDir()
	f := &fake{replies: replies, accept: make(chan string, 1)}
	sock := filepath.Join(dir, "p.sock")
	serveUnix(t, sock, f)
	c, err := NewClient(Spec{Name: "p", Addr: "unix://" + sock})
	if err != nil {
		t.Fatal(err)
	}
	return c, f
}

// Every error shape real plugins answer with becomes an error naming the
// plugin, the method and the plugin's message.
func TestErrorShapes(t *testing.T) {
	big := strings.Repeat("x", MaxReply+10)
	c, f := newFake(t, map[string]reply{
		"A.Err200":    {200, `{"Err":"boom err200"}`, nil},
		"A.Error200":  {200, `{"Error":"boom error200"}`, nil},
		"A.Err500":    {500, `{"Err":"boom err500"}`, nil},
		"A.Error500":  {500, `{"Error":"boom error500"}`, nil},
		"A.Text500":   {500, "boom text500\n", nil},
		"A.Malformed": {200, `{"Scope":`, nil},
		"A.Big":       {200, `"` + big + `"`, nil},
	})
	for _, tt := range []struct{ method, want string }{
		{"A.Err200", "boom err200"}, {"A.Error200", "boom error200"}, {"A.Err500", "boom err500"},
		{"A.Error500", "boom error500"}, {"A.Text500", "boom text500"}, {"A.Malformed", "malformed reply"},
		{"A.Big", "reply larger than"}, {"A.Missing", "404 page not found"},
	} {
		err := c.Call(context.Background(), tt.method, map[string]string{"x": "y"}, &struct{}{})
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "plugin p: "+tt.method) {
			t.Errorf("%s: %v; want an error naming plugin p, the method and %q", tt.method, err, tt.want)
		}
	}
	if got := <-f.accept; got != wire.MediaType {
		t.Errorf("Accept %q, want %q", got, wire.MediaType)
	}
	if err := c.Call(context.Background(), "A.Missing", nil, nil); !errors.Is(err, ErrNotImplemented) {
		t.Errorf("404: %v, want ErrNotImplemented", err)
	}
}

// A null, empty or JSON body without error fields is a success.
func TestNullAndEmptyReplies(t *testing.T) {
	c, _ := newFake(t, map[string]reply{
		"A.Null":  {200, "null", nil},
		"A.Empty": {200, "", nil},
		"A.Caps":  {200, `{"Scope":"local"}`, nil},
	})
	for _, m := range []string{"A.Null", "A.Empty"} {
		var r wire.CapabilitiesResponse
		if err := c.Call(context.Background(), m, nil, &r); err != nil {
			t.Errorf("%s: %v", m, err)
		}
	}
	var r wire.CapabilitiesResponse
	if err := c.Call(context.Background(), "A.Caps", nil, &r); err != nil || r.Scope != "local" {
		t.Errorf("A.Caps: %+v, %v", r, err)
	}
}

// A reply slower than the call's deadline fails with the deadline's
// error, of kind unavailable.
func TestDeadline(t *testing.T) {
	hold := make(chan struct{})
	defer close(hold)
	c, _ := newFake(t, map[string]reply{"A.Slow": {200, "{}", hold}})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := c.Call(ctx, "A.Slow", nil, nil)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, cnm.ErrUnavailable) || !strings.Contains(err.Error(), "plugin p: A.Slow") {
		t.Fatalf("slow call: %v", err)
	}
}

// A plugin that is not listening yet is retried until it is.
func TestRetryConnect(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "late.sock")
	c, err := NewClient(Spec{Name: "late", Addr: "unix://" + sock})
	if err != nil {
		t.Fatal(err)
	}
	c.retryFor = time.Minute
	f := &fake{replies: map[string]reply{"A.X": {200, `{}`, nil}}, accept: make(chan string, 1)}
	// The plugin comes up once the client has failed to connect once.
	first := make(chan struct{})
	go func() {
		<-first
		serveUnix(t, sock, f)
	}()
	c.onRetry = func() {
		select {
		case <-first:
		default:
			close(first)
		}
	}
	if err := c.Call(context.Background(), "A.X", nil, nil); err != nil {
		t.Fatalf("call a plugin that comes up late: %v", err)
	}
	// Gone for good: the call fails, of kind unavailable, within its
	// retry budget.
	c2, _ := NewClient(Spec{Name: "gone", Addr: "unix://" + filepath.Join(dir, "gone.sock")})
	c2.retryFor = 0
	if err := c2.Call(context.Background(), "A.X", nil, nil); !errors.Is(err, cnm.ErrUnavailable) || !strings.Contains(err.Error(), "plugin gone") {
		t.Fatalf("call a plugin that is not there: %v", err)
	}
}

// Discovery finds NAME.sock, NAME/NAME.sock, NAME.spec and NAME.json, in
// Docker's order, and lists them.
func TestDiscovery(t *testing.T) {
	run, etc := t.TempDir(), t.TempDir()
	serveUnix(t, filepath.Join(run, "s1.sock"), http.NotFoundHandler())
	if err := os.Mkdir(filepath.Join(run, "s2"), 0o755); err != nil {
		t.Fatal(err)
	}
	serveUnix(t, filepath.Join(run, "s2", "s2.sock"), http.NotFoundHandler())
	files := map[string]string{
		"sp.spec": "tcp://127.0.0.1:9999\n",
		"js.json": `{"Name":"js","Addr":"https://127.0.0.1:9998","TLSConfig":{"CertFile":"c","KeyFile":"k"}}`,
		// A socket wins over a spec file of the same name.
		"s1.spec":  "tcp://127.0.0.1:1\n",
		"bad.spec": "no-scheme\n",
	}
	for n, b := range files {
		if err := os.WriteFile(filepath.Join(etc, n), []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	d := Discovery{Dirs: []string{run, etc}}
	for name, want := range map[string]string{
		"s1": "unix://" + filepath.Join(run, "s1.sock"), "s2": "unix://" + filepath.Join(run, "s2", "s2.sock"),
		"sp": "tcp://127.0.0.1:9999", "js": "https://127.0.0.1:9998",
	} {
		s, err := d.Locate(name)
		if err != nil || s.Addr != want {
			t.Errorf("Locate(%s) = %+v, %v; want %s", name, s, err, want)
		}
	}
	if s, _ := d.Locate("js"); s.TLSConfig == nil || !s.TLSConfig.InsecureSkipVerify {
		t.Errorf("a .json spec without CAFile must skip verification, as Docker: %+v", s.TLSConfig)
	}
	if _, err := d.Locate("bad"); !errors.Is(err, cnm.ErrInvalid) {
		t.Errorf("Locate(bad): %v, want invalid", err)
	}
	if _, err := d.Locate("none"); !errors.Is(err, cnm.ErrNotFound) {
		t.Errorf("Locate(none): %v, want not found", err)
	}
	if _, err := d.Locate("../x"); err == nil {
		t.Error("Locate(../x) succeeded")
	}
	if got := strings.Join(d.Names(), ","); got != "bad,js,s1,s2,sp" {
		t.Errorf("Names = %s", got)
	}
}

// A plugin reached over TCP with TLS, its .json spec naming the CA and a
// client certificate, is verified and called.
func TestTLSFromJSONSpec(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) == 0 {
			http.Error(w, `{"Err":"no client certificate"}`, 500)
			return
		}
		_ = json.NewEncoder(w).Encode(wire.ActivateResponse{Implements: []string{wire.NetworkDriver}})
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert}
	srv.StartTLS()
	defer srv.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	writePEM(t, ca, "CERTIFICATE", srv.Certificate().Raw)
	// The server's own key pair doubles as the client certificate.
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writePEM(t, cert, "CERTIFICATE", srv.TLS.Certificates[0].Certificate[0])
	kb, err := x509.MarshalPKCS8PrivateKey(srv.TLS.Certificates[0].PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, key, "PRIVATE KEY", kb)
	spec := Spec{Name: "tlsp", Addr: "tcp://" + srv.Listener.Addr().String(), TLSConfig: &TLSConfig{CAFile: ca, CertFile: cert, KeyFile: key}}
	b, _ := json.Marshal(spec)
	if err := os.WriteFile(filepath.Join(dir, "tlsp.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	m := NewManager([]string{dir})
	p, err := m.Get(context.Background(), "tlsp", wire.NetworkDriver)
	if err != nil {
		t.Fatalf("activate over TLS: %v", err)
	}
	if p.Client.Spec().TLSConfig.InsecureSkipVerify {
		t.Error("a .json spec with a CAFile must verify")
	}
	if _, err := m.Get(context.Background(), "tlsp", wire.IpamDriver); !errors.Is(err, cnm.ErrNotFound) {
		t.Errorf("Get of an interface it does not implement: %v", err)
	}
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
