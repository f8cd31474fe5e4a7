package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/patchbay/patchbay/api/types"
	"github.com/patchbay/patchbay/internal/dnsload"
)

// dialIn opens a UDP socket connected to addr inside the namespace at path.
func dialIn(t testing.TB, path, addr string) *net.UDPConn {
	t.Helper()
	var c net.Conn
	var err error
	inNetns(t, path, func() { c, err = net.Dial("udp4", addr) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.UDPConn)
}

// cpuTicks is a process's user+system time in clock ticks.
func cpuTicks(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return u + s
}

// dnsLoad runs the load generator for d from inside a sandbox, and the
// daemon's CPU meanwhile, in cores.
func dnsLoad(b *testing.B, c *net.UDPConn, name string, outstanding int, d time.Duration, daemonPid int) (dnsload.Result, float64) {
	// About as many queries as the time allows at the expected rate.
	n := int(d.Seconds() * 15000 * float64(min(outstanding, 8)))
	t0 := cpuTicks(daemonPid)
	r, err := dnsload.Run(c, name, outstanding, n)
	if err != nil {
		b.Fatal(err)
	}
	return r, float64(cpuTicks(daemonPid)-t0) / 100 / r.Elapsed.Seconds()
}

// BenchmarkDNS reports the embedded resolver's queries per second and
// latency for a local name from inside a sandbox, with 1 and with 100
// queries outstanding, the daemon's CPU meanwhile, and how soon a new
// sandbox's name resolves after its create returns.
// Run: go test -run '^$' -bench DNS -benchtime 1x ./e2e
func BenchmarkDNS(b *testing.B) {
	d := startDaemon(b)
	d.ok("network", "create", "--subnet", "10.0.40.0/24", "app")
	d.ok("run", "-d", "--name", "target", "--network", "app", "--", "sleep", "600")
	d.ok("run", "-d", "--name", "client", "--network", "app", "--", "sleep", "600")
	sb, err := d.client().SandboxInspect(context.Background(), "client")
	if err != nil {
		b.Fatal(err)
	}
	c := dialIn(b, sb.NetworkSettings.SandboxKey, "127.0.0.11:53")
	pid := d.cmd.Process.Pid
	dnsLoad(b, c, "target", 10, 500*time.Millisecond, pid) // warm up
	for _, o := range []int{1, 100} {
		r, cpu := dnsLoad(b, c, "target", o, 3*time.Second, pid)
		if r.Lost > 0 {
			b.Errorf("%d outstanding: %d queries lost", o, r.Lost)
		}
		b.ReportMetric(r.QPS(), fmt.Sprintf("qps@%d", o))
		b.ReportMetric(float64(r.P50.Microseconds()), fmt.Sprintf("p50-us@%d", o))
		b.ReportMetric(float64(r.P99.Microseconds()), fmt.Sprintf("p99-us@%d", o))
		b.ReportMetric(cpu, fmt.Sprintf("daemon-cores@%d", o))
	}
	// Time from a create's return to its name resolving for others.
	cl := d.client()
	var lags []time.Duration
	buf := make([]byte, 1500)
	for i := range 20 {
		name := fmt.Sprintf("new%d", i)
		if _, err := cl.SandboxCreate(context.Background(), types.SandboxCreateRequest{Name: name, Network: "app"}); err != nil {
			b.Fatal(err)
		}
		returned := time.Now()
		q := new(mdns.Msg)
		q.SetQuestion(name+".", mdns.TypeA)
		wire, _ := q.Pack()
		for {
			if _, err := c.Write(wire); err != nil {
				b.Fatal(err)
			}
			_ = c.SetReadDeadline(time.Now().Add(time.Second))
			n, err := c.Read(buf)
			if err != nil {
				b.Fatal(err)
			}
			m := new(mdns.Msg)
			if m.Unpack(buf[:n]) == nil && m.Id == q.Id && len(m.Answer) > 0 {
				break
			}
		}
		lags = append(lags, time.Since(returned))
	}
	slices.Sort(lags)
	b.ReportMetric(float64(lags[len(lags)/2].Microseconds()), "name-visible-after-create-p50-us")
	b.ReportMetric(float64(lags[len(lags)-1].Microseconds()), "name-visible-after-create-max-us")
}
