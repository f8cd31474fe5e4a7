package ipam_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/ipam"
	"github.com/patchbay/patchbay/ipam/ipamtest"
)

func TestDefaultConformance(t *testing.T) {
	ipamtest.Run(t, func() ipam.Driver { return ipam.NewDefault(ipam.DefaultConfig{}) })
}

// hostPrefixes returns a DefaultConfig.HostPrefixes that lists ps.
func hostPrefixes(ps ...string) func(context.Context) ([]netip.Prefix, error) {
	return func(context.Context) ([]netip.Prefix, error) {
		out := make([]netip.Prefix, len(ps))
		for i, p := range ps {
			out[i] = netip.MustParsePrefix(p)
		}
		return out, nil
	}
}

// preq builds a pool request: subnet and sub-pool may be "", options
// are key=value.
func preq(space, subnet, sub string, opts ...string) ipam.PoolRequest {
	r := ipam.PoolRequest{AddressSpace: space}
	if subnet != "" {
		r.Pool = netip.MustParsePrefix(subnet)
		r.V6 = r.Pool.Addr().Is6()
	}
	if sub != "" {
		r.SubPool = netip.MustParsePrefix(sub)
	}
	for _, o := range opts {
		k, v, _ := strings.Cut(o, "=")
		if r.Options == nil {
			r.Options = map[string]string{}
		}
		r.Options[k] = v
	}
	return r
}

func wantErr(t *testing.T, what string, err, kind error, mention string) {
	t.Helper()
	if !errors.Is(err, kind) || !strings.Contains(err.Error(), mention) {
		t.Errorf("%s: error %v; want %v mentioning %q", what, err, kind, mention)
	}
}

func TestRequestPool(t *testing.T) {
	v6pools := append(ipam.DefaultPools(), ipam.PoolSpec{Base: netip.MustParsePrefix("fd00:1::/48"), Size: 64})
	group := func(name string) []string {
		return []string{ipam.OptionOverlapGroup + "=lan", ipam.OptionPoolName + "=" + name}
	}
	tests := []struct {
		name    string
		host    []string
		pools   []ipam.PoolSpec
		before  []ipam.PoolRequest
		req     ipam.PoolRequest
		want    string // pool prefix
		wantID  string // if set
		kind    error
		mention string
	}{
		{name: "first default pool", req: preq("", "", ""), want: "172.17.0.0/16", wantID: "LocalDefault/172.17.0.0/16"},
		{name: "avoids an interface address's subnet", host: []string{"172.17.0.1/16"}, req: preq("", "", ""), want: "172.18.0.0/16"},
		{name: "avoids a host route", host: []string{"172.16.0.0/12"}, req: preq("", "", ""), want: "192.168.0.0/20"},
		{name: "avoids pools and nameservers", host: []string{"172.18.0.5/32"}, before: []ipam.PoolRequest{preq("", "", "")},
			req: preq(ipam.LocalDefaultSpace, "", ""), want: "172.19.0.0/16"},
		{name: "avoids a group pool", before: []ipam.PoolRequest{preq("", "172.17.0.0/24", "", group("a")...)}, req: preq("", "", ""), want: "172.18.0.0/16"},
		{name: "every pool taken", host: []string{"172.16.0.0/12", "192.168.0.0/16"}, req: preq("", "", ""),
			kind: cnm.ErrUnavailable, mention: "IPv4"},
		{name: "any /24", req: preq("", "0.0.0.0/24", ""), want: "172.17.0.0/24", wantID: "LocalDefault/172.17.0.0/24"},
		{name: "chosen IPv6", pools: v6pools, before: []ipam.PoolRequest{{V6: true}}, req: ipam.PoolRequest{V6: true}, want: "fd00:1:0:1::/64"},
		{name: "no IPv6 pool", req: ipam.PoolRequest{V6: true}, kind: cnm.ErrUnavailable, mention: "IPv6"},
		{name: "given", host: []string{"10.0.0.0/24"}, req: preq("", "10.0.1.0/24", ""), want: "10.0.1.0/24", wantID: "LocalDefault/10.0.1.0/24"},
		{name: "given with sub-pool", req: preq("", "10.0.1.0/24", "10.0.1.128/25"), want: "10.0.1.0/24", wantID: "LocalDefault/10.0.1.0/24/10.0.1.128/25"},
		{name: "given IPv4-mapped", req: preq("", "::ffff:10.0.1.0/120", ""), kind: cnm.ErrInvalid, mention: "IPv4-mapped"},
		{name: "given IPv6 multicast", req: preq("", "ff05::/64", ""), kind: cnm.ErrInvalid, mention: "ff00::/8 is multicast"},
		{name: "given loopback", req: preq("", "127.0.0.0/24", ""), kind: cnm.ErrInvalid, mention: "loopback"},
		{name: "given slash 31", req: preq("", "10.0.9.0/31", ""), want: "10.0.9.0/31"},
		{name: "given IPv6", req: preq("", "fd00:2::/64", "fd00:2::/80"), want: "fd00:2::/64", wantID: "LocalDefault/fd00:2::/64/fd00:2::/80"},
		{name: "overlaps a pool", before: []ipam.PoolRequest{preq("", "10.0.1.0/24", "")}, req: preq("", "10.0.1.128/25", ""),
			kind: cnm.ErrConflict, mention: "subnet 10.0.1.128/25 overlaps with pool LocalDefault/10.0.1.0/24"},
		{name: "same subnet, other sub-pool", before: []ipam.PoolRequest{preq("", "10.0.1.0/24", "10.0.1.0/25")}, req: preq("", "10.0.1.0/24", "10.0.1.128/25"),
			kind: cnm.ErrConflict, mention: "overlaps"},
		{name: "overlaps a host route", host: []string{"192.0.2.0/24"}, req: preq("", "192.0.2.0/25", ""),
			kind: cnm.ErrConflict, mention: "192.0.2.0/24, in use on the host"},
		{name: "replay ignores the host", host: []string{"192.0.2.0/24"}, req: preq("", "192.0.2.0/25", "", ipam.OptionReplay+"=true"),
			want: "192.0.2.0/25", wantID: "LocalDefault/192.0.2.0/25"},
		{name: "replay still avoids pools", before: []ipam.PoolRequest{preq("", "10.0.1.0/24", "")}, req: preq("", "10.0.1.0/25", "", ipam.OptionReplay+"=true"),
			kind: cnm.ErrConflict, mention: "overlaps with pool LocalDefault/10.0.1.0/24"},
		{name: "global space is separate", before: []ipam.PoolRequest{preq("", "10.0.0.0/24", "")}, req: preq(ipam.GlobalDefaultSpace, "10.0.0.0/24", ""),
			want: "10.0.0.0/24", wantID: "GlobalDefault/10.0.0.0/24"},
		{name: "global space ignores the host", host: []string{"10.0.0.0/8"}, req: preq(ipam.GlobalDefaultSpace, "", ""), want: "10.0.0.0/24"},
		{name: "group: same subnet twice", before: []ipam.PoolRequest{preq("", "10.78.0.0/24", "", group("v20")...)},
			req: preq("", "10.78.0.0/24", "", group("v30")...), want: "10.78.0.0/24", wantID: "LocalDefault/10.78.0.0/24@v30"},
		{name: "group: same name twice", before: []ipam.PoolRequest{preq("", "10.78.0.0/24", "", group("v20")...)},
			req: preq("", "10.78.0.0/24", "", group("v20")...), kind: cnm.ErrConflict, mention: "LocalDefault/10.78.0.0/24@v20 is already allocated"},
		{name: "group: host LAN", host: []string{"10.78.0.0/24"}, req: preq("", "10.78.0.0/24", "", group("v1")...), want: "10.78.0.0/24"},
		{name: "group: not over another network", before: []ipam.PoolRequest{preq("", "10.78.0.0/24", "")},
			req: preq("", "10.78.0.0/16", "", group("v1")...), kind: cnm.ErrConflict, mention: "pool LocalDefault/10.78.0.0/24"},
		{name: "group: others avoid it", before: []ipam.PoolRequest{preq("", "10.78.0.0/24", "", group("v1")...)},
			req: preq("", "10.78.0.0/16", ""), kind: cnm.ErrConflict, mention: "pool LocalDefault/10.78.0.0/24@v1"},
		{name: "host bits", req: preq("", "10.0.1.1/24", ""), kind: cnm.ErrInvalid, mention: "did you mean 10.0.1.0/24"},
		{name: "family", req: ipam.PoolRequest{Pool: netip.MustParsePrefix("10.0.1.0/24"), V6: true}, kind: cnm.ErrInvalid, mention: "10.0.1.0/24 is not IPv6"},
		{name: "sub-pool without pool", req: preq("", "", "10.0.1.0/25"), kind: cnm.ErrInvalid, mention: "needs a pool"},
		{name: "sub-pool outside", req: preq("", "10.0.1.0/24", "10.0.2.0/25"), kind: cnm.ErrInvalid, mention: "10.0.2.0/25 is outside pool 10.0.1.0/24"},
		{name: "sub-pool larger", req: preq("", "10.0.1.0/24", "10.0.0.0/16"), kind: cnm.ErrInvalid, mention: "outside"},
		{name: "sub-pool host bits", req: preq("", "10.0.1.0/24", "10.0.1.1/25"), kind: cnm.ErrInvalid, mention: "did you mean 10.0.1.0/25"},
		{name: "unknown address space", req: preq("Elsewhere", "10.0.1.0/24", ""), kind: cnm.ErrNotFound, mention: `"Elsewhere"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := ipam.NewDefault(ipam.DefaultConfig{LocalPools: tt.pools, HostPrefixes: hostPrefixes(tt.host...)})
			ctx := t.Context()
			for _, r := range tt.before {
				if _, err := d.RequestPool(ctx, r); err != nil {
					t.Fatalf("RequestPool(%+v): %v", r, err)
				}
			}
			p, err := d.RequestPool(ctx, tt.req)
			if tt.kind != nil {
				wantErr(t, "RequestPool", err, tt.kind, tt.mention)
				return
			}
			if err != nil {
				t.Fatalf("RequestPool(%+v): %v", tt.req, err)
			}
			if p.Prefix.String() != tt.want || (tt.wantID != "" && p.ID != tt.wantID) {
				t.Errorf("RequestPool = %s %s; want %s %s", p.ID, p.Prefix, tt.wantID, tt.want)
			}
			k, err := ipam.ParsePoolID(p.ID)
			if err != nil || k.Pool != p.Prefix || k.String() != p.ID {
				t.Errorf("ParsePoolID(%s) = %+v, %v", p.ID, k, err)
			}
		})
	}
}

func TestOverlapError(t *testing.T) {
	d := ipam.NewDefault(ipam.DefaultConfig{})
	ctx := t.Context()
	if _, err := d.RequestPool(ctx, preq("", "10.0.1.0/24", "")); err != nil {
		t.Fatal(err)
	}
	_, err := d.RequestPool(ctx, preq("", "10.0.0.0/16", ""))
	var oe *ipam.OverlapError
	if !errors.As(err, &oe) || oe.PoolID != "LocalDefault/10.0.1.0/24" || oe.With.String() != "10.0.1.0/24" || oe.Pool.String() != "10.0.0.0/16" {
		t.Errorf("error %#v; want an *OverlapError naming the pool", err)
	}
}

func TestHostPrefixesError(t *testing.T) {
	boom := errors.New("netlink gone")
	d := ipam.NewDefault(ipam.DefaultConfig{HostPrefixes: func(context.Context) ([]netip.Prefix, error) { return nil, boom }})
	if _, err := d.RequestPool(t.Context(), preq("", "", "")); !errors.Is(err, boom) {
		t.Errorf("RequestPool: %v; want the HostPrefixes error", err)
	}
	// A group pool asked for by subnet does not look at the host.
	if _, err := d.RequestPool(t.Context(), preq("", "10.1.0.0/24", "", ipam.OptionOverlapGroup+"=lan")); err != nil {
		t.Errorf("RequestPool of a group subnet: %v", err)
	}
}

// Spread starts each host's allocation in a shared global pool at a
// point of its own, the same every time for the same host; local pools
// and pools with a saved cursor are not moved.
func TestSpread(t *testing.T) {
	ctx := context.Background()
	first := func(spread, space string, cursors ipam.CursorStore) netip.Addr {
		t.Helper()
		d := ipam.NewDefault(ipam.DefaultConfig{Spread: spread, Cursors: cursors})
		p, err := d.RequestPool(ctx, ipam.PoolRequest{AddressSpace: space, Pool: netip.MustParsePrefix("10.9.0.0/16")})
		if err != nil {
			t.Fatal(err)
		}
		a, err := d.RequestAddress(ctx, p.ID, netip.Addr{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return a.Addr()
	}
	h1, h2 := first("h1", ipam.GlobalDefaultSpace, nil), first("h2", ipam.GlobalDefaultSpace, nil)
	if h1 == h2 {
		t.Errorf("hosts h1 and h2 both start at %s", h1)
	}
	if again := first("h1", ipam.GlobalDefaultSpace, nil); again != h1 {
		t.Errorf("h1 starts at %s, then at %s", h1, again)
	}
	if !netip.MustParsePrefix("10.9.0.0/16").Contains(h1) {
		t.Errorf("h1 starts at %s, outside the pool", h1)
	}
	if got := first("h1", ipam.LocalDefaultSpace, nil); got != netip.MustParseAddr("10.9.0.1") {
		t.Errorf("a local pool starts at %s with Spread set, want 10.9.0.1", got)
	}
	saved := &ipam.MemCursors{}
	if err := saved.SaveCursor("GlobalDefault/10.9.0.0/16", netip.MustParseAddr("10.9.7.7")); err != nil {
		t.Fatal(err)
	}
	if got := first("h1", ipam.GlobalDefaultSpace, saved); got != netip.MustParseAddr("10.9.7.8") {
		t.Errorf("with a saved cursor 10.9.7.7, h1 starts at %s, want 10.9.7.8", got)
	}
}
