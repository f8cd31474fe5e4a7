package types

// Docker Engine API types that patchbay's own routes do not use: the
// negotiation replies and the container views of sandboxes.

// VersionResponse is the reply to GET /version.
type VersionResponse struct {
	Platform      struct{ Name string } `json:"Platform"`
	Components    []ComponentVersion    `json:"Components"`
	Version       string                `json:"Version"`
	APIVersion    string                `json:"ApiVersion"`
	MinAPIVersion string                `json:"MinAPIVersion"`
	GitCommit     string                `json:"GitCommit,omitempty"`
	GoVersion     string                `json:"GoVersion"`
	Os            string                `json:"Os"`
	Arch          string                `json:"Arch"`
	KernelVersion string                `json:"KernelVersion"`
	Experimental  bool                  `json:"Experimental,omitempty"`
	BuildTime     string                `json:"BuildTime,omitempty"`
}

// ComponentVersion is one component of the server.
type ComponentVersion struct {
	Name    string            `json:"Name"`
	Version string            `json:"Version"`
	Details map[string]string `json:"Details,omitempty"`
}

// Info is the reply to GET /info: the fields docker info and docker
// inspect read, with patchbay's counts; there are no images, volumes,
// storage drivers or swarm here.
type Info struct {
	ID                string      `json:"ID"`
	Containers        int         `json:"Containers"`
	ContainersRunning int         `json:"ContainersRunning"`
	ContainersPaused  int         `json:"ContainersPaused"`
	ContainersStopped int         `json:"ContainersStopped"`
	Images            int         `json:"Images"`
	Driver            string      `json:"Driver"`
	DockerRootDir     string      `json:"DockerRootDir"`
	Plugins           InfoPlugins `json:"Plugins"`
	SystemTime        string      `json:"SystemTime"`
	KernelVersion     string      `json:"KernelVersion"`
	OperatingSystem   string      `json:"OperatingSystem"`
	OSType            string      `json:"OSType"`
	Architecture      string      `json:"Architecture"`
	NCPU              int         `json:"NCPU"`
	MemTotal          int64       `json:"MemTotal"`
	Name              string      `json:"Name"`
	ServerVersion     string      `json:"ServerVersion"`
	Swarm             InfoSwarm   `json:"Swarm"`
	SecurityOptions   []string    `json:"SecurityOptions"`
	Warnings          []string    `json:"Warnings"`
}

// InfoPlugins lists the drivers by kind.
type InfoPlugins struct {
	Volume        []string `json:"Volume"`
	Network       []string `json:"Network"`
	Authorization []string `json:"Authorization"`
	Log           []string `json:"Log"`
}

// InfoSwarm says there is no swarm.
type InfoSwarm struct {
	NodeID           string `json:"NodeID"`
	NodeAddr         string `json:"NodeAddr"`
	LocalNodeState   string `json:"LocalNodeState"`
	ControlAvailable bool   `json:"ControlAvailable"`
	Error            string `json:"Error"`
}

// ContainerSummary is a sandbox as GET /containers/json lists it.
type ContainerSummary struct {
	ID              string                 `json:"Id"`
	Names           []string               `json:"Names"`
	Image           string                 `json:"Image"`
	ImageID         string                 `json:"ImageID"`
	Command         string                 `json:"Command"`
	Created         int64                  `json:"Created"`
	Ports           []PortSummary          `json:"Ports"`
	Labels          map[string]string      `json:"Labels"`
	State           string                 `json:"State"`
	Status          string                 `json:"Status"`
	HostConfig      SummaryHostConfig      `json:"HostConfig"`
	NetworkSettings SummaryNetworkSettings `json:"NetworkSettings"`
	Mounts          []MountPoint           `json:"Mounts"`
}

// SummaryHostConfig is the host configuration a list shows.
type SummaryHostConfig struct {
	NetworkMode string `json:"NetworkMode,omitempty"`
}

// SummaryNetworkSettings is the network part of a list entry.
type SummaryNetworkSettings struct {
	Networks map[string]EndpointSettingsOut `json:"Networks"`
}

// PortSummary is one published port in a list entry.
type PortSummary struct {
	IP          string `json:"IP,omitempty"`
	PrivatePort uint16 `json:"PrivatePort"`
	PublicPort  uint16 `json:"PublicPort,omitempty"`
	Type        string `json:"Type"`
}

// MountPoint is a mount of a container; sandboxes have none.
type MountPoint struct {
	Type        string `json:"Type,omitempty"`
	Source      string `json:"Source"`
	Destination string `json:"Destination"`
	Mode        string `json:"Mode"`
	RW          bool   `json:"RW"`
	Propagation string `json:"Propagation"`
}

// ContainerJSON is a sandbox as GET /containers/{id}/json shows it: the
// same Sandbox as patchbay inspect prints, with Docker's name form
// ("/web") and the container fields that have no meaning here.
type ContainerJSON struct {
	Sandbox
	Name            string       `json:"Name"`
	Created         string       `json:"Created"`
	Image           string       `json:"Image"`
	ResolvConfPath  string       `json:"ResolvConfPath"`
	HostnamePath    string       `json:"HostnamePath"`
	HostsPath       string       `json:"HostsPath"`
	RestartCount    int          `json:"RestartCount"`
	Driver          string       `json:"Driver"`
	Platform        string       `json:"Platform"`
	MountLabel      string       `json:"MountLabel"`
	ProcessLabel    string       `json:"ProcessLabel"`
	AppArmorProfile string       `json:"AppArmorProfile"`
	ExecIDs         []string     `json:"ExecIDs"`
	Mounts          []MountPoint `json:"Mounts"`
}
