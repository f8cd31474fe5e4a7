// Package bridge is the bridge network driver: one Linux bridge per
// network carrying the gateway address, and one veth pair per endpoint
// whose host end is a port of the bridge and whose other end is created
// directly inside the sandbox namespace under its final name (eth0…) —
// or, for a caller that moves interfaces itself (a dockerd), left in the
// host namespace for it to move.
package bridge

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/driver"
	"github.com/patchbay/patchbay/drivers/internal/vethport"
	"github.com/patchbay/patchbay/internal/nl"
	"github.com/patchbay/patchbay/ipam"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// DefaultDevice is the device of the default "bridge" network.
const DefaultDevice = "patchbay0"

// Driver is the bridge driver. It keeps no state: everything it needs is
// in the network and endpoint it is handed.
type Driver struct{}

// New returns the bridge driver.
func New() *Driver { return &Driver{} }

// Type implements driver.Driver.
func (*Driver) Type() string { return "bridge" }

// Capabilities implements driver.Driver.
func (*Driver) Capabilities(context.Context) (driver.Capability, error) {
	return driver.Capability{DataScope: driver.ScopeLocal, ConnectivityScope: driver.ScopeLocal, NeedsNamespace: true, Connectable: true}, nil
}

// ParseOptions implements driver.Driver: the decoded value is an Options.
func (*Driver) ParseOptions(opts map[string]string) (any, error) {
	return ParseOptions(opts)
}

// options returns the network's decoded options.
func options(nw driver.Network) (Options, error) { return driver.Decoded(nw, ParseOptions) }

// Exposure implements driver.Exposer: the bridge is the network's door to
// the host, firewalled and NATed by the engine.
func (*Driver) Exposure(nw driver.Network) driver.Exposure {
	o, _ := options(nw) // validated at creation
	return driver.Exposure{Device: DeviceName(nw), Masquerade: o.Masquerade, ICC: o.EnableICC, Publish: true, HostBindingV4: o.HostBindingV4}
}

var _ driver.Exposer = (*Driver)(nil)

// CheckConflicts implements driver.Conflicter: two networks cannot share a
// bridge device, and a new network cannot take a device of the host.
func (*Driver) CheckConflicts(ctx context.Context, h driver.Host, nw driver.Network, others []driver.Network) error {
	name := DeviceName(nw)
	for _, o := range others {
		if o.ID != nw.ID && DeviceName(o) == name {
			return cnm.Conflict("bridge name %s is already used by network %s", name, o.Name)
		}
	}
	if _, err := h.Handle.LinkByName(name); err == nil {
		return cnm.Conflict("bridge name %s is already used by an interface of the host", name)
	}
	return nil
}

var _ driver.Conflicter = (*Driver)(nil)

// Sweep implements driver.Sweeper.
func (*Driver) Sweep(ctx context.Context, h driver.Host, known driver.Known) error {
	return nl.SweepTagged(h.Handle, h.Tag, known.Networks, known.Endpoints)
}

var _ driver.Sweeper = (*Driver)(nil)

// DeviceName is the bridge device of a network.
func DeviceName(nw driver.Network) string {
	if name := nw.Options[OptBridgeName]; name != "" {
		return name
	}
	return "br-" + nw.ID[:12]
}

func networkTag(h driver.Host, nw driver.Network) string { return h.Tag + "net:" + nw.ID }

// CreateNetwork makes the bridge, or re-asserts it on restore.
func (d *Driver) CreateNetwork(ctx context.Context, h driver.Host, nw driver.Network) (driver.NetworkResult, error) {
	if err := ctx.Err(); err != nil {
		return driver.NetworkResult{}, err
	}
	return driver.NetworkResult{}, d.createNetwork(h, nw)
}

func (d *Driver) createNetwork(h driver.Host, nw driver.Network) (retErr error) {
	o, err := options(nw)
	if err != nil {
		return err
	}
	name := DeviceName(nw)
	tag := networkTag(h, nw)
	link, err := h.Handle.LinkByName(name)
	switch {
	case err == nil && link.Attrs().Alias != tag:
		return cnm.Conflict("create bridge %s: an interface of that name exists and is not this network's", name)
	case err == nil:
		// Ours, from before a restart: re-assert below.
	case nl.IsNotFound(err):
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{
			Name: name, MTU: o.MTU, TxQLen: -1, HardwareAddr: ipam.RandomMAC(),
		}}
		if err := h.Handle.LinkAdd(br); err != nil {
			return fmt.Errorf("create bridge %s: %w", name, err)
		}
		defer func() {
			if retErr != nil {
				_ = h.Handle.LinkDel(br)
			}
		}()
		// The kernel ignores an alias in the create request.
		if err := h.Handle.LinkSetAlias(br, tag); err != nil {
			return fmt.Errorf("tag bridge %s: %w", name, err)
		}
		link = br
	default:
		return fmt.Errorf("look up bridge %s: %w", name, err)
	}
	for _, s := range nw.Subnets {
		if !s.Gateway.IsValid() || s.Gateway.Is4() && o.InhibitIPv4 {
			continue
		}
		addr := nl.Addr(netip.PrefixFrom(s.Gateway, s.Prefix.Bits()))
		if s.Gateway.Is6() {
			addr.Flags = unix.IFA_F_NODAD
		}
		if err := h.Handle.AddrReplace(link, addr); err != nil {
			return fmt.Errorf("add gateway %s to bridge %s: %w", s.Gateway, name, err)
		}
	}
	// An IPv6 network's bridge needs a link-local address: the kernel
	// sends a neighbour solicitation for forwarded traffic only from one,
	// and may not have made it by the time the first packet comes.
	for _, s := range nw.Subnets {
		if s.Prefix.Addr().Is6() {
			ll := nl.Addr(netip.PrefixFrom(linkLocal(link.Attrs().HardwareAddr), 64))
			ll.Flags = unix.IFA_F_NODAD
			if err := h.Handle.AddrReplace(link, ll); err != nil {
				return fmt.Errorf("add link-local address to bridge %s: %w", name, err)
			}
			break
		}
	}
	// Ports published on 127.0.0.1 are DNATed to containers behind this
	// bridge; the kernel routes loopback-sourced packets out of it only
	// with route_localnet.
	if err := nl.Sysctl(h.NS, "ipv4/conf/"+name+"/route_localnet", "1"); err != nil {
		return err
	}
	if err := h.Handle.LinkSetUp(link); err != nil {
		return fmt.Errorf("set bridge %s up: %w", name, err)
	}
	return nil
}

// bridgeNetfilter reports whether bridged IPv4 packets pass IP's
// netfilter hooks in the namespace (br_netfilter's bridge-nf-call-iptables).
func bridgeNetfilter(h driver.Host) bool {
	on := false
	_ = nl.InNetns(h.NS, func() error {
		b, err := os.ReadFile("/proc/sys/net/bridge/bridge-nf-call-iptables")
		on = err == nil && strings.TrimSpace(string(b)) == "1"
		return nil
	})
	return on
}

// RetireNetwork implements driver.NetworkRetirer: the bridge loses its
// addresses, and with them the host's routes to the network, at once;
// DeleteNetwork removes the device later.
func (d *Driver) RetireNetwork(ctx context.Context, h driver.Host, nw driver.Network) error {
	link, err := h.Handle.LinkByName(DeviceName(nw))
	if nl.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("look up bridge %s: %w", DeviceName(nw), err)
	}
	if link.Attrs().Alias != networkTag(h, nw) {
		return nil // not ours: leave it alone
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

// DeleteNetworks implements driver.NetworkBulkDeleter: the bridges join
// the engine's reap group and go in one kernel operation, which pays the
// device grace period once for all of them.
func (d *Driver) DeleteNetworks(ctx context.Context, h driver.Host, nws []driver.Network) error {
	tags := map[string]string{} // device name -> its network's tag
	names := make([]string, 0, len(nws))
	for _, nw := range nws {
		tags[DeviceName(nw)] = networkTag(h, nw)
		names = append(names, DeviceName(nw))
	}
	// A device of that name that is not ours is left alone.
	ours := func(l netlink.Link) bool { return l.Attrs().Alias == tags[l.Attrs().Name] }
	return nl.DeleteNamed(h.Handle, h.NS, h.Tag, "bridge", names, ours)
}

var _ driver.NetworkBulkDeleter = (*Driver)(nil)

// DeleteNetwork removes the bridge.
func (d *Driver) DeleteNetwork(ctx context.Context, h driver.Host, nw driver.Network) error {
	name := DeviceName(nw)
	link, err := h.Handle.LinkByName(name)
	if nl.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("look up bridge %s: %w", name, err)
	}
	if link.Attrs().Alias != networkTag(h, nw) {
		return nil // not ours: leave it alone
	}
	if err := h.Handle.LinkDel(link); err != nil && !nl.IsNotFound(err) {
		return fmt.Errorf("delete bridge %s: %w", name, err)
	}
	return nil
}

// HostIfName is the host end of an endpoint's veth pair.
func HostIfName(ep driver.Endpoint) string { return vethport.HostIfName(ep) }

// CreateEndpoint implements driver.Driver. The engine's MAC and addresses
// are taken as they are; the pair itself is made in Join, where it can be
// created with its inner end already inside the sandbox.
func (*Driver) CreateEndpoint(ctx context.Context, h driver.Host, nw driver.Network, ep driver.Endpoint) (driver.EndpointResult, error) {
	if err := driver.AcceptEndpoint(ctx, "bridge", ep); err != nil {
		return driver.EndpointResult{}, err
	}
	return driver.EndpointResult{HostIfName: HostIfName(ep)}, nil
}

// Join creates the veth pair (step one) and places its inner end (step
// two): when the sandbox is open, the pair is created in one request with
// its inner end already inside, configured and up; otherwise the inner
// end stays in the host namespace under a temporary name, returned in
// JoinInfo.Interface for the caller to move in and configure.
func (d *Driver) Join(ctx context.Context, h driver.Host, nw driver.Network, ep driver.Endpoint, sb driver.Sandbox) (driver.JoinInfo, error) {
	if err := ctx.Err(); err != nil {
		return driver.JoinInfo{}, err
	}
	o, err := options(nw)
	if err != nil {
		return driver.JoinInfo{}, err
	}
	// Without ICC, isolated ports reach the bridge (the gateway, published
	// ports) but not each other: containers of the network cannot talk.
	// With br_netfilter, bridged traffic meets the firewall instead, which
	// drops it but lets published (DNATed) traffic through; isolated ports
	// would block that too.
	isolated := !o.EnableICC && !bridgeNetfilter(h)
	return vethport.Join(h, nw, ep, sb, vethport.Port{Bridge: DeviceName(nw), MTU: o.MTU, Isolated: isolated})
}

// Leave implements driver.Driver. Nothing is to be done: the inner end
// goes with the sandbox namespace, or the engine retires it; the pair is
// deleted by DeleteEndpoint.
func (d *Driver) Leave(ctx context.Context, h driver.Host, nw driver.Network, ep driver.Endpoint) error {
	return nil
}

// DeleteEndpoint deletes the host end; the kernel removes its peer with it.
func (d *Driver) DeleteEndpoint(ctx context.Context, h driver.Host, nw driver.Network, ep driver.Endpoint) error {
	return vethport.DeleteEndpoint(h, ep)
}

// DeleteEndpoints removes many endpoints' veth pairs in one kernel operation:
// each host end joins the engine's reap group, then the group is deleted.
// A crash in between leaves tagged links no record explains, which the
// engine's sweep removes.
func (d *Driver) DeleteEndpoints(ctx context.Context, h driver.Host, deps []driver.Departure) error {
	names := make([]string, 0, len(deps))
	for _, dep := range deps {
		names = append(names, dep.Endpoint.HostIfName)
	}
	return nl.DeleteNamed(h.Handle, h.NS, h.Tag, "veth", names, nil)
}

var _ driver.BulkDeleter = (*Driver)(nil)

// EndpointOK reports whether the host end exists and is a port of the
// network's bridge.
func (d *Driver) EndpointOK(ctx context.Context, h driver.Host, nw driver.Network, ep driver.Endpoint) bool {
	l, err := h.Handle.LinkByName(ep.HostIfName)
	if err != nil {
		return false
	}
	br, err := h.Handle.LinkByName(DeviceName(nw))
	return err == nil && l.Attrs().MasterIndex == br.Attrs().Index
}

var _ driver.Checker = (*Driver)(nil)

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
