package cnm

import (
	"net/netip"
	"time"
)

// Scopes of a network.
const (
	ScopeLocal  = "local"
	ScopeGlobal = "global"
)

// Network is one broadcast/routing domain made by a driver.
type Network struct {
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	Driver     string            `json:"driver"`
	Scope      string            `json:"scope"`
	Created    time.Time         `json:"created"`
	EnableIPv6 bool              `json:"enableIPv6,omitempty"`
	Internal   bool              `json:"internal,omitempty"`
	Attachable bool              `json:"attachable,omitempty"`
	IPAM       IPAM              `json:"ipam"`
	Options    map[string]string `json:"options,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
	// Builtin marks the default networks (bridge, host, none), which
	// cannot be removed.
	Builtin bool `json:"builtin,omitempty"`
	// Cursors is read from records written before the IPAM driver kept
	// its own allocation state (the last address handed out per subnet);
	// it is moved there at restore and never written again.
	Cursors map[string]netip.Addr `json:"cursors,omitempty"`
	// DriverData is what the driver returned when the network was made
	// (a VXLAN ID, say), handed back to it on every later call.
	DriverData map[string]string `json:"driverData,omitempty"`
}

// IPAM is the address management configuration of a network.
type IPAM struct {
	Driver  string            `json:"driver"`
	Options map[string]string `json:"options,omitempty"`
	Config  []IPAMConfig      `json:"config,omitempty"`
}

// IPAMConfig is one subnet of a network.
type IPAMConfig struct {
	Subnet       netip.Prefix          `json:"subnet"`
	IPRange      netip.Prefix          `json:"ipRange,omitzero"`
	Gateway      netip.Addr            `json:"gateway,omitzero"`
	AuxAddresses map[string]netip.Addr `json:"auxAddresses,omitempty"`
	// PoolID is what the IPAM driver named the subnet's pool.
	PoolID string `json:"poolID,omitempty"`
}

// Endpoint is one interface of one sandbox on one network.
type Endpoint struct {
	ID        string `json:"id"`
	NetworkID string `json:"networkID"`
	SandboxID string `json:"sandboxID"`
	// IfName is the interface name inside the sandbox (eth0, eth1…).
	IfName string `json:"ifName,omitempty"`
	// HostIfName is the host side of the link (a veth on the bridge).
	HostIfName string       `json:"hostIfName,omitempty"`
	MAC        string       `json:"mac,omitempty"`
	IPv4       netip.Prefix `json:"ipv4,omitzero"`
	IPv6       netip.Prefix `json:"ipv6,omitzero"`
	Gateway4   netip.Addr   `json:"gateway4,omitzero"`
	Gateway6   netip.Addr   `json:"gateway6,omitzero"`
	Aliases    []string     `json:"aliases,omitempty"`
	// Seq orders a sandbox's endpoints by join time.
	Seq uint64 `json:"seq"`
}

// Sandbox modes.
const (
	ModeNone   = "none"   // its own namespace with only lo
	ModeHost   = "host"   // the host namespace
	ModeBridge = "bridge" // its own namespace joined to networks
)

// Sandbox is one container's network stack: a namespace plus its
// generated files and, optionally, the process running in it.
type Sandbox struct {
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	Hostname string    `json:"hostname"`
	Created  time.Time `json:"created"`
	// NetnsPath is the namespace file; empty for host mode.
	NetnsPath string `json:"netnsPath,omitempty"`
	// HostNetwork is set when the sandbox is the host namespace.
	HostNetwork bool `json:"hostNetwork,omitempty"`
	// Adopted is set when the namespace came from outside (--pid/--netns).
	Adopted bool `json:"adopted,omitempty"`
	// ExternalPID is the pid whose namespace was adopted, if any.
	ExternalPID int      `json:"externalPID,omitempty"`
	Process     *Process `json:"process,omitempty"`
	// Ports are the sandbox's published ports.
	Ports []PortMapping `json:"ports,omitempty"`
	// Domainname makes Hostname.Domainname the sandbox's FQDN.
	Domainname string `json:"domainname,omitempty"`
	// DNS, DNSSearch and DNSOptions override the host's resolv.conf
	// (--dns, --dns-search, --dns-option). On user-defined networks the
	// DNS servers are where the embedded resolver forwards.
	DNS        []netip.Addr `json:"dns,omitempty"`
	DNSSearch  []string     `json:"dnsSearch,omitempty"`
	DNSOptions []string     `json:"dnsOptions,omitempty"`
	// ExtraHosts are --add-host entries, host-gateway already resolved.
	ExtraHosts []HostAlias `json:"extraHosts,omitempty"`
	// Links are --link entries.
	Links []Link `json:"links,omitempty"`
	// Container is the ID of the sandbox whose namespace and files this
	// one shares (--network container:NAME).
	Container string `json:"container,omitempty"`
}

// HostAlias is an /etc/hosts entry given by the user.
type HostAlias struct {
	Name string     `json:"name"`
	Addr netip.Addr `json:"addr"`
}

// Link is a legacy --link: the target sandbox is known as Alias (and its
// own name) to the linking one.
type Link struct {
	Target string `json:"target"` // sandbox ID
	Name   string `json:"name"`   // the target's name when linked
	Alias  string `json:"alias"`
}

// PortMapping is a published port: traffic to HostIP:HostPort (every
// local address when HostIP is unset) goes to Addr:Port in the sandbox.
type PortMapping struct {
	HostIP   netip.Addr `json:"hostIP,omitzero"`
	HostPort uint16     `json:"hostPort"`
	Proto    string     `json:"proto"`
	Addr     netip.Addr `json:"addr"`
	Port     uint16     `json:"port"`
	// Conflict, when set, says why the mapping is not in force: its host
	// port was taken by another program while patchbay was down.
	Conflict string `json:"conflict,omitempty"`
}

// Process states.
const (
	StateCreated = "created"
	StateRunning = "running"
	StateExited  = "exited"
)

// RestartPolicy is Docker's --restart: Name is "no" (or ""), "always",
// "unless-stopped" or "on-failure" (with at most MaximumRetryCount
// restarts; 0 is no limit).
type RestartPolicy struct {
	Name              string `json:"name,omitempty"`
	MaximumRetryCount int    `json:"maximumRetryCount,omitempty"`
}

// Process is the command started in a sandbox by patchbay run.
type Process struct {
	Args       []string `json:"args"`
	Env        []string `json:"env,omitempty"`
	Detached   bool     `json:"detached,omitempty"`
	AutoRemove bool     `json:"autoRemove,omitempty"`
	// TTY: the process runs on a pseudo-terminal held by the daemon;
	// OpenStdin: it was started to read input (-i).
	TTY       bool `json:"tty,omitempty"`
	OpenStdin bool `json:"openStdin,omitempty"`
	// Restart says when the daemon runs the command again after it
	// exits; RestartCount counts those runs since the last start by
	// hand; ManuallyStopped is set by stop and kill, cleared by start.
	Restart         RestartPolicy `json:"restart,omitzero"`
	RestartCount    int           `json:"restartCount,omitempty"`
	ManuallyStopped bool          `json:"manuallyStopped,omitempty"`
	// TTYHolder and TTYHolderStart name the process that keeps a TTY
	// process's terminal open while the daemon is away.
	TTYHolder      int       `json:"ttyHolder,omitempty"`
	TTYHolderStart uint64    `json:"ttyHolderStart,omitempty"`
	State          string    `json:"state"`
	Pid            int       `json:"pid,omitempty"`
	StartTime      uint64    `json:"startTime,omitempty"`
	Started        time.Time `json:"started,omitzero"`
	Finished       time.Time `json:"finished,omitzero"`
	// ExitCode is -1 when the process ended while the daemon was down
	// and its status could not be collected.
	ExitCode int    `json:"exitCode"`
	LogPath  string `json:"logPath,omitempty"`
}
