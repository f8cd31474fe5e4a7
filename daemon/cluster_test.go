package daemon

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/engine"
	"github.com/patchbay/patchbay/internal/etcdtest"
	"github.com/patchbay/patchbay/store/cluster"
)

func TestParseClusterStore(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"etcd://10.0.0.5:2379", []string{"10.0.0.5:2379"}},
		{"etcd://a:2379,b:2379/", []string{"a:2379", "b:2379"}},
		{"etcd://[fd00::1]:2379", []string{"[fd00::1]:2379"}},
		{in: "consul://10.0.0.5:8500"},
		{in: "10.0.0.5:2379"},
		{in: "etcd://10.0.0.5"},
		{in: "etcd://:2379"},
		{in: "etcd://a:0"},
		{in: "etcd://a:2379,"},
		{in: "etcd://a:2379/prefix"},
	}
	for _, tt := range tests {
		got, err := parseClusterStore(tt.in)
		if tt.want == nil {
			if !errors.Is(err, cnm.ErrInvalid) {
				t.Errorf("%q: %v, %v; want invalid", tt.in, got, err)
			}
			continue
		}
		if err != nil || strings.Join(got, " ") != strings.Join(tt.want, " ") {
			t.Errorf("%q: %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestClusterTLS(t *testing.T) {
	if cfg, err := clusterTLS(nil); cfg != nil || err != nil {
		t.Errorf("no options: %v, %v", cfg, err)
	}
	missing := filepath.Join(t.TempDir(), "missing.pem")
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, opts := range [][]string{
		{"kv.cacertfile"},
		{"kv.cacertfile="},
		{"kv.path=/x"},
		{"kv.cacertfile=" + missing},
		{"kv.cacertfile=" + notPEM},
		{"kv.certfile=" + missing},
		{"kv.certfile=" + missing, "kv.keyfile=" + missing},
	} {
		if _, err := clusterTLS(opts); !errors.Is(err, cnm.ErrInvalid) {
			t.Errorf("%q: %v, want invalid", opts, err)
		}
	}
}

func TestResolveAdvertise(t *testing.T) {
	// Loopback is on every host (and in every namespace). Docker's
	// IFACE:PORT and IP:PORT forms (the seed types eth0:2376) name the
	// same address.
	for _, in := range []string{"lo", "127.0.0.1", "lo:2376", "127.0.0.1:2376"} {
		if a, err := resolveAdvertise(in); err != nil || a != netip.MustParseAddr("127.0.0.1") {
			t.Errorf("%q: %v, %v; want 127.0.0.1", in, a, err)
		}
	}
	for _, in := range []string{"nosuchif0", "203.0.113.77", "0.0.0.0", "224.0.0.1", "nosuchif0:2376"} {
		if a, err := resolveAdvertise(in); !errors.Is(err, cnm.ErrInvalid) {
			t.Errorf("%q: %v, %v; want invalid", in, a, err)
		}
	}
}

func TestNodeName(t *testing.T) {
	host, _ := os.Hostname()
	if got, err := nodeName(""); err != nil || got != host {
		t.Errorf("default: %q, %v; want the hostname %q", got, err, host)
	}
	if got, err := nodeName("h1.example_2-x"); err != nil || got != "h1.example_2-x" {
		t.Errorf("good name: %q, %v", got, err)
	}
	for _, in := range []string{"a/b", "has space", strings.Repeat("x", 65)} {
		if _, err := nodeName(in); !errors.Is(err, cnm.ErrInvalid) {
			t.Errorf("%q: %v, want invalid", in, err)
		}
	}
}

// A bad cluster configuration is refused before anything is created; an
// unreachable store within the dial timeout, naming its URL.
func TestRunRefusesBadCluster(t *testing.T) {
	dir := t.TempDir()
	base := engine.Config{Root: filepath.Join(dir, "r"), ExecRoot: filepath.Join(dir, "e")}
	tests := []struct {
		cl   ClusterConfig
		kind error
	}{
		{ClusterConfig{Store: "consul://127.0.0.1:8500", Advertise: "lo"}, cnm.ErrInvalid},
		{ClusterConfig{Store: "etcd://127.0.0.1:1"}, cnm.ErrInvalid},
		{ClusterConfig{Store: "etcd://127.0.0.1:1", Advertise: "nosuchif0"}, cnm.ErrInvalid},
		{ClusterConfig{Store: "etcd://127.0.0.1:1", Advertise: "203.0.113.77"}, cnm.ErrInvalid},
		{ClusterConfig{Store: "etcd://127.0.0.1:1", Advertise: "lo", NodeName: "a/b"}, cnm.ErrInvalid},
		{ClusterConfig{Store: "etcd://127.0.0.1:1", Advertise: "lo", TTL: time.Millisecond}, cnm.ErrInvalid},
		{ClusterConfig{Store: "etcd://127.0.0.1:1", Advertise: "lo", StoreOpts: []string{"kv.bogus=1"}}, cnm.ErrInvalid},
		{ClusterConfig{Advertise: "lo"}, cnm.ErrInvalid},
		{ClusterConfig{NodeName: "h1"}, cnm.ErrInvalid},
		// Nothing listens on port 1 of loopback.
		{ClusterConfig{Store: "etcd://127.0.0.1:1", Advertise: "lo"}, cnm.ErrUnavailable},
	}
	for _, tt := range tests {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err := Run(ctx, Config{Engine: base, Cluster: tt.cl})
		cancel()
		if !errors.Is(err, tt.kind) {
			t.Errorf("%+v: err %v, want %v", tt.cl, err, tt.kind)
			continue
		}
		if tt.cl.Store != "" && tt.kind == cnm.ErrUnavailable && !strings.Contains(err.Error(), tt.cl.Store) {
			t.Errorf("%+v: error %q does not name the store", tt.cl, err)
		}
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*")); len(m) != 0 {
		t.Errorf("created %v", m)
	}
}

// --cluster-store-opt's kv.* files reach a TLS etcd that wants a client
// certificate; the engine gets the store and the node's settings.
func TestClusterOpenTLS(t *testing.T) {
	certs := etcdtest.WriteCerts(t, netip.MustParseAddr("127.0.0.1"))
	srv := etcdtest.Start(t, etcdtest.Options{TLS: &certs})
	cl := ClusterConfig{
		Store:     srv.URL(),
		StoreOpts: []string{"kv.cacertfile=" + certs.CA, "kv.certfile=" + certs.ClientCert, "kv.keyfile=" + certs.ClientKey},
		Advertise: "lo", NodeName: "h1",
	}
	var ecfg engine.Config
	closeStore, err := cl.open(t.Context(), &ecfg)
	if err != nil {
		t.Fatal(err)
	}
	defer closeStore()
	if ecfg.Cluster == nil || ecfg.NodeName != "h1" || ecfg.AdvertiseAddr != netip.MustParseAddr("127.0.0.1") || ecfg.NodeTTL != DefaultClusterTTL {
		t.Errorf("engine config: %+v", ecfg)
	}
	if _, err := ecfg.Cluster.Put(t.Context(), "/k", []byte("v"), cluster.PutOptions{}); err != nil {
		t.Errorf("put through the daemon's store: %v", err)
	}
	// Without the client certificate the store refuses us.
	cl.StoreOpts = cl.StoreOpts[:1]
	if _, err := cl.open(t.Context(), &engine.Config{}); !errors.Is(err, cnm.ErrUnavailable) || !strings.Contains(err.Error(), srv.URL()) {
		t.Errorf("without a client certificate: %v, want unavailable naming the store", err)
	}
}
