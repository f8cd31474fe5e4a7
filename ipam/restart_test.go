package ipam_test

import (
	"errors"
	"net/netip"
	"sync"
	"testing"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/ipam"
)

// TestRestart replays a network's pools and addresses into a new driver
// over the same CursorStore, as the engine does at start: the pools get
// their IDs back, replayed addresses are reserved again, and serial
// allocation continues after the last address handed out.
func TestRestart(t *testing.T) {
	cursors := &ipam.MemCursors{}
	cfg := ipam.DefaultConfig{Cursors: cursors}
	ctx := t.Context()

	// Before: a chosen pool and a pool with a sub-pool.
	d1 := ipam.NewDefault(cfg)
	chosen, err := d1.RequestPool(ctx, ipam.PoolRequest{})
	if err != nil {
		t.Fatal(err)
	}
	ranged, err := d1.RequestPool(ctx, preq("", "10.8.0.0/24", "10.8.0.16/28"))
	if err != nil {
		t.Fatal(err)
	}
	run(t, d1, chosen.ID, []step{gw("", "172.17.0.1/16"), req("", "172.17.0.2/16"), req("", "172.17.0.3/16"), req("", "172.17.0.4/16"), rel("172.17.0.4")})
	run(t, d1, ranged.ID, []step{gw("10.8.0.254", "10.8.0.254/24"), aux("10.8.0.17"), req("", "10.8.0.16/24"), req("", "10.8.0.18/24"), rel("10.8.0.16")})

	// After: replay in another order, addresses given explicitly.
	d2 := ipam.NewDefault(cfg)
	ranged2, err := d2.RequestPool(ctx, preq("", "10.8.0.0/24", "10.8.0.16/28"))
	if err != nil || ranged2.ID != ranged.ID || ranged2.Prefix != ranged.Prefix {
		t.Fatalf("replayed RequestPool = %+v, %v; want %+v", ranged2, err, ranged)
	}
	chosen2, err := d2.RequestPool(ctx, ipam.PoolRequest{Pool: chosen.Prefix})
	if err != nil || chosen2.ID != chosen.ID || chosen2.Prefix != chosen.Prefix {
		t.Fatalf("replayed RequestPool = %+v, %v; want %+v", chosen2, err, chosen)
	}
	run(t, d2, ranged.ID, []step{aux("10.8.0.17"), gw("10.8.0.254", "10.8.0.254/24"), req("10.8.0.18", "10.8.0.18/24")})
	run(t, d2, chosen.ID, []step{req("172.17.0.3", "172.17.0.3/16"), gw("172.17.0.1", "172.17.0.1/16"), req("172.17.0.2", "172.17.0.2/16")})

	// Serial allocation continues: the released .4 and 10.8.0.16 are
	// not reused before the range wraps.
	run(t, d2, chosen.ID, []step{req("", "172.17.0.5/16"),
		fails(req("172.17.0.3", ""), cnm.ErrConflict, "already in use")})
	run(t, d2, ranged.ID, []step{req("", "10.8.0.19/24"),
		fails(aux("10.8.0.17"), cnm.ErrConflict, "already in use as auxiliary address host")})

	// A released pool forgets its cursor: the subnet starts over.
	run(t, d2, ranged.ID, []step{rel("10.8.0.17"), rel("10.8.0.18"), rel("10.8.0.19"), rel("10.8.0.254"), {op: "relpool"}})
	saved, _ := cursors.LoadCursors()
	if _, ok := saved[ranged.ID]; ok {
		t.Errorf("cursor of released pool %s still saved: %v", ranged.ID, saved)
	}
	d3 := ipam.NewDefault(cfg)
	again, err := d3.RequestPool(ctx, preq("", "10.8.0.0/24", "10.8.0.16/28"))
	if err != nil {
		t.Fatal(err)
	}
	run(t, d3, again.ID, []step{req("", "10.8.0.16/24")})
}

// flakyCursors fails when told to.
type flakyCursors struct {
	ipam.MemCursors
	mu                 sync.Mutex
	failLoad, failSave bool
}

var errStore = errors.New("store is read-only")

func (f *flakyCursors) LoadCursors() (map[string]netip.Addr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failLoad {
		return nil, errStore
	}
	return f.MemCursors.LoadCursors()
}

func (f *flakyCursors) SaveCursor(id string, c netip.Addr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failSave {
		return errStore
	}
	return f.MemCursors.SaveCursor(id, c)
}

func (f *flakyCursors) set(load, save bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failLoad, f.failSave = load, save
}

func TestCursorStoreErrors(t *testing.T) {
	ctx := t.Context()
	fc := &flakyCursors{failLoad: true}
	d := ipam.NewDefault(ipam.DefaultConfig{Cursors: fc})
	if _, err := d.RequestPool(ctx, preq("", "10.7.0.0/24", "")); !errors.Is(err, errStore) {
		t.Fatalf("RequestPool with a failing LoadCursors: %v; want its error", err)
	}
	fc.set(false, false)
	p, err := d.RequestPool(ctx, preq("", "10.7.0.0/24", ""))
	if err != nil {
		t.Fatal(err)
	}
	run(t, d, p.ID, []step{req("", "10.7.0.1/24")})
	// A cursor that cannot be saved undoes the allocation: the address
	// is handed out again once the store works.
	fc.set(false, true)
	if _, err := d.RequestAddress(ctx, p.ID, netip.Addr{}, nil); !errors.Is(err, errStore) {
		t.Fatalf("RequestAddress with a failing SaveCursor: %v; want its error", err)
	}
	// Static addresses need no cursor.
	run(t, d, p.ID, []step{req("10.7.0.9", "10.7.0.9/24")})
	fc.set(false, false)
	run(t, d, p.ID, []step{req("", "10.7.0.2/24"), rel("10.7.0.1"), rel("10.7.0.2"), rel("10.7.0.9")})
	fc.set(false, true)
	if err := d.ReleasePool(ctx, p.ID); !errors.Is(err, errStore) {
		t.Fatalf("ReleasePool with a failing SaveCursor: %v; want its error", err)
	}
	fc.set(false, false)
	if err := d.ReleasePool(ctx, p.ID); err != nil {
		t.Fatalf("ReleasePool: %v", err)
	}
}
