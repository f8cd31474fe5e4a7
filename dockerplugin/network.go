package dockerplugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/engine"
	"github.com/patchbay/patchbay/ipam"
	"github.com/patchbay/patchbay/plugin/wire"
)

// Options Docker puts in CreateNetwork and the endpoint calls.
const (
	optGeneric    = "com.docker.network.generic"
	optEnableIPv6 = "com.docker.network.enable_ipv6"
	optInternal   = "com.docker.network.internal"
	optPortMap    = "com.docker.network.portmap"
	optDriver     = "patchbay.driver"
	defaultDriver = "bridge"
	interfacePfx  = "eth"
)

func (s *Server) networkHandlers() map[string]handler {
	return map[string]handler{
		"GetCapabilities": func(context.Context, []byte) (any, error) {
			return wire.CapabilitiesResponse{Scope: "local", ConnectivityScope: "local"}, nil
		},
		"CreateNetwork":               s.createNetwork,
		"DeleteNetwork":               s.deleteNetwork,
		"CreateEndpoint":              s.createEndpoint,
		"DeleteEndpoint":              s.deleteEndpoint,
		"EndpointOperInfo":            s.endpointOperInfo,
		"Join":                        s.join,
		"Leave":                       s.leave,
		"ProgramExternalConnectivity": s.programExternal,
		"RevokeExternalConnectivity":  s.revokeExternal,
		"DiscoverNew":                 func(context.Context, []byte) (any, error) { return nil, nil },
		"DiscoverDelete":              func(context.Context, []byte) (any, error) { return nil, nil },
	}
}

// networkCreate turns CreateNetwork's body into the engine's request.
func networkCreate(req wire.CreateNetworkRequest) (engine.NetworkCreate, bool, error) {
	nc := engine.NetworkCreate{Driver: defaultDriver, Options: map[string]string{}}
	if g, ok := req.Options[optGeneric].(map[string]any); ok {
		for k, v := range g {
			str := fmt.Sprint(v)
			if k == optDriver {
				nc.Driver = str
				continue
			}
			nc.Options[k] = str
		}
	}
	if len(nc.Options) == 0 {
		nc.Options = nil
	}
	nc.EnableIPv6 = truthy(req.Options[optEnableIPv6])
	nc.Internal = truthy(req.Options[optInternal])
	patchbayIPAM := false
	for _, d := range append(append([]wire.IPAMData(nil), req.IPv4Data...), req.IPv6Data...) {
		if d.AddressSpace == LocalSpace || d.AddressSpace == GlobalSpace {
			patchbayIPAM = true
		}
		r := engine.IPAMRequest{Subnet: d.Pool}
		if d.Gateway != "" {
			gw, err := netip.ParsePrefix(d.Gateway)
			if err != nil {
				return nc, false, cnm.Invalid("invalid gateway %q", d.Gateway)
			}
			r.Gateway = gw.Addr().String()
		}
		for name, a := range d.AuxAddresses {
			p, err := netip.ParsePrefix(a)
			if err != nil {
				return nc, false, cnm.Invalid("invalid auxiliary address %q", a)
			}
			if r.AuxAddresses == nil {
				r.AuxAddresses = map[string]string{}
			}
			r.AuxAddresses[name] = p.Addr().String()
		}
		nc.IPAM = append(nc.IPAM, r)
	}
	return nc, patchbayIPAM, nil
}

func truthy(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case string:
		b, _ := strconv.ParseBool(x)
		return b
	}
	return false
}

func (s *Server) createNetwork(ctx context.Context, body []byte) (any, error) {
	var req wire.CreateNetworkRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	nc, owned, err := networkCreate(req)
	if err != nil {
		return nil, err
	}
	if _, err := s.eng.CreateNetworkWithID(ctx, req.NetworkID, nc, owned); err != nil {
		return nil, err
	}
	return nil, nil
}

func (s *Server) deleteNetwork(ctx context.Context, body []byte) (any, error) {
	var req wire.NetworkRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	if err := s.eng.RemoveNetwork(ctx, req.NetworkID); err != nil {
		return nil, err
	}
	s.mu.Lock()
	for k := range s.pending {
		if strings.HasPrefix(k, req.NetworkID+"/") {
			delete(s.pending, k)
		}
	}
	s.mu.Unlock()
	return nil, nil
}

func pendingKey(netID, epID string) string { return netID + "/" + epID }

// createEndpoint checks the network and keeps the endpoint's addresses
// for its Join; it supplies a MAC when Docker gave none.
func (s *Server) createEndpoint(ctx context.Context, body []byte) (any, error) {
	var req wire.CreateEndpointRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	if _, err := s.eng.Network(req.NetworkID); err != nil {
		return nil, err
	}
	var p pendingEndpoint
	var resp wire.CreateEndpointResponse
	if i := req.Interface; i != nil {
		p.v4, p.v6 = i.Address, i.AddressIPv6
		if i.MacAddress != "" {
			mac, err := net.ParseMAC(i.MacAddress)
			if err != nil {
				return nil, cnm.Invalid("invalid MAC address %q", i.MacAddress)
			}
			p.mac = mac
		}
	}
	if p.mac == nil {
		p.mac = ipam.RandomMAC()
		resp.Interface = &wire.EndpointInterface{MacAddress: p.mac.String()}
	}
	for _, a := range []string{p.v4, p.v6} {
		if a == "" {
			continue
		}
		if _, err := netip.ParsePrefix(a); err != nil {
			return nil, cnm.Invalid("invalid address %q", a)
		}
	}
	s.mu.Lock()
	s.pending[pendingKey(req.NetworkID, req.EndpointID)] = p
	s.mu.Unlock()
	return resp, nil
}

// deleteEndpoint forgets a created endpoint, and leaves it first if
// Docker never sent its Leave.
func (s *Server) deleteEndpoint(ctx context.Context, body []byte) (any, error) {
	var req wire.EndpointRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	key := pendingKey(req.NetworkID, req.EndpointID)
	s.mu.Lock()
	_, known := s.pending[key]
	delete(s.pending, key)
	s.mu.Unlock()
	err := s.eng.LeaveDocker(ctx, req.NetworkID, req.EndpointID)
	if err != nil && (!known || !isNotFound(err)) {
		return nil, err
	}
	return nil, nil
}

func isNotFound(err error) bool { return errors.Is(err, cnm.ErrNotFound) }

func (s *Server) endpointOperInfo(ctx context.Context, body []byte) (any, error) {
	var req wire.EndpointRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	return wire.EndpointInfoResponse{Value: map[string]any{}}, nil
}

func (s *Server) join(ctx context.Context, body []byte) (any, error) {
	var req wire.JoinRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	s.mu.Lock()
	p, ok := s.pending[pendingKey(req.NetworkID, req.EndpointID)]
	s.mu.Unlock()
	if !ok {
		return nil, cnm.NotFound("endpoint %s not found", req.EndpointID)
	}
	de := engine.DockerEndpoint{NetworkID: req.NetworkID, EndpointID: req.EndpointID, SandboxKey: req.SandboxKey, MAC: p.mac}
	if p.v4 != "" {
		de.IPv4 = netip.MustParsePrefix(p.v4)
	}
	if p.v6 != "" {
		de.IPv6 = netip.MustParsePrefix(p.v6)
	}
	j, err := s.eng.JoinDocker(ctx, de)
	if err != nil {
		return nil, err
	}
	resp := wire.JoinResponse{
		InterfaceName:         &wire.InterfaceName{SrcName: j.Interface.SrcName, DstPrefix: interfacePfx},
		DisableGatewayService: j.NoGateway,
	}
	if j.Gateway4.IsValid() {
		resp.Gateway = j.Gateway4.String()
	}
	if j.Gateway6.IsValid() {
		resp.GatewayIPv6 = j.Gateway6.String()
	}
	for _, r := range j.StaticRoutes {
		sr := wire.StaticRoute{Destination: r.Destination.String(), RouteType: wire.RouteConnected}
		if r.NextHop.IsValid() {
			sr.RouteType, sr.NextHop = wire.RouteNextHop, r.NextHop.String()
		}
		resp.StaticRoutes = append(resp.StaticRoutes, sr)
	}
	return resp, nil
}

func (s *Server) leave(ctx context.Context, body []byte) (any, error) {
	var req wire.EndpointRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	return nil, s.eng.LeaveDocker(ctx, req.NetworkID, req.EndpointID)
}

// portBinding is libnetwork's types.PortBinding, as the portmap option
// carries it: Proto is an IP protocol number.
type portBinding struct {
	Proto       int
	IP          string
	Port        uint16
	HostIP      string
	HostPort    uint16
	HostPortEnd uint16
}

var protoNames = map[int]string{6: "tcp", 17: "udp", 132: "sctp"}

// dockerPorts decodes the portmap option.
func dockerPorts(v any) ([]engine.DockerPort, error) {
	if v == nil {
		return nil, nil
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, cnm.Invalid("invalid %s: %v", optPortMap, err)
	}
	var bs []portBinding
	if err := json.Unmarshal(raw, &bs); err != nil {
		return nil, cnm.Invalid("invalid %s: %v", optPortMap, err)
	}
	var out []engine.DockerPort
	for _, b := range bs {
		proto, ok := protoNames[b.Proto]
		if !ok {
			return nil, cnm.Invalid("invalid protocol number %d in %s", b.Proto, optPortMap)
		}
		p := engine.DockerPort{Proto: proto, Port: b.Port, HostPort: b.HostPort, HostPortEnd: b.HostPortEnd}
		if b.HostIP != "" {
			a, err := netip.ParseAddr(b.HostIP)
			if err != nil {
				return nil, cnm.Invalid("invalid host IP %q in %s", b.HostIP, optPortMap)
			}
			if !a.IsUnspecified() {
				p.HostIP = a.Unmap()
			}
		}
		out = append(out, p)
	}
	return out, nil
}

func (s *Server) programExternal(ctx context.Context, body []byte) (any, error) {
	var req wire.ProgramExternalConnectivityRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	ports, err := dockerPorts(req.Options[optPortMap])
	if err != nil {
		return nil, err
	}
	if _, err := s.eng.PublishDocker(ctx, req.NetworkID, req.EndpointID, ports); err != nil {
		return nil, err
	}
	return nil, nil
}

func (s *Server) revokeExternal(ctx context.Context, body []byte) (any, error) {
	var req wire.EndpointRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	return nil, s.eng.UnpublishDocker(ctx, req.NetworkID, req.EndpointID)
}
