package types

// Plugin is a legacy (v1) Docker plugin found in the plugin directories,
// as patchbay's GET /plugins/legacy lists it.
type Plugin struct {
	Name string `json:"Name"`
	// Implements are the interfaces its handshake named
	// (NetworkDriver, IpamDriver…); empty when it did not answer.
	Implements []string `json:"Implements"`
	// Address is where it is called (unix:///path, tcp://host:port);
	// File is the socket or spec file that named it.
	Address string `json:"Address"`
	File    string `json:"File"`
	// Status is "active", or why it cannot be used.
	Status string `json:"Status"`
}
