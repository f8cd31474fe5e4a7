package types

// Plugin is a legacy (v1) Docker plugin found in the plugin directories,
// as patchbay's GET /plugins/legacy lists it and GET
// /plugins/legacy/{name}/json inspects it.
type Plugin struct {
	Name string `json:"Name"`
	// Implements are the interfaces its handshake named
	// (NetworkDriver, IpamDriver…); empty when it did not answer.
	Implements []string `json:"Implements"`
	// Address is where it is called (unix:///path, tcp://host:port);
	// File is the socket or spec file that named it.
	Address string `json:"Address"`
	File    string `json:"File"`
	// TLS is the TLS configuration of a .json spec file.
	TLS *PluginTLS `json:"TLS,omitempty"`
	// Status is "active", or why it cannot be used.
	Status string `json:"Status"`
	// Networks (inspect only) are the networks whose network or IPAM
	// driver the plugin is, by name.
	Networks []string `json:"Networks,omitempty"`
}

// PluginTLS is the TLSConfig of a plugin's .json spec file.
type PluginTLS struct {
	InsecureSkipVerify bool   `json:"InsecureSkipVerify"`
	CAFile             string `json:"CAFile,omitempty"`
	CertFile           string `json:"CertFile,omitempty"`
	KeyFile            string `json:"KeyFile,omitempty"`
}
