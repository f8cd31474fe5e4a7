package engine

import (
	"context"
	"fmt"
	"net/netip"
	"slices"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/portspec"
	"github.com/patchbay/patchbay/store"
)

// Published ports of the endpoints Docker joins (see dockerplugin.go).

// DockerPort is one of Docker's port bindings
// (com.docker.network.portmap): HostPort 0 asks for an ephemeral port.
type DockerPort struct {
	Proto       string // tcp, udp, sctp
	Port        uint16
	HostIP      netip.Addr
	HostPort    uint16
	HostPortEnd uint16
}

// PublishDocker publishes ports to an endpoint Docker joined
// (ProgramExternalConnectivity) through the engine's nftables maps, and
// returns the mappings in force. Calling it again with the endpoint's
// ports published changes nothing.
func (e *Engine) PublishDocker(ctx context.Context, netID, epID string, ports []DockerPort) ([]cnm.PortMapping, error) {
	e.opMu.Lock()
	defer e.opMu.Unlock()
	n, sb, ep, err := e.dockerEndpointLocked(netID, epID)
	if err != nil {
		return nil, err
	}
	if have := endpointPorts(sb, ep); len(have) > 0 || len(ports) == 0 {
		return have, nil
	}
	var specs []portspec.Spec
	for _, p := range ports {
		proto := portspec.Proto(p.Proto)
		if proto != portspec.TCP && proto != portspec.UDP && proto != portspec.SCTP {
			return nil, cnm.Invalid("invalid protocol %q", p.Proto)
		}
		s := portspec.Spec{HostIP: p.HostIP, Ports: portspec.Range{Start: p.Port, End: p.Port}, Proto: proto}
		if p.HostPort != 0 {
			s.HostPorts = portspec.Range{Start: p.HostPort, End: max(p.HostPort, p.HostPortEnd)}
		}
		specs = append(specs, s)
	}
	if _, ok := exposure(n); !ok {
		return nil, cnm.Invalid("cannot publish ports on network %s: only bridge networks publish ports", n.Name)
	}
	ms, fds, err := e.publishPorts(n, ep, specs)
	if err != nil {
		return nil, err
	}
	rec := sb.Sandbox
	rec.Ports = append(slices.Clone(sb.Ports), ms...)
	if err := e.update(func(tx *store.Tx) error { return tx.PutSandbox(&rec) }); err != nil {
		_ = e.fw.Update(nil, nil, nil, firewallMappings(ms))
		closeAll(fds)
		return nil, fmt.Errorf("save ports: %w", err)
	}
	e.mu.Lock()
	sb.Ports = rec.Ports
	if sb.portFDs == nil {
		sb.portFDs = map[hold]int{}
	}
	for k, v := range fds {
		sb.portFDs[k] = v
	}
	e.mu.Unlock()
	return ms, nil
}

// UnpublishDocker removes the ports published to an endpoint
// (RevokeExternalConnectivity).
func (e *Engine) UnpublishDocker(ctx context.Context, netID, epID string) error {
	e.opMu.Lock()
	defer e.opMu.Unlock()
	_, sb, ep, err := e.dockerEndpointLocked(netID, epID)
	if err != nil {
		return err
	}
	ports, apply := e.unpublishEndpoint(sb, ep)
	rec := sb.Sandbox
	rec.Ports = ports
	if err := e.update(func(tx *store.Tx) error { return tx.PutSandbox(&rec) }); err != nil {
		return fmt.Errorf("save ports: %w", err)
	}
	e.mu.Lock()
	sb.Ports = ports
	e.mu.Unlock()
	apply()
	return nil
}

// DockerPorts returns the mappings in force for an endpoint Docker
// joined (EndpointOperInfo).
func (e *Engine) DockerPorts(netID, epID string) ([]cnm.PortMapping, error) {
	e.opMu.Lock()
	defer e.opMu.Unlock()
	_, sb, ep, err := e.dockerEndpointLocked(netID, epID)
	if err != nil {
		return nil, err
	}
	return endpointPorts(sb, ep), nil
}

func endpointPorts(sb *sbox, ep *cnm.Endpoint) []cnm.PortMapping {
	var out []cnm.PortMapping
	for _, m := range sb.Ports {
		if (ep.IPv4.IsValid() && m.Addr == ep.IPv4.Addr()) || (ep.IPv6.IsValid() && m.Addr == ep.IPv6.Addr()) {
			out = append(out, m)
		}
	}
	return out
}
