package engine_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/engine"
)

// --ipam-driver null, as Docker has it: the network's one pool is
// 0.0.0.0/0 with no gateway, its endpoints get no address, and a subnet,
// an IP range, IPv6 or a static address is refused. On a bridge it makes
// an L2-only network: a bridge without an address (Docker's bridge driver
// refuses it); drivers whose subnets mean something outside the host (a
// LAN segment, a cluster network) refuse it, as Docker's do.
func TestNullIPAM(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, c := range []struct {
		req  engine.NetworkCreate
		want string
	}{
		{engine.NetworkCreate{Name: "n1", IPAMDriver: "null", IPAM: []engine.IPAMRequest{{Subnet: "10.77.0.0/24"}}}, "specific address pool"},
		{engine.NetworkCreate{Name: "n2", IPAMDriver: "null", EnableIPv6: true}, "IPv6"},
		// A LAN segment needs its subnet, as Docker's macvlan does.
		{engine.NetworkCreate{Name: "n3", Driver: "macvlan", IPAMDriver: "null"}, "ipv4 pool is empty"},
	} {
		_, err := f.eng.CreateNetwork(ctx, c.req)
		if !errors.Is(err, cnm.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("create %s: got %v, want an invalid-argument error about %q", c.req.Name, err, c.want)
		}
	}
	n, err := f.eng.CreateNetwork(ctx, engine.NetworkCreate{Name: "l2", IPAMDriver: "null", Options: map[string]string{"com.docker.network.bridge.name": "pbl2null0"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(n.IPAM.Config) != 1 || n.IPAM.Config[0].Subnet != netip.MustParsePrefix("0.0.0.0/0") || n.IPAM.Config[0].Gateway.IsValid() {
		t.Fatalf("IPAM config: got %+v, want one 0.0.0.0/0 pool without a gateway", n.IPAM.Config)
	}
	if n.IPAM.Driver != "null" {
		t.Errorf("IPAM driver: got %q", n.IPAM.Driver)
	}
	sb := f.sandbox(t, "sa", "l2")
	if len(sb.Endpoints) != 1 || sb.Endpoints[0].IPv4.IsValid() || sb.Endpoints[0].IPv6.IsValid() {
		t.Fatalf("endpoints: got %+v, want one without addresses", sb.Endpoints)
	}
	// The interface is there, up, with no IPv4 address.
	if code, out := f.run(t, "sa", "ip", "-4", "-o", "addr", "show", "eth0"); code != 0 || strings.TrimSpace(out) != "" {
		t.Errorf("eth0's IPv4 addresses: exit %d, %q; want none", code, out)
	}
	_, err = f.eng.CreateSandbox(ctx, engine.SandboxCreate{Name: "sb", Network: "l2", Endpoint: engine.EndpointOptions{IPv4: "10.0.0.5"}})
	if !errors.Is(err, cnm.ErrInvalid) {
		t.Errorf("static address on a null-IPAM network: got %v, want an invalid-argument error", err)
	}
	// The network and its endpoint survive a restart.
	f.eng.Close()
	f.open(t)
	got, err := f.eng.Network("l2")
	if err != nil || len(got.IPAM.Config) != 1 || got.IPAM.Config[0].PoolID == "" {
		t.Fatalf("after restart: %+v, %v", got.IPAM, err)
	}
	if err := f.eng.RemoveSandbox(ctx, "sa", true); err != nil {
		t.Fatal(err)
	}
	if err := f.eng.RemoveNetwork(ctx, "l2"); err != nil {
		t.Fatal(err)
	}
}
