package engine_test

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/engine"
	"github.com/patchbay/patchbay/ipam"
	"github.com/patchbay/patchbay/sandbox"
)

// TestDockerEndpoints drives the engine as the Docker plugin does: a
// network with Docker's ID and patchbay-IPAM addresses, an endpoint
// joined to a namespace someone else owns (the interface left in the
// host namespace), ports, a restart, and the leave.
func TestDockerEndpoints(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	key := filepath.Join(t.TempDir(), "netns-abc123")
	if err := sandbox.CreateNetns(key); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sandbox.RemoveNetns(key) })

	// Docker asked patchbay's IPAM for the pool, gateway and address.
	def := f.eng.DefaultIPAM()
	pool, err := def.RequestPool(ctx, ipam.PoolRequest{AddressSpace: ipam.LocalDefaultSpace, Pool: netip.MustParsePrefix("10.66.0.0/24")})
	if err != nil {
		t.Fatal(err)
	}
	gwType := map[string]string{ipam.RequestAddressType: ipam.GatewayAddressType}
	if _, err := def.RequestAddress(ctx, pool.ID, netip.Addr{}, gwType); err != nil {
		t.Fatal(err)
	}
	addr, err := def.RequestAddress(ctx, pool.ID, netip.Addr{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := strings.Repeat("ab", 32)
	req := engine.NetworkCreate{Driver: "bridge", IPAM: []engine.IPAMRequest{{Subnet: "10.66.0.0/24", Gateway: "10.66.0.1"}}}
	for range 2 { // dockerd may call again
		n, err := f.eng.CreateNetworkWithID(ctx, id, req, true)
		if err != nil || n.ID != id || n.Name != engine.DockerNetworkName(id) || n.IPAM.Driver != engine.DockerIPAM {
			t.Fatalf("create: %+v %v", n, err)
		}
	}
	if _, err := f.eng.CreateNetworkWithID(ctx, "nothex", req, true); !errors.Is(err, cnm.ErrInvalid) {
		t.Fatalf("bad ID: %v", err)
	}

	epID := strings.Repeat("cd", 32)
	j, err := f.eng.JoinDocker(ctx, engine.DockerEndpoint{NetworkID: id, EndpointID: epID, SandboxKey: key, IPv4: addr})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.host.Handle.LinkByName(j.Interface.SrcName); err != nil || j.Gateway4 != netip.MustParseAddr("10.66.0.1") {
		t.Fatalf("join %+v: interface not left in the host namespace: %v", j, err)
	}
	if _, err := f.eng.JoinDocker(ctx, engine.DockerEndpoint{NetworkID: strings.Repeat("ef", 32), EndpointID: epID, SandboxKey: key}); !errors.Is(err, cnm.ErrNotFound) {
		t.Fatalf("join of an unknown network: %v", err)
	}
	sbName := "docker-netns-abc123"
	if err := f.eng.RemoveSandbox(ctx, sbName, true); !errors.Is(err, cnm.ErrForbidden) {
		t.Fatalf("patchbay rm of Docker's sandbox: %v", err)
	}
	if err := f.eng.Disconnect(ctx, id, sbName, true); !errors.Is(err, cnm.ErrForbidden) {
		t.Fatalf("disconnect of Docker's sandbox: %v", err)
	}
	ms, err := f.eng.PublishDocker(ctx, id, epID, []engine.DockerPort{{Proto: "tcp", Port: 80, HostPort: 18080}})
	if err != nil || len(ms) != 1 || ms[0].HostPort != 18080 || ms[0].Addr != addr.Addr() {
		t.Fatalf("publish: %+v %v", ms, err)
	}

	// A restart keeps the records and replays the allocations to the
	// default IPAM driver.
	f.eng.Close()
	f.open(t)
	if ps, err := f.eng.DockerPorts(id, epID); err != nil || len(ps) != 1 {
		t.Fatalf("ports after restart: %+v %v", ps, err)
	}
	if _, err := f.eng.DefaultIPAM().RequestAddress(ctx, pool.ID, addr.Addr(), nil); !errors.Is(err, cnm.ErrConflict) {
		t.Fatalf("endpoint address after restart: %v, want it held", err)
	}

	if err := f.eng.LeaveDocker(ctx, id, epID); err != nil {
		t.Fatal(err)
	}
	if err := f.eng.LeaveDocker(ctx, id, epID); !errors.Is(err, cnm.ErrNotFound) {
		t.Fatalf("second leave: %v", err)
	}
	if _, err := f.eng.Sandbox(sbName); !errors.Is(err, cnm.ErrNotFound) {
		t.Fatalf("sandbox left after its last endpoint: %v", err)
	}
	if !sandbox.IsNetns(key) {
		t.Fatal("Docker's namespace file was unmounted")
	}
	if err := f.eng.RemoveNetwork(ctx, id); err != nil {
		t.Fatal(err)
	}
}
