package engine

import (
	"slices"
	"strings"

	"github.com/patchbay/patchbay/cnm"
)

// EndpointInfo is an endpoint with the names of its network and sandbox.
type EndpointInfo struct {
	cnm.Endpoint
	NetworkName string
	SandboxName string
}

// NetworkInfo is a snapshot of a network and its endpoints.
type NetworkInfo struct {
	cnm.Network
	Endpoints []EndpointInfo
	// Unavailable says why the network's driver cannot be used now;
	// empty while it can.
	Unavailable string
}

// SandboxInfo is a snapshot of a sandbox and its endpoints in join order.
type SandboxInfo struct {
	cnm.Sandbox
	Endpoints []EndpointInfo
}

// Networks returns every network, sorted by name.
func (e *Engine) Networks() []NetworkInfo {
	e.mu.RLock()
	defer e.mu.RUnlock()
	out := make([]NetworkInfo, 0, len(e.networks))
	for _, n := range e.networks {
		out = append(out, e.networkInfoLocked(n))
	}
	slices.SortFunc(out, func(a, b NetworkInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Network returns one network by ID, name or unique ID prefix.
func (e *Engine) Network(ref string) (NetworkInfo, error) {
	n, err := e.findNetwork(ref)
	if err != nil {
		return NetworkInfo{}, err
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.networkInfoLocked(n), nil
}

func (e *Engine) networkInfoLocked(n *network) NetworkInfo {
	info := NetworkInfo{Network: cloneNetwork(&n.Network)}
	if n.down != nil {
		info.Unavailable = n.down.Error()
	}
	for _, ep := range n.eps {
		info.Endpoints = append(info.Endpoints, e.endpointInfoLocked(ep))
	}
	slices.SortFunc(info.Endpoints, func(a, b EndpointInfo) int { return strings.Compare(a.SandboxName, b.SandboxName) })
	return info
}

func (e *Engine) endpointInfoLocked(ep *cnm.Endpoint) EndpointInfo {
	info := EndpointInfo{Endpoint: *ep}
	info.Aliases = slices.Clone(ep.Aliases)
	if n := e.networks[ep.NetworkID]; n != nil {
		info.NetworkName = n.Name
	}
	if sb := e.sandboxes[ep.SandboxID]; sb != nil {
		info.SandboxName = sb.Name
	}
	return info
}

// Sandboxes returns every sandbox, newest first.
func (e *Engine) Sandboxes() []SandboxInfo {
	e.mu.RLock()
	defer e.mu.RUnlock()
	out := make([]SandboxInfo, 0, len(e.sandboxes))
	for _, sb := range e.sandboxes {
		out = append(out, e.sandboxInfoLocked(sb))
	}
	slices.SortFunc(out, func(a, b SandboxInfo) int { return b.Created.Compare(a.Created) })
	return out
}

// Sandbox returns one sandbox by ID, name or unique ID prefix.
func (e *Engine) Sandbox(ref string) (SandboxInfo, error) {
	sb, err := e.findSandbox(ref)
	if err != nil {
		return SandboxInfo{}, err
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.sandboxInfoLocked(sb), nil
}

func (e *Engine) sandboxInfoLocked(sb *sbox) SandboxInfo {
	info := SandboxInfo{Sandbox: sb.Sandbox}
	if sb.Process != nil {
		p := *sb.Process
		p.Args = slices.Clone(p.Args)
		info.Process = &p
	}
	for _, ep := range sb.eps {
		info.Endpoints = append(info.Endpoints, e.endpointInfoLocked(ep))
	}
	return info
}

// Running reports whether a sandbox's process runs.
func (info SandboxInfo) Running() bool {
	return info.Process != nil && info.Process.State == cnm.StateRunning
}
