package ipam

import (
	"math"
	"net/netip"
)

// lastAddr returns the highest address of p (all host bits set).
func lastAddr(p netip.Prefix) netip.Addr {
	p = p.Masked()
	a := p.Addr()
	if a.Is4() {
		b := a.As4()
		setHostBits(b[:], p.Bits())
		return netip.AddrFrom4(b)
	}
	b := a.As16()
	setHostBits(b[:], p.Bits())
	return netip.AddrFrom16(b)
}

// setHostBits sets every bit of b after the first bits bits.
func setHostBits(b []byte, bits int) {
	for i := range b {
		switch lo := i * 8; {
		case bits <= lo:
			b[i] = 0xff
		case bits < lo+8:
			b[i] |= 0xff >> (bits - lo)
		}
	}
}

// canonAddr returns a as it is written in subnet p: without a zone and,
// if p is IPv4, with an IPv4-mapped IPv6 address turned into IPv4.
func canonAddr(p netip.Prefix, a netip.Addr) netip.Addr {
	a = a.WithZone("")
	if p.Addr().Is4() {
		a = a.Unmap()
	}
	return a
}

// unmapPrefix turns an IPv4-mapped IPv6 prefix of at least 96 bits into
// the IPv4 prefix it maps; other prefixes are returned unchanged.
func unmapPrefix(p netip.Prefix) netip.Prefix {
	if p.IsValid() && p.Addr().Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p
}

// allUsable reports whether every address of subnet p may be handed out:
// point-to-point IPv4 /31 and /32 and IPv6 /127 and /128 have no network,
// broadcast or subnet-router anycast address.
func allUsable(p netip.Prefix) bool {
	return p.Addr().BitLen()-p.Bits() <= 1
}

// special names the role of ip in subnet p if it may never be handed
// out or used as a gateway, or returns "".
func special(p netip.Prefix, ip netip.Addr) string {
	if allUsable(p) {
		return ""
	}
	switch {
	case ip == p.Addr() && ip.Is4():
		return "network address"
	case ip == p.Addr():
		return "subnet-router anycast address"
	case ip.Is4() && ip == lastAddr(p):
		return "broadcast address"
	}
	return ""
}

// size returns how many addresses p holds, saturated at math.MaxUint64.
func size(p netip.Prefix) uint64 {
	host := p.Addr().BitLen() - p.Bits()
	if host >= 64 {
		return math.MaxUint64
	}
	return 1 << host
}

// firstUsable returns the lowest address of subnet p that may be handed
// out.
func firstUsable(p netip.Prefix) netip.Addr {
	if allUsable(p) {
		return p.Addr()
	}
	return p.Addr().Next()
}
