package etcdtest

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"net/url"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// startTimeout bounds a server's start; reaching it fails the test.
const startTimeout = 60 * time.Second

// Options configure a test server.
type Options struct {
	// ClientAddr is where clients reach the server, host:port. Default:
	// a free port on 127.0.0.1. Required with Netns.
	ClientAddr string
	// Netns, when set, is the network namespace (a file path) the server
	// runs in, as a process of its own; empty: in the test process.
	Netns string
	// TLS, when set, makes the server serve clients over TLS with
	// TLS.ServerCert and require a client certificate signed by TLS.CA
	// (in the test process only; Server.Client does not speak it).
	TLS *Certs
}

// Server is a running (or stopped) single-member etcd.
type Server struct {
	t    testing.TB
	opts Options
	dir  string
	peer string

	mu   sync.Mutex
	emb  *embed.Etcd // in the test process
	cmd  *exec.Cmd   // in a namespace
	bin  string
	wait chan struct{} // closed when cmd has been waited for
	log  *bytes.Buffer // cmd's stderr
}

// Start starts a server on a fresh data directory and stops it when the
// test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s := &Server{t: t, opts: opts, dir: filepath.Join(t.TempDir(), "etcd")}
	if opts.Netns != "" {
		if opts.TLS != nil {
			t.Fatal("etcdtest: TLS is for a server in the test process")
		}
		if opts.ClientAddr == "" {
			t.Fatal("etcdtest: a server in a namespace needs Options.ClientAddr")
		}
		peer, err := PeerAddr(opts.ClientAddr)
		if err != nil {
			t.Fatalf("etcdtest: client address %q: %v", opts.ClientAddr, err)
		}
		s.peer = peer
		s.bin = build(t)
	} else {
		if s.opts.ClientAddr == "" {
			s.opts.ClientAddr = freePort(t)
		}
		s.peer = freePort(t)
	}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() && s.log != nil {
			t.Logf("etcd log:\n%s", s.log)
		}
	})
	s.Start()
	return s
}

// Endpoint is the client address, host:port.
func (s *Server) Endpoint() string { return s.opts.ClientAddr }

// URL is the --cluster-store value naming the server.
func (s *Server) URL() string { return "etcd://" + s.opts.ClientAddr }

// Start starts a stopped server again on its data directory and
// addresses, and waits until it serves. Starting a running server does
// nothing.
func (s *Server) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.emb != nil || s.cmd != nil {
		return
	}
	if s.opts.Netns != "" {
		s.startProcessLocked()
		return
	}
	cfg := Config("patchbay-test", s.dir, s.opts.ClientAddr, s.peer)
	if c := s.opts.TLS; c != nil {
		for _, urls := range [][]url.URL{cfg.ListenClientUrls, cfg.AdvertiseClientUrls} {
			urls[0].Scheme = "https"
		}
		cfg.ClientTLSInfo = transport.TLSInfo{CertFile: c.ServerCert, KeyFile: c.ServerKey, TrustedCAFile: c.CA, ClientCertAuth: true}
	}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		s.t.Fatalf("etcdtest: start etcd on %s: %v", s.opts.ClientAddr, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		s.t.Fatalf("etcdtest: etcd on %s failed: %v", s.opts.ClientAddr, err)
	case <-time.After(startTimeout):
		e.Close()
		s.t.Fatalf("etcdtest: etcd on %s not ready within %v", s.opts.ClientAddr, startTimeout)
	}
	s.emb = e
}

// startProcessLocked runs the etcdmain binary under nsenter and waits for
// its "ready".
func (s *Server) startProcessLocked() {
	s.t.Helper()
	cmd := exec.Command("nsenter", "--net="+s.opts.Netns, "--", s.bin,
		"-data-dir", s.dir, "-client", s.opts.ClientAddr, "-peer", s.peer)
	s.log = &bytes.Buffer{}
	cmd.Stderr = &lockedWriter{w: s.log}
	out, err := cmd.StdoutPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("etcdtest: start etcd in %s: %v", s.opts.Netns, err)
	}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		ok := false
		for sc.Scan() {
			if sc.Text() == "ready" && !ok {
				ok = true
				ready <- true
			}
		}
		if !ok {
			ready <- false
		}
	}()
	wait := make(chan struct{})
	s.cmd, s.wait = cmd, wait
	select {
	case ok := <-ready:
		if ok {
			go func() { _ = cmd.Wait(); close(wait) }()
			return
		}
	case <-time.After(startTimeout):
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	s.cmd = nil
	s.t.Fatalf("etcdtest: etcd in %s on %s did not become ready:\n%s", s.opts.Netns, s.opts.ClientAddr, s.log)
}

// Stop stops the server gracefully and waits for it; its data stays for
// Start. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.emb != nil {
		s.emb.Close()
		s.emb = nil
	}
	if s.cmd != nil {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.wait:
		case <-time.After(30 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.wait
		}
		s.cmd = nil
	}
}

// Client returns a client of the server for the test's own use (to
// inspect keys, compact), closed when the test ends. It works only for
// a server in the test process's namespace.
func (s *Server) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{s.opts.ClientAddr}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatalf("etcdtest: client: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Compact compacts the server's history up to rev, so watches from
// before it end with a compaction error.
func (s *Server) Compact(t testing.TB, rev int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.Client(t).Compact(ctx, rev, clientv3.WithCompactPhysical()); err != nil {
		t.Fatalf("etcdtest: compact to %d: %v", rev, err)
	}
}

// build builds etcdmain into the test's temporary directory (the Go
// build cache makes every build after the first a link).
func build(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "etcdmain")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/patchbay/patchbay/internal/etcdtest/etcdmain").CombinedOutput()
	if err != nil {
		t.Fatalf("etcdtest: build etcdmain: %v\n%s", err, out)
	}
	return bin
}

// freePort returns a loopback address with a port free at the time of
// the call.
func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("etcdtest: find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

// lockedWriter serialises writes to a buffer read by the test.
type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
