package ipam

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/patchbay/patchbay/cnm"
)

// PoolSpec is a base prefix split into subnets of Size bits.
type PoolSpec struct {
	Base netip.Prefix
	Size int
}

// String formats p the way ParsePools reads it back: "base/size", as in
// "172.17.0.0/16/16".
func (p PoolSpec) String() string {
	return p.Base.String() + "/" + strconv.Itoa(p.Size)
}

// DefaultPools returns Docker's default local address pools: 172.17.0.0/16
// through 172.31.0.0/16 as fifteen /16 subnets, then 192.168.0.0/16 split
// into /20 subnets.
func DefaultPools() []PoolSpec {
	p := func(s string, size int) PoolSpec {
		return PoolSpec{Base: netip.MustParsePrefix(s), Size: size}
	}
	return []PoolSpec{
		p("172.17.0.0/16", 16),
		p("172.18.0.0/16", 16),
		p("172.19.0.0/16", 16),
		p("172.20.0.0/14", 16),
		p("172.24.0.0/14", 16),
		p("172.28.0.0/14", 16),
		p("192.168.0.0/16", 20),
	}
}

// ParsePools parses a list of address pools. Items are separated by
// commas or semicolons, blanks around them are ignored, and each pool is
// written either as
//
//	172.17.0.0/16/16          base CIDR, a slash, the subnet size
//	base=172.80.0.0/16,size=24  Docker's default-address-pools form
//
// The two forms may be mixed; a "size=N" item belongs to the "base=" item
// before it. The base must have no host bits set, and the size must be at
// least the base's prefix length and at most 32 (IPv4) or 128 (IPv6).
// An empty or blank string yields no pools. Errors are of kind
// cnm.ErrInvalid.
func ParsePools(s string) ([]PoolSpec, error) {
	var out []PoolSpec
	pending := false // the last pool came from "base=" and awaits "size="
	for item := range strings.FieldsFuncSeq(s, func(r rune) bool { return r == ',' || r == ';' }) {
		item = strings.TrimSpace(item)
		switch {
		case item == "":
			continue
		case strings.HasPrefix(item, "base="):
			if pending {
				return nil, cnm.Invalid("invalid address pool base=%s: missing size", out[len(out)-1].Base)
			}
			base, err := parseBase(strings.TrimPrefix(item, "base="))
			if err != nil {
				return nil, err
			}
			out = append(out, PoolSpec{Base: base})
			pending = true
		case strings.HasPrefix(item, "size="):
			if !pending {
				return nil, cnm.Invalid("invalid address pool item %q: size without a preceding base", item)
			}
			p := &out[len(out)-1]
			n, err := parseSize(p.Base, strings.TrimPrefix(item, "size="))
			if err != nil {
				return nil, err
			}
			p.Size = n
			pending = false
		default:
			if pending {
				return nil, cnm.Invalid("invalid address pool base=%s: missing size", out[len(out)-1].Base)
			}
			i := strings.LastIndexByte(item, '/')
			if i < 0 || strings.Count(item, "/") != 2 {
				return nil, cnm.Invalid("invalid address pool %q: want base/size, like 172.17.0.0/16/24", item)
			}
			base, err := parseBase(item[:i])
			if err != nil {
				return nil, err
			}
			n, err := parseSize(base, item[i+1:])
			if err != nil {
				return nil, err
			}
			out = append(out, PoolSpec{Base: base, Size: n})
		}
	}
	if pending {
		return nil, cnm.Invalid("invalid address pool base=%s: missing size", out[len(out)-1].Base)
	}
	return out, nil
}

func parseBase(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, cnm.Invalid("invalid address pool base %q: not a CIDR", s)
	}
	if m := p.Masked(); m != p {
		return netip.Prefix{}, cnm.Invalid("invalid address pool base %s: host bits set, did you mean %s", p, m)
	}
	return p, nil
}

func parseSize(base netip.Prefix, s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, cnm.Invalid("invalid size %q of address pool %s: not a number", s, base)
	}
	if n < base.Bits() || n > base.Addr().BitLen() {
		return 0, cnm.Invalid("invalid size %d of address pool %s: want %d to %d", n, base, base.Bits(), base.Addr().BitLen())
	}
	return n, nil
}
