package macvlan

import (
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/patchbay/patchbay/cnm"
	"github.com/vishvananda/netlink"
)

// TestMacvlanBadInput: every bad request fails with a clear error of the right
// kind and changes nothing in the host.
func TestMacvlanBadInput(t *testing.T) {
	l := newLab(t)
	// eth2 is a port of the bridge hbr0.
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "hbr0", TxQLen: -1}}
	if err := l.host.Handle.LinkAdd(br); err != nil {
		t.Fatal(err)
	}
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth2", TxQLen: -1, MasterIndex: br.Index, Flags: net.FlagUp}, PeerName: "eth2p"}
	if err := l.host.Handle.LinkAdd(v); err != nil {
		t.Fatal(err)
	}
	l.mustNetwork("taken", false, "10.77.0.0/24", "parent=eth1")
	pt := l.mustNetwork("pt", false, "10.66.0.0/24", "parent=eth2p", "macvlan_mode=passthru")
	before := linkNames(t, l.host.Handle)

	tests := []struct {
		name     string
		internal bool
		subnet   string
		opts     []string
		kind     error
		mention  string
	}{
		{"missing parent", false, "10.1.0.0/24", []string{"parent=nope0"}, cnm.ErrInvalid, "nope0 not found"},
		{"missing VLAN base", false, "10.1.0.0/24", []string{"parent=nope0.20"}, cnm.ErrInvalid, "nope0"},
		{"VLAN id too big", false, "10.1.0.0/24", []string{"parent=eth1.5000"}, cnm.ErrInvalid, "VLAN id 5000"},
		{"VLAN id zero", false, "10.1.0.0/24", []string{"parent=eth1.0"}, cnm.ErrInvalid, "VLAN id 0"},
		{"enslaved parent", false, "10.1.0.0/24", []string{"parent=eth2"}, cnm.ErrInvalid, "enslaved to hbr0"},
		{"VLAN on enslaved base", false, "10.1.0.0/24", []string{"parent=eth2.7"}, cnm.ErrInvalid, "enslaved to hbr0"},
		{"loopback", false, "10.1.0.0/24", []string{"parent=lo"}, cnm.ErrInvalid, "loopback"},
		{"empty parent", false, "10.1.0.0/24", []string{"parent="}, cnm.ErrInvalid, "parent"},
		{"unknown mode", false, "10.1.0.0/24", []string{"parent=eth1", "macvlan_mode=l3"}, cnm.ErrInvalid, "bridge, private, vepa and passthru"},
		{"unknown option", false, "10.1.0.0/24", []string{"parent=eth1", "vlan=3"}, cnm.ErrInvalid, `"vlan"`},
		{"internal with parent", true, "10.1.0.0/24", []string{"parent=eth1"}, cnm.ErrInvalid, "internal"},
		{"host_access private", false, "10.1.0.0/24", []string{"parent=eth1", "macvlan_mode=private", "host_access=true"}, cnm.ErrInvalid, "host_access"},
		{"overlap on parent", false, "10.77.0.0/25", []string{"parent=eth1"}, cnm.ErrConflict, "network taken"},
		{"passthru on shared parent", false, "10.2.0.0/24", []string{"parent=eth1", "macvlan_mode=passthru"}, cnm.ErrConflict, "passthru"},
		{"second network on passthru parent", false, "10.3.0.0/24", []string{"parent=eth2p"}, cnm.ErrConflict, "passthru"},
		{"host_access without an address (VLAN made and undone)", false, "10.77.0.0/24", []string{"parent=eth1.9", "host_access=true"}, cnm.ErrInvalid, "aux-address host="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := l.network("bad", tt.internal, tt.subnet, tt.opts...)
			if !errors.Is(err, tt.kind) || !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("error %v; want %v mentioning %q", err, tt.kind, tt.mention)
			}
			if after := linkNames(t, l.host.Handle); after != before {
				t.Errorf("links changed:\nbefore %s\nafter  %s", before, after)
			}
			checkNoTC(t, l.host.Handle, "eth1")
		})
	}
	_ = pt
}
