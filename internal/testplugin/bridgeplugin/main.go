// Command bridgeplugin is patchbay's own bridge driver (drivers/bridge)
// served as a Docker NetworkDriver plugin on a unix socket: each call of
// the protocol is one call of bridge.New()'s methods, with the daemon's
// namespace (-netns) as the driver's host. Join is given a sandbox that
// is not open, so the bridge driver leaves the inner end of the veth pair
// in the daemon's namespace and names it, as real plugins do, for the
// daemon to move in. Tests build and run it (testplugin.BridgePluginPkg)
// to hold drivers/remote to the conformance suite with a driver whose
// behaviour is known.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/patchbay/patchbay/driver"
	"github.com/patchbay/patchbay/drivers/bridge"
	"github.com/patchbay/patchbay/ipam"
	"github.com/patchbay/patchbay/plugin/wire"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

func main() {
	sock := flag.String("sock", "", "unix socket to listen on (required)")
	nsPath := flag.String("netns", "", "the daemon's namespace, where the bridges are made (default: the process's own)")
	journal := flag.String("journal", "", "ignored (taken for symmetry with pbtestplugin)")
	flag.Parse()
	_ = journal
	if err := run(*sock, *nsPath); err != nil {
		fmt.Fprintln(os.Stderr, "bridgeplugin:", err)
		os.Exit(1)
	}
}

func run(sock, nsPath string) error {
	if sock == "" {
		return errors.New("-sock is required")
	}
	ns, err := netns.Get()
	if nsPath != "" {
		ns, err = netns.GetFromPath(nsPath)
	}
	if err != nil {
		return fmt.Errorf("open namespace %q: %w", nsPath, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("netlink in %q: %w", nsPath, err)
	}
	defer h.Close()
	s := newServer(driver.Host{NS: ns, Handle: h, Tag: "pbbp:"})
	_ = os.Remove(sock)
	l, err := net.Listen("unix", sock)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: s.mux}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sig
		_ = srv.Close()
	}()
	if err := srv.Serve(l); err != http.ErrServerClosed {
		return err
	}
	_ = os.Remove(sock)
	return nil
}

// server is the plugin: the bridge driver and what it must be handed
// again on each call (the protocol names networks and endpoints by ID
// only).
type server struct {
	d    *bridge.Driver
	host driver.Host
	mux  *http.ServeMux

	// mu guards nets and eps.
	mu   sync.Mutex
	nets map[string]driver.Network
	eps  map[string]driver.Endpoint
}

func newServer(h driver.Host) *server {
	s := &server{d: bridge.New(), host: h, mux: http.NewServeMux(),
		nets: map[string]driver.Network{}, eps: map[string]driver.Endpoint{}}
	s.mux.HandleFunc("POST /Plugin.Activate", func(w http.ResponseWriter, _ *http.Request) {
		reply(w, wire.ActivateResponse{Implements: []string{wire.NetworkDriver}}, nil)
	})
	handle(s, "GetCapabilities", func(ctx context.Context, _ *struct{}) (any, error) {
		c, err := s.d.Capabilities(ctx)
		return wire.CapabilitiesResponse{Scope: c.DataScope, ConnectivityScope: c.ConnectivityScope}, err
	})
	handle(s, "CreateNetwork", s.createNetwork)
	handle(s, "DeleteNetwork", func(ctx context.Context, req *wire.NetworkRequest) (any, error) {
		nw := s.network(req.NetworkID)
		if err := s.d.DeleteNetwork(ctx, s.host, nw); err != nil {
			return nil, err
		}
		s.mu.Lock()
		delete(s.nets, req.NetworkID)
		s.mu.Unlock()
		return struct{}{}, nil
	})
	handle(s, "CreateEndpoint", s.createEndpoint)
	handle(s, "Join", s.join)
	handle(s, "Leave", func(ctx context.Context, req *wire.EndpointRequest) (any, error) {
		return struct{}{}, s.d.Leave(ctx, s.host, s.network(req.NetworkID), s.endpoint(req.EndpointID))
	})
	handle(s, "DeleteEndpoint", func(ctx context.Context, req *wire.EndpointRequest) (any, error) {
		if err := s.d.DeleteEndpoint(ctx, s.host, s.network(req.NetworkID), s.endpoint(req.EndpointID)); err != nil {
			return nil, err
		}
		s.mu.Lock()
		delete(s.eps, req.EndpointID)
		s.mu.Unlock()
		return struct{}{}, nil
	})
	return s
}

// handle serves NetworkDriver.method: the body decoded into a Req, the
// reply encoded, an error as {"Err": …}.
func handle[Req any](s *server, method string, fn func(context.Context, *Req) (any, error)) {
	s.mux.HandleFunc("POST /"+wire.NetworkDriver+"."+method, func(w http.ResponseWriter, r *http.Request) {
		req := new(Req)
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if len(body) > 0 {
			if err := json.Unmarshal(body, req); err != nil {
				reply(w, nil, fmt.Errorf("decode %s: %w", method, err))
				return
			}
		}
		resp, err := fn(r.Context(), req)
		reply(w, resp, err)
	})
}

func reply(w http.ResponseWriter, v any, err error) {
	w.Header().Set("Content-Type", wire.MediaType)
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		v = wire.Response{Err: err.Error()}
	}
	_ = json.NewEncoder(w).Encode(v)
}

// network is a network CreateNetwork made, or one by its ID alone.
func (s *server) network(id string) driver.Network {
	s.mu.Lock()
	defer s.mu.Unlock()
	if nw, ok := s.nets[id]; ok {
		return nw
	}
	return driver.Network{ID: id}
}

// endpoint is an endpoint CreateEndpoint made, or one by its ID alone
// (its host interface named as the bridge driver names it).
func (s *server) endpoint(id string) driver.Endpoint {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ep, ok := s.eps[id]; ok {
		return ep
	}
	ep := driver.Endpoint{ID: id}
	if len(id) >= 11 {
		ep.HostIfName = bridge.HostIfName(ep)
	}
	return ep
}

func (s *server) createNetwork(ctx context.Context, req *wire.CreateNetworkRequest) (any, error) {
	nw := driver.Network{ID: req.NetworkID, Options: map[string]string{}}
	if g, ok := req.Options["com.docker.network.generic"].(map[string]any); ok {
		for k, v := range g {
			nw.Options[k] = fmt.Sprint(v)
		}
	}
	nw.IPv6, _ = req.Options["com.docker.network.enable_ipv6"].(bool)
	nw.Internal, _ = req.Options["com.docker.network.internal"].(bool)
	for _, d := range append(append([]wire.IPAMData{}, req.IPv4Data...), req.IPv6Data...) {
		p, err := netip.ParsePrefix(d.Pool)
		if err != nil {
			return nil, fmt.Errorf("pool %q: %w", d.Pool, err)
		}
		sub := driver.Subnet{Prefix: p, AddressSpace: d.AddressSpace}
		if d.Gateway != "" {
			gw, err := netip.ParsePrefix(d.Gateway)
			if err != nil {
				return nil, fmt.Errorf("gateway %q: %w", d.Gateway, err)
			}
			sub.Gateway = gw.Addr()
		}
		nw.Subnets = append(nw.Subnets, sub)
	}
	config, err := s.d.ParseOptions(nw.Options)
	if err != nil {
		return nil, err
	}
	nw.Config = config
	if _, err := s.d.CreateNetwork(ctx, s.host, nw); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.nets[nw.ID] = nw
	s.mu.Unlock()
	return struct{}{}, nil
}

func (s *server) createEndpoint(ctx context.Context, req *wire.CreateEndpointRequest) (any, error) {
	s.mu.Lock()
	nw, ok := s.nets[req.NetworkID]
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("no network %s", req.NetworkID)
	}
	ep := driver.Endpoint{ID: req.EndpointID}
	if in := req.Interface; in != nil {
		var err error
		if in.Address != "" {
			if ep.IPv4, err = netip.ParsePrefix(in.Address); err != nil {
				return nil, err
			}
		}
		if in.AddressIPv6 != "" {
			if ep.IPv6, err = netip.ParsePrefix(in.AddressIPv6); err != nil {
				return nil, err
			}
		}
		if in.MacAddress != "" {
			if ep.MAC, err = ipam.ParseMAC(in.MacAddress); err != nil {
				return nil, err
			}
		}
	}
	res, err := s.d.CreateEndpoint(ctx, s.host, nw, ep)
	if err != nil {
		return nil, err
	}
	ep.HostIfName = res.HostIfName
	s.mu.Lock()
	s.eps[ep.ID] = ep
	s.mu.Unlock()
	// The bridge driver takes the daemon's MAC and addresses as they
	// are: nothing to fill in.
	return wire.CreateEndpointResponse{}, nil
}

func (s *server) join(ctx context.Context, req *wire.JoinRequest) (any, error) {
	s.mu.Lock()
	nw, nok := s.nets[req.NetworkID]
	ep, eok := s.eps[req.EndpointID]
	s.mu.Unlock()
	if !nok || !eok {
		return nil, fmt.Errorf("no endpoint %s of network %s", req.EndpointID, req.NetworkID)
	}
	// The sandbox is not open here: the driver hands the interface over.
	info, err := s.d.Join(ctx, s.host, nw, ep, driver.Sandbox{ID: req.SandboxKey, Key: req.SandboxKey})
	if err != nil {
		return nil, err
	}
	if info.Interface == nil {
		return nil, errors.New("the bridge driver made no interface to hand over")
	}
	resp := wire.JoinResponse{
		InterfaceName:         &wire.InterfaceName{SrcName: info.Interface.SrcName, DstPrefix: info.Interface.DstPrefix},
		DisableGatewayService: info.DisableGatewayService,
	}
	if info.Gateway4.IsValid() {
		resp.Gateway = info.Gateway4.String()
	}
	if info.Gateway6.IsValid() {
		resp.GatewayIPv6 = info.Gateway6.String()
	}
	for _, r := range info.StaticRoutes {
		sr := wire.StaticRoute{Destination: r.Destination.String(), RouteType: wire.RouteConnected}
		if r.NextHop.IsValid() {
			sr.RouteType, sr.NextHop = wire.RouteNextHop, r.NextHop.String()
		}
		resp.StaticRoutes = append(resp.StaticRoutes, sr)
	}
	return resp, nil
}
