package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/dnsload"
)

// aardvarkDNS is where Debian's aardvark-dns package installs Podman's
// resolver.
const aardvarkDNS = "/usr/lib/podman/aardvark-dns"

// buildDNSLoad builds the dnsload command into a temporary directory.
func buildDNSLoad(b *testing.B) string {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "dnsload")
	out, err := exec.Command("go", "build", "-o", bin, "../internal/dnsload/cmd/dnsload").CombinedOutput()
	if err != nil {
		b.Fatalf("build dnsload: %v\n%s", err, out)
	}
	return bin
}

// BenchmarkDNSClient measures the embedded resolver as a program inside
// a sandbox meets it: a client process (internal/dnsload) run in the
// sandbox with one query in flight (closed loop) asks 127.0.0.11 for a
// local name; p50/p99 latency and queries per second, and the daemon's
// CPU meanwhile. When aardvark-dns is installed, the same client in the
// same run asks it too, serving the same names on the network's gateway
// address as Podman runs it, and the ratios are reported. The floor is
// the same client against the least a server can do (dnsload -echo: a
// blocking recvfrom/sendto loop on one thread, no parsing) in the
// client's own namespace. Rounds alternate; the medians are reported.
// Run: go test -run '^$' -bench DNSClient -benchtime 1x ./e2e
func BenchmarkDNSClient(b *testing.B) {
	load := buildDNSLoad(b)
	d := startDaemon(b)
	d.ok("network", "create", "--subnet", "10.0.41.0/24", "app")
	d.ok("run", "-d", "--name", "target", "--network", "app", "--", "sleep", "600")
	d.ok("run", "-d", "--name", "client", "--network", "app", "--", "sleep", "600")
	aardvark := startAardvark(b, d, "10.0.41.1", "target", "client")
	startEcho(b, load, d, "client", "127.0.0.1:5300")
	pid := d.cmd.Process.Pid
	const n = 20000
	query := func(server string) (dnsload.Result, float64) {
		t0, start := cpuTicks(pid), time.Now()
		out := d.ok("exec", "client", "--", load, "-server", server, "-name", "target",
			"-window", "1", "-n", strconv.Itoa(n), "-warm", "2000")
		cores := float64(cpuTicks(pid)-t0) / 100 / time.Since(start).Seconds()
		var r dnsload.Result
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			b.Fatalf("dnsload output %q: %v", out, err)
		}
		if r.Lost > 0 {
			b.Errorf("%s: %d queries lost", server, r.Lost)
		}
		return r, cores
	}
	type row struct{ p50, p99, qps, cores []float64 }
	add := func(w *row, r dnsload.Result, cores float64) {
		w.p50 = append(w.p50, float64(r.P50.Nanoseconds())/1e3)
		w.p99 = append(w.p99, float64(r.P99.Nanoseconds())/1e3)
		w.qps = append(w.qps, r.QPS())
		w.cores = append(w.cores, cores)
	}
	median := func(v []float64) float64 { s := slices.Clone(v); slices.Sort(s); return s[len(s)/2] }
	var pb, av, floor row
	for range 3 {
		r, cores := query("127.0.0.11:53")
		add(&pb, r, cores)
		r, _ = query("127.0.0.1:5300")
		add(&floor, r, 0)
		if aardvark != 0 {
			r, _ := query("10.0.41.1:53")
			add(&av, r, 0)
		}
	}
	b.ReportMetric(median(pb.p50), "p50-us@1")
	b.ReportMetric(median(pb.p99), "p99-us@1")
	b.ReportMetric(median(pb.qps), "qps@1")
	b.ReportMetric(median(pb.cores), "daemon-cores@1")
	b.ReportMetric(median(floor.p50), "floor-p50-us@1")
	b.ReportMetric(median(floor.p99), "floor-p99-us@1")
	b.ReportMetric(median(floor.qps), "floor-qps@1")
	b.Logf("patchbay:     p50 %v µs, p99 %v µs, qps %v", pb.p50, pb.p99, pb.qps)
	b.Logf("floor (echo): p50 %v µs, p99 %v µs, qps %v", floor.p50, floor.p99, floor.qps)
	if aardvark == 0 {
		b.Logf("%s is not installed: no comparison", aardvarkDNS)
		return
	}
	b.Logf("aardvark-dns: p50 %v µs, p99 %v µs, qps %v", av.p50, av.p99, av.qps)
	b.ReportMetric(median(av.p50), "aardvark-p50-us@1")
	b.ReportMetric(median(av.p99), "aardvark-p99-us@1")
	b.ReportMetric(median(av.qps), "aardvark-qps@1")
	b.ReportMetric(median(pb.p50)/median(av.p50), "p50/aardvark")
	b.ReportMetric(median(pb.p99)/median(av.p99), "p99/aardvark")
}

// startAardvark runs aardvark-dns in the daemon's host namespace on
// gateway port 53, serving the addresses the sandboxes have on the
// network "app", as netavark would configure it. It returns its pid, or
// 0 when aardvark-dns is not installed. Cleanup stops it.
func startAardvark(b *testing.B, d *daemon, gateway string, sandboxes ...string) int {
	b.Helper()
	if _, err := os.Stat(aardvarkDNS); err != nil {
		return 0
	}
	dir := b.TempDir()
	var cfg strings.Builder
	fmt.Fprintln(&cfg, gateway)
	for _, name := range sandboxes {
		sb, err := d.client().SandboxInspect(context.Background(), name)
		if err != nil {
			b.Fatal(err)
		}
		// id ipv4s ipv6s names
		fmt.Fprintf(&cfg, "%s %s  %s\n", sb.ID, sb.NetworkSettings.Networks["app"].IPAddress, name)
	}
	if err := os.WriteFile(filepath.Join(dir, "app"), []byte(cfg.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	// It detaches once it serves, leaving its pid in the directory.
	out, err := exec.Command("nsenter", "--net="+d.host.Path, "--", aardvarkDNS, "--config", dir, "-p", "53", "run").CombinedOutput()
	if err != nil {
		b.Fatalf("aardvark-dns: %v\n%s", err, out)
	}
	data, err := os.ReadFile(filepath.Join(dir, "aardvark.pid"))
	if err != nil {
		b.Fatalf("aardvark-dns: %v\n%s", err, out)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		b.Fatalf("aardvark-dns pid file: %v", err)
	}
	b.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	return pid
}

// startEcho runs dnsload -echo on addr in the namespace of sandbox name,
// until the benchmark ends.
func startEcho(b *testing.B, load string, d *daemon, name, addr string) {
	b.Helper()
	sb, err := d.client().SandboxInspect(context.Background(), name)
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command("nsenter", "--net="+sb.NetworkSettings.SandboxKey, "--", load, "-echo", addr)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	time.Sleep(100 * time.Millisecond) // let it bind
}
