package testplugin

import (
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"syscall"

	"github.com/patchbay/patchbay/plugin/wire"
	"github.com/vishvananda/netlink"
)

type tnet struct {
	Bridge string
	GW4    string
	GW6    string
	Join   string
}

type tep struct {
	Net  string
	Host string
	Peer string
}

func bridgeName(nid string) string { return "tpb" + short(nid) }
func hostName(eid string) string   { return "tph" + short(eid) }
func peerName(eid string) string   { return "tpc" + short(eid) }

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func (s *Server) networkRoutes() {
	handle(s, "NetworkDriver.GetCapabilities", func(*struct{}) (int, any) {
		return http.StatusOK, wire.CapabilitiesResponse{Scope: "local", ConnectivityScope: "local"}
	})
	handle(s, "NetworkDriver.CreateNetwork", s.createNetwork)
	handle(s, "NetworkDriver.DeleteNetwork", func(req *wire.NetworkRequest) (int, any) {
		s.mu.Lock()
		delete(s.nets, req.NetworkID)
		s.saveLocked()
		s.mu.Unlock()
		if err := s.delLink(bridgeName(req.NetworkID)); err != nil {
			return failure("err200", err.Error())
		}
		return ok()
	})
	handle(s, "NetworkDriver.CreateEndpoint", func(req *wire.CreateEndpointRequest) (int, any) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.nets[req.NetworkID] == nil {
			return failure("err200", "no network "+req.NetworkID)
		}
		s.eps[req.EndpointID] = &tep{Net: req.NetworkID, Host: hostName(req.EndpointID), Peer: peerName(req.EndpointID)}
		s.saveLocked()
		return http.StatusOK, wire.CreateEndpointResponse{}
	})
	handle(s, "NetworkDriver.Join", s.joinEndpoint)
	handle(s, "NetworkDriver.Leave", func(req *wire.EndpointRequest) (int, any) {
		if err := s.delLink(hostName(req.EndpointID)); err != nil {
			return failure("err200", err.Error())
		}
		return ok()
	})
	handle(s, "NetworkDriver.DeleteEndpoint", func(req *wire.EndpointRequest) (int, any) {
		s.mu.Lock()
		delete(s.eps, req.EndpointID)
		s.saveLocked()
		s.mu.Unlock()
		if err := s.delLink(hostName(req.EndpointID)); err != nil {
			return failure("err200", err.Error())
		}
		return ok()
	})
	handle(s, "NetworkDriver.EndpointOperInfo", func(req *wire.EndpointRequest) (int, any) {
		return http.StatusOK, wire.EndpointInfoResponse{Value: map[string]any{"hostIf": hostName(req.EndpointID)}}
	})
	handle(s, "NetworkDriver.DiscoverNew", func(*wire.DiscoveryNotification) (int, any) { return ok() })
	handle(s, "NetworkDriver.DiscoverDelete", func(*wire.DiscoveryNotification) (int, any) { return ok() })
	// ProgramExternalConnectivity and RevokeExternalConnectivity are
	// left out: they answer 404, which callers must tolerate.
}

func (s *Server) createNetwork(req *wire.CreateNetworkRequest) (int, any) {
	opts := genericOptions(req.Options)
	if shape := opts[OptFail]; shape != "" {
		return failure(shape, "refused on purpose ("+shape+")")
	}
	n := &tnet{Bridge: bridgeName(req.NetworkID), Join: opts[OptJoin]}
	for _, d := range req.IPv4Data {
		if p, err := netip.ParsePrefix(d.Gateway); err == nil {
			n.GW4 = p.Addr().String()
		}
	}
	for _, d := range req.IPv6Data {
		if p, err := netip.ParsePrefix(d.Gateway); err == nil {
			n.GW6 = p.Addr().String()
		}
	}
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: n.Bridge, TxQLen: -1}}
	if err := s.h.LinkAdd(br); err != nil && !errors.Is(err, syscall.EEXIST) {
		return failure("err200", "create bridge: "+err.Error())
	}
	l, err := s.h.LinkByName(n.Bridge)
	if err == nil {
		err = s.h.LinkSetUp(l)
	}
	if err != nil {
		return failure("err200", "bring up bridge: "+err.Error())
	}
	s.mu.Lock()
	s.nets[req.NetworkID] = n
	s.saveLocked()
	s.mu.Unlock()
	return ok()
}

func (s *Server) joinEndpoint(req *wire.JoinRequest) (int, any) {
	s.mu.Lock()
	n, ep := s.nets[req.NetworkID], s.eps[req.EndpointID]
	s.mu.Unlock()
	if n == nil || ep == nil {
		return failure("err200", "no such network or endpoint")
	}
	br, err := s.h.LinkByName(n.Bridge)
	if err != nil {
		return failure("err200", "find bridge: "+err.Error())
	}
	_ = s.delLink(ep.Host) // a join again after a crash
	veth := &netlink.Veth{
		LinkAttrs: netlink.LinkAttrs{Name: ep.Host, MasterIndex: br.Attrs().Index, TxQLen: -1},
		PeerName:  ep.Peer,
	}
	if err := s.h.LinkAdd(veth); err != nil {
		return failure("err200", "create veth pair: "+err.Error())
	}
	if err := s.h.LinkSetUp(veth); err != nil {
		return failure("err200", "bring up "+ep.Host+": "+err.Error())
	}
	resp := wire.JoinResponse{
		InterfaceName: &wire.InterfaceName{SrcName: ep.Peer, DstPrefix: "eth"},
		Gateway:       n.GW4, GatewayIPv6: n.GW6,
	}
	switch n.Join {
	case "crash":
		s.exit()
	case "nosuchif":
		resp.InterfaceName.SrcName = "tpnosuch0"
	}
	return http.StatusOK, resp
}

// delLink deletes a link; one that is not there is not an error.
func (s *Server) delLink(name string) error {
	l, err := s.h.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) || strings.Contains(err.Error(), "not found") {
			return nil
		}
		return err
	}
	if err := s.h.LinkDel(l); err != nil && !errors.Is(err, syscall.ENODEV) {
		return err
	}
	return nil
}
