package ipam_test

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/ipam"
)

func FuzzParsePoolID(f *testing.F) {
	for _, s := range []string{
		"LocalDefault/172.18.0.0/16", "LocalDefault/172.18.0.0/16/172.18.5.0/24",
		"GlobalDefault/fd00::/64@net1", "LocalDefault/10.0.0.1/24", "a/b/c", "@", "x/1.2.3.4/32@a@b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		k, err := ipam.ParsePoolID(id)
		if err != nil {
			if !errors.Is(err, cnm.ErrInvalid) {
				t.Fatalf("ParsePoolID(%q): error %v is not of kind invalid", id, err)
			}
			return
		}
		if k.String() != id {
			t.Fatalf("ParsePoolID(%q) = %+v, which formats as %q", id, k, k.String())
		}
	})
}

// FuzzDefaultDriver drives one small pool with a random sequence of
// requests and releases and checks the driver against a model: an
// address is handed out only when free, a release succeeds only for an
// allocated address, and the pool can be released once emptied.
func FuzzDefaultDriver(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 2, 3, 0x85, 0x40, 0})
	f.Add([]byte{0x41, 0x42, 0x81, 0x81, 0xc0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		ctx := t.Context()
		d := ipam.NewDefault(ipam.DefaultConfig{Cursors: &ipam.MemCursors{}})
		sub := netip.MustParsePrefix("10.9.0.0/28")
		p, err := d.RequestPool(ctx, preq("", "10.9.0.0/28", "10.9.0.8/29"))
		if err != nil {
			t.Fatal(err)
		}
		held := map[netip.Addr]bool{}
		for _, op := range ops {
			a := netip.AddrFrom4([4]byte{10, 9, 0, op & 0x1f}) // sometimes outside the /28
			switch op >> 6 {
			case 0: // next address
				got, err := d.RequestAddress(ctx, p.ID, netip.Addr{}, nil)
				if err != nil {
					if !errors.Is(err, cnm.ErrUnavailable) {
						t.Fatalf("RequestAddress(any): %v", err)
					}
					continue
				}
				if !netip.MustParsePrefix("10.9.0.8/29").Contains(got.Addr()) || held[got.Addr()] {
					t.Fatalf("RequestAddress(any) = %s; held %v", got, held)
				}
				held[got.Addr()] = true
			case 1, 2: // static, gateway
				opts := map[string]string{}
				if op>>6 == 2 {
					opts[ipam.RequestAddressType] = ipam.GatewayAddressType
				}
				got, err := d.RequestAddress(ctx, p.ID, a, opts)
				switch {
				case !sub.Contains(a) || a == sub.Addr() || a.As4()[3] == 15:
					if !errors.Is(err, cnm.ErrInvalid) {
						t.Fatalf("RequestAddress(%s): %v; want invalid", a, err)
					}
				case held[a]:
					if !errors.Is(err, cnm.ErrConflict) {
						t.Fatalf("RequestAddress(%s) while held: %v; want a conflict", a, err)
					}
				case err != nil || got.Addr() != a:
					t.Fatalf("RequestAddress(%s) = %s, %v", a, got, err)
				default:
					held[a] = true
				}
			case 3: // release
				err := d.ReleaseAddress(ctx, p.ID, a)
				switch {
				case !sub.Contains(a):
					if !errors.Is(err, cnm.ErrInvalid) {
						t.Fatalf("ReleaseAddress(%s): %v; want invalid", a, err)
					}
				case !held[a]:
					if !errors.Is(err, cnm.ErrNotFound) {
						t.Fatalf("ReleaseAddress(%s) not held: %v; want not found", a, err)
					}
				case err != nil:
					t.Fatalf("ReleaseAddress(%s): %v", a, err)
				default:
					delete(held, a)
				}
			}
		}
		if err := d.ReleasePool(ctx, p.ID); (err == nil) != (len(held) == 0) {
			t.Fatalf("ReleasePool with %d held: %v", len(held), err)
		}
		for a := range held {
			if err := d.ReleaseAddress(ctx, p.ID, a); err != nil {
				t.Fatalf("ReleaseAddress(%s): %v", a, err)
			}
		}
		if len(held) > 0 {
			if err := d.ReleasePool(ctx, p.ID); err != nil {
				t.Fatalf("ReleasePool after releasing all: %v", err)
			}
		}
	})
}
