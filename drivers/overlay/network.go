package overlay

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/driver"
	"github.com/patchbay/patchbay/internal/nl"
	"github.com/patchbay/patchbay/ipam"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// CreateNetwork makes the network's bridge and VXLAN device on this host,
// or re-asserts them on restore. The VNI comes from the network's data
// (AllocateNetwork's result), else from its VNI option.
func (d *Driver) CreateNetwork(ctx context.Context, h driver.Host, nw driver.Network) (_ driver.NetworkResult, retErr error) {
	if err := ctx.Err(); err != nil {
		return driver.NetworkResult{}, err
	}
	o, err := options(nw)
	if err != nil {
		return driver.NetworkResult{}, err
	}
	vni, ok, err := networkVNI(nw)
	if err != nil {
		return driver.NetworkResult{}, err
	}
	if !ok {
		return driver.NetworkResult{}, cnm.Invalid("create overlay network %s: no VNI (the network was not allocated one)", nw.Name)
	}
	mtu, err := d.underlayMTU(h, o)
	if err != nil {
		return driver.NetworkResult{}, err
	}
	br, made, err := d.bridge(h, nw, mtu)
	if err != nil {
		return driver.NetworkResult{}, err
	}
	if made {
		defer func() {
			if retErr != nil {
				_ = h.Handle.LinkDel(br)
			}
		}()
	}
	if err := d.vxlan(h, nw, vni, mtu, br); err != nil {
		return driver.NetworkResult{}, err
	}
	if err := h.Handle.LinkSetUp(br); err != nil {
		return driver.NetworkResult{}, fmt.Errorf("set bridge %s up: %w", BridgeName(nw), err)
	}
	return driver.NetworkResult{Data: vniData(vni)}, nil
}

// ours looks up a device of the network: found is false when it does not
// exist; an interface of that name that is not the network's is a
// conflict.
func ours(h driver.Host, nw driver.Network, name string) (_ netlink.Link, found bool, _ error) {
	l, err := h.Handle.LinkByName(name)
	switch {
	case nl.IsNotFound(err):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("look up %s: %w", name, err)
	case l.Attrs().Alias != networkTag(h, nw):
		return nil, false, cnm.Conflict("create overlay network %s: an interface named %s exists and is not this network's", nw.Name, name)
	}
	return l, true, nil
}

// tagged creates a link and tags it as the network's (the kernel ignores
// an alias in the create request), deleting it if tagging fails.
func tagged(h driver.Host, l netlink.Link, tag string) error {
	if err := h.Handle.LinkAdd(l); err != nil {
		return err
	}
	if err := h.Handle.LinkSetAlias(l, tag); err != nil {
		_ = h.Handle.LinkDel(l)
		return fmt.Errorf("tag: %w", err)
	}
	return nil
}

// bridge makes (made) or re-asserts the network's bridge with its gateway
// addresses, MTU set; it is brought up once its VXLAN port is in place.
func (d *Driver) bridge(h driver.Host, nw driver.Network, mtu int) (_ netlink.Link, made bool, retErr error) {
	name := BridgeName(nw)
	link, found, err := ours(h, nw, name)
	if err != nil {
		return nil, false, err
	}
	if !found {
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name, MTU: mtu, TxQLen: -1, HardwareAddr: ipam.RandomMAC()}}
		if err := tagged(h, br, networkTag(h, nw)); err != nil {
			return nil, false, fmt.Errorf("create bridge %s: %w", name, err)
		}
		defer func() {
			if retErr != nil {
				_ = h.Handle.LinkDel(br)
			}
		}()
		link, made = br, true
	} else if link.Attrs().MTU != mtu {
		if err := h.Handle.LinkSetMTU(link, mtu); err != nil {
			return nil, false, fmt.Errorf("set MTU of bridge %s: %w", name, err)
		}
	}
	for _, s := range nw.Subnets {
		if !s.Gateway.IsValid() {
			continue
		}
		addr := nl.Addr(netip.PrefixFrom(s.Gateway, s.Prefix.Bits()))
		if s.Gateway.Is6() {
			addr.Flags = unix.IFA_F_NODAD
		}
		if err := h.Handle.AddrReplace(link, addr); err != nil {
			return nil, false, fmt.Errorf("add gateway %s to bridge %s: %w", s.Gateway, name, err)
		}
	}
	for _, s := range nw.Subnets {
		if s.Prefix.Addr().Is6() {
			// The kernel solicits neighbours for forwarded IPv6 traffic
			// only from a link-local address.
			ll := nl.Addr(netip.PrefixFrom(linkLocal(link.Attrs().HardwareAddr), 64))
			ll.Flags = unix.IFA_F_NODAD
			if err := h.Handle.AddrReplace(link, ll); err != nil {
				return nil, false, fmt.Errorf("add link-local address to bridge %s: %w", name, err)
			}
			break
		}
	}
	// Ports published on 127.0.0.1 are DNATed to endpoints behind the
	// bridge; the kernel routes loopback-sourced packets out only with
	// route_localnet.
	if err := nl.Sysctl(h.NS, "ipv4/conf/"+name+"/route_localnet", "1"); err != nil {
		return nil, false, err
	}
	return link, made, nil
}

// vxlan makes or re-asserts the network's VXLAN device, a port of br and
// up: no learning, no multicast group, no miss notifications, ARP and
// neighbour solicitations answered from its neighbour table (proxy). A
// device of the network whose settings differ (another VNI after the
// network was recreated) is replaced.
func (d *Driver) vxlan(h driver.Host, nw driver.Network, vni uint32, mtu int, br netlink.Link) (retErr error) {
	name := VXLANName(nw)
	link, found, err := ours(h, nw, name)
	if err != nil {
		return err
	}
	if vx, ok := link.(*netlink.Vxlan); found && (!ok || !d.sameVXLAN(vx, vni)) {
		if err := h.Handle.LinkDel(link); err != nil && !nl.IsNotFound(err) {
			return fmt.Errorf("replace VXLAN device %s: %w", name, err)
		}
		found = false
	}
	if !found {
		vx := &netlink.Vxlan{
			LinkAttrs: netlink.LinkAttrs{Name: name, MTU: mtu, TxQLen: -1, HardwareAddr: ipam.RandomMAC()},
			VxlanId:   int(vni),
			SrcAddr:   nl.IP(d.cfg.Advertise),
			Port:      int(d.cfg.Port),
			Learning:  false,
			Proxy:     true,
		}
		err := tagged(h, vx, networkTag(h, nw))
		if errors.Is(err, unix.EEXIST) || errors.Is(err, unix.EADDRINUSE) {
			return cnm.Conflict("create VXLAN device %s: VNI %d port %d is used by another device of the host", name, vni, d.cfg.Port)
		}
		if err != nil {
			return fmt.Errorf("create VXLAN device %s (VNI %d): %w", name, vni, err)
		}
		defer func() {
			if retErr != nil {
				_ = h.Handle.LinkDel(vx)
			}
		}()
		link = vx
	} else if link.Attrs().MTU != mtu {
		if err := h.Handle.LinkSetMTU(link, mtu); err != nil {
			return fmt.Errorf("set MTU of VXLAN device %s: %w", name, err)
		}
	}
	// A bridge port needs no IPv6 address (no DAD, MLD or router
	// solicitations to carry). Below an MTU of 1280 the device has no IPv6
	// at all (EAFNOSUPPORT).
	if err := h.Handle.LinkSetIP6AddrGenMode(link, nl.AddrGenModeNone); err != nil && !errors.Is(err, unix.EAFNOSUPPORT) {
		return fmt.Errorf("set addrgenmode of %s: %w", name, err)
	}
	if link.Attrs().MasterIndex != br.Attrs().Index {
		if err := h.Handle.LinkSetMasterByIndex(link, br.Attrs().Index); err != nil {
			return fmt.Errorf("attach %s to bridge %s: %w", name, br.Attrs().Name, err)
		}
	}
	if err := h.Handle.LinkSetUp(link); err != nil {
		return fmt.Errorf("set %s up: %w", name, err)
	}
	return nil
}

// sameVXLAN reports whether an existing device has the settings this host
// would give the network's.
func (d *Driver) sameVXLAN(vx *netlink.Vxlan, vni uint32) bool {
	src, _ := netip.AddrFromSlice(vx.SrcAddr)
	return vx.VxlanId == int(vni) && vx.Port == int(d.cfg.Port) && src.Unmap() == d.cfg.Advertise &&
		!vx.Learning && vx.Proxy && !vx.L2miss && !vx.L3miss && isUnspecified(vx.Group)
}

func isUnspecified(ip net.IP) bool { return ip == nil || ip.IsUnspecified() }

// RetireNetwork implements driver.NetworkRetirer. On the request path the
// bridge loses its addresses, and the host its routes to the subnet, and
// the VXLAN device is deleted, so both the subnet and the VNI are free on
// this host at once; DeleteNetwork removes the bridge later.
func (d *Driver) RetireNetwork(ctx context.Context, h driver.Host, nw driver.Network) error {
	if err := d.deleteVXLAN(h, nw); err != nil {
		return err
	}
	link, err := h.Handle.LinkByName(BridgeName(nw))
	if nl.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("look up bridge %s: %w", BridgeName(nw), err)
	}
	if link.Attrs().Alias != networkTag(h, nw) {
		return nil // not ours
	}
	addrs, err := h.Handle.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		return fmt.Errorf("list addresses of bridge %s: %w", link.Attrs().Name, err)
	}
	for _, a := range addrs {
		if err := h.Handle.AddrDel(link, &a); err != nil && !nl.IsNotFound(err) && !errors.Is(err, unix.EADDRNOTAVAIL) {
			return fmt.Errorf("remove address %s from bridge %s: %w", a.IPNet, link.Attrs().Name, err)
		}
	}
	return nil
}

var _ driver.NetworkRetirer = (*Driver)(nil)

// DeleteNetwork removes the VXLAN device and the bridge; missing ones are
// not an error, nor are devices of those names that are not the network's
// (they are left alone).
func (d *Driver) DeleteNetwork(ctx context.Context, h driver.Host, nw driver.Network) error {
	if err := d.deleteVXLAN(h, nw); err != nil {
		return err
	}
	return deleteOurs(h, nw, BridgeName(nw))
}

func (d *Driver) deleteVXLAN(h driver.Host, nw driver.Network) error {
	return deleteOurs(h, nw, VXLANName(nw))
}

func deleteOurs(h driver.Host, nw driver.Network, name string) error {
	link, err := h.Handle.LinkByName(name)
	if nl.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("look up %s: %w", name, err)
	}
	if link.Attrs().Alias != networkTag(h, nw) {
		return nil
	}
	if err := h.Handle.LinkDel(link); err != nil && !nl.IsNotFound(err) {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	return nil
}

// linkLocal is the modified EUI-64 link-local address of a MAC address.
func linkLocal(mac net.HardwareAddr) netip.Addr {
	a := [16]byte{0: 0xfe, 1: 0x80}
	if len(mac) == 6 {
		a[8], a[9], a[10] = mac[0]^0x02, mac[1], mac[2]
		a[11], a[12] = 0xff, 0xfe
		a[13], a[14], a[15] = mac[3], mac[4], mac[5]
	}
	return netip.AddrFrom16(a)
}
