package engine

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"strings"

	"github.com/patchbay/patchbay/internal/nl"
)

// usedPrefixes lists what a new subnet must not overlap: every other
// network's subnets, every route of the host's main table but the
// default ones (gateway routes too, so VPN ranges are respected), every
// interface address, and the host's nameservers. Caller holds opMu.
func (e *Engine) usedPrefixes() ([]used, error) {
	var out []used
	e.mu.RLock()
	for _, n := range e.allNetworksLocked() {
		for _, c := range n.IPAM.Config {
			out = append(out, used{c.Subnet, fmt.Sprintf("network %s (%s)", n.Name, c.Subnet), n.Driver})
		}
	}
	e.mu.RUnlock()
	host, err := nl.HostUses(e.ctx, e.host.Handle)
	if err != nil {
		return nil, err
	}
	for _, h := range host {
		out = append(out, used{h.Prefix, h.Source, ""})
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
