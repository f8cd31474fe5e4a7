package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/api/types"
)

// BenchmarkPublishRange reports what publishing a 1000-port range adds to
// starting and removing a sandbox, through the API of a daemon in a
// throwaway namespace, and that no process is started for it.
// Run: go test -run '^$' -bench PublishRange -benchtime 1x ./e2e
func BenchmarkPublishRange(b *testing.B) {
	d := startDaemon(b)
	c := d.client()
	ctx := context.Background()
	if _, err := c.NetworkCreate(ctx, types.NetworkCreateRequest{Name: "pub"}); err != nil {
		b.Fatal(err)
	}
	run := func(name string, ports []string) (create, remove latencies) {
		for i := 0; i < 20; i++ {
			sb := fmt.Sprintf("%s%d", name, i)
			create = append(create, timed(b, func() error {
				_, err := c.SandboxCreate(ctx, types.SandboxCreateRequest{Name: sb, Network: "pub", Ports: ports})
				return err
			}))
			remove = append(remove, timed(b, func() error { return c.SandboxRemove(ctx, sb, true) }))
		}
		return create, remove
	}
	plainC, plainR := run("plain", nil)
	rangeC, rangeR := run("ranged", []string{"20000-20999:7000-7999"})
	plainC.report(b, "start-no-ports")
	rangeC.report(b, "start-1000-ports")
	plainR.report(b, "remove-no-ports")
	rangeR.report(b, "remove-1000-ports")
	b.ReportMetric(ms(rangeC.pct(0.5)-plainC.pct(0.5)), "range-adds-to-start-ms")
	b.ReportMetric(ms(rangeR.pct(0.5)-plainR.pct(0.5)), "range-adds-to-remove-ms")
	// No process per port: the daemon has no children.
	children := strings.TrimSpace(string(must(b, "pgrep", "-P", fmt.Sprint(d.cmd.Process.Pid))))
	b.ReportMetric(float64(len(strings.Fields(children))), "daemon-children")
}

// BenchmarkPublishedThroughput compares TCP throughput from the host to a
// container through a published port on 127.0.0.1 (and on the host's own
// address) with the direct path to the container's address, with iperf3
// on both ends.
// Run: go test -run '^$' -bench PublishedThroughput -benchtime 1x ./e2e
func BenchmarkPublishedThroughput(b *testing.B) {
	d := startDaemon(b)
	d.ok("network", "create", "--subnet", "10.0.20.0/24", "perf")
	d.ok("run", "-d", "--name", "srv", "-p", "5201:5201", "--network", "perf", "--", "iperf3", "-s", "-p", "5201")
	time.Sleep(300 * time.Millisecond)
	// iperf (macvlan_bench_test.go) uses the default port, 5201.
	measure := func(addr string) float64 { return iperf(b, d.host.Path, addr) * 1e9 }
	// Five rounds, the paths alternating, and the median of each: on two
	// cores shared by client, server and softirq, single runs of one
	// path vary by several percent.
	var pub, viaHost, dir []float64
	for range 5 {
		pub = append(pub, measure("127.0.0.1"))
		viaHost = append(viaHost, measure(hostIP))
		dir = append(dir, measure("10.0.20.2"))
	}
	median := func(v []float64) float64 { slices.Sort(v); return v[len(v)/2] }
	published, viaHostIP, direct := median(pub), median(viaHost), median(dir)
	b.ReportMetric(viaHostIP/1e9, "published-via-host-ip-Gbit/s")
	b.ReportMetric(published/1e9, "published-Gbit/s")
	b.ReportMetric(direct/1e9, "direct-Gbit/s")
	b.ReportMetric(published/direct, "published/direct")
}
