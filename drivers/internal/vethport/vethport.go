// Package vethport makes an endpoint's veth pair a port of a Linux
// bridge in the host namespace — the data path the bridge and overlay
// drivers share. The pair is created (step one) with its inner end
// already inside the sandbox under its final name when the sandbox is
// open, or else left in the host namespace under a temporary name for the
// caller to move in (step two, the plugin protocol's SrcName).
package vethport

import (
	"errors"
	"fmt"

	"github.com/patchbay/patchbay/driver"
	"github.com/patchbay/patchbay/internal/nl"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// HostIfName is the host end of an endpoint's veth pair.
func HostIfName(ep driver.Endpoint) string { return "veth" + ep.ID[:11] }

// PeerName is the inner end's name while it waits in the host namespace
// for a caller to move it.
func PeerName(ep driver.Endpoint) string { return "pbc" + ep.ID[:11] }

// Port is the bridge an endpoint joins.
type Port struct {
	// Bridge is the bridge device.
	Bridge string
	// MTU of both ends: 0 the kernel's default, -1 the bridge's.
	MTU int
	// Isolated ports reach the bridge but not each other.
	Isolated bool
}

// Join creates the endpoint's pair as a port of p.Bridge and places its
// inner end: in the sandbox, addressed and up, when the sandbox is open;
// else returned as JoinInfo.Interface. Gateways are the network's unless
// it is internal. A bridge full of ports (1024) is driver.ErrBusy.
func Join(h driver.Host, nw driver.Network, ep driver.Endpoint, sb driver.Sandbox, p Port) (_ driver.JoinInfo, retErr error) {
	if ep.HostIfName == "" {
		ep.HostIfName = HostIfName(ep)
	}
	veth, err := createPair(h, ep, sb, p)
	if errors.Is(err, unix.EXFULL) {
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
		info.Interface = &driver.Move{SrcName: PeerName(ep), DstPrefix: "eth"}
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

// createPair makes the pair: its host end tagged, a port of the bridge
// (hairpin on, isolated if asked) and up.
func createPair(h driver.Host, ep driver.Endpoint, sb driver.Sandbox, p Port) (_ *netlink.Veth, retErr error) {
	br, err := h.Handle.LinkByName(p.Bridge)
	if err != nil {
		return nil, fmt.Errorf("look up bridge %s: %w", p.Bridge, err)
	}
	mtu := p.MTU
	if mtu < 0 {
		mtu = br.Attrs().MTU
	}
	veth := &netlink.Veth{
		LinkAttrs:        netlink.LinkAttrs{Name: ep.HostIfName, MTU: mtu, TxQLen: -1},
		PeerName:         ep.IfName,
		PeerHardwareAddr: ep.MAC,
		PeerMTU:          uint32(mtu),
	}
	if sb.InPlace() {
		veth.PeerNamespace = netlink.NsFd(sb.NS)
	} else {
		veth.PeerName = PeerName(ep)
	}
	if err := h.Handle.LinkAdd(veth); err != nil {
		return nil, fmt.Errorf("create veth %s for %s: %w", ep.HostIfName, ep.IfName, err)
	}
	defer func() {
		if retErr != nil {
			_ = h.Handle.LinkDel(veth)
		}
	}()
	// Tag first, so a crash at any later step leaves a link the engine's
	// sweep recognises; the kernel ignores an alias in the create request.
	if err := h.Handle.LinkSetAlias(veth, h.Tag+"ep:"+ep.ID); err != nil {
		return nil, fmt.Errorf("tag veth %s: %w", ep.HostIfName, err)
	}
	// A bridge port needs no IPv6 address: without one it sends no DAD,
	// MLD or router solicitations for the bridge to flood to every port.
	// (Below an MTU of 1280 a device has no IPv6 to turn off.)
	if err := h.Handle.LinkSetIP6AddrGenMode(veth, nl.AddrGenModeNone); err != nil && !errors.Is(err, unix.EAFNOSUPPORT) {
		return nil, fmt.Errorf("set addrgenmode of veth %s: %w", ep.HostIfName, err)
	}
	if err := h.Handle.LinkSetMasterByIndex(veth, br.Attrs().Index); err != nil {
		return nil, fmt.Errorf("attach veth %s to bridge %s: %w", ep.HostIfName, p.Bridge, err)
	}
	// A sandbox reaching its own published port gets its packets back
	// through the port they came in by.
	if err := h.Handle.LinkSetHairpin(veth, true); err != nil {
		return nil, fmt.Errorf("set hairpin on veth %s: %w", ep.HostIfName, err)
	}
	if p.Isolated {
		if err := h.Handle.LinkSetIsolated(veth, true); err != nil {
			return nil, fmt.Errorf("isolate veth %s: %w", ep.HostIfName, err)
		}
	}
	if err := h.Handle.LinkSetUp(veth); err != nil {
		return nil, fmt.Errorf("set veth %s up: %w", ep.HostIfName, err)
	}
	return veth, nil
}

// DeleteEndpoint deletes the endpoint's host end, and the kernel its peer
// with it; a missing one is not an error.
func DeleteEndpoint(h driver.Host, ep driver.Endpoint) error {
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
