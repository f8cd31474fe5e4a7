package ipam_test

import (
	"context"
	"errors"
	"net/netip"
	"strconv"
	"testing"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/ipam"
)

// step is one call on a pool: "req" (RequestAddress), "rel"
// (ReleaseAddress) or "relpool" (ReleasePool).
type step struct {
	op   string
	addr string // "" for the driver's choice
	typ  string // "gw", "aux" or ""
	want string // the address returned by "req", if checked
	kind error  // the error kind expected, if any
	text string // what the error mentions
}

func req(addr, want string) step { return step{op: "req", addr: addr, want: want} }
func gw(addr, want string) step  { return step{op: "req", addr: addr, typ: "gw", want: want} }
func aux(addr string) step       { return step{op: "req", addr: addr, typ: "aux"} }
func rel(addr string) step       { return step{op: "rel", addr: addr} }
func fails(s step, kind error, text string) step {
	s.kind, s.text = kind, text
	return s
}

// run performs steps on pool id of d.
func run(t *testing.T, d ipam.Driver, id string, steps []step) {
	t.Helper()
	ctx := t.Context()
	for i, s := range steps {
		var err error
		var got netip.Prefix
		switch s.op {
		case "req":
			var a netip.Addr
			if s.addr != "" {
				a = netip.MustParseAddr(s.addr)
			}
			opts := map[string]string{}
			switch s.typ {
			case "gw":
				opts[ipam.RequestAddressType] = ipam.GatewayAddressType
			case "aux":
				opts[ipam.RequestAddressType] = ipam.AuxAddressType
				opts[ipam.AuxNameOption] = "host"
			}
			got, err = d.RequestAddress(ctx, id, a, opts)
		case "rel":
			var a netip.Addr
			if s.addr != "" {
				a = netip.MustParseAddr(s.addr)
			}
			err = d.ReleaseAddress(ctx, id, a)
		case "relpool":
			err = d.ReleasePool(ctx, id)
		}
		if s.kind != nil {
			wantErr(t, "step "+strconv.Itoa(i)+" "+s.op+" "+s.addr, err, s.kind, s.text)
			continue
		}
		if err != nil {
			t.Fatalf("step %d %s %s: %v", i, s.op, s.addr, err)
		}
		if s.op == "req" && s.want != "" && got.String() != s.want {
			t.Fatalf("step %d %s %s %s = %s, want %s", i, s.op, s.typ, s.addr, got, s.want)
		}
	}
}

func TestAddresses(t *testing.T) {
	tests := []struct {
		name, pool, sub string
		steps           []step
	}{
		{"serial", "10.1.0.0/28", "", []step{
			gw("", "10.1.0.1/28"), req("", "10.1.0.2/28"), req("", "10.1.0.3/28"),
			rel("10.1.0.2"), req("", "10.1.0.4/28"), // not the released .2
			req("10.1.0.2", "10.1.0.2/28"), // static, cursor unmoved
			req("", "10.1.0.5/28"),
		}},
		{"wrap and exhaustion", "10.1.0.0/29", "", []step{
			gw("", "10.1.0.1/29"), req("", "10.1.0.2/29"), req("", "10.1.0.3/29"), req("", "10.1.0.4/29"),
			req("", "10.1.0.5/29"), req("", "10.1.0.6/29"),
			fails(req("", ""), cnm.ErrUnavailable, "no available addresses in subnet 10.1.0.0/29"),
			rel("10.1.0.3"), req("", "10.1.0.3/29"),
			fails(gw("", ""), cnm.ErrUnavailable, "no address left"),
		}},
		{"sub-pool", "10.2.0.0/24", "10.2.0.128/30", []step{
			gw("", "10.2.0.1/24"), // the gateway comes from the whole pool
			req("", "10.2.0.128/24"), req("", "10.2.0.129/24"), req("", "10.2.0.130/24"), req("", "10.2.0.131/24"),
			fails(req("", ""), cnm.ErrUnavailable, "ip-range 10.2.0.128/30"),
			req("10.2.0.7", "10.2.0.7/24"), // static outside the range
		}},
		{"user gateway", "10.3.0.0/24", "", []step{
			gw("10.3.0.254", "10.3.0.254/24"), req("", "10.3.0.1/24"),
			fails(req("10.3.0.254", ""), cnm.ErrConflict, "10.3.0.254 in pool LocalDefault/10.3.0.0/24: already in use as the gateway"),
		}},
		{"aux addresses", "10.4.0.0/24", "", []step{
			aux("10.4.0.1"), aux("10.4.0.0"), // the network address may be an aux address
			gw("", "10.4.0.2/24"), req("", "10.4.0.3/24"),
			fails(req("10.4.0.1", ""), cnm.ErrConflict, "already in use as auxiliary address host"),
			fails(aux("10.4.0.3"), cnm.ErrConflict, "10.4.0.3 in pool LocalDefault/10.4.0.0/24: already in use"),
			fails(aux(""), cnm.ErrInvalid, "no address given"),
			fails(step{op: "relpool"}, cnm.ErrConflict, "4 addresses are still allocated (10.4.0.0 auxiliary address host, 10.4.0.1 auxiliary address host, 10.4.0.2 gateway, …)"),
			rel("10.4.0.0"), rel("10.4.0.1"), rel("10.4.0.2"),
			fails(step{op: "relpool"}, cnm.ErrConflict, "1 address is still allocated (10.4.0.3)"),
			rel("10.4.0.3"),
			{op: "relpool"},
			fails(req("", ""), cnm.ErrNotFound, "pool \"LocalDefault/10.4.0.0/24\" not found"),
		}},
		{"bad addresses", "10.5.0.0/24", "", []step{
			fails(req("10.5.1.1", ""), cnm.ErrInvalid, "10.5.1.1: outside pool LocalDefault/10.5.0.0/24"),
			fails(req("fd00::1", ""), cnm.ErrInvalid, "outside pool"),
			fails(req("10.5.0.0", ""), cnm.ErrInvalid, "network address"),
			fails(req("10.5.0.255", ""), cnm.ErrInvalid, "broadcast address"),
			fails(gw("10.5.0.255", ""), cnm.ErrInvalid, "broadcast address"),
			req("::ffff:10.5.0.9", "10.5.0.9/24"),
			fails(req("10.5.0.9", ""), cnm.ErrConflict, "already in use"),
			fails(rel("10.5.0.10"), cnm.ErrNotFound, "10.5.0.10: not allocated in pool LocalDefault/10.5.0.0/24"),
			fails(rel("10.6.0.10"), cnm.ErrInvalid, "outside pool"),
			fails(rel(""), cnm.ErrInvalid, "no address given"),
			rel("10.5.0.9"),
			fails(rel("10.5.0.9"), cnm.ErrNotFound, "not allocated"),
		}},
		{"IPv6", "fd00:5::/64", "", []step{
			gw("", "fd00:5::1/64"), req("", "fd00:5::2/64"),
			fails(req("fd00:5::", ""), cnm.ErrInvalid, "subnet-router anycast"),
			req("fd00:5::ffff:ffff:ffff:ffff", "fd00:5::ffff:ffff:ffff:ffff/64"), // no broadcast in IPv6
		}},
		{"point-to-point /31", "10.6.0.0/31", "", []step{
			req("", "10.6.0.0/31"), req("", "10.6.0.1/31"),
			fails(req("", ""), cnm.ErrUnavailable, "no available addresses"),
		}},
		{"/31 with a gateway and one sandbox (RFC 3021)", "10.6.1.0/31", "", []step{
			gw("", "10.6.1.0/31"), req("", "10.6.1.1/31"),
			fails(req("", ""), cnm.ErrUnavailable, "no available addresses"),
		}},
		{"/32", "10.6.2.7/32", "", []step{
			req("", "10.6.2.7/32"),
			fails(req("", ""), cnm.ErrUnavailable, "no available addresses"),
		}},
		{"/127 with a gateway and one sandbox", "fd00:6::/127", "", []step{
			gw("", "fd00:6::/127"), req("", "fd00:6::1/127"),
			fails(req("", ""), cnm.ErrUnavailable, "no available addresses"),
		}},
		{"/128", "fd00:6::9/128", "", []step{
			req("", "fd00:6::9/128"),
			fails(gw("", ""), cnm.ErrUnavailable, "no address left"),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := ipam.NewDefault(ipam.DefaultConfig{})
			p, err := d.RequestPool(t.Context(), preq("", tt.pool, tt.sub))
			if err != nil {
				t.Fatal(err)
			}
			run(t, d, p.ID, tt.steps)
		})
	}
}

func TestUnknownPoolKinds(t *testing.T) {
	d := ipam.NewDefault(ipam.DefaultConfig{})
	ctx := t.Context()
	const id = "LocalDefault/10.9.0.0/24"
	_, err := d.RequestAddress(ctx, id, netip.Addr{}, nil)
	wantErr(t, "RequestAddress", err, cnm.ErrNotFound, `pool "LocalDefault/10.9.0.0/24" not found`)
	err = d.ReleaseAddress(ctx, id, netip.MustParseAddr("10.9.0.2"))
	wantErr(t, "ReleaseAddress", err, cnm.ErrNotFound, `pool "LocalDefault/10.9.0.0/24" not found`)
	err = d.ReleasePool(ctx, id)
	wantErr(t, "ReleasePool", err, cnm.ErrNotFound, `pool "LocalDefault/10.9.0.0/24" not found`)
}

func TestCancelledContext(t *testing.T) {
	d := ipam.NewDefault(ipam.DefaultConfig{})
	p, err := d.RequestPool(t.Context(), preq("", "10.9.0.0/24", ""))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := d.RequestAddress(ctx, p.ID, netip.Addr{}, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("RequestAddress: %v; want context.Canceled", err)
	}
	if err := d.ReleasePool(ctx, p.ID); !errors.Is(err, context.Canceled) {
		t.Errorf("ReleasePool: %v; want context.Canceled", err)
	}
	if _, _, err := d.DefaultAddressSpaces(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("DefaultAddressSpaces: %v; want context.Canceled", err)
	}
}
