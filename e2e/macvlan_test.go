package e2e

import (
	"encoding/json"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/api/types"
	"github.com/patchbay/patchbay/internal/nl"
	"github.com/patchbay/patchbay/sandbox"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// macvlanLAN is a throwaway "LAN" namespace joined to a daemon's host by
// a veth pair: eth1 in the host (10.77.0.2/24, the macvlan parent) and
// lan0 on the LAN side, a port of the switch sw0 that carries the LAN
// host's address 10.77.0.1/24.
type macvlanLAN struct {
	path string
	h    *netlink.Handle
}

func newMacvlanLAN(t testing.TB, d *daemon) *macvlanLAN {
	t.Helper()
	lan := &macvlanLAN{path: filepath.Join(t.TempDir(), "lan")}
	if err := sandbox.CreateNetns(lan.path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sandbox.RemoveNetns(lan.path) })
	ns, h := openNSTB(t, lan.path)
	lan.h = h
	hh := d.host.Handle
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth1", TxQLen: -1}, PeerName: "lan0", PeerNamespace: netlink.NsFd(ns)}
	if err := hh.LinkAdd(veth); err != nil {
		t.Fatal(err)
	}
	sw := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "sw0", TxQLen: -1}}
	if err := h.LinkAdd(sw); err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct {
		h      *netlink.Handle
		name   string
		addr   string
		master *netlink.Bridge
	}{{hh, "eth1", "10.77.0.2/24", nil}, {h, "lan0", "", sw}, {h, "sw0", "10.77.0.1/24", nil}} {
		l, err := s.h.LinkByName(s.name)
		if err != nil {
			t.Fatal(err)
		}
		if s.master != nil {
			if err := s.h.LinkSetMaster(l, s.master); err != nil {
				t.Fatal(err)
			}
		}
		if s.addr != "" {
			if err := s.h.AddrAdd(l, nl.Addr(netip.MustParsePrefix(s.addr))); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.h.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
	}
	return lan
}

func openNSTB(t testing.TB, path string) (ns netns.NsHandle, h *netlink.Handle) {
	t.Helper()
	n, err := sandbox.OpenNetns(path)
	if err != nil {
		t.Fatal(err)
	}
	h, err = netlink.NewHandleAt(n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(); n.Close() })
	return n, h
}

// neigh is the MAC the LAN's neighbour table holds for ip.
func (lan *macvlanLAN) neigh(ip string) string {
	ns, _ := lan.h.NeighList(0, netlink.FAMILY_V4)
	for _, n := range ns {
		if n.IP.String() == ip && n.HardwareAddr != nil {
			return n.HardwareAddr.String()
		}
	}
	return ""
}

// pingable retries a ping a few times: the first may wait for ARP.
func pingable(t *testing.T, ns, ip string) bool {
	t.Helper()
	for i := 0; i < 3; i++ {
		if _, ok := inNS(t, ns, "busybox", "ping", "-c", "1", "-W", "1", ip); ok {
			return true
		}
	}
	return false
}

func inspectNet(t *testing.T, d *daemon, name string) types.NetworkResource {
	t.Helper()
	var nets []types.NetworkResource
	if err := json.Unmarshal([]byte(d.ok("network", "inspect", name)), &nets); err != nil || len(nets) != 1 {
		t.Fatalf("network inspect %s: %v", name, err)
	}
	return nets[0]
}

// endpointOf finds a container's entry in a network's inspect output.
func endpointOf(n types.NetworkResource, name string) (ip, mac string) {
	for _, c := range n.Containers {
		if c.Name == name {
			return strings.Split(c.IPv4Address, "/")[0], c.MacAddress
		}
	}
	return "", ""
}

// TestMacvlan is the user story through the CLI and a real
// daemon: containers on a LAN under their own MACs, IPAM that holds no
// gateway unless given and keeps LAN hosts' addresses out, a VLAN
// sub-interface made on demand, host access through the shim, a daemon
// crash that changes nothing, and a clean teardown.
func TestMacvlan(t *testing.T) {
	d := startDaemon(t)
	lan := newMacvlanLAN(t, d)
	initial := linkNames(t, d.host)
	slices.Sort(initial)

	d.ok("network", "create", "-d", "macvlan", "-o", "parent=eth1", "--subnet", "10.77.0.0/24", "--gateway", "10.77.0.1",
		"--aux-address", "printer=10.77.0.64", "--ip-range", "10.77.0.64/27", "-o", "host_access=true", "lan")
	d.ok("network", "create", "-d", "macvlan", "-o", "parent=eth1.20", "--subnet", "10.78.0.0/24", "vlan20")
	d.ok("network", "create", "-d", "macvlan", "--subnet", "10.79.0.0/24", "island")
	n := inspectNet(t, d, "lan")
	if n.Driver != "macvlan" || n.IPAM.Config[0].Gateway != "10.77.0.1" {
		t.Errorf("lan: driver %s, IPAM %+v", n.Driver, n.IPAM.Config)
	}
	if gw := inspectNet(t, d, "vlan20").IPAM.Config[0].Gateway; gw != "" {
		t.Errorf("vlan20 has gateway %q without --gateway; macvlan holds none", gw)
	}
	if _, err := d.host.Handle.LinkByName("eth1.20"); err != nil {
		t.Fatalf("eth1.20 was not made: %v", err)
	}

	d.ok("run", "-d", "--name", "cam", "--network", "lan", "--ip", "10.77.0.80", "--", "sleep", "600")
	d.ok("run", "-d", "--name", "c2", "--network", "lan", "--", "sleep", "600")
	d.ok("run", "-d", "--name", "v1", "--network", "vlan20", "--", "sleep", "600")
	d.ok("run", "-d", "--name", "i1", "--network", "island", "--", "sleep", "600")
	d.ok("run", "-d", "--name", "i2", "--network", "island", "--", "sleep", "600")
	n = inspectNet(t, d, "lan")
	camIP, camMAC := endpointOf(n, "cam")
	c2IP, _ := endpointOf(n, "c2")
	if camIP != "10.77.0.80" || c2IP != "10.77.0.65" {
		t.Errorf("lan addresses cam=%s c2=%s; want 10.77.0.80 (--ip) and 10.77.0.65 (first of the range after the aux address)", camIP, c2IP)
	}
	if ip, _ := endpointOf(inspectNet(t, d, "vlan20"), "v1"); ip != "10.78.0.1" {
		t.Errorf("vlan20's first address is %s, want 10.78.0.1 (no gateway held)", ip)
	}
	if !pingable(t, lan.path, camIP) {
		t.Fatal("the LAN host cannot reach cam")
	}
	if got := lan.neigh(camIP); got != camMAC {
		t.Errorf("LAN neighbour entry for cam: %q, want cam's own MAC %s", got, camMAC)
	}
	if out := d.ok("exec", "cam", "--", "busybox", "ip", "route"); !strings.Contains(out, "default via 10.77.0.1") {
		t.Errorf("cam's routes lack the default via the LAN router:\n%s", out)
	}
	if r := d.pb("exec", "cam", "--", "busybox", "ping", "-c", "1", "-W", "1", c2IP); r.code != 0 {
		t.Errorf("cam cannot reach c2 (bridge mode): %s", r)
	}
	if !pingable(t, d.host.Path, camIP) {
		t.Error("the host cannot reach cam through its shim")
	}
	if r := d.pb("exec", "i1", "--", "busybox", "ping", "-c", "1", "-W", "1", "10.79.0.2"); r.code != 0 {
		t.Errorf("i1 cannot reach i2 on their own parent: %s", r)
	}
	if out := d.ok("exec", "i1", "--", "busybox", "ip", "route"); strings.Contains(out, "default") {
		t.Errorf("a container on a network without a parent has a default route:\n%s", out)
	}

	// A crash changes nothing: the same interfaces, still working.
	before := map[string]int{}
	for _, name := range []string{"eth1.20", "pbh" + n.ID[:12]} {
		l, err := d.host.Handle.LinkByName(name)
		if err != nil {
			t.Fatalf("%s missing before the crash: %v", name, err)
		}
		before[name] = l.Attrs().Index
	}
	d.kill9()
	d.start()
	for name, idx := range before {
		l, err := d.host.Handle.LinkByName(name)
		if err != nil || l.Attrs().Index != idx {
			t.Errorf("%s after restart: %v (index %d, was %d): not kept as it was", name, err, idxOf(l), idx)
		}
	}
	if _, mac := endpointOf(inspectNet(t, d, "lan"), "cam"); mac != camMAC {
		t.Errorf("cam's MAC after restart %s, was %s", mac, camMAC)
	}
	if out := d.ok("exec", "cam", "--", "busybox", "ip", "link", "show", "eth0"); !strings.Contains(out, camMAC) {
		t.Errorf("cam's eth0 after restart:\n%s\nwant MAC %s", out, camMAC)
	}
	if !pingable(t, lan.path, camIP) || !pingable(t, d.host.Path, camIP) {
		t.Error("cam unreachable from the LAN or the host after restart")
	}

	// Live disconnect and reconnect: the macvlan leaves the sandbox and
	// the host keeps nothing of it.
	d.ok("network", "disconnect", "lan", "c2")
	if out := d.ok("exec", "c2", "--", "busybox", "ip", "-o", "link"); strings.Contains(out, "macvlan") || strings.Contains(out, "gone") {
		t.Errorf("c2 still holds an interface after disconnect:\n%s", out)
	}
	d.ok("network", "connect", "lan", "c2")
	if r := d.pb("exec", "c2", "--", "busybox", "ping", "-c", "1", "-W", "1", "10.77.0.1"); r.code != 0 {
		t.Errorf("c2 cannot reach the LAN after reconnecting: %s", r)
	}

	// Teardown leaves the host as it was.
	for _, c := range []string{"cam", "c2", "v1", "i1", "i2"} {
		d.ok("rm", "-f", c)
	}
	d.ok("network", "rm", "lan", "vlan20", "island")
	var after []string
	for i := 0; i < 50; i++ {
		after = linkNames(t, d.host)
		slices.Sort(after)
		if slices.Equal(after, initial) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !slices.Equal(after, initial) {
		t.Errorf("host links after teardown:\n%v\nwant\n%v", after, initial)
	}
	if out, _ := inNS(t, d.host.Path, "tc", "qdisc", "show", "dev", "eth1"); strings.Contains(out, "clsact") {
		t.Errorf("eth1 keeps a clsact qdisc after teardown:\n%s", out)
	}
}

func idxOf(l netlink.Link) int {
	if l == nil {
		return 0
	}
	return l.Attrs().Index
}

// TestMacvlanBadInput: clear errors through the CLI, nothing changed.
func TestMacvlanBadInput(t *testing.T) {
	d := startDaemon(t)
	newMacvlanLAN(t, d)
	d.ok("network", "create", "-d", "macvlan", "-o", "parent=eth1", "--subnet", "10.77.0.0/24", "taken")
	d.ok("network", "create", "-d", "macvlan", "-o", "parent=eth1.30", "-o", "macvlan_mode=passthru", "--subnet", "10.30.0.0/24", "pt")
	d.ok("run", "-d", "--name", "owner", "--network", "pt", "--", "sleep", "600")
	snap := d.snapshot()
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"network", "create", "-d", "macvlan", "-o", "parent=eth9", "x"}, "eth9 not found"},
		{[]string{"network", "create", "-d", "macvlan", "-o", "parent=eth1.4095", "x"}, "VLAN id 4095"},
		{[]string{"network", "create", "-d", "macvlan", "-o", "parent=eth1", "-o", "macvlan_mode=l2", "x"}, "macvlan modes"},
		{[]string{"network", "create", "-d", "macvlan", "-o", "parent=eth1", "--subnet", "10.77.0.128/25", "x"}, "overlaps"},
		{[]string{"network", "create", "-d", "macvlan", "-o", "parent=eth1.30", "--subnet", "10.31.0.0/24", "x"}, "passthru"},
		{[]string{"run", "--name", "second", "--network", "pt", "--", "true"}, "passthru"},
	}
	for _, c := range cases {
		r := d.pb(c.args...)
		if r.code == 0 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("patchbay %s: %s\nwant a failure mentioning %q", strings.Join(c.args, " "), r, c.want)
		}
		if now := d.snapshot(); now != snap {
			t.Errorf("patchbay %s changed the state:\nbefore %s\nafter %s", strings.Join(c.args, " "), snap, now)
		}
	}
}
