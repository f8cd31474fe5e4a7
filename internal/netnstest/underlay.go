package netnstest

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/patchbay/patchbay/sandbox"
	"github.com/vishvananda/netlink"
)

// The underlay is a TEST-NET-2 /24, distinct from each host's outside
// link (192.0.2.0/24): host i (from 1) has UnderlayNet's address i, the
// underlay bridge the last one.
var (
	UnderlayNet    = netip.MustParsePrefix("198.51.100.0/24")
	UnderlayBridge = netip.MustParsePrefix("198.51.100.254/24")
)

// UnderlayLink is the name of each host's link to the underlay.
const UnderlayLink = "underlay"

// UnderlayOptions configure NewUnderlay.
type UnderlayOptions struct {
	// MTU of the underlay: the bridge and both ends of every host's
	// link. Default 1500.
	MTU int
}

// Underlay is a lab of several hosts on one network: a namespace of its
// own holds a Linux bridge ("br0", with UnderlayBridge's address, where
// a test can run a shared service such as etcd) and, for each host, a
// bridge port whose veth peer is the host's UnderlayLink. Every host is
// also a full Host: its own outside namespace behind its "uplink"
// (192.0.2.0/24, private to that host), and a default route there.
type Underlay struct {
	// Path is the underlay namespace's file; Handle a netlink handle in it.
	Path   string
	Handle *netlink.Handle
	// Addr is the bridge's address on the underlay.
	Addr netip.Addr
	// Hosts are the hosts, h1 to hN.
	Hosts []*UnderlayHost
}

// UnderlayHost is one host of an Underlay.
type UnderlayHost struct {
	*Host
	// Name is "h1", "h2"…
	Name string
	// Addr is the address of its UnderlayLink.
	Addr netip.Prefix
	// port is its link's bridge port in the underlay namespace.
	port string
	u    *Underlay
}

// NewUnderlay builds an underlay with n hosts (at most 253), removed on
// cleanup.
func NewUnderlay(t testing.TB, n int, opts UnderlayOptions) *Underlay {
	t.Helper()
	RequireRoot(t)
	if n < 1 || n > 253 {
		t.Fatalf("underlay: %d hosts, want 1 to 253", n)
	}
	if opts.MTU == 0 {
		opts.MTU = 1500
	}
	u := &Underlay{Path: filepath.Join(t.TempDir(), "underlay"), Addr: UnderlayBridge.Addr()}
	if err := sandbox.CreateNetns(u.Path); err != nil {
		t.Fatalf("create underlay namespace: %v", err)
	}
	t.Cleanup(func() { _ = sandbox.RemoveNetns(u.Path) })
	uns, uh := Open(t, u.Path)
	u.Handle = uh
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "br0", MTU: opts.MTU, TxQLen: -1}}
	if err := uh.LinkAdd(br); err != nil {
		t.Fatalf("create underlay bridge: %v", err)
	}
	configure(t, uh, "br0", UnderlayBridge)
	lo, err := uh.LinkByName("lo")
	if err == nil {
		err = uh.LinkSetUp(lo)
	}
	if err != nil {
		t.Fatalf("underlay loopback: %v", err)
	}
	base := UnderlayNet.Addr().As4()
	for i := 1; i <= n; i++ {
		h := &UnderlayHost{Host: NewHost(t), Name: fmt.Sprintf("h%d", i), port: fmt.Sprintf("p%d", i), u: u}
		a := base
		a[3] = byte(i)
		h.Addr = netip.PrefixFrom(netip.AddrFrom4(a), UnderlayNet.Bits())
		veth := &netlink.Veth{
			LinkAttrs: netlink.LinkAttrs{Name: UnderlayLink, MTU: opts.MTU, TxQLen: -1},
			PeerName:  h.port, PeerNamespace: netlink.NsFd(uns), PeerMTU: uint32(opts.MTU),
		}
		if err := h.Handle.LinkAdd(veth); err != nil {
			t.Fatalf("create %s's underlay link: %v", h.Name, err)
		}
		configure(t, h.Handle, UnderlayLink, h.Addr)
		p, err := uh.LinkByName(h.port)
		if err != nil {
			t.Fatalf("find bridge port %s: %v", h.port, err)
		}
		if err := uh.LinkSetMaster(p, br); err != nil {
			t.Fatalf("attach %s to the underlay bridge: %v", h.port, err)
		}
		if err := uh.LinkSetUp(p); err != nil {
			t.Fatalf("up %s: %v", h.port, err)
		}
		u.Hosts = append(u.Hosts, h)
	}
	// The bridge forwards through a port once the kernel has seen its
	// carrier, which it notes in batches (up to a second): wait, so the
	// first packet of a test is not lost.
	for _, h := range u.Hosts {
		waitOperUp(t, uh, h.port)
		waitOperUp(t, h.Handle, UnderlayLink)
	}
	waitOperUp(t, uh, "br0")
	return u
}

// waitOperUp waits until a link's operational state is up.
func waitOperUp(t testing.TB, h *netlink.Handle, name string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		l, err := h.LinkByName(name)
		if err != nil {
			t.Fatalf("find %s: %v", name, err)
		}
		if l.Attrs().OperState == netlink.OperUp {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is not up after 10s: %v", name, l.Attrs().OperState)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Cut takes the host off the underlay (its bridge port goes down; its
// own link keeps its address, and loses its carrier).
func (h *UnderlayHost) Cut(t testing.TB) {
	t.Helper()
	h.setPort(t, false)
}

// Restore puts a cut host back on the underlay.
func (h *UnderlayHost) Restore(t testing.TB) {
	t.Helper()
	h.setPort(t, true)
	waitOperUp(t, h.u.Handle, h.port)
	waitOperUp(t, h.Handle, UnderlayLink)
}

func (h *UnderlayHost) setPort(t testing.TB, up bool) {
	t.Helper()
	p, err := h.u.Handle.LinkByName(h.port)
	if err == nil {
		if up {
			err = h.u.Handle.LinkSetUp(p)
		} else {
			err = h.u.Handle.LinkSetDown(p)
		}
	}
	if err != nil {
		t.Fatalf("set %s's underlay port up=%v: %v", h.Name, up, err)
	}
}
