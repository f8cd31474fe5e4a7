package overlay

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/driver"
	"github.com/patchbay/patchbay/internal/netnstest"
	"github.com/patchbay/patchbay/internal/nl"
	"github.com/patchbay/patchbay/ipam"
	"github.com/patchbay/patchbay/sandbox"
	"github.com/patchbay/patchbay/store/cluster"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// lab is a throwaway cluster: "host" namespaces, each with an uplink eth0
// (10.200.0.N/24) that is a port of the switch ul0 of an "underlay"
// namespace of its own, every underlay link with the same MTU; an
// in-memory cluster store; and one overlay driver per host, its own
// client of the store, advertising the host's uplink address.
type lab struct {
	t     *testing.T
	dir   string
	mem   *cluster.Memory
	ul    *netlink.Handle
	hosts []*labHost
}

type labHost struct {
	name string
	addr netip.Addr
	h    driver.Host
	d    *Driver
}

func newLab(t *testing.T, hosts, mtu int) *lab {
	t.Helper()
	netnstest.RequireRoot(t)
	l := &lab{t: t, dir: t.TempDir(), mem: cluster.NewMemory(cluster.MemoryOptions{Now: time.Now})}
	_, l.ul = netnstest.Open(t, l.newNS("underlay"))
	sw := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "ul0", MTU: mtu, TxQLen: -1}}
	if err := l.ul.LinkAdd(sw); err != nil {
		t.Fatalf("create underlay switch: %v", err)
	}
	up(t, l.ul, "ul0", netip.Prefix{})
	for i := range hosts {
		name := fmt.Sprintf("h%d", i+1)
		ns, h := netnstest.Open(t, l.newNS(name))
		addr := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 200, 0, byte(i + 1)}), 24)
		port := "ul-" + name
		veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth0", MTU: mtu, TxQLen: -1}, PeerName: port, PeerMTU: uint32(mtu)}
		if err := h.LinkAdd(veth); err != nil {
			t.Fatalf("create uplink of %s: %v", name, err)
		}
		p, err := h.LinkByName(port)
		if err != nil {
			t.Fatal(err)
		}
		ulNS, err := netns.GetFromPath(filepath.Join(l.dir, "underlay"))
		if err != nil {
			t.Fatal(err)
		}
		err = h.LinkSetNsFd(p, int(ulNS))
		ulNS.Close()
		if err != nil {
			t.Fatalf("move %s to the underlay: %v", port, err)
		}
		up(t, h, "eth0", addr)
		up(t, h, "lo", netip.Prefix{})
		pl, err := l.ul.LinkByName(port)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.ul.LinkSetMaster(pl, sw); err != nil {
			t.Fatal(err)
		}
		up(t, l.ul, port, netip.Prefix{})
		d, err := New(Config{Cluster: l.mem.Client(), Advertise: addr.Addr()})
		if err != nil {
			t.Fatal(err)
		}
		l.hosts = append(l.hosts, &labHost{name: name, addr: addr.Addr(), d: d,
			h: driver.Host{NS: ns, Handle: h, Tag: "pb:" + name + ":"}})
	}
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

func up(t *testing.T, h *netlink.Handle, name string, p netip.Prefix) {
	t.Helper()
	link, err := h.LinkByName(name)
	if err != nil {
		t.Fatalf("find %s: %v", name, err)
	}
	if p.IsValid() {
		if err := h.AddrAdd(link, nl.Addr(p)); err != nil {
			t.Fatalf("address %s: %v", name, err)
		}
	}
	if err := h.LinkSetUp(link); err != nil {
		t.Fatalf("up %s: %v", name, err)
	}
}

func randomID() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// network allocates a network's VNI through the first host's driver (as
// the creating host does) and creates it on every host with the same ID
// and data. subnet is "prefix,gateway", or "" for none.
func (l *lab) network(name, subnet string) driver.Network {
	l.t.Helper()
	nw := driver.Network{ID: randomID(), Name: name}
	if subnet != "" {
		p, gw, _ := strings.Cut(subnet, ",")
		nw.Subnets = []driver.Subnet{{Prefix: netip.MustParsePrefix(p), Gateway: netip.MustParseAddr(gw)}}
		nw.IPv6 = nw.Subnets[0].Prefix.Addr().Is6()
	}
	ctx := context.Background()
	data, err := l.hosts[0].d.AllocateNetwork(ctx, nw)
	if err != nil {
		l.t.Fatalf("allocate network %s: %v", name, err)
	}
	nw.Data = data
	for _, h := range l.hosts {
		if _, err := h.d.CreateNetwork(ctx, h.h, nw); err != nil {
			l.t.Fatalf("create network %s on %s: %v", name, h.name, err)
		}
		l.t.Cleanup(func() { _ = h.d.DeleteNetwork(ctx, h.h, nw) })
	}
	return nw
}

// container is a sandbox namespace joined to an overlay network on a host.
type container struct {
	path string
	host *labHost
	ep   driver.Endpoint
	sb   driver.Sandbox
}

func (l *lab) join(h *labHost, nw driver.Network, name, addr string) *container {
	l.t.Helper()
	c := &container{path: l.newNS(name), host: h}
	ns, sh := netnstest.Open(l.t, c.path)
	c.sb = driver.Sandbox{ID: name, Key: c.path, NS: ns, Handle: sh}
	c.ep = driver.Endpoint{ID: randomID(), IfName: "eth0", MAC: ipam.RandomMAC()}
	if p := netip.MustParsePrefix(addr); p.Addr().Is4() {
		c.ep.IPv4 = p
	} else {
		c.ep.IPv6 = p
	}
	ctx := context.Background()
	res, err := h.d.CreateEndpoint(ctx, h.h, nw, c.ep)
	if err != nil {
		l.t.Fatalf("create endpoint %s: %v", name, err)
	}
	c.ep.HostIfName = res.HostIfName
	info, err := h.d.Join(ctx, h.h, nw, c.ep, c.sb)
	if err != nil {
		l.t.Fatalf("join %s: %v", name, err)
	}
	for _, gw := range []netip.Addr{info.Gateway4, info.Gateway6} {
		if gw.IsValid() {
			if err := nl.DefaultRoute(sh, c.ep.IfName, gw); err != nil {
				l.t.Fatal(err)
			}
		}
	}
	l.t.Cleanup(func() { _ = h.d.DeleteEndpoint(ctx, h.h, nw, c.ep) })
	return c
}

// peer is the container as a remote peer of the hosts that do not run it.
func (c *container) peer() driver.Peer {
	return driver.Peer{EndpointID: c.ep.ID, MAC: c.ep.MAC, IPv4: c.ep.IPv4, IPv6: c.ep.IPv6, Node: driver.Node{Name: c.host.name, Addr: c.host.addr}}
}

func (c *container) addr() netip.Addr {
	if c.ep.IPv4.IsValid() {
		return c.ep.IPv4.Addr()
	}
	return c.ep.IPv6.Addr()
}

func setPeers(t *testing.T, h *labHost, nw driver.Network, peers ...driver.Peer) {
	t.Helper()
	if err := h.d.SetPeers(context.Background(), h.h, nw, peers); err != nil {
		t.Fatalf("set peers of %s on %s: %v", nw.Name, h.name, err)
	}
}

// ping reports whether one ping from the namespace at path reaches dst.
func ping(path string, dst netip.Addr) bool {
	return exec.Command("nsenter", "--net="+path, "--", "busybox", "ping", "-c", "1", "-W", "1", dst.String()).Run() == nil
}

// expectPing checks reachability, trying a few times for a success: the
// first packet may wait for ARP on a machine busy with other tests.
func expectPing(t *testing.T, what string, from *container, dst netip.Addr, want bool) {
	t.Helper()
	got := ping(from.path, dst)
	for i := 0; !got && want && i < 4; i++ {
		got = ping(from.path, dst)
	}
	if got != want {
		verb := map[bool]string{true: "reaches", false: "does not reach"}
		t.Errorf("%s: %s %s, want it to be the other way", what, verb[got], dst)
	}
}

// transfer sends n random bytes over TCP from one container to the other
// (a listener opened inside dst's namespace, a connection from inside
// src's) and checks they all arrive intact.
func transfer(t *testing.T, src, dst *container, n int) {
	t.Helper()
	var ln net.Listener
	err := nl.InNetns(dst.sb.NS, func() error {
		var err error
		ln, err = net.Listen("tcp", netip.AddrPortFrom(dst.addr(), 5001).String())
		return err
	})
	if err != nil {
		t.Fatalf("listen in %s: %v", dst.sb.ID, err)
	}
	defer ln.Close()
	type result struct {
		sum [32]byte
		n   int64
		err error
	}
	got := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- result{err: err}
			return
		}
		defer c.Close()
		h := sha256.New()
		n, err := io.Copy(h, c)
		var r result
		copy(r.sum[:], h.Sum(nil))
		r.n, r.err = n, err
		got <- r
	}()
	payload := make([]byte, n)
	_, _ = rand.Read(payload)
	var conn net.Conn
	err = nl.InNetns(src.sb.NS, func() error {
		var err error
		conn, err = net.DialTimeout("tcp", netip.AddrPortFrom(dst.addr(), 5001).String(), 10*time.Second)
		return err
	})
	if err != nil {
		t.Fatalf("connect from %s to %s: %v", src.sb.ID, dst.sb.ID, err)
	}
	_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := io.Copy(conn, bytes.NewReader(payload)); err != nil {
		t.Fatalf("send %d bytes: %v", n, err)
	}
	_ = conn.Close()
	r := <-got
	if r.err != nil || r.n != int64(n) || r.sum != sha256.Sum256(payload) {
		t.Fatalf("received %d bytes (%v), want the %d sent intact", r.n, r.err, n)
	}
}

// fdb lists the VXLAN device's own forwarding entries as "MAC dst".
func fdb(t *testing.T, h *labHost, nw driver.Network) []string {
	t.Helper()
	vx, err := h.h.Handle.LinkByName(VXLANName(nw))
	if err != nil {
		t.Fatal(err)
	}
	ns, err := h.h.Handle.NeighList(vx.Attrs().Index, unix.AF_BRIDGE)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range ns {
		if n.LinkIndex == vx.Attrs().Index && n.Flags&netlink.NTF_SELF != 0 {
			out = append(out, n.HardwareAddr.String()+" "+n.IP.String())
		}
	}
	slices.Sort(out)
	return out
}

// neighs lists the VXLAN device's neighbour entries as "IP MAC".
func neighs(t *testing.T, h *labHost, nw driver.Network) []string {
	t.Helper()
	vx, err := h.h.Handle.LinkByName(VXLANName(nw))
	if err != nil {
		t.Fatal(err)
	}
	ns, err := h.h.Handle.NeighList(vx.Attrs().Index, netlink.FAMILY_ALL)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range ns {
		if n.LinkIndex == vx.Attrs().Index {
			out = append(out, n.IP.String()+" "+n.HardwareAddr.String())
		}
	}
	slices.Sort(out)
	return out
}

func mustVNI(t *testing.T, nw driver.Network) uint32 {
	t.Helper()
	vni, ok, err := networkVNI(nw)
	if err != nil || !ok {
		t.Fatalf("network %s has no VNI: %v", nw.Name, err)
	}
	return vni
}

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

func mac(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}
