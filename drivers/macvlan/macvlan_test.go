package macvlan

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/driver"
)

var (
	ipA = netip.MustParsePrefix("10.77.0.10/24")
	ipB = netip.MustParsePrefix("10.77.0.11/24")
)

// TestMacvlanModes checks seed 002's four modes with real traffic: which of two
// containers on one parent, the LAN host and the host itself can exchange
// packets, and that the LAN sees each container under its own MAC.
func TestMacvlanModes(t *testing.T) {
	tests := []struct {
		mode    string
		hairpin bool // the LAN switch reflects frames back (VEPA)
		aToB    bool
	}{
		{ModeBridge, false, true},
		{ModePrivate, false, false},
		{ModePrivate, true, false}, // even a reflecting switch does not help
		{ModeVEPA, false, false},
		{ModeVEPA, true, true},
	}
	for _, tt := range tests {
		name := tt.mode
		if tt.hairpin {
			name += "+hairpin"
		}
		t.Run(name, func(t *testing.T) {
			l := newLab(t)
			l.hairpin(tt.hairpin)
			nw := l.mustNetwork("lan", false, "10.77.0.0/24", "parent=eth1", "macvlan_mode="+tt.mode)
			a := l.mustJoin(nw, "a", ipA.String())
			b := l.mustJoin(nw, "b", ipB.String())
			expectPing(t, "LAN → a", l.lan, ipA.Addr(), true)
			expectPing(t, "LAN → b", l.lan, ipB.Addr(), true)
			expectPing(t, "a → b", a.path, ipB.Addr(), tt.aToB)
			expectPing(t, "b → a", b.path, ipA.Addr(), tt.aToB)
			// The kernel passes nothing between a parent and its
			// macvlans, unless the switch reflects the host's frames.
			expectPing(t, "host → a", l.hostNS, ipA.Addr(), tt.hairpin)
			for _, c := range []*container{a, b} {
				if got := neighMAC(t, l.lanH, c.ep.IPv4.Addr()); got != c.ep.MAC.String() {
					t.Errorf("LAN neighbour entry for %s: %q, want the container's own MAC %s", c.ep.IPv4.Addr(), got, c.ep.MAC)
				}
			}
		})
	}
}

// TestMacvlanPassthru: one endpoint owns the parent, with the parent's MAC; a
// second is refused with a clear error, and once the first leaves a new
// one can join.
func TestMacvlanPassthru(t *testing.T) {
	l := newLab(t)
	nw := l.mustNetwork("pt", false, "10.77.0.0/24", "parent=eth1", "macvlan_mode=passthru")
	a := l.mustJoin(nw, "a", ipA.String())
	expectPing(t, "LAN → a", l.lan, ipA.Addr(), true)
	eth1, _ := l.host.Handle.LinkByName("eth1")
	if got := neighMAC(t, l.lanH, ipA.Addr()); got != eth1.Attrs().HardwareAddr.String() {
		t.Errorf("LAN neighbour entry for a: %q, want the parent's MAC %s", got, eth1.Attrs().HardwareAddr)
	}
	_, err := l.join(nw, "b", ipB.String())
	if !errors.Is(err, cnm.ErrConflict) {
		t.Fatalf("second passthru endpoint: %v, want a conflict", err)
	}
	t.Logf("second endpoint: %v", err)
	// Leave from a live sandbox: evict; a new endpoint may join before
	// the reaper's DeleteEndpoint runs.
	if err := l.d.Evict(context.Background(), l.host, nw, a.ep, a.sb); err != nil {
		t.Fatal(err)
	}
	c := l.mustJoin(nw, "c", ipB.String())
	expectPing(t, "LAN → c", l.lan, ipB.Addr(), true)
	if err := l.d.DeleteEndpoint(context.Background(), l.host, nw, a.ep); err != nil {
		t.Fatal(err)
	}
	if linkExists(a.sb.Handle, retiredName(a.ep)) || linkExists(a.sb.Handle, a.ep.IfName) {
		t.Fatal("evicted interface still in the sandbox after DeleteEndpoint")
	}
	// Without a join in between, DeleteEndpoint deletes it.
	if err := l.d.Evict(context.Background(), l.host, nw, c.ep, c.sb); err != nil {
		t.Fatal(err)
	}
	if linkExists(c.sb.Handle, c.ep.IfName) {
		t.Fatal("Evict left the interface's name taken")
	}
	c.ep.IfName = retiredName(c.ep)
	if !linkExists(c.sb.Handle, c.ep.IfName) {
		t.Fatal("Evict deleted the interface on the request path")
	}
	if err := l.d.DeleteEndpoint(context.Background(), l.host, nw, c.ep); err != nil {
		t.Fatal(err)
	}
	if linkExists(c.sb.Handle, c.ep.IfName) {
		t.Fatal("evicted interface still in the sandbox after DeleteEndpoint")
	}
}

// TestMacvlanNoParent: a network without a parent links its own endpoints and
// nothing else, on a parent patchbay makes and removes.
func TestMacvlanNoParent(t *testing.T) {
	for _, internal := range []bool{false, true} {
		l := newLab(t)
		nw, err := l.network("own", internal, "10.88.0.0/24")
		if err != nil {
			t.Fatal(err)
		}
		p := ParentName(nw, Options{})
		if !linkExists(l.host.Handle, p) {
			t.Fatalf("internal=%v: parent %s not created: %s", internal, p, linkNames(t, l.host.Handle))
		}
		a := l.mustJoin(nw, "a", "10.88.0.10/24")
		l.mustJoin(nw, "b", "10.88.0.11/24")
		expectPing(t, "a → b", a.path, netip.MustParseAddr("10.88.0.11"), true)
		// Restart: the driver is new, the network is re-asserted.
		l.d = New()
		if _, err := l.d.CreateNetwork(context.Background(), l.host, nw); err != nil {
			t.Fatalf("re-assert: %v", err)
		}
		if err := l.d.DeleteNetwork(context.Background(), l.host, nw); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{p, "pbn" + nw.ID[:12]} {
			if linkExists(l.host.Handle, name) {
				t.Errorf("internal=%v: %s left after delete", internal, name)
			}
		}
	}
}

// TestMacvlanHostAccess: without a shim the host cannot reach its containers;
// with host_access it can, through the shim, from its own LAN address or
// from the auxiliary address "host"; LAN hosts still see the parent's MAC
// for the host's address.
func TestMacvlanHostAccess(t *testing.T) {
	t.Run("host address", func(t *testing.T) {
		l := newLab(t)
		// The host is on 10.77.0.0/24: the containers get a slice.
		nw, err := l.network("lan2", false, "10.77.0.0/24", "parent=eth1", "host_access=true")
		if !errors.Is(err, cnm.ErrConflict) {
			t.Fatalf("host_access over the host's own route: %v, want a conflict", err)
		}
		t.Logf("whole subnet: %v", err)
		nw.Subnets[0].IPRange = netip.MustParsePrefix("10.77.0.8/29")
		if _, err := l.d.CreateNetwork(context.Background(), l.host, nw); err != nil {
			t.Fatal(err)
		}
		defer l.d.DeleteNetwork(context.Background(), l.host, nw)
		a := l.mustJoin(nw, "a", ipA.String())
		expectPing(t, "host → a", l.hostNS, ipA.Addr(), true)
		expectPing(t, "LAN → host", l.lan, hostAddr.Addr(), true)
		eth1, _ := l.host.Handle.LinkByName("eth1")
		if got := neighMAC(t, l.lanH, hostAddr.Addr()); got != eth1.Attrs().HardwareAddr.String() {
			t.Errorf("LAN neighbour entry for the host: %q, want eth1's MAC %s (the shim must not answer the LAN)", got, eth1.Attrs().HardwareAddr)
		}
		_ = a
		if err := l.d.DeleteNetwork(context.Background(), l.host, nw); err != nil {
			t.Fatal(err)
		}
		if linkExists(l.host.Handle, ShimName(nw)) {
			t.Error("shim left after delete")
		}
	})
	t.Run("aux address", func(t *testing.T) {
		l := newLab(t)
		nw := driver.Network{ID: randomID(), Name: "lan20", Options: map[string]string{"parent": "eth1", "host_access": "true"},
			Subnets: []driver.Subnet{{Prefix: netip.MustParsePrefix("10.99.0.0/24"), Aux: map[string]netip.Addr{"host": netip.MustParseAddr("10.99.0.254")}}}}
		expectPing(t, "LAN precondition", l.lan, hostAddr.Addr(), true)
		// Without a shim: the host has no address in 10.99.0.0/24.
		bad := nw
		bad.Subnets = []driver.Subnet{{Prefix: netip.MustParsePrefix("10.99.0.0/24")}}
		if _, err := l.d.CreateNetwork(context.Background(), l.host, bad); !errors.Is(err, cnm.ErrInvalid) {
			t.Fatalf("host_access without a host address: %v, want invalid", err)
		}
		if linkExists(l.host.Handle, ShimName(nw)) {
			t.Fatal("failed create left its shim")
		}
		if _, err := l.d.CreateNetwork(context.Background(), l.host, nw); err != nil {
			t.Fatal(err)
		}
		defer l.d.DeleteNetwork(context.Background(), l.host, nw)
		l.mustJoin(nw, "a", "10.99.0.10/24")
		expectPing(t, "host → a", l.hostNS, netip.MustParseAddr("10.99.0.10"), true)
	})
}
