// Package overlay is the multi-host overlay network driver: a network
// spans every host of a cluster sharing a cluster store. On each host it
// is a Linux bridge in the host namespace carrying the network's gateway
// address (the same on every host) and a VXLAN device, a port of that
// bridge, which carries frames for endpoints on other hosts to their host
// over UDP. The VXLAN device learns nothing and floods nothing: every
// remote endpoint gets a static forwarding entry (MAC → host) and a
// permanent neighbour entry (IP → MAC) that the device answers ARP and
// neighbour solicitations from, both programmed declaratively by
// SetPeers. Endpoints are veth pairs into the bridge, as with the bridge
// driver. A network's VNI is claimed once for the cluster with a
// create-only write to the cluster store (AllocateNetwork).
package overlay

import (
	"context"
	"fmt"
	"net/netip"
	"sync"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/driver"
	"github.com/patchbay/patchbay/internal/nl"
	"github.com/patchbay/patchbay/store/cluster"
	"github.com/vishvananda/netlink"
)

// DefaultPort is the IANA VXLAN port.
const DefaultPort = 4789

// Overheads of VXLAN encapsulation: outer IP, UDP (8), VXLAN (8) and the
// inner Ethernet header (14).
const (
	overhead4 = 20 + 8 + 8 + 14
	overhead6 = 40 + 8 + 8 + 14
)

// Config configures the driver.
type Config struct {
	// Cluster is the store VNIs are claimed in.
	Cluster cluster.Store
	// Advertise is this host's underlay address: the source of its VXLAN
	// packets and the address other hosts send this host's endpoints'
	// frames to. The interface holding it gives the underlay MTU.
	Advertise netip.Addr
	// Port is the VXLAN UDP port, DefaultPort if zero. Every host of a
	// cluster must use the same.
	Port uint16
	// VNIs is the range VNIs are allocated from, DefaultVNIs if zero.
	VNIs VNIRange
}

// Driver is the overlay driver. Everything it needs about a network is in
// the network it is handed (its VNI in Network.Data).
type Driver struct {
	cfg Config

	// peersMu serialises SetPeers, whose list-then-change of a network's
	// entries must not interleave with another call's.
	peersMu sync.Mutex
	// programmed is what SetPeers last made each VXLAN device hold, by
	// device name; guarded by peersMu.
	programmed map[string]programmed
}

// New returns the overlay driver, or an error if cfg cannot work.
func New(cfg Config) (*Driver, error) {
	if cfg.Cluster == nil {
		return nil, cnm.Invalid("overlay driver: no cluster store (overlay networks need --cluster-store)")
	}
	if !cfg.Advertise.IsValid() || cfg.Advertise.IsUnspecified() || cfg.Advertise.IsMulticast() {
		return nil, cnm.Invalid("overlay driver: invalid advertise address %q", cfg.Advertise)
	}
	cfg.Advertise = cfg.Advertise.Unmap()
	if cfg.Port == 0 {
		cfg.Port = DefaultPort
	}
	if cfg.VNIs == (VNIRange{}) {
		cfg.VNIs = DefaultVNIs
	}
	if cfg.VNIs.First == 0 || cfg.VNIs.Last > maxVNI || cfg.VNIs.First > cfg.VNIs.Last {
		return nil, cnm.Invalid("overlay driver: invalid VNI range %d–%d (want 1 ≤ first ≤ last ≤ %d)", cfg.VNIs.First, cfg.VNIs.Last, maxVNI)
	}
	return &Driver{cfg: cfg, programmed: map[string]programmed{}}, nil
}

// Type implements driver.Driver.
func (*Driver) Type() string { return "overlay" }

// Capabilities implements driver.Driver: records and reach are cluster-wide.
func (*Driver) Capabilities(ctx context.Context) (driver.Capability, error) {
	return driver.Capability{DataScope: driver.ScopeGlobal, ConnectivityScope: driver.ScopeGlobal, NeedsNamespace: true, Connectable: true}, nil
}

// ParseOptions implements driver.Driver: the decoded value is an Options.
func (*Driver) ParseOptions(opts map[string]string) (any, error) { return ParseOptions(opts) }

func options(nw driver.Network) (Options, error) { return driver.Decoded(nw, ParseOptions) }

// Exposure implements driver.Exposer: the network's bridge is its door to
// this host, firewalled by the engine like a bridge network's: isolation
// from other networks, masquerade of outbound traffic through this host's
// own uplink, ports published on this host to its own endpoints.
func (*Driver) Exposure(nw driver.Network) driver.Exposure {
	return driver.Exposure{Device: BridgeName(nw), Masquerade: true, ICC: true, Publish: true}
}

var _ driver.Exposer = (*Driver)(nil)

// Sweep implements driver.Sweeper: bridges, VXLAN devices and veths
// carrying the engine's tag that no record explains are deleted. Stale
// forwarding and neighbour entries of networks that stay are removed by
// the next SetPeers, which the engine calls for every network at start.
func (*Driver) Sweep(ctx context.Context, h driver.Host, known driver.Known) error {
	return nl.SweepTagged(h.Handle, h.Tag, known.Networks, known.Endpoints)
}

var _ driver.Sweeper = (*Driver)(nil)

// SetNodes implements driver.NodeSetter. It keeps nothing: every peer
// handed to SetPeers names its host's address, and a host that leaves
// takes its endpoints out of the next SetPeers of every network.
func (*Driver) SetNodes(ctx context.Context, h driver.Host, nodes []driver.Node) error {
	return ctx.Err()
}

var _ driver.NodeSetter = (*Driver)(nil)

// BridgeName is the bridge of a network on every host.
func BridgeName(nw driver.Network) string { return "ov-" + nw.ID[:12] }

// VXLANName is the VXLAN device of a network on every host.
func VXLANName(nw driver.Network) string { return "vx-" + nw.ID[:12] }

func networkTag(h driver.Host, nw driver.Network) string { return h.Tag + "net:" + nw.ID }

// underlayMTU is the MTU the network's devices get: the option if set,
// else the MTU of the host's interface holding the advertise address
// less the VXLAN overhead.
func (d *Driver) underlayMTU(h driver.Host, o Options) (int, error) {
	if o.MTU != 0 {
		return o.MTU, nil
	}
	addrs, err := h.Handle.AddrList(nil, familyOf(d.cfg.Advertise))
	if err != nil {
		return 0, fmt.Errorf("list host addresses: %w", err)
	}
	for _, a := range addrs {
		if p, ok := nl.Prefix(a.IPNet); ok && p.Addr() == d.cfg.Advertise {
			l, err := h.Handle.LinkByIndex(a.LinkIndex)
			if err != nil {
				return 0, fmt.Errorf("look up the interface of advertise address %s: %w", d.cfg.Advertise, err)
			}
			over := overhead4
			if d.cfg.Advertise.Is6() {
				over = overhead6
			}
			return l.Attrs().MTU - over, nil
		}
	}
	return 0, cnm.Unavailable("overlay: advertise address %s is on no interface of the host", d.cfg.Advertise)
}

// familyOf is the netlink address family of an address.
func familyOf(a netip.Addr) int {
	if a.Is4() {
		return netlink.FAMILY_V4
	}
	return netlink.FAMILY_V6
}
