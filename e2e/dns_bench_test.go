package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/patchbay/patchbay/api"
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

// loadResult is one load run's figures.
type loadResult struct {
	qps      float64
	p50, p99 time.Duration
	errors   int
	cpu      float64 // daemon CPU, in cores
}

// dnsLoad sends A queries for name to the embedded resolver from inside
// a sandbox, keeping outstanding queries in flight for d.
func dnsLoad(b *testing.B, c *net.UDPConn, name string, outstanding int, d time.Duration, daemonPid int) loadResult {
	q := new(mdns.Msg)
	q.SetQuestion(mdns.Fqdn(name), mdns.TypeA)
	wire, err := q.Pack()
	if err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	sent := map[uint16]time.Time{}
	var lat []time.Duration
	window := make(chan struct{}, outstanding)
	done := make(chan struct{})
	errs := 0
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			_ = c.SetReadDeadline(time.Now().Add(time.Second))
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			if n < 12 {
				continue
			}
			id := uint16(buf[0])<<8 | uint16(buf[1])
			mu.Lock()
			if t0, ok := sent[id]; ok {
				delete(sent, id)
				lat = append(lat, time.Since(t0))
				if buf[3]&0x0f != 0 || buf[7] == 0 { // rcode, ancount
					errs++
				}
				<-window
			}
			mu.Unlock()
		}
	}()
	t0 := cpuTicks(daemonPid)
	start := time.Now()
	pkt := slices.Clone(wire)
	for id := uint16(1); time.Since(start) < d; id++ {
		select {
		case window <- struct{}{}:
		case <-time.After(time.Second):
			// a lost datagram: forget the oldest query
			mu.Lock()
			for k := range sent {
				delete(sent, k)
				errs++
				break
			}
			mu.Unlock()
			<-window
			window <- struct{}{}
		}
		pkt[0], pkt[1] = byte(id>>8), byte(id)
		mu.Lock()
		sent[id] = time.Now()
		mu.Unlock()
		if _, err := c.Write(pkt); err != nil {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	<-done
	ticks := cpuTicks(daemonPid) - t0
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lat)
	r := loadResult{qps: float64(len(lat)) / elapsed.Seconds(), errors: errs, cpu: float64(ticks) / 100 / elapsed.Seconds()}
	if len(lat) > 0 {
		r.p50, r.p99 = lat[len(lat)/2], lat[len(lat)*99/100]
	}
	return r
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
		r := dnsLoad(b, c, "target", o, 3*time.Second, pid)
		if r.errors > 0 {
			b.Errorf("%d outstanding: %d failed answers", o, r.errors)
		}
		b.ReportMetric(r.qps, fmt.Sprintf("qps@%d", o))
		b.ReportMetric(float64(r.p50.Microseconds()), fmt.Sprintf("p50-us@%d", o))
		b.ReportMetric(float64(r.p99.Microseconds()), fmt.Sprintf("p99-us@%d", o))
		b.ReportMetric(r.cpu, fmt.Sprintf("daemon-cores@%d", o))
	}
	// Time from a create's return to its name resolving for others.
	cl := d.client()
	var lags []time.Duration
	buf := make([]byte, 1500)
	for i := range 20 {
		name := fmt.Sprintf("new%d", i)
		if _, err := cl.SandboxCreate(context.Background(), api.SandboxCreateRequest{Name: name, Network: "app"}); err != nil {
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
