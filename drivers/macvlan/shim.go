package macvlan

import (
	"fmt"
	"net/netip"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/driver"
	"github.com/patchbay/patchbay/internal/nl"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// ShimAux is the name of the auxiliary address (--aux-address
// host=IP) the host's shim takes when the host has no address of its
// own in the subnet.
const ShimAux = "host"

// The kernel never passes frames between a macvlan and its parent, so
// the host cannot reach its own macvlan containers through the parent.
// With host_access the host gets a shim: one more macvlan on the parent,
// in the network's mode, kept in the host namespace, with a route to the
// container range (the --ip-range, else the subnet) through it.
//
// Its source address is the auxiliary address "host" if the network has
// one, put on the shim; otherwise the host's own address on the parent
// in that subnet, left where it is. Then the shim answers ARP for it only
// from addresses routed through the shim (arp_filter), so LAN hosts keep
// seeing the parent's MAC for the host's address.

// shimRoute is one route the shim carries.
type shimRoute struct {
	dst, src netip.Prefix
	own      bool // src is the shim's own address
}

// shimRoutes works out the shim's routes and addresses for a network.
func shimRoutes(h driver.Host, st netState, parent netlink.Link) ([]shimRoute, error) {
	var out []shimRoute
	for _, s := range st.nw.Subnets {
		if !s.Prefix.Addr().Is4() {
			continue // IPv4 only, for now
		}
		dst := s.Prefix
		if s.IPRange.IsValid() {
			dst = s.IPRange
		}
		r := shimRoute{dst: dst}
		if a, ok := s.Aux[ShimAux]; ok {
			r.src, r.own = netip.PrefixFrom(a, 32), true
		} else {
			addrs, err := h.Handle.AddrList(parent, netlink.FAMILY_V4)
			if err != nil {
				return nil, fmt.Errorf("list addresses of %s: %w", st.parent, err)
			}
			for _, a := range addrs {
				if p, ok := nl.Prefix(a.IPNet); ok && s.Prefix.Contains(p.Addr()) {
					r.src = netip.PrefixFrom(p.Addr(), 32)
					break
				}
			}
		}
		if !r.src.IsValid() {
			return nil, cnm.Invalid("host_access: the host has no address in %s on %s; reserve one for its shim with --aux-address %s=IP", s.Prefix, st.parent, ShimAux)
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, cnm.Invalid("host_access needs an IPv4 subnet")
	}
	return out, nil
}

// ensureShim makes or re-asserts the network's shim. It removes what it
// made if it fails.
func ensureShim(h driver.Host, st netState) (retErr error) {
	name := ShimName(st.nw)
	parent, err := h.Handle.LinkByName(st.parent)
	if err != nil {
		return fmt.Errorf("look up parent %s: %w", st.parent, err)
	}
	routes, err := shimRoutes(h, st, parent)
	if err != nil {
		return err
	}
	tag := netTag(h, st.nw.ID)
	shim, err := h.Handle.LinkByName(name)
	switch {
	case err == nil && shim.Attrs().Alias != tag:
		return cnm.Conflict("create shim %s: an interface of that name exists and is not this network's", name)
	case err == nil:
	case nl.IsNotFound(err):
		mv := &netlink.Macvlan{
			LinkAttrs: netlink.LinkAttrs{Name: name, ParentIndex: parent.Attrs().Index, TxQLen: -1},
			Mode:      st.o.kernelMode(),
		}
		if err := h.Handle.LinkAdd(mv); err != nil {
			return fmt.Errorf("create shim %s on %s: %w", name, st.parent, err)
		}
		defer func() {
			if retErr != nil {
				_ = h.Handle.LinkDel(mv)
			}
		}()
		if err := h.Handle.LinkSetAlias(mv, tag); err != nil {
			return fmt.Errorf("tag shim %s: %w", name, err)
		}
		if err := h.Handle.LinkSetIP6AddrGenMode(mv, nl.AddrGenModeNone); err != nil {
			return fmt.Errorf("set addrgenmode of shim %s: %w", name, err)
		}
		if shim, err = h.Handle.LinkByName(name); err != nil {
			return fmt.Errorf("look up shim %s: %w", name, err)
		}
	default:
		return fmt.Errorf("look up shim %s: %w", name, err)
	}
	if err := nl.Sysctl(h.NS, "ipv4/conf/"+name+"/arp_filter", "1"); err != nil {
		return err
	}
	for _, r := range routes {
		if err := checkRoute(h, r.dst, shim); err != nil {
			return err
		}
		if r.own {
			if err := h.Handle.AddrReplace(shim, nl.Addr(r.src)); err != nil {
				return fmt.Errorf("add %s to shim %s: %w", r.src, name, err)
			}
		}
	}
	if err := h.Handle.LinkSetUp(shim); err != nil {
		return fmt.Errorf("set shim %s up: %w", name, err)
	}
	for _, r := range routes {
		rt := &netlink.Route{
			LinkIndex: shim.Attrs().Index, Dst: nl.IPNet(r.dst), Src: nl.IP(r.src.Addr()),
			Scope: netlink.SCOPE_LINK, Protocol: unix.RTPROT_STATIC,
		}
		if err := h.Handle.RouteReplace(rt); err != nil {
			return fmt.Errorf("route %s via shim %s: %w", r.dst, name, err)
		}
	}
	return nil
}

// checkRoute refuses a container range the host already routes elsewhere
// with the same prefix: the shim's route would replace it.
func checkRoute(h driver.Host, dst netip.Prefix, shim netlink.Link) error {
	routes, err := h.Handle.RouteListFiltered(netlink.FAMILY_V4,
		&netlink.Route{Dst: nl.IPNet(dst), Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_DST|netlink.RT_FILTER_TABLE)
	if err != nil {
		return fmt.Errorf("list routes to %s: %w", dst, err)
	}
	for _, r := range routes {
		if r.LinkIndex == shim.Attrs().Index {
			continue
		}
		dev := fmt.Sprint(r.LinkIndex)
		if l, err := h.Handle.LinkByIndex(r.LinkIndex); err == nil {
			dev = l.Attrs().Name
		}
		return cnm.Conflict("host_access: the host already routes %s via %s; give the containers a slice of the LAN with --ip-range", dst, dev)
	}
	return nil
}
