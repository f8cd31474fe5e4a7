package remote_test

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/patchbay/patchbay/driver"
	"github.com/patchbay/patchbay/drivers/bridge"
	"github.com/patchbay/patchbay/internal/netnstest"
	"github.com/patchbay/patchbay/internal/nl"
	"github.com/patchbay/patchbay/ipam"
	"github.com/patchbay/patchbay/sandbox"
)

// BenchmarkAttach200 measures attach (CreateEndpoint + Join, and the
// move of the interface into the sandbox where the driver hands it over)
// into 200 sandboxes, each keeping its endpoint, so the network has 200
// ports at the end, and reports p50 and p99 over the 200 attaches of
// each round, in microseconds; calls-p50 and calls-p99 time the driver's
// calls alone, without the move (which waits for a kernel RCU grace
// period, and dominates on a busy machine). The kinds:
//
//   - bridge: patchbay's bridge driver in process, the pair made with its
//     inner end already in the sandbox (no move);
//   - bridge-move: the same driver in process, the inner end made in the
//     host namespace and moved in, as a plugin's must be;
//   - bridge-plugin: the same driver, same move, behind the plugin
//     protocol (internal/testplugin/bridgeplugin, a separate process):
//     bridge-plugin's calls minus bridge-move's is the protocol's cost;
//   - remote: the test plugin (internal/testplugin), a different driver.
//
// Run: go test -run X -bench Attach200 -benchtime 3x ./drivers/remote
func BenchmarkAttach200(b *testing.B) {
	for _, kind := range []string{"bridge", "bridge-move", "bridge-plugin", "remote"} {
		b.Run(kind, func(b *testing.B) { benchAttach200(b, kind) })
	}
}

func benchAttach200(b *testing.B, kind string) {
	const n = 200
	hst := netnstest.NewHost(b)
	ns, h := netnstest.Open(b, hst.Path)
	host := driver.Host{NS: ns, Handle: h, Tag: "pb:bench:"}
	var d driver.Driver
	opts := map[string]string{bridge.OptBridgeName: "pbbench0"}
	switch kind {
	case "remote":
		d, _ = startPluginB(b, b.TempDir(), hst.Path)
		opts = map[string]string{}
	case "bridge-plugin":
		d, _ = startBridgePlugin(b, b.TempDir(), hst.Path)
	default:
		d = bridge.New()
	}
	ctx := context.Background()
	config, err := d.ParseOptions(opts)
	if err != nil {
		b.Fatal(err)
	}
	nw := driver.Network{ID: fmt.Sprintf("%064d", 9), Name: "bench", Options: opts, Config: config,
		Subnets: []driver.Subnet{{Prefix: netip.MustParsePrefix("10.97.0.0/16"), Gateway: netip.MustParseAddr("10.97.0.1")}}}
	if _, err := d.CreateNetwork(ctx, host, nw); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = d.DeleteNetwork(ctx, host, nw) })
	sbs := make([]driver.Sandbox, n)
	dir := b.TempDir()
	for i := range sbs {
		p := filepath.Join(dir, fmt.Sprintf("sb%d", i))
		if err := sandbox.CreateNetns(p); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = sandbox.RemoveNetns(p) })
		sbNS, sbH := netnstest.Open(b, p)
		sbs[i] = driver.Sandbox{ID: fmt.Sprintf("sb%d", i), Key: p, NS: sbNS, Handle: sbH}
	}
	// lat is the whole attach; calls, the driver's calls without the
	// move (for the plugins, the protocol's round trips and the plugin's
	// work).
	var lat, calls []time.Duration
	round := 0
	for b.Loop() {
		round++
		eps := make([]driver.Endpoint, n)
		for i, sb := range sbs {
			ep := driver.Endpoint{ID: fmt.Sprintf("%05x%06x%053x", round, i+1, 0), IfName: "eth0", MAC: ipam.RandomMAC(),
				IPv4: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 97, byte(1 + i/250), byte(2 + i%250)}), 16)}
			start := time.Now()
			res, err := d.CreateEndpoint(ctx, host, nw, ep)
			if err != nil {
				b.Fatal(err)
			}
			ep.HostIfName = res.HostIfName
			join := sb
			if kind != "bridge" {
				// The move is timed apart from the driver's calls.
				join = driver.Sandbox{ID: sb.ID, Key: sb.Key}
			}
			info, err := d.Join(ctx, host, nw, ep, join)
			if err != nil {
				b.Fatal(err)
			}
			calls = append(calls, time.Since(start))
			if m := info.Interface; m != nil {
				if err := nl.MoveInto(h, m.SrcName, sb.NS, sb.Handle, ep.IfName, ep.MAC, ep.IPv4, ep.IPv6); err != nil {
					b.Fatal(err)
				}
			}
			lat = append(lat, time.Since(start))
			eps[i] = ep
		}
		b.StopTimer()
		for i, ep := range eps {
			if l, err := sbs[i].Handle.LinkByName("eth0"); err == nil {
				_ = sbs[i].Handle.LinkDel(l)
			}
			if err := d.Leave(ctx, host, nw, ep); err != nil {
				b.Fatal(err)
			}
			if err := d.DeleteEndpoint(ctx, host, nw, ep); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
	}
	report := func(name string, l []time.Duration) {
		slices.Sort(l)
		if len(l) == 0 {
			return
		}
		p50, p99 := l[len(l)/2], l[len(l)*99/100]
		b.ReportMetric(float64(p50.Microseconds()), name+"p50-µs")
		b.ReportMetric(float64(p99.Microseconds()), name+"p99-µs")
		b.Logf("%-14s %-6s n=%d p50=%v p99=%v", kind, name, len(l), p50, p99)
	}
	report("", lat)
	report("calls-", calls)
}

// BenchmarkRoundTrip measures one bare protocol round trip (a
// GetCapabilities call: a fresh unix-socket connection, the request, the
// plugin's JSON reply) to the bridge plugin process, the unit of the
// protocol's cost in an attach (CreateEndpoint and Join are two).
// Run: go test -run X -bench RoundTrip ./drivers/remote
func BenchmarkRoundTrip(b *testing.B) {
	hst := netnstest.NewHost(b)
	d, _ := startBridgePlugin(b, b.TempDir(), hst.Path)
	ctx := context.Background()
	if _, err := d.Capabilities(ctx); err != nil {
		b.Fatal(err)
	}
	var lat []time.Duration
	for b.Loop() {
		start := time.Now()
		if _, err := d.Capabilities(ctx); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
	b.ReportMetric(float64(p50.Microseconds()), "p50-µs")
	b.ReportMetric(float64(p99.Microseconds()), "p99-µs")
}
