package macvlan

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchbay/patchbay/driver"
	"github.com/patchbay/patchbay/internal/netnstest"
	"github.com/patchbay/patchbay/internal/nl"
	"github.com/patchbay/patchbay/ipam"
	"github.com/patchbay/patchbay/sandbox"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// lab is a throwaway test host joined to a throwaway "LAN" namespace by a
// veth pair: eth1 in the host (the macvlan parent, 10.77.0.2/24) and lan0
// on the LAN side, a port of the LAN's switch "sw0" (a bridge carrying
// the LAN host's address 10.77.0.1/24). Everything goes on cleanup.
type lab struct {
	t      *testing.T
	dir    string
	host   driver.Host
	hostNS string
	lan    string
	lanNS  netns.NsHandle
	lanH   *netlink.Handle
	d      *Driver
}

var (
	lanAddr  = netip.MustParsePrefix("10.77.0.1/24")
	hostAddr = netip.MustParsePrefix("10.77.0.2/24")
	lanNet   = netip.MustParsePrefix("10.77.0.0/24")
)

func newLab(t *testing.T) *lab {
	t.Helper()
	netnstest.RequireRoot(t)
	l := &lab{t: t, dir: t.TempDir(), d: New()}
	l.hostNS = l.newNS("host")
	l.lan = l.newNS("lan")
	ns, h := netnstest.Open(t, l.hostNS)
	l.host = driver.Host{NS: ns, Handle: h, Tag: "pb:test0001:"}
	lanNS, lanH := netnstest.Open(t, l.lan)
	l.lanNS, l.lanH = lanNS, lanH
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth1", TxQLen: -1}, PeerName: "lan0", PeerNamespace: netlink.NsFd(lanNS)}
	if err := h.LinkAdd(veth); err != nil {
		t.Fatalf("create eth1: %v", err)
	}
	l.up(h, "eth1", hostAddr)
	sw := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "sw0", TxQLen: -1}}
	if err := lanH.LinkAdd(sw); err != nil {
		t.Fatalf("create LAN switch: %v", err)
	}
	port, err := lanH.LinkByName("lan0")
	if err != nil {
		t.Fatal(err)
	}
	if err := lanH.LinkSetMaster(port, sw); err != nil {
		t.Fatal(err)
	}
	l.up(lanH, "lan0", netip.Prefix{})
	l.up(lanH, "sw0", lanAddr)
	return l
}

func (l *lab) newNS(name string) string {
	l.t.Helper()
	p := filepath.Join(l.dir, name)
	if err := sandbox.CreateNetns(p); err != nil {
		l.t.Fatalf("create namespace %s: %v", name, err)
	}
	l.t.Cleanup(func() { _ = sandbox.RemoveNetns(p) })
	return p
}

func (l *lab) up(h *netlink.Handle, name string, p netip.Prefix) {
	l.t.Helper()
	link, err := h.LinkByName(name)
	if err != nil {
		l.t.Fatalf("find %s: %v", name, err)
	}
	if p.IsValid() {
		if err := h.AddrAdd(link, nl.Addr(p)); err != nil {
			l.t.Fatalf("address %s: %v", name, err)
		}
	}
	if err := h.LinkSetUp(link); err != nil {
		l.t.Fatalf("up %s: %v", name, err)
	}
}

// hairpin turns reflective relay on the LAN switch's port on or off: what
// a VEPA-capable switch does.
func (l *lab) hairpin(on bool) {
	l.t.Helper()
	port, err := l.lanH.LinkByName("lan0")
	if err != nil {
		l.t.Fatal(err)
	}
	if err := l.lanH.LinkSetHairpin(port, on); err != nil {
		l.t.Fatalf("hairpin: %v", err)
	}
}

// network creates a driver network; opts are key=value pairs; subnets
// are "prefix[,gateway]".
func (l *lab) network(name string, internal bool, subnet string, opts ...string) (driver.Network, error) {
	nw := driver.Network{ID: randomID(), Name: name, Internal: internal, Options: map[string]string{}}
	for _, kv := range opts {
		k, v, _ := strings.Cut(kv, "=")
		nw.Options[k] = v
	}
	if subnet != "" {
		nw.Subnets = []driver.Subnet{{Prefix: netip.MustParsePrefix(subnet)}}
	}
	_, err := l.d.CreateNetwork(context.Background(), l.host, nw)
	return nw, err
}

func (l *lab) mustNetwork(name string, internal bool, subnet string, opts ...string) driver.Network {
	l.t.Helper()
	nw, err := l.network(name, internal, subnet, opts...)
	if err != nil {
		l.t.Fatalf("create network %s: %v", name, err)
	}
	l.t.Cleanup(func() { _ = l.d.DeleteNetwork(context.Background(), l.host, nw) })
	return nw
}

// container is a sandbox namespace joined to a network.
type container struct {
	path string
	ep   driver.Endpoint
	sb   driver.Sandbox
}

func (l *lab) join(nw driver.Network, name, addr string) (*container, error) {
	c := &container{path: l.newNS(name)}
	ns, h := netnstest.Open(l.t, c.path)
	c.sb = driver.Sandbox{ID: name, NS: ns, Handle: h}
	c.ep = driver.Endpoint{
		ID: randomID(), IfName: "eth0",
		MAC: ipam.RandomMAC(), IPv4: netip.MustParsePrefix(addr),
	}
	_, err := l.d.Join(context.Background(), l.host, nw, c.ep, c.sb)
	return c, err
}

func (l *lab) mustJoin(nw driver.Network, name, addr string) *container {
	l.t.Helper()
	c, err := l.join(nw, name, addr)
	if err != nil {
		l.t.Fatalf("join %s: %v", name, err)
	}
	return c
}

// ping reports whether one ping from the namespace at path reaches dst.
func ping(path string, dst netip.Addr) bool {
	out, err := exec.Command("nsenter", "--net="+path, "--", "busybox", "ping", "-c", "1", "-W", "1", dst.String()).CombinedOutput()
	_ = out
	return err == nil
}

// expectPing checks reachability, with more tries for a success: the
// first packets may wait for ARP, and a passthru parent for its
// promiscuous switch, longer when the machine is busy with other tests.
func expectPing(t *testing.T, what, path string, dst netip.Addr, want bool) {
	t.Helper()
	got := ping(path, dst)
	for i := 0; !got && want && i < 4; i++ {
		got = ping(path, dst)
	}
	if got != want {
		verb := map[bool]string{true: "reaches", false: "does not reach"}
		t.Errorf("%s: %s %s, want it to be the other way", what, verb[got], dst)
	}
}

// neighMAC is the MAC the namespace's neighbour table holds for ip.
func neighMAC(t *testing.T, h *netlink.Handle, ip netip.Addr) string {
	t.Helper()
	ns, err := h.NeighList(0, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range ns {
		if a, ok := netip.AddrFromSlice(n.IP); ok && a.Unmap() == ip && n.HardwareAddr != nil {
			return n.HardwareAddr.String()
		}
	}
	return ""
}

func linkExists(h *netlink.Handle, name string) bool {
	_, err := h.LinkByName(name)
	return err == nil
}

func linkNames(t *testing.T, h *netlink.Handle) string {
	t.Helper()
	names := netnstest.LinkNames(t, h)
	return strings.Join(names, " ")
}

func randomID() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
