package overlay

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"testing"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/driver"
	"github.com/patchbay/patchbay/internal/netnstest"
	"github.com/vishvananda/netlink"
)

// Creating a network fails cleanly, making nothing, when the advertise
// address is on no interface of the host or when the host already has a
// VXLAN device with the network's VNI; an MTU option overrides the
// derived one.
func TestCreateErrors(t *testing.T) {
	l := newLab(t, 1, 1500)
	h := l.hosts[0]
	ctx := context.Background()
	before := netnstest.LinkNames(t, h.h.Handle)

	stray, err := New(Config{Cluster: l.mem.Client(), Advertise: netip.MustParseAddr("10.200.0.77")})
	if err != nil {
		t.Fatal(err)
	}
	nw := driver.Network{ID: randomID(), Name: "stray", Data: vniData(5000)}
	if _, err := stray.CreateNetwork(ctx, h.h, nw); !errors.Is(err, cnm.ErrUnavailable) {
		t.Fatalf("create with an advertise address the host lacks: %v, want unavailable", err)
	}

	first := driver.Network{ID: randomID(), Name: "first", Data: vniData(5001)}
	if _, err := h.d.CreateNetwork(ctx, h.h, first); err != nil {
		t.Fatal(err)
	}
	dup := driver.Network{ID: randomID(), Name: "dup", Data: vniData(5001)}
	if _, err := h.d.CreateNetwork(ctx, h.h, dup); !errors.Is(err, cnm.ErrConflict) {
		t.Fatalf("create a second network with VNI 5001 on one host: %v, want conflict", err)
	}
	if err := h.d.DeleteNetwork(ctx, h.h, first); err != nil {
		t.Fatal(err)
	}
	if after := netnstest.LinkNames(t, h.h.Handle); !slices.Equal(before, after) {
		t.Fatalf("links before %v, after %v", before, after)
	}

	mtu := driver.Network{ID: randomID(), Name: "mtu", Data: vniData(5002), Options: map[string]string{OptMTU: "1200"}}
	if _, err := h.d.CreateNetwork(ctx, h.h, mtu); err != nil {
		t.Fatal(err)
	}
	defer h.d.DeleteNetwork(ctx, h.h, mtu)
	vx, err := h.h.Handle.LinkByName(VXLANName(mtu))
	if err != nil || vx.Attrs().MTU != 1200 {
		t.Fatalf("VXLAN device with MTU option 1200: %v (%v)", vx, err)
	}

	// Retiring frees the VNI on this host at once.
	if err := h.d.RetireNetwork(ctx, h.h, mtu); err != nil {
		t.Fatal(err)
	}
	reuse := driver.Network{ID: randomID(), Name: "reuse", Data: vniData(5002)}
	if _, err := h.d.CreateNetwork(ctx, h.h, reuse); err != nil {
		t.Fatalf("create with the VNI of a retired network: %v", err)
	}
	defer h.d.DeleteNetwork(ctx, h.h, reuse)

	// Restored with another VNI (the record changed while the host was
	// down): the device is replaced.
	moved := reuse
	moved.Data = vniData(5003)
	if _, err := h.d.CreateNetwork(ctx, h.h, moved); err != nil {
		t.Fatal(err)
	}
	if l, err := h.h.Handle.LinkByName(VXLANName(moved)); err != nil || l.(*netlink.Vxlan).VxlanId != 5003 {
		t.Fatalf("VXLAN device after restore with VNI 5003: %v (%v)", l, err)
	}
}
