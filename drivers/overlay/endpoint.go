package overlay

import (
	"context"
	"errors"
	"fmt"

	"github.com/patchbay/patchbay/driver"
	"github.com/patchbay/patchbay/internal/nl"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// HostIfName is the host end of an endpoint's veth pair.
func HostIfName(ep driver.Endpoint) string { return "veth" + ep.ID[:11] }

// peerName is the sandbox end's name while it waits in the host namespace
// for a caller to move it.
func peerName(ep driver.Endpoint) string { return "pbc" + ep.ID[:11] }

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
func (d *Driver) Join(ctx context.Context, h driver.Host, nw driver.Network, ep driver.Endpoint, sb driver.Sandbox) (_ driver.JoinInfo, retErr error) {
	if err := ctx.Err(); err != nil {
		return driver.JoinInfo{}, err
	}
	if ep.HostIfName == "" {
		ep.HostIfName = HostIfName(ep)
	}
	veth, err := createPair(h, nw, ep, sb)
	if errors.Is(err, unix.EXFULL) {
		// A bridge has at most 1024 ports.
		return driver.JoinInfo{}, fmt.Errorf("%w: %w", driver.ErrBusy, err)
	}
	if err != nil {
		return driver.JoinInfo{}, err
	}
	defer func() {
		if retErr != nil {
			_ = h.Handle.LinkDel(veth)
		}
	}()
	var info driver.JoinInfo
	if !nw.Internal {
		info = driver.Gateways(nw, ep)
	}
	if !sb.InPlace() {
		info.Interface = &driver.Move{SrcName: peerName(ep), DstPrefix: "eth"}
		return info, nil
	}
	peer, err := sb.Handle.LinkByName(ep.IfName)
	if err != nil {
		return driver.JoinInfo{}, fmt.Errorf("find %s in sandbox: %w", ep.IfName, err)
	}
	if err := nl.BringUpEndpoint(sb.Handle, peer, ep.IPv4, ep.IPv6); err != nil {
		return driver.JoinInfo{}, err
	}
	return info, nil
}

// createPair makes the endpoint's veth pair, its host end tagged, a port
// of the bridge and up.
func createPair(h driver.Host, nw driver.Network, ep driver.Endpoint, sb driver.Sandbox) (_ *netlink.Veth, retErr error) {
	brName := BridgeName(nw)
	br, err := h.Handle.LinkByName(brName)
	if err != nil {
		return nil, fmt.Errorf("look up bridge %s: %w", brName, err)
	}
	mtu := br.Attrs().MTU
	veth := &netlink.Veth{
		LinkAttrs:        netlink.LinkAttrs{Name: ep.HostIfName, MTU: mtu, TxQLen: -1},
		PeerName:         ep.IfName,
		PeerHardwareAddr: ep.MAC,
		PeerMTU:          uint32(mtu),
	}
	if sb.InPlace() {
		veth.PeerNamespace = netlink.NsFd(sb.NS)
	} else {
		veth.PeerName = peerName(ep)
	}
	if err := h.Handle.LinkAdd(veth); err != nil {
		return nil, fmt.Errorf("create veth %s for %s: %w", ep.HostIfName, ep.IfName, err)
	}
	defer func() {
		if retErr != nil {
			_ = h.Handle.LinkDel(veth)
		}
	}()
	// Tag first, so a crash at any later step leaves a link the sweep
	// recognises.
	if err := h.Handle.LinkSetAlias(veth, h.Tag+"ep:"+ep.ID); err != nil {
		return nil, fmt.Errorf("tag veth %s: %w", ep.HostIfName, err)
	}
	if err := h.Handle.LinkSetIP6AddrGenMode(veth, nl.AddrGenModeNone); err != nil && !errors.Is(err, unix.EAFNOSUPPORT) {
		return nil, fmt.Errorf("set addrgenmode of veth %s: %w", ep.HostIfName, err)
	}
	if err := h.Handle.LinkSetMasterByIndex(veth, br.Attrs().Index); err != nil {
		return nil, fmt.Errorf("attach veth %s to bridge %s: %w", ep.HostIfName, brName, err)
	}
	// A sandbox reaching its own published port gets its packets back
	// through the port they came in by.
	if err := h.Handle.LinkSetHairpin(veth, true); err != nil {
		return nil, fmt.Errorf("set hairpin on veth %s: %w", ep.HostIfName, err)
	}
	if err := h.Handle.LinkSetUp(veth); err != nil {
		return nil, fmt.Errorf("set veth %s up: %w", ep.HostIfName, err)
	}
	return veth, nil
}

// Leave implements driver.Driver: nothing to do; the pair is deleted by
// DeleteEndpoint.
func (*Driver) Leave(ctx context.Context, h driver.Host, nw driver.Network, ep driver.Endpoint) error {
	return nil
}

// DeleteEndpoint deletes the host end; the kernel removes its peer.
func (*Driver) DeleteEndpoint(ctx context.Context, h driver.Host, nw driver.Network, ep driver.Endpoint) error {
	if ep.HostIfName == "" {
		return nil
	}
	l, err := h.Handle.LinkByName(ep.HostIfName)
	if nl.IsNotFound(err) {
		return nil
	}
	if err == nil {
		err = h.Handle.LinkDel(l)
	}
	if err != nil && !nl.IsNotFound(err) {
		return fmt.Errorf("delete veth %s: %w", ep.HostIfName, err)
	}
	return nil
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
