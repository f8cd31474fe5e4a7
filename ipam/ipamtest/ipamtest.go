// Package ipamtest is the conformance suite of ipam.Driver: the contract
// every IPAM driver keeps, in-process or remote. A driver's tests call
// Run with a constructor that returns a fresh driver, with no pools, for
// each subtest.
//
// The suite asks for pools by subnet in 10.231.0.0/16 and
// fd31:9a7c:11::/48 (the host's routes should avoid them) and for one
// pool of the driver's choice. It checks what Docker's IpamDriver
// protocol promises, not a driver's policy: it needs errors where the
// contract says a call fails, but not their kinds, which a remote
// driver's replies may not carry.
package ipamtest

import (
	"context"
	"net/netip"
	"testing"

	"github.com/patchbay/patchbay/ipam"
)

// Run runs the conformance suite against the drivers newDriver returns.
func Run(t *testing.T, newDriver func() ipam.Driver) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, d ipam.Driver)
	}{
		{"AddressSpaces", testAddressSpaces},
		{"Lifecycle", testLifecycle},
		{"LifecycleIPv6", testLifecycleV6},
		{"ChosenPool", testChosenPool},
		{"StaticAndGateway", testStaticAndGateway},
		{"UnknownPool", testUnknownPool},
		{"AddressOutsidePool", testOutside},
		{"CancelledContext", testCancelled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newDriver()) })
	}
}

func testAddressSpaces(t *testing.T, d ipam.Driver) {
	ctx := t.Context()
	if _, err := d.Capabilities(ctx); err != nil {
		t.Errorf("Capabilities: %v", err)
	}
	local, global, err := d.DefaultAddressSpaces(ctx)
	if err != nil || local == "" || global == "" {
		t.Errorf("DefaultAddressSpaces = %q, %q, %v; want two names", local, global, err)
	}
}

// requestPool asks for subnet in the driver's local address space.
func requestPool(t *testing.T, d ipam.Driver, subnet, subPool string) ipam.Pool {
	t.Helper()
	ctx := t.Context()
	local, _, err := d.DefaultAddressSpaces(ctx)
	if err != nil {
		t.Fatalf("DefaultAddressSpaces: %v", err)
	}
	req := ipam.PoolRequest{AddressSpace: local, Pool: netip.MustParsePrefix(subnet)}
	req.V6 = req.Pool.Addr().Is6()
	if subPool != "" {
		req.SubPool = netip.MustParsePrefix(subPool)
	}
	p, err := d.RequestPool(ctx, req)
	if err != nil {
		t.Fatalf("RequestPool(%s): %v", subnet, err)
	}
	if p.ID == "" || p.Prefix != req.Pool {
		t.Fatalf("RequestPool(%s) = %+v; want an ID and the subnet", subnet, p)
	}
	return p
}

func testLifecycle(t *testing.T, d ipam.Driver) {
	lifecycle(t, d, "10.231.1.0/24")
}

func testLifecycleV6(t *testing.T, d ipam.Driver) {
	lifecycle(t, d, "fd31:9a7c:11:1::/64")
}

// lifecycle requests a pool, a gateway and addresses in it, releases
// them and the pool.
func lifecycle(t *testing.T, d ipam.Driver, subnet string) {
	ctx := t.Context()
	p := requestPool(t, d, subnet, "")
	seen := map[netip.Addr]bool{}
	var got []netip.Addr
	for i := range 5 {
		var opts map[string]string
		if i == 0 {
			opts = map[string]string{ipam.RequestAddressType: ipam.GatewayAddressType}
		}
		a, err := d.RequestAddress(ctx, p.ID, netip.Addr{}, opts)
		if err != nil {
			t.Fatalf("RequestAddress(%s): %v", p.ID, err)
		}
		if a.Bits() != p.Prefix.Bits() || !p.Prefix.Contains(a.Addr()) {
			t.Fatalf("RequestAddress(%s) = %s; want an address of %s with its prefix length", p.ID, a, p.Prefix)
		}
		if seen[a.Addr()] {
			t.Fatalf("RequestAddress(%s) = %s twice", p.ID, a)
		}
		seen[a.Addr()] = true
		got = append(got, a.Addr())
	}
	for _, a := range got {
		if err := d.ReleaseAddress(ctx, p.ID, a); err != nil {
			t.Fatalf("ReleaseAddress(%s, %s): %v", p.ID, a, err)
		}
	}
	// A released address may be asked for again.
	if len(got) > 0 {
		a, err := d.RequestAddress(ctx, p.ID, got[0], nil)
		if err != nil || a.Addr() != got[0] {
			t.Fatalf("RequestAddress(%s, %s) after release = %s, %v", p.ID, got[0], a, err)
		}
		if err := d.ReleaseAddress(ctx, p.ID, got[0]); err != nil {
			t.Fatalf("ReleaseAddress(%s, %s): %v", p.ID, got[0], err)
		}
	}
	if err := d.ReleasePool(ctx, p.ID); err != nil {
		t.Fatalf("ReleasePool(%s): %v", p.ID, err)
	}
	if _, err := d.RequestAddress(ctx, p.ID, netip.Addr{}, nil); err == nil {
		t.Errorf("RequestAddress in released pool %s succeeded", p.ID)
	}
	if err := d.ReleasePool(ctx, p.ID); err == nil {
		t.Errorf("ReleasePool(%s) twice succeeded", p.ID)
	}
	// The subnet is free again.
	p = requestPool(t, d, subnet, "")
	if err := d.ReleasePool(ctx, p.ID); err != nil {
		t.Fatalf("ReleasePool(%s): %v", p.ID, err)
	}
}

func testChosenPool(t *testing.T, d ipam.Driver) {
	ctx := t.Context()
	local, _, err := d.DefaultAddressSpaces(ctx)
	if err != nil {
		t.Fatalf("DefaultAddressSpaces: %v", err)
	}
	p1, err := d.RequestPool(ctx, ipam.PoolRequest{AddressSpace: local})
	if err != nil {
		t.Fatalf("RequestPool(any): %v", err)
	}
	p2, err := d.RequestPool(ctx, ipam.PoolRequest{AddressSpace: local})
	if err != nil {
		t.Fatalf("RequestPool(any) again: %v", err)
	}
	for _, p := range []ipam.Pool{p1, p2} {
		if p.ID == "" || !p.Prefix.IsValid() || !p.Prefix.Addr().Is4() {
			t.Errorf("RequestPool(any) = %+v; want an ID and an IPv4 subnet", p)
		}
	}
	if p1.ID == p2.ID || p1.Prefix.Overlaps(p2.Prefix) {
		t.Errorf("two chosen pools %+v and %+v overlap", p1, p2)
	}
	for _, p := range []ipam.Pool{p1, p2} {
		if err := d.ReleasePool(ctx, p.ID); err != nil {
			t.Errorf("ReleasePool(%s): %v", p.ID, err)
		}
	}
}

func testStaticAndGateway(t *testing.T, d ipam.Driver) {
	ctx := t.Context()
	p := requestPool(t, d, "10.231.2.0/24", "10.231.2.128/25")
	gwOpts := map[string]string{ipam.RequestAddressType: ipam.GatewayAddressType}
	gw, err := d.RequestAddress(ctx, p.ID, netip.MustParseAddr("10.231.2.1"), gwOpts)
	if err != nil || gw != netip.MustParsePrefix("10.231.2.1/24") {
		t.Fatalf("request gateway 10.231.2.1 = %s, %v; want 10.231.2.1/24", gw, err)
	}
	static := netip.MustParseAddr("10.231.2.7") // outside the sub-pool, inside the pool
	a, err := d.RequestAddress(ctx, p.ID, static, nil)
	if err != nil || a.Addr() != static {
		t.Fatalf("RequestAddress(%s) = %s, %v", static, a, err)
	}
	for _, taken := range []netip.Addr{static, gw.Addr()} {
		if _, err := d.RequestAddress(ctx, p.ID, taken, nil); err == nil {
			t.Errorf("RequestAddress(%s) while it is allocated succeeded", taken)
		}
	}
	dyn, err := d.RequestAddress(ctx, p.ID, netip.Addr{}, nil)
	if err != nil || !netip.MustParsePrefix("10.231.2.128/25").Contains(dyn.Addr()) {
		t.Fatalf("RequestAddress(any) = %s, %v; want an address of the sub-pool 10.231.2.128/25", dyn, err)
	}
	for _, x := range []netip.Addr{dyn.Addr(), static, gw.Addr()} {
		if err := d.ReleaseAddress(ctx, p.ID, x); err != nil {
			t.Errorf("ReleaseAddress(%s): %v", x, err)
		}
	}
	if err := d.ReleasePool(ctx, p.ID); err != nil {
		t.Errorf("ReleasePool(%s): %v", p.ID, err)
	}
}

func testUnknownPool(t *testing.T, d ipam.Driver) {
	ctx := t.Context()
	const id = "no-such-pool"
	if _, err := d.RequestAddress(ctx, id, netip.Addr{}, nil); err == nil {
		t.Errorf("RequestAddress(%s) succeeded", id)
	}
	if err := d.ReleaseAddress(ctx, id, netip.MustParseAddr("10.231.3.2")); err == nil {
		t.Errorf("ReleaseAddress(%s) succeeded", id)
	}
	if err := d.ReleasePool(ctx, id); err == nil {
		t.Errorf("ReleasePool(%s) succeeded", id)
	}
}

func testOutside(t *testing.T, d ipam.Driver) {
	ctx := t.Context()
	p := requestPool(t, d, "10.231.4.0/24", "")
	for _, a := range []string{"10.231.5.1", "fd31:9a7c:11::1"} {
		if _, err := d.RequestAddress(ctx, p.ID, netip.MustParseAddr(a), nil); err == nil {
			t.Errorf("RequestAddress(%s) outside %s succeeded", a, p.Prefix)
		}
	}
	if err := d.ReleasePool(ctx, p.ID); err != nil {
		t.Errorf("ReleasePool(%s): %v", p.ID, err)
	}
}

func testCancelled(t *testing.T, d ipam.Driver) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if p, err := d.RequestPool(ctx, ipam.PoolRequest{Pool: netip.MustParsePrefix("10.231.6.0/24")}); err == nil {
		t.Errorf("RequestPool with a cancelled context = %+v, want an error", p)
	}
}
