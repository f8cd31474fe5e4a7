package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/api/types"
)

// threadCount is how many OS threads process pid has.
func threadCount(b *testing.B, pid int) int {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}

// BenchmarkRunningSandboxes reports the daemon's RSS and OS threads with
// 200 and 1000 running sandboxes on a user network, each with a process
// (sleep) started through the API and its embedded resolver, as users
// run them. Cleanup removes them all.
// Run: go test -run '^$' -bench RunningSandboxes -benchtime 1x ./e2e
func BenchmarkRunningSandboxes(b *testing.B) {
	d := startDaemon(b)
	c := d.client()
	ctx := context.Background()
	pid := d.cmd.Process.Pid
	if _, err := c.NetworkCreate(ctx, types.NetworkCreateRequest{Name: "run",
		IPAM: &types.IPAM{Config: []types.IPAMConfig{{Subnet: "10.21.0.0/16"}}}}); err != nil {
		b.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	b.ReportMetric(rssMB(b, pid), "rss-idle-MB")
	b.ReportMetric(float64(threadCount(b, pid)), "threads-idle")
	for i := range 1000 {
		_, err := c.SandboxCreate(ctx, types.SandboxCreateRequest{Name: fmt.Sprintf("run%04d", i), Network: "run",
			Process: &types.ProcessRequest{Args: []string{"sleep", "3600"}, Detached: true}})
		if err != nil {
			b.Fatal(err)
		}
		if n := i + 1; n == 200 || n == 1000 {
			time.Sleep(time.Second) // let the garbage collector catch up
			rss, threads := rssMB(b, pid), threadCount(b, pid)
			b.ReportMetric(rss, fmt.Sprintf("rss-running-%d-MB", n))
			b.ReportMetric(float64(threads), fmt.Sprintf("threads-running-%d", n))
			b.Logf("%d running sandboxes: daemon RSS %.1f MB, %d threads", n, rss, threads)
		}
	}
}

// BenchmarkNetworkRemoveUsed reports `network rm` through the API of a
// network as users leave it: one that has had a running sandbox, removed
// just before.
// Run: go test -run '^$' -bench NetworkRemoveUsed -benchtime 1x ./e2e
func BenchmarkNetworkRemoveUsed(b *testing.B) {
	d := startDaemon(b)
	c := d.client()
	ctx := context.Background()
	var rm latencies
	for i := range 30 {
		net, sb := fmt.Sprintf("used%d", i), fmt.Sprintf("usb%d", i)
		if _, err := c.NetworkCreate(ctx, types.NetworkCreateRequest{Name: net}); err != nil {
			b.Fatal(err)
		}
		if _, err := c.SandboxCreate(ctx, types.SandboxCreateRequest{Name: sb, Network: net,
			Process: &types.ProcessRequest{Args: []string{"sleep", "600"}, Detached: true}}); err != nil {
			b.Fatal(err)
		}
		if err := c.SandboxRemove(ctx, sb, true); err != nil {
			b.Fatal(err)
		}
		rm = append(rm, timed(b, func() error { return c.NetworkRemove(ctx, net) }))
	}
	rm.report(b, "network-rm-used")
}

// BenchmarkCLIStartup reports how long the whole `patchbay network ls`
// process takes, from exec to exit, against a running daemon.
// Run: go test -run '^$' -bench CLIStartup -benchtime 1x ./e2e
func BenchmarkCLIStartup(b *testing.B) {
	d := startDaemon(b)
	d.ok("network", "ls") // warm the page cache
	var runs latencies
	for range 50 {
		cmd := exec.Command(binary, "network", "ls")
		cmd.Env = append(os.Environ(), "PATCHBAY_HOST=unix://"+d.sock)
		runs = append(runs, timed(b, cmd.Run))
	}
	runs.report(b, "cli-network-ls")
}

// BenchmarkLogHolders reports the memory (RSS, PSS, Private_Dirty) and
// OS threads of the daemon's log holders, summed, with 1 and 200
// detached sandboxes running sleep, and the daemon's own RSS and
// threads at 200.
// Run: go test -run '^$' -bench LogHolders -benchtime 1x ./e2e
func BenchmarkLogHolders(b *testing.B) {
	d := startDaemon(b)
	c := d.client()
	ctx := context.Background()
	if _, err := c.NetworkCreate(ctx, types.NetworkCreateRequest{Name: "logs",
		IPAM: &types.IPAM{Config: []types.IPAMConfig{{Subnet: "10.22.0.0/16"}}}}); err != nil {
		b.Fatal(err)
	}
	for i := range 200 {
		_, err := c.SandboxCreate(ctx, types.SandboxCreateRequest{Name: fmt.Sprintf("log%03d", i), Network: "logs",
			Process: &types.ProcessRequest{Args: []string{"sleep", "3600"}, Detached: true}})
		if err != nil {
			b.Fatal(err)
		}
		if i == 0 {
			time.Sleep(time.Second)
			reportLogHolders(b, d, "1")
		}
	}
	time.Sleep(time.Second) // let the garbage collectors catch up
	reportLogHolders(b, d, "200")
	pid := d.cmd.Process.Pid
	b.ReportMetric(rssMB(b, pid), "daemon-rss-200-MB")
	b.ReportMetric(float64(threadCount(b, pid)), "daemon-threads-200")
}
