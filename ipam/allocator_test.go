package ipam

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/patchbay/patchbay/cnm"
)

func newAlloc(t testing.TB, c Config) *Allocator {
	t.Helper()
	a, err := NewAllocator(c)
	if err != nil {
		t.Fatalf("NewAllocator(%+v): %v", c, err)
	}
	return a
}

// step is one allocator operation: "next" expects want (or an error if
// want is ""), "reserve" and "release" act on addr; err is the expected
// error's text, if any.
type step struct {
	op, addr, want, err string
}

func run(t *testing.T, a *Allocator, steps []step) {
	t.Helper()
	for i, s := range steps {
		switch s.op {
		case "next":
			got, err := a.Next()
			if s.want == "" {
				if err == nil || !errors.Is(err, cnm.ErrUnavailable) || !strings.Contains(err.Error(), s.err) {
					t.Fatalf("step %d: Next = %v, %v; want unavailable %q", i, got, err, s.err)
				}
				continue
			}
			if err != nil || got.String() != s.want {
				t.Fatalf("step %d: Next = %v, %v; want %s", i, got, err, s.want)
			}
		case "reserve":
			err := a.Reserve(netip.MustParseAddr(s.addr))
			if s.err == "" && err != nil || s.err != "" && (err == nil || !strings.Contains(err.Error(), s.err)) {
				t.Fatalf("step %d: Reserve(%s) = %v, want %q", i, s.addr, err, s.err)
			}
		case "release":
			a.Release(netip.MustParseAddr(s.addr))
		}
	}
}

func TestAllocator(t *testing.T) {
	tests := []struct {
		name  string
		c     Config
		steps []step
	}{
		{"serial", cfg("10.0.1.0/24", "", ""), []step{
			{op: "next", want: "10.0.1.2"},
			{op: "next", want: "10.0.1.3"},
			{op: "release", addr: "10.0.1.2"},
			{op: "next", want: "10.0.1.4"},
		}},
		{"wrap around", cfg("10.0.1.0/29", "", ""), []step{
			{op: "next", want: "10.0.1.2"},
			{op: "next", want: "10.0.1.3"},
			{op: "next", want: "10.0.1.4"},
			{op: "release", addr: "10.0.1.2"},
			{op: "next", want: "10.0.1.5"},
			{op: "next", want: "10.0.1.6"},
			{op: "next", want: "10.0.1.2"},
			{op: "next", err: "no available addresses in subnet 10.0.1.0/29"},
			{op: "release", addr: "10.0.1.4"},
			{op: "next", want: "10.0.1.4"},
		}},
		{"full /30", cfg("10.0.1.0/30", "", ""), []step{
			{op: "next", want: "10.0.1.2"},
			{op: "next", err: "no available addresses in subnet 10.0.1.0/30"},
			{op: "next", err: "no available addresses in subnet 10.0.1.0/30"},
		}},
		{"/31", cfg("10.0.1.0/31", "", ""), []step{
			{op: "next", want: "10.0.1.1"},
			{op: "next", err: "no available addresses"},
		}},
		{"/31 gateway high", cfg("10.0.1.0/31", "", "10.0.1.1"), []step{
			{op: "next", want: "10.0.1.0"},
			{op: "next", err: "no available addresses"},
		}},
		{"/32", cfg("10.0.1.9/32", "", ""), []step{
			{op: "next", err: "no available addresses in subnet 10.0.1.9/32"},
			{op: "reserve", addr: "10.0.1.9", err: "address 10.0.1.9 is already in use as the gateway"},
		}},
		{"ip-range", cfg("10.0.1.0/24", "10.0.1.128/30", ""), []step{
			{op: "next", want: "10.0.1.128"},
			{op: "next", want: "10.0.1.129"},
			{op: "reserve", addr: "10.0.1.5"},
			{op: "reserve", addr: "10.0.1.130"},
			{op: "next", want: "10.0.1.131"},
			{op: "next", err: "no available addresses in ip-range 10.0.1.128/30"},
			{op: "release", addr: "10.0.1.5"},
			{op: "next", err: "no available addresses in ip-range 10.0.1.128/30"},
			{op: "release", addr: "10.0.1.129"},
			{op: "next", want: "10.0.1.129"},
		}},
		{"ip-range at subnet start", cfg("10.0.1.0/24", "10.0.1.0/30", ""), []step{
			{op: "next", want: "10.0.1.2"},
			{op: "next", want: "10.0.1.3"},
			{op: "next", err: "no available addresses in ip-range 10.0.1.0/30"},
		}},
		{"ip-range at subnet end", cfg("10.0.1.0/24", "10.0.1.252/30", ""), []step{
			{op: "next", want: "10.0.1.252"},
			{op: "next", want: "10.0.1.253"},
			{op: "next", want: "10.0.1.254"},
			{op: "next", err: "no available addresses"},
		}},
		{"reserve", cfg("10.0.1.0/24", "", "", "host1=10.0.1.3"), []step{
			{op: "reserve", addr: "10.0.1.5"},
			{op: "reserve", addr: "10.0.1.5", err: "address 10.0.1.5 is already in use"},
			{op: "reserve", addr: "10.0.1.1", err: "address 10.0.1.1 is already in use as the gateway"},
			{op: "reserve", addr: "10.0.1.3", err: "address 10.0.1.3 is already in use as auxiliary address host1"},
			{op: "reserve", addr: "10.0.9.9", err: "address 10.0.9.9 is outside subnet 10.0.1.0/24"},
			{op: "reserve", addr: "fd00::1", err: "address fd00::1 is outside subnet 10.0.1.0/24"},
			{op: "reserve", addr: "10.0.1.0", err: "address 10.0.1.0 is the network address of subnet 10.0.1.0/24"},
			{op: "reserve", addr: "10.0.1.255", err: "address 10.0.1.255 is the broadcast address of subnet 10.0.1.0/24"},
			{op: "reserve", addr: "::ffff:10.0.1.6"},
			{op: "next", want: "10.0.1.2"},
			{op: "next", want: "10.0.1.4"},
			{op: "next", want: "10.0.1.7"},
			{op: "release", addr: "10.0.1.1"},
			{op: "release", addr: "10.0.1.3"},
			{op: "reserve", addr: "10.0.1.1", err: "in use as the gateway"},
			{op: "reserve", addr: "10.0.1.3", err: "in use as auxiliary address"},
		}},
		{"v6", cfg("fd00:1:2:3::/64", "", ""), []step{
			{op: "next", want: "fd00:1:2:3::2"},
			{op: "reserve", addr: "fd00:1:2:3::", err: "is the subnet-router anycast address"},
			{op: "reserve", addr: "fd00:1:2:3:ffff:ffff:ffff:ffff"},
			{op: "next", want: "fd00:1:2:3::3"},
		}},
		{"v6 /127", cfg("fd00::/127", "", "fd00::1"), []step{
			{op: "next", want: "fd00::"},
			{op: "next", err: "no available addresses"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run(t, newAlloc(t, tt.c), tt.steps)
		})
	}
}

func TestAllocatorErrorKinds(t *testing.T) {
	a := newAlloc(t, cfg("10.0.1.0/24", "", "", "h=10.0.1.9"))
	if err := a.Reserve(netip.MustParseAddr("10.0.2.1")); !errors.Is(err, cnm.ErrInvalid) {
		t.Errorf("outside: %v, want invalid", err)
	}
	if err := a.Reserve(netip.MustParseAddr("10.0.1.255")); !errors.Is(err, cnm.ErrInvalid) {
		t.Errorf("broadcast: %v, want invalid", err)
	}
	if err := a.Reserve(netip.Addr{}); !errors.Is(err, cnm.ErrInvalid) {
		t.Errorf("zero: %v, want invalid", err)
	}
	for _, s := range []string{"10.0.1.1", "10.0.1.9"} {
		if err := a.Reserve(netip.MustParseAddr(s)); !errors.Is(err, cnm.ErrConflict) {
			t.Errorf("%s: %v, want conflict", s, err)
		}
	}
	if _, err := NewAllocator(cfg("10.0.1.5/24", "", "")); !errors.Is(err, cnm.ErrInvalid) {
		t.Errorf("NewAllocator with host bits: %v, want invalid", err)
	}
}

func TestAllocatorState(t *testing.T) {
	a := newAlloc(t, cfg("10.0.1.0/24", "", "", "h=10.0.1.9"))
	if a.Cursor().IsValid() || a.Len() != 0 {
		t.Fatalf("fresh allocator: cursor %v, len %d", a.Cursor(), a.Len())
	}
	ip, _ := a.Next()
	if err := a.Reserve(netip.MustParseAddr("10.0.1.50")); err != nil {
		t.Fatal(err)
	}
	if a.Len() != 2 || a.Cursor() != ip {
		t.Fatalf("len %d cursor %v, want 2 and %v", a.Len(), a.Cursor(), ip)
	}
	for _, s := range []string{"10.0.1.1", "10.0.1.2", "10.0.1.9", "10.0.1.50", "::ffff:10.0.1.50"} {
		if !a.InUse(netip.MustParseAddr(s)) {
			t.Errorf("InUse(%s) = false", s)
		}
	}
	for _, s := range []string{"10.0.1.3", "10.0.2.2", "fd00::2"} {
		if a.InUse(netip.MustParseAddr(s)) {
			t.Errorf("InUse(%s) = true", s)
		}
	}
	a.Release(netip.MustParseAddr("10.0.1.50"))
	a.Release(netip.MustParseAddr("10.0.1.50"))
	a.Release(netip.MustParseAddr("10.0.1.1"))
	if a.Len() != 1 || a.InUse(netip.MustParseAddr("10.0.1.50")) || !a.InUse(netip.MustParseAddr("10.0.1.1")) {
		t.Fatalf("after release: len %d", a.Len())
	}
	c := a.Config()
	c.Aux["x"] = netip.MustParseAddr("10.0.1.77")
	if len(a.Config().Aux) != 1 || a.Config().Gateway.String() != "10.0.1.1" {
		t.Fatalf("Config() = %+v", a.Config())
	}
}

func TestCursorRestore(t *testing.T) {
	c := cfg("10.0.1.0/24", "", "")
	a := newAlloc(t, c)
	for range 10 {
		if _, err := a.Next(); err != nil {
			t.Fatal(err)
		}
	}
	saved := a.Cursor()
	if saved.String() != "10.0.1.11" {
		t.Fatalf("cursor = %s, want 10.0.1.11", saved)
	}
	b := newAlloc(t, c)
	b.SetCursor(saved)
	if ip, _ := b.Next(); ip.String() != "10.0.1.12" {
		t.Fatalf("after restore Next = %s, want 10.0.1.12", ip)
	}
	// A cursor at the end of the range wraps.
	b.SetCursor(netip.MustParseAddr("10.0.1.255"))
	if ip, _ := b.Next(); ip.String() != "10.0.1.2" {
		t.Fatalf("after cursor at broadcast Next = %s, want 10.0.1.2", ip)
	}
	// A cursor outside the range resets.
	for _, s := range []string{"10.0.2.7", "fd00::1"} {
		b.SetCursor(netip.MustParseAddr(s))
		if b.Cursor().IsValid() {
			t.Fatalf("SetCursor(%s) kept %s", s, b.Cursor())
		}
	}
	if ip, _ := b.Next(); ip.String() != "10.0.1.3" {
		t.Fatalf("after reset Next = %s, want 10.0.1.3", ip)
	}
}

func TestAllocatorV6Many(t *testing.T) {
	a := newAlloc(t, cfg("fd00::/64", "", ""))
	seen := map[netip.Addr]bool{}
	for range 5000 {
		ip, err := a.Next()
		if err != nil {
			t.Fatal(err)
		}
		if seen[ip] {
			t.Fatalf("%s handed out twice", ip)
		}
		seen[ip] = true
	}
	if a.Len() != 5000 || a.Cursor().String() != "fd00::1389" {
		t.Fatalf("len %d cursor %s", a.Len(), a.Cursor())
	}
	// The top of the highest usable block (ff00::/8 is multicast) wraps.
	top := newAlloc(t, cfg("feff:ffff:ffff:ffff::/64", "", ""))
	top.SetCursor(netip.MustParseAddr("feff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"))
	for _, want := range []string{"feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "feff:ffff:ffff:ffff::2"} {
		if ip, err := top.Next(); err != nil || ip.String() != want {
			t.Fatalf("Next = %v, %v; want %s", ip, err, want)
		}
	}
}

func TestAllocatorFullSlash24(t *testing.T) {
	a := newAlloc(t, cfg("10.0.1.0/24", "", ""))
	for i := range 253 {
		if _, err := a.Next(); err != nil {
			t.Fatalf("allocation %d: %v", i, err)
		}
	}
	if _, err := a.Next(); !errors.Is(err, cnm.ErrUnavailable) {
		t.Fatalf("Next on full /24: %v", err)
	}
	a.Release(netip.MustParseAddr("10.0.1.100"))
	if ip, err := a.Next(); err != nil || ip.String() != "10.0.1.100" {
		t.Fatalf("Next = %v, %v; want 10.0.1.100", ip, err)
	}
}

func TestNoDefaultGateway(t *testing.T) {
	c := Config{Subnet: netip.MustParsePrefix("192.0.2.0/29"), NoDefaultGateway: true,
		Aux: map[string]netip.Addr{"router": netip.MustParseAddr("192.0.2.1")}}
	n, err := c.Normalize()
	if err != nil {
		t.Fatal(err)
	}
	if n.Gateway.IsValid() || !n.NoDefaultGateway {
		t.Fatalf("Normalize: gateway %s, NoDefaultGateway %v; want none, true", n.Gateway, n.NoDefaultGateway)
	}
	a, err := NewAllocator(c)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		ip, err := a.Next()
		if err != nil {
			break
		}
		got = append(got, ip.String())
	}
	// .0 network, .1 aux, .7 broadcast: no address is held for a gateway.
	want := "[192.0.2.2 192.0.2.3 192.0.2.4 192.0.2.5 192.0.2.6]"
	if strings.Join(got, " ") != strings.Trim(want, "[]") {
		t.Fatalf("allocated %v, want %s", got, want)
	}
	c.Gateway = netip.MustParseAddr("192.0.2.6")
	if n, err := c.Normalize(); err != nil || n.Gateway != c.Gateway {
		t.Fatalf("given gateway: %v, %v", n.Gateway, err)
	}
}
