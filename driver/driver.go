// Package driver defines the contract between the engine and its network
// drivers (version 2). It follows libnetwork's driverapi closely, so a
// remote plugin driver maps onto it one call to one call:
//
//	CreateNetwork / DeleteNetwork        NetworkDriver.CreateNetwork / DeleteNetwork
//	CreateEndpoint / DeleteEndpoint      NetworkDriver.CreateEndpoint / DeleteEndpoint
//	Join / Leave                         NetworkDriver.Join / Leave
//	Capabilities                         NetworkDriver.GetCapabilities
//	Allocator                            AllocateNetwork / FreeNetwork
//	ExternalConnectivity                 Program/RevokeExternalConnectivity
//	OperInfoer                           EndpointOperInfo
//	NodeSetter                           DiscoverNew / DiscoverDelete (declarative)
//
// Every call takes a context (whose deadline a remote driver honours) and
// typed specs; drivers never call back into the engine: they return
// results, which the engine persists. Optional behaviour is a one-method
// (or one-pair) interface a driver may implement.
package driver

import (
	"context"
	"errors"
	"net"
	"net/netip"

	"github.com/patchbay/patchbay/cnm"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Host is what a driver may touch: the namespace the engine treats as the
// host, a netlink handle bound to it, and the tag that marks kernel
// objects as owned by this engine instance.
type Host struct {
	NS     netns.NsHandle
	Handle *netlink.Handle
	// Tag prefixes the alias of every link the engine's drivers create
	// (Tag+"net:"+network ID, Tag+"ep:"+endpoint ID), so links no record
	// explains can be found and removed after a crash (see Sweeper).
	Tag string
}

// Scopes of a driver's data and connectivity.
const (
	ScopeLocal  = "local"
	ScopeGlobal = "global"
)

// Capability describes a driver to the engine. The registry asks for it
// once, when the driver is first looked up, and caches it.
type Capability struct {
	// DataScope is where the driver's network records live: "local"
	// (this host's store) or "global" (the cluster store, shared by
	// every host).
	DataScope string
	// ConnectivityScope is how far its networks reach: "local" (this
	// host) or "global" (every host of the cluster).
	ConnectivityScope string
	// NeedsNamespace is false for drivers whose sandboxes live in the
	// host namespace (host).
	NeedsNamespace bool
	// Connectable is false for drivers whose endpoints have no
	// interface at all (null, host): a sandbox on such a network can
	// join no other, and such networks get no addresses.
	Connectable bool
	// External is true for drivers whose networks are segments of a LAN
	// outside the host (macvlan): the gateway is a router there, so IPAM
	// holds a gateway address only when one is given, and a requested
	// subnet may be one the host itself is on. Such a driver judges
	// overlaps between its own networks in CreateNetwork (two LANs may
	// use the same subnet).
	External bool
	// OutOfProcess is true for drivers whose calls leave the process (a
	// plugin): the engine holds no engine-wide lock across their calls.
	OutOfProcess bool
}

// Subnet is one IPAM pool of a network as the driver sees it.
type Subnet struct {
	Prefix  netip.Prefix
	Gateway netip.Addr
	// IPRange is where dynamic addresses come from (--ip-range), if set.
	IPRange netip.Prefix
	// Aux are the auxiliary addresses (--aux-address), never handed out.
	Aux map[string]netip.Addr
	// PoolID and AddressSpace are what the IPAM driver named the pool.
	PoolID       string
	AddressSpace string
}

// Network is the driver's view of a network.
type Network struct {
	ID       string
	Name     string
	Internal bool
	IPv6     bool
	Subnets  []Subnet
	// Options are the network's driver options (-o) as given.
	Options map[string]string
	// Config is what the driver's ParseOptions decoded from Options,
	// once, when the network was created or restored; nil when the
	// caller decoded nothing (a driver then decodes Options itself).
	Config any
	// Data is what the driver's CreateNetwork (or AllocateNetwork)
	// returned when the network was made, persisted by the engine and
	// handed back on every later call.
	Data map[string]string
}

// Endpoint is the driver's view of an endpoint.
type Endpoint struct {
	ID string
	// IfName is the interface name inside the sandbox (eth0…).
	IfName string
	// HostIfName is the name of the host side, if the driver makes one
	// (chosen by the driver in CreateEndpoint).
	HostIfName string
	MAC        net.HardwareAddr
	IPv4       netip.Prefix
	IPv6       netip.Prefix
	// Options are the endpoint's driver options.
	Options map[string]string
}

// EndpointResult is what CreateEndpoint reports: the values the driver
// supplied where the engine left them empty (a remote driver may choose
// the MAC or the addresses), and the host-side name it will use.
type EndpointResult struct {
	MAC        net.HardwareAddr
	IPv4       netip.Prefix
	IPv6       netip.Prefix
	HostIfName string
}

// Sandbox is the namespace an endpoint joins.
type Sandbox struct {
	ID string
	// Key is the sandbox's namespace path (Docker's SandboxKey).
	Key string
	// NS is the namespace, open; Handle is a netlink handle bound to it.
	// Both are zero when the caller cannot open the namespace (a dockerd
	// that moves the interface itself): a driver then returns the
	// interface to move in JoinInfo.Interface.
	NS     netns.NsHandle
	Handle *netlink.Handle
}

// InPlace reports whether the sandbox namespace is open, so the driver may
// create the endpoint's interface directly inside it.
func (sb Sandbox) InPlace() bool { return sb.Handle != nil && sb.NS.IsOpen() }

// Move names an interface the driver made in the host namespace for the
// caller to move into the sandbox: SrcName there, renamed to DstPrefix
// followed by a number (or to the endpoint's IfName).
type Move struct {
	SrcName   string
	DstPrefix string
}

// Route is a static route the sandbox gets through the endpoint.
type Route struct {
	Destination netip.Prefix
	// NextHop is the gateway; invalid for a route to a connected
	// destination (on the endpoint's link).
	NextHop netip.Addr
}

// JoinInfo is what a successful Join reports.
type JoinInfo struct {
	// Interface is set when the driver left the interface in the host
	// namespace for the caller to move in (a plugin, or a sandbox not
	// InPlace); nil when the driver placed it in the sandbox itself.
	Interface *Move
	Gateway4  netip.Addr
	Gateway6  netip.Addr
	// MAC is set when the interface could not take the endpoint's MAC
	// (a macvlan in passthru mode keeps its parent's).
	MAC          net.HardwareAddr
	StaticRoutes []Route
	// DisableGatewayService asks that this endpoint not provide the
	// sandbox's default route or external connectivity.
	DisableGatewayService bool
}

// NetworkResult is what a successful CreateNetwork reports.
type NetworkResult struct {
	// Data is persisted with the network and handed back as
	// Network.Data on every later call.
	Data map[string]string
}

// Driver is a network driver.
type Driver interface {
	// Type is the driver name (-d).
	Type() string
	// Capabilities describes the driver (GetCapabilities).
	Capabilities(ctx context.Context) (Capability, error)
	// ParseOptions validates driver options before anything is created,
	// returning the decoded value (handed back as Network.Config) or an
	// error that names any unknown key or bad value.
	ParseOptions(opts map[string]string) (any, error)
	// CreateNetwork makes (or, on restore, re-asserts) the network's
	// kernel objects. It must be idempotent.
	CreateNetwork(ctx context.Context, h Host, nw Network) (NetworkResult, error)
	// DeleteNetwork removes the network's kernel objects; missing ones
	// are not an error.
	DeleteNetwork(ctx context.Context, h Host, nw Network) error
	// CreateEndpoint prepares an endpoint: it may supply the MAC and
	// addresses the engine left empty, and accepts those it set.
	CreateEndpoint(ctx context.Context, h Host, nw Network, ep Endpoint) (EndpointResult, error)
	// DeleteEndpoint removes what the endpoint left in the kernel after
	// Leave; missing objects are not an error.
	DeleteEndpoint(ctx context.Context, h Host, nw Network, ep Endpoint) error
	// Join gives the sandbox the endpoint's interface, with its
	// addresses, MAC and MTU, up — or returns it in JoinInfo.Interface
	// for the caller to move in.
	Join(ctx context.Context, h Host, nw Network, ep Endpoint, sb Sandbox) (JoinInfo, error)
	// Leave detaches the endpoint from its sandbox; missing objects are
	// not an error.
	Leave(ctx context.Context, h Host, nw Network, ep Endpoint) error
}

// ErrBusy marks a failure a driver expects to clear once the endpoints
// queued for deletion are gone (a bridge full of departed ports): the
// engine finishes its pending deletions and tries once more.
var ErrBusy = errors.New("busy with pending deletions")

// Departure names an endpoint whose kernel objects are to be removed.
type Departure struct {
	Network  Network
	Endpoint Endpoint
}

// BulkDeleter is implemented by drivers that can delete many endpoints'
// kernel objects at once. The kernel pays an RCU grace period, with its
// rtnl lock held, for every network device deleted alone, so the engine
// hands the endpoints it has queued for removal to DeleteEndpoints
// together (after their Leave).
type BulkDeleter interface {
	DeleteEndpoints(ctx context.Context, h Host, deps []Departure) error
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
// end to delete (macvlan). When an endpoint leaves a sandbox that stays,
// the engine calls Evict with the sandbox namespace open instead of
// taking the interface down and renaming it itself: Evict must stop its
// traffic, free its name (ep.IfName) at once, and leave it for
// DeleteEndpoint to delete.
type Evicter interface {
	Evict(ctx context.Context, h Host, nw Network, ep Endpoint, sb Sandbox) error
}

// NetworkRetirer is implemented by drivers whose network's deletion is
// slow (a bridge device costs the kernel an RCU grace period): the engine
// calls RetireNetwork on the request path to take the network out of
// service at once — its addresses and routes gone from the host, so a
// new network may take its subnet — and DeleteNetwork later, off the
// request path.
type NetworkRetirer interface {
	RetireNetwork(ctx context.Context, h Host, nw Network) error
}

// NetworkBulkDeleter is implemented by drivers that can delete many
// networks' kernel objects at once (one kernel grace period for all the
// devices instead of one each); the engine hands it the networks whose
// deletion it had queued together.
type NetworkBulkDeleter interface {
	DeleteNetworks(ctx context.Context, h Host, nws []Network) error
}

// Exposure is how the host's firewall treats a network: the device its
// traffic enters the host by, and what the engine's nftables table does
// for it (see package firewall).
type Exposure struct {
	// Device is the host interface of the network (a bridge).
	Device     string
	Masquerade bool
	ICC        bool
	// Publish is true when ports may be published to the network's
	// endpoints (DNAT from the host's addresses).
	Publish bool
	// HostBindingV4 is the default host address of published ports
	// (com.docker.network.bridge.host_binding_ipv4), if set.
	HostBindingV4 netip.Addr
}

// Exposer is implemented by drivers whose networks the host routes and
// firewalls (bridge): isolation, masquerade and published ports.
type Exposer interface {
	Exposure(nw Network) Exposure
}

// Conflicter is implemented by drivers that must check a new network
// against the others of the same driver before anything is made (two
// bridge networks may not share a device name). others are the driver's
// existing networks.
type Conflicter interface {
	CheckConflicts(ctx context.Context, h Host, nw Network, others []Network) error
}

// Known is what the engine's records explain: networks and endpoints by
// ID.
type Known struct {
	Networks  map[string]bool
	Endpoints map[string]bool
}

// Sweeper is implemented by drivers that can find and remove, at start,
// kernel objects carrying the engine's tag that no record explains (the
// leftovers of an operation a crash cut short).
type Sweeper interface {
	Sweep(ctx context.Context, h Host, known Known) error
}

// Allocator is implemented by global-scope drivers that allocate
// network-wide resources once for the whole cluster (a VXLAN ID): the
// result is stored with the network and replayed to every host's
// CreateNetwork as Network.Data.
type Allocator interface {
	AllocateNetwork(ctx context.Context, nw Network) (map[string]string, error)
	FreeNetwork(ctx context.Context, nw Network) error
}

// ExternalConnectivity is implemented by drivers that program something
// on the host for the endpoint that gives its sandbox the default route
// (published ports, in Docker's plugin protocol).
type ExternalConnectivity interface {
	ProgramExternalConnectivity(ctx context.Context, h Host, nw Network, ep Endpoint) error
	RevokeExternalConnectivity(ctx context.Context, h Host, nw Network, ep Endpoint) error
}

// OperInfoer is implemented by drivers that report run-time details of an
// endpoint (EndpointOperInfo), shown by inspect.
type OperInfoer interface {
	EndpointOperInfo(ctx context.Context, h Host, nw Network, ep Endpoint) (map[string]string, error)
}

// Node is a host of the cluster.
type Node struct {
	Name string
	Addr netip.Addr
}

// NodeSetter is implemented by multi-host drivers: the engine hands them
// the whole current set of other hosts whenever it changes (the
// declarative form of DiscoverNew/DiscoverDelete), safe to call again.
type NodeSetter interface {
	SetNodes(ctx context.Context, h Host, nodes []Node) error
}

// Peer is an endpoint of a global network on another host.
type Peer struct {
	EndpointID string
	MAC        net.HardwareAddr
	IPv4       netip.Prefix
	IPv6       netip.Prefix
	Node       Node
}

// PeerSetter is implemented by multi-host drivers: the engine hands them
// the whole current set of a network's remote endpoints whenever it
// changes (forwarding and neighbour entries), safe to call again.
type PeerSetter interface {
	SetPeers(ctx context.Context, h Host, nw Network, peers []Peer) error
}

// PeerUpdater is implemented by a PeerSetter that takes a change of a
// network's remote endpoints without the whole set: the engine calls it
// as endpoints leave (remove) and arrive (add) elsewhere, and SetPeers
// on start, on reconcile and whenever UpdatePeers fails.
type PeerUpdater interface {
	UpdatePeers(ctx context.Context, h Host, nw Network, add, remove []Peer) error
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

// Decoded returns the network's options as its driver decoded them when
// the network was created (Network.Config), or decodes them with parse
// when the caller handed none.
func Decoded[T any](nw Network, parse func(map[string]string) (T, error)) (T, error) {
	if o, ok := nw.Config.(T); ok {
		return o, nil
	}
	return parse(nw.Options)
}

// AcceptEndpoint is CreateEndpoint for drivers that take the engine's MAC
// and addresses as they are and know no endpoint options.
func AcceptEndpoint(ctx context.Context, driverName string, ep Endpoint) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(ep.ID) < 12 {
		return cnm.Invalid("invalid endpoint ID %q", ep.ID)
	}
	for k := range ep.Options {
		return cnm.Invalid("unknown endpoint option %q for driver %s", k, driverName)
	}
	return nil
}
