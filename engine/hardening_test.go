package engine_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/engine"
	"github.com/patchbay/patchbay/internal/netnstest"
	"github.com/vishvananda/netlink"
)

// state is what a refused request must leave unchanged.
func (f *fixture) state() string {
	var b strings.Builder
	for _, n := range f.eng.Networks() {
		fmt.Fprintf(&b, "%s %d;", n.Name, len(n.Endpoints))
	}
	for _, sb := range f.eng.Sandboxes() {
		fmt.Fprintf(&b, "%s %d;", sb.Name, len(sb.Endpoints))
	}
	return b.String()
}

func TestRefusedSandboxCreates(t *testing.T) {
	f := newFixture(t)
	f.network(t, "one", "10.0.61.0/24")
	owner := f.sandbox(t, "owner", "one")
	notNet := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(notNet, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		req     engine.SandboxCreate
		kind    error
		mention string
	}{
		{"negative pid", engine.SandboxCreate{AdoptPID: -1}, cnm.ErrInvalid, "invalid pid -1"},
		{"no such pid", engine.SandboxCreate{AdoptPID: 99999999}, cnm.ErrNotFound, "process 99999999 not found"},
		{"netns with ..", engine.SandboxCreate{AdoptNetns: "/run/netns/../../proc/1/ns/net"}, cnm.ErrInvalid, "without . or .. parts"},
		{"relative netns", engine.SandboxCreate{AdoptNetns: "proc/1/ns/net"}, cnm.ErrInvalid, "must be absolute"},
		{"missing netns", engine.SandboxCreate{AdoptNetns: "/run/netns/no-such-ns-here"}, cnm.ErrNotFound, "not found"},
		{"not a namespace", engine.SandboxCreate{AdoptNetns: notNet}, cnm.ErrInvalid, "not a namespace file"},
		{"not a network namespace", engine.SandboxCreate{AdoptNetns: "/proc/self/ns/mnt"}, cnm.ErrInvalid, "not a network namespace"},
		{"the daemon's process", engine.SandboxCreate{AdoptPID: os.Getpid()}, cnm.ErrForbidden, "daemon's own"},
		{"the daemon's host namespace", engine.SandboxCreate{AdoptNetns: f.host.Path}, cnm.ErrForbidden, "daemon's own"},
		{"another sandbox's namespace", engine.SandboxCreate{AdoptNetns: owner.NetnsPath}, cnm.ErrConflict, "already sandbox owner's"},
		{"long name", engine.SandboxCreate{Name: strings.Repeat("a", 64<<10)}, cnm.ErrInvalid, "at most 253"},
		{"--ip on the default bridge", engine.SandboxCreate{Endpoint: engine.EndpointOptions{IPv4: "172.17.0.50"}}, cnm.ErrInvalid,
			"user specified IP address is supported on user defined networks only"},
		{"publish every port", engine.SandboxCreate{Network: "one", Ports: []string{"1-65535:1-65535"}}, cnm.ErrInvalid, "at most 1024"},
		{"network twice", engine.SandboxCreate{Network: "one", Networks: []string{"one"}}, cnm.ErrInvalid, "given twice"},
		{"none and another", engine.SandboxCreate{Network: "none", Networks: []string{"one"}}, cnm.ErrInvalid, "cannot be combined"},
		{"host and another", engine.SandboxCreate{Network: "one", Networks: []string{"host"}}, cnm.ErrInvalid, "cannot be combined"},
		{"container and another", engine.SandboxCreate{Network: "container:owner", Networks: []string{"one"}}, cnm.ErrInvalid, "cannot be combined"},
		{"unknown extra network", engine.SandboxCreate{Network: "one", Networks: []string{"nosuchnet"}}, cnm.ErrNotFound, "nosuchnet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.state()
			sb, err := f.eng.CreateSandbox(context.Background(), tt.req)
			if err == nil {
				t.Fatalf("created %s", sb.Name)
			}
			if !errors.Is(err, tt.kind) || !strings.Contains(err.Error(), tt.mention) {
				t.Fatalf("error %v; want %v mentioning %q", err, tt.kind, tt.mention)
			}
			if after := f.state(); after != before {
				t.Fatalf("state changed: %s -> %s", before, after)
			}
		})
	}
}

// TestAdoptOnce: a namespace is adopted by one sandbox only, whatever
// path names it.
func TestAdoptOnce(t *testing.T) {
	f := newFixture(t)
	f.network(t, "one", "10.0.62.0/24")
	ns := netnstest.NewHost(t) // a fresh namespace, as a user's
	if _, err := f.eng.CreateSandbox(context.Background(), engine.SandboxCreate{Name: "first", AdoptNetns: ns.Path, Network: "one"}); err != nil {
		t.Fatalf("adopt: %v", err)
	}
	other := filepath.Join(t.TempDir(), "ns")
	if err := os.WriteFile(other, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := bindMount(ns.Path, other); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unmount(other) })
	for _, path := range []string{ns.Path, other} {
		before := f.state()
		_, err := f.eng.CreateSandbox(context.Background(), engine.SandboxCreate{Name: "second", AdoptNetns: path, Network: "one"})
		if !errors.Is(err, cnm.ErrConflict) || !strings.Contains(err.Error(), "already sandbox first's") {
			t.Fatalf("second adoption through %s: %v", path, err)
		}
		if after := f.state(); after != before {
			t.Fatalf("state changed: %s -> %s", before, after)
		}
	}
}

func TestNetworkNameBound(t *testing.T) {
	f := newFixture(t)
	_, err := f.eng.CreateNetwork(context.Background(), engine.NetworkCreate{Name: strings.Repeat("n", 64<<10)})
	if !errors.Is(err, cnm.ErrInvalid) || !strings.Contains(err.Error(), "at most 253") || len(err.Error()) > 200 {
		t.Fatalf("64 KiB network name: %v", err)
	}
	f.network(t, strings.Repeat("n", 253), "")
}

func TestUnusableSubnets(t *testing.T) {
	f := newFixture(t)
	for _, tt := range []struct{ subnet, ipRange, mention string }{
		{"224.0.0.0/24", "", "multicast"},
		{"127.0.0.0/24", "", "loopback"},
		{"0.0.0.0/8", "", "this network"},
		{"255.255.255.0/24", "", "limited broadcast"},
		{"fe80::/64", "", "link-local"},
		{"::ffff:10.9.0.0/120", "", "IPv4-mapped"},
		{"ff05::/64", "", "multicast"},
		{"10.0.63.0/24", "10.0.63.1/32", "holds only the gateway"},
	} {
		before := f.state()
		_, err := f.eng.CreateNetwork(context.Background(), engine.NetworkCreate{Name: "bad", EnableIPv6: true,
			IPAM: []engine.IPAMRequest{{Subnet: tt.subnet, IPRange: tt.ipRange}}})
		if !errors.Is(err, cnm.ErrInvalid) || !strings.Contains(err.Error(), tt.mention) {
			t.Errorf("subnet %s range %s: %v; want invalid mentioning %q", tt.subnet, tt.ipRange, err, tt.mention)
		}
		if after := f.state(); after != before {
			t.Fatalf("state changed: %s -> %s", before, after)
		}
	}
}

// TestSlash31: a /31 carries the gateway and one sandbox (RFC 3021).
func TestSlash31(t *testing.T) {
	f := newFixture(t)
	f.network(t, "p2p", "10.0.64.0/31")
	sb := f.sandbox(t, "only", "p2p")
	if got := sb.Endpoints[0].IPv4.String(); got != "10.0.64.1/31" {
		t.Fatalf("address %s, want 10.0.64.1/31 (10.0.64.0 is the gateway)", got)
	}
	if code, out := f.run(t, "only", "busybox", "ping", "-c", "1", "-W", "5", "10.0.64.0"); code != 0 {
		t.Fatalf("ping the gateway: %d %s", code, out)
	}
	_, err := f.eng.CreateSandbox(context.Background(), engine.SandboxCreate{Name: "more", Network: "p2p"})
	if !errors.Is(err, cnm.ErrUnavailable) {
		t.Fatalf("a second sandbox on a /31: %v", err)
	}
}

// TestSeveralNetworksAtCreate: run --network a --network b joins both,
// in order; the first has the endpoint options.
func TestSeveralNetworksAtCreate(t *testing.T) {
	f := newFixture(t)
	f.network(t, "a", "10.0.65.0/24")
	f.network(t, "b", "10.0.66.0/24")
	if _, err := f.eng.CreateSandbox(context.Background(), engine.SandboxCreate{
		Name: "both", Network: "a", Networks: []string{"b"}, Endpoint: engine.EndpointOptions{IPv4: "10.0.65.9"},
	}); err != nil {
		t.Fatal(err)
	}
	sb, err := f.eng.Sandbox("both")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ep := range sb.Endpoints {
		got = append(got, ep.NetworkName+"="+ep.IfName+"="+ep.IPv4.String())
	}
	if want := "a=eth0=10.0.65.9/24 b=eth1=10.0.66.2/24"; strings.Join(got, " ") != want {
		t.Fatalf("endpoints %v, want %s", got, want)
	}
	if code, out := f.run(t, "both", "busybox", "ping", "-c", "1", "-W", "5", "10.0.66.1"); code != 0 {
		t.Fatalf("ping b's gateway: %d %s", code, out)
	}
	// A failing second join leaves nothing: b has no address left.
	f.network(t, "tiny", "10.0.67.0/30")
	f.sandbox(t, "filler", "tiny")
	before := f.state()
	_, err = f.eng.CreateSandbox(context.Background(), engine.SandboxCreate{Name: "partial", Network: "a", Networks: []string{"tiny"}})
	if !errors.Is(err, cnm.ErrUnavailable) {
		t.Fatalf("join a full network second: %v", err)
	}
	if after := f.state(); after != before {
		t.Fatalf("state changed: %s -> %s", before, after)
	}
}

// TestSlash31PointToPoint: on an internal network with the IPv4 gateway
// inhibited no gateway is reserved, so a /31 joins two sandboxes.
func TestSlash31PointToPoint(t *testing.T) {
	f := newFixture(t)
	n, err := f.eng.CreateNetwork(context.Background(), engine.NetworkCreate{
		Name: "p2p", Internal: true, Options: map[string]string{"com.docker.network.bridge.inhibit_ipv4": "true"},
		IPAM: []engine.IPAMRequest{{Subnet: "10.0.68.0/31"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if gw := n.IPAM.Config[0].Gateway; gw.IsValid() {
		t.Fatalf("gateway %s reserved", gw)
	}
	a, b := f.sandbox(t, "pa", "p2p"), f.sandbox(t, "pb", "p2p")
	if got := a.Endpoints[0].IPv4.String() + " " + b.Endpoints[0].IPv4.String(); got != "10.0.68.0/31 10.0.68.1/31" {
		t.Fatalf("addresses %s", got)
	}
	if code, out := f.run(t, "pa", "busybox", "ping", "-c", "1", "-W", "5", "10.0.68.1"); code != 0 {
		t.Fatalf("a pings b: %d %s", code, out)
	}
	// The bridge holds no IPv4 address.
	for _, l := range linkList(t, f) {
		if l.Attrs().Alias != "" && strings.HasSuffix(l.Attrs().Alias, "net:"+n.ID) {
			addrs, err := f.host.Handle.AddrList(l, netlink.FAMILY_V4)
			if err != nil || len(addrs) != 0 {
				t.Fatalf("bridge addresses %v, %v", addrs, err)
			}
			return
		}
	}
	t.Fatal("no bridge of p2p found")
}

func linkList(t *testing.T, f *fixture) []netlink.Link {
	t.Helper()
	links, err := f.host.Handle.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	return links
}

// TestRemovedMeanwhileNamedAsGiven: a network removed while a sandbox
// create waits for it is named in the 404 as the user named it, not by
// its ID. Racy by nature: it counts the rounds the removal won.
func TestRemovedMeanwhileNamedAsGiven(t *testing.T) {
	f := newFixture(t)
	hits, meanwhile := 0, 0
	for i := range 30 {
		n := f.network(t, "gone", "")
		errc := make(chan error, 1)
		go func() {
			_, err := f.eng.CreateSandbox(context.Background(), engine.SandboxCreate{Name: fmt.Sprintf("r%d", i), Network: "gone"})
			errc <- err
		}()
		// Spread the removal over the create's steps (no timing is
		// asserted: any outcome is checked).
		time.Sleep(time.Duration(i) * 200 * time.Microsecond)
		rmErr := f.eng.RemoveNetwork(context.Background(), "gone")
		err := <-errc
		switch {
		case err == nil:
			if rmErr == nil {
				t.Fatal("sandbox created on a network that was removed")
			}
			if err := f.eng.RemoveSandbox(context.Background(), fmt.Sprintf("r%d", i), true); err != nil {
				t.Fatal(err)
			}
			if err := f.eng.RemoveNetwork(context.Background(), "gone"); err != nil {
				t.Fatal(err)
			}
		case errors.Is(err, cnm.ErrNotFound):
			hits++
			if strings.Contains(err.Error(), "meanwhile") {
				meanwhile++
			}
			if strings.Contains(err.Error(), n.ID) || !strings.Contains(err.Error(), "gone") {
				t.Fatalf("404 %q does not name the network as given", err)
			}
		default:
			t.Fatalf("create: %v", err)
		}
	}
	t.Logf("the removal won %d of 30 rounds, %d of them while the create was under way", hits, meanwhile)
}
