// Command helpersplugin is a Docker network and IPAM plugin written the
// way most real plugins are: with github.com/docker/go-plugins-helpers
// (its network and ipam packages, over its sdk), so patchbay's tests meet what
// such plugins send — the v1.1 media type, a Join reply whose
// InterfaceName is always present and whose Gateway is the CIDR string
// CreateNetwork gave, empty strings for what is not set, errors as
// {"Err"} with HTTP 500, one socket per interface. Its network driver
// makes a bridge per network and, on Join, a veth pair in the daemon's
// namespace (-netns) whose free end it names as SrcName for the daemon to
// move into the sandbox, as kuryr and weave do; it deletes the pair on
// Leave. On a network with no IPAM addresses (--ipam-driver null) it
// assigns each endpoint its own address from the network option
// helpers.subnet, in CreateEndpoint's reply. Its IPAM hands out pools and
// addresses from memory. Tests build and run it
// (testplugin.HelpersPluginPkg); the library is a dependency of this
// test program only.
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"

	"github.com/docker/go-plugins-helpers/ipam"
	"github.com/docker/go-plugins-helpers/network"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// OptSubnet is the network option (-o) the driver assigns endpoint
// addresses from when the daemon gives none.
const OptSubnet = "helpers.subnet"

func main() {
	sock := flag.String("sock", "", "unix socket of the NetworkDriver (required)")
	ipamSock := flag.String("ipam-sock", "", "unix socket of the IpamDriver (none without)")
	nsPath := flag.String("netns", "", "the daemon's namespace, where links are made (default: the process's own)")
	flag.Parse()
	if err := run(*sock, *ipamSock, *nsPath); err != nil {
		fmt.Fprintln(os.Stderr, "helpersplugin:", err)
		os.Exit(1)
	}
}

func run(sock, ipamSock, nsPath string) error {
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
		return err
	}
	defer h.Close()
	// The handlers serve on listeners the tests place; the sdk's
	// ServeUnix would put the sockets under /run/docker/plugins.
	errc := make(chan error, 2)
	serve := func(path string, hd interface{ Serve(net.Listener) error }) error {
		_ = os.Remove(path)
		l, err := net.Listen("unix", path)
		if err != nil {
			return err
		}
		go func() { errc <- hd.Serve(l) }()
		return nil
	}
	if ipamSock != "" {
		if err := serve(ipamSock, ipam.NewHandler(newIPAM())); err != nil {
			return err
		}
	}
	if err := serve(sock, network.NewHandler(newDriver(h))); err != nil {
		return err
	}
	return <-errc
}

type hnet struct {
	bridge  string
	gateway string // as CreateNetwork gave it: "ip/len"
	subnet  netip.Prefix
	next    netip.Addr
}

type driver struct {
	h *netlink.Handle

	mu   sync.Mutex
	nets map[string]*hnet
}

func newDriver(h *netlink.Handle) *driver { return &driver{h: h, nets: map[string]*hnet{}} }

func short(id string) string {
	if len(id) > 10 {
		return id[:10]
	}
	return id
}

func (d *driver) GetCapabilities() (*network.CapabilitiesResponse, error) {
	return &network.CapabilitiesResponse{Scope: network.LocalScope, ConnectivityScope: network.LocalScope}, nil
}

func (d *driver) CreateNetwork(req *network.CreateNetworkRequest) error {
	n := &hnet{bridge: "hpb" + short(req.NetworkID)}
	for _, data := range req.IPv4Data {
		if data.Gateway != "" {
			n.gateway = data.Gateway
		}
	}
	if g, ok := req.Options["com.docker.network.generic"].(map[string]any); ok {
		if s, ok := g[OptSubnet].(string); ok {
			p, err := netip.ParsePrefix(s)
			if err != nil || !p.Addr().Is4() {
				return fmt.Errorf("option %s: %q is not an IPv4 subnet", OptSubnet, s)
			}
			n.subnet = p.Masked()
			n.next = n.subnet.Addr().Next().Next() // .1 is left for a router
		}
	}
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: n.bridge, TxQLen: -1}}
	if err := d.h.LinkAdd(br); err != nil && !errors.Is(err, syscall.EEXIST) {
		return fmt.Errorf("create bridge %s: %w", n.bridge, err)
	}
	l, err := d.h.LinkByName(n.bridge)
	if err == nil {
		err = d.h.LinkSetUp(l)
	}
	if err != nil {
		return fmt.Errorf("bring up bridge %s: %w", n.bridge, err)
	}
	d.mu.Lock()
	d.nets[req.NetworkID] = n
	d.mu.Unlock()
	return nil
}

func (d *driver) AllocateNetwork(*network.AllocateNetworkRequest) (*network.AllocateNetworkResponse, error) {
	return &network.AllocateNetworkResponse{}, nil
}

func (d *driver) DeleteNetwork(req *network.DeleteNetworkRequest) error {
	d.mu.Lock()
	delete(d.nets, req.NetworkID)
	d.mu.Unlock()
	return d.delLink("hpb" + short(req.NetworkID))
}

func (d *driver) FreeNetwork(*network.FreeNetworkRequest) error { return nil }

// CreateEndpoint assigns an address when the daemon gave none and the
// network has its own subnet.
func (d *driver) CreateEndpoint(req *network.CreateEndpointRequest) (*network.CreateEndpointResponse, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := d.nets[req.NetworkID]
	if n == nil {
		return nil, fmt.Errorf("no network %s", req.NetworkID)
	}
	if req.Interface != nil && req.Interface.Address != "" || !n.subnet.IsValid() {
		return &network.CreateEndpointResponse{}, nil
	}
	if !n.subnet.Contains(n.next) {
		return nil, fmt.Errorf("subnet %s is full", n.subnet)
	}
	a := netip.PrefixFrom(n.next, n.subnet.Bits())
	n.next = n.next.Next()
	return &network.CreateEndpointResponse{Interface: &network.EndpointInterface{Address: a.String()}}, nil
}

func (d *driver) DeleteEndpoint(req *network.DeleteEndpointRequest) error {
	return d.delLink("hph" + short(req.EndpointID))
}

func (d *driver) EndpointInfo(req *network.InfoRequest) (*network.InfoResponse, error) {
	return &network.InfoResponse{Value: map[string]string{"hostIf": "hph" + short(req.EndpointID)}}, nil
}

func (d *driver) Join(req *network.JoinRequest) (*network.JoinResponse, error) {
	d.mu.Lock()
	n := d.nets[req.NetworkID]
	d.mu.Unlock()
	if n == nil {
		return nil, fmt.Errorf("no network %s", req.NetworkID)
	}
	br, err := d.h.LinkByName(n.bridge)
	if err != nil {
		return nil, fmt.Errorf("find bridge %s: %w", n.bridge, err)
	}
	host, peer := "hph"+short(req.EndpointID), "hpc"+short(req.EndpointID)
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: host, MasterIndex: br.Attrs().Index, TxQLen: -1}, PeerName: peer}
	if err := d.h.LinkAdd(veth); err != nil {
		return nil, fmt.Errorf("create veth pair %s: %w", host, err)
	}
	if err := d.h.LinkSetUp(veth); err != nil {
		return nil, fmt.Errorf("bring up %s: %w", host, err)
	}
	return &network.JoinResponse{
		InterfaceName: network.InterfaceName{SrcName: peer, DstPrefix: "eth"},
		Gateway:       n.gateway,
	}, nil
}

func (d *driver) Leave(req *network.LeaveRequest) error {
	return d.delLink("hph" + short(req.EndpointID))
}

func (d *driver) DiscoverNew(*network.DiscoveryNotification) error    { return nil }
func (d *driver) DiscoverDelete(*network.DiscoveryNotification) error { return nil }
func (d *driver) ProgramExternalConnectivity(*network.ProgramExternalConnectivityRequest) error {
	return nil
}
func (d *driver) RevokeExternalConnectivity(*network.RevokeExternalConnectivityRequest) error {
	return nil
}

// delLink deletes a link; one that is not there is not an error.
func (d *driver) delLink(name string) error {
	l, err := d.h.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) || strings.Contains(err.Error(), "not found") {
			return nil
		}
		return err
	}
	if err := d.h.LinkDel(l); err != nil && !errors.Is(err, syscall.ENODEV) {
		return err
	}
	return nil
}

// pools is the IPAM driver: pools by ID, each handing out addresses in
// order; chosen pools come from 10.233.N.0/24.
type pools struct {
	mu    sync.Mutex
	pools map[string]*pool
	n     int
}

type pool struct {
	prefix netip.Prefix
	used   map[netip.Addr]bool
}

func newIPAM() *pools { return &pools{pools: map[string]*pool{}} }

func (p *pools) GetCapabilities() (*ipam.CapabilitiesResponse, error) {
	return &ipam.CapabilitiesResponse{}, nil
}

func (p *pools) GetDefaultAddressSpaces() (*ipam.AddressSpacesResponse, error) {
	return &ipam.AddressSpacesResponse{LocalDefaultAddressSpace: "HelpersLocal", GlobalDefaultAddressSpace: "HelpersGlobal"}, nil
}

func (p *pools) RequestPool(req *ipam.RequestPoolRequest) (*ipam.RequestPoolResponse, error) {
	if req.V6 {
		return nil, errors.New("helpersplugin: no IPv6 pools")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var prefix netip.Prefix
	if req.Pool != "" {
		var err error
		if prefix, err = netip.ParsePrefix(req.Pool); err != nil {
			return nil, err
		}
	} else {
		p.n++
		prefix = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 233, byte(p.n), 0}), 24)
	}
	id := "hp-" + prefix.String()
	if p.pools[id] != nil {
		return nil, fmt.Errorf("pool %s is in use", prefix)
	}
	p.pools[id] = &pool{prefix: prefix.Masked(), used: map[netip.Addr]bool{}}
	return &ipam.RequestPoolResponse{PoolID: id, Pool: prefix.Masked().String()}, nil
}

func (p *pools) ReleasePool(req *ipam.ReleasePoolRequest) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.pools, req.PoolID)
	return nil
}

func (p *pools) RequestAddress(req *ipam.RequestAddressRequest) (*ipam.RequestAddressResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pl := p.pools[req.PoolID]
	if pl == nil {
		return nil, fmt.Errorf("no pool %s", req.PoolID)
	}
	var a netip.Addr
	if req.Address != "" {
		var err error
		if a, err = netip.ParseAddr(req.Address); err != nil {
			return nil, err
		}
		if pl.used[a] {
			return nil, fmt.Errorf("address %s is in use", a)
		}
	} else {
		for c := pl.prefix.Addr().Next(); pl.prefix.Contains(c); c = c.Next() {
			if !pl.used[c] {
				a = c
				break
			}
		}
		if !a.IsValid() {
			return nil, fmt.Errorf("pool %s is full", pl.prefix)
		}
	}
	pl.used[a] = true
	return &ipam.RequestAddressResponse{Address: netip.PrefixFrom(a, pl.prefix.Bits()).String()}, nil
}

func (p *pools) ReleaseAddress(req *ipam.ReleaseAddressRequest) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pl := p.pools[req.PoolID]; pl != nil {
		if a, err := netip.ParseAddr(req.Address); err == nil {
			delete(pl.used, a)
		}
	}
	return nil
}
