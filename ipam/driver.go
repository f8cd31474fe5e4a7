package ipam

import (
	"context"
	"net/netip"
)

// Driver is an IPAM driver: it hands out address pools (subnets) and the
// addresses within them. Its methods map one to one onto the calls of
// Docker's IpamDriver plugin protocol (GetCapabilities,
// GetDefaultAddressSpaces, RequestPool, ReleasePool, RequestAddress,
// ReleaseAddress), so a remote IPAM plugin can implement it.
//
// The engine keeps the pool IDs and addresses it was given; the driver
// keeps whatever state it needs to hand out the next ones. A driver that
// keeps its allocations only in memory says so with
// Capabilities.RequiresRequestReplay: after a restart the engine
// requests every pool, gateway, auxiliary and endpoint address again,
// giving each address explicitly.
//
// Errors carry the kinds of package cnm: cnm.ErrNotFound for an unknown
// pool ID or an address that is not allocated, cnm.ErrConflict for an
// overlapping pool or an address in use, cnm.ErrInvalid for a malformed
// request, cnm.ErrUnavailable when no pool or address is left. Every
// method honours ctx.
type Driver interface {
	// Capabilities reports what the driver needs from its caller.
	Capabilities(ctx context.Context) (Capabilities, error)
	// DefaultAddressSpaces returns the names of the driver's default
	// local and global address spaces.
	DefaultAddressSpaces(ctx context.Context) (local, global string, err error)
	// RequestPool allocates a pool: req.Pool if given, otherwise one the
	// driver chooses.
	RequestPool(ctx context.Context, req PoolRequest) (Pool, error)
	// ReleasePool frees a pool. Its addresses must have been released.
	ReleasePool(ctx context.Context, poolID string) error
	// RequestAddress allocates addr in the pool, or the driver's choice
	// if addr is the zero Addr, and returns it with the pool's prefix
	// length. opts carries RequestAddressType for a gateway request.
	RequestAddress(ctx context.Context, poolID string, addr netip.Addr, opts map[string]string) (netip.Prefix, error)
	// ReleaseAddress frees an address of the pool.
	ReleaseAddress(ctx context.Context, poolID string, addr netip.Addr) error
}

// Capabilities are Docker's IPAM capabilities.
type Capabilities struct {
	// RequiresMACAddress asks for the endpoint's MAC address in the
	// options of RequestAddress, under MACAddressOption.
	RequiresMACAddress bool
	// RequiresRequestReplay asks the engine to request every pool and
	// address again after a restart, because the driver does not keep
	// its allocations.
	RequiresRequestReplay bool
}

// PoolRequest is a RequestPool call.
type PoolRequest struct {
	// AddressSpace is one of the names DefaultAddressSpaces returns.
	AddressSpace string
	// Pool is the subnet asked for; the zero Prefix lets the driver
	// choose one of its default pools.
	Pool netip.Prefix
	// SubPool, inside Pool, limits where addresses are handed out when
	// none is asked for (--ip-range). Optional; it needs a Pool.
	SubPool netip.Prefix
	// Options are the network's IPAM options (--ipam-opt), plus the
	// patchbay options named Option* in this package.
	Options map[string]string
	// V6 asks for an IPv6 pool.
	V6 bool
}

// Pool is an allocated pool.
type Pool struct {
	// ID names the pool in the other calls.
	ID string
	// Prefix is the pool's subnet.
	Prefix netip.Prefix
	// Data is driver data; a remote driver may supply the gateway under
	// GatewayData.
	Data map[string]string
}

// Wire names shared with Docker.
const (
	// LocalDefaultSpace and GlobalDefaultSpace are the default address
	// spaces of Docker's default IPAM driver.
	LocalDefaultSpace  = "LocalDefault"
	GlobalDefaultSpace = "GlobalDefault"

	// RequestAddressType is the RequestAddress option that says what the
	// address is for; GatewayAddressType marks the gateway request.
	RequestAddressType = "RequestAddressType"
	GatewayAddressType = "com.docker.network.gateway"

	// GatewayData is the key of Pool.Data under which a driver may
	// supply the pool's gateway as "ip/len".
	GatewayData = "com.docker.network.gateway"

	// MACAddressOption carries the endpoint's MAC address in the options
	// of RequestAddress when the driver requires it.
	MACAddressOption = "com.docker.network.endpoint.macaddress"
)

// Patchbay's own options. A remote driver may ignore them.
const (
	// AuxAddressType, as the value of RequestAddressType, marks the
	// reservation of an auxiliary address (--aux-address); its name may
	// be given under AuxNameOption. The default driver then also accepts
	// the pool's network and broadcast addresses, which it never hands
	// out anyway, and names the auxiliary address in later conflicts.
	AuxAddressType = "patchbay.aux-address"
	AuxNameOption  = "patchbay.aux-name"

	// OptionOverlapGroup puts a pool in a named group: pools of one
	// group may overlap each other, and a pool of a group that is asked
	// for by subnet need not avoid the host's prefixes. It is for LAN
	// segments (macvlan): one LAN subnet may sit on several VLANs, and
	// the network driver judges overlaps between its own networks. A
	// pool still never overlaps a pool outside its group.
	OptionOverlapGroup = "patchbay.ipam.overlap-group"

	// OptionPoolName is added to the pool's ID ("…@name"), so two pools
	// of one overlap group with the same subnet get different IDs, and
	// the same request after a restart gets the same ID back. Typically
	// the network's ID.
	OptionPoolName = "patchbay.ipam.pool-name"

	// OptionReplay ("true") marks the request of a pool that was
	// allocated before a restart (request replay). The default driver
	// then does not hold the pool against the host's prefixes, which may
	// have changed while patchbay was down: restoring a network must not
	// fail because a VPN route appeared. It still refuses an overlap
	// with another pool.
	OptionReplay = "patchbay.ipam.replay"
)
