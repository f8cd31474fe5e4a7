package e2e

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/patchbay/patchbay/api/types"
)

// sandboxPath is a sandbox's namespace path (Docker's SandboxKey).
func sandboxPath(t testing.TB, d *daemon, name string) string {
	t.Helper()
	return strings.TrimSpace(d.ok("inspect", "-f", "{{.NetworkSettings.SandboxKey}}", name))
}

// BenchmarkOverlay measures the overlay as users meet it, on three hosts
// with one daemon each and a real etcd:
//   - convergence: from `run -d` returning on h1 until the new sandbox
//     resolves by name and answers TCP from a sandbox on h2, over 100 joins;
//   - throughput: iperf3 between sandboxes on two hosts over the overlay,
//     against iperf3 between the same hosts over the underlay, and
//     between two namespaces on the kernel's VXLAN path built by hand;
//   - attach p50/p99 through the API with 3 hosts × 300 sandboxes;
//   - how long after a host's death its forwarding entries are gone
//     from another host (default lease TTL, 10 s).
func BenchmarkOverlay(b *testing.B) {
	l := startLab(b, labOptions{})
	h1, h2, h3 := l.daemons[0], l.daemons[1], l.daemons[2]
	h1.ok("network", "create", "-d", "overlay", "--subnet", "10.20.0.0/16", "ov")
	waitWithin(b, 10*time.Second, "overlay on h2", func() bool { return networkScope(b, h2, "ov") == "global" })
	waitWithin(b, 10*time.Second, "overlay on h3", func() bool { return networkScope(b, h3, "ov") == "global" })
	h2.ok("run", "-d", "--name", "probe", "--network", "ov", "--", "sleep", "3600")
	probe := sandboxPath(b, h2, "probe")

	// Convergence, with a DNS client and TCP dials from inside h2's probe.
	var conv latencies
	const joins = 100
	for i := range joins {
		name := fmt.Sprintf("c%d", i)
		h1.ok("run", "-d", "--name", name, "--network", "ov", "--", "busybox", "httpd", "-f", "-p", "80")
		start := time.Now()
		inNetns(b, probe, func() {
			c := &dns.Client{Timeout: 200 * time.Millisecond}
			m := new(dns.Msg)
			m.SetQuestion(name+".", dns.TypeA)
			var addr string
			for deadline := time.Now().Add(10 * time.Second); addr == ""; {
				if time.Now().After(deadline) {
					b.Fatalf("%s does not resolve from h2", name)
				}
				if r, _, err := c.Exchange(m, "127.0.0.11:53"); err == nil && len(r.Answer) > 0 {
					if a, ok := r.Answer[0].(*dns.A); ok {
						addr = a.A.String()
					}
				}
			}
			for deadline := time.Now().Add(10 * time.Second); ; {
				conn, err := net.DialTimeout("tcp", addr+":80", 200*time.Millisecond)
				if err == nil {
					conn.Close()
					break
				}
				if time.Now().After(deadline) {
					b.Fatalf("%s (%s) does not answer TCP from h2: %v", name, addr, err)
				}
				time.Sleep(time.Millisecond)
			}
		})
		conv = append(conv, time.Since(start))
	}
	conv.report(b, "overlay-convergence")

	// Throughput: patchbay's overlay, the underlay between the same
	// hosts, and the kernel's own VXLAN path built by hand beside it (the
	// floor for any VXLAN overlay on this machine), alternated over three
	// rounds of iperf3, medians reported.
	h1.ok("run", "-d", "--name", "iperfs", "--network", "ov", "--", "iperf3", "-s")
	srvIP := strings.TrimSpace(h1.ok("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", "iperfs"))
	floor := kernelOverlay(b, l)
	for _, ns := range []string{l.u.Hosts[0].Path, floor[0]} {
		srv := exec.Command("nsenter", "--net="+ns, "--", "iperf3", "-s")
		if err := srv.Start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = srv.Process.Kill(); _ = srv.Wait() })
	}
	var over, under, kern []float64
	for range 3 {
		over = append(over, iperf(b, probe, srvIP))
		under = append(under, iperf(b, l.u.Hosts[1].Path, l.u.Hosts[0].Addr.Addr().String()))
		kern = append(kern, iperf(b, floor[1], "10.99.0.1"))
	}
	o, u, k := median(over), median(under), median(kern)
	b.ReportMetric(o, "overlay-Gbit/s")
	b.ReportMetric(u, "underlay-Gbit/s")
	b.ReportMetric(k, "kernel-vxlan-Gbit/s")
	b.ReportMetric(o/u, "overlay/underlay")
	b.ReportMetric(o/k, "overlay/kernel-vxlan")
	b.Logf("iperf3 medians of 3: overlay %.2f Gbit/s %v, underlay %.2f %v, kernel VXLAN by hand %.2f %v; overlay/underlay %.2f×, kernel/underlay %.2f×, overlay/kernel %.2f×",
		o, over, u, under, k, kern, o/u, k/u, o/k)

	// Attach at scale: the hosts fill up to 300 sandboxes each through
	// the API, at once; then attaches on h1 are timed one at a time.
	ctx := context.Background()
	var wg sync.WaitGroup
	for i, d := range l.daemons {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := d.client()
			for j := range 250 {
				if _, err := c.SandboxCreate(ctx, types.SandboxCreateRequest{Name: fmt.Sprintf("s%d-%d", i, j), Network: "ov"}); err != nil {
					b.Errorf("attach on h%d: %v", i+1, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	var all latencies
	c1 := h1.client()
	for j := range 50 {
		start := time.Now()
		if _, err := c1.SandboxCreate(ctx, types.SandboxCreateRequest{Name: fmt.Sprintf("t%d", j), Network: "ov"}); err != nil {
			b.Fatal(err)
		}
		all = append(all, time.Since(start))
	}
	all.report(b, "overlay-attach@3x300")

	// A host dies: its entries leave h1's forwarding table.
	fdb := func() string {
		return string(must(b, "nsenter", "--net="+l.u.Hosts[0].Path, "bridge", "fdb", "show", "nud", "permanent"))
	}
	dst := "dst " + l.u.Hosts[2].Addr.Addr().String() + " "
	if !strings.Contains(fdb(), dst) {
		b.Fatalf("h1 has no forwarding entry towards h3")
	}
	h3.kill9()
	l.u.Hosts[2].Cut(b)
	gone := waitWithin(b, 30*time.Second, "a dead host's entries gone", func() bool { return !strings.Contains(fdb(), dst) })
	b.ReportMetric(gone.Seconds(), "dead-host-gone-s")
	b.Logf("a dead host's entries gone %.2fs after its death (lease TTL 10 s)", gone.Seconds())
	l.u.Hosts[2].Restore(b)
	h3.start()
}
