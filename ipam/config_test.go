package ipam

import (
	"errors"
	"maps"
	"net/netip"
	"strings"
	"testing"

	"github.com/patchbay/patchbay/cnm"
)

// cfg builds a Config from strings; "" leaves a field zero. aux is
// name=addr pairs.
func cfg(subnet, ipRange, gw string, aux ...string) Config {
	var c Config
	if subnet != "" {
		c.Subnet = netip.MustParsePrefix(subnet)
	}
	if ipRange != "" {
		c.IPRange = netip.MustParsePrefix(ipRange)
	}
	if gw != "" {
		c.Gateway = netip.MustParseAddr(gw)
	}
	for _, kv := range aux {
		name, addr, _ := strings.Cut(kv, "=")
		if c.Aux == nil {
			c.Aux = map[string]netip.Addr{}
		}
		c.Aux[name] = netip.MustParseAddr(addr)
	}
	return c
}

func equalConfig(a, b Config) bool {
	return a.Subnet == b.Subnet && a.IPRange == b.IPRange && a.Gateway == b.Gateway && maps.Equal(a.Aux, b.Aux)
}

func TestNormalize(t *testing.T) {
	tests := []struct {
		name string
		in   Config
		want Config
	}{
		{"default gateway", cfg("10.0.1.0/24", "", ""), cfg("10.0.1.0/24", "", "10.0.1.1")},
		{"explicit gateway", cfg("10.0.1.0/24", "10.0.1.128/25", "10.0.1.254"), cfg("10.0.1.0/24", "10.0.1.128/25", "10.0.1.254")},
		{"aux", cfg("10.0.1.0/24", "", "", "a=10.0.1.1", "b=10.0.1.2"), cfg("10.0.1.0/24", "", "10.0.1.3", "a=10.0.1.1", "b=10.0.1.2")},
		{"aux network address", cfg("10.0.1.0/24", "", "", "a=10.0.1.0"), cfg("10.0.1.0/24", "", "10.0.1.1", "a=10.0.1.0")},
		{"empty aux", Config{Subnet: netip.MustParsePrefix("10.0.1.0/24"), Aux: map[string]netip.Addr{}}, cfg("10.0.1.0/24", "", "10.0.1.1")},
		{"mapped addresses", cfg("10.0.1.0/24", "::ffff:10.0.1.0/121", "::ffff:10.0.1.9", "a=::ffff:10.0.1.10"), cfg("10.0.1.0/24", "10.0.1.0/25", "10.0.1.9", "a=10.0.1.10")},
		{"ip-range of the gateway and one more", cfg("10.0.1.0/24", "10.0.1.0/30", ""), cfg("10.0.1.0/24", "10.0.1.0/30", "10.0.1.1")},
		{"slash 31 without gateway", Config{Subnet: netip.MustParsePrefix("10.0.0.0/31"), NoDefaultGateway: true}, cfg("10.0.0.0/31", "", "")},
		{"link-local IPv4 is usable", cfg("169.254.10.0/24", "", ""), cfg("169.254.10.0/24", "", "169.254.10.1")},
		{"class E below broadcast", cfg("240.0.0.0/24", "", ""), cfg("240.0.0.0/24", "", "240.0.0.1")},
		{"v6", cfg("fd00::/64", "", ""), cfg("fd00::/64", "", "fd00::1")},
		{"slash 31", cfg("10.0.0.0/31", "", ""), cfg("10.0.0.0/31", "", "10.0.0.0")},
		{"slash 32", cfg("10.0.0.7/32", "", ""), cfg("10.0.0.7/32", "", "10.0.0.7")},
		{"slash 127", cfg("fd00::/127", "", ""), cfg("fd00::/127", "", "fd00::")},
		{"ip-range equals subnet", cfg("10.0.1.0/24", "10.0.1.0/24", ""), cfg("10.0.1.0/24", "10.0.1.0/24", "10.0.1.1")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.in.Normalize()
			if err != nil {
				t.Fatalf("Normalize: %v", err)
			}
			if !equalConfig(got, tt.want) {
				t.Fatalf("Normalize = %+v, want %+v", got, tt.want)
			}
			again, err := got.Normalize()
			if err != nil || !equalConfig(again, got) {
				t.Fatalf("Normalize again = %+v, %v; want %+v", again, err, got)
			}
		})
	}
}

func TestNormalizeDoesNotAlias(t *testing.T) {
	in := cfg("10.0.1.0/24", "", "", "a=10.0.1.5")
	out, err := in.Normalize()
	if err != nil {
		t.Fatal(err)
	}
	out.Aux["b"] = netip.MustParseAddr("10.0.1.6")
	if len(in.Aux) != 1 {
		t.Fatal("Normalize returned the caller's Aux map")
	}
}

func TestNormalizeErrors(t *testing.T) {
	tests := []struct {
		name string
		in   Config
		want string
	}{
		{"no subnet", Config{}, "invalid subnet: missing"},
		{"host bits", cfg("10.0.1.5/24", "", ""), "invalid subnet 10.0.1.5/24: host bits set, did you mean 10.0.1.0/24"},
		{"ip-range host bits", cfg("10.0.1.0/24", "10.0.1.130/25", ""), "invalid ip-range 10.0.1.130/25: host bits set, did you mean 10.0.1.128/25"},
		{"ip-range outside", cfg("10.0.1.0/24", "10.1.0.0/24", ""), "ip-range 10.1.0.0/24 is outside subnet 10.0.1.0/24"},
		{"ip-range wider", cfg("10.0.1.0/24", "10.0.0.0/16", ""), "ip-range 10.0.0.0/16 is outside subnet 10.0.1.0/24"},
		{"ip-range family", cfg("10.0.1.0/24", "fd00::/64", ""), "ip-range fd00::/64 is IPv6 but subnet 10.0.1.0/24 is IPv4"},
		{"ip-range invalid", Config{Subnet: netip.MustParsePrefix("10.0.1.0/24"), IPRange: netip.PrefixFrom(netip.MustParseAddr("10.0.1.0"), 40)}, "invalid ip-range"},
		{"gateway outside", cfg("10.0.1.0/24", "", "10.0.2.1"), "gateway 10.0.2.1 is outside subnet 10.0.1.0/24"},
		{"gateway family", cfg("10.0.1.0/24", "", "fd00::1"), "gateway fd00::1 is IPv6 but subnet 10.0.1.0/24 is IPv4"},
		{"gateway network", cfg("10.0.1.0/24", "", "10.0.1.0"), "gateway 10.0.1.0 is the network address of subnet 10.0.1.0/24"},
		{"gateway broadcast", cfg("10.0.1.0/24", "", "10.0.1.255"), "gateway 10.0.1.255 is the broadcast address of subnet 10.0.1.0/24"},
		{"gateway anycast", cfg("fd00::/64", "", "fd00::"), "gateway fd00:: is the subnet-router anycast address of subnet fd00::/64"},
		{"gateway zone", cfg("fd00::/64", "", "fd00::1%eth0"), "invalid gateway fd00::1%eth0: zones are not allowed"},
		{"gateway is aux", cfg("10.0.1.0/24", "", "10.0.1.7", "host1=10.0.1.7"), "gateway 10.0.1.7 is also auxiliary address host1"},
		{"aux outside", cfg("10.0.1.0/24", "", "", "host1=10.9.9.9"), "auxiliary address host1=10.9.9.9 is outside subnet 10.0.1.0/24"},
		{"aux family", cfg("10.0.1.0/24", "", "", "host1=fd00::1"), "auxiliary address host1=fd00::1 is IPv6 but subnet 10.0.1.0/24 is IPv4"},
		{"aux zone", cfg("fd00::/64", "", "", "host1=fd00::5%eth0"), "invalid auxiliary address host1=fd00::5%eth0: zones are not allowed"},
		{"aux empty name", cfg("10.0.1.0/24", "", "", "=10.0.1.9"), "invalid auxiliary address =10.0.1.9: empty name"},
		{"aux missing", Config{Subnet: netip.MustParsePrefix("10.0.1.0/24"), Aux: map[string]netip.Addr{"host1": {}}}, "invalid auxiliary address host1: missing address"},
		{"multicast", cfg("224.0.0.0/24", "", ""), "subnet 224.0.0.0/24 cannot be used: 224.0.0.0/4 is multicast"},
		{"over multicast", cfg("192.0.0.0/2", "", ""), "224.0.0.0/4 is multicast"},
		{"loopback", cfg("127.0.0.0/24", "", ""), "subnet 127.0.0.0/24 cannot be used: 127.0.0.0/8 is loopback"},
		{"this network", cfg("0.0.0.0/8", "", ""), "subnet 0.0.0.0/8 cannot be used: 0.0.0.0/8 is \"this network\""},
		{"limited broadcast", cfg("255.255.255.0/24", "", ""), "subnet 255.255.255.0/24 cannot be used: 255.255.255.255 is the limited broadcast address"},
		{"link-local IPv6", cfg("fe80::/64", "", ""), "subnet fe80::/64 cannot be used: fe80::/10 is link-local"},
		{"IPv4-mapped", cfg("::ffff:10.0.1.0/120", "", ""), "subnet ::ffff:10.0.1.0/120 cannot be used: ::ffff:0:0/96 is IPv4-mapped IPv6"},
		{"IPv6 multicast", cfg("ff05::/64", "", ""), "subnet ff05::/64 cannot be used: ff00::/8 is multicast"},
		{"IPv6 loopback", cfg("::1/128", "", ""), "::1 is loopback"},
		{"ip-range only the gateway", cfg("10.0.1.0/24", "10.0.1.1/32", ""), "ip-range 10.0.1.1/32 has no address for sandboxes: it holds only the gateway"},
		{"ip-range gateway and network", cfg("10.0.1.0/24", "10.0.1.0/31", "10.0.1.1"), "ip-range 10.0.1.0/31 has no address for sandboxes: it holds only the network address and the gateway"},
		{"ip-range gateway and aux", cfg("10.0.1.0/24", "10.0.1.4/31", "10.0.1.4", "a=10.0.1.5"), "it holds only the gateway and auxiliary addresses"},
		{"no room for gateway", cfg("10.0.1.0/30", "", "", "a=10.0.1.1", "b=10.0.1.2"), "subnet 10.0.1.0/30 has no address left for the gateway"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.in.Normalize()
			if err == nil {
				t.Fatalf("Normalize = %+v, want error", got)
			}
			if !errors.Is(err, cnm.ErrInvalid) {
				t.Fatalf("Normalize error %v is not invalid", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Normalize error = %q, want %q", err, tt.want)
			}
		})
	}
}
