package overlay

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/driver"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Two hosts on an underlay whose MTU is 1400: the same network created on
// both from one allocation, a sandbox on each, each host told of the
// other's endpoint. Ping and a 1 MB TCP transfer cross the VXLAN with no
// MTU setting; the devices carry exactly the peer's entries and no
// flooding one; dropping the peer stops the traffic; stale entries are
// removed by the next SetPeers.
func TestTwoHosts(t *testing.T) {
	l := newLab(t, 2, 1400)
	h1, h2 := l.hosts[0], l.hosts[1]
	nw := l.network("ov1", "10.10.0.0/24,10.10.0.1")
	a := l.join(h1, nw, "a", "10.10.0.2/24")
	b := l.join(h2, nw, "b", "10.10.0.3/24")

	for _, c := range []*container{a, b} {
		link, err := c.sb.Handle.LinkByName("eth0")
		if err != nil {
			t.Fatal(err)
		}
		if mtu := link.Attrs().MTU; mtu != 1350 {
			t.Errorf("MTU in %s: %d, want 1350 (underlay 1400 less 50)", c.sb.ID, mtu)
		}
	}
	for _, h := range l.hosts {
		for _, name := range []string{BridgeName(nw), VXLANName(nw)} {
			link, err := h.h.Handle.LinkByName(name)
			if err != nil {
				t.Fatal(err)
			}
			if link.Attrs().MTU != 1350 {
				t.Errorf("MTU of %s on %s: %d, want 1350", name, h.name, link.Attrs().MTU)
			}
		}
		vx, _ := h.h.Handle.LinkByName(VXLANName(nw))
		v := vx.(*netlink.Vxlan)
		if v.Learning || !v.Proxy || v.L2miss || v.L3miss || v.Port != DefaultPort || v.VxlanId != int(mustVNI(t, nw)) || !v.SrcAddr.Equal(h.addr.AsSlice()) {
			t.Errorf("VXLAN device on %s: %+v, want VNI %s, port %d, local %s, learning off, proxy on, no misses", h.name, v, nw.Data["vni"], DefaultPort, h.addr)
		}
	}

	// Nothing crosses before the hosts know of each other's endpoints.
	expectPing(t, "a before SetPeers", a, b.addr(), false)

	setPeers(t, h1, nw, a.peer(), b.peer()) // its own endpoint is skipped
	setPeers(t, h2, nw, a.peer(), b.peer())
	setPeers(t, h2, nw, a.peer(), b.peer()) // again: nothing changes
	if got, want := fdb(t, h1, nw), []string{b.ep.MAC.String() + " " + h2.addr.String()}; !slices.Equal(got, want) {
		t.Errorf("forwarding entries on h1: %v, want %v", got, want)
	}
	if got, want := neighs(t, h2, nw), []string{a.addr().String() + " " + a.ep.MAC.String()}; !slices.Equal(got, want) {
		t.Errorf("neighbour entries on h2: %v, want %v", got, want)
	}

	expectPing(t, "a to b across hosts", a, b.addr(), true)
	expectPing(t, "b to a across hosts", b, a.addr(), true)
	expectPing(t, "a to its gateway on its own host", a, ip("10.10.0.1"), true)
	transfer(t, a, b, 1<<20)
	transfer(t, b, a, 1<<20)

	// Stale entries, as a crash leaves them, go with the first SetPeers
	// of a restarted driver (which compares with the kernel's tables),
	// and so does a flooding (all-zeros) entry.
	vx, _ := h1.h.Handle.LinkByName(VXLANName(nw))
	idx := vx.Attrs().Index
	stale := []netlink.Neigh{
		{LinkIndex: idx, Family: unix.AF_BRIDGE, Flags: netlink.NTF_SELF, State: netlink.NUD_PERMANENT, IP: ip("10.200.0.99").AsSlice(), HardwareAddr: mac("02:00:00:00:00:99")},
		{LinkIndex: idx, Family: unix.AF_BRIDGE, Flags: netlink.NTF_SELF, State: netlink.NUD_PERMANENT, IP: ip("10.200.0.98").AsSlice(), HardwareAddr: mac("00:00:00:00:00:00")},
		{LinkIndex: idx, Family: netlink.FAMILY_V4, State: netlink.NUD_PERMANENT, IP: ip("10.10.0.99").AsSlice(), HardwareAddr: mac("02:00:00:00:00:99")},
	}
	for _, n := range stale {
		if err := h1.h.Handle.NeighAppend(&n); err != nil {
			t.Fatalf("add stale entry %+v: %v", n, err)
		}
	}
	h1.d.peersMu.Lock()
	clear(h1.d.programmed) // the daemon restarted
	h1.d.peersMu.Unlock()
	setPeers(t, h1, nw, b.peer())
	if got := fdb(t, h1, nw); len(got) != 1 {
		t.Errorf("forwarding entries on h1 after SetPeers: %v, want only b's", got)
	}
	if got := neighs(t, h1, nw); len(got) != 1 {
		t.Errorf("neighbour entries on h1 after SetPeers: %v, want only b's", got)
	}

	// b leaves h1's view: a can no longer reach it.
	setPeers(t, h1, nw)
	if got := fdb(t, h1, nw); len(got) != 0 {
		t.Errorf("forwarding entries on h1 with no peers: %v", got)
	}
	if got := neighs(t, h1, nw); len(got) != 0 {
		t.Errorf("neighbour entries on h1 with no peers: %v", got)
	}
	expectPing(t, "a to b after b left h1's peers", a, b.addr(), false)
	setPeers(t, h1, nw, b.peer())
	expectPing(t, "a to b once b is back", a, b.addr(), true)

	// Sweep keeps what the records explain, and SetNodes changes nothing.
	known := driver.Known{Networks: map[string]bool{nw.ID: true}, Endpoints: map[string]bool{a.ep.ID: true}}
	if err := h1.d.Sweep(context.Background(), h1.h, known); err != nil {
		t.Fatal(err)
	}
	if err := h1.d.SetNodes(context.Background(), h1.h, []driver.Node{{Name: "h2", Addr: h2.addr}}); err != nil {
		t.Fatal(err)
	}
	expectPing(t, "a to b after sweep", a, b.addr(), true)
}

// Two overlays with different VNIs are separate layer-2 segments, even
// with the same subnet and with one host's forwarding entries pointing
// a MAC of the other network at the host that runs it.
func TestIsolation(t *testing.T) {
	l := newLab(t, 2, 1500)
	h1, h2 := l.hosts[0], l.hosts[1]
	nw1 := l.network("ov1", "10.10.0.0/24,10.10.0.1")
	nw2 := l.network("ov2", "")
	if nw1.Data["vni"] == nw2.Data["vni"] {
		t.Fatalf("two networks got the same VNI %s", nw1.Data["vni"])
	}
	a := l.join(h1, nw1, "a", "10.10.0.2/24")
	b := l.join(h2, nw1, "b", "10.10.0.3/24")
	c := l.join(h1, nw2, "c", "10.10.0.4/24")
	d := l.join(h2, nw2, "d", "10.10.0.5/24")
	setPeers(t, h1, nw1, b.peer())
	setPeers(t, h2, nw1, a.peer())
	// h1 sends frames for b on nw2's VNI: they reach h2's nw2, not b.
	setPeers(t, h1, nw2, d.peer(), b.peer())
	setPeers(t, h2, nw2, c.peer())

	expectPing(t, "a to b on ov1", a, b.addr(), true)
	expectPing(t, "c to d on ov2", c, d.addr(), true)
	expectPing(t, "c (ov2) to b (ov1)", c, b.addr(), false)
	expectPing(t, "a (ov1) to d (ov2)", a, d.addr(), false)
}

// IPv6 endpoints reach each other across hosts too: neighbour
// solicitations for a peer are answered by the VXLAN device from its
// neighbour table.
func TestTwoHostsIPv6(t *testing.T) {
	l := newLab(t, 2, 1500)
	h1, h2 := l.hosts[0], l.hosts[1]
	nw := l.network("ov6", "fd10::/64,fd10::1")
	a := l.join(h1, nw, "a", "fd10::2/64")
	b := l.join(h2, nw, "b", "fd10::3/64")
	setPeers(t, h1, nw, b.peer())
	setPeers(t, h2, nw, a.peer())
	if got, want := neighs(t, h1, nw), []string{"fd10::3 " + b.ep.MAC.String()}; !slices.Equal(got, want) {
		t.Errorf("neighbour entries on h1: %v, want %v", got, want)
	}
	expectPing(t, "a to b over IPv6", a, b.addr(), true)
	expectPing(t, "a to its gateway over IPv6", a, ip("fd10::1"), true)
	transfer(t, a, b, 1<<20)
}

// UpdatePeers applies arrivals and departures to what SetPeers
// programmed, leaving the tables SetPeers would make for the same set;
// before SetPeers it fails (the engine then calls SetPeers), and a peer
// that clashes is refused while the others are applied.
func TestUpdatePeers(t *testing.T) {
	l := newLab(t, 2, 1500)
	h1, h2 := l.hosts[0], l.hosts[1]
	nw := l.network("ov1", "10.10.0.0/24,10.10.0.1")
	a := l.join(h1, nw, "a", "10.10.0.2/24")
	b := l.join(h2, nw, "b", "10.10.0.3/24")
	c := l.join(h2, nw, "c", "10.10.0.4/24")
	ctx := context.Background()
	update := func(add, remove []driver.Peer) error {
		return h1.d.UpdatePeers(ctx, h1.h, nw, add, remove)
	}
	if err := update([]driver.Peer{b.peer()}, nil); err == nil {
		t.Fatal("UpdatePeers before any SetPeers: no error")
	}
	setPeers(t, h1, nw, a.peer(), b.peer())
	setPeers(t, h2, nw, a.peer(), b.peer(), c.peer())
	if err := update([]driver.Peer{c.peer(), a.peer()}, nil); err != nil { // a is local: skipped
		t.Fatal(err)
	}
	expectPing(t, "a to c, added by UpdatePeers", a, c.addr(), true)
	if err := update(nil, []driver.Peer{b.peer()}); err != nil {
		t.Fatal(err)
	}
	expectPing(t, "a to b, removed by UpdatePeers", a, b.addr(), false)
	wantFDB := []string{c.ep.MAC.String() + " " + h2.addr.String()}
	wantNeigh := []string{c.addr().String() + " " + c.ep.MAC.String()}
	if got := fdb(t, h1, nw); !slices.Equal(got, wantFDB) {
		t.Errorf("forwarding entries after updates: %v, want %v", got, wantFDB)
	}
	if got := neighs(t, h1, nw); !slices.Equal(got, wantNeigh) {
		t.Errorf("neighbour entries after updates: %v, want %v", got, wantNeigh)
	}

	// A peer claiming c's address at another MAC is refused; b, added
	// with it, is programmed.
	clash := driver.Peer{EndpointID: "clash", MAC: mac("02:00:00:00:00:77"), IPv4: c.ep.IPv4, Node: driver.Node{Name: "h2", Addr: h2.addr}}
	if err := update([]driver.Peer{clash, b.peer()}, nil); !errors.Is(err, cnm.ErrConflict) {
		t.Fatalf("a peer with another's address: %v, want a conflict", err)
	}
	expectPing(t, "a to b, added beside a refused peer", a, b.addr(), true)
	expectPing(t, "a to c, whose address the refused peer claimed", a, c.addr(), true)

	// The same set through SetPeers after a restart changes nothing.
	before := [2][]string{fdb(t, h1, nw), neighs(t, h1, nw)}
	h1.d.peersMu.Lock()
	clear(h1.d.programmed)
	h1.d.peersMu.Unlock()
	setPeers(t, h1, nw, b.peer(), c.peer())
	if after := [2][]string{fdb(t, h1, nw), neighs(t, h1, nw)}; !slices.Equal(after[0], before[0]) || !slices.Equal(after[1], before[1]) {
		t.Errorf("SetPeers of the same set: %v, after updates %v", after, before)
	}
}
