package nl_test

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/patchbay/patchbay/internal/netnstest"
	"github.com/patchbay/patchbay/internal/nl"
)

func TestHostUses(t *testing.T) {
	h := netnstest.NewHost(t)
	// A gateway route counts too (a VPN's range, say).
	vpn := &netlink.Route{Dst: nl.IPNet(netip.MustParsePrefix("10.8.0.0/16")), Gw: nl.IP(netnstest.OutsideAddr.Addr())}
	if err := h.Handle.RouteAdd(vpn); err != nil {
		t.Fatal(err)
	}
	uses, err := nl.HostUses(context.Background(), h.Handle)
	if err != nil {
		t.Fatal(err)
	}
	want := []nl.HostPrefix{
		{netip.MustParsePrefix("192.0.2.0/24"), "host route 192.0.2.0/24 dev uplink"},
		{netip.MustParsePrefix("10.8.0.0/16"), "host route 10.8.0.0/16 dev uplink"},
		{netip.MustParsePrefix("192.0.2.2/32"), "host address 192.0.2.2/24 on uplink"},
	}
	for _, w := range want {
		if !slices.Contains(uses, w) {
			t.Errorf("HostUses lacks %v; got %v", w, uses)
		}
	}
	for _, u := range uses {
		if u.Prefix.Bits() == 0 || u.Prefix.Addr().IsLoopback() || u.Prefix.Addr().IsLinkLocalUnicast() || u.Prefix.Addr().IsMulticast() {
			t.Errorf("HostUses lists %v, which never blocks a subnet", u)
		}
	}
	ps, err := nl.HostPrefixes(context.Background(), h.Handle)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != len(uses) {
		t.Fatalf("HostPrefixes = %v, want the prefixes of %v", ps, uses)
	}
	for i := range ps {
		if ps[i] != uses[i].Prefix {
			t.Errorf("HostPrefixes[%d] = %v, want %v", i, ps[i], uses[i].Prefix)
		}
	}
}

func TestHostUsesCanceled(t *testing.T) {
	h := netnstest.NewHost(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := nl.HostPrefixes(ctx, h.Handle); !errors.Is(err, context.Canceled) {
		t.Fatalf("HostPrefixes after cancel: %v, want context.Canceled", err)
	}
}
