package ipam

import (
	"net/netip"
	"slices"

	"github.com/patchbay/patchbay/cnm"
)

// Overlaps reports whether two prefixes share any address. Host bits are
// ignored, IPv4-mapped IPv6 prefixes count as the IPv4 prefixes they map,
// and an invalid prefix overlaps nothing.
func Overlaps(a, b netip.Prefix) bool {
	a, b = unmapPrefix(a), unmapPrefix(b)
	if !a.IsValid() || !b.IsValid() {
		return false
	}
	return a.Masked().Overlaps(b.Masked())
}

// span is an inclusive address range.
type span struct{ lo, hi netip.Addr }

// ChooseSubnet returns the first subnet, scanning pools in order and each
// pool's subnets in address order, that overlaps none of avoid. Only
// pools of the requested family are used (IPv6 if v6, else IPv4), and
// pools whose Size is out of range for their base are skipped. Avoid
// prefixes are taken with their host bits cleared, so an interface
// address given with its prefix length (172.17.0.1/16) avoids its whole
// subnet. It fails with an error of kind cnm.ErrUnavailable when every
// subnet overlaps.
//
// It runs in O((len(pools) + len(avoid)) log len(avoid)): after a
// candidate subnet hits an avoided range it jumps past that range instead
// of trying each subnet in between.
func ChooseSubnet(pools []PoolSpec, avoid []netip.Prefix, v6 bool) (netip.Prefix, error) {
	used := mergeSpans(avoid, v6)
	for _, pool := range pools {
		if p, ok := choose(pool, used, v6); ok {
			return p, nil
		}
	}
	family := "IPv4"
	if v6 {
		family = "IPv6"
	}
	return netip.Prefix{}, cnm.Unavailable("could not find an available, non-overlapping %s address pool among the defaults to assign to the network", family)
}

// choose returns the first subnet of pool that overlaps none of used,
// which is sorted and disjoint.
func choose(pool PoolSpec, used []span, v6 bool) (netip.Prefix, bool) {
	base, size := unmapPrefix(pool.Base), pool.Size
	if base != pool.Base {
		size -= 96
	}
	if !base.IsValid() || base.Addr().Is6() != v6 || size < base.Bits() || size > base.Addr().BitLen() {
		return netip.Prefix{}, false
	}
	base = base.Masked()
	end := lastAddr(base)
	cand := netip.PrefixFrom(base.Addr(), size)
	for {
		// The first used range not wholly below the candidate.
		i, _ := slices.BinarySearchFunc(used, cand.Addr(), func(s span, a netip.Addr) int {
			return s.hi.Compare(a)
		})
		if i == len(used) || used[i].lo.Compare(lastAddr(cand)) > 0 {
			return cand, true
		}
		// Skip every subnet up to the one holding the range's end.
		next := lastAddr(netip.PrefixFrom(used[i].hi, size)).Next()
		if !next.IsValid() || next.Compare(end) > 0 {
			return netip.Prefix{}, false
		}
		cand = netip.PrefixFrom(next, size)
	}
}

// mergeSpans turns the prefixes of one family into sorted, disjoint
// address ranges.
func mergeSpans(ps []netip.Prefix, v6 bool) []span {
	spans := make([]span, 0, len(ps))
	for _, p := range ps {
		p = unmapPrefix(p)
		if !p.IsValid() || p.Addr().Is6() != v6 {
			continue
		}
		p = p.Masked()
		spans = append(spans, span{p.Addr(), lastAddr(p)})
	}
	slices.SortFunc(spans, func(a, b span) int { return a.lo.Compare(b.lo) })
	out := spans[:0]
	for _, s := range spans {
		if n := len(out); n > 0 && s.lo.Compare(out[n-1].hi) <= 0 {
			if s.hi.Compare(out[n-1].hi) > 0 {
				out[n-1].hi = s.hi
			}
			continue
		}
		out = append(out, s)
	}
	return out
}
