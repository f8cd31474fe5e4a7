package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/engine"
	"github.com/vishvananda/netlink"
)

// TestIPv6MTUAndMAC covers a dual-stack network with an MTU option and a
// sandbox with a chosen MAC and static addresses.
func TestIPv6MTUAndMAC(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	n, err := f.eng.CreateNetwork(ctx, engine.NetworkCreate{
		Name: "dual", EnableIPv6: true,
		IPAM:    []engine.IPAMRequest{{Subnet: "10.0.6.0/24"}, {Subnet: "fd00:6::/64"}},
		Options: map[string]string{"com.docker.network.driver.mtu": "1400"},
	})
	if err != nil {
		t.Fatalf("create dual-stack network: %v", err)
	}
	if _, err := f.eng.CreateSandbox(ctx, engine.SandboxCreate{Name: "v6a", Network: "dual", Endpoint: engine.EndpointOptions{MAC: "02:aa:bb:cc:dd:01", IPv6: "fd00:6::100"}}); err != nil {
		t.Fatal(err)
	}
	b := f.sandbox(t, "v6b", "dual")
	a, _ := f.eng.Sandbox("v6a")
	ep := a.Endpoints[0]
	if ep.MAC != "02:aa:bb:cc:dd:01" || ep.IPv6.String() != "fd00:6::100/64" || ep.IPv4.String() != "10.0.6.2/24" {
		t.Errorf("v6a endpoint = mac %s v4 %s v6 %s", ep.MAC, ep.IPv4, ep.IPv6)
	}
	if got := b.Endpoints[0].IPv6.String(); got != "fd00:6::2/64" {
		t.Errorf("v6b IPv6 = %s, want fd00:6::2/64", got)
	}
	if ep.Gateway6.String() != "fd00:6::1" {
		t.Errorf("IPv6 gateway = %s, want fd00:6::1", ep.Gateway6)
	}
	br, err := f.host.Handle.LinkByName("br-" + n.ID[:12])
	if err != nil {
		t.Fatal(err)
	}
	veth, err := f.host.Handle.LinkByName(ep.HostIfName)
	if err != nil {
		t.Fatal(err)
	}
	if br.Attrs().MTU != 1400 || veth.Attrs().MTU != 1400 {
		t.Errorf("MTU: bridge %d, host veth %d, want 1400", br.Attrs().MTU, veth.Attrs().MTU)
	}
	if addrs, _ := f.host.Handle.AddrList(br, netlink.FAMILY_V6); !hasAddr(addrs, "fd00:6::1/64") {
		t.Errorf("bridge lacks the IPv6 gateway: %v", addrs)
	}
	_, out := f.run(t, "v6a", "sh", "-c", "cat /sys/class/net/eth0/mtu 2>/dev/null; cat /proc/net/if_inet6; busybox ip link show eth0")
	if !strings.Contains(out, "mtu 1400") || !strings.Contains(out, "02:aa:bb:cc:dd:01") {
		t.Errorf("inside v6a:\n%s", out)
	}
	if code, out := f.run(t, "v6b", "busybox", "ping", "-6", "-c", "1", "-W", "2", "fd00:6::100"); code != 0 {
		t.Errorf("ping6 between sandboxes: exit %d\n%s", code, out)
	}
}

func hasAddr(addrs []netlink.Addr, want string) bool {
	for _, a := range addrs {
		if a.IPNet.String() == want {
			return true
		}
	}
	return false
}

// Network names follow Docker's rule (spaces allowed), and host and null
// have one network each.
func TestNetworkNamesAndSingletons(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.eng.CreateNetwork(ctx, engine.NetworkCreate{Name: "my net"}); err != nil {
		t.Fatalf("a network name with a space: %v", err)
	}
	for _, bad := range []string{" ", "a/b", "..", "tab\there"} {
		if _, err := f.eng.CreateNetwork(ctx, engine.NetworkCreate{Name: bad}); !errors.Is(err, cnm.ErrInvalid) {
			t.Errorf("network name %q: %v, want invalid", bad, err)
		}
	}
	for _, d := range []string{"host", "null"} {
		_, err := f.eng.CreateNetwork(ctx, engine.NetworkCreate{Name: "another-" + d, Driver: d})
		if !errors.Is(err, cnm.ErrForbidden) || !strings.Contains(err.Error(), "only one instance") {
			t.Errorf("a second %s network: %v, want forbidden", d, err)
		}
	}
}
