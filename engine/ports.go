package engine

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/firewall"
	"github.com/patchbay/patchbay/internal/hostport"
	"github.com/patchbay/patchbay/internal/nl"
	"github.com/patchbay/patchbay/portspec"
)

// MaxPublishedPorts bounds the container ports one sandbox create may
// publish (-p ranges and -P together): each holds a host socket per
// address family for as long as the sandbox exists.
const MaxPublishedPorts = 1024

// parsePorts validates -p specs, and with publishAll adds an ephemeral
// mapping for every exposed port no spec publishes, before anything is
// created.
func parsePorts(specs, expose []string, publishAll bool, n *network, hostMode bool) ([]portspec.Spec, error) {
	var out []portspec.Spec
	published := map[string]bool{}
	for _, s := range specs {
		p, err := portspec.Parse(s)
		if err != nil {
			return nil, cnm.Invalid("%v", err)
		}
		if p.HostIP.Is6() && p.HostIP.Unmap().IsLoopback() {
			// There is no IPv6 route_localnet: the kernel will not send
			// ::1-sourced traffic out of a bridge after NAT.
			return nil, cnm.Invalid("cannot publish %s: IPv6 loopback traffic cannot be translated to a container; publish on 127.0.0.1 or a host address", s)
		}
		out = append(out, p)
		for port := int(p.Ports.Start); port <= int(p.Ports.End); port++ {
			published[portspec.Key(uint16(port), p.Proto)] = true
		}
	}
	for _, s := range expose {
		r, proto, err := portspec.ParseExpose(s)
		if err != nil {
			return nil, cnm.Invalid("%v", err)
		}
		if !publishAll {
			continue
		}
		for port := int(r.Start); port <= int(r.End); port++ {
			if !published[portspec.Key(uint16(port), proto)] {
				out = append(out, portspec.Spec{Ports: portspec.Range{Start: uint16(port), End: uint16(port)}, Proto: proto})
			}
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	count := 0
	for _, p := range out {
		count += p.Ports.Len()
	}
	if count > MaxPublishedPorts {
		return nil, cnm.Invalid("cannot publish %d ports in one request: at most %d (each holds a host socket per address family)", count, MaxPublishedPorts)
	}
	if x, ok := exposure(n); hostMode || !ok || !x.Publish {
		return nil, cnm.Invalid("cannot publish ports on network %s: only bridge networks publish ports", n.Name)
	}
	if n.Internal {
		return nil, cnm.Invalid("cannot publish ports on network %s: it is internal", n.Name)
	}
	return out, nil
}

func firewallMappings(ms []cnm.PortMapping) []firewall.Mapping {
	out := make([]firewall.Mapping, 0, len(ms))
	for _, m := range ms {
		if m.Conflict != "" {
			continue // not in force; see rereserve
		}
		out = append(out, firewall.Mapping{HostIP: m.HostIP, HostPort: m.HostPort, Proto: m.Proto, Addr: m.Addr, Port: m.Port})
	}
	// A published range is one element, however long.
	return firewall.Coalesce(out)
}

// publishPorts chooses and reserves host ports for an endpoint's specs and
// installs the mappings. The returned sockets hold the host ports; on
// error nothing is left.
func (e *Engine) publishPorts(n *network, ep *cnm.Endpoint, specs []portspec.Spec) (_ []cnm.PortMapping, fds map[hold]int, retErr error) {
	fds = map[hold]int{}
	defer func() {
		if retErr != nil {
			closeAll(fds)
			fds = nil
		}
	}()
	if err := e.checkDescriptors(specs); err != nil {
		return nil, fds, err
	}
	x, _ := exposure(n)
	var out []cnm.PortMapping
	// One trip into the namespace for every socket of every spec.
	err := nl.InNetns(e.host.NS, func() error {
		for _, spec := range specs {
			ms, err := e.mapSpec(x.HostBindingV4, ep, spec, fds)
			if err != nil {
				return err
			}
			out = append(out, ms...)
		}
		return nil
	})
	if err != nil {
		return nil, fds, err
	}
	if err := e.fw.Update(nil, nil, firewallMappings(out), nil); err != nil {
		return nil, fds, fmt.Errorf("install port mappings: %w", err)
	}
	return out, fds, nil
}

// hold names what a host port socket holds: a port of a protocol on an
// address (any when invalid) of a family.
type hold struct {
	ip    netip.Addr
	v4    bool
	port  uint16
	proto string
}

func holdOf(m cnm.PortMapping) hold { return hold{m.HostIP, m.Addr.Is4(), m.HostPort, m.Proto} }

// mapSpec turns one spec into mappings, reserving their host ports and
// adding the sockets to fds. It runs on a thread in the engine's
// namespace.
func (e *Engine) mapSpec(binding netip.Addr, ep *cnm.Endpoint, spec portspec.Spec, fds map[hold]int) ([]cnm.PortMapping, error) {
	var out []cnm.PortMapping
	hostIP := spec.HostIP
	if !hostIP.IsValid() && binding.IsValid() && !binding.IsUnspecified() {
		hostIP = binding
	}
	// The container addresses the mapping serves, first one first.
	var targets []netip.Addr
	switch {
	case hostIP.IsValid() && hostIP.Unmap().Is4():
		if !ep.IPv4.IsValid() {
			return nil, cnm.Invalid("cannot publish %s: the sandbox has no IPv4 address", spec)
		}
		targets = append(targets, ep.IPv4.Addr())
	case hostIP.IsValid():
		if !ep.IPv6.IsValid() {
			return nil, cnm.Invalid("cannot publish %s: the sandbox has no IPv6 address", spec)
		}
		targets = append(targets, ep.IPv6.Addr())
	default:
		for _, p := range []netip.Prefix{ep.IPv4, ep.IPv6} {
			if p.IsValid() {
				targets = append(targets, p.Addr())
			}
		}
	}
	bindIP := func(target netip.Addr) netip.Addr {
		if hostIP.IsValid() && !hostIP.IsUnspecified() {
			return hostIP.Unmap()
		}
		return netip.Addr{} // every address of target's family
	}
	pick := func(r portspec.Range) (uint16, error) {
		if r.IsZero() {
			lo, hi := hostport.EphemeralRange()
			r = portspec.Range{Start: lo, End: hi}
		}
		n := r.Len()
		start := int(e.portCursor) % n
		for i := 0; i < n; i++ {
			p := r.Start + uint16((start+i)%n)
			fd, err := hostport.Hold(bindIP(targets[0]), targets[0].Is4(), p, string(spec.Proto))
			if hostport.InUse(err) {
				continue
			}
			if err != nil {
				return 0, err
			}
			fds[hold{bindIP(targets[0]), targets[0].Is4(), p, string(spec.Proto)}] = fd
			e.portCursor = uint32(start+i+1) % uint32(n)
			return p, nil
		}
		return 0, cnm.Conflict("no free host port in %s/%s", r, spec.Proto)
	}
	picked := spec.HostPorts.IsZero() || spec.HostPorts.Len() != spec.Ports.Len()
	ms, err := spec.Expand(pick)
	if err != nil {
		if errors.Is(err, cnm.ErrConflict) || errors.Is(err, cnm.ErrInvalid) {
			return nil, err
		}
		return nil, cnm.Invalid("%v", err)
	}
	for _, m := range ms {
		for i, target := range targets {
			if i > 0 || !picked {
				fd, err := hostport.Hold(bindIP(target), target.Is4(), m.HostPort, string(m.Proto))
				if err != nil {
					return nil, err
				}
				fds[hold{bindIP(target), target.Is4(), m.HostPort, string(m.Proto)}] = fd
			}
			out = append(out, cnm.PortMapping{HostIP: bindIP(target), HostPort: m.HostPort, Proto: string(m.Proto), Addr: target, Port: m.Port})
		}
	}
	return out, nil
}

// unpublish removes a sandbox's mappings and frees its host ports.
func (e *Engine) unpublish(sb *sbox) {
	if len(sb.Ports) > 0 {
		if err := e.fw.Update(nil, nil, nil, firewallMappings(sb.Ports)); err != nil {
			e.log.Warn("remove port mappings", "sb", sb.Name, "err", err)
		}
	}
	closeAll(sb.portFDs)
	sb.portFDs = nil
}

// unpublishEndpoint removes the mappings to an endpoint that leaves its
// sandbox, and frees their host ports; the sandbox keeps its others.
// It returns the sandbox's remaining mappings, for its record, and a func
// that applies the change once the record is stored. Caller holds opMu.
func (e *Engine) unpublishEndpoint(sb *sbox, ep *cnm.Endpoint) (keep []cnm.PortMapping, apply func()) {
	var gone []cnm.PortMapping
	for _, m := range sb.Ports {
		if (ep.IPv4.IsValid() && m.Addr == ep.IPv4.Addr()) || (ep.IPv6.IsValid() && m.Addr == ep.IPv6.Addr()) {
			gone = append(gone, m)
		} else {
			keep = append(keep, m)
		}
	}
	return keep, func() {
		if len(gone) == 0 {
			return
		}
		if err := e.fw.Update(nil, nil, nil, firewallMappings(gone)); err != nil {
			e.log.Warn("remove port mappings", "sb", sb.Name, "err", err)
		}
		for _, m := range gone {
			if fd, ok := sb.portFDs[holdOf(m)]; ok {
				closeAll(map[hold]int{holdOf(m): fd})
				delete(sb.portFDs, holdOf(m))
			}
		}
	}
}

// rereserve takes a restored sandbox's host ports again. A host port
// another program took while patchbay was down is a conflict: the
// mapping is marked (firewallMappings then leaves it out, so it takes no
// traffic from that program), logged, and shown by inspect.
func (e *Engine) rereserve(sb *sbox) {
	if len(sb.Ports) == 0 {
		return
	}
	sb.Ports = slices.Clone(sb.Ports)
	_ = nl.InNetns(e.host.NS, func() error {
		for i := range sb.Ports {
			m := &sb.Ports[i]
			m.Conflict = ""
			fd, err := hostport.Hold(m.HostIP, m.Addr.Is4(), m.HostPort, m.Proto)
			if errors.Is(err, cnm.ErrConflict) {
				m.Conflict = err.Error()
				e.log.Warn("published port not installed: its host port was taken while patchbay was down",
					"sb", sb.Name, "port", portString(*m), "err", err)
				continue
			}
			if err != nil {
				e.log.Warn("hold host port of a published port again", "sb", sb.Name, "port", portString(*m), "err", err)
				continue
			}
			if sb.portFDs == nil {
				sb.portFDs = map[hold]int{}
			}
			sb.portFDs[holdOf(*m)] = fd
		}
		return nil
	})
}

// portString names a mapping as -p does: [hostIP:]hostPort:port/proto.
func portString(m cnm.PortMapping) string {
	host := strconv.Itoa(int(m.HostPort))
	if m.HostIP.IsValid() {
		host = netip.AddrPortFrom(m.HostIP, m.HostPort).String()
	}
	return fmt.Sprintf("%s:%d/%s", host, m.Port, m.Proto)
}

// closeAll closes the sockets holding host ports (-1 holds nothing).
func closeAll(fds map[hold]int) {
	for _, fd := range fds {
		hostport.Release(fd)
	}
}
