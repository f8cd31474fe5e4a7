package nl

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
)

// HostPrefix is a prefix a namespace uses, and what uses it, e.g.
// "host route 10.8.0.0/16 dev tun0" or "host address 192.168.1.5/24 on
// eth0".
type HostPrefix struct {
	Prefix netip.Prefix
	Source string
}

// HostUses lists the prefixes a new network's subnet must not overlap in
// the namespace of h: every route of the main table but default,
// link-local and multicast ones (gateway routes too, so VPN ranges are
// respected), and every interface address but loopback and link-local
// ones, as a single-address prefix.
func HostUses(ctx context.Context, h *netlink.Handle) ([]HostPrefix, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list host prefixes: %w", err)
	}
	routes, err := h.RouteList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("list host routes: %w", err)
	}
	links := map[int]string{}
	if ls, err := h.LinkList(); err == nil {
		for _, l := range ls {
			links[l.Attrs().Index] = l.Attrs().Name
		}
	}
	var out []HostPrefix
	for _, r := range routes {
		p, ok := Prefix(r.Dst)
		if !ok || p.Bits() == 0 || p.Addr().IsLinkLocalUnicast() || p.Addr().IsMulticast() {
			continue
		}
		out = append(out, HostPrefix{p.Masked(), fmt.Sprintf("host route %s dev %s", p.Masked(), links[r.LinkIndex])})
	}
	addrs, err := h.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("list host addresses: %w", err)
	}
	for _, a := range addrs {
		p, ok := Prefix(a.IPNet)
		if !ok || p.Addr().IsLoopback() || p.Addr().IsLinkLocalUnicast() {
			continue
		}
		out = append(out, HostPrefix{netip.PrefixFrom(p.Addr(), p.Addr().BitLen()), fmt.Sprintf("host address %s on %s", p, links[a.LinkIndex])})
	}
	return out, nil
}

// HostPrefixes is HostUses without the sources. Bound to a handle, it
// has the shape an IPAM driver takes to learn what to avoid:
//
//	func(ctx context.Context) ([]netip.Prefix, error) { return nl.HostPrefixes(ctx, h) }
func HostPrefixes(ctx context.Context, h *netlink.Handle) ([]netip.Prefix, error) {
	uses, err := HostUses(ctx, h)
	if err != nil {
		return nil, err
	}
	out := make([]netip.Prefix, len(uses))
	for i, u := range uses {
		out[i] = u.Prefix
	}
	return out, nil
}
