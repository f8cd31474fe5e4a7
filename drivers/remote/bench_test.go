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

// BenchmarkAttach measures one attach (CreateEndpoint + Join into an
// open sandbox) through the test plugin, against the same through
// patchbay's bridge driver in process, making the interface in the
// sandbox ("bridge") or, as a plugin must, in the host namespace and then
// moving it in ("bridge-move"), and reports the attach's p50 and p99 in
// microseconds. Run: go test -run X -bench Attach ./drivers/remote
func BenchmarkAttach(b *testing.B) {
	for _, kind := range []string{"bridge", "bridge-move", "remote"} {
		b.Run(kind, func(b *testing.B) { benchAttach(b, kind) })
	}
}

func benchAttach(b *testing.B, kind string) {
	hst := netnstest.NewHost(b)
	ns, h := netnstest.Open(b, hst.Path)
	host := driver.Host{NS: ns, Handle: h, Tag: "pb:bench:"}
	var d driver.Driver
	opts := map[string]string{}
	if kind == "remote" {
		dir := b.TempDir()
		rd, _ := startPluginB(b, dir, hst.Path)
		d = rd
	} else {
		d = bridge.New()
		opts[bridge.OptBridgeName] = "pbbench0"
	}
	ctx := context.Background()
	config, err := d.ParseOptions(opts)
	if err != nil {
		b.Fatal(err)
	}
	nw := driver.Network{ID: fmt.Sprintf("%064d", 7), Name: "bench", Options: opts, Config: config,
		Subnets: []driver.Subnet{{Prefix: netip.MustParsePrefix("10.98.0.0/16"), Gateway: netip.MustParseAddr("10.98.0.1")}}}
	if _, err := d.CreateNetwork(ctx, host, nw); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = d.DeleteNetwork(ctx, host, nw) })
	p := filepath.Join(b.TempDir(), "sb")
	if err := sandbox.CreateNetns(p); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = sandbox.RemoveNetns(p) })
	sbNS, sbH := netnstest.Open(b, p)
	sb := driver.Sandbox{ID: "sb", Key: p, NS: sbNS, Handle: sbH}
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		ep := driver.Endpoint{ID: fmt.Sprintf("%064x", i+1), IfName: "eth0", MAC: ipam.RandomMAC(),
			IPv4: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 98, byte(2 + i/250%250), byte(2 + i%250)}), 16)}
		start := time.Now()
		res, err := d.CreateEndpoint(ctx, host, nw, ep)
		if err != nil {
			b.Fatal(err)
		}
		ep.HostIfName = res.HostIfName
		join := sb
		if kind == "bridge-move" {
			join = driver.Sandbox{ID: sb.ID, Key: sb.Key}
		}
		info, err := d.Join(ctx, host, nw, ep, join)
		if err != nil {
			b.Fatal(err)
		}
		if m := info.Interface; m != nil {
			if err := nl.MoveInto(h, m.SrcName, sbNS, sbH, ep.IfName, ep.MAC, ep.IPv4, ep.IPv6); err != nil {
				b.Fatal(err)
			}
		}
		lat = append(lat, time.Since(start))
		if l, err := sbH.LinkByName("eth0"); err == nil {
			_ = sbH.LinkDel(l)
		}
		if err := d.Leave(ctx, host, nw, ep); err != nil {
			b.Fatal(err)
		}
		if err := d.DeleteEndpoint(ctx, host, nw, ep); err != nil {
			b.Fatal(err)
		}
	}
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	}
}
