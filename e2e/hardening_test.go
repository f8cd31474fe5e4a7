package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/patchbay/patchbay/api/types"
	"github.com/patchbay/patchbay/client"
	"github.com/patchbay/patchbay/internal/netnstest"
	"github.com/vishvananda/netlink"
)

// defaultRoutes lists the host namespace's IPv4 default routes.
func defaultRoutes(t *testing.T, d *daemon) string {
	t.Helper()
	routes, err := d.host.Handle.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range routes {
		if r.Dst == nil || r.Dst.IP.IsUnspecified() {
			out = append(out, fmt.Sprintf("%v dev %d", r.Gw, r.LinkIndex))
		}
	}
	return strings.Join(out, ";")
}

// TestHardeningRefusals: requests that reached the kernel (and answered
// 500, or worse, 201) are refused with a 4xx naming the problem, before
// anything changes: the daemon's own namespace, a namespace another
// sandbox owns, bad PIDs and paths, unusable subnets, unbounded publish
// requests, huge names, --ip on the default bridge.
func TestHardeningRefusals(t *testing.T) {
	d := startDaemon(t)
	d.ok("network", "create", "--subnet", "10.0.71.0/24", "hnet")
	d.ok("run", "-d", "--name", "holder", "--network", "hnet", "--", "sleep", "600")
	c := d.client()
	ctx := context.Background()
	holder, err := c.SandboxInspect(ctx, "holder")
	if err != nil {
		t.Fatal(err)
	}
	if holder.State.Pid == 0 {
		t.Fatal("holder has no PID")
	}
	routes := defaultRoutes(t, d)
	sbReq := func(r types.SandboxCreateRequest) func() error {
		return func() error { _, err := c.SandboxCreate(ctx, r); return err }
	}
	netReq := func(r types.NetworkCreateRequest) func() error {
		return func() error { _, err := c.NetworkCreate(ctx, r); return err }
	}
	subnet := func(s string) func() error {
		return netReq(types.NetworkCreateRequest{Name: "bad", EnableIPv6: true, IPAM: &types.IPAM{Config: []types.IPAMConfig{{Subnet: s}}}})
	}
	cases := []struct {
		name    string
		call    func() error
		status  int
		mention string
	}{
		{"adopt the daemon by PID", sbReq(types.SandboxCreateRequest{Name: "x1", Network: "hnet", AdoptPID: d.cmd.Process.Pid}), 403, "daemon's own"},
		{"adopt the daemon's netns", sbReq(types.SandboxCreateRequest{Name: "x1", Network: "hnet", AdoptNetns: d.host.Path}), 403, "daemon's own"},
		{"adopt another sandbox's process", sbReq(types.SandboxCreateRequest{Name: "x1", Network: "hnet", AdoptPID: holder.State.Pid}), 409, "already sandbox holder's"},
		{"adopt another sandbox's netns", sbReq(types.SandboxCreateRequest{Name: "x1", Network: "hnet", AdoptNetns: holder.NetworkSettings.SandboxKey}), 409, "already sandbox holder's"},
		{"pid -1", sbReq(types.SandboxCreateRequest{Network: "hnet", AdoptPID: -1}), 400, "invalid pid -1"},
		{"pid 99999999", sbReq(types.SandboxCreateRequest{Network: "hnet", AdoptPID: 99999999}), 404, "process 99999999 not found"},
		{"netns with ..", sbReq(types.SandboxCreateRequest{Network: "hnet", AdoptNetns: "/run/netns/../../proc/1/ns/net"}), 400, ".."},
		{"IPv6 multicast subnet", subnet("ff05::/64"), 400, "multicast"},
		{"multicast subnet", subnet("224.0.0.0/24"), 400, "multicast"},
		{"loopback subnet", subnet("127.0.0.0/24"), 400, "loopback"},
		{"this-network subnet", subnet("0.0.0.0/8"), 400, "this network"},
		{"limited broadcast subnet", subnet("255.255.255.0/24"), 400, "limited broadcast"},
		{"link-local subnet", subnet("fe80::/64"), 400, "link-local"},
		{"IPv4-mapped subnet", subnet("::ffff:10.9.0.0/120"), 400, "IPv4-mapped"},
		{"ip-range of the gateway only", netReq(types.NetworkCreateRequest{Name: "bad", IPAM: &types.IPAM{Config: []types.IPAMConfig{{Subnet: "10.0.72.0/24", IPRange: "10.0.72.1/32"}}}}), 400, "only the gateway"},
		{"publish every port", sbReq(types.SandboxCreateRequest{Network: "hnet", Ports: []string{"1-65535:1-65535"}}), 400, "at most 1024"},
		{"64 KiB sandbox name", sbReq(types.SandboxCreateRequest{Name: strings.Repeat("s", 64<<10), Network: "hnet"}), 400, "at most 253"},
		{"64 KiB network name", netReq(types.NetworkCreateRequest{Name: strings.Repeat("n", 64<<10)}), 400, "at most 253"},
		{"--ip on the default bridge", sbReq(types.SandboxCreateRequest{Endpoint: &types.EndpointSettings{IPAMConfig: &types.EndpointIPAMConfig{IPv4Address: "172.17.0.50"}}}), 400,
			"user specified IP address is supported on user defined networks only"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := d.snapshot()
			err := tc.call()
			var apiErr *client.APIError
			if !errors.As(err, &apiErr) || apiErr.Status != tc.status || !strings.Contains(apiErr.Message, tc.mention) {
				t.Fatalf("got %v; want %d mentioning %q", err, tc.status, tc.mention)
			}
			if after := d.snapshot(); after != before {
				t.Errorf("state changed:\nbefore %s\nafter  %s", before, after)
			}
			if got := defaultRoutes(t, d); got != routes {
				t.Errorf("host default routes %q, were %q", got, routes)
			}
		})
	}
	// The CLI says the same.
	r := d.pb("run", "--ip", "172.17.0.50", "--", "true")
	if r.code == 0 || !strings.Contains(r.stderr, "user defined networks only") {
		t.Fatalf("run --ip on the default bridge: %s", r)
	}
}

// TestRunSeveralNetworks: run --network a --network b attaches both.
func TestRunSeveralNetworks(t *testing.T) {
	d := startDaemon(t)
	d.ok("network", "create", "--subnet", "10.0.73.0/24", "na")
	d.ok("network", "create", "--subnet", "10.0.74.0/24", "nb")
	d.ok("run", "-d", "--name", "both", "--network", "na", "--network", "nb", "--ip", "10.0.73.7", "--", "sleep", "600")
	got := strings.TrimSpace(d.ok("inspect", "-f", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}={{$v.IPAddress}} {{end}}", "both"))
	if got != "na=10.0.73.7 nb=10.0.74.2" {
		t.Fatalf("networks: %q", got)
	}
	out := d.ok("exec", "both", "--", "busybox", "ping", "-c", "1", "-W", "5", "10.0.74.1")
	if !strings.Contains(out, "1 packets received") {
		t.Fatalf("ping nb's gateway: %s", out)
	}
}

// TestSocketGroup: the socket is root-only unless --group names a group.
func TestSocketGroup(t *testing.T) {
	d := startDaemon(t)
	var st syscall.Stat_t
	if err := syscall.Stat(d.sock, &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode&0o777 != 0o600 {
		t.Fatalf("socket mode %o, want 0600", st.Mode&0o777)
	}
	g := startDaemonIn(t, netnstest.NewHost(t), "--group", "4242")
	if err := syscall.Stat(g.sock, &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode&0o777 != 0o660 || st.Gid != 4242 {
		t.Fatalf("socket mode %o gid %d, want 0660 gid 4242", st.Mode&0o777, st.Gid)
	}
	if fi, err := os.Stat(filepath.Dir(g.sock)); err != nil || fi.Mode().Perm()&0o010 == 0 {
		t.Fatalf("socket directory %v, %v: not traversable by the group", fi.Mode(), err)
	}
	g.ok("network", "ls")
}
