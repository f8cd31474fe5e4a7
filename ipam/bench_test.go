package ipam

import (
	"net/netip"
	"testing"
)

func BenchmarkNext(b *testing.B) {
	c := cfg("10.1.0.0/16", "", "")
	for b.Loop() {
		a, err := NewAllocator(c)
		if err != nil {
			b.Fatal(err)
		}
		for range 1000 {
			if _, err := a.Next(); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkNextV6(b *testing.B) {
	c := cfg("fd00::/64", "", "")
	for b.Loop() {
		a, err := NewAllocator(c)
		if err != nil {
			b.Fatal(err)
		}
		for range 1000 {
			if _, err := a.Next(); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkChooseSubnet searches Docker's default pools and then a /8
// split into /24 while avoiding 1000 prefixes: all of 172.16.0.0/12, a
// host route in each /24 of 192.168.0.0/16 and in each of the first 743
// /24 of 10.0.0.0/8.
func BenchmarkChooseSubnet(b *testing.B) {
	pools := append(DefaultPools(), PoolSpec{Base: netip.MustParsePrefix("10.0.0.0/8"), Size: 24})
	avoid := []netip.Prefix{netip.MustParsePrefix("172.16.0.0/12")}
	for i := range 256 {
		avoid = append(avoid, netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 168, byte(i), 7}), 32))
	}
	for i := range 743 {
		avoid = append(avoid, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i / 256), byte(i % 256), 1}), 32))
	}
	want := netip.MustParsePrefix("10.2.231.0/24")
	for b.Loop() {
		if got, err := ChooseSubnet(pools, avoid, false); err != nil || got != want {
			b.Fatalf("ChooseSubnet = %v, %v; want %s", got, err, want)
		}
	}
}
