package ipam

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/patchbay/patchbay/cnm"
)

func prefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func TestChooseSubnet(t *testing.T) {
	all172 := prefixes("172.16.0.0/12")
	var each172 []netip.Prefix
	for i := 17; i < 32; i++ {
		each172 = append(each172, netip.PrefixFrom(netip.AddrFrom4([4]byte{172, byte(i), 0, 0}), 16))
	}
	tests := []struct {
		name  string
		pools []PoolSpec
		avoid []netip.Prefix
		v6    bool
		want  string // "" means an error
	}{
		{name: "empty", want: "172.17.0.0/16"},
		{name: "route and host route", avoid: prefixes("172.17.0.0/16", "172.18.5.0/24"), want: "172.19.0.0/16"},
		{name: "interface address", avoid: prefixes("172.17.0.1/16", "172.18.0.1/32"), want: "172.19.0.0/16"},
		{name: "wider route", avoid: prefixes("172.16.0.0/13"), want: "172.24.0.0/16"},
		{name: "all 172", avoid: all172, want: "192.168.0.0/20"},
		{name: "each 172", avoid: each172, want: "192.168.0.0/20"},
		{name: "all 172 and some 192", avoid: append(prefixes("192.168.0.1/32", "192.168.17.0/24", "192.168.32.0/19"), all172...), want: "192.168.64.0/20"},
		{name: "default route ignored family", avoid: prefixes("::/0"), want: "172.17.0.0/16"},
		{name: "everything", avoid: prefixes("0.0.0.0/0"), want: ""},
		{name: "all used", avoid: append(prefixes("192.168.0.0/16"), all172...), want: ""},
		{name: "v6 wanted", pools: append(DefaultPools(), PoolSpec{netip.MustParsePrefix("fd00::/48"), 64}), avoid: prefixes("fd00::/64", "fd00:0:0:1::5/128"), v6: true, want: "fd00:0:0:2::/64"},
		{name: "v6 none", v6: true, want: ""},
		{name: "top of space", pools: []PoolSpec{{netip.MustParsePrefix("255.255.255.0/24"), 30}}, avoid: prefixes("255.255.255.0/25", "255.255.255.128/26", "255.255.255.192/27", "255.255.255.224/28", "255.255.255.240/29", "255.255.255.248/30"), want: "255.255.255.252/30"},
		{name: "top of space full", pools: []PoolSpec{{netip.MustParsePrefix("255.255.255.0/24"), 30}}, avoid: prefixes("255.255.255.0/25", "255.255.255.128/25"), want: ""},
		{name: "bad pool skipped", pools: []PoolSpec{{netip.MustParsePrefix("10.0.0.0/16"), 8}, {netip.MustParsePrefix("10.1.0.0/16"), 24}}, want: "10.1.0.0/24"},
		{name: "mapped pool", pools: []PoolSpec{{netip.MustParsePrefix("::ffff:10.0.0.0/104"), 120}}, avoid: prefixes("10.0.0.0/24"), want: "10.0.1.0/24"},
		{name: "big pool", pools: []PoolSpec{{netip.MustParsePrefix("10.0.0.0/8"), 24}}, avoid: prefixes("10.0.0.0/9", "10.128.0.0/10", "10.192.0.7/32"), want: "10.192.1.0/24"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pools := tt.pools
			if pools == nil {
				pools = DefaultPools()
			}
			got, err := ChooseSubnet(pools, tt.avoid, tt.v6)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("ChooseSubnet = %s, want error", got)
				}
				fam := "IPv4"
				if tt.v6 {
					fam = "IPv6"
				}
				msg := "could not find an available, non-overlapping " + fam + " address pool among the defaults to assign to the network"
				if !errors.Is(err, cnm.ErrUnavailable) || err.Error() != msg {
					t.Fatalf("ChooseSubnet error = %v, want unavailable %q", err, msg)
				}
				return
			}
			if err != nil {
				t.Fatalf("ChooseSubnet: %v", err)
			}
			if got.String() != tt.want {
				t.Fatalf("ChooseSubnet = %s, want %s", got, tt.want)
			}
			for _, a := range tt.avoid {
				if Overlaps(got, a) {
					t.Fatalf("ChooseSubnet = %s overlaps %s", got, a)
				}
			}
		})
	}
}

func TestOverlaps(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"10.0.0.0/8", "10.1.2.0/24", true},
		{"10.1.2.0/24", "10.0.0.0/8", true},
		{"10.0.0.0/24", "10.0.1.0/24", false},
		{"10.0.0.5/24", "10.0.0.200/32", true},
		{"10.0.0.0/8", "::ffff:10.1.0.0/112", true},
		{"10.0.0.0/8", "fd00::/8", false},
		{"0.0.0.0/0", "::/0", false},
		{"fd00::/64", "fd00::1/128", true},
	}
	for _, tt := range tests {
		a, b := netip.MustParsePrefix(tt.a), netip.MustParsePrefix(tt.b)
		if got := Overlaps(a, b); got != tt.want {
			t.Errorf("Overlaps(%s, %s) = %v, want %v", a, b, got, tt.want)
		}
	}
	if Overlaps(netip.Prefix{}, netip.MustParsePrefix("0.0.0.0/0")) {
		t.Error("the zero Prefix overlaps 0.0.0.0/0")
	}
}
