// Package wire holds the JSON bodies of Docker's plugin protocols, with
// Docker's exact field names: the handshake (Plugin.Activate), the
// NetworkDriver calls (libnetwork drivers/remote/api) and the IpamDriver
// calls (libnetwork ipams/remote/api). It is a leaf: plain structs,
// shared by patchbay's plugin client, its remote driver and IPAM, and
// the test plugin. Addresses stay strings, as on the wire; the callers
// parse and check them.
package wire

// MediaType is the Accept header of every call.
const MediaType = "application/vnd.docker.plugins.v1.2+json"

// Interface names a plugin may implement (Activate's Implements).
const (
	NetworkDriver = "NetworkDriver"
	IpamDriver    = "IpamDriver"
)

// ActivateResponse answers POST /Plugin.Activate.
type ActivateResponse struct {
	Implements []string
}

// Response is the error part every reply may carry: NetworkDriver
// replies use Err, IpamDriver replies Error.
type Response struct {
	Err   string `json:",omitempty"`
	Error string `json:",omitempty"`
}

// NetworkDriver.GetCapabilities.
type CapabilitiesResponse struct {
	Response
	Scope             string
	ConnectivityScope string `json:",omitempty"`
	GwAllocChecker    bool   `json:",omitempty"`
}

// IPAMData is one pool of a network, as CreateNetwork sends it: Pool,
// Gateway and AuxAddresses are CIDR strings ("10.0.1.1/24").
type IPAMData struct {
	AddressSpace string
	Pool         string
	Gateway      string            `json:",omitempty"`
	AuxAddresses map[string]string `json:",omitempty"`
}

// CreateNetworkRequest is NetworkDriver.CreateNetwork's body.
type CreateNetworkRequest struct {
	NetworkID string
	Options   map[string]any
	IPv4Data  []IPAMData
	IPv6Data  []IPAMData
}

// NetworkRequest is the body of DeleteNetwork and FreeNetwork.
type NetworkRequest struct {
	NetworkID string
}

// AllocateNetworkRequest is NetworkDriver.AllocateNetwork's body.
type AllocateNetworkRequest struct {
	NetworkID string
	Options   map[string]string
	IPv4Data  []IPAMData
	IPv6Data  []IPAMData
}

// AllocateNetworkResponse answers AllocateNetwork.
type AllocateNetworkResponse struct {
	Response
	Options map[string]string
}

// EndpointInterface is an endpoint's addresses: CIDR strings and a MAC.
type EndpointInterface struct {
	Address     string
	AddressIPv6 string
	MacAddress  string
}

// CreateEndpointRequest is NetworkDriver.CreateEndpoint's body.
type CreateEndpointRequest struct {
	NetworkID  string
	EndpointID string
	Interface  *EndpointInterface
	Options    map[string]any
}

// CreateEndpointResponse answers CreateEndpoint; the driver fills only
// what the request left empty.
type CreateEndpointResponse struct {
	Response
	Interface *EndpointInterface
}

// EndpointRequest is the body of DeleteEndpoint, EndpointOperInfo,
// Leave and RevokeExternalConnectivity.
type EndpointRequest struct {
	NetworkID  string
	EndpointID string
}

// EndpointInfoResponse answers EndpointOperInfo.
type EndpointInfoResponse struct {
	Response
	Value map[string]any
}

// JoinRequest is NetworkDriver.Join's body.
type JoinRequest struct {
	NetworkID  string
	EndpointID string
	SandboxKey string
	Options    map[string]any
}

// InterfaceName names the interface the driver made in the daemon's
// namespace (SrcName) and the prefix of its name in the sandbox.
type InterfaceName struct {
	SrcName   string
	DstPrefix string
	DstName   string `json:",omitempty"`
}

// Route types of StaticRoute.
const (
	RouteNextHop   = 0
	RouteConnected = 1
)

// StaticRoute is a route Join asks for: Destination a CIDR, NextHop an
// address (empty for a connected route).
type StaticRoute struct {
	Destination string
	RouteType   int
	NextHop     string `json:",omitempty"`
}

// JoinResponse answers Join.
type JoinResponse struct {
	Response
	InterfaceName         *InterfaceName `json:",omitempty"`
	Gateway               string         `json:",omitempty"`
	GatewayIPv6           string         `json:",omitempty"`
	StaticRoutes          []StaticRoute  `json:",omitempty"`
	DisableGatewayService bool           `json:",omitempty"`
}

// ProgramExternalConnectivityRequest is its call's body.
type ProgramExternalConnectivityRequest struct {
	NetworkID  string
	EndpointID string
	Options    map[string]any
}

// Discovery types of DiscoveryNotification.
const (
	NodeDiscovery = 1
)

// NodeDiscoveryData is the data of a NodeDiscovery notification.
type NodeDiscoveryData struct {
	Address     string
	BindAddress string
	Self        bool
}

// DiscoveryNotification is the body of DiscoverNew and DiscoverDelete.
type DiscoveryNotification struct {
	DiscoveryType int
	DiscoveryData any
}

// IpamDriver.GetCapabilities.
type IPAMCapabilitiesResponse struct {
	Response
	RequiresMACAddress    bool
	RequiresRequestReplay bool
}

// IpamDriver.GetDefaultAddressSpaces.
type AddressSpacesResponse struct {
	Response
	LocalDefaultAddressSpace  string
	GlobalDefaultAddressSpace string
}

// RequestPoolRequest is IpamDriver.RequestPool's body; Pool and SubPool
// are CIDR strings or empty.
type RequestPoolRequest struct {
	AddressSpace string
	Pool         string
	SubPool      string
	Options      map[string]string
	V6           bool
}

// RequestPoolResponse answers RequestPool; Data may carry the gateway
// under "com.docker.network.gateway".
type RequestPoolResponse struct {
	Response
	PoolID string
	Pool   string
	Data   map[string]string
}

// ReleasePoolRequest is IpamDriver.ReleasePool's body.
type ReleasePoolRequest struct {
	PoolID string
}

// RequestAddressRequest is IpamDriver.RequestAddress's body; Address is
// an address or empty.
type RequestAddressRequest struct {
	PoolID  string
	Address string
	Options map[string]string
}

// RequestAddressResponse answers RequestAddress; Address is a CIDR.
type RequestAddressResponse struct {
	Response
	Address string
	Data    map[string]string
}

// ReleaseAddressRequest is IpamDriver.ReleaseAddress's body.
type ReleaseAddressRequest struct {
	PoolID  string
	Address string
}
