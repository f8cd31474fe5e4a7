package overlay

import (
	"context"

	"github.com/patchbay/patchbay/driver"
	"github.com/patchbay/patchbay/drivers/internal/vethport"
	"github.com/patchbay/patchbay/internal/nl"
)

// HostIfName is the host end of an endpoint's veth pair.
func HostIfName(ep driver.Endpoint) string { return vethport.HostIfName(ep) }

// CreateEndpoint implements driver.Driver: the engine's MAC and addresses
// are taken as they are; the pair is made in Join.
func (*Driver) CreateEndpoint(ctx context.Context, h driver.Host, nw driver.Network, ep driver.Endpoint) (driver.EndpointResult, error) {
	if err := driver.AcceptEndpoint(ctx, "overlay", ep); err != nil {
		return driver.EndpointResult{}, err
	}
	return driver.EndpointResult{HostIfName: HostIfName(ep)}, nil
}

// Join creates the endpoint's veth pair as the bridge driver does: its
// host end a port of the network's bridge, its inner end created inside
// the sandbox under its final name, configured and up — or left in the
// host namespace for the caller to move in. Both ends get the bridge's
// MTU, the underlay's less the VXLAN overhead.
func (d *Driver) Join(ctx context.Context, h driver.Host, nw driver.Network, ep driver.Endpoint, sb driver.Sandbox) (driver.JoinInfo, error) {
	if err := ctx.Err(); err != nil {
		return driver.JoinInfo{}, err
	}
	return vethport.Join(h, nw, ep, sb, vethport.Port{Bridge: BridgeName(nw), MTU: -1})
}

// Leave implements driver.Driver: nothing to do; the pair is deleted by
// DeleteEndpoint.
func (*Driver) Leave(ctx context.Context, h driver.Host, nw driver.Network, ep driver.Endpoint) error {
	return nil
}

// DeleteEndpoint deletes the host end; the kernel removes its peer.
func (*Driver) DeleteEndpoint(ctx context.Context, h driver.Host, nw driver.Network, ep driver.Endpoint) error {
	return vethport.DeleteEndpoint(h, ep)
}

// DeleteEndpoints implements driver.BulkDeleter: the host ends join the
// engine's reap group, which is deleted in one request.
func (*Driver) DeleteEndpoints(ctx context.Context, h driver.Host, deps []driver.Departure) error {
	names := make([]string, 0, len(deps))
	for _, dep := range deps {
		names = append(names, dep.Endpoint.HostIfName)
	}
	return nl.DeleteNamed(h.Handle, h.NS, h.Tag, "veth", names, nil)
}

var _ driver.BulkDeleter = (*Driver)(nil)

// EndpointOK implements driver.Checker: the host end exists and is a port
// of the network's bridge.
func (*Driver) EndpointOK(ctx context.Context, h driver.Host, nw driver.Network, ep driver.Endpoint) bool {
	l, err := h.Handle.LinkByName(ep.HostIfName)
	if err != nil {
		return false
	}
	br, err := h.Handle.LinkByName(BridgeName(nw))
	return err == nil && l.Attrs().MasterIndex == br.Attrs().Index
}

var _ driver.Checker = (*Driver)(nil)
