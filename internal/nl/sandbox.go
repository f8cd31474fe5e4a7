package nl

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// MoveInto moves the interface src of the host namespace into a sandbox
// namespace, renames it dst there, gives it mac (if set) and its
// addresses, and brings it up: the placement step for drivers that leave
// an endpoint's interface in the host namespace (plugins).
func MoveInto(host *netlink.Handle, src string, sbNS netns.NsHandle, sb *netlink.Handle, dst string, mac net.HardwareAddr, v4, v6 netip.Prefix) error {
	l, err := host.LinkByName(src)
	if err != nil {
		return fmt.Errorf("find interface %s to move into the sandbox: %w", src, err)
	}
	if err := host.LinkSetDown(l); err != nil {
		return fmt.Errorf("set %s down: %w", src, err)
	}
	if err := host.LinkSetNsFd(l, int(sbNS)); err != nil {
		return fmt.Errorf("move %s into the sandbox: %w", src, err)
	}
	in, err := sb.LinkByName(src)
	if err != nil {
		return fmt.Errorf("find %s in the sandbox: %w", src, err)
	}
	if err := sb.LinkSetName(in, dst); err != nil {
		_ = sb.LinkDel(in)
		return fmt.Errorf("rename %s to %s: %w", src, dst, err)
	}
	if len(mac) > 0 {
		if err := sb.LinkSetHardwareAddr(in, mac); err != nil {
			_ = sb.LinkDel(in)
			return fmt.Errorf("set MAC of %s: %w", dst, err)
		}
	}
	if err := BringUpEndpoint(sb, in, v4, v6); err != nil {
		_ = sb.LinkDel(in)
		return err
	}
	return nil
}

// DefaultRoute sets (or replaces) the default route of gw's family via
// gw on the interface ifName.
func DefaultRoute(h *netlink.Handle, ifName string, gw netip.Addr) error {
	dst := netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	if gw.Is6() {
		dst = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
	}
	if err := Route(h, ifName, dst, gw); err != nil {
		return fmt.Errorf("set default route via %s dev %s: %w", gw, ifName, err)
	}
	return nil
}

// Route sets (or replaces) a route to dst on the interface ifName, via gw
// when it is valid, else to a destination on the link.
func Route(h *netlink.Handle, ifName string, dst netip.Prefix, gw netip.Addr) error {
	link, err := h.LinkByName(ifName)
	if err != nil {
		return fmt.Errorf("find %s: %w", ifName, err)
	}
	r := &netlink.Route{LinkIndex: link.Attrs().Index, Dst: IPNet(dst)}
	if gw.IsValid() {
		r.Gw = IP(gw)
	} else {
		r.Scope = netlink.SCOPE_LINK
	}
	if err := h.RouteReplace(r); err != nil {
		return fmt.Errorf("route %s dev %s: %w", dst, ifName, err)
	}
	return nil
}

// Retire takes an interface out of service in a namespace that stays: it
// goes down and is renamed, so it carries no traffic and its name is
// free at once, while its deletion waits. A missing interface is not an
// error.
func Retire(h *netlink.Handle, name, newName string) error {
	l, err := h.LinkByName(name)
	if err != nil {
		return nil
	}
	if err := h.LinkSetDown(l); err != nil {
		return fmt.Errorf("set %s down: %w", name, err)
	}
	if err := h.LinkSetName(l, newName); err != nil {
		return fmt.Errorf("rename %s: %w", name, err)
	}
	return nil
}

// DeleteUnknown deletes the links of a namespace other than lo whose name
// keep rejects, and returns their names: interfaces no endpoint explains.
func DeleteUnknown(h *netlink.Handle, keep func(name string) bool) ([]string, error) {
	links, err := h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	var gone []string
	for _, l := range links {
		name := l.Attrs().Name
		if name == "lo" || keep(name) {
			continue
		}
		_ = h.LinkDel(l)
		gone = append(gone, name)
	}
	return gone, nil
}
