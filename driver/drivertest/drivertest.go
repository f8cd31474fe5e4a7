// Package drivertest is the conformance suite of the driver contract:
// every network driver — built-in, remote or overlay — runs it from its
// own tests, against the real kernel, in throwaway namespaces. It holds a
// driver to what the engine relies on: capabilities that make sense,
// options checked before anything is made, idempotent network creation
// and deletion, an endpoint that reaches a real sandbox namespace in
// place or through a move and is gone after Leave and DeleteEndpoint,
// removal of what was never made succeeding, a sweep of what no record
// explains, and cancelled contexts honoured with nothing left behind.
package drivertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/driver"
	"github.com/patchbay/patchbay/internal/netnstest"
	"github.com/patchbay/patchbay/internal/nl"
	"github.com/patchbay/patchbay/ipam"
	"github.com/patchbay/patchbay/sandbox"
	"github.com/vishvananda/netlink"
)

// Config describes the driver under test.
type Config struct {
	// New returns a fresh driver; each subtest gets its own.
	New func() driver.Driver
	// NewIn, used instead of New when set, returns a fresh driver that
	// works in the host namespace at hostNS: the driver of a plugin,
	// whose process must be started there.
	NewIn func(t *testing.T, hostNS string) driver.Driver
	// Options are valid driver options for a test network (may be nil).
	Options map[string]string
	// BadOptions are options the driver must refuse as invalid.
	BadOptions map[string]string
}

// lab is one subtest's world: a host namespace, the driver and a tag.
type lab struct {
	t    *testing.T
	cfg  Config
	d    driver.Driver
	cap  driver.Capability
	host driver.Host
	dir  string
}

func newLab(t *testing.T, cfg Config) *lab {
	t.Helper()
	hst := netnstest.NewHost(t)
	ns, h := netnstest.Open(t, hst.Path)
	l := &lab{t: t, cfg: cfg, dir: t.TempDir(),
		host: driver.Host{NS: ns, Handle: h, Tag: "pb:" + randomID()[:8] + ":"}}
	if cfg.NewIn != nil {
		l.d = cfg.NewIn(t, hst.Path)
	} else {
		l.d = cfg.New()
	}
	c, err := l.d.Capabilities(context.Background())
	if err != nil {
		t.Fatalf("capabilities: %v", err)
	}
	l.cap = c
	return l
}

func randomID() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// network returns a test network with one IPv4 subnet, its options
// decoded by the driver.
func (l *lab) network(octet byte) driver.Network {
	l.t.Helper()
	config, err := l.d.ParseOptions(l.cfg.Options)
	if err != nil {
		l.t.Fatalf("parse valid options %v: %v", l.cfg.Options, err)
	}
	nw := driver.Network{ID: randomID(), Name: "conf" + string('a'+octet%26), Options: l.cfg.Options, Config: config}
	if l.cap.Connectable {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 99, octet, 0}), 24)
		nw.Subnets = []driver.Subnet{{Prefix: p, Gateway: netip.AddrFrom4([4]byte{10, 99, octet, 1})}}
	}
	return nw
}

func (l *lab) create(nw driver.Network) {
	l.t.Helper()
	if _, err := l.d.CreateNetwork(context.Background(), l.host, nw); err != nil {
		l.t.Fatalf("create network: %v", err)
	}
	l.t.Cleanup(func() { _ = l.d.DeleteNetwork(context.Background(), l.host, nw) })
}

// sandbox makes a throwaway sandbox namespace, open.
func (l *lab) sandbox(name string) driver.Sandbox {
	l.t.Helper()
	p := filepath.Join(l.dir, name)
	if err := sandbox.CreateNetns(p); err != nil {
		l.t.Fatalf("create sandbox namespace: %v", err)
	}
	l.t.Cleanup(func() { _ = sandbox.RemoveNetns(p) })
	ns, h := netnstest.Open(l.t, p)
	return driver.Sandbox{ID: name, Key: p, NS: ns, Handle: h}
}

func (l *lab) endpoint(nw driver.Network, host byte) driver.Endpoint {
	ep := driver.Endpoint{ID: randomID(), IfName: "eth0", MAC: ipam.RandomMAC()}
	if len(nw.Subnets) > 0 {
		a := nw.Subnets[0].Prefix.Addr().As4()
		a[3] = host
		ep.IPv4 = netip.PrefixFrom(netip.AddrFrom4(a), nw.Subnets[0].Prefix.Bits())
	}
	return ep
}

// hostLinks lists the host namespace's links carrying the lab's tag.
func (l *lab) taggedLinks() []string {
	l.t.Helper()
	links, err := l.host.Handle.LinkList()
	if err != nil {
		l.t.Fatal(err)
	}
	var out []string
	for _, k := range links {
		if strings.HasPrefix(k.Attrs().Alias, l.host.Tag) {
			out = append(out, k.Attrs().Name)
		}
	}
	return out
}

func sandboxLinks(t *testing.T, sb driver.Sandbox) []string {
	names := netnstest.LinkNames(t, sb.Handle)
	return slices.DeleteFunc(names, func(n string) bool { return n == "lo" })
}

// Run runs the conformance suite against the driver cfg describes.
func Run(t *testing.T, cfg Config) {
	t.Run("Capabilities", func(t *testing.T) { testCapabilities(t, cfg) })
	t.Run("Options", func(t *testing.T) { testOptions(t, cfg) })
	t.Run("NetworkIdempotent", func(t *testing.T) { testNetworkIdempotent(t, cfg) })
	t.Run("NetworkBulkDelete", func(t *testing.T) { testNetworkBulkDelete(t, cfg) })
	t.Run("JoinInPlace", func(t *testing.T) { testJoin(t, cfg, true) })
	t.Run("JoinByMove", func(t *testing.T) { testJoin(t, cfg, false) })
	t.Run("RemoveMissing", func(t *testing.T) { testRemoveMissing(t, cfg) })
	t.Run("Sweep", func(t *testing.T) { testSweep(t, cfg) })
	t.Run("Cancelled", func(t *testing.T) { testCancelled(t, cfg) })
}

func testCapabilities(t *testing.T, cfg Config) {
	l := newLab(t, cfg)
	for _, s := range []string{l.cap.DataScope, l.cap.ConnectivityScope} {
		if s != driver.ScopeLocal && s != driver.ScopeGlobal {
			t.Errorf("scope %q: want local or global", s)
		}
	}
	again, err := l.d.Capabilities(context.Background())
	if err != nil || again != l.cap {
		t.Errorf("capabilities changed between calls: %+v, then %+v (%v)", l.cap, again, err)
	}
	if l.d.Type() == "" {
		t.Error("empty driver type")
	}
}

func testOptions(t *testing.T, cfg Config) {
	l := newLab(t, cfg)
	bad := cfg.BadOptions
	if bad == nil {
		bad = map[string]string{"com.example.no-such-option": "1"}
	}
	if _, err := l.d.ParseOptions(bad); !errors.Is(err, cnm.ErrInvalid) {
		t.Fatalf("options %v: %v, want an invalid-argument error", bad, err)
	} else {
		for k := range bad {
			if !strings.Contains(err.Error(), k) {
				t.Errorf("error %q does not name the option %s", err, k)
			}
		}
	}
	if _, err := l.d.ParseOptions(cfg.Options); err != nil {
		t.Fatalf("valid options %v: %v", cfg.Options, err)
	}
}

func testNetworkIdempotent(t *testing.T, cfg Config) {
	l := newLab(t, cfg)
	before := netnstest.LinkNames(t, l.host.Handle)
	nw := l.network(1)
	ctx := context.Background()
	for i := range 2 {
		if _, err := l.d.CreateNetwork(ctx, l.host, nw); err != nil {
			t.Fatalf("create network (call %d): %v", i+1, err)
		}
	}
	for i := range 2 {
		if err := l.d.DeleteNetwork(ctx, l.host, nw); err != nil {
			t.Fatalf("delete network (call %d): %v", i+1, err)
		}
	}
	if after := netnstest.LinkNames(t, l.host.Handle); !slices.Equal(before, after) {
		t.Fatalf("links before %v, after create and delete %v", before, after)
	}
}

// testNetworkBulkDelete: a driver that deletes networks together leaves
// nothing of any of them, and deleting them again is not an error.
func testNetworkBulkDelete(t *testing.T, cfg Config) {
	l := newLab(t, cfg)
	bd, ok := l.d.(driver.NetworkBulkDeleter)
	if !ok {
		t.Skip("the driver deletes networks one by one (no NetworkBulkDeleter)")
	}
	before := netnstest.LinkNames(t, l.host.Handle)
	var nws []driver.Network
	for i := range 3 {
		nw := l.network(byte(10 + i))
		if _, err := l.d.CreateNetwork(context.Background(), l.host, nw); err != nil {
			t.Fatal(err)
		}
		nws = append(nws, nw)
	}
	for i := range 2 {
		if err := bd.DeleteNetworks(context.Background(), l.host, nws); err != nil {
			t.Fatalf("delete networks (call %d): %v", i+1, err)
		}
	}
	if after := netnstest.LinkNames(t, l.host.Handle); !slices.Equal(before, after) {
		t.Fatalf("links before %v, after creating and deleting three networks together %v", before, after)
	}
}

// testJoin takes an endpoint through its whole life: create, join (in a
// sandbox the driver may enter, or one it may not, so it hands the
// interface over to be moved in), leave, delete.
func testJoin(t *testing.T, cfg Config, inPlace bool) {
	l := newLab(t, cfg)
	nw := l.network(2)
	l.create(nw)
	sb := l.sandbox("sb")
	ep := l.endpoint(nw, 2)
	ctx := context.Background()
	res, err := l.d.CreateEndpoint(ctx, l.host, nw, ep)
	if err != nil {
		t.Fatalf("create endpoint: %v", err)
	}
	if res.HostIfName != "" {
		ep.HostIfName = res.HostIfName
	}
	join := sb
	if !inPlace {
		join = driver.Sandbox{ID: sb.ID, Key: sb.Key}
	}
	info, err := l.d.Join(ctx, l.host, nw, ep, join)
	if err != nil {
		t.Fatalf("join: %v", err)
	}
	if !l.cap.Connectable {
		if info.Interface != nil || len(sandboxLinks(t, sb)) != 0 {
			t.Fatalf("a driver without interfaces gave the sandbox one: %+v %v", info, sandboxLinks(t, sb))
		}
		checkRemove(t, l, nw, ep)
		return
	}
	switch {
	case inPlace && info.Interface != nil:
		t.Fatalf("join in place returned an interface to move: %+v", info.Interface)
	case !inPlace && info.Interface == nil:
		t.Fatal("join without the sandbox namespace returned no interface to move")
	case !inPlace:
		if err := nl.MoveInto(l.host.Handle, info.Interface.SrcName, sb.NS, sb.Handle, ep.IfName, ep.MAC, ep.IPv4, ep.IPv6); err != nil {
			t.Fatalf("move the interface in: %v", err)
		}
	}
	link, err := sb.Handle.LinkByName(ep.IfName)
	if err != nil {
		t.Fatalf("no %s in the sandbox after join: %v (have %v)", ep.IfName, err, sandboxLinks(t, sb))
	}
	if info.MAC == nil && link.Attrs().HardwareAddr.String() != ep.MAC.String() {
		t.Errorf("MAC %s, want %s", link.Attrs().HardwareAddr, ep.MAC)
	}
	if link.Attrs().Flags&1 == 0 {
		t.Errorf("%s is down after join", ep.IfName)
	}
	addrs, err := sb.Handle.AddrList(link, netlink.FAMILY_V4)
	if err != nil || len(addrs) != 1 || addrs[0].IPNet.String() != ep.IPv4.String() {
		t.Errorf("addresses of %s: %v (%v), want %s", ep.IfName, addrs, err, ep.IPv4)
	}
	if c, ok := l.d.(driver.Checker); ok && !c.EndpointOK(ctx, l.host, nw, ep) {
		t.Error("EndpointOK is false right after join")
	}
	if c, ok := l.d.(driver.SandboxChecker); ok && inPlace && !c.EndpointOKIn(ctx, l.host, nw, ep, sb) {
		t.Error("EndpointOKIn is false right after join")
	}
	// Leaving a sandbox that stays: the engine evicts or retires the
	// interface first, so its name is free at once.
	if ev, ok := l.d.(driver.Evicter); ok {
		if err := ev.Evict(ctx, l.host, nw, ep, sb); err != nil {
			t.Fatalf("evict: %v", err)
		}
	} else if err := nl.Retire(sb.Handle, ep.IfName, "gone"+ep.ID[:11]); err != nil {
		t.Fatal(err)
	}
	if _, err := sb.Handle.LinkByName(ep.IfName); err == nil {
		t.Fatalf("%s still named so after leaving", ep.IfName)
	}
	checkRemove(t, l, nw, ep)
	if left := sandboxLinks(t, sb); len(left) != 0 {
		t.Fatalf("sandbox still has %v after leave and delete", left)
	}
	if c, ok := l.d.(driver.Checker); ok && c.EndpointOK(ctx, l.host, nw, ep) {
		t.Error("EndpointOK is true after the endpoint was deleted")
	}
}

// checkRemove leaves and deletes an endpoint, twice: the second time
// everything is already gone, which is not an error.
func checkRemove(t *testing.T, l *lab, nw driver.Network, ep driver.Endpoint) {
	t.Helper()
	ctx := context.Background()
	for i := range 2 {
		if err := l.d.Leave(ctx, l.host, nw, ep); err != nil {
			t.Fatalf("leave (call %d): %v", i+1, err)
		}
		dep := driver.Departure{Network: nw, Endpoint: ep}
		var err error
		if bd, ok := l.d.(driver.BulkDeleter); ok && i == 0 {
			err = bd.DeleteEndpoints(ctx, l.host, []driver.Departure{dep})
		} else {
			err = l.d.DeleteEndpoint(ctx, l.host, nw, ep)
		}
		if err != nil {
			t.Fatalf("delete endpoint (call %d): %v", i+1, err)
		}
	}
}

func testRemoveMissing(t *testing.T, cfg Config) {
	l := newLab(t, cfg)
	nw := l.network(3)
	ctx := context.Background()
	// Neither the network nor the endpoint was ever made.
	if err := l.d.DeleteNetwork(ctx, l.host, nw); err != nil {
		t.Fatalf("delete a network never made: %v", err)
	}
	l.create(nw)
	ep := l.endpoint(nw, 3)
	ep.HostIfName = "veth" + ep.ID[:11]
	if err := l.d.Leave(ctx, l.host, nw, ep); err != nil {
		t.Fatalf("leave an endpoint never joined: %v", err)
	}
	if err := l.d.DeleteEndpoint(ctx, l.host, nw, ep); err != nil {
		t.Fatalf("delete an endpoint never made: %v", err)
	}
}

func testSweep(t *testing.T, cfg Config) {
	l := newLab(t, cfg)
	sw, ok := l.d.(driver.Sweeper)
	if !ok {
		t.Skip("the driver makes no tagged kernel objects (no Sweeper)")
	}
	nw := l.network(4)
	l.create(nw)
	ep := l.endpoint(nw, 4)
	res, err := l.d.CreateEndpoint(context.Background(), l.host, nw, ep)
	if err != nil {
		t.Fatal(err)
	}
	ep.HostIfName = res.HostIfName
	// Joined by move: the interface waits in the host namespace, as one
	// a crash cut short would.
	if _, err := l.d.Join(context.Background(), l.host, nw, ep, driver.Sandbox{ID: "sb"}); err != nil {
		t.Fatal(err)
	}
	known := driver.Known{Networks: map[string]bool{nw.ID: true}, Endpoints: map[string]bool{ep.ID: true}}
	tagged := l.taggedLinks()
	if err := sw.Sweep(context.Background(), l.host, known); err != nil {
		t.Fatalf("sweep with everything known: %v", err)
	}
	if after := l.taggedLinks(); !slices.Equal(tagged, after) {
		t.Fatalf("sweep removed known links: %v, then %v", tagged, after)
	}
	if err := sw.Sweep(context.Background(), l.host, driver.Known{}); err != nil {
		t.Fatalf("sweep with nothing known: %v", err)
	}
	if after := l.taggedLinks(); len(after) != 0 {
		t.Fatalf("tagged links left after a sweep with nothing known: %v", after)
	}
}

// testCancelled: a call whose context has ended fails with the context's
// error and makes nothing.
func testCancelled(t *testing.T, cfg Config) {
	l := newLab(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	before := netnstest.LinkNames(t, l.host.Handle)
	nw := l.network(5)
	if _, err := l.d.CreateNetwork(ctx, l.host, nw); !errors.Is(err, context.Canceled) {
		t.Fatalf("create network with a cancelled context: %v, want context.Canceled", err)
	}
	if after := netnstest.LinkNames(t, l.host.Handle); !slices.Equal(before, after) {
		t.Fatalf("a cancelled create made links: %v, then %v", before, after)
	}
	l.create(nw)
	sb := l.sandbox("sb")
	ep := l.endpoint(nw, 5)
	if _, err := l.d.CreateEndpoint(ctx, l.host, nw, ep); !errors.Is(err, context.Canceled) {
		t.Fatalf("create endpoint with a cancelled context: %v, want context.Canceled", err)
	}
	if _, err := l.d.Join(ctx, l.host, nw, ep, sb); !errors.Is(err, context.Canceled) {
		t.Fatalf("join with a cancelled context: %v, want context.Canceled", err)
	}
	if left := sandboxLinks(t, sb); len(left) != 0 {
		t.Fatalf("a cancelled join gave the sandbox %v", left)
	}
	dctx, dcancel := context.WithTimeout(context.Background(), 0)
	defer dcancel()
	if _, err := l.d.Join(dctx, l.host, nw, ep, sb); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("join past its deadline: %v, want context.DeadlineExceeded", err)
	}
}
