package daemon

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/driver"
	"github.com/patchbay/patchbay/drivers/overlay"
	"github.com/patchbay/patchbay/engine"
	"github.com/patchbay/patchbay/store/etcd"
)

// DefaultClusterTTL is the node lease TTL when ClusterConfig.TTL is zero.
const DefaultClusterTTL = 10 * time.Second

// clusterDialTimeout bounds the first contact with the cluster store, so
// an unreachable one fails the daemon's start instead of hanging it.
const clusterDialTimeout = 5 * time.Second

// ClusterConfig is how a daemon joins other hosts (the --cluster-*
// flags). With Store empty the host stands alone and the other fields
// must be empty too.
type ClusterConfig struct {
	// Store is the cluster store, etcd://HOST:PORT[,HOST:PORT…]
	// (--cluster-store).
	Store string
	// StoreOpts are k=v options of the store (--cluster-store-opt), as
	// Docker named them: kv.cacertfile, kv.certfile and kv.keyfile turn
	// on TLS with that CA and client certificate.
	StoreOpts []string
	// Advertise is the interface (its first IPv4 address) or IP address
	// other hosts reach this one at (--cluster-advertise). Required with
	// Store; it must be on this host.
	Advertise string
	// NodeName names this host in the cluster (--node-name); default the
	// hostname. The engine refuses a name another live host holds.
	NodeName string
	// TTL is the node lease's time to live (--cluster-ttl): a host that
	// stops refreshing it is gone for the others after TTL. Default
	// DefaultClusterTTL.
	TTL time.Duration
	// DataPathPort is the UDP port of overlay (VXLAN) traffic
	// (--data-path-port, Docker's name); default 4789. Every host of a
	// cluster must use the same.
	DataPathPort uint16
}

// drivers are the drivers a cluster store brings: overlay.
func (c ClusterConfig) drivers(ecfg engine.Config) []driver.Driver {
	if ecfg.Cluster == nil {
		return nil
	}
	d, err := overlay.New(overlay.Config{Cluster: ecfg.Cluster, Advertise: ecfg.AdvertiseAddr, Port: c.DataPathPort})
	if err != nil {
		// open checked the advertise address: this cannot happen.
		ecfg.Logger.Error("overlay driver", "err", err)
		return nil
	}
	return []driver.Driver{d}
}

// open checks the configuration, connects to the store and sets the
// engine's cluster fields. Nothing is changed on the host before it
// succeeds; the returned function closes the store.
func (c ClusterConfig) open(ctx context.Context, ecfg *engine.Config) (func(), error) {
	if c.Store == "" {
		if c.Advertise != "" || c.NodeName != "" || len(c.StoreOpts) > 0 {
			return nil, cnm.Invalid("--cluster-advertise, --cluster-store-opt and --node-name need --cluster-store")
		}
		return func() {}, nil
	}
	endpoints, err := parseClusterStore(c.Store)
	if err != nil {
		return nil, err
	}
	tlsCfg, err := clusterTLS(c.StoreOpts)
	if err != nil {
		return nil, err
	}
	if c.Advertise == "" {
		return nil, cnm.Invalid("--cluster-store needs --cluster-advertise (an interface or IP address of this host)")
	}
	addr, err := resolveAdvertise(c.Advertise)
	if err != nil {
		return nil, err
	}
	name, err := nodeName(c.NodeName)
	if err != nil {
		return nil, err
	}
	ttl := c.TTL
	switch {
	case ttl == 0:
		ttl = DefaultClusterTTL
	case ttl < time.Second:
		return nil, cnm.Invalid("--cluster-ttl %v: at least 1s", ttl)
	}
	st, err := etcd.Open(ctx, etcd.Config{Endpoints: endpoints, TLS: tlsCfg, DialTimeout: clusterDialTimeout})
	if err != nil {
		return nil, fmt.Errorf("cluster store %s: %w", c.Store, err)
	}
	ecfg.Cluster, ecfg.NodeName, ecfg.AdvertiseAddr, ecfg.NodeTTL = st, name, addr, ttl
	if ecfg.Logger != nil {
		ecfg.Logger.Info("cluster store", "url", c.Store, "node", name, "advertise", addr, "ttl", ttl)
	}
	return func() { _ = st.Close() }, nil
}

// parseClusterStore splits etcd://HOST:PORT[,HOST:PORT…] into endpoints.
func parseClusterStore(s string) ([]string, error) {
	rest, ok := strings.CutPrefix(s, "etcd://")
	if !ok {
		return nil, cnm.Invalid("--cluster-store %q: only etcd://HOST:PORT[,HOST:PORT…] is supported", s)
	}
	rest = strings.TrimSuffix(rest, "/")
	var eps []string
	for _, ep := range strings.Split(rest, ",") {
		host, port, err := net.SplitHostPort(ep)
		if err != nil || host == "" {
			return nil, cnm.Invalid("--cluster-store %q: %q is not HOST:PORT", s, ep)
		}
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
			return nil, cnm.Invalid("--cluster-store %q: bad port in %q", s, ep)
		}
		eps = append(eps, ep)
	}
	return eps, nil
}

// clusterTLS builds the store's TLS configuration from the kv.* options;
// nil when none is given.
func clusterTLS(opts []string) (*tls.Config, error) {
	files := map[string]string{}
	for _, o := range opts {
		k, v, ok := strings.Cut(o, "=")
		switch {
		case !ok || v == "":
			return nil, cnm.Invalid("--cluster-store-opt %q: want KEY=VALUE", o)
		case k != "kv.cacertfile" && k != "kv.certfile" && k != "kv.keyfile":
			return nil, cnm.Invalid("--cluster-store-opt %q: unknown option (kv.cacertfile, kv.certfile, kv.keyfile)", o)
		}
		files[k] = v
	}
	if len(files) == 0 {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca := files["kv.cacertfile"]; ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, cnm.Invalid("--cluster-store-opt kv.cacertfile: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, cnm.Invalid("--cluster-store-opt kv.cacertfile: no PEM certificate in %s", ca)
		}
	}
	cert, key := files["kv.certfile"], files["kv.keyfile"]
	switch {
	case (cert == "") != (key == ""):
		return nil, cnm.Invalid("--cluster-store-opt: kv.certfile and kv.keyfile go together")
	case cert != "":
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, cnm.Invalid("--cluster-store-opt kv.certfile/kv.keyfile: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// resolveAdvertise turns --cluster-advertise into an address of this
// host, in the daemon's network namespace: an IP address must be on one
// of its interfaces; an interface name gives its first IPv4 address.
func resolveAdvertise(s string) (netip.Addr, error) {
	// Docker took IFACE:PORT or IP:PORT (the port was its own API's);
	// patchbay needs the address only.
	if host, port, err := net.SplitHostPort(s); err == nil && host != "" {
		if _, err := strconv.ParseUint(port, 10, 16); err == nil {
			s = host
		}
	}
	if a, err := netip.ParseAddr(s); err == nil {
		a = a.Unmap()
		if a.IsUnspecified() || a.IsMulticast() {
			return netip.Addr{}, cnm.Invalid("--cluster-advertise %s: not a unicast address", s)
		}
		addrs, err := net.InterfaceAddrs()
		if err != nil {
			return netip.Addr{}, fmt.Errorf("--cluster-advertise %s: list addresses: %w", s, err)
		}
		for _, ia := range addrs {
			if p, ok := prefixOf(ia); ok && p.Addr() == a {
				return a, nil
			}
		}
		return netip.Addr{}, cnm.Invalid("--cluster-advertise %s: no interface of this host has this address", s)
	}
	ifc, err := net.InterfaceByName(s)
	if err != nil {
		return netip.Addr{}, cnm.Invalid("--cluster-advertise %s: neither an IP address nor an interface of this host", s)
	}
	addrs, err := ifc.Addrs()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("--cluster-advertise %s: list addresses: %w", s, err)
	}
	for _, ia := range addrs {
		if p, ok := prefixOf(ia); ok && p.Addr().Is4() {
			return p.Addr(), nil
		}
	}
	return netip.Addr{}, cnm.Invalid("--cluster-advertise %s: the interface has no IPv4 address", s)
}

func prefixOf(a net.Addr) (netip.Prefix, bool) {
	n, ok := a.(*net.IPNet)
	if !ok {
		return netip.Prefix{}, false
	}
	ip, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(ip.Unmap(), ones), true
}

// nodeName checks --node-name, defaulting to the hostname. A name is a
// key component in the store: letters, digits, '.', '-' and '_'.
func nodeName(s string) (string, error) {
	if s == "" {
		h, err := os.Hostname()
		if err != nil {
			return "", fmt.Errorf("node name: hostname: %w", err)
		}
		s = h
	}
	if len(s) > 64 {
		return "", cnm.Invalid("--node-name %q: longer than 64 characters", s)
	}
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_'
		if !ok {
			return "", cnm.Invalid("--node-name %q: only letters, digits, '.', '-' and '_'", s)
		}
	}
	return s, nil
}
