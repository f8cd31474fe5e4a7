// Package driver defines the contract between the engine and its network
// drivers. It follows libnetwork's driverapi closely (network create and
// delete, endpoint join and leave) so the remote plugin driver maps onto it
// one to one, but every call takes a context and typed specs, and drivers
// never call back into the engine: they return results.
package driver

import (
	"context"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Host is what a driver may touch: the namespace the engine treats as the
// host, a netlink handle bound to it, and the tag that marks kernel
// objects as owned by this engine instance.
type Host struct {
	NS     netns.NsHandle
	Handle *netlink.Handle
	// Tag prefixes the alias of every link the engine creates, so links
	// no record explains can be found and removed after a crash.
	Tag string
}

// Capability describes a driver to the engine.
type Capability struct {
	// Scope is "local" or "global".
	Scope string
	// NeedsNamespace is false for drivers whose sandboxes live in the
	// host namespace (host).
	NeedsNamespace bool
	// Connectable is false for drivers whose endpoints have no
	// interface at all (null, host): a sandbox on such a network can
	// join no other.
	Connectable bool
	// External is true for drivers whose networks are segments of a LAN
	// outside the host (macvlan): the gateway is a router there, so IPAM
	// holds a gateway address only when one is given, and a requested
	// subnet may be one the host itself is on. Such a driver judges
	// overlaps between its own networks in CreateNetwork (two LANs may
	// use the same subnet).
	External bool
}

// Subnet is one IPAM pool of a network as the driver sees it.
type Subnet struct {
	Prefix  netip.Prefix
	Gateway netip.Addr
	// IPRange is where dynamic addresses come from (--ip-range), if set.
	IPRange netip.Prefix
	// Aux are the auxiliary addresses (--aux-address), never handed out.
	Aux map[string]netip.Addr
}

// Network is the driver's view of a network.
type Network struct {
	ID       string
	Name     string
	Internal bool
	IPv6     bool
	Subnets  []Subnet
	// Options are the network's driver options (-o), already validated
	// by ParseOptions.
	Options map[string]string
}

// Endpoint is the driver's view of an endpoint being joined.
type Endpoint struct {
	ID string
	// IfName is the interface name inside the sandbox (eth0…).
	IfName string
	// HostIfName is the name of the host side, if the driver makes one.
	HostIfName string
	MAC        net.HardwareAddr
	IPv4       netip.Prefix
	IPv6       netip.Prefix
}

// Sandbox is the namespace an endpoint joins.
type Sandbox struct {
	ID string
	NS netns.NsHandle
	// Handle is a netlink handle bound to the sandbox namespace.
	Handle *netlink.Handle
}

// JoinInfo is what a successful Join reports.
type JoinInfo struct {
	Gateway4 netip.Addr
	Gateway6 netip.Addr
	// MAC is set when the interface could not take the endpoint's MAC
	// (a macvlan in passthru mode keeps its parent's).
	MAC net.HardwareAddr
}

// Driver is a network driver.
type Driver interface {
	// Type is the driver name (-d).
	Type() string
	Capability() Capability
	// ParseOptions validates driver options before anything is created,
	// returning an error that names any unknown key or bad value.
	ParseOptions(opts map[string]string) error
	// CreateNetwork makes (or, on restore, re-asserts) the network's
	// kernel objects. It must be idempotent.
	CreateNetwork(ctx context.Context, h Host, nw Network) error
	// DeleteNetwork removes the network's kernel objects; missing ones
	// are not an error.
	DeleteNetwork(ctx context.Context, h Host, nw Network) error
	// Join creates the endpoint's interface inside the sandbox, with its
	// addresses, MAC and MTU, and brings it up.
	Join(ctx context.Context, h Host, nw Network, ep Endpoint, sb Sandbox) (JoinInfo, error)
	// Leave removes the endpoint's interfaces; missing ones are not an
	// error.
	Leave(ctx context.Context, h Host, nw Network, ep Endpoint) error
}

// Departure names an endpoint whose interfaces are to be removed.
type Departure struct {
	Network  Network
	Endpoint Endpoint
}

// BulkLeaver is implemented by drivers that can remove many endpoints'
// interfaces at once. The kernel pays an RCU grace period, with its rtnl
// lock held, for every network device deleted alone, so the engine hands
// the endpoints it has queued for removal to LeaveAll together.
type BulkLeaver interface {
	LeaveAll(ctx context.Context, h Host, deps []Departure) error
}

// Checker is implemented by drivers that can tell whether an endpoint's
// kernel objects are intact, so restore re-joins only broken ones.
type Checker interface {
	EndpointOK(ctx context.Context, h Host, nw Network, ep Endpoint) bool
}

// SandboxChecker is implemented by drivers whose endpoint has no host
// side to inspect (macvlan): restore asks it, with the sandbox namespace
// open, whether the endpoint's interface is intact.
type SandboxChecker interface {
	EndpointOKIn(ctx context.Context, h Host, nw Network, ep Endpoint, sb Sandbox) bool
}

// Evicter is implemented by drivers whose endpoint interface has no host
// end for Leave to delete (macvlan). When an endpoint leaves a sandbox
// that stays, the engine calls Evict with the sandbox namespace open
// instead of taking the interface down and renaming it itself: Evict must
// stop its traffic, free its name (ep.IfName) at once, and leave it for
// Leave to delete.
type Evicter interface {
	Evict(ctx context.Context, h Host, nw Network, ep Endpoint, sb Sandbox) error
}

// Gateways returns the first gateway of each family of the network's
// subnets for which the endpoint has an address: its default routes.
func Gateways(nw Network, ep Endpoint) JoinInfo {
	var info JoinInfo
	for _, s := range nw.Subnets {
		switch {
		case s.Gateway.Is4() && ep.IPv4.IsValid() && !info.Gateway4.IsValid():
			info.Gateway4 = s.Gateway
		case s.Gateway.Is6() && ep.IPv6.IsValid() && !info.Gateway6.IsValid():
			info.Gateway6 = s.Gateway
		}
	}
	return info
}
