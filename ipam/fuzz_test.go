package ipam

import (
	"net/netip"
	"strings"
	"testing"
)

func FuzzParsePools(f *testing.F) {
	for _, s := range []string{
		"172.17.0.0/16/16,10.10.0.0/16/24",
		"base=172.80.0.0/16,size=24;base=fd00::/48,size=64",
		"10.0.0.0/8", "size=3", "1.2.3.4/32/32", "::/0/128", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		pools, err := ParsePools(s)
		if err != nil {
			return
		}
		var parts []string
		for _, p := range pools {
			if !p.Base.IsValid() || p.Base.Masked() != p.Base || p.Size < p.Base.Bits() || p.Size > p.Base.Addr().BitLen() {
				t.Fatalf("ParsePools(%q) returned bad pool %+v", s, p)
			}
			parts = append(parts, p.String())
		}
		again, err := ParsePools(strings.Join(parts, ","))
		if err != nil || len(again) != len(pools) {
			t.Fatalf("reparse of %q: %v, %v", parts, again, err)
		}
		for i := range again {
			if again[i] != pools[i] {
				t.Fatalf("reparse of %q: %v, want %v", parts, again, pools)
			}
		}
		// Choosing must terminate and return a subnet of a pool.
		for _, v6 := range []bool{false, true} {
			p, err := ChooseSubnet(pools, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/9")}, v6)
			if err == nil && (p.Addr().Is6() != v6 || Overlaps(p, netip.MustParsePrefix("10.0.0.0/9"))) {
				t.Fatalf("ChooseSubnet(%v, v6=%v) = %s", pools, v6, p)
			}
		}
	})
}

func FuzzNormalize(f *testing.F) {
	f.Add("10.0.1.0/24", "10.0.1.128/25", "10.0.1.1", "h", "10.0.1.9")
	f.Add("10.0.1.5/24", "", "", "", "")
	f.Add("fd00::/64", "", "fd00::", "a", "fd00::1")
	f.Add("10.0.0.0/31", "", "", "", "")
	f.Add("::ffff:10.0.0.0/120", "", "::ffff:10.0.0.3", "x", "10.0.0.2")
	f.Fuzz(func(t *testing.T, subnet, ipRange, gw, auxName, auxAddr string) {
		var c Config
		c.Subnet, _ = netip.ParsePrefix(subnet)
		c.IPRange, _ = netip.ParsePrefix(ipRange)
		c.Gateway, _ = netip.ParseAddr(gw)
		if a, err := netip.ParseAddr(auxAddr); err == nil {
			c.Aux = map[string]netip.Addr{auxName: a}
		}
		n, err := c.Normalize()
		if err != nil {
			return
		}
		again, err := n.Normalize()
		if err != nil || !equalConfig(again, n) {
			t.Fatalf("Normalize(%+v) = %+v, then %+v, %v", c, n, again, err)
		}
		s := n.Subnet
		if !s.Contains(n.Gateway) || special(s, n.Gateway) != "" {
			t.Fatalf("Normalize(%+v): bad gateway %s", c, n.Gateway)
		}
		if n.IPRange.IsValid() && (!s.Contains(n.IPRange.Addr()) || n.IPRange.Bits() < s.Bits()) {
			t.Fatalf("Normalize(%+v): bad ip-range %s", c, n.IPRange)
		}
		for name, a := range n.Aux {
			if !s.Contains(a) || a == n.Gateway {
				t.Fatalf("Normalize(%+v): bad aux %s=%s", c, name, a)
			}
		}
	})
}

// FuzzAllocator runs a random sequence of operations on a small subnet
// against a model. Each op byte picks Next, Reserve or Release (b%3) and
// an address offset in the subnet (b/3).
func FuzzAllocator(f *testing.F) {
	f.Add(uint8(0), uint8(0), false, []byte{0, 0, 0, 0, 0, 0, 0, 0, 4, 0})
	f.Add(uint8(2), uint8(1), false, []byte{0, 1, 2, 3, 4, 5, 0, 0})
	f.Add(uint8(3), uint8(0), true, []byte{0, 7, 0, 5, 0})
	f.Add(uint8(4), uint8(2), true, []byte{0, 0, 1, 3})
	f.Fuzz(func(t *testing.T, hostBits, rangeBits uint8, v6 bool, ops []byte) {
		hostBits %= 6 // subnets of 1 to 32 addresses
		base := netip.MustParseAddr("10.0.1.0")
		if v6 {
			base = netip.MustParseAddr("fd00::100")
		}
		sub := netip.PrefixFrom(base, base.BitLen()-int(hostBits))
		c := Config{Subnet: sub}
		// rangeBits%4 narrows an ip-range at the start (or, with bit 2 set,
		// at the end) of the subnet; 0 means none.
		if n := int(rangeBits % 4); n != 0 && n <= int(hostBits) {
			at := sub.Addr()
			if rangeBits&4 != 0 {
				at = lastAddr(sub)
			}
			c.IPRange = netip.PrefixFrom(at, sub.Bits()+n).Masked()
		}
		a, err := NewAllocator(c)
		if err != nil {
			return // e.g. no room for a gateway
		}
		c = a.Config()
		rng := c.Subnet
		if c.IPRange.IsValid() {
			rng = c.IPRange
		}
		addr := func(off int) netip.Addr {
			ip := sub.Addr()
			for range off % (1 << hostBits) {
				ip = ip.Next()
			}
			return ip
		}
		model := map[netip.Addr]bool{}
		for _, b := range ops {
			ip := addr(int(b / 3))
			switch b % 3 {
			case 0:
				got, err := a.Next()
				if err != nil {
					// Full: every usable address of the range is taken.
					for x := rng.Addr(); rng.Contains(x); x = x.Next() {
						if !model[x] && x != c.Gateway && special(sub, x) == "" {
							t.Fatalf("Next failed with %s free: %v", x, err)
						}
					}
					continue
				}
				if model[got] || got == c.Gateway || special(sub, got) != "" || !rng.Contains(got) {
					t.Fatalf("Next = %s: taken, gateway, special or out of range", got)
				}
				model[got] = true
			case 1:
				err := a.Reserve(ip)
				ok := !model[ip] && ip != c.Gateway && special(sub, ip) == ""
				if (err == nil) != ok {
					t.Fatalf("Reserve(%s) = %v, model says ok=%v", ip, err, ok)
				}
				if err == nil {
					model[ip] = true
				}
			case 2:
				a.Release(ip)
				delete(model, ip)
			}
			if a.Len() != len(model) {
				t.Fatalf("Len = %d, model has %d", a.Len(), len(model))
			}
			for x := range model {
				if !a.InUse(x) {
					t.Fatalf("%s allocated but not InUse", x)
				}
			}
		}
	})
}
