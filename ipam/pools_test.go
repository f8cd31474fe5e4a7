package ipam

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/patchbay/patchbay/cnm"
)

func TestDefaultPools(t *testing.T) {
	pools := DefaultPools()
	want := []string{
		"172.17.0.0/16/16", "172.18.0.0/16/16", "172.19.0.0/16/16",
		"172.20.0.0/14/16", "172.24.0.0/14/16", "172.28.0.0/14/16",
		"192.168.0.0/16/20",
	}
	var got []string
	for _, p := range pools {
		got = append(got, p.String())
	}
	if !slices.Equal(got, want) {
		t.Fatalf("DefaultPools() = %v, want %v", got, want)
	}
	// Enumerate the subnets: 15 /16 in 172.17-31, then 16 /20.
	var subnets []netip.Prefix
	var avoid []netip.Prefix
	for {
		p, err := ChooseSubnet(pools, avoid, false)
		if err != nil {
			break
		}
		subnets = append(subnets, p)
		avoid = append(avoid, p)
	}
	if len(subnets) != 31 {
		t.Fatalf("default pools hold %d subnets, want 31", len(subnets))
	}
	for i := range 15 {
		if want := netip.MustParsePrefix(fmt.Sprintf("172.%d.0.0/16", 17+i)); subnets[i] != want {
			t.Errorf("subnet %d = %s, want %s", i, subnets[i], want)
		}
	}
	for i := range 16 {
		if want := netip.MustParsePrefix(fmt.Sprintf("192.168.%d.0/20", 16*i)); subnets[15+i] != want {
			t.Errorf("subnet %d = %s, want %s", 15+i, subnets[15+i], want)
		}
	}
	// Each call returns a fresh slice.
	pools[0].Size = 99
	if DefaultPools()[0].Size != 16 {
		t.Fatal("DefaultPools shares state between calls")
	}
}

func TestParsePools(t *testing.T) {
	tests := []struct {
		in   string
		want string // pools joined by ",", or the error's text
		err  bool
	}{
		{in: "", want: ""},
		{in: " , ;", want: ""},
		{in: "172.17.0.0/16/16,10.10.0.0/16/24", want: "172.17.0.0/16/16,10.10.0.0/16/24"},
		{in: "base=172.80.0.0/16,size=24", want: "172.80.0.0/16/24"},
		{in: "base=172.80.0.0/16,size=24;base=172.90.0.0/16,size=20", want: "172.80.0.0/16/24,172.90.0.0/16/20"},
		{in: " 10.0.0.0/8/24 ; base=fd00::/48, size=64 ", want: "10.0.0.0/8/24,fd00::/48/64"},
		{in: "10.0.0.0/8/8", want: "10.0.0.0/8/8"},
		{in: "10.0.0.0/8/32", want: "10.0.0.0/8/32"},
		{in: "fd00::/8/128", want: "fd00::/8/128"},
		{in: "10.0.0.0/8", err: true, want: `invalid address pool "10.0.0.0/8": want base/size`},
		{in: "10.0.0.0/8/7", err: true, want: "invalid size 7 of address pool 10.0.0.0/8: want 8 to 32"},
		{in: "10.0.0.0/8/33", err: true, want: "invalid size 33 of address pool 10.0.0.0/8"},
		{in: "fd00::/8/129", err: true, want: "invalid size 129 of address pool fd00::/8: want 8 to 128"},
		{in: "10.0.0.0/8/x", err: true, want: `invalid size "x" of address pool 10.0.0.0/8: not a number`},
		{in: "10.1.0.0/8/16", err: true, want: "invalid address pool base 10.1.0.0/8: host bits set, did you mean 10.0.0.0/8"},
		{in: "banana/8/16", err: true, want: `invalid address pool base "banana/8": not a CIDR`},
		{in: "base=172.80.0.0/16", err: true, want: "invalid address pool base=172.80.0.0/16: missing size"},
		{in: "base=172.80.0.0/16,10.0.0.0/8/16", err: true, want: "missing size"},
		{in: "base=172.80.0.0/16;base=10.0.0.0/8,size=16", err: true, want: "missing size"},
		{in: "size=24", err: true, want: "size without a preceding base"},
		{in: "base=1.0.0.0/8,size=16,size=24", err: true, want: "size without a preceding base"},
		{in: "base=172.80.0.0/16,size=8", err: true, want: "invalid size 8 of address pool 172.80.0.0/16"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			pools, err := ParsePools(tt.in)
			if tt.err {
				if err == nil {
					t.Fatalf("ParsePools(%q) = %v, want error", tt.in, pools)
				}
				if !errors.Is(err, cnm.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("ParsePools(%q) error = %v, want invalid %q", tt.in, err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePools(%q): %v", tt.in, err)
			}
			var got []string
			for _, p := range pools {
				got = append(got, p.String())
			}
			if s := strings.Join(got, ","); s != tt.want {
				t.Fatalf("ParsePools(%q) = %s, want %s", tt.in, s, tt.want)
			}
		})
	}
}
