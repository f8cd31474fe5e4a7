package types

import "time"

// The network types below carry Docker Engine API field names, so
// `network inspect` output and the network routes are wire compatible.

// NetworkResource is a network as inspect and list show it.
type NetworkResource struct {
	Name       string                      `json:"Name"`
	ID         string                      `json:"Id"`
	Created    time.Time                   `json:"Created"`
	Scope      string                      `json:"Scope"`
	Driver     string                      `json:"Driver"`
	EnableIPv4 bool                        `json:"EnableIPv4"`
	EnableIPv6 bool                        `json:"EnableIPv6"`
	IPAM       IPAM                        `json:"IPAM"`
	Internal   bool                        `json:"Internal"`
	Attachable bool                        `json:"Attachable"`
	Ingress    bool                        `json:"Ingress"`
	ConfigFrom ConfigReference             `json:"ConfigFrom"`
	ConfigOnly bool                        `json:"ConfigOnly"`
	Containers map[string]EndpointResource `json:"Containers"`
	Options    map[string]string           `json:"Options"`
	Labels     map[string]string           `json:"Labels"`
	// Unavailable is patchbay's own: why the network's driver cannot be
	// used now (a plugin that is not running). Absent while it can.
	Unavailable string `json:"Unavailable,omitempty"`
}

// IPAM is a network's address management.
type IPAM struct {
	Driver  string            `json:"Driver"`
	Options map[string]string `json:"Options"`
	Config  []IPAMConfig      `json:"Config"`
}

// IPAMConfig is one subnet.
type IPAMConfig struct {
	Subnet     string            `json:"Subnet,omitempty"`
	IPRange    string            `json:"IPRange,omitempty"`
	Gateway    string            `json:"Gateway,omitempty"`
	AuxAddress map[string]string `json:"AuxiliaryAddresses,omitempty"`
}

// ConfigReference names a config-only network (unused; kept for shape).
type ConfigReference struct {
	Network string `json:"Network"`
}

// EndpointResource is one container (sandbox) on a network.
type EndpointResource struct {
	Name        string `json:"Name"`
	EndpointID  string `json:"EndpointID"`
	MacAddress  string `json:"MacAddress"`
	IPv4Address string `json:"IPv4Address"`
	IPv6Address string `json:"IPv6Address"`
}

// NetworkCreateRequest is the body of POST /networks/create. It has
// every field a Docker client of API 1.24 to 1.56 may send, so request
// bodies can be decoded strictly: a field no Docker version knows is an
// error, not silently ignored.
type NetworkCreateRequest struct {
	Name string `json:"Name"`
	// CheckDuplicate is sent by clients before API 1.44; duplicates are
	// always refused, so it changes nothing.
	CheckDuplicate bool              `json:"CheckDuplicate,omitempty"`
	Driver         string            `json:"Driver,omitempty"`
	Scope          string            `json:"Scope,omitempty"`
	EnableIPv4     *bool             `json:"EnableIPv4,omitempty"`
	EnableIPv6     bool              `json:"EnableIPv6,omitempty"`
	IPAM           *IPAM             `json:"IPAM,omitempty"`
	Internal       bool              `json:"Internal,omitempty"`
	Attachable     bool              `json:"Attachable,omitempty"`
	Ingress        bool              `json:"Ingress,omitempty"`
	ConfigOnly     bool              `json:"ConfigOnly,omitempty"`
	ConfigFrom     *ConfigReference  `json:"ConfigFrom,omitempty"`
	Options        map[string]string `json:"Options,omitempty"`
	Labels         map[string]string `json:"Labels,omitempty"`
}

// NetworkCreateResponse is the reply to POST /networks/create.
type NetworkCreateResponse struct {
	ID      string `json:"Id"`
	Warning string `json:"Warning"`
}

// EndpointIPAMConfig holds static addresses of an endpoint.
type EndpointIPAMConfig struct {
	IPv4Address  string   `json:"IPv4Address,omitempty"`
	IPv6Address  string   `json:"IPv6Address,omitempty"`
	LinkLocalIPs []string `json:"LinkLocalIPs,omitempty"`
}

// EndpointSettings configures an endpoint on connect (and on sandbox
// create). Docker clients send the whole EndpointSettings, including
// its read-only fields, so they are all known here; patchbay acts on
// IPAMConfig, Aliases and MacAddress and refuses what it cannot honour
// (see endpointOptions).
type EndpointSettings struct {
	IPAMConfig *EndpointIPAMConfig `json:"IPAMConfig,omitempty"`
	Links      []string            `json:"Links,omitempty"`
	Aliases    []string            `json:"Aliases,omitempty"`
	DriverOpts map[string]string   `json:"DriverOpts,omitempty"`
	GwPriority int                 `json:"GwPriority,omitempty"`
	MacAddress string              `json:"MacAddress,omitempty"`
	// Read-only in Docker: accepted and ignored.
	NetworkID           string   `json:"NetworkID,omitempty"`
	EndpointID          string   `json:"EndpointID,omitempty"`
	Gateway             string   `json:"Gateway,omitempty"`
	IPAddress           string   `json:"IPAddress,omitempty"`
	IPPrefixLen         int      `json:"IPPrefixLen,omitempty"`
	IPv6Gateway         string   `json:"IPv6Gateway,omitempty"`
	GlobalIPv6Address   string   `json:"GlobalIPv6Address,omitempty"`
	GlobalIPv6PrefixLen int      `json:"GlobalIPv6PrefixLen,omitempty"`
	DNSNames            []string `json:"DNSNames,omitempty"`
}

// NetworkConnectRequest is the body of POST /networks/{id}/connect.
type NetworkConnectRequest struct {
	Container      string            `json:"Container"`
	EndpointConfig *EndpointSettings `json:"EndpointConfig,omitempty"`
}

// NetworkDisconnectRequest is the body of POST /networks/{id}/disconnect.
type NetworkDisconnectRequest struct {
	Container string `json:"Container"`
	Force     bool   `json:"Force"`
}

// NetworksPruneReport is the reply to POST /networks/prune.
type NetworksPruneReport struct {
	NetworksDeleted []string `json:"NetworksDeleted"`
}

// Sandbox routes are patchbay's own (there are no images here), shaped
// after Docker's container routes.

// SandboxCreateRequest creates a sandbox, optionally running a process.
type SandboxCreateRequest struct {
	Name       string            `json:"Name,omitempty"`
	Hostname   string            `json:"Hostname,omitempty"`
	Network    string            `json:"Network,omitempty"`
	Endpoint   *EndpointSettings `json:"Endpoint,omitempty"`
	AdoptPID   int               `json:"AdoptPid,omitempty"`
	AdoptNetns string            `json:"AdoptNetns,omitempty"`
	// Ports are -p specs ("8080:80/tcp"); PublishAll publishes every
	// Expose port ("80/tcp", "7000-7010") on an ephemeral host port.
	Ports      []string `json:"Ports,omitempty"`
	Expose     []string `json:"Expose,omitempty"`
	PublishAll bool     `json:"PublishAll,omitempty"`
	// Name service, as Docker's HostConfig names it: Dns servers,
	// DnsSearch domains, DnsOptions, ExtraHosts ("name:ip", ip may be
	// host-gateway) and Links ("name[:alias]").
	Domainname string   `json:"Domainname,omitempty"`
	DNS        []string `json:"Dns,omitempty"`
	DNSSearch  []string `json:"DnsSearch,omitempty"`
	DNSOptions []string `json:"DnsOptions,omitempty"`
	ExtraHosts []string `json:"ExtraHosts,omitempty"`
	Links      []string `json:"Links,omitempty"`
	// Process, if set, is started right after the sandbox is created;
	// if it cannot start, the sandbox is removed again.
	Process *ProcessRequest `json:"Process,omitempty"`
	// Networks are more networks to join after Network, in order, with
	// default endpoint settings (run --network a --network b).
	Networks []string `json:"Networks,omitempty"`
}

// ProcessRequest is a command to start in a sandbox.
type ProcessRequest struct {
	Args       []string `json:"Args"`
	Env        []string `json:"Env,omitempty"`
	Detached   bool     `json:"Detached,omitempty"`
	AutoRemove bool     `json:"AutoRemove,omitempty"`
	// Restart is the restart policy, as --restart takes it.
	Restart string `json:"Restart,omitempty"`
	// Terminal settings (see terminal.go).
	Terminal
}

// SandboxCreateResponse is the reply to POST /sandboxes/create.
type SandboxCreateResponse struct {
	ID   string `json:"Id"`
	Name string `json:"Name"`
}

// Sandbox is a sandbox as inspect and list show it.
type Sandbox struct {
	ID              string          `json:"Id"`
	Name            string          `json:"Name"`
	Created         time.Time       `json:"Created"`
	Path            string          `json:"Path"`
	Args            []string        `json:"Args"`
	State           State           `json:"State"`
	Config          SandboxConfig   `json:"Config"`
	HostConfig      HostConfig      `json:"HostConfig"`
	NetworkSettings NetworkSettings `json:"NetworkSettings"`
	LogPath         string          `json:"LogPath"`
	// RestartCount counts restarts by policy since the last start by
	// hand.
	RestartCount int `json:"RestartCount"`
	// PortConflicts are published ports not in force, because another
	// program took their host port while patchbay was down; they are not
	// in NetworkSettings.Ports. patchbay's own field: Docker's container
	// JSON never carries it.
	PortConflicts []PortConflict `json:"PortConflicts,omitempty"`
}

// PortConflict is a published port that is not in force, and why.
type PortConflict struct {
	Port     string `json:"Port"` // "80/tcp"
	HostIP   string `json:"HostIp"`
	HostPort string `json:"HostPort"`
	Error    string `json:"Error"`
}

// State is a sandbox process's state, in Docker's container shape
// (patchbay never pauses or restarts, so those flags stay false).
type State struct {
	Status     string    `json:"Status"`
	Running    bool      `json:"Running"`
	Paused     bool      `json:"Paused"`
	Restarting bool      `json:"Restarting"`
	OOMKilled  bool      `json:"OOMKilled"`
	Dead       bool      `json:"Dead"`
	Pid        int       `json:"Pid"`
	ExitCode   int       `json:"ExitCode"`
	Error      string    `json:"Error"`
	StartedAt  time.Time `json:"StartedAt"`
	FinishedAt time.Time `json:"FinishedAt"`
}

// SandboxConfig is a sandbox's configuration.
type SandboxConfig struct {
	Hostname   string   `json:"Hostname"`
	Domainname string   `json:"Domainname"`
	Cmd        []string `json:"Cmd"`
	Env        []string `json:"Env"`
	Tty        bool     `json:"Tty"`
	OpenStdin  bool     `json:"OpenStdin"`
}

// HostConfig holds how the sandbox was set up.
type HostConfig struct {
	NetworkMode   string        `json:"NetworkMode"`
	RestartPolicy RestartPolicy `json:"RestartPolicy"`
	AutoRemove    bool          `json:"AutoRemove"`
	Adopted       bool          `json:"Adopted"`
	DNS           []string      `json:"Dns"`
	DNSSearch     []string      `json:"DnsSearch"`
	DNSOptions    []string      `json:"DnsOptions"`
	ExtraHosts    []string      `json:"ExtraHosts"`
	// Links are Docker's "/target:/sandbox/alias".
	Links []string `json:"Links"`
}

// NetworkSettings lists a sandbox's endpoints by network name.
type NetworkSettings struct {
	SandboxID  string                         `json:"SandboxID"`
	SandboxKey string                         `json:"SandboxKey"`
	Networks   map[string]EndpointSettingsOut `json:"Networks"`
	// Ports is Docker's shape: "80/tcp" → host bindings.
	Ports map[string][]PortBinding `json:"Ports"`
}

// PortBinding is one host binding of a published port.
type PortBinding struct {
	HostIP   string `json:"HostIp"`
	HostPort string `json:"HostPort"`
}

// EndpointSettingsOut is an endpoint as sandbox inspect (and Docker's
// container inspect and list) show it. Links, DriverOpts and DNSNames
// are Docker's fields patchbay does not set; InterfaceName is
// patchbay's own.
type EndpointSettingsOut struct {
	IPAMConfig          *EndpointIPAMConfig `json:"IPAMConfig"`
	Links               []string            `json:"Links"`
	Aliases             []string            `json:"Aliases"`
	DriverOpts          map[string]string   `json:"DriverOpts"`
	GwPriority          int                 `json:"GwPriority"`
	NetworkID           string              `json:"NetworkID"`
	EndpointID          string              `json:"EndpointID"`
	Gateway             string              `json:"Gateway"`
	IPAddress           string              `json:"IPAddress"`
	IPPrefixLen         int                 `json:"IPPrefixLen"`
	IPv6Gateway         string              `json:"IPv6Gateway"`
	GlobalIPv6Address   string              `json:"GlobalIPv6Address"`
	GlobalIPv6PrefixLen int                 `json:"GlobalIPv6PrefixLen"`
	MacAddress          string              `json:"MacAddress"`
	DNSNames            []string            `json:"DNSNames"`
	InterfaceName       string              `json:"InterfaceName"`
}

// ExecRequest runs a command inside a running sandbox.
type ExecRequest struct {
	Args []string `json:"Args"`
	Env  []string `json:"Env,omitempty"`
	// Terminal settings (see terminal.go).
	Terminal
}

// StreamMessage is one line of the attached-run protocol (see stream.go).
type StreamMessage struct {
	ID       string `json:"Id,omitempty"`
	Error    string `json:"Error,omitempty"`
	Status   int    `json:"Status,omitempty"`
	ExitCode *int   `json:"ExitCode,omitempty"`
	Signal   int    `json:"Signal,omitempty"`
	// Terminal sessions (see terminal.go): the client's new window size,
	// and the server's word that the client detached.
	Resize   *[2]uint16 `json:"Resize,omitempty"`
	Detached bool       `json:"Detached,omitempty"`
}
