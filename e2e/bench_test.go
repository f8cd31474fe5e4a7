package e2e

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/api/types"
)

// latencies collects durations and reports percentiles.
type latencies []time.Duration

func (l latencies) pct(p float64) time.Duration {
	s := slices.Clone(l)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func (l latencies) report(b *testing.B, name string) {
	b.ReportMetric(ms(l.pct(0.5)), name+"-p50-ms")
	b.ReportMetric(ms(l.pct(0.99)), name+"-p99-ms")
	b.Logf("%-28s n=%-4d p50=%7.3fms p99=%7.3fms", name, len(l), ms(l.pct(0.5)), ms(l.pct(0.99)))
}

func timed(b *testing.B, f func() error) time.Duration {
	start := time.Now()
	if err := f(); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}

func rssMB(b *testing.B, pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.Atoi(f[1])
			return float64(kb) / 1024
		}
	}
	return 0
}

// BenchmarkEngine measures the figures through the API of a real
// daemon in a throwaway namespace: network create and remove; sandbox
// attach (create + connect) and disconnect with 1, 200 and 1000
// sandboxes on one network; and the daemon's RSS idle and at 1000
// sandboxes. Run it once: go test -run '^$' -bench . -benchtime 1x ./e2e
func BenchmarkEngine(b *testing.B) {
	d := startDaemon(b)
	c := d.client()
	ctx := context.Background()
	pid := d.cmd.Process.Pid
	time.Sleep(300 * time.Millisecond)
	b.ReportMetric(rssMB(b, pid), "rss-idle-MB")
	b.Logf("daemon RSS idle: %.1f MB", rssMB(b, pid))

	var create, remove latencies
	for i := 0; i < 100; i++ {
		name := fmt.Sprintf("bn%d", i)
		create = append(create, timed(b, func() error {
			_, err := c.NetworkCreate(ctx, types.NetworkCreateRequest{Name: name})
			return err
		}))
		remove = append(remove, timed(b, func() error { return c.NetworkRemove(ctx, name) }))
	}
	create.report(b, "network-create")
	remove.report(b, "network-remove")

	if _, err := c.NetworkCreate(ctx, types.NetworkCreateRequest{Name: "big", IPAM: &types.IPAM{Config: []types.IPAMConfig{{Subnet: "10.20.0.0/16"}}}}); err != nil {
		b.Fatal(err)
	}
	attach := func(i int) time.Duration {
		return timed(b, func() error {
			_, err := c.SandboxCreate(ctx, types.SandboxCreateRequest{Name: fmt.Sprintf("sb%04d", i), Network: "big"})
			return err
		})
	}
	// churn measures attach and disconnect at the current size: it
	// disconnects and reconnects sandboxes, then replaces some whole.
	churn := func(size int) {
		var disc, conn latencies
		for i := 0; i < 50; i++ {
			name := fmt.Sprintf("sb%04d", size-1-i%size)
			disc = append(disc, timed(b, func() error {
				return c.NetworkDisconnect(ctx, "big", types.NetworkDisconnectRequest{Container: name})
			}))
			conn = append(conn, timed(b, func() error {
				return c.NetworkConnect(ctx, "big", types.NetworkConnectRequest{Container: name})
			}))
		}
		disc.report(b, fmt.Sprintf("disconnect@%d", size))
		conn.report(b, fmt.Sprintf("connect@%d", size))
	}
	var all latencies
	for i := 0; i < 1000; i++ {
		all = append(all, attach(i))
		switch i + 1 {
		case 1:
			churn(1)
		case 200:
			all[190:200].report(b, "attach@200")
			churn(200)
		}
	}
	all[:10].report(b, "attach-first10")
	all[990:].report(b, "attach-last10")
	all.report(b, "attach-all-1000")
	b.ReportMetric(float64(all[990:].pct(0.5))/float64(all[:10].pct(0.5)), "last10/first10")
	churn(1000)
	time.Sleep(300 * time.Millisecond)
	b.ReportMetric(rssMB(b, pid), "rss-1000-MB")
	b.Logf("daemon RSS at 1000 sandboxes: %.1f MB", rssMB(b, pid))

	var rm latencies
	for i := 0; i < 1000; i++ {
		name := fmt.Sprintf("sb%04d", i)
		rm = append(rm, timed(b, func() error { return c.SandboxRemove(ctx, name, false) }))
	}
	rm.report(b, "sandbox-remove")
}
