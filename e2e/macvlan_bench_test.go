package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/patchbay/patchbay/api/types"
)

// BenchmarkMacvlan compares macvlan with bridge through the API of a real
// daemon: attach (a new sandbox on the network), live disconnect and
// connect, p50 and p99 over 50 each; and iperf3 throughput from a LAN
// host to a container — directly on the LAN for macvlan, through the
// host's published port (DNAT into the bridge) for bridge.
// Run it once: go test -run '^$' -bench Macvlan -benchtime 1x ./e2e
func BenchmarkMacvlan(b *testing.B) {
	d := startDaemon(b)
	lan := newMacvlanLAN(b, d)
	c := d.client()
	ctx := context.Background()
	nets := []struct{ name, driver, subnet, ipRange string }{
		{"mv", "macvlan", "10.77.0.0/24", "10.77.0.128/25"},
		{"br", "bridge", "10.50.0.0/24", ""},
	}
	for _, n := range nets {
		req := types.NetworkCreateRequest{Name: n.name, Driver: n.driver,
			IPAM: &types.IPAM{Config: []types.IPAMConfig{{Subnet: n.subnet, IPRange: n.ipRange}}}}
		if n.driver == "macvlan" {
			req.Options = map[string]string{"parent": "eth1"}
		}
		if _, err := c.NetworkCreate(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
	for _, n := range nets {
		var attach, disc, conn latencies
		for i := 0; i < 50; i++ {
			name := fmt.Sprintf("%s%02d", n.name, i)
			attach = append(attach, timed(b, func() error {
				_, err := c.SandboxCreate(ctx, types.SandboxCreateRequest{Name: name, Network: n.name})
				return err
			}))
		}
		for i := 0; i < 50; i++ {
			name := fmt.Sprintf("%s%02d", n.name, i%10)
			disc = append(disc, timed(b, func() error {
				return c.NetworkDisconnect(ctx, n.name, types.NetworkDisconnectRequest{Container: name})
			}))
			conn = append(conn, timed(b, func() error {
				return c.NetworkConnect(ctx, n.name, types.NetworkConnectRequest{Container: name})
			}))
		}
		attach.report(b, n.driver+"-attach")
		disc.report(b, n.driver+"-disconnect")
		conn.report(b, n.driver+"-connect")
		for i := 0; i < 50; i++ {
			if err := c.SandboxRemove(ctx, fmt.Sprintf("%s%02d", n.name, i), true); err != nil {
				b.Fatal(err)
			}
		}
	}

	d.ok("run", "-d", "--name", "iperf-mv", "--network", "mv", "--ip", "10.77.0.200", "--", "iperf3", "-s")
	d.ok("run", "-d", "--name", "iperf-br", "--network", "br", "-p", "5201:5201", "--", "iperf3", "-s")
	time.Sleep(300 * time.Millisecond)
	targets := []struct{ driver, addr string }{{"macvlan", "10.77.0.200"}, {"bridge", "10.77.0.2"}}
	best := map[string]float64{}
	for round := 0; round < 2; round++ { // alternate, keep the best of two
		for _, tg := range targets {
			gbps := iperf(b, lan.path, tg.addr)
			best[tg.driver] = max(best[tg.driver], gbps)
		}
	}
	for _, tg := range targets {
		b.ReportMetric(best[tg.driver], tg.driver+"-iperf3-Gbit/s")
		b.Logf("iperf3 LAN → %s container: %.2f Gbit/s", tg.driver, best[tg.driver])
	}
}

// iperf runs a 3-second iperf3 test from the namespace to addr and
// returns the received throughput in Gbit/s.
func iperf(b *testing.B, ns, addr string) float64 {
	b.Helper()
	var out []byte
	var err error
	for i := 0; i < 20; i++ { // the server may need a moment to listen
		out, err = exec.Command("nsenter", "--net="+ns, "--", "iperf3", "-c", addr, "-t", "3", "-J").Output()
		if err == nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		b.Fatalf("iperf3 to %s: %v\n%s", addr, err, out)
	}
	var r struct {
		End struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		b.Fatalf("iperf3 output: %v", err)
	}
	return r.End.SumReceived.BitsPerSecond / 1e9
}
