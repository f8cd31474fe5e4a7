package dockerplugin

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/driver"
	"github.com/patchbay/patchbay/engine"
	"github.com/patchbay/patchbay/ipam"
	"github.com/patchbay/patchbay/plugin/wire"
)

// fakeEngine records the calls the server makes; its networks are a set
// of IDs, its IPAM the real default driver.
type fakeEngine struct {
	ipam     *ipam.DefaultDriver
	nets     map[string]engine.NetworkCreate
	owned    map[string]bool
	joined   map[string]engine.DockerEndpoint
	ports    []engine.DockerPort
	removals int
}

func newFake() *fakeEngine {
	return &fakeEngine{ipam: ipam.NewDefault(ipam.DefaultConfig{}), nets: map[string]engine.NetworkCreate{},
		owned: map[string]bool{}, joined: map[string]engine.DockerEndpoint{}}
}

func (f *fakeEngine) CreateNetworkWithID(_ context.Context, id string, req engine.NetworkCreate, owned bool) (cnm.Network, error) {
	f.nets[id], f.owned[id] = req, owned
	return cnm.Network{ID: id}, nil
}

func (f *fakeEngine) RemoveNetwork(_ context.Context, id string) error {
	if _, ok := f.nets[id]; !ok {
		return cnm.NotFound("network %s not found", id)
	}
	delete(f.nets, id)
	return nil
}

func (f *fakeEngine) Network(id string) (engine.NetworkInfo, error) {
	if _, ok := f.nets[id]; !ok {
		return engine.NetworkInfo{}, cnm.NotFound("network %s not found", id)
	}
	return engine.NetworkInfo{}, nil
}

func (f *fakeEngine) JoinDocker(_ context.Context, req engine.DockerEndpoint) (engine.DockerJoin, error) {
	if _, ok := f.nets[req.NetworkID]; !ok {
		return engine.DockerJoin{}, cnm.NotFound("network %s not found", req.NetworkID)
	}
	f.joined[req.EndpointID] = req
	return engine.DockerJoin{Interface: driver.Move{SrcName: "pbc" + req.EndpointID[:8], DstPrefix: "eth"},
		Gateway4: netip.MustParseAddr("10.9.0.1")}, nil
}

func (f *fakeEngine) LeaveDocker(_ context.Context, netID, epID string) error {
	if _, ok := f.joined[epID]; !ok {
		return cnm.NotFound("endpoint %s not found", epID)
	}
	delete(f.joined, epID)
	f.removals++
	return nil
}

func (f *fakeEngine) PublishDocker(_ context.Context, netID, epID string, ports []engine.DockerPort) ([]cnm.PortMapping, error) {
	if _, ok := f.joined[epID]; !ok {
		return nil, cnm.NotFound("endpoint %s not found", epID)
	}
	f.ports = ports
	return nil, nil
}

func (f *fakeEngine) UnpublishDocker(context.Context, string, string) error { return nil }
func (f *fakeEngine) DefaultIPAM() ipam.Driver                              { return f.ipam }

// call posts body to /<method> as dockerd does and decodes the reply.
func call(t *testing.T, srv *httptest.Server, method string, body any, out any) int {
	t.Helper()
	var rd io.Reader = http.NoBody
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/"+method, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", wire.MediaType)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s: decode reply: %v", method, err)
		}
	}
	return resp.StatusCode
}

func newTestServer(t *testing.T) (*fakeEngine, *httptest.Server) {
	f := newFake()
	srv := httptest.NewServer(New(f, slog.New(slog.DiscardHandler)).Handler())
	t.Cleanup(srv.Close)
	return f, srv
}

const (
	netID = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	epID  = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
)

func TestActivateAndCapabilities(t *testing.T) {
	_, srv := newTestServer(t)
	var act wire.ActivateResponse
	if code := call(t, srv, "Plugin.Activate", nil, &act); code != 200 ||
		strings.Join(act.Implements, ",") != "NetworkDriver,IpamDriver" {
		t.Fatalf("Activate: %d %+v", code, act)
	}
	var caps wire.CapabilitiesResponse
	if call(t, srv, "NetworkDriver.GetCapabilities", nil, &caps); caps.Scope != "local" {
		t.Fatalf("GetCapabilities: %+v", caps)
	}
	var spaces wire.AddressSpacesResponse
	call(t, srv, "IpamDriver.GetDefaultAddressSpaces", nil, &spaces)
	if spaces.LocalDefaultAddressSpace != LocalSpace || spaces.GlobalDefaultAddressSpace != GlobalSpace {
		t.Fatalf("GetDefaultAddressSpaces: %+v", spaces)
	}
	if code := call(t, srv, "NetworkDriver.NoSuchCall", nil, nil); code != http.StatusNotFound {
		t.Fatalf("unknown call: %d, want 404 (not implemented)", code)
	}
}

// TestNetworkLifecycle drives the calls dockerd makes for docker run on
// a patchbay network, in dockerd's order, and the errors of calls for
// unknown objects.
func TestNetworkLifecycle(t *testing.T) {
	f, srv := newTestServer(t)
	var r wire.Response
	create := wire.CreateNetworkRequest{
		NetworkID: netID,
		Options: map[string]any{
			"com.docker.network.generic":     map[string]any{"patchbay.driver": "macvlan", "parent": "eth1"},
			"com.docker.network.enable_ipv6": false, "com.docker.network.internal": true,
		},
		IPv4Data: []wire.IPAMData{{AddressSpace: LocalSpace, Pool: "10.9.0.0/24", Gateway: "10.9.0.1/24",
			AuxAddresses: map[string]string{"r": "10.9.0.5/24"}}},
	}
	if code := call(t, srv, "NetworkDriver.CreateNetwork", create, &r); code != 200 || r.Err != "" {
		t.Fatalf("CreateNetwork: %d %+v", code, r)
	}
	got := f.nets[netID]
	if got.Driver != "macvlan" || got.Options["parent"] != "eth1" || len(got.Options) != 1 || !got.Internal ||
		got.IPAM[0].Subnet != "10.9.0.0/24" || got.IPAM[0].Gateway != "10.9.0.1" || got.IPAM[0].AuxAddresses["r"] != "10.9.0.5" || !f.owned[netID] {
		t.Fatalf("network request: %+v owned=%v", got, f.owned[netID])
	}

	var ce wire.CreateEndpointResponse
	code := call(t, srv, "NetworkDriver.CreateEndpoint", wire.CreateEndpointRequest{NetworkID: netID, EndpointID: epID,
		Interface: &wire.EndpointInterface{Address: "10.9.0.2/24"}}, &ce)
	if code != 200 || ce.Interface == nil || ce.Interface.MacAddress == "" || ce.Interface.Address != "" {
		t.Fatalf("CreateEndpoint must supply the MAC only: %d %+v", code, ce)
	}
	var j wire.JoinResponse
	call(t, srv, "NetworkDriver.Join", wire.JoinRequest{NetworkID: netID, EndpointID: epID, SandboxKey: "/var/run/docker/netns/abc"}, &j)
	if j.InterfaceName == nil || j.InterfaceName.SrcName != "pbc"+epID[:8] || j.InterfaceName.DstPrefix != "eth" || j.Gateway != "10.9.0.1" {
		t.Fatalf("Join: %+v", j)
	}
	if de := f.joined[epID]; de.IPv4 != netip.MustParsePrefix("10.9.0.2/24") || de.MAC.String() != ce.Interface.MacAddress || de.SandboxKey != "/var/run/docker/netns/abc" {
		t.Fatalf("join request: %+v", de)
	}
	portmap := []map[string]any{{"Proto": 6, "IP": "", "Port": 80, "HostIP": "0.0.0.0", "HostPort": 8080, "HostPortEnd": 8080}}
	if code := call(t, srv, "NetworkDriver.ProgramExternalConnectivity", wire.ProgramExternalConnectivityRequest{NetworkID: netID, EndpointID: epID,
		Options: map[string]any{"com.docker.network.portmap": portmap}}, &r); code != 200 {
		t.Fatalf("ProgramExternalConnectivity: %d %+v", code, r)
	}
	if len(f.ports) != 1 || f.ports[0] != (engine.DockerPort{Proto: "tcp", Port: 80, HostPort: 8080, HostPortEnd: 8080}) {
		t.Fatalf("ports: %+v", f.ports)
	}
	call(t, srv, "NetworkDriver.RevokeExternalConnectivity", wire.EndpointRequest{NetworkID: netID, EndpointID: epID}, &r)
	if code := call(t, srv, "NetworkDriver.Leave", wire.EndpointRequest{NetworkID: netID, EndpointID: epID}, &r); code != 200 {
		t.Fatalf("Leave: %d %+v", code, r)
	}
	if code := call(t, srv, "NetworkDriver.DeleteEndpoint", wire.EndpointRequest{NetworkID: netID, EndpointID: epID}, &r); code != 200 {
		t.Fatalf("DeleteEndpoint after Leave: %d %+v", code, r)
	}

	// Calls for objects patchbay does not know fail with Err set.
	for _, c := range []struct {
		method string
		body   any
	}{
		{"NetworkDriver.Join", wire.JoinRequest{NetworkID: netID, EndpointID: epID, SandboxKey: "/x"}},
		{"NetworkDriver.Leave", wire.EndpointRequest{NetworkID: netID, EndpointID: epID}},
		{"NetworkDriver.DeleteEndpoint", wire.EndpointRequest{NetworkID: netID, EndpointID: epID}},
		{"NetworkDriver.CreateEndpoint", wire.CreateEndpointRequest{NetworkID: strings.Repeat("9", 64), EndpointID: epID}},
		{"NetworkDriver.DeleteNetwork", wire.NetworkRequest{NetworkID: strings.Repeat("9", 64)}},
		{"NetworkDriver.CreateNetwork", "not an object"},
	} {
		var r wire.Response
		code := call(t, srv, c.method, c.body, &r)
		if code == 200 || r.Err == "" {
			t.Errorf("%s for an unknown object: %d %+v, want an error in Err", c.method, code, r)
		}
	}
	if code := call(t, srv, "NetworkDriver.DeleteNetwork", wire.NetworkRequest{NetworkID: netID}, &r); code != 200 {
		t.Fatalf("DeleteNetwork: %d %+v", code, r)
	}
}

// TestIPAM drives patchbay's IPAM as dockerd does for a network create:
// a pool chosen by the driver, the gateway, serial addresses; errors are
// in the Error field.
func TestIPAM(t *testing.T) {
	_, srv := newTestServer(t)
	var pool wire.RequestPoolResponse
	if code := call(t, srv, "IpamDriver.RequestPool", wire.RequestPoolRequest{AddressSpace: LocalSpace}, &pool); code != 200 || pool.PoolID == "" {
		t.Fatalf("RequestPool: %d %+v", code, pool)
	}
	prefix := netip.MustParsePrefix(pool.Pool)
	var gw, a1, a2 wire.RequestAddressResponse
	call(t, srv, "IpamDriver.RequestAddress", wire.RequestAddressRequest{PoolID: pool.PoolID,
		Options: map[string]string{"RequestAddressType": "com.docker.network.gateway"}}, &gw)
	call(t, srv, "IpamDriver.RequestAddress", wire.RequestAddressRequest{PoolID: pool.PoolID}, &a1)
	call(t, srv, "IpamDriver.RequestAddress", wire.RequestAddressRequest{PoolID: pool.PoolID}, &a2)
	g, p1, p2 := netip.MustParsePrefix(gw.Address), netip.MustParsePrefix(a1.Address), netip.MustParsePrefix(a2.Address)
	if !prefix.Contains(g.Addr()) || p1.Addr() != g.Addr().Next() || p2.Addr() != p1.Addr().Next() || p1.Bits() != prefix.Bits() {
		t.Fatalf("addresses %s %s %s of %s are not serial after the gateway", g, p1, p2, prefix)
	}
	var r wire.Response
	call(t, srv, "IpamDriver.ReleaseAddress", wire.ReleaseAddressRequest{PoolID: pool.PoolID, Address: p1.Addr().String()}, &r)
	var a3 wire.RequestAddressResponse
	call(t, srv, "IpamDriver.RequestAddress", wire.RequestAddressRequest{PoolID: pool.PoolID}, &a3)
	if netip.MustParsePrefix(a3.Address).Addr() != p2.Addr().Next() {
		t.Fatalf("released address reused at once: %s", a3.Address)
	}
	for _, c := range []struct {
		method string
		body   any
	}{
		{"IpamDriver.RequestPool", wire.RequestPoolRequest{AddressSpace: "nope"}},
		{"IpamDriver.RequestPool", wire.RequestPoolRequest{AddressSpace: LocalSpace, Pool: pool.Pool}},
		{"IpamDriver.RequestAddress", wire.RequestAddressRequest{PoolID: "LocalDefault/10.254.0.0/24"}},
		{"IpamDriver.RequestAddress", wire.RequestAddressRequest{PoolID: pool.PoolID, Address: p2.Addr().String()}},
		{"IpamDriver.ReleasePool", wire.ReleasePoolRequest{PoolID: "LocalDefault/10.254.0.0/24"}},
	} {
		var r wire.Response
		code := call(t, srv, c.method, c.body, &r)
		if code == 200 || r.Error == "" || r.Err != "" {
			t.Errorf("%s %+v: %d %+v, want an error in Error", c.method, c.body, code, r)
		}
	}
}

func TestNetworkCreateDefaults(t *testing.T) {
	nc, owned, err := networkCreate(wire.CreateNetworkRequest{NetworkID: netID,
		IPv4Data: []wire.IPAMData{{AddressSpace: "LocalDefault", Pool: "172.20.0.0/16", Gateway: "172.20.0.1/16"}}})
	if err != nil || nc.Driver != "bridge" || owned || nc.Options != nil || nc.IPAM[0].Gateway != "172.20.0.1" {
		t.Fatalf("%+v owned=%v err=%v", nc, owned, err)
	}
	if _, _, err := networkCreate(wire.CreateNetworkRequest{IPv4Data: []wire.IPAMData{{Pool: "10.0.0.0/24", Gateway: "bad"}}}); err == nil {
		t.Fatal("a bad gateway was accepted")
	}
}

func FuzzDockerPorts(f *testing.F) {
	f.Add(`[{"Proto":6,"Port":80,"HostIP":"0.0.0.0","HostPort":8080,"HostPortEnd":8080}]`)
	f.Add(`[{"Proto":17,"Port":53,"HostIP":"::"}]`)
	f.Fuzz(func(t *testing.T, s string) {
		var v any
		if json.Unmarshal([]byte(s), &v) != nil {
			return
		}
		ports, err := dockerPorts(v)
		for _, p := range ports {
			if err == nil && p.Proto != "tcp" && p.Proto != "udp" && p.Proto != "sctp" {
				t.Fatalf("protocol %q accepted", p.Proto)
			}
		}
	})
}
