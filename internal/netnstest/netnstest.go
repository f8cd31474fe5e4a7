// Package netnstest builds throwaway network namespaces for kernel tests:
// a "host" namespace to run the engine in, with an uplink to an
// "outside" namespace standing for the internet. Nothing is ever changed
// in the machine's own namespace, and everything is removed on cleanup,
// also when the test fails.
package netnstest

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/patchbay/patchbay/internal/nl"
	"github.com/patchbay/patchbay/sandbox"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"net/netip"
)

// RequireRoot skips a test that needs root, or fails it under CI, where
// every test must run.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("this test needs root, and CI must run every test")
	}
	t.Skip("this test needs root")
}

// Addresses of the uplink between the host and outside namespaces.
var (
	OutsideAddr = netip.MustParsePrefix("192.0.2.1/24")
	HostAddr    = netip.MustParsePrefix("192.0.2.2/24")
)

// Host is a throwaway host namespace with an uplink to an outside one.
type Host struct {
	// Path is the host namespace file; Outside the outside one.
	Path    string
	Outside string
	// Handle is a netlink handle in the host namespace.
	Handle *netlink.Handle
}

// NewHost creates the host and outside namespaces, linked by a veth pair
// ("uplink" in the host, "wan" outside) with a default route from the
// host to the outside.
func NewHost(t testing.TB) *Host {
	t.Helper()
	RequireRoot(t)
	dir := t.TempDir()
	h := &Host{Path: filepath.Join(dir, "host"), Outside: filepath.Join(dir, "outside")}
	for _, p := range []string{h.Path, h.Outside} {
		if err := sandbox.CreateNetns(p); err != nil {
			t.Fatalf("create namespace: %v", err)
		}
		t.Cleanup(func() { _ = sandbox.RemoveNetns(p) })
	}
	hostNS, hostH := Open(t, h.Path)
	outNS, outH := Open(t, h.Outside)
	h.Handle = hostH
	veth := &netlink.Veth{
		LinkAttrs: netlink.LinkAttrs{Name: "uplink", Flags: net.FlagUp, TxQLen: -1},
		PeerName:  "wan", PeerNamespace: netlink.NsFd(outNS),
	}
	if err := hostH.LinkAdd(veth); err != nil {
		t.Fatalf("create uplink: %v", err)
	}
	configure(t, hostH, "uplink", HostAddr)
	configure(t, outH, "wan", OutsideAddr)
	gw := &netlink.Route{Dst: nl.IPNet(netip.MustParsePrefix("0.0.0.0/0")), Gw: nl.IP(OutsideAddr.Addr())}
	if err := hostH.RouteAdd(gw); err != nil {
		t.Fatalf("add default route: %v", err)
	}
	_ = hostNS
	return h
}

func configure(t testing.TB, h *netlink.Handle, name string, p netip.Prefix) {
	t.Helper()
	l, err := h.LinkByName(name)
	if err != nil {
		t.Fatalf("find %s: %v", name, err)
	}
	if err := h.AddrAdd(l, nl.Addr(p)); err != nil {
		t.Fatalf("address %s: %v", name, err)
	}
	if err := h.LinkSetUp(l); err != nil {
		t.Fatalf("up %s: %v", name, err)
	}
}

// Open returns a namespace handle and a netlink handle in it, closed on
// cleanup.
func Open(t testing.TB, path string) (netns.NsHandle, *netlink.Handle) {
	t.Helper()
	ns, err := netns.GetFromPath(path)
	if err != nil {
		t.Fatalf("open namespace %s: %v", path, err)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		ns.Close()
		t.Fatalf("netlink in %s: %v", path, err)
	}
	t.Cleanup(func() { h.Close(); ns.Close() })
	return ns, h
}

// LinkNames lists the interface names of a namespace.
func LinkNames(t testing.TB, h *netlink.Handle) []string {
	t.Helper()
	links, err := h.LinkList()
	if err != nil {
		t.Fatalf("list links: %v", err)
	}
	var out []string
	for _, l := range links {
		out = append(out, l.Attrs().Name)
	}
	return out
}

// RandomName returns a short random name with a prefix.
func RandomName(prefix string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}
