package engine

import (
	"bufio"
	"bytes"
	"context"
	"net/netip"
	"os"
	"strings"

	"github.com/patchbay/patchbay/internal/nl"
)

// hostPrefixes lists what the default IPAM driver's new subnets must
// not overlap on the host: every route of the host's main table but the
// default ones (gateway routes too, so VPN ranges are respected), every
// interface address, and the host's nameservers.
func (e *Engine) hostPrefixes(ctx context.Context) ([]netip.Prefix, error) {
	out, err := nl.HostPrefixes(ctx, e.host.Handle)
	if err != nil {
		return nil, err
	}
	for _, ns := range hostNameservers(e.cfg.ResolvConf) {
		out = append(out, netip.PrefixFrom(ns, ns.BitLen()))
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
