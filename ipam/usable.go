package ipam

import (
	"net/netip"
	"slices"

	"github.com/patchbay/patchbay/cnm"
)

// reserved is one block of addresses no network can use, and why.
type reserved struct {
	block netip.Prefix
	rule  string
}

// unusable lists the blocks a subnet may not overlap: the kernel gives
// their addresses a meaning of their own (the host's loopback, this
// host, every host, a multicast group, each link's automatic address),
// so a bridge or a sandbox holding one breaks routing on the host or in
// the sandbox. It is a function, not a variable: no package state.
func unusable() []reserved {
	return []reserved{
		{netip.MustParsePrefix("0.0.0.0/8"), "0.0.0.0/8 is \"this network\" (RFC 1122)"},
		{netip.MustParsePrefix("127.0.0.0/8"), "127.0.0.0/8 is loopback"},
		{netip.MustParsePrefix("224.0.0.0/4"), "224.0.0.0/4 is multicast"},
		{netip.MustParsePrefix("255.255.255.255/32"), "255.255.255.255 is the limited broadcast address"},
		{netip.MustParsePrefix("::/127"), "::/128 is unspecified and ::1 is loopback"},
		{netip.MustParsePrefix("::ffff:0:0/96"), "::ffff:0:0/96 is IPv4-mapped IPv6: write the IPv4 subnet"},
		{netip.MustParsePrefix("fe80::/10"), "fe80::/10 is link-local: every interface has an address there"},
		{netip.MustParsePrefix("ff00::/8"), "ff00::/8 is multicast"},
	}
}

// CheckSubnet fails, with an error of kind cnm.ErrInvalid naming the
// rule, if no network can use subnet p: it overlaps loopback, multicast,
// 0.0.0.0/8, the limited broadcast address, IPv6 link-local, or is
// IPv4-mapped IPv6. p is checked as written (an IPv4-mapped prefix is
// not unmapped first).
func CheckSubnet(p netip.Prefix) error {
	if !p.IsValid() {
		return cnm.Invalid("invalid subnet: missing or not a CIDR")
	}
	for _, r := range unusable() {
		if r.block.Addr().Is4() != p.Addr().Is4() {
			continue
		}
		if r.block.Overlaps(p) {
			return cnm.Invalid("subnet %s cannot be used: %s", p, r.rule)
		}
	}
	return nil
}

// checkRange fails if the addresses Next may hand out in c (IPRange, or
// Subnet) are all taken by the gateway and auxiliary addresses, or are
// the network and broadcast addresses: no sandbox could join. c is
// normalized but for this check. Only an ip-range is checked: a /32
// network with a gateway is legitimate (its only address is the gateway).
func checkRange(c Config) error {
	r := c.IPRange
	if !r.IsValid() || size(r) > uint64(len(c.Aux))+3 {
		return nil // more addresses than can be taken
	}
	var taken []string
	a := r.Addr()
	for n := size(r); n > 0; n-- {
		switch {
		case a == c.Gateway:
			taken = appendOnce(taken, "the gateway")
		case auxName(c.Aux, a) != "":
			taken = appendOnce(taken, "auxiliary addresses")
		case special(c.Subnet, a) != "":
			taken = appendOnce(taken, "the "+special(c.Subnet, a))
		default:
			return nil
		}
		a = a.Next()
	}
	what := taken[0]
	for i, t := range taken[1:] {
		if i == len(taken)-2 {
			what += " and " + t
		} else {
			what += ", " + t
		}
	}
	return cnm.Invalid("ip-range %s has no address for sandboxes: it holds only %s", r, what)
}

func appendOnce(s []string, v string) []string {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}
