package ipam_test

import (
	"errors"
	"net/netip"
	"sync"
	"testing"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/ipam"
)

// TestConcurrent runs pool and address requests from many goroutines at
// once (run it with -race): no pool overlaps another and no address is
// handed out twice.
func TestConcurrent(t *testing.T) {
	ctx := t.Context()
	d := ipam.NewDefault(ipam.DefaultConfig{
		LocalPools: []ipam.PoolSpec{{Base: netip.MustParsePrefix("10.50.0.0/16"), Size: 24}},
		Cursors:    &ipam.MemCursors{},
	})
	// Dynamic addresses come from the sub-pool, static ones from outside
	// it, so a static request never meets a dynamic address.
	busy, err := d.RequestPool(ctx, preq("", "10.60.0.0/24", "10.60.0.0/25"))
	if err != nil {
		t.Fatal(err)
	}
	gwOpts := map[string]string{ipam.RequestAddressType: ipam.GatewayAddressType}
	if _, err := d.RequestAddress(ctx, busy.ID, netip.Addr{}, gwOpts); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	live := map[netip.Addr]bool{}
	pools := map[string]netip.Prefix{}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	// Address churn in one pool.
	for g := range 8 {
		wg.Go(func() {
			static := netip.AddrFrom4([4]byte{10, 60, 0, byte(200 + g)})
			for i := range 40 {
				a := netip.Addr{}
				if i%4 == 0 {
					a = static
				}
				p, err := d.RequestAddress(ctx, busy.ID, a, nil)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				dup := live[p.Addr()]
				live[p.Addr()] = true
				mu.Unlock()
				if dup {
					errs <- errors.New("address " + p.Addr().String() + " handed out twice")
					return
				}
				if i%2 == 1 || i%4 == 0 { // keep every fourth
					mu.Lock()
					delete(live, p.Addr())
					mu.Unlock()
					if err := d.ReleaseAddress(ctx, busy.ID, p.Addr()); err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	// Pool churn: choose, hold, release some.
	for g := range 8 {
		wg.Go(func() {
			for i := range 10 {
				p, err := d.RequestPool(ctx, ipam.PoolRequest{})
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				for id, q := range pools {
					if q.Overlaps(p.Prefix) {
						errs <- errors.New("pool " + p.ID + " overlaps " + id)
					}
				}
				pools[p.ID] = p.Prefix
				mu.Unlock()
				if (g+i)%2 == 0 {
					mu.Lock()
					delete(pools, p.ID)
					mu.Unlock()
					if err := d.ReleasePool(ctx, p.ID); err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	// Releasing the busy pool keeps failing: its gateway is held.
	wg.Go(func() {
		for range 50 {
			if err := d.ReleasePool(ctx, busy.ID); !errors.Is(err, cnm.ErrConflict) {
				errs <- errors.New("ReleasePool of a pool in use: " + errString(err))
				return
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// What the goroutines kept is still allocated.
	for a := range live {
		if _, err := d.RequestAddress(ctx, busy.ID, a, nil); !errors.Is(err, cnm.ErrConflict) {
			t.Errorf("RequestAddress(%s) kept by a goroutine: %v; want a conflict", a, err)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return "no error"
	}
	return err.Error()
}
