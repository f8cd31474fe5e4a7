package overlay

import (
	"context"
	"errors"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/driver"
	"github.com/patchbay/patchbay/store/cluster"
)

func newDrivers(t *testing.T, mem *cluster.Memory, n int, r VNIRange) []*Driver {
	t.Helper()
	var ds []*Driver
	for i := range n {
		d, err := New(Config{Cluster: mem.Client(), Advertise: netip.AddrFrom4([4]byte{10, 200, 0, byte(i + 1)}), VNIs: r})
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d)
	}
	return ds
}

func vniOf(t *testing.T, data map[string]string) uint32 {
	t.Helper()
	n, err := strconv.ParseUint(data["vni"], 10, 32)
	if err != nil {
		t.Fatalf("bad VNI data %v", data)
	}
	return uint32(n)
}

// Hosts creating networks at once, each through its own client of the
// store, never get the same VNI; a full range is a clear unavailable
// error that claims nothing; a freed VNI is taken again.
func TestAllocateConcurrent(t *testing.T) {
	mem := cluster.NewMemory(cluster.MemoryOptions{Now: time.Now})
	r := VNIRange{First: 1000, Last: 1127}
	ds := newDrivers(t, mem, 4, r)
	ctx := context.Background()
	const per = 25
	var mu sync.Mutex
	owner := map[uint32]string{}
	var wg sync.WaitGroup
	errs := make(chan error, len(ds)*per)
	for _, d := range ds {
		for range per {
			wg.Add(1)
			go func() {
				defer wg.Done()
				nw := driver.Network{ID: randomID(), Name: "n"}
				data, err := d.AllocateNetwork(ctx, nw)
				if err != nil {
					errs <- err
					return
				}
				vni := vniOf(t, data)
				mu.Lock()
				defer mu.Unlock()
				if prev, ok := owner[vni]; ok {
					t.Errorf("VNI %d given to %s and %s", vni, prev[:12], nw.ID[:12])
				}
				owner[vni] = nw.ID
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent allocation: %v", err)
	}
	if len(owner) != len(ds)*per {
		t.Fatalf("%d VNIs for %d networks", len(owner), len(ds)*per)
	}
	for vni, id := range owner {
		if vni < r.First || vni > r.Last {
			t.Errorf("VNI %d outside %d–%d", vni, r.First, r.Last)
		}
		kv, err := ds[0].cfg.Cluster.Get(ctx, VNIPrefix+strconv.Itoa(int(vni)))
		if err != nil || string(kv.Value) != id {
			t.Errorf("claim of VNI %d: %q (%v), want %s", vni, kv.Value, err, id)
		}
	}

	// Fill the range, then one more.
	var last driver.Network
	for len(owner) < int(r.size()) {
		last = driver.Network{ID: randomID(), Name: "fill"}
		data, err := ds[1].AllocateNetwork(ctx, last)
		if err != nil {
			t.Fatalf("allocate VNI %d of %d: %v", len(owner)+1, r.size(), err)
		}
		last.Data = data
		owner[vniOf(t, data)] = last.ID
	}
	rev := mem.Revision()
	_, err := ds[2].AllocateNetwork(ctx, driver.Network{ID: randomID(), Name: "toomany"})
	if !errors.Is(err, cnm.ErrUnavailable) {
		t.Fatalf("allocate from a full range: %v, want unavailable", err)
	}
	if mem.Revision() != rev {
		t.Errorf("a failed allocation wrote to the store")
	}

	// A network that does not hold the VNI cannot free it; its holder can.
	if err := ds[3].FreeNetwork(ctx, driver.Network{ID: randomID(), Name: "other", Data: last.Data}); err != nil {
		t.Fatal(err)
	}
	if _, err := ds[0].cfg.Cluster.Get(ctx, VNIPrefix+last.Data["vni"]); err != nil {
		t.Fatalf("another network's FreeNetwork removed the claim: %v", err)
	}
	if err := ds[3].FreeNetwork(ctx, last); err != nil {
		t.Fatal(err)
	}
	if err := ds[3].FreeNetwork(ctx, last); err != nil {
		t.Fatalf("free twice: %v", err)
	}
	again, err := ds[0].AllocateNetwork(ctx, driver.Network{ID: randomID(), Name: "again"})
	if err != nil || again["vni"] != last.Data["vni"] {
		t.Fatalf("allocate after free: %v (%v), want the freed VNI %s", again, err, last.Data["vni"])
	}
}

// Allocating again for the same network returns the VNI it holds; a VNI
// asked for by option is claimed as it is or refused as taken.
func TestAllocateIdempotentAndOption(t *testing.T) {
	mem := cluster.NewMemory(cluster.MemoryOptions{Now: time.Now})
	ds := newDrivers(t, mem, 2, VNIRange{})
	ctx := context.Background()
	nw := driver.Network{ID: randomID(), Name: "a"}
	first, err := ds[0].AllocateNetwork(ctx, nw)
	if err != nil {
		t.Fatal(err)
	}
	if v := vniOf(t, first); v < DefaultVNIs.First {
		t.Errorf("VNI %d below the default range", v)
	}
	second, err := ds[1].AllocateNetwork(ctx, nw)
	if err != nil || second["vni"] != first["vni"] {
		t.Fatalf("allocate again: %v (%v), want %v", second, err, first)
	}

	want := driver.Network{ID: randomID(), Name: "b", Options: map[string]string{OptVXLANIDList: "777"}}
	data, err := ds[0].AllocateNetwork(ctx, want)
	if err != nil || data["vni"] != "777" {
		t.Fatalf("allocate VNI 777 by option: %v (%v)", data, err)
	}
	if data, err := ds[0].AllocateNetwork(ctx, want); err != nil || data["vni"] != "777" {
		t.Fatalf("allocate VNI 777 again for the same network: %v (%v)", data, err)
	}
	other := driver.Network{ID: randomID(), Name: "c", Options: map[string]string{OptVNI: "777"}}
	if _, err := ds[1].AllocateNetwork(ctx, other); !errors.Is(err, cnm.ErrConflict) {
		t.Fatalf("allocate a taken VNI by option: %v, want conflict", err)
	}
}

func TestBadInput(t *testing.T) {
	mem := cluster.NewMemory(cluster.MemoryOptions{Now: time.Now})
	adv := netip.MustParseAddr("10.200.0.1")
	for name, cfg := range map[string]Config{
		"no cluster store":  {Advertise: adv},
		"no advertise":      {Cluster: mem.Client()},
		"unspecified":       {Cluster: mem.Client(), Advertise: netip.IPv4Unspecified()},
		"VNI range reverse": {Cluster: mem.Client(), Advertise: adv, VNIs: VNIRange{First: 10, Last: 5}},
		"VNI range too big": {Cluster: mem.Client(), Advertise: adv, VNIs: VNIRange{First: 10, Last: 1 << 24}},
	} {
		if _, err := New(cfg); !errors.Is(err, cnm.ErrInvalid) {
			t.Errorf("%s: %v, want invalid", name, err)
		}
	}
	for _, opts := range []map[string]string{
		{OptVNI: "0"}, {OptVNI: "16777216"}, {OptVNI: "x"}, {OptVXLANIDList: "5,6"},
		{OptVNI: "5", OptVXLANIDList: "6"}, {OptMTU: "20"}, {OptEncrypted: ""}, {"nosuch": "1"},
	} {
		if _, err := ParseOptions(opts); !errors.Is(err, cnm.ErrInvalid) {
			t.Errorf("options %v: %v, want invalid", opts, err)
		}
	}
	if o, err := ParseOptions(map[string]string{OptVXLANIDList: "300,300", OptMTU: "1400"}); err != nil || o.VNI != 300 || o.MTU != 1400 {
		t.Errorf("valid options: %+v, %v", o, err)
	}
	d := newDrivers(t, mem, 1, VNIRange{})[0]
	if _, err := d.CreateNetwork(context.Background(), driver.Host{}, driver.Network{ID: randomID(), Name: "novni"}); !errors.Is(err, cnm.ErrInvalid) {
		t.Errorf("create a network with no VNI: %v, want invalid", err)
	}
}
