package engine

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"strings"

	"github.com/patchbay/patchbay/internal/nl"
	"github.com/vishvananda/netlink"
)

// usedPrefixes lists what a new subnet must not overlap: every other
// network's subnets, every route of the host's main table but the
// default ones (gateway routes too, so VPN ranges are respected), every
// interface address, and the host's nameservers. Caller holds opMu.
func (e *Engine) usedPrefixes() ([]used, error) {
	var out []used
	e.mu.RLock()
	for _, n := range e.networks {
		for _, c := range n.IPAM.Config {
			out = append(out, used{c.Subnet, fmt.Sprintf("network %s (%s)", n.Name, c.Subnet), n.Driver})
		}
	}
	e.mu.RUnlock()
	routes, err := e.host.Handle.RouteList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("list host routes: %w", err)
	}
	links := map[int]string{}
	if ls, err := e.host.Handle.LinkList(); err == nil {
		for _, l := range ls {
			links[l.Attrs().Index] = l.Attrs().Name
		}
	}
	for _, r := range routes {
		p, ok := nl.Prefix(r.Dst)
		if !ok || p.Bits() == 0 || p.Addr().IsLinkLocalUnicast() || p.Addr().IsMulticast() {
			continue
		}
		out = append(out, used{p.Masked(), fmt.Sprintf("host route %s dev %s", p.Masked(), links[r.LinkIndex]), ""})
	}
	addrs, err := e.host.Handle.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("list host addresses: %w", err)
	}
	for _, a := range addrs {
		p, ok := nl.Prefix(a.IPNet)
		if !ok || p.Addr().IsLoopback() || p.Addr().IsLinkLocalUnicast() {
			continue
		}
		out = append(out, used{netip.PrefixFrom(p.Addr(), p.Addr().BitLen()), fmt.Sprintf("host address %s on %s", p, links[a.LinkIndex]), ""})
	}
	for _, ns := range hostNameservers(e.cfg.ResolvConf) {
		out = append(out, used{netip.PrefixFrom(ns, ns.BitLen()), fmt.Sprintf("host nameserver %s", ns), ""})
	}
	return out, nil
}

func hostNameservers(path string) []netip.Addr {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []netip.Addr
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "nameserver" {
			if a, err := netip.ParseAddr(f[1]); err == nil && !a.IsLoopback() {
				out = append(out, a.Unmap())
			}
		}
	}
	return out
}
