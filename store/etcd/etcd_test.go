package etcd_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/internal/etcdtest"
	"github.com/patchbay/patchbay/store/cluster"
	"github.com/patchbay/patchbay/store/cluster/clustertest"
	"github.com/patchbay/patchbay/store/etcd"
)

// backend is one test's view of a shared etcd: its keys live under a
// prefix of their own, so every test starts from an empty store.
type backend struct {
	srv    *etcdtest.Server
	prefix string
}

func (b *backend) Client(t *testing.T) cluster.Store {
	return open(t, b.srv, b.prefix)
}

// Advance waits: etcd's leases run on the real clock.
func (b *backend) Advance(t *testing.T, d time.Duration) { time.Sleep(d) }

func open(t testing.TB, srv *etcdtest.Server, prefix string) *etcd.Store {
	t.Helper()
	s, err := etcd.Open(t.Context(), etcd.Config{Endpoints: []string{srv.Endpoint()}, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	srv := etcdtest.Start(t, etcdtest.Options{})
	n := 0
	clustertest.Run(t, func(t *testing.T) clustertest.Backend {
		n++
		return &backend{srv: srv, prefix: fmt.Sprintf("/t%d/", n)}
	})
}

// An unreachable store fails Open within the dial timeout, naming it.
func TestOpenUnreachable(t *testing.T) {
	// A port nothing listens on: a server's, stopped.
	srv := etcdtest.Start(t, etcdtest.Options{})
	srv.Stop()
	_, err := etcd.Open(t.Context(), etcd.Config{Endpoints: []string{srv.Endpoint()}, DialTimeout: time.Second})
	if !errors.Is(err, cnm.ErrUnavailable) {
		t.Fatalf("open of a stopped store: %v, want unavailable", err)
	}
	t.Logf("error: %v", err)
	for _, eps := range [][]string{nil, {""}, {"http://127.0.0.1:2379"}} {
		if _, err := etcd.Open(t.Context(), etcd.Config{Endpoints: eps}); !errors.Is(err, cnm.ErrInvalid) {
			t.Errorf("open %q: %v, want invalid", eps, err)
		}
	}
}

// A watch from a compacted revision ends with cluster.ErrCompacted.
func TestWatchCompacted(t *testing.T) {
	srv := etcdtest.Start(t, etcdtest.Options{})
	s := open(t, srv, "/c/")
	ctx := t.Context()
	first, err := s.Put(ctx, "/k", []byte("1"), cluster.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var last int64
	for _, v := range []string{"2", "3"} {
		if last, err = s.Put(ctx, "/k", []byte(v), cluster.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// History before last is gone; the watch would start at first+1.
	srv.Compact(t, last)
	var got error
	for ev := range s.Watch(ctx, "/", first) {
		got = ev.Err
	}
	if !errors.Is(got, cluster.ErrCompacted) {
		t.Fatalf("watch from a compacted revision ended with %v, want ErrCompacted", got)
	}
}

// While etcd is stopped calls fail within their deadline as unavailable;
// a watch resumes when it returns, and the data is still there.
func TestStopAndRestart(t *testing.T) {
	srv := etcdtest.Start(t, etcdtest.Options{})
	s := open(t, srv, "/r/")
	ctx := t.Context()
	rev, err := s.Put(ctx, "/n/a", []byte("a"), cluster.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ch := s.Watch(ctx, "/n/", rev)
	srv.Stop()
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	_, err = s.Put(dctx, "/n/b", []byte("b"), cluster.PutOptions{})
	cancel()
	if !errors.Is(err, cnm.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("put with etcd stopped: %v, want unavailable (deadline exceeded)", err)
	}
	srv.Start()
	if kv, err := s.Get(ctx, "/n/a"); err != nil || string(kv.Value) != "a" {
		t.Fatalf("after restart: %+v, %v", kv, err)
	}
	r2, err := s.Put(ctx, "/n/c", []byte("c"), cluster.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ev := <-ch
	if ev.Err != nil || ev.Type != cluster.EventPut || ev.KV.Key != "/n/c" || ev.KV.ModRevision != r2 {
		t.Fatalf("watch after restart: %+v", ev)
	}
}

// Over TLS, a client with the CA and a client certificate works; one
// without its certificate, or without TLS, cannot reach the store.
func TestTLS(t *testing.T) {
	certs := etcdtest.WriteCerts(t, netip.MustParseAddr("127.0.0.1"))
	srv := etcdtest.Start(t, etcdtest.Options{TLS: &certs})
	pemCA, err := os.ReadFile(certs.CA)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pemCA)
	pair, err := tls.LoadX509KeyPair(certs.ClientCert, certs.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	s, err := etcd.Open(ctx, etcd.Config{Endpoints: []string{srv.Endpoint()}, TLS: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{pair}}})
	if err != nil {
		t.Fatalf("open over TLS: %v", err)
	}
	defer s.Close()
	if _, err := s.Put(ctx, "/tls", []byte("yes"), cluster.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	for name, cfg := range map[string]*tls.Config{"no client certificate": {RootCAs: roots}, "no TLS": nil} {
		_, err := etcd.Open(ctx, etcd.Config{Endpoints: []string{srv.Endpoint()}, TLS: cfg, DialTimeout: time.Second})
		if !errors.Is(err, cnm.ErrUnavailable) {
			t.Errorf("%s: %v, want unavailable", name, err)
		}
	}
}
